//! The images of our own binaries, built `FROM scratch` with nothing pulled:
//! the peer image (`mesh-agent`), the control-plane image (`topology`,
//! `tracker`, `signalling`) and the shaper image (`mesh-shaper`, built on
//! the first `netem set` that needs it).
//!
//! The Dockerfiles are `templates/docker/Dockerfile.{peer,control,shaper}`;
//! the first two are shared with `docker-compose.control.yml`. meshctl sends them with an in-memory
//! tar context holding only the binaries they copy, at the same paths as in
//! the workspace. An image whose `meshctl.binaries` label matches the hash
//! of its Dockerfile and binaries is reused, not rebuilt.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::progress::Step;
use crate::runtime::{Images, Labels};
use crate::tar::Tar;

/// Where the Dockerfiles expect the binaries, relative to the workspace root.
pub const RELEASE_DIR: &str = "target/x86_64-unknown-linux-gnu/release";
/// Label carrying the hash of an image's Dockerfile and binaries.
pub const LABEL_BINARIES: &str = "meshctl.binaries";

pub const DEFAULT_PEER_IMAGE: &str = "peer-node:latest";
pub const DEFAULT_CONTROL_IMAGE: &str = "meshctl-control:latest";
pub const DEFAULT_SHAPER_IMAGE: &str = "meshctl-shaper:latest";

const PEER_DOCKERFILE: &str = include_str!("../../templates/docker/Dockerfile.peer");
const CONTROL_DOCKERFILE: &str = include_str!("../../templates/docker/Dockerfile.control");
const SHAPER_DOCKERFILE: &str = include_str!("../../templates/docker/Dockerfile.shaper");

/// One of our images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnImage {
    Peer,
    Control,
    /// The userspace link shaper of kernels without `sch_netem`.
    Shaper,
}

impl OwnImage {
    pub fn binaries(self) -> &'static [&'static str] {
        match self {
            OwnImage::Peer => &["mesh-agent"],
            OwnImage::Control => &["topology", "tracker", "signalling"],
            OwnImage::Shaper => &["mesh-shaper"],
        }
    }

    fn dockerfile(self) -> &'static str {
        match self {
            OwnImage::Peer => PEER_DOCKERFILE,
            OwnImage::Control => CONTROL_DOCKERFILE,
            OwnImage::Shaper => SHAPER_DOCKERFILE,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            OwnImage::Peer => "peer",
            OwnImage::Control => "control",
            OwnImage::Shaper => "shaper",
        }
    }
}

/// The directory holding the release binaries: `MESHCTL_BIN_DIR` when set,
/// else the directory of the running meshctl when the binaries sit beside
/// it, else `target/x86_64-unknown-linux-gnu/release` of the workspace that
/// contains the current directory.
pub fn binary_dir(needed: &[&str]) -> anyhow::Result<PathBuf> {
    let has_all = |d: &Path| needed.iter().all(|b| d.join(b).is_file());
    let mut tried = Vec::new();
    if let Some(d) = std::env::var_os("MESHCTL_BIN_DIR").filter(|v| !v.is_empty()) {
        let d = PathBuf::from(d);
        if has_all(&d) {
            return Ok(d);
        }
        tried.push(d);
    }
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if has_all(&d) {
            return Ok(d);
        }
        tried.push(d);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let d = dir.join(RELEASE_DIR);
            if has_all(&d) {
                return Ok(d);
            }
            if dir.join("Cargo.toml").is_file() && dir.join("target").is_dir() {
                tried.push(d);
                break;
            }
        }
    }
    bail!(
        "the release binaries {} are missing (looked in {}); build them with `cargo build --release --workspace` (the ./meshctl wrapper does this), or point MESHCTL_BIN_DIR at them",
        needed.join(", "),
        tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The build context for `image` and the hash of its inputs.
pub fn build_context(image: OwnImage, bin_dir: &Path) -> anyhow::Result<(Vec<u8>, String)> {
    let mut tar = Tar::default();
    let mut hash = Sha256::new();
    hash.update(image.dockerfile().as_bytes());
    tar.file("Dockerfile", 0o644, image.dockerfile().as_bytes())?;
    for bin in image.binaries() {
        let path = bin_dir.join(bin);
        let data = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        hash.update(bin.as_bytes());
        hash.update(Sha256::digest(&data));
        tar.file(&format!("{RELEASE_DIR}/{bin}"), 0o755, &data)?;
    }
    Ok((tar.finish(), hex::encode(&hash.finalize()[..12])))
}

/// Builds `tag` from our binaries unless the daemon already has it built
/// from the same ones. Returns the image id.
pub async fn ensure_own_image(
    rt: &impl Images,
    image: OwnImage,
    tag: &str,
    progress: &Step,
) -> anyhow::Result<String> {
    let bin_dir = binary_dir(image.binaries())?;
    let (context, hash) = build_context(image, &bin_dir)?;
    let current = rt.inspect_image(tag).await?;
    if current
        .as_ref()
        .and_then(|i| i.labels.get(LABEL_BINARIES))
        .is_some_and(|h| *h == hash)
    {
        progress.set_message(format!("{tag}: up to date"));
    } else {
        progress.set_message(format!("{tag}: building from {}", bin_dir.display()));
        let labels = Labels::from([
            (LABEL_BINARIES.to_string(), hash),
            ("meshctl.image".to_string(), image.kind().to_string()),
        ]);
        rt.build_image(tag, context, &labels, &|line: &str| {
            progress.set_message(format!("{tag}: {line}"));
        })
        .await?;
        progress.set_message(format!("{tag}: built"));
    }
    Ok(rt
        .inspect_image(tag)
        .await?
        .with_context(|| format!("image {tag} is missing right after its build"))?
        .id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_reproducible_and_valid_tar() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mesh-agent"), b"\x7fELF fake").unwrap();
        let (a, ha) = build_context(OwnImage::Peer, dir.path()).unwrap();
        let (b, hb) = build_context(OwnImage::Peer, dir.path()).unwrap();
        assert_eq!((a.clone(), ha.clone()), (b, hb));
        assert_eq!(a.len() % 512, 0);
        // Header checksum of the first entry.
        let h = &a[..512];
        let stored =
            u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap().trim(), 8).unwrap();
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(stored, sum);
        std::fs::write(dir.path().join("mesh-agent"), b"\x7fELF other").unwrap();
        let (_, hc) = build_context(OwnImage::Peer, dir.path()).unwrap();
        assert_ne!(ha, hc);
    }

    #[test]
    fn missing_binaries_say_how_to_build() {
        std::env::set_var("MESHCTL_BIN_DIR", "/nonexistent");
        let err = binary_dir(&["no-such-binary-xyz"]).unwrap_err().to_string();
        std::env::remove_var("MESHCTL_BIN_DIR");
        assert!(err.contains("cargo build --release --workspace"), "{err}");
    }
}
