use meshctl::faults::node::{Action, STOP_GRACE};

use super::node_fault::NodeArgs;
use super::Global;

/// Freeze peers, control services or databases of the deployment (their
/// processes stop being scheduled; connections stay open).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nodes: NodeArgs,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    super::node_fault::run(args.nodes, Action::Pause, STOP_GRACE, global).await
}
