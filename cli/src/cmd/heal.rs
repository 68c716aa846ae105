use meshctl::faults::{net, node};

use super::Global;

/// Remove every shaping and partition rule from every running peer of the
/// deployment (read from the kernels, so it also cleans up after an
/// interrupted meshctl), the shaper containers and any leftover helper
/// container; with `--all`,
/// first start what was killed or stopped and unpause what was paused, so
/// the deployment is back to its planned state.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also restart killed or stopped containers and unpause paused ones
    #[arg(long)]
    pub all: bool,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let deployment = global.deployment();
    if args.all {
        for (target, done) in node::restore(&rt, &deployment).await? {
            println!("{target}: {done}");
        }
    }
    let healed = net::heal(&rt, &deployment).await?;
    println!(
        "healed {} peer(s){}",
        healed.peers.len(),
        if healed.helpers_removed > 0 {
            format!(", removed {} helper container(s)", healed.helpers_removed)
        } else {
            String::new()
        }
    );
    Ok(())
}
