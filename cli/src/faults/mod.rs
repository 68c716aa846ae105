//! Breaking a deployment on purpose, and reading back what is broken.
//!
//! - [`select`]: targets (`peer-7`, `tracker`, `origin-db`) and the
//!   `--random` / `--seed` / `--except` selectors, resolved before anything
//!   is touched (pure).
//! - [`node`]: kill, stop, start, pause, unpause, restart through the
//!   runtime; [`node::restore`] undoes them.
//! - [`churn`]: a random share of the live peers taken down each interval.
//! - [`split`]: the groups of a partition (named, random, nearest an
//!   edge), resolved before anything is touched (pure).
//! - [`net`]: link shaping, partitions and isolation, made in the peers'
//!   kernels by one-shot helper containers.
//!
//! Every fault lives in the Engine (a container's state) or in a peer's
//! kernel (qdiscs, rules), so [`list`] and [`list_all`] read them back from
//! there and work after the command that made them died.

pub mod churn;
pub mod net;
pub mod node;
pub mod select;
pub mod split;

use crate::context;
use crate::labels::{natural_key, Role};
use crate::runtime::Runtime;

/// What kind of fault a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Frozen (`pause`).
    Paused,
    /// Exited by SIGTERM or on its own with code 0, or never started.
    Stopped,
    /// Exited by SIGKILL (code 137) without an OOM kill.
    Killed,
    /// Killed by the kernel for memory.
    OomKilled,
    /// Exited with another code: a crash.
    Exited,
    /// Links shaped (rate, loss, delay) in the peer's kernel.
    Shaped,
    /// Links to other groups cut by a partition.
    Partitioned,
    /// All of the peer's mesh traffic dropped.
    Isolated,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Paused => "paused",
            FaultKind::Stopped => "stopped",
            FaultKind::Killed => "killed",
            FaultKind::OomKilled => "oom-killed",
            FaultKind::Exited => "exited",
            FaultKind::Shaped => "shaped",
            FaultKind::Partitioned => "partitioned",
            FaultKind::Isolated => "isolated",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One active fault of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// The component it affects: `peer-7`, `tracker`, `origin-db`.
    pub target: String,
    pub role: Option<Role>,
    /// For people: `exited, exit code 137`.
    pub detail: String,
    /// When it began (RFC 3339), when the Engine knows.
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
}

/// Every active fault of `deployment`, read back from the Engine, sorted by
/// target then kind. Fails when the deployment has no container at all.
pub async fn list(rt: &impl Runtime, deployment: &str) -> anyhow::Result<Vec<Fault>> {
    let containers = context::list_containers(rt, deployment).await?;
    if containers.is_empty() {
        anyhow::bail!("no deployment named {deployment:?} (see `meshctl status`)");
    }
    let mut faults = node::faults(rt, &containers).await?;
    faults.sort_by_key(|f| (natural_key(&f.target), f.kind));
    Ok(faults)
}

/// [`list`], and the network faults read from the running peers' kernels
/// ([`net::active`]).
pub async fn list_all<R: Runtime + crate::runtime::Images>(
    rt: &R,
    deployment: &str,
) -> anyhow::Result<Vec<Fault>> {
    let mut faults = list(rt, deployment).await?;
    faults.extend(net::active(rt, deployment).await?.iter().map(Fault::from));
    faults.sort_by_key(|f| (natural_key(&f.target), f.kind));
    Ok(faults)
}

impl From<&net::ActiveFault> for Fault {
    /// A network fault read from a peer's kernel, as a row.
    fn from(a: &net::ActiveFault) -> Fault {
        let kind = match a.kind.as_str() {
            "partition" => FaultKind::Partitioned,
            "isolate" => FaultKind::Isolated,
            _ => FaultKind::Shaped,
        };
        Fault {
            kind,
            target: a.target.clone(),
            role: Some(Role::Peer),
            detail: a.detail.clone(),
            since: None,
            exit_code: None,
            oom_killed: false,
        }
    }
}

#[cfg(test)]
mod tests;
