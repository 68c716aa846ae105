//! `meshctl bench swarm --song <name> [--listeners N]`: every listener plays
//! the song at once through its own peer.

use std::time::Duration;

use anyhow::bail;

use super::{Format, Global};
use meshctl::songs::{http_client, swarm, tables};

/// Load the mesh: `bench swarm` makes every peer play a song at once and
/// reports the p2p ratio, database reads per segment, latency and failures.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub bench: Bench,
}

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// N listeners play one song at once, each through its own peer.
    Swarm(SwarmArgs),
}

#[derive(Debug, clap::Args)]
pub struct SwarmArgs {
    #[arg(long)]
    pub song: String,
    /// Listeners; default one per running peer (listener i uses peer i mod peers).
    #[arg(long)]
    pub listeners: Option<usize>,
    /// Seconds over which the listeners' starts are spread at random.
    #[arg(long, default_value_t = 5.0)]
    pub spread: f64,
    /// Further attempts at a failed or corrupt segment, as a player would.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Seconds for each request.
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    match args.bench {
        Bench::Swarm(a) => run_swarm(a, &global.deployment()).await,
    }
}

async fn run_swarm(args: SwarmArgs, name: &str) -> anyhow::Result<()> {
    if !(args.spread.is_finite() && args.spread >= 0.0) {
        bail!("--spread must be a number of seconds ≥ 0");
    }
    let d = super::discover(name).await?;
    let peers = meshctl::songs::running_peers(&d);
    let report = swarm::swarm(
        &peers,
        &swarm::SwarmOptions {
            song: args.song.clone(),
            listeners: args.listeners,
            spread: Duration::from_secs_f64(args.spread),
            request_timeout: Duration::from_secs(args.request_timeout),
            retries: args.retries,
        },
        &http_client()?,
    )
    .await?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", tables::swarm(&report));
    }
    Ok(())
}
