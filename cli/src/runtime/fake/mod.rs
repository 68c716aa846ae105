//! An in-memory [`Runtime`] and [`Images`] for unit tests: containers,
//! networks, volumes and images with the engine's rules that meshctl relies
//! on (unique names, networks that must exist, "gone is fine" removals,
//! ports published while running), a log of every mutating call, and knobs
//! to set a container's state, its stats, or to hold a start forever (to
//! test an interrupted `up`). Images are in [`images`].

mod images;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::runtime::{
    ByteStream, Container, ContainerDetails, ContainerSpec, ContainerState, EngineEvent,
    EngineInfo, ExecOutput, Filter, HelperSpec, ImageInfo, Labels, NetworkInfo, PublishedPort,
    Result, Runtime, RuntimeError, Usage, VolumeInfo,
};

#[derive(Debug, Clone)]
struct FakeContainer {
    id: String,
    name: String,
    image: String,
    labels: Labels,
    env: BTreeMap<String, String>,
    /// (network, aliases)
    networks: Vec<String>,
    publish: Vec<u16>,
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    state: ContainerState,
    ports: Vec<PublishedPort>,
    oom_killed: bool,
    exit_code: Option<i64>,
    finished_at: Option<String>,
    logs: String,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    next_port: u16,
    containers: BTreeMap<String, FakeContainer>,
    networks: BTreeMap<String, Labels>,
    volumes: BTreeMap<String, Labels>,
    images: BTreeMap<String, ImageInfo>,
    usage: BTreeMap<String, Usage>,
    calls: Vec<String>,
    events: Vec<EngineEvent>,
    /// Container names whose start never returns, and who to tell.
    held: BTreeMap<String, Arc<tokio::sync::Notify>>,
    /// Networks the engine still counts an endpoint on with no container
    /// attached (as the Engine does now and then after quick kills).
    stuck: std::collections::BTreeSet<String>,
    info: EngineInfo,
}

/// See the module doc.
#[derive(Debug, Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRuntime {
    /// An empty engine that enforces memory limits.
    pub fn new() -> FakeRuntime {
        FakeRuntime {
            state: Arc::new(Mutex::new(State {
                next_port: 40000,
                info: EngineInfo {
                    memory_limit: true,
                    swap_limit: true,
                    server_version: "fake".into(),
                },
                ..Default::default()
            })),
        }
    }

    // A std mutex: no lock is held across an await.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every mutating call so far (`create peer-1`, `start peer-1`,
    /// `remove peer-1`, `create network micro-net`, ...), in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Adds an image `reference` with id `id`.
    pub fn add_image(&self, reference: &str, id: &str, labels: Labels) {
        self.lock().images.insert(
            reference.to_string(),
            ImageInfo {
                id: id.to_string(),
                labels,
            },
        );
    }

    /// Sets what the engine says about itself.
    pub fn set_info(&self, info: EngineInfo) {
        self.lock().info = info;
    }

    /// Sets the state of container `name` (as a crash or `docker stop` would).
    pub fn set_state(&self, name: &str, state: ContainerState, oom_killed: bool) {
        let mut s = self.lock();
        if let Some(c) = s.containers.values_mut().find(|c| c.name == name) {
            c.state = state;
            c.oom_killed = oom_killed;
            if state != ContainerState::Running && state != ContainerState::Paused {
                c.ports.clear();
            }
        }
    }

    /// Sets the stats sample of container `name`; without one, `usage` fails.
    pub fn set_usage(&self, name: &str, usage: Usage) {
        self.lock().usage.insert(name.to_string(), usage);
    }

    /// Sets what `logs` answers for container `name`.
    pub fn set_logs(&self, name: &str, text: &str) {
        let mut s = self.lock();
        if let Some(c) = s.containers.values_mut().find(|c| c.name == name) {
            c.logs = text.to_string();
        }
    }

    /// From now on, starting container `name` never returns; the answer is
    /// notified when such a start is reached.
    /// Network `name` keeps a leaked endpoint: removing it fails.
    pub fn leak_endpoint(&self, name: &str) {
        self.lock().stuck.insert(name.to_string());
    }

    pub fn hold_start(&self, name: &str) -> Arc<tokio::sync::Notify> {
        let n = Arc::new(tokio::sync::Notify::new());
        self.lock().held.insert(name.to_string(), n.clone());
        n
    }

    /// Names of all containers, sorted.
    pub fn container_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .containers
            .values()
            .map(|c| c.name.clone())
            .collect();
        v.sort();
        v
    }

    pub fn network_names(&self) -> Vec<String> {
        self.lock().networks.keys().cloned().collect()
    }

    pub fn volume_names(&self) -> Vec<String> {
        self.lock().volumes.keys().cloned().collect()
    }

    /// The image container `name` was created from.
    pub fn image_of(&self, name: &str) -> Option<String> {
        let s = self.lock();
        s.containers
            .values()
            .find(|c| c.name == name)
            .map(|c| c.image.clone())
    }

    /// The environment container `name` was created with.
    pub fn env_of(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let s = self.lock();
        s.containers
            .values()
            .find(|c| c.name == name)
            .map(|c| c.env.clone())
    }
}

