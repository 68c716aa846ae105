use meshctl::faults::net;

use super::Global;

/// Remove every shaping and partition rule from every running peer of the
/// deployment (read from the kernels, so it also cleans up after an
/// interrupted meshctl), and any leftover helper container.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let healed = net::heal(&rt, &global.deployment()).await?;
    println!(
        "healed {} peer(s){}",
        healed.peers.len(),
        if healed.helpers_removed > 0 {
            format!(", removed {} leftover helper(s)", healed.helpers_removed)
        } else {
            String::new()
        }
    );
    Ok(())
}
