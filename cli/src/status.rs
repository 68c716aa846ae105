//! `status`: the control plane, the databases and every peer of a
//! deployment, from Docker's state plus the services' own answers.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use futures::StreamExt;

use crate::context::{self, label, Role, LABEL_COMPONENT, LABEL_EDGE, LABEL_ROLE};
use crate::docker;
use crate::probe;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub container: String,
    pub state: String,
    pub healthy: bool,
    /// `http://127.0.0.1:<port>` (redis: `redis://127.0.0.1:<port>`).
    pub url: Option<String>,
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
}

#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub name: String,
    /// Sample Docker stats (about a second per peer, run in parallel).
    pub stats: bool,
    pub networks: bool,
    pub max_workers: usize,
}

fn state_of(c: &bollard::models::ContainerSummary) -> String {
    c.state.as_ref().map_or("unknown".into(), |s| s.to_string())
}

fn container_name(c: &bollard::models::ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map_or(String::new(), |n| n.trim_start_matches('/').to_string())
}

pub async fn status(docker: &Docker, opts: &StatusOptions) -> anyhow::Result<StatusReport> {
    let containers = context::list_containers(docker, &opts.name).await?;
    let client = probe::client()?;
    let mut report = StatusReport {
        deployment: opts.name.clone(),
        control: Vec::new(),
        live_peers: None,
        rooms: BTreeMap::new(),
        databases: Vec::new(),
        peers: Vec::new(),
        networks: None,
    };
    let deployment = if containers.is_empty() {
        context::Deployment::default()
    } else {
        context::discover(docker, &opts.name).await?
    };

    let mut tracker_peers: HashMap<String, wire::tracker::PeerStatus> = HashMap::new();
    let mut degrees: HashMap<String, usize> = HashMap::new();
    for c in &containers {
        if label(c, LABEL_ROLE) != Some(Role::Control.as_str()) {
            continue;
        }
        let name = label(c, LABEL_COMPONENT).unwrap_or("?").to_string();
        let running = context::is_running(c);
        let (url, healthy) = match name.as_str() {
            "redis" => {
                let port = context::published_port(c, context::REDIS_PORT).filter(|_| running);
                let ok = match port {
                    Some(p) => probe::redis_ping(p).await.is_ok(),
                    None => false,
                };
                (port.map(|p| format!("redis://127.0.0.1:{p}")), ok)
            }
            other => {
                let port = match other {
                    "topology" => context::TOPOLOGY_PORT,
                    "tracker" => context::TRACKER_PORT,
                    _ => context::SIGNALLING_PORT,
                };
                let url = context::published_port(c, port)
                    .filter(|_| running)
                    .map(|p| format!("http://127.0.0.1:{p}"));
                let ok = match &url {
                    Some(u) => probe::healthy(&client, u).await,
                    None => false,
                };
                (url, ok)
            }
        };
        report.control.push(ServiceStatus {
            name,
            container: container_name(c),
            state: state_of(c),
            healthy,
            url,
        });
    }
    report.control.sort_by(|a, b| a.name.cmp(&b.name));

    if let Some(t) = &deployment.tracker_url {
        if let Ok(p) =
            probe::get_json::<wire::tracker::PeersResponse>(&client, &format!("{t}/peers")).await
        {
            report.live_peers = Some(p.peers.len());
            tracker_peers = p
                .peers
                .into_iter()
                .map(|p| (p.peer_id.clone(), p))
                .collect();
        }
    }
    if let Some(t) = &deployment.topology_url {
        if let Ok(g) =
            probe::get_json::<wire::topology::GraphSnapshot>(&client, &format!("{t}/graph")).await
        {
            for [a, b] in &g.edges {
                *degrees.entry(a.clone()).or_default() += 1;
                *degrees.entry(b.clone()).or_default() += 1;
            }
            for n in &g.nodes {
                degrees.entry(n.peer_id.clone()).or_default();
            }
        }
    }
    if let Some(s) = &deployment.signalling_url {
        if let Ok(v) = probe::get_json::<serde_json::Value>(&client, &format!("{s}/rooms")).await {
            if let Some(rooms) = v.get("rooms").and_then(|r| r.as_object()) {
                for (room, r) in rooms {
                    let n = r
                        .get("peers")
                        .and_then(|p| p.as_array())
                        .map_or(0, |p| p.len());
                    report.rooms.insert(room.clone(), n);
                }
            }
        }
    }

    for c in &containers {
        if label(c, LABEL_ROLE) != Some(Role::Db.as_str()) {
            continue;
        }
        let name = label(c, LABEL_COMPONENT).unwrap_or("?").to_string();
        let port =
            context::published_port(c, context::POSTGRES_PORT).filter(|_| context::is_running(c));
        let mut db = DatabaseStatus {
            name: name.clone(),
            container: container_name(c),
            state: state_of(c),
            address: port.map(|p| format!("127.0.0.1:{p}")),
            subscriptions: Vec::new(),
            error: None,
        };
        if let Some(p) = port {
            if name != crate::plan::ORIGIN_DB {
                let url = context::postgres_url(
                    &deployment.postgres_user,
                    &deployment.postgres_password,
                    p,
                    &deployment.postgres_db,
                );
                let subs = async {
                    let client =
                        crate::db::connect(&url, std::time::Duration::from_secs(5)).await?;
                    crate::db::subscriptions(&client).await
                };
                match subs.await {
                    Ok(s) => db.subscriptions = s,
                    Err(e) => db.error = Some(format!("{e:#}")),
                }
            }
        }
        report.databases.push(db);
    }
    report.databases.sort_by(|a, b| a.name.cmp(&b.name));

    let peers: Vec<&bollard::models::ContainerSummary> = containers
        .iter()
        .filter(|c| label(c, LABEL_ROLE) == Some(Role::Peer.as_str()))
        .collect();
    let rows: Vec<anyhow::Result<PeerStatus>> = futures::stream::iter(peers)
        .map(|c| {
            let tracker_peers = &tracker_peers;
            let degrees = &degrees;
            async move {
                let id = c.id.clone().unwrap_or_default();
                let name = label(c, LABEL_COMPONENT).unwrap_or("?").to_string();
                let running = context::is_running(c);
                let inspect = docker::inspect_container(docker, &id).await?;
                let (oom_killed, restarts, memory_limit) = inspect.map_or((false, 0, None), |i| {
                    (
                        i.state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false),
                        i.restart_count.unwrap_or(0),
                        i.host_config.as_ref().and_then(|h| h.memory),
                    )
                });
                let usage = if opts.stats && running {
                    docker::usage(docker, &id).await.ok()
                } else {
                    None
                };
                let t = tracker_peers.get(&name);
                Ok(PeerStatus {
                    container: container_name(c),
                    state: state_of(c),
                    oom_killed,
                    restarts,
                    memory: usage.as_ref().map(|u| u.memory),
                    memory_limit,
                    cpu_percent: usage.as_ref().map(|u| u.cpu_percent),
                    heartbeat_age_secs: t.map(|p| p.last_seen_secs),
                    segments: t.map(|p| p.segments),
                    degree: degrees.get(&name).copied(),
                    edge: label(c, LABEL_EDGE).map(str::to_string),
                    url: context::published_port(c, context::PEER_PORT)
                        .filter(|_| running)
                        .map(|p| format!("http://127.0.0.1:{p}")),
                    name,
                })
            }
        })
        .buffer_unordered(opts.max_workers.max(1))
        .collect()
        .await;
    report.peers = rows.into_iter().collect::<anyhow::Result<_>>()?;
    report.peers.sort_by_key(|p| context::natural_key(&p.name));

    if opts.networks {
        let sel = [format!("{}={}", context::LABEL_DEPLOYMENT, opts.name)];
        let mut nets = Vec::new();
        for n in docker::list_networks(docker, &sel).await? {
            let Some(name) = n.name else { continue };
            let mut members: Vec<String> = docker::inspect_network(docker, &name)
                .await?
                .and_then(|n| n.containers)
                .unwrap_or_default()
                .into_values()
                .filter_map(|e| e.name)
                .collect();
            members.sort_by_key(|m| context::natural_key(m));
            nets.push(NetworkStatus { name, members });
        }
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        report.networks = Some(nets);
    }
    Ok(report)
}
