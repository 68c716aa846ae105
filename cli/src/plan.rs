//! The pure planning step: a resolved [`Config`] becomes the networks,
//! volumes and containers a deployment wants, with every env value, label,
//! limit and neighbor list written out. Nothing here talks to Docker, so the
//! whole plan is unit tested without a daemon; `deploy` applies it.
//!
//! Names: the default deployment (`mesh`) keeps the spec's names
//! (`peer-1`, `origin-db`, `micro-net`, ...); any other deployment prefixes
//! them with `<name>-`. Hostnames inside the deployment's networks are
//! aliases (`peer-2`, `tracker`, `edge-db-a`) and read the same everywhere.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::context::{
    Role, LABEL_COMPONENT, LABEL_DEPLOYMENT, LABEL_EDGE, LABEL_ROLE, PEER_PORT, POSTGRES_PORT,
    REDIS_PORT, SIGNALLING_PORT, TOPOLOGY_PORT, TRACKER_PORT,
};

/// The deployment whose objects keep the spec's names unprefixed.
pub const DEFAULT_DEPLOYMENT: &str = "mesh";
/// Label carrying a hash of a container's spec: a changed spec is recreated,
/// an unchanged one left alone.
pub const LABEL_SPEC: &str = "meshctl.spec";

pub const ORIGIN_DB: &str = "origin-db";
pub const EDGE_DB_A: &str = "edge-db-a";
pub const EDGE_DB_B: &str = "edge-db-b";
pub const CONTROL_SERVICES: [&str; 4] = ["redis", "topology", "tracker", "signalling"];

/// Peer settings every peer gets unless overridden per peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerDefaults {
    /// `TRACKER_URL` as seen from inside the peer network.
    pub tracker_url: String,
    /// `SIGNAL_URL`.
    pub signal_url: String,
    /// `PEER_ROOM`.
    pub room: String,
    /// `PEER_REGION`.
    pub region: String,
    /// `PEER_RTT_MS`, milliseconds.
    pub rtt_ms: u32,
    /// `CACHE_CAPACITY`, entries.
    pub cache_capacity: u32,
    /// `HEARTBEAT_INTERVAL_SEC`, seconds.
    pub heartbeat_interval_sec: u64,
}

impl Default for PeerDefaults {
    fn default() -> Self {
        Self {
            tracker_url: "http://tracker:7070".into(),
            signal_url: "ws://signalling:7080/ws".into(),
            room: "default".into(),
            region: "default".into(),
            rtt_ms: 50,
            cache_capacity: 64,
            heartbeat_interval_sec: 30,
        }
    }
}

/// Per-peer settings that replace the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
}

/// Everything `up` needs, resolved (flags > env > mesh file > defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The deployment name; every object carries it.
    pub name: String,
    pub count: usize,
    pub prefix: String,
    pub peer_network: String,
    pub edge1_network: String,
    pub edge2_network: String,
    pub origin_network: String,
    /// Peers joined to edge-a-net / edge-b-net; `None` picks a default.
    pub edge1_peers: Option<Vec<String>>,
    pub edge2_peers: Option<Vec<String>>,
    /// The peer image (`IMAGE`).
    pub image: String,
    /// The control-plane image.
    pub control_image: String,
    pub postgres_db: String,
    pub postgres_user: String,
    pub postgres_password: String,
    /// `MESH_TOKEN`; empty means none.
    pub token: String,
    pub peer: PeerDefaults,
    pub overrides: BTreeMap<String, PeerOverride>,
    /// Hard memory limit per peer, bytes (memory-swap is set equal: no swap).
    pub peer_memory: i64,
    /// CPUs per peer (0 = no limit).
    pub peer_cpus: f64,
    /// `TRACKER_TTL_SECONDS`.
    pub tracker_ttl: u64,
    /// Target neighbors per peer of the generated mesh; 0 = explicit links only.
    pub degree: usize,
    pub seed: u64,
    /// Links added to the generated mesh (both directions).
    pub links: Vec<(String, String)>,
    /// Extra labels put on every object (tests mark theirs).
    pub extra_labels: BTreeMap<String, String>,
}

