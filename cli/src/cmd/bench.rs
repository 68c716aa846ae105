//! `meshctl bench swarm --song <name> [--listeners N]`: every listener plays
//! the song at once through its own peer. `meshctl bench churn`: the same
//! while faults run on a schedule.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;

use super::{Format, Global};
use meshctl::faults::node::Action;
use meshctl::faults::select::{self, Amount, Except};
use meshctl::faults::split::{GroupSpec, MeshView};
use meshctl::songs::churn::{self, BenchMesh, ChurnBenchOptions, ChurnPlan, Feeds, PartitionPlan};
use meshctl::songs::{http_client, swarm, tables, PeerRef};

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
    /// The swarm while peers are killed on a schedule, services restarted
    /// and the mesh partitioned; figures per phase (before, during, after),
    /// failures split by whether the listener's own peer stayed up.
    Churn(Box<ChurnArgs>),
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
    /// After a failed request, a listener asks the next of its peer's mesh
    /// neighbours, as a player with backup streams does.
    #[arg(long)]
    pub failover: bool,
    /// Pace each listener like a player at this many times real time
    /// (3 segments ahead of the playhead); default: as fast as it can.
    #[arg(long, value_parser = parse_speed)]
    pub speed: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ChurnArgs {
    #[arg(long)]
    pub song: String,
    /// Listeners; default one per running peer.
    #[arg(long)]
    pub listeners: Option<usize>,
    /// Seconds over which the listeners' starts are spread at random.
    #[arg(long, default_value_t = 5.0)]
    pub spread: f64,
    /// Further attempts at a failed or corrupt segment, each after a pause
    /// (--retry-pause)
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// Seconds before the k-th further attempt: k times this, as players
    /// back off (4 retries at 0.5 s wait 5 s in all, about one segment at 2×)
    #[arg(long, default_value_t = 0.5)]
    pub retry_pause: f64,
    /// Seconds for each request.
    #[arg(long, default_value_t = 10)]
    pub request_timeout: u64,
    /// Listeners stay on their own peer (no failover to its neighbours).
    #[arg(long)]
    pub no_failover: bool,
    /// Pace each listener like a player at this many times real time
    /// (3 segments ahead of the playhead), so faults hit a playing swarm.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Take down this many live peers each round: a count or a share (10%).
    #[arg(long, value_name = "N|P%", value_parser = parse_amount)]
    pub kill: Option<Amount>,
    /// Time between rounds of --kill.
    #[arg(long, default_value = "10s", value_parser = parse_span)]
    pub every: Duration,
    /// First round of --kill, from the start.
    #[arg(long, default_value = "3s", value_parser = parse_span)]
    pub kill_from: Duration,
    /// How --kill takes peers down.
    #[arg(long, value_enum, default_value_t = ModeArg::Kill)]
    pub mode: ModeArg,
    /// Bring each peer taken down back after this long (else when the
    /// swarm ends).
    #[arg(long, value_parser = parse_span)]
    pub restart_after: Option<Duration>,
    /// Leave out of --kill: `edge-peers` or a peer; repeatable.
    #[arg(long, value_name = "edge-peers|PEER")]
    pub except: Vec<String>,
    /// Restart these one after another (comma-separated: redis, tracker,
    /// signalling, topology, edge-db-a, ...).
    #[arg(long, value_delimiter = ',')]
    pub restart: Vec<String>,
    /// First restart, from the start.
    #[arg(long, default_value = "10s", value_parser = parse_span)]
    pub restart_at: Duration,
    /// Time between restarts.
    #[arg(long, default_value = "10s", value_parser = parse_span)]
    pub restart_gap: Duration,
    /// Partition the mesh around this edge database (repeatable) for a
    /// window.
    #[arg(long, value_name = "EDGE-DB")]
    pub partition_around: Vec<String>,
    /// Partition a random group of this many peers from the rest.
    #[arg(long, value_name = "N|P%", value_parser = parse_amount)]
    pub partition_random: Option<Amount>,
    /// When the partition starts.
    #[arg(long, default_value = "15s", value_parser = parse_span)]
    pub partition_at: Duration,
    /// How long it holds before heal.
    #[arg(long, default_value = "15s", value_parser = parse_span)]
    pub partition_for: Duration,
    /// Seed of every random choice (printed when not given).
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Kill,
    Stop,
    Pause,
}

