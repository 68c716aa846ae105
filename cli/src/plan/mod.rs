//! The pure planning step: resolved [`Settings`] become the networks,
//! volumes and containers a deployment wants, with every env value, label,
//! limit and neighbor list written out. Nothing here talks to Docker, so the
//! whole plan is unit tested without a daemon; `deploy` applies it.
//!
//! - [`settings`]: what `up` is asked for: the mesh file's schema, defaults
//! - [`naming`]: object names, and the checks a config passes first
//! - [`mesh`](mod@mesh): the generated, reproducible partial mesh
//! - `containers`: the builders of each kind of container
//!
//! Ports, host names and env names come from [`wire::contract`], labels and
//! roles from [`crate::labels`].

use std::collections::BTreeMap;

use serde::Serialize;
use wire::contract::{hosts, ports};

use crate::labels::{natural_key, Role};
use containers::{control, databases, labels, peer, Networks};

mod containers;
pub mod impair;
pub mod mesh;
pub mod naming;
pub mod settings;

pub use impair::{Impairment, Link};
pub use mesh::mesh;
pub use naming::{
    check_deployment_name, control_name, object_name, origin_conninfo, subscription_name,
    DEFAULT_DEPLOYMENT, EDGE_DB_A, EDGE_DB_B, ORIGIN_DB,
};
pub use settings::{parse_list, parse_memory, PeerOverride, Settings};

/// The plan's input: [`Settings`], under the name `deploy` knows it by.
pub type Config = Settings;

/// Label carrying a hash of a container's spec: a changed spec is recreated,
/// an unchanged one left alone.
pub const LABEL_SPEC: &str = "meshctl.spec";

/// The control plane's services. [`ControlService::all`] is the start
/// order: redis first, which the tracker needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlService {
    Redis,
    Topology,
    Tracker,
    Signalling,
}

impl ControlService {
    /// Every service, redis first.
    pub fn all() -> [ControlService; 4] {
        [
            ControlService::Redis,
            ControlService::Topology,
            ControlService::Tracker,
            ControlService::Signalling,
        ]
    }

    /// The component name, also its host name inside the deployment.
    pub fn name(self) -> &'static str {
        match self {
            ControlService::Redis => hosts::REDIS,
            ControlService::Topology => hosts::TOPOLOGY,
            ControlService::Tracker => hosts::TRACKER,
            ControlService::Signalling => hosts::SIGNALLING,
        }
    }

    /// The port it listens on inside the container.
    pub fn port(self) -> u16 {
        match self {
            ControlService::Redis => ports::REDIS,
            ControlService::Topology => ports::TOPOLOGY,
            ControlService::Tracker => ports::TRACKER,
            ControlService::Signalling => ports::SIGNALLING,
        }
    }

    /// The service whose component name is `name`.
    pub fn from_name(name: &str) -> Option<ControlService> {
        Self::all().into_iter().find(|s| s.name() == name)
    }
}

/// How a container's image is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ImageRef {
    /// The peer image we build from `mesh-agent`.
    Peer(String),
    /// The control-plane image we build from the service binaries.
    Control(String),
    /// A registry image that may be built offline.
    Postgres,
    Redis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    /// The Docker name (`micro-net`, or `<deployment>-micro-net`).
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One container joined to one network under some aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerSpec {
    /// The Docker name.
    pub name: String,
    /// The logical name (`peer-3`, `origin-db`, `tracker`).
    pub component: String,
    pub role: Role,
    pub image: ImageRef,
    /// Command (empty: the image's default).
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The first is given at create time, the rest connected before start
    /// (API 1.41 takes one network at create).
    pub networks: Vec<Attachment>,
    /// Container ports published on 127.0.0.1 at an ephemeral host port.
    pub publish: Vec<u16>,
    /// Hard memory limit in bytes, also used as memory+swap (no swap).
    pub memory: Option<i64>,
    /// CPU limit in units of 1e-9 CPUs.
    pub nano_cpus: Option<i64>,
    /// Named volumes: (volume, mount path).
    pub volumes: Vec<(String, String)>,
}

impl ContainerSpec {
    /// A short hash of everything that defines the container, given the
    /// image id it will run: equal hashes mean nothing to recreate.
    pub fn spec_hash(&self, image_id: &str) -> String {
        use sha2::Digest;
        let mut labels = self.labels.clone();
        labels.remove(LABEL_SPEC);
        let value = serde_json::json!({
            "name": self.name, "image": image_id, "cmd": self.cmd, "env": self.env,
            "labels": labels, "networks": self.networks, "publish": self.publish,
            "memory": self.memory, "nano_cpus": self.nano_cpus, "volumes": self.volumes,
        });
        let digest = sha2::Sha256::digest(value.to_string().as_bytes());
        hex::encode(&digest[..8])
    }
}

