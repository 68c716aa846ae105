//! `tracker`: live peers and segment holders in Redis (see `services::tracker`).
use clap::Parser;
use services::{cli, tracker};
use std::time::Duration;
use wire::contract::{env, ports, urls};

/// Tracker: peer announces and heartbeats, TTL liveness, segment lookups.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = env::TRACKER_ADDR, default_value_t = cli::any_interface(ports::TRACKER))]
    addr: String,
    /// Redis as host:port or redis:// URL.
    #[arg(long, env = env::REDIS_ADDR, default_value = urls::REDIS_ADDR)]
    redis: String,
    /// Topology manager base URL; empty disables topology updates.
    #[arg(long, env = env::TOPOLOGY_URL, default_value = urls::TOPOLOGY)]
    topology_url: String,
    /// Seconds without a heartbeat after which a peer is dead.
    #[arg(long, env = env::TRACKER_TTL_SECONDS, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    ttl_seconds: u64,
    /// Deployment secret; writes need it or the peer's own token; empty means none.
    #[arg(long, env = env::MESH_TOKEN, hide_env_values = true)]
    token: Option<String>,
    /// Most segment ids in one announce or heartbeat inventory.
    #[arg(long, env = "TRACKER_MAX_SEGMENTS", default_value_t = wire::contract::limits::MAX_SEGMENTS)]
    max_segments: usize,
    /// Most neighbors one peer may list.
    #[arg(long, env = "TRACKER_MAX_NEIGHBORS", default_value_t = wire::contract::limits::MAX_NEIGHBORS)]
    max_neighbors: usize,
    /// Largest announce or heartbeat body, bytes.
    #[arg(long, env = "TRACKER_MAX_BODY_BYTES", default_value_t = 128 << 10)]
    max_body_bytes: usize,
    /// Seconds allowed to send a request body.
    #[arg(long, env = "TRACKER_BODY_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_seconds: u64,
    /// Recent events kept for GET /events (the oldest fall out).
    #[arg(long, env = "TRACKER_EVENTS", default_value_t = services::events::DEFAULT_CAPACITY as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    events: u32,
    /// Distinct peers that must report a peer failing within the window to demote it in lookups.
    #[arg(long, env = env::TRACKER_SUSPECT_QUORUM, default_value_t = tracker::suspect::DEFAULT_QUORUM as u32, value_parser = clap::value_parser!(u32).range(1..=tracker::suspect::MAX_REPORTERS as i64))]
    suspect_quorum: u32,
    /// Seconds a failure report counts, and a demotion by reports lasts after the last one.
    #[arg(long, env = env::TRACKER_SUSPECT_WINDOW_SECONDS, default_value_t = tracker::suspect::DEFAULT_WINDOW.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    suspect_window_seconds: u64,
    /// Seconds without a heartbeat after which a live peer is listed last in lookups, marked suspect (default: half the TTL; the TTL or more turns it off).
    #[arg(long, env = env::TRACKER_SUSPECT_AFTER_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    suspect_after_seconds: Option<u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let config = tracker::Config {
        redis_url: tracker::redis_url_from_addr(&args.redis),
        topology_url: cli::non_empty(Some(args.topology_url)),
        ttl: Duration::from_secs(args.ttl_seconds),
        reap_interval: None,
        token: cli::non_empty(args.token),
        max_segments: args.max_segments,
        max_neighbors: args.max_neighbors,
        max_body: args.max_body_bytes,
        body_timeout: Duration::from_secs(args.body_timeout_seconds),
        http: cli::http_limits()?,
        events: args.events as usize,
        suspect_quorum: args.suspect_quorum as usize,
        suspect_window: Duration::from_secs(args.suspect_window_seconds),
        suspect_after: args.suspect_after_seconds.map(Duration::from_secs),
    };
    let listener = cli::bind(&args.addr).await?;
    tracker::run(config, listener, cli::shutdown_signal()).await
}
