use meshctl::faults::net::{self, parse_duration, parse_percent, parse_rate, NetemSet, Shaping};
use meshctl::progress::Progress;

use super::{print_json, table, Format, Global};

/// Shape links: delay, jitter, loss, rate, corruption, duplication on a
/// peer's mesh interface (Linux `tc` and `iptables`, applied by a one-shot
/// helper container in the peer's network namespace). Where the kernel has
/// no sch_netem, delay, jitter, corruption and duplication are applied by a
/// `mesh-shaper` container per shaped direction (NFQUEUE).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Shape a peer's egress: all of it, or only the links to `--to` peers
    /// (both directions of each link unless `--one-way`). Replaces what was
    /// set before for the same direction.
    Set(SetArgs),
    /// Read the shaping back from the kernel, one row per shaped direction;
    /// VIA says whether netem (kernel) or a shaper container applies it.
    Show(ShowArgs),
    /// Remove the shaping of a peer (its egress), or of every peer.
    Reset(ResetArgs),
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The peer (`peer-3`).
    pub peer: String,
    /// Only the links to these neighbours (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub to: Vec<String>,
    /// Added delay (`80ms`, `1s`, `500us`).
    #[arg(long, allow_hyphen_values = true)]
    pub delay: Option<String>,
    /// Delay variation (`10ms`); needs --delay.
    #[arg(long, allow_hyphen_values = true)]
    pub jitter: Option<String>,
    /// Packets dropped (`2%`).
    #[arg(long, allow_hyphen_values = true)]
    pub loss: Option<String>,
    /// Bandwidth (`1mbit`, `500kbit`, `100kbps` for bytes).
    #[arg(long, allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// Packets corrupted (`0.1%`).
    #[arg(long, allow_hyphen_values = true)]
    pub corrupt: Option<String>,
    /// Packets duplicated (`1%`).
    #[arg(long, allow_hyphen_values = true)]
    pub duplicate: Option<String>,
    /// Shape only this peer's side of each --to link.
    #[arg(long)]
    pub one_way: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Only this peer (every running peer when absent).
    pub peer: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    /// The peer.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub peer: Option<String>,
    /// Every running peer of the deployment.
    #[arg(long)]
    pub all: bool,
}

impl SetArgs {
    /// The shaping asked for, every value checked.
    pub fn shaping(&self) -> anyhow::Result<Shaping> {
        let d = |flag, v: &Option<String>| v.as_deref().map(|v| parse_duration(flag, v)).transpose();
        let p = |flag, v: &Option<String>| v.as_deref().map(|v| parse_percent(flag, v)).transpose();
        let s = Shaping {
            delay_us: d("--delay", &self.delay)?,
            jitter_us: d("--jitter", &self.jitter)?,
            loss: p("--loss", &self.loss)?,
            rate_bps: self
                .rate
                .as_deref()
                .map(|v| parse_rate("--rate", v))
                .transpose()?,
            corrupt: p("--corrupt", &self.corrupt)?,
            duplicate: p("--duplicate", &self.duplicate)?,
        };
        s.check()?;
        Ok(s)
    }
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let deployment = global.deployment();
    match args.action {
        Action::Set(a) => {
            // Bad values fail before the engine is asked anything.
            let shaping = a.shaping()?;
            let rt = meshctl::runtime::connect().await?;
            let progress = Progress::new();
            let step = progress.step(None, "netem");
            let set = NetemSet {
                peer: a.peer,
                to: a.to,
                shaping,
                one_way: a.one_way,
            };
            net::netem_set(&rt, &deployment, &set, &step).await?;
            step.finish_with_message("applied");
            progress.clear();
            let to = if set.to.is_empty() {
                "all of its egress".to_string()
            } else {
                set.to.join(", ")
            };
            println!(
                "{}: {} toward {to}{}",
                set.peer,
                set.shaping.describe(),
                if set.one_way || set.to.is_empty() { "" } else { " (both directions)" }
            );
        }
        Action::Show(a) => {
            let rt = meshctl::runtime::connect().await?;
            let peers: Vec<String> = a.peer.into_iter().collect();
            let rows = net::netem_show(&rt, &deployment, &peers, &meshctl::progress::Step::hidden()).await?;
            if a.format == Format::Json {
                return print_json(&rows);
            }
            let mut t = table(&["PEER", "TO", "DELAY", "JITTER", "LOSS", "RATE", "CORRUPT", "DUPLICATE", "VIA"]);
            let dur = |v: Option<u64>| v.map_or("-".into(), net::units_fmt::duration);
            let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v}%"));
            for r in &rows {
                let s = &r.shaping;
                t.add_row(vec![
                    r.peer.clone(),
                    r.to.clone(),
                    dur(s.delay_us),
                    dur(s.jitter_us),
                    pct(s.loss),
                    s.rate_bps.map_or("-".into(), net::units_fmt::rate),
                    pct(s.corrupt),
                    pct(s.duplicate),
                    match &r.shaper {
                        Some(state) => format!("{} ({state})", r.via.as_str()),
                        None => r.via.as_str().to_string(),
                    },
                ]);
            }
            println!("{t}");
        }
        Action::Reset(a) => {
            let rt = meshctl::runtime::connect().await?;
            let peers: Vec<String> = a.peer.into_iter().collect();
            let reset = net::netem_reset(&rt, &deployment, &peers, &meshctl::progress::Step::hidden()).await?;
            println!("shaping removed from {} peer(s)", reset.len());
        }
    }
    Ok(())
}
