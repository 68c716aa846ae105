//! Finding a running deployment from Docker's state alone.
//!
//! Every object `meshctl up` creates carries labels ([`LABEL_DEPLOYMENT`],
//! [`LABEL_ROLE`], [`LABEL_COMPONENT`], ...); the generated database password
//! and `MESH_TOKEN` live in the containers' env. So `status`, `graph`, `down`
//! and the song commands need nothing but the deployment name: [`discover`]
//! reads the labels, env and published ports back from the Engine.
//!
//! The host reaches containers only through ports published on 127.0.0.1
//! (ephemeral, read back here), never by container addresses.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use bollard::models::ContainerSummary;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bollard::Docker;

pub use crate::labels::*;

/// Container ports, from the wire contract.
pub const PEER_PORT: u16 = wire::contract::ports::PEER;
pub const POSTGRES_PORT: u16 = wire::contract::ports::POSTGRES;
pub const REDIS_PORT: u16 = wire::contract::ports::REDIS;
pub const TOPOLOGY_PORT: u16 = wire::contract::ports::TOPOLOGY;
pub const TRACKER_PORT: u16 = wire::contract::ports::TRACKER;
pub const SIGNALLING_PORT: u16 = wire::contract::ports::SIGNALLING;

/// Time for one Engine API call made here.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A deployment as the host reaches it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    pub name: String,
    /// `MESH_TOKEN` of the control plane and peers, when set.
    pub token: Option<String>,
    pub postgres_db: String,
    pub postgres_user: String,
    pub postgres_password: String,
    /// `postgres://user:pw@127.0.0.1:<published>/db`, when origin-db runs.
    pub origin_url: Option<String>,
    /// `(edge-db-a, url)` for each running edge database, sorted.
    pub edge_urls: Vec<(String, String)>,
    /// `http://127.0.0.1:<published>`, when the service runs.
    pub tracker_url: Option<String>,
    pub topology_url: Option<String>,
    pub signalling_url: Option<String>,
    /// Every peer container, running or not, in numeric order.
    pub peers: Vec<PeerEndpoint>,
}

/// A peer container as the host reaches it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerEndpoint {
    /// The peer id (`peer-3`), also its hostname on the mesh network.
    pub name: String,
    /// `http://127.0.0.1:<published 8080>`; empty when the container does not
    /// run (a stopped container publishes no port).
    pub url: String,
    /// The edge database it reads (`edge-db-a`), for edge peers.
    pub edge: Option<String>,
    pub running: bool,
}

/// Connects to the local Docker daemon and agrees on an API version
/// (the Engine here speaks 1.41).
pub async fn connect_docker() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults().context("connect to the Docker daemon")?;
    tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version())
        .await
        .context("negotiate the Docker API version: timed out (is dockerd running?)")?
        .context("negotiate the Docker API version (is dockerd running?)")
}

/// The containers of deployment `name` (all states).
pub async fn list_containers(docker: &Docker, name: &str) -> anyhow::Result<Vec<ContainerSummary>> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_DEPLOYMENT}={name}")],
    )]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    tokio::time::timeout(CALL_TIMEOUT, docker.list_containers(Some(opts)))
        .await
        .context("list containers: timed out")?
        .context("list containers")
}

/// The label `key` of a container, if any.
pub fn label<'a>(c: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    c.labels.as_ref()?.get(key).map(String::as_str)
}

/// The host port published on 127.0.0.1 (or any address) for `private`/tcp.
pub fn published_port(c: &ContainerSummary, private: u16) -> Option<u16> {
    let ports = c.ports.as_ref()?;
    let mut candidates = ports.iter().filter(|p| {
        p.private_port == private
            && p.public_port.is_some()
            && p.typ
                .as_ref()
                .is_none_or(|t| t.to_string().eq_ignore_ascii_case("tcp"))
    });
    let first = candidates.clone().next()?;
    let best = candidates
        .find(|p| p.ip.as_deref() == Some("127.0.0.1"))
        .unwrap_or(first);
    best.public_port
}

pub fn is_running(c: &ContainerSummary) -> bool {
    c.state
        .as_ref()
        .is_some_and(|s| s.to_string().eq_ignore_ascii_case("running"))
}

