//! The runtime seam: the one door to the container engine.
//!
//! [`Runtime`] (containers, networks, volumes, events) and [`Images`] speak the project's own types ([`Container`],
//! [`NetworkInfo`], [`ContainerSpec`], ...) and errors ([`RuntimeError`]).
//! [`docker::DockerRuntime`] implements it over the Docker Engine API and is
//! the only code in the workspace that imports bollard; [`fake::FakeRuntime`]
//! implements it in memory so converge, rollback, down and status are unit
//! tested without a daemon. A second engine is a second implementation.
//!
//! Every call is bounded by a timeout inside the implementation; removals
//! treat "already gone" as done, so `down` is idempotent. Callers bound
//! their own fan-out.

pub mod docker;
pub mod fake;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use crate::plan::ContainerSpec;
pub use docker::{connect, DockerRuntime};

/// `key → value` labels of an object.
pub type Labels = BTreeMap<String, String>;

/// What can go wrong at the engine, in terms a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The object does not exist.
    #[error("{what}: not found")]
    NotFound { what: String },
    /// A name is taken, or the object is in a state that forbids the call
    /// (for example: pausing a stopped container).
    #[error("{what}: {message}")]
    Conflict { what: String, message: String },
    /// The engine did not answer in time.
    #[error("{what}: no answer from the container engine within {limit:?}")]
    Timeout { what: String, limit: Duration },
    /// The engine answered with an error.
    #[error("{what}: {message}")]
    Refused { what: String, message: String },
    /// The engine could not be reached, or a stream broke.
    #[error("{what}: {message}")]
    Unavailable { what: String, message: String },
}

impl RuntimeError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound { .. })
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A container's state as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> ContainerState {
        match s.to_ascii_lowercase().as_str() {
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "removing" => ContainerState::Removing,
            "exited" => ContainerState::Exited,
            "dead" => ContainerState::Dead,
            _ => ContainerState::Unknown,
        }
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublishedPort {
    /// The container's port (tcp).
    pub private: u16,
    /// The host port.
    pub public: u16,
    /// The host address it is bound to (`127.0.0.1`).
    pub ip: String,
}

/// A container as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Container {
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    pub labels: Labels,
    pub state: ContainerState,
    /// The engine's one-line status (`Up 3 minutes`, `Exited (137) ...`).
    pub status: String,
    pub ports: Vec<PublishedPort>,
}

impl Container {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn running(&self) -> bool {
        self.state == ContainerState::Running
    }

    /// The host port published for `private`/tcp, preferring 127.0.0.1.
    pub fn published(&self, private: u16) -> Option<u16> {
        published(&self.ports, private)
    }
}

fn published(ports: &[PublishedPort], private: u16) -> Option<u16> {
    let mut candidates = ports.iter().filter(|p| p.private == private);
    let first = candidates.clone().next()?;
    Some(
        candidates
            .find(|p| p.ip == "127.0.0.1")
            .unwrap_or(first)
            .public,
    )
}

/// A container as inspected: what a listing says and more.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerDetails {
    pub id: String,
    pub name: String,
    pub labels: Labels,
    pub state: ContainerState,
    /// `KEY → value` of its environment.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    pub oom_killed: bool,
    pub exit_code: Option<i64>,
    /// When it last stopped (RFC 3339), if it ever did.
    pub finished_at: Option<String>,
    pub restart_count: i64,
    /// The enforced memory limit, bytes.
    pub memory_limit: Option<i64>,
    /// Memory plus swap, bytes (equal to `memory_limit`: no swap).
    pub memory_swap_limit: Option<i64>,
    /// CPU limit in units of 1e-9 CPUs.
    pub nano_cpus: Option<i64>,
    /// The image reference it was created from.
    pub image: String,
    pub ports: Vec<PublishedPort>,
    /// `network name → IPv4 address` of each network it is attached to
    /// (empty when it does not run).
    pub addresses: BTreeMap<String, String>,
    /// Its main process on the host, while it runs.
    pub pid: Option<i64>,
}

impl ContainerDetails {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn running(&self) -> bool {
        self.state == ContainerState::Running
    }

    pub fn published(&self, private: u16) -> Option<u16> {
        published(&self.ports, private)
    }
}

/// A network. `members` (container names, sorted) is filled by
/// [`Runtime::inspect_network`] only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetworkInfo {
    /// The engine's id: unambiguous where two networks share a name.
    pub id: String,
    pub name: String,
    pub labels: Labels,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageInfo {
    pub id: String,
    pub labels: Labels,
}