impl Config {
    /// The spec's defaults, with the given secrets.
    pub fn with_defaults(name: &str, postgres_password: &str, token: &str) -> Config {
        Config {
            name: name.to_string(),
            count: 160,
            prefix: "peer".into(),
            peer_network: "micro-net".into(),
            edge1_network: "edge-a-net".into(),
            edge2_network: "edge-b-net".into(),
            origin_network: "origin-net".into(),
            edge1_peers: None,
            edge2_peers: None,
            image: "peer-node:latest".into(),
            control_image: "meshctl-control:latest".into(),
            postgres_db: "songs".into(),
            postgres_user: "mesh".into(),
            postgres_password: postgres_password.to_string(),
            token: token.to_string(),
            peer: PeerDefaults::default(),
            overrides: BTreeMap::new(),
            peer_memory: 15 * 1024 * 1024,
            peer_cpus: 0.25,
            tracker_ttl: 120,
            degree: 4,
            seed: 1,
            links: Vec::new(),
            extra_labels: BTreeMap::new(),
        }
    }

    pub fn peer_name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    pub fn peer_names(&self) -> Vec<String> {
        (1..=self.count).map(|i| self.peer_name(i)).collect()
    }

    /// The edge peer sets, defaults filled in: a few peers at the start for
    /// edge A, a few from the middle for edge B (the spec's example for 80
    /// peers: peer-1..3 and peer-40..42).
    pub fn edge_sets(&self) -> (Vec<String>, Vec<String>) {
        let n = self.count;
        let k = (n / 4).clamp(1, 3);
        let a = self
            .edge1_peers
            .clone()
            .unwrap_or_else(|| (1..=k.min(n)).map(|i| self.peer_name(i)).collect());
        let b = self.edge2_peers.clone().unwrap_or_else(|| {
            if n < 2 {
                return Vec::new();
            }
            let start = (n / 2).max(k + 1);
            (start..start + k)
                .filter(|&i| i <= n)
                .map(|i| self.peer_name(i))
                .collect()
        });
        (a, b)
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
}

/// The Docker name of a deployment object.
pub fn object_name(deployment: &str, logical: &str) -> String {
    if deployment == DEFAULT_DEPLOYMENT {
        logical.to_string()
    } else {
        format!("{deployment}-{logical}")
    }
}

/// Control containers are always prefixed: `mesh-tracker`, `t1-tracker`.
pub fn control_name(deployment: &str, service: &str) -> String {
    format!("{deployment}-{service}")
}

/// A deployment name: lowercase letters, digits and dashes, starting with a
/// letter, at most 40 bytes (it prefixes Docker names).
pub fn check_deployment_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!("deployment name {name:?}: use lowercase letters, digits and '-', starting with a letter, at most 40 characters");
    }
    Ok(())
}

fn check_object_part(what: &str, v: &str) -> anyhow::Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 60
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        bail!(
            "{what} {v:?}: use letters, digits, '-', '_' and '.', starting with a letter or digit"
        );
    }
    Ok(())
}

fn labels(config: &Config, role: Role, component: &str) -> BTreeMap<String, String> {
    let mut l = config.extra_labels.clone();
    l.insert(LABEL_DEPLOYMENT.into(), config.name.clone());
    l.insert(LABEL_ROLE.into(), role.as_str().into());
    l.insert(LABEL_COMPONENT.into(), component.into());
    l
}

/// A reproducible stream of numbers (splitmix64): the same seed gives the
/// same mesh on every machine and every version of this program.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A connected, symmetric partial mesh over `names`: a random spanning tree
/// whose nodes stay under `degree` neighbors, then random extra links until
/// each peer has about `degree`; plus the explicit `links`. `degree` 0 takes
/// the explicit links alone (they must connect every peer).
pub fn mesh(
    names: &[String],
    degree: usize,
    seed: u64,
    links: &[(String, String)],
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let n = names.len();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut adj: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    if degree == 1 && n > 2 {
        bail!("degree 1 cannot connect {n} peers: use 2 or more (or 0 with explicit links)");
    }
    if degree > 0 && n > 1 {
        let mut rng = SplitMix(seed);
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let cap = degree.max(2);
        for k in 1..n {
            let open: Vec<usize> = order[..k]
                .iter()
                .copied()
                .filter(|&j| adj[j].len() < cap)
                .collect();
            // The last added node has one link and cap ≥ 2, so `open` is
            // never empty.
            let j = open[rng.below(open.len())];
            let i = order[k];
            adj[i].insert(j);
            adj[j].insert(i);
        }
        let target = degree.min(n - 1);
        for _round in 0..4 {
            for &i in &order {
                let mut tries = 0;
                while adj[i].len() < target && tries < 8 * n {
                    tries += 1;
                    let j = rng.below(n);
                    if j != i && adj[j].len() < target && !adj[i].contains(&j) {
                        adj[i].insert(j);
                        adj[j].insert(i);
                    }
                }
            }
        }
    }
    for (a, b) in links {
        let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) else {
            bail!("links: {a} -- {b} names a peer that is not in the deployment");
        };
        if i == j {
            bail!("links: {a} -- {b} links a peer to itself");
        }
        adj[i].insert(j);
        adj[j].insert(i);
    }
    // Connected?
    if n > 0 {
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for &j in &adj[i] {
                if !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            bail!(
                "the mesh is not connected: {} is cut off from {} (raise degree or add links)",
                names[i],
                names[0]
            );
        }
    }
    let mut out = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut ns: Vec<String> = adj[i].iter().map(|&j| names[j].clone()).collect();
        ns.sort_by_key(|s| crate::context::natural_key(s));
        out.insert(name.clone(), ns);
    }
    Ok(out)
}

