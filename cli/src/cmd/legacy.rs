use std::collections::BTreeMap;

use anyhow::bail;
use meshctl::context::Role;
use meshctl::down::{self, DownOptions};
use meshctl::legacy::{self, LegacyOptions};

use super::Global;

/// The legacy launcher: capped BusyBox-only containers (no agent, no
/// databases).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Start COUNT capped BusyBox containers.
    Up {
        #[arg(long, env = "COUNT", default_value_t = 500)]
        count: usize,
        /// Hard memory limit per container, no swap.
        #[arg(long, default_value = "15m")]
        memory: String,
        /// CPUs per container, 0 for no limit.
        #[arg(long, default_value_t = 0.05)]
        cpus: f64,
        #[arg(long, default_value_t = 8)]
        max_workers: usize,
        /// Extra label for every object, KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Remove the legacy containers and their network.
    Down {
        #[arg(long, default_value_t = 16)]
        max_workers: usize,
    },
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let docker = meshctl::runtime::connect().await?;
    let name = global.deployment();
    match args.action {
        Action::Up {
            count,
            memory,
            cpus,
            max_workers,
            labels,
        } => {
            let mut extra_labels = BTreeMap::new();
            for l in &labels {
                let Some((k, v)) = l.split_once('=') else {
                    bail!("--label {l:?}: expected KEY=VALUE");
                };
                extra_labels.insert(k.to_string(), v.to_string());
            }
            let opts = LegacyOptions {
                name,
                count,
                memory: meshctl::plan::parse_memory(&memory)?,
                cpus,
                max_workers,
                extra_labels,
            };
            let progress = meshctl::progress::Progress::new();
            let image_step = progress.step(None, "busybox");
            let step = progress.step(Some(count as u64), "containers");
            let r = legacy::up(&docker, &opts, &image_step, &step).await?;
            progress.clear();
            println!(
                "{} legacy containers on {} from {} ({} created, {} already running)",
                r.created + r.kept,
                r.network,
                r.image,
                r.created,
                r.kept
            );
        }
        Action::Down { max_workers } => {
            let r = down::down(
                &docker,
                &DownOptions {
                    name,
                    keep_control: false,
                    only_role: Some(Role::Legacy),
                    max_workers,
                    network_retry: std::time::Duration::from_secs(1),
                },
            )
            .await?;
            println!(
                "removed {} legacy containers, {} networks",
                r.containers, r.networks
            );
        }
    }
    Ok(())
}
