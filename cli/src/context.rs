//! Finding a running deployment from the engine's state alone.
//!
//! Every object `meshctl up` creates carries labels ([`LABEL_DEPLOYMENT`],
//! [`LABEL_ROLE`], [`LABEL_COMPONENT`], ...); the generated database password
//! and `MESH_TOKEN` live in the containers' env. So `status`, `graph`, `down`
//! and the song commands need nothing but the deployment name: [`discover`]
//! reads the labels, env and published ports back through the [`Runtime`].
//!
//! The host reaches containers only through ports published on 127.0.0.1
//! (ephemeral, read back here), never by container addresses.

use anyhow::bail;
use serde::Serializer;

use crate::runtime::{Container, Filter, Runtime};
use wire::contract::env;

pub use crate::conninfo::{postgres_url, userinfo};
pub use crate::labels::*;

/// Container ports, from the wire contract.
pub const PEER_PORT: u16 = wire::contract::ports::PEER;
pub const POSTGRES_PORT: u16 = wire::contract::ports::POSTGRES;
pub const REDIS_PORT: u16 = wire::contract::ports::REDIS;
pub const TOPOLOGY_PORT: u16 = wire::contract::ports::TOPOLOGY;
pub const TRACKER_PORT: u16 = wire::contract::ports::TRACKER;
pub const SIGNALLING_PORT: u16 = wire::contract::ports::SIGNALLING;

/// A deployment as the host reaches it. Serialized (`--format json`)
/// without its secrets: the token and password are left out and the
/// database URLs carry `***` in the password's place.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    pub name: String,
    /// `MESH_TOKEN` of the control plane (the deployment secret), when set.
    /// Each peer holds only its own token: [`Deployment::peer_token`].
    #[serde(skip)]
    pub token: Option<String>,
    pub postgres_db: String,
    pub postgres_user: String,
    #[serde(skip)]
    pub postgres_password: String,
    /// `postgres://user:pw@127.0.0.1:<published>/db`, when origin-db runs.
    #[serde(serialize_with = "redacted_url")]
    pub origin_url: Option<String>,
    /// `(edge-db-a, url)` for each running edge database, sorted.
    #[serde(serialize_with = "redacted_urls")]
    pub edge_urls: Vec<(String, String)>,
    /// `http://127.0.0.1:<published>`, when the service runs.
    pub tracker_url: Option<String>,
    pub topology_url: Option<String>,
    pub signalling_url: Option<String>,
    /// Every peer container, running or not, in numeric order.
    pub peers: Vec<PeerEndpoint>,
}

impl Deployment {
    /// The token peer `peer` checks on ingest, derived from the secret.
    pub fn peer_token(&self, peer: &str) -> Option<String> {
        self.token
            .as_deref()
            .map(|secret| wire::auth::peer_token(secret, peer))
    }
}

/// `scheme://user:secret@host/...` with `***` for the secret.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

fn redacted_url<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_some(&url.as_deref().map(redact))
}

fn redacted_urls<S: Serializer>(urls: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(|(n, u)| (n, redact(u))))
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

/// The containers of deployment `name` (all states).
pub async fn list_containers(rt: &impl Runtime, name: &str) -> anyhow::Result<Vec<Container>> {
    Ok(rt.list_containers(&Filter::deployment(name)).await?)
}

/// The container of deployment `name` whose component (`peer-3`,
/// `tracker`) or container name is `target`.
pub async fn find_container(
    rt: &impl Runtime,
    name: &str,
    target: &str,
) -> anyhow::Result<Container> {
    let found = list_containers(rt, name)
        .await?
        .into_iter()
        .find(|c| c.label(LABEL_COMPONENT) == Some(target) || c.name == target);
    match found {
        Some(c) => Ok(c),
        None => bail!("deployment {name:?} has no container {target:?} (see `meshctl status`)"),
    }
}

/// `http://127.0.0.1:<port>` of `private` on a running container.
pub fn http_url(c: &Container, private: u16) -> Option<String> {
    c.published(private)
        .filter(|_| c.running())
        .map(|p| format!("http://127.0.0.1:{p}"))
}

