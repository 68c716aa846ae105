//! `status`: the control plane, the databases and every peer of a
//! deployment, from the engine's state plus the services' own answers.
//!
//! Three steps: [`EngineView::gather`] reads containers, limits and stats
//! through the [`Runtime`]; [`ServiceView::gather`] asks the tracker,
//! topology, signalling, Redis and the edge databases through their
//! published ports; [`assemble`] (pure) joins them into a [`StatusReport`].
//! Beside them, concurrently, the network faults are read from the peers'
//! kernels ([`crate::faults::net::active`]); when that fails, the report
//! says so in `warnings` and shows the node faults alone.
//!
//! Each node's `faults` are classified as `meshctl faults` does: node
//! faults from the engine ([`crate::faults::node::node_fault`]: paused,
//! stopped, killed, oom-killed, exited), network faults from the kernel
//! (shaped, partitioned, isolated).

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;

use crate::context::{self, Role, LABEL_COMPONENT, LABEL_EDGE, LABEL_ROLE};
use crate::faults::net::ActiveFault;
use crate::faults::select::Target;
use crate::faults::{node::node_fault, Fault, FaultKind};
use crate::offline::{BaseImage, Local};
use crate::probe;
use crate::runtime::{Container, ContainerDetails, Images, Runtime, Usage};
use wire::contract::{hosts, ports};