/// What the engine says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineInfo {
    /// Memory limits are enforced.
    pub memory_limit: bool,
    /// Memory+swap limits are enforced.
    pub swap_limit: bool,
    pub server_version: String,
}

/// One sample of a container's resource use.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Bytes charged to the cgroup, page cache excluded (as `docker stats`).
    pub memory: u64,
    /// The enforced limit, bytes.
    pub memory_limit: u64,
    /// CPU use over the engine's sampling interval, percent of one CPU
    /// (0 for a one-shot sample: see [`Usage::cpu_since`]).
    pub cpu_percent: f64,
    /// The cgroup's CPU time and the host's, nanoseconds, and the CPUs
    /// online: two samples give the CPU use between them.
    #[serde(skip)]
    pub cpu_total_ns: u64,
    #[serde(skip)]
    pub system_ns: u64,
    #[serde(skip)]
    pub cpus: u32,
}

impl Usage {
    /// CPU use between `earlier` and this sample, percent of one CPU; `None`
    /// when the host's clock did not move between them.
    pub fn cpu_since(&self, earlier: &Usage) -> Option<f64> {
        let system = self.system_ns.checked_sub(earlier.system_ns)?;
        if system == 0 {
            return None;
        }
        let used = self.cpu_total_ns.saturating_sub(earlier.cpu_total_ns);
        Some(used as f64 / system as f64 * f64::from(self.cpus.max(1)) * 100.0)
    }
}

/// A command run inside a container and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr, interleaved as they came.
    pub output: String,
}

/// A container that joins another container's network namespace with the
/// `NET_ADMIN` capability (not privileged): a one-shot that runs `cmd` and is
/// removed ([`Runtime::run_helper`]), or a long-lived one that runs until
/// removed ([`Runtime::start_helper`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelperSpec {
    /// The Docker name (unique: the call fails on a conflict).
    pub name: String,
    pub image: String,
    /// The running container (id or name) whose network namespace it joins.
    pub target: String,
    pub cmd: Vec<String>,
    pub labels: Labels,
    /// Capabilities beyond `NET_ADMIN` (`NET_RAW`). A helper with any gets
    /// only `NET_ADMIN` and these: the engine's default set is dropped.
    pub extra_caps: Vec<String>,
    /// Memory limit (and memory+swap: no swap), bytes.
    pub memory_limit: Option<i64>,
    /// Instead of joining `target`'s network: no network of its own, the
    /// host's PID namespace and `SYS_ADMIN` beside `NET_ADMIN`, so that
    /// `nsenter -t <pid> -n` enters the network namespace of any container
    /// by its [`ContainerDetails::pid`]: one helper for many containers.
    pub host_pids: bool,
}

/// One thing that happened to an object, from the engine's event stream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineEvent {
    /// Unix time, nanoseconds.
    pub time_nanos: i64,
    /// `container`, `network`, `volume`, `image`.
    pub kind: String,
    /// `start`, `die`, `kill`, `pause`, `oom`, `connect`, ...
    pub action: String,
    /// The object's id.
    pub id: String,
    /// The object's attributes: labels, `name`, `exitCode`, `signal`, ...
    pub attributes: Labels,
}

/// Which containers to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `key=value` labels every object must carry.
    pub labels: Vec<(String, String)>,
}

impl Filter {
    /// Objects carrying `key=value`.
    pub fn label(key: &str, value: &str) -> Filter {
        Filter {
            labels: vec![(key.to_string(), value.to_string())],
        }
    }

    /// Everything of deployment `name`.
    pub fn deployment(name: &str) -> Filter {
        Filter::label(crate::labels::LABEL_DEPLOYMENT, name)
    }

    pub fn and(mut self, key: &str, value: &str) -> Filter {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|x| x == v))
    }
}

/// Bytes streamed out of the engine (logs, image archives).
pub type ByteStream<'a> = BoxStream<'a, Result<Bytes>>;
/// Bytes streamed into the engine (image archives, root filesystems).
pub type UploadStream = BoxStream<'static, std::io::Result<Bytes>>;
/// A progress callback: one line of the engine's output at a time.
pub type OnLine<'a> = &'a (dyn Fn(&str) + Sync);

/// The container engine, as meshctl uses it.
///
/// Methods return `impl Future + Send` so that generic callers may fan out
/// with `buffer_unordered` and the futures may cross threads.
pub trait Runtime: Send + Sync {
    /// What the engine enforces.
    fn info(&self) -> impl Future<Output = Result<EngineInfo>> + Send;

    // Containers.

