use meshctl::faults::net;
use meshctl::progress::Step;

use super::Global;

/// Cut a peer off the mesh network without stopping it: all its traffic on
/// the peer network is dropped, in and out (comment `meshctl-isolate`);
/// `meshctl heal` removes it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The peer (`peer-3`).
    pub peer: String,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    net::isolate(&rt, &global.deployment(), &args.peer, &Step::hidden()).await?;
    println!("{} isolated", args.peer);
    Ok(())
}