/// Everything a deployment wants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub deployment: String,
    pub networks: Vec<NetworkSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub databases: Vec<ContainerSpec>,
    pub control: Vec<ContainerSpec>,
    pub peers: Vec<ContainerSpec>,
    /// Symmetric neighbor lists, by peer id.
    pub neighbors: BTreeMap<String, Vec<String>>,
    /// `edge-db-a` → the peers reading it.
    pub edges: BTreeMap<String, Vec<String>>,
    /// Shaped links and peers, applied once the peers are up.
    pub impairments: Vec<Impairment>,
}

impl Plan {
    /// The container of a control service.
    pub fn control_spec(&self, service: ControlService) -> Option<&ContainerSpec> {
        self.control.iter().find(|c| c.component == service.name())
    }

    /// The origin database.
    pub fn origin(&self) -> Option<&ContainerSpec> {
        self.databases.iter().find(|c| c.component == ORIGIN_DB)
    }

    /// The edge databases, in plan order (`edge-db-a`, `edge-db-b`).
    pub fn edge_databases(&self) -> impl Iterator<Item = &ContainerSpec> {
        self.databases.iter().filter(|c| c.component != ORIGIN_DB)
    }
}

/// Turns a resolved config into a plan.
pub fn plan(config: &Config) -> anyhow::Result<Plan> {
    naming::check(config)?;
    let dep = &config.name;
    let names = config.peer_names();
    let most_segments = wire::contract::limits::MAX_SEGMENTS;
    if config.cache_capacity as usize > most_segments {
        anyhow::bail!(
            "cache_capacity {} is above {most_segments}: a peer announces its whole cache and the tracker takes at most {most_segments} ids",
            config.cache_capacity
        );
    }
    let links: Vec<(String, String)> = config
        .links
        .iter()
        .map(|l| (l.a.clone(), l.b.clone()))
        .collect();
    let neighbors = mesh(&names, config.degree, config.seed, &links)?;
    let most = wire::contract::limits::MAX_NEIGHBORS;
    if let Some((p, ns)) = neighbors.iter().find(|(_, ns)| ns.len() > most) {
        anyhow::bail!(
            "{p} would have {} neighbors; the tracker and topology accept at most {most} (lower degree or links)",
            ns.len()
        );
    }
    let impairments = impair::impairments(config, &neighbors)?;
    let (mut edge_a, mut edge_b) = config.edge_sets();
    edge_a.sort_by_key(|s| natural_key(s));
    edge_b.sort_by_key(|s| natural_key(s));

    let net = |logical: &str| object_name(dep, logical);
    let nets = Networks {
        peer: net(&config.peer_network),
        edge_a: net(&config.edge1_network),
        edge_b: net(&config.edge2_network),
        origin: net(&config.origin_network),
    };
    let networks = [
        (&nets.peer, &config.peer_network),
        (&nets.edge_a, &config.edge1_network),
        (&nets.edge_b, &config.edge2_network),
        (&nets.origin, &config.origin_network),
    ]
    .into_iter()
    .map(|(name, logical)| NetworkSpec {
        name: name.clone(),
        labels: labels(config, Role::Network, logical),
    })
    .collect();
    let (volumes, databases) = databases(config, &nets);
    let control = ControlService::all()
        .into_iter()
        .map(|s| control(config, &nets, s))
        .collect();
    let edges = [
        (EDGE_DB_A, &edge_a, &nets.edge_a),
        (EDGE_DB_B, &edge_b, &nets.edge_b),
    ];
    let peers = names
        .iter()
        .map(|name| {
            let edge = edges
                .iter()
                .find(|(_, set, _)| set.contains(name))
                .map(|&(db, _, net)| (db, net));
            peer(config, &nets, name, &neighbors[name], edge)
        })
        .collect();
    Ok(Plan {
        deployment: dep.clone(),
        networks,
        volumes,
        databases,
        control,
        peers,
        neighbors,
        edges: BTreeMap::from([
            (EDGE_DB_A.to_string(), edge_a),
            (EDGE_DB_B.to_string(), edge_b),
        ]),
        impairments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{LABEL_DEPLOYMENT, LABEL_EDGE};

    fn config(count: usize) -> Settings {
        Settings {
            count,
            postgres_password: "pw".into(),
            token: "tok".into(),
            ..Default::default()
        }
    }

    #[test]
    fn no_peer_is_planned_with_more_neighbors_than_the_control_plane_takes() {
        let mut c = config(60);
        c.degree = 40;
        let err = plan(&c)
            .expect_err("degree 40 is above the cap")
            .to_string();
        assert!(err.contains("at most 32"), "{err}");
        c.degree = 32;
        assert!(plan(&c).is_ok());
        c.cache_capacity = 2000;
        let err = plan(&c).expect_err("above the tracker's cap").to_string();
        assert!(err.contains("cache_capacity 2000"), "{err}");
    }

    #[test]
    fn plan_containers_networks_env_and_limits() {
        let mut c = config(6);
        c.edge1_peers = Some(vec!["peer-1".into(), "peer-2".into()]);
        c.edge2_peers = Some(vec!["peer-5".into()]);
        c.peers.insert(
            "peer-3".into(),
            PeerOverride {
                room: Some("jazz".into()),
                region: None,
                rtt_ms: Some(9),
                ..Default::default()
            },
        );
        let p = plan(&c).unwrap();
        let nets: Vec<&str> = p.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            nets,
            ["micro-net", "edge-a-net", "edge-b-net", "origin-net"]
        );
        assert_eq!(p.peers.len(), 6);
        let p1 = &p.peers[0];
        assert_eq!(p1.name, "peer-1");
        assert_eq!(p1.memory, Some(15 * 1024 * 1024));
        assert_eq!(p1.publish, [8080]);
        assert_eq!(p1.env["PEER_ID"], "peer-1");
        // A peer holds its own token, never the deployment secret.
        assert_eq!(
            p1.env["MESH_TOKEN"],
            wire::auth::peer_token("tok", "peer-1")
        );
        assert_ne!(p.peers[1].env["MESH_TOKEN"], p1.env["MESH_TOKEN"]);
        assert_eq!(
            p.control_spec(ControlService::Tracker).unwrap().env["MESH_TOKEN"],
            "tok"
        );
        assert_eq!(
            p1.env["EDGE_DB_URL"],
            "postgres://mesh:pw@edge-db-a:5432/songs"
        );
        assert_eq!(p1.labels[LABEL_EDGE], "edge-db-a");
        assert_eq!(p1.networks[1].network, "edge-a-net");
        let p3 = &p.peers[2];
        assert_eq!(p3.env["PEER_ROOM"], "jazz");
        assert_eq!(p3.env["PEER_RTT_MS"], "9");
        assert!(!p3.env.contains_key("EDGE_DB_URL"));
        assert_eq!(p3.networks.len(), 1);
        assert_eq!(p.peers[4].networks[1].network, "edge-b-net");
        for peer in &p.peers {
            let ns: Vec<String> = peer.env["NEIGHBORS"].split(',').map(String::from).collect();
            assert_eq!(ns, p.neighbors[&peer.component]);
        }
        let dbs: Vec<(&str, Vec<&str>)> = p
            .databases
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.networks.iter().map(|a| a.network.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            dbs,
            [
                ("origin-db", vec!["origin-net"]),
                ("edge-db-a", vec!["origin-net", "edge-a-net"]),
                ("edge-db-b", vec!["origin-net", "edge-b-net"]),
            ]
        );
        let tracker = p.control_spec(ControlService::Tracker).unwrap();
        assert_eq!(tracker.env["TRACKER_TTL_SECONDS"], "120");
        assert_eq!(
            p.control[0].networks[0].aliases,
            ["redis"],
            "redis starts first"
        );
    }

    #[test]
    fn other_deployments_are_prefixed() {
        let mut c = config(2);
        c.name = "t1".into();
        let p = plan(&c).unwrap();
        assert_eq!(p.peers[0].name, "t1-peer-1");
        assert_eq!(p.peers[0].networks[0].network, "t1-micro-net");
        assert_eq!(p.peers[0].networks[0].aliases, ["peer-1"]);
        assert_eq!(p.databases[0].name, "t1-origin-db");
        assert_eq!(
            p.control_spec(ControlService::Tracker).unwrap().name,
            "t1-tracker"
        );
        assert_eq!(p.peers[0].labels[LABEL_DEPLOYMENT], "t1");
    }

    #[test]
    fn spec_hash_changes_with_env_and_image() {
        let p = plan(&config(2)).unwrap();
        let a = &p.peers[0];
        let mut b = a.clone();
        assert_eq!(a.spec_hash("img1"), b.spec_hash("img1"));
        assert_ne!(a.spec_hash("img1"), a.spec_hash("img2"));
        b.env.insert("PEER_ROOM".into(), "x".into());
        assert_ne!(a.spec_hash("img1"), b.spec_hash("img1"));
    }

    #[test]
    fn control_services_and_accessors_by_name() {
        let p = plan(&config(3)).unwrap();
        let order: Vec<&str> = p.control.iter().map(|c| c.component.as_str()).collect();
        assert_eq!(order, ["redis", "topology", "tracker", "signalling"]);
        for s in ControlService::all() {
            let c = p.control_spec(s).unwrap();
            assert_eq!(c.component, s.name());
            assert_eq!(c.publish, [s.port()]);
            assert_eq!(ControlService::from_name(s.name()), Some(s));
        }
        assert_eq!(ControlService::from_name("postgres"), None);
        assert!(!p
            .control_spec(ControlService::Redis)
            .unwrap()
            .env
            .contains_key("MESH_TOKEN"));
        assert_eq!(p.origin().unwrap().component, "origin-db");
        let edges: Vec<&str> = p.edge_databases().map(|c| c.component.as_str()).collect();
        assert_eq!(edges, ["edge-db-a", "edge-db-b"]);
    }
}
