use meshctl::faults;

use super::{Format, Global};

/// List every active fault of the deployment, read back from the Engine
/// and the peers' kernels: paused containers; peers, control services or
/// databases that are not running (how they ended, and when); shaped links,
/// partitions and isolated peers.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let list = faults::list_all(&rt, &global.deployment()).await?;
    match args.format {
        Format::Json => super::print_json(&list),
        Format::Table => {
            if list.is_empty() {
                eprintln!("no active faults in deployment {:?}", global.deployment());
            }
            let mut t = super::table(&["kind", "target", "role", "detail", "since"]);
            for f in &list {
                t.add_row(vec![
                    f.kind.to_string(),
                    f.target.clone(),
                    f.role.map_or("-", |r| r.as_str()).to_string(),
                    f.detail.clone(),
                    f.since.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            println!("{t}");
            Ok(())
        }
    }
}
