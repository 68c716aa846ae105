//! Base images (PostgreSQL, Redis, BusyBox): local, pulled, or built offline from Debian packages.
//!
//! [`ensure`] answers which image reference to run for a [`BaseImage`], in this
//! order:
//!
//! 1. the image named by the override variable (`POSTGRES_IMAGE`,
//!    `REDIS_IMAGE`, `BUSYBOX_IMAGE`) when the daemon has it;
//! 2. the official image (`postgres:15`, `redis:7`, `busybox:stable-musl`)
//!    when the daemon has it;
//! 3. the official image pulled, with a short timeout (no registry answers on
//!    machines without one, and the attempt fails at once);
//! 4. our offline equivalent (`meshctl/postgres:15`, `meshctl/redis:7`,
//!    `meshctl/busybox:stable-musl`): reused when the daemon has it with the
//!    current recipe (label `meshctl.recipe`), built otherwise; an existing
//!    one from another recipe is still used when this host cannot build.
//!
//! The PostgreSQL and Redis equivalents are Debian root filesystems made by
//! `mmdebstrap` from the host's own apt sources (no mirror is named here),
//! with our entrypoints from `templates/` uploaded into them, then imported
//! through the Engine API (`POST /images/create?fromSrc=-`) with the image
//! config given as Dockerfile instructions (`changes`). The BusyBox one is a
//! tar assembled here from the host's static `/bin/busybox` and imported the
//! same way. Every offline image carries `meshctl.image=<kind>`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::progress::Step;
use crate::runtime::{Images, Labels};

/// Label on every offline image: its kind (`postgres`, `redis`, `busybox`).
pub const LABEL_IMAGE: &str = "meshctl.image";
/// Label on every offline image: a hash of the recipe it was built from, so a
/// changed recipe rebuilds and an unchanged one is reused.
pub const LABEL_RECIPE: &str = "meshctl.recipe";

/// Time for a pull attempt before falling back to the offline build. Without
/// a registry the daemon answers within milliseconds (DNS failure).
const PULL_TIMEOUT: Duration = Duration::from_secs(20);
/// Time for mmdebstrap to download and unpack a root filesystem (about 25 s
/// on a 2-core VM with a nearby mirror).
const MMDEBSTRAP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Time for a quick host command (`busybox --list-full`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The Debian release the offline images come from: PostgreSQL 15, Redis 7.
const SUITE: &str = "bookworm";

const POSTGRES_ENTRYPOINT: &str = include_str!("../../templates/postgres/docker-entrypoint.sh");
const REDIS_ENTRYPOINT: &str = include_str!("../../templates/redis/docker-entrypoint.sh");
const BUSYBOX_PASSWD: &str = include_str!("../../templates/busybox/passwd");
const BUSYBOX_GROUP: &str = include_str!("../../templates/busybox/group");

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A base image that elsewhere comes from a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseImage {
    Postgres,
    Redis,
    Busybox,
}

impl BaseImage {
    /// The kind, as written in the `meshctl.image` label.
    pub fn kind(self) -> &'static str {
        match self {
            BaseImage::Postgres => "postgres",
            BaseImage::Redis => "redis",
            BaseImage::Busybox => "busybox",
        }
    }

    /// The environment variable naming an image to use instead.
    pub fn env_var(self) -> &'static str {
        match self {
            BaseImage::Postgres => "POSTGRES_IMAGE",
            BaseImage::Redis => "REDIS_IMAGE",
            BaseImage::Busybox => "BUSYBOX_IMAGE",
        }
    }

    /// The official image whose contract the offline one follows.
    pub fn official(self) -> &'static str {
        match self {
            BaseImage::Postgres => "postgres:15",
            BaseImage::Redis => "redis:7",
            BaseImage::Busybox => "busybox:stable-musl",
        }
    }

    /// The image meshctl builds when the official one is absent and cannot be pulled.
    pub fn offline(self) -> &'static str {
        match self {
            BaseImage::Postgres => "meshctl/postgres:15",
            BaseImage::Redis => "meshctl/redis:7",
            BaseImage::Busybox => "meshctl/busybox:stable-musl",
        }
    }
}

