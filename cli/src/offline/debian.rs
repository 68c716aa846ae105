//! The Debian-based offline images (PostgreSQL, Redis): their recipes, and
//! the `mmdebstrap` run that turns one into a root filesystem to import.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::{BaseImage, DEFAULT_PATH};
use crate::progress::Step;
use crate::runtime::Images;

/// Time for mmdebstrap to download and unpack a root filesystem (about 25 s
/// on a 2-core VM with a nearby mirror).
const MMDEBSTRAP_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The Debian release the offline images come from: PostgreSQL 15, Redis 7.
const SUITE: &str = "bookworm";

const POSTGRES_ENTRYPOINT: &str = include_str!("../../../templates/postgres/docker-entrypoint.sh");
const REDIS_ENTRYPOINT: &str = include_str!("../../../templates/redis/docker-entrypoint.sh");

/// dpkg filters that keep documentation, man pages and translations out.
const DPKG_EXCLUDES: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
];

/// What goes into a Debian-based offline image.
pub(super) struct DebianRecipe {
    /// Packages for `mmdebstrap --include`.
    include: &'static str,
    /// The entrypoint script, uploaded to /usr/local/bin/docker-entrypoint.sh.
    entrypoint: Option<&'static str>,
    /// Shell commands run by mmdebstrap after installing; `$1` is the root.
    hooks: &'static [&'static str],
    /// Image config, as Dockerfile instructions (without the labels).
    changes: Vec<String>,
}

/// `postgres:15`'s contract: `PGDATA`, the entrypoint, port 5432.
pub(super) fn postgres() -> DebianRecipe {
    DebianRecipe {
        include: "postgresql",
        entrypoint: Some(POSTGRES_ENTRYPOINT),
        hooks: &[
            // The package's postinst creates a "main" cluster; the
            // entrypoint makes its own in $PGDATA.
            r#"rm -rf "$1"/var/lib/postgresql/*/main "$1"/etc/postgresql/*/main"#,
            // JIT (LLVM, z3: 130 MB) is never used by our workload, and
            // postgres turns it off by itself when llvmjit.so is absent.
            // The locale sources only serve localedef.
            r#"rm -rf "$1"/usr/lib/*/libLLVM-*.so* "$1"/usr/lib/*/libz3.so* "$1"/usr/lib/postgresql/*/lib/bitcode "$1"/usr/lib/postgresql/*/lib/llvmjit* "$1"/usr/share/i18n/locales "$1"/usr/share/i18n/charmaps"#,
            r#"mkdir -p "$1"/docker-entrypoint-initdb.d "$1"/var/lib/postgresql/data && chroot "$1" chown postgres:postgres /var/lib/postgresql/data && chmod 700 "$1"/var/lib/postgresql/data"#,
        ],
        changes: vec![
            "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "ENV PGDATA=/var/lib/postgresql/data".into(),
            "ENV LANG=C.UTF-8".into(),
            "EXPOSE 5432".into(),
            r#"ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]"#.into(),
            r#"CMD ["postgres"]"#.into(),
        ],
    }
}

/// `redis:7`'s contract: `/data`, the entrypoint, port 6379.
pub(super) fn redis() -> DebianRecipe {
    DebianRecipe {
        include: "redis-server",
        entrypoint: Some(REDIS_ENTRYPOINT),
        hooks: &[
            r#"mkdir -p "$1"/data && chroot "$1" chown redis:redis /data"#,
            r#"rm -rf "$1"/usr/share/i18n/locales "$1"/usr/share/i18n/charmaps"#,
        ],
        changes: vec![
            format!("ENV PATH={DEFAULT_PATH}"),
            "EXPOSE 6379".into(),
            "WORKDIR /data".into(),
            r#"ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]"#.into(),
            r#"CMD ["redis-server"]"#.into(),
        ],
    }
}

