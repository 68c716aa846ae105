use clap::ValueEnum;

use super::Global;

/// Write the live mesh from the topology service, with databases and edge
/// attachments: `meshctl graph > peer_network.dot && dot -Tpng
/// peer_network.dot -o peer_network.png`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Json,
    Mermaid,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let docker = meshctl::runtime::connect().await?;
    let g = meshctl::graph::graph(&docker, &global.deployment()).await?;
    match args.format {
        GraphFormat::Dot => print!("{}", meshctl::graph::to_dot(&g)),
        GraphFormat::Mermaid => print!("{}", meshctl::graph::to_mermaid(&g)),
        GraphFormat::Json => super::print_json(&g)?,
    }
    Ok(())
}
