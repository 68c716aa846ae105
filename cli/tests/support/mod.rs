//! What the Docker tests that drive the `meshctl` binary share: run ids, the
//! binary run with a deadline and a clean environment, a guard that brings a
//! deployment down even when a test fails, and polling with a deadline.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Docker tests in one binary run one at a time: the daemon is shared.
pub static DOCKER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const MESHCTL: &str = env!("CARGO_BIN_EXE_meshctl");

/// Settings meshctl reads from the environment: the tests give theirs as
/// flags or files only.
const ENV_SETTINGS: &[&str] = &[
    "MESHCTL_DEPLOYMENT",
    "COUNT",
    "MAX_COUNT",
    "PREFIX",
    "PEER_NETWORK",
    "EDGE1_NETWORK",
    "EDGE2_NETWORK",
    "ORIGIN_NETWORK",
    "EDGE1_PEERS",
    "EDGE2_PEERS",
    "IMAGE",
    "CONTROL_IMAGE",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "MESH_TOKEN",
    "TRACKER_URL",
    "SIGNAL_URL",
    "PEER_ROOM",
    "PEER_REGION",
    "PEER_RTT_MS",
    "CACHE_CAPACITY",
    "HEARTBEAT_INTERVAL_SEC",
    "TRACKER_TTL_SECONDS",
];

/// A deployment name unique to this run, starting with `prefix`.
pub fn run_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        nanos % 1_000_000
    )
}

/// `meshctl <args>` with none of meshctl's settings inherited from the env.
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(MESHCTL);
    c.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for k in ENV_SETTINGS {
        c.env_remove(k);
    }
    c
}

/// Runs meshctl with a deadline; returns (success, stdout, stderr).
pub async fn meshctl_output(
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<(bool, String, String)> {
    let out = tokio::time::timeout(limit, command(args).output())
        .await
        .with_context(|| format!("meshctl {args:?}: timed out"))??;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    ))
}

/// Runs meshctl with a deadline; returns stdout, failing with stderr.
pub async fn meshctl(args: &[&str], limit: Duration) -> anyhow::Result<String> {
    let (ok, stdout, stderr) = meshctl_output(args, limit).await?;
    if !ok {
        bail!("meshctl {args:?} failed: {stderr}\n{stdout}");
    }
    Ok(stdout)
}

/// Runs meshctl expecting a failure; returns its stderr.
pub async fn meshctl_fails(args: &[&str], limit: Duration) -> anyhow::Result<String> {
    let (ok, stdout, stderr) = meshctl_output(args, limit).await?;
    if ok {
        bail!("meshctl {args:?} succeeded but should fail:\n{stdout}");
    }
    Ok(stderr)
}

/// Removes deployment `name` (containers of any role, networks, volumes)
/// when dropped, also on failure.
pub struct Guard {
    pub name: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let out = std::process::Command::new(MESHCTL)
            .args(["--name", &self.name, "down"])
            .env_remove("MESHCTL_DEPLOYMENT")
            .stdin(std::process::Stdio::null())
            .output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("meshctl --name {} down: {out:?}", self.name);
        }
    }
}

/// Calls `f` every 300 ms until it answers `Some`, or fails after `limit`
/// with the last error.
pub async fn poll<T>(
    what: &str,
    limit: Duration,
    mut f: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => None,
            Err(e) => Some(e),
        };
        if Instant::now() > deadline {
            bail!("{what}: not within {limit:?} (last error: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `seconds` of a sine tone as WAV, made by ffmpeg.
pub async fn tone(
    dir: &std::path::Path,
    seconds: u32,
    freq: u32,
) -> anyhow::Result<std::path::PathBuf> {
    let out = dir.join(format!("tone-{freq}-{seconds}.wav"));
    let status = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={freq}:duration={seconds}"))
            .arg(&out)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .status(),
    )
    .await
    .context("ffmpeg tone: timed out")??;
    if !status.success() {
        bail!("ffmpeg could not make a tone: {status}");
    }
    Ok(out)
}