/// `tc` and `iptables` for the network faults' helper containers, which
/// run one `sh -c` script each in a peer's network namespace. Debian's
/// `iptables` is the nf_tables variant; it works in a container with
/// `NET_ADMIN` on this kind of host (tested in `tests/offline_images.rs`).
pub(super) fn tools() -> DebianRecipe {
    DebianRecipe {
        include: "iproute2,iptables",
        entrypoint: None,
        hooks: &[r#"rm -rf "$1"/usr/share/i18n/locales "$1"/usr/share/i18n/charmaps"#],
        changes: vec![
            format!("ENV PATH={DEFAULT_PATH}"),
            r#"CMD ["/bin/sh"]"#.into(),
        ],
    }
}

impl DebianRecipe {
    /// Feeds the recipe to the recipe hash. The order is part of the hash.
    pub(super) fn hash_into(&self, h: &mut Sha256) {
        h.update(SUITE);
        h.update(self.include);
        if let Some(e) = self.entrypoint {
            h.update(e);
        }
        for s in self.hooks.iter().chain(DPKG_EXCLUDES) {
            h.update(s);
        }
        for c in &self.changes {
            h.update(c);
        }
    }
}

/// Builds `which`'s offline image from `recipe` with mmdebstrap and imports it.
pub(super) async fn build(
    rt: &impl Images,
    which: BaseImage,
    recipe: DebianRecipe,
    recipe_id: &str,
    progress: &Step,
) -> anyhow::Result<()> {
    let mmdebstrap = check_debian_host()?;
    let sources = apt_sources()?;
    let work = tempfile::Builder::new()
        .prefix("meshctl-offline-")
        .tempdir()
        .context("create a temporary directory")?;
    let rootfs = work.path().join("rootfs.tar");

    let mut cmd = tokio::process::Command::new(&mmdebstrap);
    cmd.arg("--variant=essential")
        .arg(format!("--include={}", recipe.include));
    for opt in DPKG_EXCLUDES {
        cmd.arg(format!("--dpkgopt={opt}"));
    }
    for hook in recipe.hooks {
        cmd.arg(format!("--customize-hook={hook}"));
    }
    if let Some(script) = recipe.entrypoint {
        let entrypoint = work.path().join("docker-entrypoint.sh");
        tokio::fs::write(&entrypoint, script)
            .await
            .context("write the entrypoint")?;
        cmd.arg(format!(
            "--customize-hook=upload {} /usr/local/bin/docker-entrypoint.sh",
            entrypoint.display()
        ))
        .arg(r#"--customize-hook=chmod 755 "$1"/usr/local/bin/docker-entrypoint.sh"#);
    }
    cmd.arg(SUITE)
        .arg(&rootfs)
        .args(&sources)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tracing::info!("running {cmd:?}");

    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", mmdebstrap.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("mmdebstrap: no output pipes");
    };
    let offline = which.offline();
    // Both pipes are read to their end (a full pipe would stall mmdebstrap),
    // bytes not lines so that non-UTF-8 output cannot stop the reading.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(256);
    tokio::spawn(forward_lines(stdout, tx.clone()));
    tokio::spawn(forward_lines(stderr, tx));
    // The last lines, for the error message when mmdebstrap fails.
    let mut tail: Vec<String> = Vec::new();
    let run = async {
        while let Some(line) = rx.recv().await {
            tracing::debug!(target: "mmdebstrap", "{line}");
            progress.set_message(format!("{offline}: mmdebstrap: {line}"));
            progress.tick();
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        child.wait().await.context("wait for mmdebstrap")
    };
    let status = tokio::time::timeout(MMDEBSTRAP_TIMEOUT, run)
        .await
        .with_context(|| format!("mmdebstrap did not finish within {MMDEBSTRAP_TIMEOUT:?}"))??;
    if !status.success() {
        // As root mmdebstrap chroots; otherwise it needs user namespaces and
        // subordinate ids, the usual cause of failures for a normal user.
        let hint = if running_as_root() {
            ""
        } else {
            " (not running as root: mmdebstrap then needs unprivileged user \
             namespaces and /etc/subuid, /etc/subgid entries for this user; \
             or run meshctl as root)"
        };
        bail!(
            "mmdebstrap failed ({status}) building {offline} from {}{hint}; its last lines:\n{}",
            sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            tail.join("\n")
        );
    }

    let (body, total) = read_stream(&rootfs).await?;
    progress.set_message(format!("{offline}: importing {} MB", total / 1_000_000));
    super::import(rt, which, recipe_id, body, recipe.changes, progress).await
}

/// `path` as a stream of 1 MiB chunks, and its size in bytes.
async fn read_stream(
    path: &Path,
) -> anyhow::Result<(
    impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    u64,
)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("open {}", path.display()))?;
    let total = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((body, total))
}

/// `name` on the host's PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The host's apt sources in deb822 form, given to mmdebstrap as they are so
/// that the image comes from the same mirror as the host's packages.
fn apt_sources() -> anyhow::Result<Vec<PathBuf>> {
    if let Some(file) = std::env::var_os("MESHCTL_APT_SOURCES") {
        return Ok(vec![PathBuf::from(file)]);
    }
    let debian = Path::new("/etc/apt/sources.list.d/debian.sources");
    if debian.is_file() {
        return Ok(vec![debian.to_path_buf()]);
    }
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "sources") {
                found.push(p);
            }
        }
    }
    let classic = Path::new("/etc/apt/sources.list");
    if found.is_empty()
        && std::fs::read_to_string(classic)
            .map(|s| s.lines().any(|l| l.trim_start().starts_with("deb ")))
            .unwrap_or(false)
    {
        found.push(classic.to_path_buf());
    }
    found.sort();
    if found.is_empty() {
        bail!(
            "no apt sources on this host (/etc/apt/sources.list.d/*.sources or \
             /etc/apt/sources.list); set MESHCTL_APT_SOURCES to a deb822 sources file"
        );
    }
    Ok(found)
}

/// What the host lacks for a Debian-based offline build, as one message.
fn check_debian_host() -> anyhow::Result<PathBuf> {
    let Some(mmdebstrap) = find_on_path("mmdebstrap") else {
        bail!(
            "mmdebstrap is not installed, and it is needed to build the offline \
             images where no registry answers: install it (`apt-get install \
             mmdebstrap`), or load the official image (`docker load`)"
        );
    };
    Ok(mmdebstrap)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Sends each line `pipe` prints to `tx` until the pipe closes.
async fn forward_lines(
    pipe: impl tokio::io::AsyncRead + Unpin,
    tx: tokio::sync::mpsc::Sender<String>,
) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if tx.send(text).await.is_err() {
                    return;
                }
            }
        }
    }
}