/// Quotes a libpq conninfo value.
fn conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// How an edge database reaches origin (over the origin network).
pub fn origin_conninfo(config: &Config) -> String {
    format!(
        "host={ORIGIN_DB} port={POSTGRES_PORT} user={} password={} dbname={}",
        conninfo_value(&config.postgres_user),
        conninfo_value(&config.postgres_password),
        conninfo_value(&config.postgres_db)
    )
}

/// The subscription name of an edge (`edge-db-a` → `edge_db_a`).
pub fn subscription_name(edge: &str) -> String {
    edge.replace('-', "_")
}

/// Turns a resolved config into a plan.
pub fn plan(config: &Config) -> anyhow::Result<Plan> {
    check_deployment_name(&config.name)?;
    check_object_part("PREFIX", &config.prefix)?;
    for (what, v) in [
        ("PEER_NETWORK", &config.peer_network),
        ("EDGE1_NETWORK", &config.edge1_network),
        ("EDGE2_NETWORK", &config.edge2_network),
        ("ORIGIN_NETWORK", &config.origin_network),
    ] {
        check_object_part(what, v)?;
    }
    let nets: BTreeSet<&String> = [
        &config.peer_network,
        &config.edge1_network,
        &config.edge2_network,
        &config.origin_network,
    ]
    .into_iter()
    .collect();
    if nets.len() != 4 {
        bail!("PEER_NETWORK, EDGE1_NETWORK, EDGE2_NETWORK and ORIGIN_NETWORK must be four different names");
    }
    if config.count == 0 {
        bail!("count: must be at least 1");
    }
    if config.postgres_password.is_empty() {
        bail!("POSTGRES_PASSWORD: must not be empty");
    }
    if config.peer_memory < 6 * 1024 * 1024 {
        bail!("peer memory: Docker refuses limits under 6 MiB");
    }
    if !(config.peer_cpus >= 0.0 && config.peer_cpus.is_finite()) {
        bail!("peer cpus: must be a non-negative number");
    }
    let dep = &config.name;
    let names = config.peer_names();
    let known: BTreeSet<&String> = names.iter().collect();
    let (edge_a, edge_b) = config.edge_sets();
    for (var, set) in [("EDGE1_PEERS", &edge_a), ("EDGE2_PEERS", &edge_b)] {
        for p in set {
            if !known.contains(p) {
                bail!(
                    "{var}: {p} is not one of the {} peers ({}-1 .. {}-{})",
                    config.count,
                    config.prefix,
                    config.prefix,
                    config.count
                );
            }
        }
    }
    if let Some(p) = edge_a.iter().find(|p| edge_b.contains(p)) {
        bail!("EDGE1_PEERS and EDGE2_PEERS both name {p}: a peer reads one edge database");
    }
    for p in config.overrides.keys() {
        if !known.contains(p) {
            bail!("peers: {p} is not one of the {} peers", config.count);
        }
    }
    let neighbors = mesh(&names, config.degree, config.seed, &config.links)?;

    let net = |logical: &str| object_name(dep, logical);
    let peer_net = net(&config.peer_network);
    let edge_a_net = net(&config.edge1_network);
    let edge_b_net = net(&config.edge2_network);
    let origin_net = net(&config.origin_network);
    let networks = [
        (&peer_net, &config.peer_network),
        (&edge_a_net, &config.edge1_network),
        (&edge_b_net, &config.edge2_network),
        (&origin_net, &config.origin_network),
    ]
    .into_iter()
    .map(|(name, logical)| NetworkSpec {
        name: name.clone(),
        labels: labels(config, Role::Network, logical),
    })
    .collect();

    let pg_env = BTreeMap::from([
        ("POSTGRES_DB".to_string(), config.postgres_db.clone()),
        ("POSTGRES_USER".to_string(), config.postgres_user.clone()),
        (
            "POSTGRES_PASSWORD".to_string(),
            config.postgres_password.clone(),
        ),
    ]);
    let mut volumes = Vec::new();
    let mut databases = Vec::new();
    for (db, extra_net) in [
        (ORIGIN_DB, None),
        (EDGE_DB_A, Some(&edge_a_net)),
        (EDGE_DB_B, Some(&edge_b_net)),
    ] {
        let volume = object_name(dep, &format!("{db}-data"));
        volumes.push(VolumeSpec {
            name: volume.clone(),
            labels: labels(config, Role::Volume, &format!("{db}-data")),
        });
        let mut networks = vec![Attachment {
            network: origin_net.clone(),
            aliases: vec![db.to_string()],
        }];
        if let Some(n) = extra_net {
            networks.push(Attachment {
                network: n.clone(),
                aliases: vec![db.to_string()],
            });
        }
        databases.push(ContainerSpec {
            name: object_name(dep, db),
            component: db.to_string(),
            role: Role::Db,
            image: ImageRef::Postgres,
            cmd: [
                "postgres",
                "-c",
                "wal_level=logical",
                "-c",
                "max_wal_senders=10",
                "-c",
                "max_replication_slots=10",
            ]
            .map(String::from)
            .to_vec(),
            env: pg_env.clone(),
            labels: labels(config, Role::Db, db),
            networks,
            publish: vec![POSTGRES_PORT],
            memory: None,
            nano_cpus: None,
            volumes: vec![(volume, "/var/lib/postgresql/data".into())],
        });
    }

    let token_env = |env: &mut BTreeMap<String, String>| {
        if !config.token.is_empty() {
            env.insert("MESH_TOKEN".into(), config.token.clone());
        }
    };
    let mut control = Vec::new();
    for service in CONTROL_SERVICES {
        let mut env = BTreeMap::new();
        let (image, cmd, port) = match service {
            "redis" => (ImageRef::Redis, vec![], REDIS_PORT),
            "topology" => {
                env.insert("TOPOLOGY_ADDR".into(), format!("0.0.0.0:{TOPOLOGY_PORT}"));
                token_env(&mut env);
                (
                    ImageRef::Control(config.control_image.clone()),
                    vec!["/topology".to_string()],
                    TOPOLOGY_PORT,
                )
            }
            "tracker" => {
                env.insert("TRACKER_ADDR".into(), format!("0.0.0.0:{TRACKER_PORT}"));
                env.insert("REDIS_ADDR".into(), format!("redis:{REDIS_PORT}"));
                env.insert(
                    "TOPOLOGY_URL".into(),
                    format!("http://topology:{TOPOLOGY_PORT}"),
                );
                env.insert("TRACKER_TTL_SECONDS".into(), config.tracker_ttl.to_string());
                token_env(&mut env);
                (
                    ImageRef::Control(config.control_image.clone()),
                    vec!["/tracker".to_string()],
                    TRACKER_PORT,
                )
            }
            _ => {
                env.insert("SIGNAL_ADDR".into(), format!("0.0.0.0:{SIGNALLING_PORT}"));
                token_env(&mut env);
                (
                    ImageRef::Control(config.control_image.clone()),
                    vec!["/signalling".to_string()],
                    SIGNALLING_PORT,
                )
            }
        };
        control.push(ContainerSpec {
            name: control_name(dep, service),
            component: service.to_string(),
            role: Role::Control,
            image,
            cmd,
            env,
            labels: labels(config, Role::Control, service),
            networks: vec![Attachment {
                network: peer_net.clone(),
                aliases: vec![service.to_string()],
            }],
            publish: vec![port],
            memory: None,
            nano_cpus: None,
            volumes: vec![],
        });
    }

    let mut edges = BTreeMap::from([
        (EDGE_DB_A.to_string(), edge_a.clone()),
        (EDGE_DB_B.to_string(), edge_b.clone()),
    ]);
    for v in edges.values_mut() {
        v.sort_by_key(|s| crate::context::natural_key(s));
    }
    let mut peers = Vec::new();
    for name in &names {
        let o = config.overrides.get(name).cloned().unwrap_or_default();
        let p = &config.peer;
        let mut env = BTreeMap::from([
            ("PEER_ID".to_string(), name.clone()),
            ("NEIGHBORS".to_string(), neighbors[name].join(",")),
            ("TRACKER_URL".to_string(), p.tracker_url.clone()),
            ("SIGNAL_URL".to_string(), p.signal_url.clone()),
            (
                "PEER_ROOM".to_string(),
                o.room.unwrap_or_else(|| p.room.clone()),
            ),
            (
                "PEER_REGION".to_string(),
                o.region.unwrap_or_else(|| p.region.clone()),
            ),
            (
                "PEER_RTT_MS".to_string(),
                o.rtt_ms.unwrap_or(p.rtt_ms).to_string(),
            ),
            ("CACHE_CAPACITY".to_string(), p.cache_capacity.to_string()),
            (
                "HEARTBEAT_INTERVAL_SEC".to_string(),
                p.heartbeat_interval_sec.to_string(),
            ),
        ]);
        token_env(&mut env);
        let mut l = labels(config, Role::Peer, name);
        let mut networks = vec![Attachment {
            network: peer_net.clone(),
            aliases: vec![name.clone()],
        }];
        let edge = if edge_a.contains(name) {
            Some((EDGE_DB_A, &edge_a_net))
        } else if edge_b.contains(name) {
            Some((EDGE_DB_B, &edge_b_net))
        } else {
            None
        };
        if let Some((db, net)) = edge {
            env.insert(
                "EDGE_DB_URL".into(),
                format!(
                    "postgres://{}:{}@{db}:{POSTGRES_PORT}/{}",
                    crate::context::userinfo(&config.postgres_user),
                    crate::context::userinfo(&config.postgres_password),
                    crate::context::userinfo(&config.postgres_db)
                ),
            );
            l.insert(LABEL_EDGE.into(), db.into());
            networks.push(Attachment {
                network: net.clone(),
                aliases: vec![name.clone()],
            });
        }
        peers.push(ContainerSpec {
            name: object_name(dep, name),
            component: name.clone(),
            role: Role::Peer,
            image: ImageRef::Peer(config.image.clone()),
            cmd: vec![],
            env,
            labels: l,
            networks,
            publish: vec![PEER_PORT],
            memory: Some(config.peer_memory),
            nano_cpus: (config.peer_cpus > 0.0).then(|| (config.peer_cpus * 1e9).round() as i64),
            volumes: vec![],
        });
    }
    Ok(Plan {
        deployment: dep.clone(),
        networks,
        volumes,
        databases,
        control,
        peers,
        neighbors,
        edges,
    })
}