/// One active fault of a node, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeFault {
    pub kind: FaultKind,
    /// `exited, exit code 137`, `to=peer-4 rate=1mbit`, ...
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    pub name: String,
    /// Empty when the deployment has no such container.
    pub container: String,
    /// The container's state, or `missing`.
    pub state: String,
    pub healthy: bool,
    /// `http://127.0.0.1:<port>` (redis: `redis://127.0.0.1:<port>`).
    pub url: Option<String>,
    pub faults: Vec<NodeFault>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DatabaseStatus {
    pub name: String,
    pub container: String,
    pub state: String,
    /// The published address, without credentials.
    pub address: Option<String>,
    pub subscriptions: Vec<crate::db::SubscriptionStatus>,
    /// Why the database could not be queried, if it could not.
    pub error: Option<String>,
    pub faults: Vec<NodeFault>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub container: String,
    pub state: String,
    pub oom_killed: bool,
    pub restarts: i64,
    /// Bytes used now (page cache excluded), from Docker stats.
    pub memory: Option<u64>,
    /// The enforced limit in bytes.
    pub memory_limit: Option<i64>,
    pub cpu_percent: Option<f64>,
    /// Seconds since the tracker last heard from it; `None` when the tracker
    /// does not list it (not announced, or expired).
    pub heartbeat_age_secs: Option<f64>,
    pub segments: Option<usize>,
    /// Live neighbors in topology's graph.
    pub degree: Option<usize>,
    pub edge: Option<String>,
    pub url: Option<String>,
    /// Node faults, then network faults (one per shaped direction).
    pub faults: Vec<NodeFault>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkStatus {
    pub name: String,
    /// Container names on it, sorted.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    pub deployment: String,
    pub control: Vec<ServiceStatus>,
    /// Peers the tracker lists as live.
    pub live_peers: Option<usize>,
    /// Signalling's rooms and how many peers each has.
    pub rooms: BTreeMap<String, usize>,
    pub databases: Vec<DatabaseStatus>,
    pub peers: Vec<PeerStatus>,
    /// Present with `networks: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<NetworkStatus>>,
    /// What could not be read (the network faults), the rest shown anyway.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub name: String,
    /// Sample the engine's stats (about a second per peer, run in parallel).
    pub stats: bool,
    pub networks: bool,
    pub max_workers: usize,
}

/// Stats samples asked of the Engine at once. The Engine answers every
/// pending one-shot sample at its next collection tick (once a second), so
/// asking for all peers at once costs one tick, not one per batch.
const MAX_SAMPLES_AT_ONCE: usize = 2048;

/// Memory of every running peer from one one-shot stats sample each, all
/// asked at once; CPU from the peer's process in `/proc` read before and
/// after (where the Engine runs on this host), else from a second sample.
async fn sample_usage(
    rt: &impl Runtime,
    peers: &[&Container],
    details: &HashMap<String, ContainerDetails>,
) -> HashMap<String, Usage> {
    let running: Vec<&Container> = peers
        .iter()
        .copied()
        .filter(|c| c.label(LABEL_ROLE) == Some(Role::Peer.as_str()) && c.running())
        .collect();
    let pid_of = |id: &str| details.get(id).and_then(|d| d.pid).filter(|p| *p > 0);
    let ticks = |ids: &[&Container]| -> HashMap<String, u64> {
        ids.iter()
            .filter_map(|c| Some((c.id.clone(), crate::host::cpu_ticks(pid_of(&c.id)?)?)))
            .collect()
    };
    let before = ticks(&running);
    let t0 = std::time::Instant::now();
    let sample = |ids: Vec<String>| {
        futures::stream::iter(ids)
            .map(|id| async move { rt.usage(&id).await.ok().map(|u| (id, u)) })
            .buffer_unordered(MAX_SAMPLES_AT_ONCE)
            .filter_map(|x| async move { x })
            .collect::<HashMap<String, Usage>>()
    };
    let mut usage = sample(running.iter().map(|c| c.id.clone()).collect()).await;
    let after = ticks(&running);
    let secs = t0.elapsed().as_secs_f64();
    let mut by_engine = Vec::new();
    for (id, u) in usage.iter_mut() {
        match (before.get(id), after.get(id)) {
            (Some(a), Some(b)) if secs > 0.0 => {
                u.cpu_percent = b.saturating_sub(*a) as f64 / crate::host::USER_HZ / secs * 100.0;
            }
            _ => by_engine.push(id.clone()),
        }
    }
    if !by_engine.is_empty() {
        // No process to read here (a remote Engine): a second sample.
        for (id, later) in sample(by_engine).await {
            if let Some(first) = usage.get_mut(&id) {
                if let Some(cpu) = later.cpu_since(first) {
                    first.cpu_percent = cpu;
                }
            }
        }
    }
    usage
}

/// What the engine knows of a deployment.
#[derive(Debug, Clone, Default)]
pub struct EngineView {
    pub containers: Vec<Container>,
    /// Inspected peers, and other containers that do not run, by id.
    pub details: HashMap<String, ContainerDetails>,
    /// Stats samples of running peers, by container id (absent: no sample).
    pub usage: HashMap<String, Usage>,
    pub networks: Option<Vec<NetworkStatus>>,
    /// Network faults read from the running peers' kernels.
    pub network_faults: Vec<ActiveFault>,
    /// Why they could not be read, if they could not.
    pub network_error: Option<String>,
}

impl EngineView {
    pub async fn gather(rt: &impl Runtime, opts: &StatusOptions) -> anyhow::Result<EngineView> {
        let containers = context::list_containers(rt, &opts.name).await?;
        // Peers for their limits; anything else that is down for how it
        // ended (its fault).
        let peers: Vec<&Container> = containers
            .iter()
            .filter(|c| c.label(LABEL_ROLE) == Some(Role::Peer.as_str()) || !c.running())
            .collect();
        let details: Vec<anyhow::Result<(String, Option<ContainerDetails>)>> =
            futures::stream::iter(&peers)
                .map(|c| async move { Ok((c.id.clone(), rt.inspect_container(&c.id).await?)) })
                .buffer_unordered(opts.max_workers.max(1))
                .collect()
                .await;
        let mut view = EngineView::default();
        for r in details {
            let (id, d) = r?;
            if let Some(d) = d {
                view.details.insert(id, d);
            }
        }
        if opts.stats {
            view.usage = sample_usage(rt, &peers, &view.details).await;
        }
        if opts.networks {
            let mut nets = Vec::new();
            for n in rt
                .list_networks(&crate::runtime::Filter::deployment(&opts.name))
                .await?
            {
                let members = rt
                    .inspect_network(&n.name)
                    .await?
                    .map(|n| n.members)
                    .unwrap_or_default();
                nets.push(NetworkStatus {
                    name: n.name,
                    members,
                });
            }
            nets.sort_by(|a, b| a.name.cmp(&b.name));
            view.networks = Some(nets);
        }
        view.containers = containers;
        Ok(view)
    }
}

/// What the services and databases answer.
#[derive(Debug, Clone, Default)]
pub struct ServiceView {
    /// Control services that answered their health check.
    pub healthy: Vec<String>,
    /// The tracker's live peers, when it answered.
    pub tracker_peers: Option<HashMap<String, wire::tracker::PeerStatus>>,
    /// Live neighbours per peer in topology's graph.
    pub degrees: HashMap<String, usize>,
    pub rooms: BTreeMap<String, usize>,
    /// Per edge database: its subscriptions, or why it could not be asked.
    pub subscriptions: HashMap<String, Result<Vec<crate::db::SubscriptionStatus>, String>>,
}

impl ServiceView {
    pub async fn gather(engine: &EngineView) -> anyhow::Result<ServiceView> {
        let mut view = ServiceView::default();
        if engine.containers.is_empty() {
            return Ok(view);
        }
        let client = probe::client()?;
        for c in &engine.containers {
            if c.label(LABEL_ROLE) != Some(Role::Control.as_str()) || !c.running() {
                continue;
            }
            let name = c.label(LABEL_COMPONENT).unwrap_or("?");
            let ok = match name {
                hosts::REDIS => match c.published(ports::REDIS) {
                    Some(p) => probe::redis_ping(p).await.is_ok(),
                    None => false,
                },
                other => match control_url(c, other) {
                    Some(u) => probe::healthy(&client, &u).await,
                    None => false,
                },
            };
            if ok {
                view.healthy.push(name.to_string());
            }
        }
        let url = |service: &str| {
            engine
                .containers
                .iter()
                .find(|c| {
                    c.label(LABEL_ROLE) == Some(Role::Control.as_str())
                        && c.label(LABEL_COMPONENT) == Some(service)
                })
                .and_then(|c| control_url(c, service))
        };
        if let Some(t) = url(hosts::TRACKER) {
            if let Ok(p) =
                probe::get_json::<wire::tracker::PeersResponse>(&client, &format!("{t}/peers"))
                    .await
            {
                view.tracker_peers = Some(
                    p.peers
                        .into_iter()
                        .map(|p| (p.peer_id.clone(), p))
                        .collect(),
                );
            }
        }
        if let Some(t) = url(hosts::TOPOLOGY) {
            if let Ok(g) =
                probe::get_json::<wire::topology::GraphSnapshot>(&client, &format!("{t}/graph"))
                    .await
            {
                for [a, b] in &g.edges {
                    *view.degrees.entry(a.clone()).or_default() += 1;
                    *view.degrees.entry(b.clone()).or_default() += 1;
                }
                for n in &g.nodes {
                    view.degrees.entry(n.peer_id.clone()).or_default();
                }
            }
        }
        if let Some(s) = url(hosts::SIGNALLING) {
            let rooms = format!("{s}/rooms");
            if let Ok(r) = probe::get_json::<wire::signalling::RoomsResponse>(&client, &rooms).await
            {
                for (room, r) in r.rooms {
                    view.rooms.insert(room, r.peers.len());
                }
            }
        }
        Ok(view)
    }
}

fn control_url(c: &Container, service: &str) -> Option<String> {
    use crate::plan::ControlService;
    match ControlService::from_name(service)? {
        ControlService::Redis => None,
        s => context::http_url(c, s.port()),
    }
}

/// Joins what the engine and the services said (pure).
pub fn assemble(name: &str, engine: &EngineView, services: &ServiceView) -> StatusReport {
    let faults = node_faults(engine);
    let faults_of = |component: &str| faults.get(component).cloned().unwrap_or_default();
    let mut report = StatusReport {
        deployment: name.to_string(),
        control: Vec::new(),
        live_peers: services.tracker_peers.as_ref().map(HashMap::len),
        rooms: services.rooms.clone(),
        databases: Vec::new(),
        peers: Vec::new(),
        networks: engine.networks.clone(),
        warnings: engine
            .network_error
            .iter()
            .map(|e| format!("network faults unknown: {e}"))
            .collect(),
    };
    let of_role = |role: Role| {
        engine
            .containers
            .iter()
            .filter(move |c| c.label(LABEL_ROLE) == Some(role.as_str()))
    };
    for c in of_role(Role::Control) {
        let name = c.label(LABEL_COMPONENT).unwrap_or("?").to_string();
        let url = if name == hosts::REDIS {
            c.published(ports::REDIS)
                .filter(|_| c.running())
                .map(|p| format!("redis://127.0.0.1:{p}"))
        } else {
            control_url(c, &name)
        };
        report.control.push(ServiceStatus {
            healthy: services.healthy.contains(&name),
            faults: faults_of(&name),
            name,
            container: c.name.clone(),
            state: c.state.to_string(),
            url,
        });
    }
    // A deployment without one of its services says so, rather than
    // leaving the row out.
    if !engine.containers.is_empty() {
        for service in crate::plan::ControlService::all().map(|s| s.name()) {
            if !report.control.iter().any(|s| s.name == service) {
                report.control.push(ServiceStatus {
                    name: service.to_string(),
                    container: String::new(),
                    state: "missing".into(),
                    healthy: false,
                    url: None,
                    faults: Vec::new(),
                });
            }
        }
    }
    report.control.sort_by(|a, b| a.name.cmp(&b.name));

    for c in of_role(Role::Db) {
        let name = c.label(LABEL_COMPONENT).unwrap_or("?").to_string();
        let (subscriptions, error) = match services.subscriptions.get(&name) {
            Some(Ok(s)) => (s.clone(), None),
            Some(Err(e)) => (Vec::new(), Some(e.clone())),
            None => (Vec::new(), None),
        };
        report.databases.push(DatabaseStatus {
            container: c.name.clone(),
            state: c.state.to_string(),
            address: c
                .published(ports::POSTGRES)
                .filter(|_| c.running())
                .map(|p| format!("127.0.0.1:{p}")),
            subscriptions,
            error,
            faults: faults_of(&name),
            name,
        });
    }
    report.databases.sort_by(|a, b| a.name.cmp(&b.name));

    for c in of_role(Role::Peer) {
        let name = c.label(LABEL_COMPONENT).unwrap_or("?").to_string();
        let details = engine.details.get(&c.id);
        let usage = engine.usage.get(&c.id);
        let t = services.tracker_peers.as_ref().and_then(|t| t.get(&name));
        report.peers.push(PeerStatus {
            container: c.name.clone(),
            state: c.state.to_string(),
            oom_killed: details.is_some_and(|d| d.oom_killed),
            restarts: details.map_or(0, |d| d.restart_count),
            memory: usage.map(|u| u.memory),
            memory_limit: details.and_then(|d| d.memory_limit),
            cpu_percent: usage.map(|u| u.cpu_percent),
            heartbeat_age_secs: t.map(|p| p.last_seen_secs),
            segments: t.map(|p| p.segments),
            degree: services.degrees.get(&name).copied(),
            edge: c.label(LABEL_EDGE).map(str::to_string),
            url: context::http_url(c, ports::PEER),
            faults: faults_of(&name),
            name,
        });
    }
    report.peers.sort_by_key(|p| context::natural_key(&p.name));
    report
}

/// Each node's faults by component: the engine's (pure, from the
/// containers and their details), then the kernels', each sorted.
fn node_faults(engine: &EngineView) -> HashMap<String, Vec<NodeFault>> {
    let mut out: HashMap<String, Vec<NodeFault>> = HashMap::new();
    let rows = engine
        .containers
        .iter()
        .filter_map(|c| node_fault(&Target::of(c)?, engine.details.get(&c.id)?))
        .chain(engine.network_faults.iter().map(Fault::from));
    for f in rows {
        out.entry(f.target).or_default().push(NodeFault {
            kind: f.kind,
            detail: f.detail,
        });
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| (a.kind, &a.detail).cmp(&(b.kind, &b.detail)));
    }
    out
}