/// Returns the image reference to run. Order: env override (POSTGRES_IMAGE /
/// REDIS_IMAGE / BUSYBOX_IMAGE) if present locally; else the official image
/// (postgres:15, redis:7, busybox:stable-musl) if present locally; else a
/// pull attempt with a short timeout (fails fast where no registry answers);
/// else our offline image (meshctl/postgres:15, meshctl/redis:7,
/// meshctl/busybox:stable-musl), reused if already present with the current
/// recipe, built otherwise. `progress` shows what happens.
pub async fn ensure(rt: &impl Images, which: BaseImage, progress: &Step) -> anyhow::Result<String> {
    let kind = which.kind();
    if let Ok(wanted) = std::env::var(which.env_var()) {
        let wanted = wanted.trim().to_string();
        if !wanted.is_empty() {
            if image_labels(rt, &wanted).await?.is_some() {
                progress.set_message(format!("{kind}: {wanted} (from {})", which.env_var()));
                return Ok(wanted);
            }
            tracing::warn!(
                "{}={wanted} is not on the daemon; falling back to {}",
                which.env_var(),
                which.official()
            );
        }
    }

    let official = which.official();
    if image_labels(rt, official).await?.is_some() {
        progress.set_message(format!("{kind}: {official} (local)"));
        return Ok(official.to_string());
    }

    progress.set_message(format!("{kind}: pulling {official}"));
    match pull(rt, official, progress).await {
        Ok(()) if image_labels(rt, official).await?.is_some() => {
            progress.set_message(format!("{kind}: {official} (pulled)"));
            return Ok(official.to_string());
        }
        Ok(()) => tracing::info!("pull of {official} ended without the image"),
        Err(e) => tracing::info!("pull of {official} failed, building offline: {e:#}"),
    }

    let offline = which.offline();
    let recipe = recipe_hash(which).await?;
    let stale = match rt.inspect_image(offline).await? {
        Some(image) => {
            if image.labels.get(LABEL_RECIPE) == Some(&recipe) {
                progress.set_message(format!("{kind}: {offline} (cached offline image)"));
                return Ok(offline.to_string());
            }
            tracing::info!("{offline} was built from another recipe; rebuilding");
            Some(image.id)
        }
        None => None,
    };

    progress.set_message(format!("{kind}: building {offline} offline"));
    let built = match which {
        BaseImage::Busybox => build_busybox(rt, &recipe, progress).await,
        BaseImage::Postgres | BaseImage::Redis => build_debian(rt, which, &recipe, progress).await,
    }
    .with_context(|| format!("build offline image {offline}"));
    match (built, stale) {
        (Ok(()), Some(old)) => remove_stale(rt, &old).await,
        (Ok(()), None) => {}
        // An older build (or one loaded from another machine with `image
        // load`) still serves where this host cannot build.
        (Err(e), Some(_)) => {
            tracing::warn!("{e:#}; using the existing {offline}");
            progress.set_message(format!("{kind}: {offline} (existing offline image)"));
            return Ok(offline.to_string());
        }
        (Err(e), None) => return Err(e),
    }
    progress.set_message(format!("{kind}: {offline} (built offline)"));
    Ok(offline.to_string())
}

/// The image's labels when the daemon has it, `None` when it does not.
async fn image_labels(rt: &impl Images, reference: &str) -> anyhow::Result<Option<Labels>> {
    Ok(rt.inspect_image(reference).await?.map(|image| image.labels))
}

/// A previous build of one of our offline images, untagged by the new one:
/// removed unless a container still uses it (then it stays, harmless).
async fn remove_stale(rt: &impl Images, id: &str) {
    match rt.remove_image(id).await {
        Ok(()) => tracing::info!("removed the previous build {id}"),
        Err(e) => tracing::info!("kept the previous build {id}: {e}"),
    }
}

