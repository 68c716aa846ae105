use std::path::PathBuf;

use anyhow::Context;
use futures::StreamExt;
use meshctl::runtime::Images;
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
    let docker = meshctl::runtime::connect().await?;
    match args.action {
        Action::Save { output, mut images } => {
            if images.is_empty() {
                images = vec![DEFAULT_PEER_IMAGE.into(), DEFAULT_CONTROL_IMAGE.into()];
                use meshctl::offline::BaseImage;
                for b in [
                    BaseImage::Postgres,
                    BaseImage::Redis,
                    BaseImage::Busybox,
                    BaseImage::Tools,
                ] {
                    for r in [b.official(), b.offline()] {
                        if docker.inspect_image(r).await?.is_some() {
                            images.push(r.to_string());
                            break;
                        }
                    }
                }
            }
            for i in &images {
                if docker.inspect_image(i).await?.is_none() {
                    anyhow::bail!("image {i} is not on the daemon (run `meshctl up` to build it)");
                }
            }
            let refs: Vec<&str> = images.iter().map(String::as_str).collect();
            let tmp = output.with_extension("partial");
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("create {}", tmp.display()))?;
            let n = save(&docker, &refs, &mut file).await?;
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
            let body = tokio_util::io::ReaderStream::new(file).boxed();
            for line in docker.load_images(body).await? {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// Streams `docker save` of `refs` into `out`; answers the bytes written.
async fn save(
    rt: &impl Images,
    refs: &[&str],
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> anyhow::Result<u64> {
    use tokio::io::AsyncWriteExt;
    let mut stream = rt.export_images(refs);
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .context("write the image archive")?;
    }
    out.flush().await.context("write the image archive")?;
    Ok(n)
}
