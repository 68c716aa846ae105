//! `signalling`: WebSocket rooms with BFS routes (see `services::signalling`).
use clap::Parser;
use services::{cli, signalling};
use std::time::Duration;
use wire::contract::{env, ports};

/// Signalling server: `/ws?peer=<name>&room=<interest>`.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = env::SIGNAL_ADDR, default_value_t = cli::any_interface(ports::SIGNALLING))]
    addr: String,
    /// Seconds between keepalive pings; a socket silent for two is dropped.
    #[arg(long, env = env::SIGNAL_PING_SECONDS, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    ping_seconds: u64,
    /// The deployment secret; a socket then needs it or the peer's own token. Empty means none.
    #[arg(long, env = env::MESH_TOKEN, hide_env_values = true)]
    token: Option<String>,
    /// Sockets open at once, over all rooms.
    #[arg(long, env = "SIGNAL_MAX_SOCKETS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    max_sockets: u32,
    /// Sockets open at once in one room.
    #[arg(long, env = "SIGNAL_MAX_ROOM_PEERS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    max_room_peers: u32,
    /// Rooms one peer name may be connected in at once.
    #[arg(long, env = "SIGNAL_MAX_ROOMS_PER_PEER", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    max_rooms_per_peer: u32,
    /// Names one announce may list.
    #[arg(long, env = "SIGNAL_MAX_NEIGHBORS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_neighbors: u32,
    /// Messages per second one socket may send, sustained.
    #[arg(long, env = "SIGNAL_MSG_RATE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    msg_rate: u32,
    /// Messages one socket may send at once before the rate applies.
    #[arg(long, env = "SIGNAL_MSG_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    msg_burst: u32,
    /// Messages over the rate in a row that close the socket.
    #[arg(long, env = "SIGNAL_FLOOD_CLOSE", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    flood_close: u32,
    /// Milliseconds a socket holding a name has to answer a ping before a new socket under that name replaces it.
    #[arg(long, env = "SIGNAL_TAKEOVER_WAIT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    takeover_wait_ms: u64,
    /// Recent events kept for GET /events (the oldest fall out).
    #[arg(long, env = "SIGNAL_EVENTS", default_value_t = services::events::DEFAULT_CAPACITY as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    events: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let config = signalling::Config {
        token: cli::non_empty(args.token),
        ping_interval: Duration::from_secs(args.ping_seconds),
        max_sockets: args.max_sockets as usize,
        max_room_peers: args.max_room_peers as usize,
        max_rooms_per_peer: args.max_rooms_per_peer as usize,
        max_neighbors: args.max_neighbors as usize,
        msg_rate: args.msg_rate,
        msg_burst: args.msg_burst,
        flood_close: args.flood_close,
        takeover_wait: Duration::from_millis(args.takeover_wait_ms),
        http: cli::http_limits()?,
        events: args.events as usize,
    };
    let listener = cli::bind(&args.addr).await?;
    signalling::run(config, listener, cli::shutdown_signal()).await
}
