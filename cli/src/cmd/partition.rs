use meshctl::faults::net;
use meshctl::progress::Step;

use super::Global;

/// Cut every mesh link between groups of peers (iptables DROP in and out in
/// each peer's namespace, comment `meshctl-partition`); `meshctl heal`
/// removes it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Two or more groups, each a comma-separated list of peers
    /// (`peer-1,peer-2 peer-3,peer-4`).
    #[arg(required = true, num_args = 2..)]
    pub groups: Vec<String>,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let groups: Vec<Vec<String>> = args
        .groups
        .iter()
        .map(|g| {
            g.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        })
        .collect();
    let rt = meshctl::runtime::connect().await?;
    let rules = net::partition(&rt, &global.deployment(), &groups, &Step::hidden()).await?;
    println!("partitioned into {} groups ({rules} rules)", groups.len());
    Ok(())
}
