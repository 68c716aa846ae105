//! Network faults against the real Docker daemon.

mod support;

use meshctl::offline::{ensure, BaseImage};
use meshctl::progress::Step;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_image_is_built_offline() -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let image = ensure(&rt, BaseImage::Tools, &Step::hidden()).await?;
    assert_eq!(image, "meshctl/tools:1");
    Ok(())
}
