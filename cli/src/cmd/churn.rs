use std::time::Duration;

use meshctl::faults::churn::{self, ChurnEvent, ChurnOptions};
use meshctl::faults::node::Action;
use meshctl::faults::select::{self, Amount, Except};

use super::{Format, Global};

/// Take down a random share of the live peers at each interval (kill, stop
/// or pause) and optionally bring each back after a while, printing every
/// action as it happens. Ends after --duration; Ctrl-C ends it early and
/// brings back what it took down.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Live peers taken down each round: a count (`2`) or a share (`10%`)
    #[arg(long, value_name = "N|P%", value_parser = parse_rate)]
    pub rate: Amount,
    /// Time between rounds (`5s`, `500ms`, `1m`)
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// How long the churn runs
    #[arg(long, default_value = "60s", value_parser = parse_length)]
    pub duration: Duration,
    /// Seed of the picks: the same seed repeats the same choices on the same
    /// deployment state (printed when not given)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bring each peer back this long after it went down (also every peer
    /// still down at the end)
    #[arg(long, value_parser = parse_restart_after)]
    pub restart_after: Option<Duration>,
    /// What happens to a picked peer
    #[arg(long, value_enum, default_value_t = Mode::Kill)]
    pub mode: Mode,
    /// Leave out: `edge-peers` or a peer; repeatable
    #[arg(long, value_name = "edge-peers|PEER")]
    pub except: Vec<String>,
    /// One JSON object per action (JSON lines) instead of text
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Kill,
    Stop,
    Pause,
}

fn parse_rate(s: &str) -> Result<Amount, String> {
    Amount::parse("--rate", s).map_err(|e| format!("{e:#}"))
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    match select::parse_duration("--interval", s) {
        Ok(d) if d.is_zero() => Err(format!("--interval {s:?}: must be above 0")),
        r => r.map_err(|e| format!("{e:#}")),
    }
}

fn parse_length(s: &str) -> Result<Duration, String> {
    select::parse_duration("--duration", s).map_err(|e| format!("{e:#}"))
}

fn parse_restart_after(s: &str) -> Result<Duration, String> {
    select::parse_duration("--restart-after", s).map_err(|e| format!("{e:#}"))
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let deployment = global.deployment();
    if meshctl::context::list_containers(&rt, &deployment)
        .await?
        .is_empty()
    {
        anyhow::bail!("no deployment named {deployment:?} (see `meshctl status`)");
    }
    let seed = args.seed.unwrap_or_else(select::fresh_seed);
    if args.seed.is_none() {
        eprintln!("churn picks with --seed {seed} (give it to repeat the choices)");
    }
    let opts = ChurnOptions {
        rate: args.rate,
        interval: args.interval,
        duration: args.duration,
        seed,
        restart_after: args.restart_after,
        mode: match args.mode {
            Mode::Kill => Action::Kill,
            Mode::Stop => Action::Stop,
            Mode::Pause => Action::Pause,
        },
        grace: meshctl::faults::node::STOP_GRACE,
        except: args.except.iter().map(|e| Except::parse(e)).collect(),
    };
    let format = args.format;
    let print = move |e: &ChurnEvent| match format {
        Format::Json => match serde_json::to_string(e) {
            Ok(line) => println!("{line}"),
            Err(err) => eprintln!("churn event: {err}"),
        },
        Format::Table => println!(
            "{:>8.1}s  round {:<3} {:<10} {:<8} {}",
            e.at_ms as f64 / 1000.0,
            e.round,
            e.target,
            e.action.as_str(),
            e.result
        ),
    };
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let events = churn::churn(&rt, &deployment, &opts, &print, stop).await?;
    let failed = events.iter().filter(|e| !e.ok).count();
    eprintln!("churn: {} actions, {failed} failed", events.len());
    if failed > 0 {
        anyhow::bail!("{failed} churn actions failed (see above)");
    }
    Ok(())
}