async fn pull(rt: &impl Images, reference: &str, progress: &Step) -> anyhow::Result<()> {
    rt.pull_image(reference, PULL_TIMEOUT, &|status: &str| {
        progress.set_message(format!("pulling {reference}: {status}"));
    })
    .await?;
    Ok(())
}

/// What goes into a Debian-based offline image.
struct DebianRecipe {
    /// Packages for `mmdebstrap --include`.
    include: &'static str,
    /// The entrypoint script, uploaded to /usr/local/bin/docker-entrypoint.sh.
    entrypoint: &'static str,
    /// Shell commands run by mmdebstrap after installing; `$1` is the root.
    hooks: &'static [&'static str],
    /// Image config, as Dockerfile instructions (without the labels).
    changes: Vec<String>,
}

/// dpkg filters that keep documentation, man pages and translations out.
const DPKG_EXCLUDES: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
];

fn debian_recipe(which: BaseImage) -> DebianRecipe {
    match which {
        BaseImage::Postgres => DebianRecipe {
            include: "postgresql",
            entrypoint: POSTGRES_ENTRYPOINT,
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
        },
        BaseImage::Redis => DebianRecipe {
            include: "redis-server",
            entrypoint: REDIS_ENTRYPOINT,
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
        },
        BaseImage::Busybox => DebianRecipe {
            include: "",
            entrypoint: "",
            hooks: &[],
            changes: busybox_changes(),
        },
    }
}

