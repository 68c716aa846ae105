use meshctl::down::{self, DownOptions};

use super::{Format, Global};

/// Remove the deployment's peers, databases, control plane, networks and
/// volumes. Idempotent; touches nothing of any other deployment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the control plane (and its network) running.
    #[arg(long)]
    pub keep_control: bool,
    /// Containers removed at once.
    #[arg(long, default_value_t = 16)]
    pub max_workers: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let docker = meshctl::runtime::connect().await?;
    let name = global.deployment();
    let r = down::down(
        &docker,
        &DownOptions {
            name: name.clone(),
            keep_control: args.keep_control,
            only_role: None,
            max_workers: args.max_workers,
            network_retry: std::time::Duration::from_secs(1),
        },
    )
    .await?;
    match args.format {
        Format::Json => super::print_json(&r),
        Format::Table => {
            println!(
                "{name}: removed {} containers, {} networks, {} volumes",
                r.containers, r.networks, r.volumes
            );
            Ok(())
        }
    }
}
