use anyhow::Context;
use futures::StreamExt;
use meshctl::context;
use meshctl::runtime::Runtime;
use tokio::io::AsyncWriteExt;

use super::Global;

/// Print a container's logs: a peer (`peer-3`), a database (`origin-db`) or
/// a control-plane service (`tracker`) of the deployment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component name (`peer-3`, `edge-db-a`, `tracker`) or container name.
    pub target: String,
    /// Keep printing new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<u64>,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let c = context::find_container(&rt, &global.deployment(), &args.target).await?;
    // tokio's stdout needs a feature the workspace does not enable; a
    // duplicate of fd 1 as a tokio file does the same.
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    let mut out = tokio::fs::File::from_std(std::fs::File::from(fd));
    let mut logs = rt.logs(&c.id, args.follow, args.tail);
    while let Some(chunk) = logs.next().await {
        out.write_all(&chunk?).await.context("write logs")?;
    }
    out.flush().await.context("write logs")?;
    Ok(())
}