impl State {
    fn find(&self, name_or_id: &str) -> Option<String> {
        if self.containers.contains_key(name_or_id) {
            return Some(name_or_id.to_string());
        }
        self.containers
            .values()
            .find(|c| c.name == name_or_id)
            .map(|c| c.id.clone())
    }

    fn get_mut(&mut self, what: &str, name_or_id: &str) -> Result<&mut FakeContainer> {
        let id = self
            .find(name_or_id)
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("{what} {name_or_id}"),
            })?;
        self.containers
            .get_mut(&id)
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("{what} {name_or_id}"),
            })
    }

    fn event(&mut self, kind: &str, action: &str, id: &str, labels: &Labels, name: &str) {
        let mut attributes = labels.clone();
        attributes.insert("name".into(), name.to_string());
        self.events.push(EngineEvent {
            time_nanos: self.events.len() as i64,
            kind: kind.to_string(),
            action: action.to_string(),
            id: id.to_string(),
            attributes,
        });
    }

    fn summary(c: &FakeContainer) -> Container {
        Container {
            id: c.id.clone(),
            name: c.name.clone(),
            labels: c.labels.clone(),
            state: c.state,
            status: match c.state {
                ContainerState::Exited => {
                    format!("Exited ({}) 1 second ago", c.exit_code.unwrap_or(0))
                }
                s => s.to_string(),
            },
            ports: c.ports.clone(),
        }
    }
}

impl Runtime for FakeRuntime {
    async fn info(&self) -> Result<EngineInfo> {
        Ok(self.lock().info.clone())
    }

    async fn list_containers(&self, filter: &Filter) -> Result<Vec<Container>> {
        let s = self.lock();
        Ok(s.containers
            .values()
            .filter(|c| filter.matches(&c.labels))
            .map(State::summary)
            .collect())
    }

    async fn inspect_container(&self, name_or_id: &str) -> Result<Option<ContainerDetails>> {
        let s = self.lock();
        let Some(id) = s.find(name_or_id) else {
            return Ok(None);
        };
        let c = &s.containers[&id];
        Ok(Some(ContainerDetails {
            id: c.id.clone(),
            name: c.name.clone(),
            labels: c.labels.clone(),
            state: c.state,
            env: c.env.clone(),
            oom_killed: c.oom_killed,
            exit_code: c.exit_code,
            finished_at: c.finished_at.clone(),
            restart_count: 0,
            memory_limit: c.memory,
            memory_swap_limit: c.memory,
            nano_cpus: c.nano_cpus,
            image: c.image.clone(),
            ports: c.ports.clone(),
            // 10.<network's index>.<id / 256>.<id % 256> while running.
            addresses: if c.state == ContainerState::Running {
                let n = u64::from_str_radix(&c.id, 16).unwrap_or(0);
                c.networks
                    .iter()
                    .map(|net| {
                        let i = s.networks.keys().position(|k| k == net).unwrap_or(0);
                        (net.clone(), format!("10.{i}.{}.{}", n / 256, n % 256))
                    })
                    .collect()
            } else {
                BTreeMap::new()
            },
            // The fake has no processes: helpers join by container.
            pid: None,
        }))
    }