fn parse_amount(s: &str) -> Result<Amount, String> {
    Amount::parse("--kill", s).map_err(|e| format!("{e:#}"))
}

pub(super) fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("--speed {s:?}: give a factor above 0 (1 is real time)")),
    }
}

fn parse_span(s: &str) -> Result<Duration, String> {
    select::parse_duration("duration", s).map_err(|e| format!("{e:#}"))
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    match args.bench {
        Bench::Swarm(a) => run_swarm(a, &global.deployment()).await,
        Bench::Churn(a) => run_churn(*a, &global.deployment()).await,
    }
}

/// Each running peer's fallbacks (its mesh neighbours and peers two hops
/// away), from topology's live graph.
pub(super) async fn fallbacks(
    rt: &meshctl::runtime::DockerRuntime,
    name: &str,
    peers: &[PeerRef],
) -> anyhow::Result<(BTreeMap<String, Vec<String>>, MeshView)> {
    let g = meshctl::graph::graph(rt, name).await?;
    let map = swarm::fallbacks_of(&g.links);
    let view = MeshView {
        peers: peers.iter().map(|p| p.name.clone()).collect(),
        links: g.links,
        edge_links: g.edge_links,
    };
    Ok((map, view))
}

async fn run_churn(args: ChurnArgs, name: &str) -> anyhow::Result<()> {
    if !(args.spread.is_finite() && args.spread >= 0.0) {
        bail!("--spread must be a number of seconds ≥ 0");
    }
    if !(args.retry_pause.is_finite() && (0.0..=60.0).contains(&args.retry_pause)) {
        bail!("--retry-pause must be a number of seconds from 0 to 60");
    }
    let d = super::discover(name).await?;
    let peers = meshctl::songs::running_peers(&d);
    let rt = meshctl::runtime::connect().await?;
    let (fallbacks, view) = fallbacks(&rt, name, &peers).await?;
    let seed = args.seed.unwrap_or_else(churn::fresh_seed);
    if args.seed.is_none() {
        eprintln!("seed {seed} (give --seed {seed} to do the same again)");
    }
    let partition = (!args.partition_around.is_empty() || args.partition_random.is_some())
        .then(|| PartitionPlan {
            groups: GroupSpec {
                named: Vec::new(),
                random: args.partition_random,
                around: args.partition_around.clone(),
                seed,
            },
            at: args.partition_at,
            hold: args.partition_for,
        });
    let opts = ChurnBenchOptions {
        swarm: swarm::SwarmOptions {
            song: args.song.clone(),
            listeners: args.listeners,
            spread: Duration::from_secs_f64(args.spread),
            request_timeout: Duration::from_secs(args.request_timeout),
            retries: args.retries,
            retry_pause: Duration::from_secs_f64(args.retry_pause),
            fallbacks: if args.no_failover {
                BTreeMap::new()
            } else {
                fallbacks
            },
            speed: Some(args.speed),
        },
        churn: args.kill.map(|rate| ChurnPlan {
            rate,
            every: args.every,
            start: args.kill_from,
            mode: match args.mode {
                ModeArg::Kill => Action::Kill,
                ModeArg::Stop => Action::Stop,
                ModeArg::Pause => Action::Pause,
            },
            restart_after: args.restart_after,
            except: args.except.iter().map(|e| Except::parse(e)).collect(),
        }),
        restarts: args.restart.clone(),
        restart_at: args.restart_at,
        restart_gap: args.restart_gap,
        partition,
        seed,
    };
    let feeds = Feeds {
        tracker: d.tracker_url.clone(),
        topology: d.topology_url.clone(),
    };
    let on_fault = |f: &churn::FaultRecord| {
        eprintln!(
            "{:>7.1} s  {} {}: {}",
            f.at_ms / 1000.0,
            f.action,
            f.target,
            f.result
        );
    };
    let mesh = BenchMesh {
        deployment: name.to_string(),
        peers,
        view,
        feeds,
    };
    let report = churn::run(&rt, &mesh, &opts, &http_client()?, &on_fault).await?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", tables::swarm(&report.swarm));
        print!("{}", tables::churn(&report));
    }
    Ok(())
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
            retry_pause: Duration::ZERO,
            fallbacks: if args.failover {
                fallbacks(&meshctl::runtime::connect().await?, name, &peers)
                    .await?
                    .0
            } else {
                BTreeMap::new()
            },
            speed: args.speed,
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
