use meshctl::faults::net;
use meshctl::faults::select::{self, Amount};
use meshctl::faults::split::{self, GroupSpec, MeshView};
use meshctl::progress::Progress;

use super::{Format, Global};

/// Cut every mesh link between groups of peers (iptables DROP in and out in
/// each peer's namespace, comment `meshctl-partition`); `meshctl heal`
/// removes it. The running peers in no group form one more group, so
/// `partition peer-1,peer-2` cuts those two off from the rest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Groups, each a comma-separated list of peers
    /// (`peer-1,peer-2 peer-3,peer-4`)
    pub groups: Vec<String>,
    /// One more group of this many random peers: a count (`8`) or a share
    /// (`25%`)
    #[arg(long, value_name = "N|P%", value_parser = parse_amount)]
    pub random: Option<Amount>,
    /// One more group: the peers nearest this edge database by mesh hops
    /// (`edge-db-a`); repeatable. `--around edge-db-a` on a deployment with
    /// two edges cuts the mesh into halves that each keep an edge
    #[arg(long, value_name = "EDGE-DB")]
    pub around: Vec<String>,
    /// Seed of --random (printed when not given)
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn parse_amount(s: &str) -> Result<Amount, String> {
    Amount::parse("--random", s).map_err(|e| format!("{e:#}"))
}

#[derive(serde::Serialize)]
struct Report<'a> {
    deployment: &'a str,
    groups: &'a [Vec<String>],
    rules: usize,
    seed: Option<u64>,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let named: Vec<Vec<String>> = args
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
    let drawn = args.seed.is_none() && args.random.is_some();
    let spec = GroupSpec {
        named,
        random: args.random,
        around: args.around,
        seed: args.seed.unwrap_or_else(select::fresh_seed),
    };
    let rt = meshctl::runtime::connect().await?;
    let deployment = global.deployment();
    let mesh = net::mesh(&rt, &deployment).await?;
    let mut view = MeshView {
        peers: mesh.peers.keys().cloned().collect(),
        ..Default::default()
    };
    if !spec.around.is_empty() {
        let g = meshctl::graph::graph(&rt, &deployment).await?;
        view.links = g.links;
        view.edge_links = g.edge_links;
    }
    let groups = split::groups(&spec, &view)?;
    if drawn {
        eprintln!(
            "--random picked with --seed {} (give it to pick the same again)",
            spec.seed
        );
    }
    let progress = Progress::new();
    let step = progress.step(None, "partition");
    let rules = net::partition(&rt, &deployment, &groups, &step).await?;
    step.finish_with_message("applied");
    progress.clear();
    match args.format {
        Format::Json => super::print_json(&Report {
            deployment: &deployment,
            groups: &groups,
            rules,
            seed: spec.random.map(|_| spec.seed),
        })?,
        Format::Table => {
            let mut t = super::table(&["group", "peers", "members"]);
            for (i, g) in groups.iter().enumerate() {
                t.add_row(vec![
                    (i + 1).to_string(),
                    g.len().to_string(),
                    g.join(","),
                ]);
            }
            println!("{t}");
            println!(
                "partitioned into {} groups ({rules} rules); `meshctl heal` removes them",
                groups.len()
            );
        }
    }
    Ok(())
}