fn busybox_changes() -> Vec<String> {
    vec![format!("ENV PATH={DEFAULT_PATH}"), r#"CMD ["sh"]"#.into()]
}

/// A short hash of everything an offline image is made from.
async fn recipe_hash(which: BaseImage) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(which.kind());
    match which {
        BaseImage::Busybox => {
            let busybox = host_busybox()?;
            let bytes = tokio::fs::read(&busybox)
                .await
                .with_context(|| format!("read {}", busybox.display()))?;
            h.update(&bytes);
            h.update(BUSYBOX_PASSWD);
            h.update(BUSYBOX_GROUP);
            for c in busybox_changes() {
                h.update(c);
            }
        }
        BaseImage::Postgres | BaseImage::Redis => {
            let r = debian_recipe(which);
            h.update(SUITE);
            h.update(r.include);
            h.update(r.entrypoint);
            for s in r.hooks.iter().chain(DPKG_EXCLUDES) {
                h.update(s);
            }
            for c in &r.changes {
                h.update(c);
            }
        }
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

fn labels_change(which: BaseImage, recipe: &str) -> String {
    format!(
        "LABEL {LABEL_IMAGE}={} {LABEL_RECIPE}={recipe}",
        which.kind()
    )
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

async fn build_debian(
    rt: &impl Images,
    which: BaseImage,
    recipe_id: &str,
    progress: &Step,
) -> anyhow::Result<()> {
    let mmdebstrap = check_debian_host()?;
    let sources = apt_sources()?;
    let recipe = debian_recipe(which);
    let work = tempfile::Builder::new()
        .prefix("meshctl-offline-")
        .tempdir()
        .context("create a temporary directory")?;
    let entrypoint = work.path().join("docker-entrypoint.sh");
    tokio::fs::write(&entrypoint, recipe.entrypoint)
        .await
        .context("write the entrypoint")?;
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
    cmd.arg(format!(
        "--customize-hook=upload {} /usr/local/bin/docker-entrypoint.sh",
        entrypoint.display()
    ))
    .arg(r#"--customize-hook=chmod 755 "$1"/usr/local/bin/docker-entrypoint.sh"#)
    .arg(SUITE)
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

    let mut changes = recipe.changes;
    changes.push(labels_change(which, recipe_id));
    import(rt, &rootfs, offline, changes, progress).await
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

/// Imports a root filesystem tar as `reference`, with `changes` as its config.
async fn import(
    rt: &impl Images,
    tar: &Path,
    reference: &str,
    changes: Vec<String>,
    progress: &Step,
) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(tar)
        .await
        .with_context(|| format!("open {}", tar.display()))?;
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
    progress.set_message(format!("{reference}: importing {} MB", total / 1_000_000));
    import_body(rt, body, reference, changes, progress).await
}

async fn import_body(
    rt: &impl Images,
    body: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    reference: &str,
    changes: Vec<String>,
    progress: &Step,
) -> anyhow::Result<()> {
    rt.import_rootfs(reference, &changes, body.boxed(), &|status: &str| {
        progress.set_message(format!("{reference}: import: {status}"));
        progress.tick();
    })
    .await?;
    Ok(())
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

async fn build_busybox(rt: &impl Images, recipe: &str, progress: &Step) -> anyhow::Result<()> {
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

    let mut tar = Tar::default();
    for dir in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root"] {
        tar.dir(dir, 0o755);
    }
    tar.dir("tmp", 0o1777);
    tar.file("bin/busybox", 0o755, &binary);
    tar.file("etc/passwd", 0o644, BUSYBOX_PASSWD.as_bytes());
    tar.file("etc/group", 0o644, BUSYBOX_GROUP.as_bytes());
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
            tar.symlink(applet, "/bin/busybox");
        }
    }
    let bytes = tar.finish();
    progress.set_message(format!(
        "{}: importing {} KB",
        BaseImage::Busybox.offline(),
        bytes.len() / 1000
    ));
    let mut changes = busybox_changes();
    changes.push(labels_change(BaseImage::Busybox, recipe));
    import_body(
        rt,
        futures::stream::once(async move { Ok(Bytes::from(bytes)) }),
        BaseImage::Busybox.offline(),
        changes,
        progress,
    )
    .await
}

/// A minimal ustar writer: directories, regular files, symlinks, all owned
/// by root.
#[derive(Default)]
struct Tar {
    buf: Vec<u8>,
}

impl Tar {
    fn header(&mut self, name: &str, mode: u32, size: usize, kind: u8, link: &str) {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, len: usize, s: &[u8]| {
            let n = s.len().min(len);
            h[at..at + n].copy_from_slice(&s[..n]);
        };
        put(&mut h, 0, 100, name.as_bytes());
        put(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
        put(&mut h, 108, 8, b"0000000\0");
        put(&mut h, 116, 8, b"0000000\0");
        put(&mut h, 124, 12, format!("{size:011o}\0").as_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        put(&mut h, 136, 12, format!("{now:011o}\0").as_bytes());
        put(&mut h, 148, 8, b"        ");
        h[156] = kind;
        put(&mut h, 157, 100, link.as_bytes());
        put(&mut h, 257, 8, b"ustar\x0000");
        put(&mut h, 265, 32, b"root");
        put(&mut h, 297, 32, b"root");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
        self.buf.extend_from_slice(&h);
    }

    fn dir(&mut self, name: &str, mode: u32) {
        self.header(&format!("{name}/"), mode, 0, b'5', "");
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.header(name, mode, data.len(), b'0', "");
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.header(name, 0o777, 0, b'2', target);
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.extend(std::iter::repeat_n(0u8, 1024));
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_have_valid_checksums() {
        let mut t = Tar::default();
        t.dir("bin", 0o755);
        t.file("bin/x", 0o755, b"hello");
        t.symlink("bin/sh", "/bin/busybox");
        let b = t.finish();
        assert_eq!(b.len() % 512, 0);
        for at in [0usize, 512, 1536] {
            let h = &b[at..at + 512];
            let stored = std::str::from_utf8(&h[148..154]).unwrap();
            let mut copy = h.to_vec();
            copy[148..156].copy_from_slice(b"        ");
            let sum: u32 = copy.iter().map(|&x| u32::from(x)).sum();
            assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        }
    }

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // The test binary itself is built with +crt-static.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(is_static_elf(&me));
    }

    #[test]
    fn names() {
        assert_eq!(BaseImage::Postgres.offline(), "meshctl/postgres:15");
        assert_eq!(BaseImage::Redis.env_var(), "REDIS_IMAGE");
        assert_eq!(BaseImage::Busybox.official(), "busybox:stable-musl");
    }
}