/// Parses a memory size: `15m`, `15MiB`, `512k`, `1g`, or bytes.
pub fn parse_memory(s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let value: f64 = num.parse().with_context(|| {
        format!("memory size {s:?}: expected a number with an optional unit (15m)")
    })?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => bail!("memory size {s:?}: unknown unit {other:?} (use k, m or g)"),
    };
    Ok((value * mult).round() as i64)
}

/// Parses a peer list: `peer-1,peer-2` (spaces and empty items ignored).
pub fn parse_list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(count: usize) -> Config {
        let mut c = Config::with_defaults("mesh", "pw", "tok");
        c.count = count;
        c
    }

    fn connected(m: &BTreeMap<String, Vec<String>>) -> bool {
        let start = m.keys().next().unwrap().clone();
        let mut seen = BTreeSet::from([start.clone()]);
        let mut stack = vec![start];
        while let Some(p) = stack.pop() {
            for q in &m[&p] {
                if seen.insert(q.clone()) {
                    stack.push(q.clone());
                }
            }
        }
        seen.len() == m.len()
    }

    #[test]
    fn mesh_is_connected_symmetric_and_reproducible() {
        for n in [1, 2, 3, 6, 25, 160] {
            for degree in [2, 3, 4, 8] {
                for seed in [1, 7, 42] {
                    let c = config(n);
                    let m = mesh(&c.peer_names(), degree, seed, &[]).unwrap();
                    assert_eq!(m.len(), n);
                    assert!(connected(&m), "n={n} degree={degree} seed={seed}");
                    for (p, ns) in &m {
                        assert!(!ns.contains(p));
                        for q in ns {
                            assert!(m[q].contains(p), "{p} -> {q} not symmetric");
                        }
                        if n > 1 {
                            assert!(!ns.is_empty());
                        }
                        assert!(ns.len() <= degree.max(2), "{p} has {} > {degree}", ns.len());
                    }
                    assert_eq!(m, mesh(&c.peer_names(), degree, seed, &[]).unwrap());
                }
            }
        }
        let c = config(40);
        assert_ne!(
            mesh(&c.peer_names(), 4, 1, &[]).unwrap(),
            mesh(&c.peer_names(), 4, 2, &[]).unwrap()
        );
        // Most peers reach the target degree.
        let m = mesh(&config(160).peer_names(), 4, 1, &[]).unwrap();
        let full = m.values().filter(|v| v.len() == 4).count();
        assert!(full >= 150, "{full}");
    }

    #[test]
    fn explicit_links_alone_must_connect() {
        let names = config(3).peer_names();
        let line = vec![
            ("peer-1".to_string(), "peer-2".to_string()),
            ("peer-2".to_string(), "peer-3".to_string()),
        ];
        let m = mesh(&names, 0, 1, &line).unwrap();
        assert_eq!(m["peer-2"], ["peer-1", "peer-3"]);
        let err = mesh(&names, 0, 1, &line[..1]).unwrap_err();
        assert!(err.to_string().contains("peer-3 is cut off"), "{err}");
        assert!(mesh(&names, 0, 1, &[("peer-1".into(), "peer-9".into())]).is_err());
        assert!(mesh(&config(5).peer_names(), 1, 1, &[]).is_err());
    }

    #[test]
    fn plan_containers_networks_env_and_limits() {
        let mut c = config(6);
        c.edge1_peers = Some(vec!["peer-1".into(), "peer-2".into()]);
        c.edge2_peers = Some(vec!["peer-5".into()]);
        c.overrides.insert(
            "peer-3".into(),
            PeerOverride {
                room: Some("jazz".into()),
                region: None,
                rtt_ms: Some(9),
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
        assert_eq!(p1.env["MESH_TOKEN"], "tok");
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
        assert_eq!(p.control[2].env["TRACKER_TTL_SECONDS"], "120");
        assert_eq!(p.control[0].networks[0].aliases, ["redis"]);
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
        assert_eq!(p.control[2].name, "t1-tracker");
        assert_eq!(p.peers[0].labels[LABEL_DEPLOYMENT], "t1");
    }

    #[test]
    fn default_edge_sets_follow_the_spec_example() {
        let c = config(80);
        let (a, b) = c.edge_sets();
        assert_eq!(a, ["peer-1", "peer-2", "peer-3"]);
        assert_eq!(b, ["peer-40", "peer-41", "peer-42"]);
        let (a, b) = config(6).edge_sets();
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_ne!(a, b);
        let (a, b) = config(1).edge_sets();
        assert_eq!((a.len(), b.len()), (1, 0));
        let (a, b) = config(2).edge_sets();
        assert_eq!(
            (a, b),
            (vec!["peer-1".to_string()], vec!["peer-2".to_string()])
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let mut c = config(4);
        c.edge1_peers = Some(vec!["peer-9".into()]);
        assert!(plan(&c).unwrap_err().to_string().contains("EDGE1_PEERS"));
        let mut c = config(4);
        c.edge1_peers = Some(vec!["peer-1".into()]);
        c.edge2_peers = Some(vec!["peer-1".into()]);
        assert!(plan(&c).is_err());
        let mut c = config(4);
        c.name = "Bad Name".into();
        assert!(plan(&c).is_err());
        let mut c = config(4);
        c.edge2_network = c.peer_network.clone();
        assert!(plan(&c).is_err());
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
    fn memory_sizes() {
        assert_eq!(parse_memory("15m").unwrap(), 15 * 1024 * 1024);
        assert_eq!(parse_memory("15MiB").unwrap(), 15 * 1024 * 1024);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("4096").unwrap(), 4096);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("5t").is_err());
    }

    #[test]
    fn conninfo_quotes() {
        let mut c = config(1);
        c.postgres_password = "a'b c".into();
        assert_eq!(
            origin_conninfo(&c),
            r"host=origin-db port=5432 user='mesh' password='a\'b c' dbname='songs'"
        );
    }
}