/// `meshctl status`. The network faults are read alongside the rest;
/// failing to read them is a warning in the report, never an error.
pub async fn status<R: Runtime + Images>(
    rt: &R,
    opts: &StatusOptions,
) -> anyhow::Result<StatusReport> {
    let reads = async {
        let engine = EngineView::gather(rt, opts).await?;
        let mut services = ServiceView::gather(&engine).await?;
        services.subscriptions = edge_subscriptions(rt, &engine, &opts.name).await?;
        Ok::<_, anyhow::Error>((engine, services))
    };
    let (reads, network) = tokio::join!(reads, network_faults(rt, &opts.name));
    let (mut engine, services) = reads?;
    match network {
        Ok(faults) => engine.network_faults = faults,
        // Without a running peer there is no kernel to read, and nothing
        // to warn about.
        Err(e) if engine.containers.iter().any(is_running_peer) => {
            engine.network_error = Some(e);
        }
        Err(_) => {}
    }
    Ok(assemble(&opts.name, &engine, &services))
}

fn is_running_peer(c: &Container) -> bool {
    c.running() && c.label(LABEL_ROLE) == Some(Role::Peer.as_str())
}

/// The network faults of the deployment's running peers. Every one was made
/// by a helper from the tools image, so without that image on the daemon
/// there is none; `status` never pulls or builds it to find out.
async fn network_faults<R: Runtime + Images>(
    rt: &R,
    name: &str,
) -> Result<Vec<ActiveFault>, String> {
    match crate::offline::local(rt, BaseImage::Tools).await {
        Ok(Local::Current(_)) => crate::faults::net::active(rt, name)
            .await
            .map_err(|e| format!("{e:#}")),
        Ok(Local::Absent) => Ok(Vec::new()),
        Ok(Local::Stale) => Err(format!(
            "the helper image {} is from an older meshctl (any `meshctl netem show` rebuilds it)",
            BaseImage::Tools.offline()
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Each running edge database's subscriptions, asked with the deployment's
/// credentials.
async fn edge_subscriptions(
    rt: &impl Runtime,
    engine: &EngineView,
    name: &str,
) -> anyhow::Result<HashMap<String, Result<Vec<crate::db::SubscriptionStatus>, String>>> {
    let mut out = HashMap::new();
    let edges: Vec<&Container> = engine
        .containers
        .iter()
        .filter(|c| {
            c.label(LABEL_ROLE) == Some(Role::Db.as_str())
                && c.label(LABEL_COMPONENT) != Some(crate::plan::ORIGIN_DB)
                && c.running()
        })
        .collect();
    if edges.is_empty() {
        return Ok(out);
    }
    let d = context::discover(rt, name).await?;
    for c in edges {
        let (Some(component), Some(port)) =
            (c.label(LABEL_COMPONENT), c.published(ports::POSTGRES))
        else {
            continue;
        };
        let url =
            context::postgres_url(&d.postgres_user, &d.postgres_password, port, &d.postgres_db);
        let subs = async {
            let client = crate::db::connect(&url, std::time::Duration::from_secs(5)).await?;
            crate::db::subscriptions(&client).await
        };
        out.insert(
            component.to_string(),
            subs.await.map_err(|e| format!("{e:#}")),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
