//! `topology`: the mesh's graph store (see `services::topology`).
use clap::Parser;
use services::{cli, topology};
use std::time::Duration;
use wire::contract::{env, ports};

/// Topology manager: peers, their links, BFS paths.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = env::TOPOLOGY_ADDR, default_value_t = cli::any_interface(ports::TOPOLOGY))]
    addr: String,
    /// Deployment secret required on writes; empty means none.
    #[arg(long, env = env::MESH_TOKEN, hide_env_values = true)]
    token: Option<String>,
    /// Most peers held; a new peer beyond it is refused until some expire.
    #[arg(long, env = "TOPOLOGY_MAX_PEERS", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    max_peers: u64,
    /// Most neighbors one peer may list.
    #[arg(long, env = "TOPOLOGY_MAX_NEIGHBORS", default_value_t = wire::contract::limits::MAX_NEIGHBORS)]
    max_neighbors: usize,
    /// Most metadata entries per peer.
    #[arg(long, env = "TOPOLOGY_MAX_METADATA", default_value_t = 8)]
    max_metadata: usize,
    /// Longest metadata key, bytes.
    #[arg(long, env = "TOPOLOGY_MAX_METADATA_KEY", default_value_t = 32)]
    max_metadata_key: usize,
    /// Longest metadata value, bytes.
    #[arg(long, env = "TOPOLOGY_MAX_METADATA_VALUE", default_value_t = 256)]
    max_metadata_value: usize,
    /// Seconds after which a peer not upserted again is dropped (keep it
    /// well above the tracker's TRACKER_TTL_SECONDS).
    #[arg(long, env = "TOPOLOGY_PEER_EXPIRY_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    peer_expiry_seconds: u64,
    /// Largest POST /peers body, bytes.
    #[arg(long, env = "TOPOLOGY_MAX_BODY_BYTES", default_value_t = 32 << 10)]
    max_body_bytes: usize,
    /// Seconds allowed to send a request body.
    #[arg(long, env = "TOPOLOGY_BODY_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_seconds: u64,
    /// Recent events kept for GET /events (the oldest fall out).
    #[arg(long, env = "TOPOLOGY_EVENTS", default_value_t = services::events::DEFAULT_CAPACITY as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    events: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let config = topology::Config {
        token: cli::non_empty(args.token),
        max_peers: usize::try_from(args.max_peers).unwrap_or(usize::MAX),
        max_neighbors: args.max_neighbors,
        max_metadata: args.max_metadata,
        max_metadata_key: args.max_metadata_key,
        max_metadata_value: args.max_metadata_value,
        peer_expiry: Duration::from_secs(args.peer_expiry_seconds),
        max_body: args.max_body_bytes,
        body_timeout: Duration::from_secs(args.body_timeout_seconds),
        http: cli::http_limits()?,
        events: args.events as usize,
    };
    let listener = cli::bind(&args.addr).await?;
    topology::run(config, listener, cli::shutdown_signal()).await
}