    async fn create_container(
        &self,
        spec: &ContainerSpec,
        image: &str,
        labels: &Labels,
    ) -> Result<String> {
        let what = format!("create container {}", spec.name);
        let mut s = self.lock();
        if s.find(&spec.name).is_some() {
            return Err(RuntimeError::Conflict {
                what,
                message: format!("the name {:?} is already in use", spec.name),
            });
        }
        if !s.images.contains_key(image) {
            return Err(RuntimeError::NotFound {
                what: format!("{what}: image {image}"),
            });
        }
        for a in &spec.networks {
            if !s.networks.contains_key(&a.network) {
                return Err(RuntimeError::NotFound {
                    what: format!("{what}: network {}", a.network),
                });
            }
        }
        for (v, _) in &spec.volumes {
            s.volumes.entry(v.clone()).or_default();
        }
        s.next_id += 1;
        let id = format!("{:064x}", s.next_id);
        s.containers.insert(
            id.clone(),
            FakeContainer {
                id: id.clone(),
                name: spec.name.clone(),
                image: image.to_string(),
                labels: labels.clone(),
                env: spec.env.clone(),
                networks: spec.networks.iter().map(|a| a.network.clone()).collect(),
                publish: spec.publish.clone(),
                memory: spec.memory,
                nano_cpus: spec.nano_cpus,
                state: ContainerState::Created,
                ports: Vec::new(),
                oom_killed: false,
                exit_code: None,
                finished_at: None,
                logs: String::new(),
            },
        );
        s.calls.push(format!("create {}", spec.name));
        s.event("container", "create", &id, labels, &spec.name);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let held = {
            let mut s = self.lock();
            let c = s.get_mut("start container", id)?;
            let name = c.name.clone();
            let held = s.held.get(&name).cloned();
            if held.is_none() {
                let mut port = s.next_port;
                let c = s.get_mut("start container", id)?;
                c.state = ContainerState::Running;
                c.exit_code = None;
                c.ports = c
                    .publish
                    .iter()
                    .map(|&private| {
                        port += 1;
                        PublishedPort {
                            private,
                            public: port,
                            ip: "127.0.0.1".into(),
                        }
                    })
                    .collect();
                let (cid, labels) = (c.id.clone(), c.labels.clone());
                s.next_port = port;
                s.calls.push(format!("start {name}"));
                s.event("container", "start", &cid, &labels, &name);
            }
            held
        };
        if let Some(n) = held {
            n.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        self.kill_container(id, "SIGTERM")
            .await
            .or_else(|e| match e {
                RuntimeError::NotFound { .. } | RuntimeError::Conflict { .. } => Ok(()),
                e => Err(e),
            })
    }

    async fn kill_container(&self, id: &str, signal: &str) -> Result<()> {
        let mut s = self.lock();
        let c = s.get_mut("kill container", id)?;
        // As Docker: a paused container is killed too (resumed to take it).
        if c.state != ContainerState::Running && c.state != ContainerState::Paused {
            return Err(RuntimeError::Conflict {
                what: format!("kill container {id}"),
                message: format!("container {} is not running", c.name),
            });
        }
        c.state = ContainerState::Exited;
        c.exit_code = Some(if signal == "SIGKILL" { 137 } else { 143 });
        c.finished_at = Some("2000-01-01T00:00:00Z".into());
        c.ports.clear();
        let (cid, name, labels) = (c.id.clone(), c.name.clone(), c.labels.clone());
        s.calls.push(format!("kill {name} {signal}"));
        s.event("container", "die", &cid, &labels, &name);
        Ok(())
    }

    async fn pause_container(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        let c = s.get_mut("pause container", id)?;
        if c.state != ContainerState::Running {
            return Err(RuntimeError::Conflict {
                what: format!("pause container {id}"),
                message: format!("container {} is not running", c.name),
            });
        }
        c.state = ContainerState::Paused;
        let (cid, name, labels) = (c.id.clone(), c.name.clone(), c.labels.clone());
        s.calls.push(format!("pause {name}"));
        s.event("container", "pause", &cid, &labels, &name);
        Ok(())
    }

    async fn unpause_container(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        let c = s.get_mut("unpause container", id)?;
        if c.state != ContainerState::Paused {
            return Err(RuntimeError::Conflict {
                what: format!("unpause container {id}"),
                message: format!("container {} is not paused", c.name),
            });
        }
        c.state = ContainerState::Running;
        let (cid, name, labels) = (c.id.clone(), c.name.clone(), c.labels.clone());
        s.calls.push(format!("unpause {name}"));
        s.event("container", "unpause", &cid, &labels, &name);
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        let Some(cid) = s.find(id) else {
            return Ok(());
        };
        if let Some(c) = s.containers.remove(&cid) {
            s.calls.push(format!("remove {}", c.name));
            s.event("container", "destroy", &cid, &c.labels, &c.name);
        }
        Ok(())
    }

    async fn exec(&self, id: &str, cmd: &[String]) -> Result<ExecOutput> {
        let mut s = self.lock();
        let c = s.get_mut("exec in container", id)?;
        if c.state != ContainerState::Running {
            return Err(RuntimeError::Conflict {
                what: format!("exec in container {id}"),
                message: format!("container {} is not running", c.name),
            });
        }
        let name = c.name.clone();
        s.calls.push(format!("exec {name} {}", cmd.join(" ")));
        Ok(ExecOutput::default())
    }

    /// Records `helper <target> <cmd>` and the helper's create, start, die
    /// and destroy events; answers exit code 0 and no output.
    async fn run_helper(&self, spec: &HelperSpec) -> Result<ExecOutput> {
        let mut s = self.lock();
        let what = format!("run helper {}", spec.name);
        let target = helper_target(&mut s, what, spec)?;
        s.calls
            .push(format!("helper {target} {}", spec.cmd.join(" ")));
        s.next_id += 1;
        let id = format!("{:064x}", s.next_id);
        for action in ["create", "start", "die", "destroy"] {
            s.event("container", action, &id, &spec.labels, &spec.name);
        }
        Ok(ExecOutput::default())
    }

    /// Records `start-helper <target> <cmd>` and adds the helper as a
    /// running container with its labels (create and start events).
    async fn start_helper(&self, spec: &HelperSpec) -> Result<String> {
        let mut s = self.lock();
        let what = format!("start helper {}", spec.name);
        if s.find(&spec.name).is_some() {
            return Err(RuntimeError::Conflict {
                what,
                message: format!("the name {:?} is already in use", spec.name),
            });
        }
        let target = helper_target(&mut s, what, spec)?;
        s.calls
            .push(format!("start-helper {target} {}", spec.cmd.join(" ")));
        s.next_id += 1;
        let id = format!("{:064x}", s.next_id);
        s.containers.insert(
            id.clone(),
            FakeContainer {
                id: id.clone(),
                name: spec.name.clone(),
                image: spec.image.clone(),
                labels: spec.labels.clone(),
                env: BTreeMap::new(),
                networks: Vec::new(),
                publish: Vec::new(),
                memory: spec.memory_limit,
                nano_cpus: None,
                state: ContainerState::Running,
                ports: Vec::new(),
                oom_killed: false,
                exit_code: None,
                finished_at: None,
                logs: String::new(),
            },
        );
        for action in ["create", "start"] {
            s.event("container", action, &id, &spec.labels, &spec.name);
        }
        Ok(id)
    }

    async fn usage(&self, id: &str) -> Result<Usage> {
        let s = self.lock();
        let name = s
            .find(id)
            .map(|i| s.containers[&i].name.clone())
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("stats of {id}"),
            })?;
        s.usage
            .get(&name)
            .cloned()
            .ok_or_else(|| RuntimeError::Unavailable {
                what: format!("stats of {name}"),
                message: "no sample".into(),
            })
    }

    fn logs(&self, id: &str, _follow: bool, _tail: Option<u64>) -> ByteStream<'_> {
        let s = self.lock();
        let item = match s.find(id) {
            Some(i) => Ok(Bytes::from(s.containers[&i].logs.clone())),
            None => Err(RuntimeError::NotFound {
                what: format!("logs of {id}"),
            }),
        };
        futures::stream::iter([item]).boxed()
    }

    fn events(
        &self,
        filter: &Filter,
        _since: Option<i64>,
        _until: Option<i64>,
    ) -> BoxStream<'_, Result<EngineEvent>> {
        let events: Vec<Result<EngineEvent>> = self
            .lock()
            .events
            .iter()
            .filter(|e| filter.matches(&e.attributes))
            .cloned()
            .map(Ok)
            .collect();
        futures::stream::iter(events).boxed()
    }

    async fn list_networks(&self, filter: &Filter) -> Result<Vec<NetworkInfo>> {
        Ok(self
            .lock()
            .networks
            .iter()
            .filter(|(_, l)| filter.matches(l))
            .map(|(name, labels)| NetworkInfo {
                id: format!("net-{name}"),
                name: name.clone(),
                labels: labels.clone(),
                members: Vec::new(),
            })
            .collect())
    }

    async fn inspect_network(&self, name: &str) -> Result<Option<NetworkInfo>> {
        let s = self.lock();
        let Some(labels) = s.networks.get(name) else {
            return Ok(None);
        };
        let mut members: Vec<String> = s
            .containers
            .values()
            .filter(|c| c.networks.iter().any(|n| n == name))
            .map(|c| c.name.clone())
            .collect();
        members.sort_by_key(|m| crate::labels::natural_key(m));
        Ok(Some(NetworkInfo {
            id: format!("net-{name}"),
            name: name.to_string(),
            labels: labels.clone(),
            members,
        }))
    }

    async fn create_network(&self, name: &str, labels: &Labels) -> Result<()> {
        let mut s = self.lock();
        if s.networks.contains_key(name) {
            return Err(RuntimeError::Conflict {
                what: format!("create network {name}"),
                message: "network with name already exists".into(),
            });
        }
        s.networks.insert(name.to_string(), labels.clone());
        s.calls.push(format!("create network {name}"));
        Ok(())
    }

    async fn remove_network(&self, id_or_name: &str) -> Result<()> {
        let name = id_or_name.strip_prefix("net-").unwrap_or(id_or_name);
        let mut s = self.lock();
        if s.stuck.contains(name)
            || s.containers
                .values()
                .any(|c| c.networks.iter().any(|n| n == name))
        {
            return Err(RuntimeError::Conflict {
                what: format!("remove network {name}"),
                message: "network has active endpoints".into(),
            });
        }
        if s.networks.remove(name).is_some() {
            s.calls.push(format!("remove network {name}"));
        }
        Ok(())
    }

    async fn list_volumes(&self, filter: &Filter) -> Result<Vec<VolumeInfo>> {
        Ok(self
            .lock()
            .volumes
            .iter()
            .filter(|(_, l)| filter.matches(l))
            .map(|(name, labels)| VolumeInfo {
                name: name.clone(),
                labels: labels.clone(),
            })
            .collect())
    }

    async fn inspect_volume(&self, name: &str) -> Result<Option<VolumeInfo>> {
        Ok(self.lock().volumes.get(name).map(|labels| VolumeInfo {
            name: name.to_string(),
            labels: labels.clone(),
        }))
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()> {
        let mut s = self.lock();
        // Docker answers an existing volume as created; so does the fake.
        if !s.volumes.contains_key(name) {
            s.volumes.insert(name.to_string(), labels.clone());
            s.calls.push(format!("create volume {name}"));
        }
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let mut s = self.lock();
        if s.volumes.remove(name).is_some() {
            s.calls.push(format!("remove volume {name}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// The name of a helper's target, checked as the engine would: the image
/// exists and the target runs.
fn helper_target(s: &mut State, what: String, spec: &HelperSpec) -> Result<String> {
    if !s.images.contains_key(&spec.image) {
        return Err(RuntimeError::NotFound {
            what: format!("{what}: image {}", spec.image),
        });
    }
    let target = s.get_mut(&what, &spec.target)?;
    if target.state != ContainerState::Running {
        return Err(RuntimeError::Conflict {
            what,
            message: format!("container {} is not running", target.name),
        });
    }
    Ok(target.name.clone())
}