    /// Containers matching `filter`, in every state.
    fn list_containers(
        &self,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<Container>>> + Send;
    /// The container `name_or_id`, or `None`.
    fn inspect_container(
        &self,
        name_or_id: &str,
    ) -> impl Future<Output = Result<Option<ContainerDetails>>> + Send;
    /// Creates (does not start) a container from `spec` running `image` with
    /// exactly `labels`, joined to all of `spec.networks`. Returns its id.
    fn create_container(
        &self,
        spec: &ContainerSpec,
        image: &str,
        labels: &Labels,
    ) -> impl Future<Output = Result<String>> + Send;
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// SIGTERM, then SIGKILL after `grace`. Gone or stopped is fine.
    fn stop_container(&self, id: &str, grace: Duration) -> impl Future<Output = Result<()>> + Send;
    /// Sends `signal` (`SIGKILL`, `SIGTERM`, ...) to the container's init.
    fn kill_container(&self, id: &str, signal: &str) -> impl Future<Output = Result<()>> + Send;
    fn pause_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    fn unpause_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Removes by force with its anonymous volumes. Gone is fine.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Runs `cmd` in the running container and waits for it.
    fn exec(&self, id: &str, cmd: &[String]) -> impl Future<Output = Result<ExecOutput>> + Send;
    /// Creates, starts and waits for the one-shot container `spec`, returns
    /// its exit code and output, and removes it, also when a step fails.
    fn run_helper(&self, spec: &HelperSpec) -> impl Future<Output = Result<ExecOutput>> + Send;
    /// Creates and starts the long-lived helper `spec` (restart policy
    /// none) and returns its id; it runs until it exits or is removed.
    fn start_helper(&self, spec: &HelperSpec) -> impl Future<Output = Result<String>> + Send;
    /// One resource sample at once (`docker stats --no-stream`, one-shot:
    /// no wait for a second CPU reading).
    fn usage(&self, id: &str) -> impl Future<Output = Result<Usage>> + Send;
    /// stdout and stderr, to the end, or on and on with `follow`.
    fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> ByteStream<'_>;
    /// Events of objects matching `filter` from `since` (Unix seconds) on,
    /// until `until` (Unix seconds) or forever.
    fn events(
        &self,
        filter: &Filter,
        since: Option<i64>,
        until: Option<i64>,
    ) -> BoxStream<'_, Result<EngineEvent>>;

    // Networks.

    fn list_networks(
        &self,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<NetworkInfo>>> + Send;
    /// The network with its members, or `None`.
    fn inspect_network(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<NetworkInfo>>> + Send;
    /// Creates a bridge network. A network of that name that exists is a
    /// [`RuntimeError::Conflict`] (the Engine itself would make a second).
    fn create_network(
        &self,
        name: &str,
        labels: &Labels,
    ) -> impl Future<Output = Result<()>> + Send;
    /// By id or name. Gone is fine.
    fn remove_network(&self, id_or_name: &str) -> impl Future<Output = Result<()>> + Send;

    // Volumes.

    fn list_volumes(&self, filter: &Filter)
        -> impl Future<Output = Result<Vec<VolumeInfo>>> + Send;
    fn inspect_volume(&self, name: &str)
        -> impl Future<Output = Result<Option<VolumeInfo>>> + Send;
    fn create_volume(&self, name: &str, labels: &Labels)
        -> impl Future<Output = Result<()>> + Send;
    /// Gone is fine.
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Images on the engine: a concern of its own (`images`, `offline`).
pub trait Images: Send + Sync {
    /// The image `reference`, or `None`.
    fn inspect_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<ImageInfo>>> + Send;
    fn remove_image(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Builds `tag` from an in-memory tar context with a `Dockerfile` at its
    /// root, labeled `labels`, reporting output lines to `on_line`.
    fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &Labels,
        on_line: OnLine<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Pulls `reference` from a registry, bounded by `limit`.
    fn pull_image(
        &self,
        reference: &str,
        limit: Duration,
        on_line: OnLine<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Makes `reference` (`repo:tag`) from a root filesystem tar, with
    /// `changes` (Dockerfile instructions) as its config.
    fn import_rootfs(
        &self,
        reference: &str,
        changes: &[String],
        body: UploadStream,
        on_line: OnLine<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// `docker save` of `references`.
    fn export_images(&self, references: &[&str]) -> ByteStream<'_>;
    /// `docker load`; answers the engine's messages (`Loaded image: ...`).
    fn load_images(&self, body: UploadStream) -> impl Future<Output = Result<Vec<String>>> + Send;
}
