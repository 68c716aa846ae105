//! The offline BusyBox image: the host's static busybox, its applet links and
//! `/etc/passwd`, `/etc/group` in a tar written here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{BaseImage, DEFAULT_PATH};
use crate::progress::Step;
use crate::runtime::Images;
use crate::tar::Tar;

/// Time for a quick host command (`busybox --list-full`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

const BUSYBOX_PASSWD: &str = include_str!("../../../templates/busybox/passwd");
const BUSYBOX_GROUP: &str = include_str!("../../../templates/busybox/group");

/// Image config, as Dockerfile instructions (without the labels).
fn changes() -> Vec<String> {
    vec![format!("ENV PATH={DEFAULT_PATH}"), r#"CMD ["sh"]"#.into()]
}

/// Feeds the recipe to the recipe hash: the host's busybox, the account
/// files and the config. The order is part of the hash.
pub(super) async fn hash_into(h: &mut Sha256) -> anyhow::Result<()> {
    let busybox = host_busybox()?;
    let bytes = tokio::fs::read(&busybox)
        .await
        .with_context(|| format!("read {}", busybox.display()))?;
    h.update(&bytes);
    h.update(BUSYBOX_PASSWD);
    h.update(BUSYBOX_GROUP);
    for c in changes() {
        h.update(c);
    }
    Ok(())
}

/// Builds the offline BusyBox image and imports it.
pub(super) async fn build(
    rt: &impl Images,
    recipe_id: &str,
    progress: &Step,
) -> anyhow::Result<()> {
    let busybox = host_busybox()?;
    let binary = tokio::fs::read(&busybox)
        .await
        .with_context(|| format!("read {}", busybox.display()))?;
    let listed = tokio::time::timeout(
        COMMAND_TIMEOUT,
        tokio::process::Command::new(&busybox)
            .arg("--list-full")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .with_context(|| format!("{} --list-full: timed out", busybox.display()))?
    .with_context(|| format!("run {} --list-full", busybox.display()))?;
    if !listed.status.success() {
        bail!(
            "{} --list-full failed ({})",
            busybox.display(),
            listed.status
        );
    }
    let applets = String::from_utf8_lossy(&listed.stdout);
    let bytes = rootfs(&binary, &applets).context("assemble the BusyBox root filesystem")?;

    let which = BaseImage::Busybox;
    progress.set_message(format!(
        "{}: importing {} KB",
        which.offline(),
        bytes.len() / 1000
    ));
    let body = futures::stream::once(async move { Ok(Bytes::from(bytes)) });
    super::import(rt, which, recipe_id, body, changes(), progress).await
}

/// The root filesystem tar: `binary` as /bin/busybox, a symlink to it for
/// each applet path `busybox --list-full` printed, the account files.
fn rootfs(binary: &[u8], applets: &str) -> anyhow::Result<Vec<u8>> {
    let mut tar = Tar::default();
    for dir in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root"] {
        tar.dir(dir, 0o755)?;
    }
    tar.dir("tmp", 0o1777)?;
    tar.file("bin/busybox", 0o755, binary)?;
    tar.file("etc/passwd", 0o644, BUSYBOX_PASSWD.as_bytes())?;
    tar.file("etc/group", 0o644, BUSYBOX_GROUP.as_bytes())?;
    for applet in applets.lines().map(str::trim) {
        let valid = !applet.is_empty()
            && applet != "bin/busybox"
            && !applet
                .split('/')
                .any(|part| part.is_empty() || part == "..")
            && ["bin/", "sbin/", "usr/bin/", "usr/sbin/"]
                .iter()
                .any(|d| applet.starts_with(d));
        if valid {
            tar.symlink(applet, "/bin/busybox")?;
        }
    }
    Ok(tar.finish())
}

/// The host's busybox, which must be statically linked to run in an empty root.
fn host_busybox() -> anyhow::Result<PathBuf> {
    let candidates = [Path::new("/bin/busybox"), Path::new("/usr/bin/busybox")];
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        bail!(
            "busybox is not installed, and the offline BusyBox image is made from \
             it: install Debian's busybox-static (`apt-get install busybox-static`)"
        );
    };
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    if !is_static_elf(&bytes) {
        bail!(
            "{} is dynamically linked and cannot run in an empty image: install \
             Debian's busybox-static (`apt-get install busybox-static`)",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}

/// True for a 64-bit ELF executable without a program interpreter (PT_INTERP).
fn is_static_elf(b: &[u8]) -> bool {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8).map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
    };
    // ELF magic, 64-bit class, little endian.
    if b.get(0..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..phnum as usize).all(|i| {
        let at = phoff as usize + i * phentsize as usize;
        u32_at(at).is_some_and(|t| t != PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // The test binary itself is built with +crt-static.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(is_static_elf(&me));
    }

    #[test]
    fn rootfs_links_only_safe_applet_paths() {
        let applets =
            "bin/busybox\nbin/sh\nusr/bin/env\n\nbin/../etc/x\netc/passwd\n/abs\nsbin//y\n";
        let tar = rootfs(b"\x7fELF", applets).unwrap();
        let links: Vec<&str> = tar
            .chunks(512)
            .filter(|h| h[156] == b'2')
            .map(|h| {
                std::str::from_utf8(&h[..100])
                    .unwrap()
                    .trim_end_matches('\0')
            })
            .collect();
        assert_eq!(links, ["bin/sh", "usr/bin/env"]);
    }
}
