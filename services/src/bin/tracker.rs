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
    /// Bearer token required on writes; empty means none.
    #[arg(long, env = env::MESH_TOKEN, hide_env_values = true)]
    token: Option<String>,
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
    };
    let listener = cli::bind(&args.addr).await?;
    tracker::run(config, listener, cli::shutdown_signal()).await
}
