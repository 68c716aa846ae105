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
    /// Bearer token required to open a socket; empty means none.
    #[arg(long, env = env::MESH_TOKEN, hide_env_values = true)]
    token: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let config = signalling::Config {
        token: cli::non_empty(args.token),
        ping_interval: Duration::from_secs(args.ping_seconds),
    };
    let listener = cli::bind(&args.addr).await?;
    signalling::run(config, listener, cli::shutdown_signal()).await
}
