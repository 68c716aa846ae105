use meshctl::faults::node::{Action, STOP_GRACE};

use super::node_fault::NodeArgs;
use super::Global;

/// Kill peers, control services or databases of the deployment at once
/// (SIGKILL); `meshctl start` brings them back.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nodes: NodeArgs,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    super::node_fault::run(args.nodes, Action::Kill, STOP_GRACE, global).await
}
