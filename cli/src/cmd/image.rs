use std::path::PathBuf;

use anyhow::Context;
use meshctl::images::{DEFAULT_CONTROL_IMAGE, DEFAULT_PEER_IMAGE};

use super::Global;

/// Save images to a tar archive and load them elsewhere, without a
/// registry (the Engine API's `docker save` / `docker load`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write images to an archive [default: the peer and control-plane
    /// images, plus the PostgreSQL, Redis and BusyBox images the daemon has]
    Save {
        /// The archive to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Image references.
        images: Vec<String>,
    },
    /// Load an archive made by `image save` (or `docker save`).
    Load {
        /// The archive to read.
        #[arg(short, long)]
        input: PathBuf,
    },
}

pub async fn run(args: Args, _global: &Global) -> anyhow::Result<()> {
    let docker = meshctl::context::connect_docker().await?;
    match args.action {
        Action::Save { output, mut images } => {
            if images.is_empty() {
                images = vec![DEFAULT_PEER_IMAGE.into(), DEFAULT_CONTROL_IMAGE.into()];
                use meshctl::offline::BaseImage;
                for b in [BaseImage::Postgres, BaseImage::Redis, BaseImage::Busybox] {
                    for r in [b.official(), b.offline()] {
                        if meshctl::docker::image_id(&docker, r).await?.is_some() {
                            images.push(r.to_string());
                            break;
                        }
                    }
                }
            }
            for i in &images {
                if meshctl::docker::image_id(&docker, i).await?.is_none() {
                    anyhow::bail!("image {i} is not on the daemon (run `meshctl up` to build it)");
                }
            }
            let refs: Vec<&str> = images.iter().map(String::as_str).collect();
            let tmp = output.with_extension("partial");
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("create {}", tmp.display()))?;
            let n = meshctl::docker::export_images(&docker, &refs, &mut file).await?;
            drop(file);
            tokio::fs::rename(&tmp, &output)
                .await
                .with_context(|| format!("write {}", output.display()))?;
            println!(
                "saved {} ({}) to {}",
                images.join(", "),
                super::mib(n),
                output.display()
            );
        }
        Action::Load { input } => {
            let file = tokio::fs::File::open(&input)
                .await
                .with_context(|| format!("open {}", input.display()))?;
            let body = tokio_util::io::ReaderStream::new(file);
            for line in meshctl::docker::load_images(&docker, body).await? {
                println!("{line}");
            }
        }
    }
    Ok(())
}