/// Percent-encodes a URL userinfo part (user or password).
pub fn userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `postgres://user:pw@127.0.0.1:port/db`
pub fn postgres_url(user: &str, password: &str, port: u16, db: &str) -> String {
    format!(
        "postgres://{}:{}@127.0.0.1:{port}/{}",
        userinfo(user),
        userinfo(password),
        userinfo(db)
    )
}

async fn container_env(docker: &Docker, id: &str) -> anyhow::Result<HashMap<String, String>> {
    let inspect = tokio::time::timeout(
        CALL_TIMEOUT,
        docker.inspect_container(id, None::<InspectContainerOptions>),
    )
    .await
    .context("inspect container: timed out")?
    .with_context(|| format!("inspect container {id}"))?;
    Ok(inspect
        .config
        .and_then(|c| c.env)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}

/// Reads deployment `name` back from Docker: labels, env, published ports.
/// Fails when the deployment has no container at all.
pub async fn discover(docker: &Docker, name: &str) -> anyhow::Result<Deployment> {
    let containers = list_containers(docker, name).await?;
    if containers.is_empty() {
        bail!("no deployment named {name:?} (start one with `meshctl up --name {name}`)");
    }
    let mut d = Deployment {
        name: name.to_string(),
        ..Default::default()
    };
    let mut token_source: Option<String> = None;
    let mut db_env_source: Option<(bool, String)> = None;
    for c in &containers {
        let Some(component) = label(c, LABEL_COMPONENT) else {
            continue;
        };
        let id = c.id.clone().unwrap_or_default();
        let running = is_running(c);
        match label(c, LABEL_ROLE).and_then(Role::parse) {
            Some(Role::Peer) => {
                let url = match (running, published_port(c, PEER_PORT)) {
                    (true, Some(p)) => format!("http://127.0.0.1:{p}"),
                    _ => String::new(),
                };
                d.peers.push(PeerEndpoint {
                    name: component.to_string(),
                    url,
                    edge: label(c, LABEL_EDGE).map(str::to_string),
                    running,
                });
                if token_source.is_none() {
                    token_source = Some(id);
                }
            }
            Some(Role::Db) => {
                // origin-db's env is authoritative; an edge's will do when
                // origin is gone.
                let is_origin = component == "origin-db";
                if db_env_source.as_ref().is_none_or(|(o, _)| !o && is_origin) {
                    db_env_source = Some((is_origin, id.clone()));
                }
            }
            Some(Role::Control) => {
                let url = |port| {
                    published_port(c, port)
                        .filter(|_| running)
                        .map(|p| format!("http://127.0.0.1:{p}"))
                };
                match component {
                    "tracker" => {
                        d.tracker_url = url(TRACKER_PORT);
                        token_source = Some(id);
                    }
                    "topology" => d.topology_url = url(TOPOLOGY_PORT),
                    "signalling" => d.signalling_url = url(SIGNALLING_PORT),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if let Some(id) = token_source {
        d.token = container_env(docker, &id)
            .await?
            .remove("MESH_TOKEN")
            .filter(|t| !t.is_empty());
    }
    if let Some((_, id)) = db_env_source {
        let mut env = container_env(docker, &id).await?;
        d.postgres_db = env.remove("POSTGRES_DB").unwrap_or_default();
        d.postgres_user = env.remove("POSTGRES_USER").unwrap_or_default();
        d.postgres_password = env.remove("POSTGRES_PASSWORD").unwrap_or_default();
        if d.postgres_db.is_empty() {
            d.postgres_db = d.postgres_user.clone();
        }
    }
    for c in &containers {
        if label(c, LABEL_ROLE) != Some(Role::Db.as_str()) || !is_running(c) {
            continue;
        }
        let (Some(component), Some(port)) =
            (label(c, LABEL_COMPONENT), published_port(c, POSTGRES_PORT))
        else {
            continue;
        };
        let url = postgres_url(&d.postgres_user, &d.postgres_password, port, &d.postgres_db);
        if component == "origin-db" {
            d.origin_url = Some(url);
        } else {
            d.edge_urls.push((component.to_string(), url));
        }
    }
    d.edge_urls.sort();
    d.peers.sort_by_key(|p| natural_key(&p.name));
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_escapes_userinfo() {
        assert_eq!(
            postgres_url("mesh", "a b@c", 5555, "songs"),
            "postgres://mesh:a%20b%40c@127.0.0.1:5555/songs"
        );
    }
}
