//! `topology`: the mesh's graph store (see `services::topology`).
use clap::Parser;
use services::{cli, topology};
use wire::contract::{env, ports};

/// Topology manager: peers, their links, BFS paths.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = env::TOPOLOGY_ADDR, default_value_t = cli::any_interface(ports::TOPOLOGY))]
    addr: String,
    /// Bearer token required on writes; empty means none.
    #[arg(long, env = env::MESH_TOKEN, hide_env_values = true)]
    token: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let config = topology::Config {
        token: cli::non_empty(args.token),
    };
    let listener = cli::bind(&args.addr).await?;
    topology::run(config, listener, cli::shutdown_signal()).await
}
