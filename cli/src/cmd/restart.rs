use std::time::Duration;

use meshctl::faults::node::Action;

use super::node_fault::NodeArgs;
use super::Global;

/// Restart peers, control services or databases of the deployment (stop,
/// then start; a stopped one is started).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nodes: NodeArgs,
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let grace = Duration::from_secs(args.timeout);
    super::node_fault::run(args.nodes, Action::Restart, grace, global).await
}
