use anyhow::bail;
use meshctl::context::{self, label, LABEL_COMPONENT};

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
    let docker = context::connect_docker().await?;
    let name = global.deployment();
    let containers = context::list_containers(&docker, &name).await?;
    let found = containers.iter().find(|c| {
        label(c, LABEL_COMPONENT) == Some(args.target.as_str())
            || c.names
                .iter()
                .flatten()
                .any(|n| n.trim_start_matches('/') == args.target)
    });
    let Some(id) = found.and_then(|c| c.id.clone()) else {
        bail!(
            "deployment {name:?} has no container {:?} (see `meshctl status`)",
            args.target
        );
    };
    // tokio's stdout needs a feature the workspace does not enable; a
    // duplicate of fd 1 as a tokio file does the same.
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    let mut out = tokio::fs::File::from_std(std::fs::File::from(fd));
    meshctl::docker::logs(&docker, &id, args.follow, args.tail, &mut out).await
}
