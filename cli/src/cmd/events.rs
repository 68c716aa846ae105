use std::io::Write;
use std::time::Duration;

use meshctl::events::{self, Options};

use super::{Format, Global};

/// Print what happened to the deployment, one line per event, in time order
///
/// Its containers' lifecycle from the Engine (create, start, stop,
/// kill, die with exit code and OOM flag, pause, unpause, restart, destroy;
/// fault helpers as `fault` with their description, a shaper's exit as
/// `fault_removed`) and the control plane's
/// view from each service's `/events` feed (tracker: peer_announced,
/// peer_expired; topology: peer_added, edge_added, edge_removed,
/// peer_removed, peer_expired; signalling: path_pushed with its hops,
/// socket_opened, socket_closed). Without --follow it prints the last
/// --since and ends; with it, it keeps streaming until Ctrl-C.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How far back to start: 30s, 5m, 1h30m, 2d (a bare number is seconds).
    #[arg(long, default_value = "10m", value_parser = since)]
    pub since: Duration,
    /// Keep printing new events until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// `table`: aligned lines for people; `json`: one object per line
    /// (JSON Lines) with at, at_ms, source, kind, target and the details.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Milliseconds between polls of the services' feeds while following.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_ms: u64,
}

fn since(text: &str) -> Result<Duration, String> {
    events::parse_span(text)
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let opts = Options {
        name: global.deployment(),
        since: args.since,
        follow: args.follow,
        poll_every: Duration::from_millis(args.poll_ms),
    };
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let format = args.format;
    let mut out = std::io::stdout();
    events::stream(
        &rt,
        &opts,
        stop,
        |line| {
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string(line)?)?,
                Format::Table => writeln!(out, "{}", line.text())?,
            }
            out.flush()?;
            Ok(())
        },
        |warning| eprintln!("warning: {warning}"),
    )
    .await
}