/// Reads deployment `name` back from the engine: labels, env, published
/// ports. Fails when the deployment has no container at all.
pub async fn discover(rt: &impl Runtime, name: &str) -> anyhow::Result<Deployment> {
    let containers = list_containers(rt, name).await?;
    if containers.is_empty() {
        bail!("no deployment named {name:?} (start one with `meshctl up --name {name}`)");
    }
    let mut d = Deployment {
        name: name.to_string(),
        ..Default::default()
    };
    let mut token_source: Option<&Container> = None;
    let mut db_env_source: Option<(bool, &Container)> = None;
    for c in &containers {
        let Some(component) = c.label(LABEL_COMPONENT) else {
            continue;
        };
        match c.label(LABEL_ROLE).and_then(Role::parse) {
            Some(Role::Peer) => {
                d.peers.push(PeerEndpoint {
                    name: component.to_string(),
                    url: http_url(c, PEER_PORT).unwrap_or_default(),
                    edge: c.label(LABEL_EDGE).map(str::to_string),
                    running: c.running(),
                });
            }
            Some(Role::Db) => {
                // origin-db's env is authoritative; an edge's will do when
                // origin is gone.
                let is_origin = component == crate::plan::ORIGIN_DB;
                if db_env_source.as_ref().is_none_or(|(o, _)| !o && is_origin) {
                    db_env_source = Some((is_origin, c));
                }
            }
            Some(Role::Control) => match component {
                wire::contract::hosts::TRACKER => {
                    d.tracker_url = http_url(c, TRACKER_PORT);
                    token_source = Some(c);
                }
                wire::contract::hosts::TOPOLOGY => d.topology_url = http_url(c, TOPOLOGY_PORT),
                wire::contract::hosts::SIGNALLING => {
                    d.signalling_url = http_url(c, SIGNALLING_PORT)
                }
                _ => {}
            },
            _ => {}
        }
    }
    if let Some(c) = token_source {
        if let Some(mut details) = rt.inspect_container(&c.id).await? {
            d.token = details
                .env
                .remove(env::MESH_TOKEN)
                .filter(|t| !t.is_empty());
        }
    }
    if let Some((_, c)) = db_env_source {
        if let Some(mut details) = rt.inspect_container(&c.id).await? {
            let mut take = |k: &str| details.env.remove(k).unwrap_or_default();
            d.postgres_db = take(env::POSTGRES_DB);
            d.postgres_user = take(env::POSTGRES_USER);
            d.postgres_password = take(env::POSTGRES_PASSWORD);
        }
        if d.postgres_db.is_empty() {
            d.postgres_db = d.postgres_user.clone();
        }
    }
    for c in &containers {
        if c.label(LABEL_ROLE) != Some(Role::Db.as_str()) || !c.running() {
            continue;
        }
        let (Some(component), Some(port)) = (c.label(LABEL_COMPONENT), c.published(POSTGRES_PORT))
        else {
            continue;
        };
        let url = postgres_url(&d.postgres_user, &d.postgres_password, port, &d.postgres_db);
        if component == crate::plan::ORIGIN_DB {
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
    fn urls_are_serialized_without_the_password() {
        assert_eq!(
            redact("postgres://mesh:s3cr%40t@127.0.0.1:5555/songs"),
            "postgres://mesh:***@127.0.0.1:5555/songs"
        );
        assert_eq!(redact("http://127.0.0.1:80"), "http://127.0.0.1:80");
        let d = Deployment {
            token: Some("tok3n".into()),
            postgres_password: "s3cret".into(),
            origin_url: Some(postgres_url("mesh", "s3cret", 1, "songs")),
            edge_urls: vec![(
                "edge-db-a".into(),
                postgres_url("mesh", "s3cret", 2, "songs"),
            )],
            ..Default::default()
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(
            !json.contains("s3cret") && !json.contains("tok3n"),
            "{json}"
        );
        assert!(json.contains("mesh:***@127.0.0.1:2"), "{json}");
    }
}
