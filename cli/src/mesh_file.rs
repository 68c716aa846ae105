//! The mesh file (`meshctl up -f mesh.yaml`): every setting of `up`, plus
//! explicit links and per-peer overrides, in YAML. Keys follow the spec's
//! environment names in lowercase:
//!
//! ```text
//! name: mesh
//! count: 6
//! edge1_peers: [peer-1, peer-2]
//! edge2_peers: [peer-4]
//! peer_memory: 15m
//! degree: 3
//! seed: 7
//! links: [[peer-1, peer-6]]
//! peers:
//!   peer-3: {room: jazz, region: eu, rtt_ms: 12}
//! ```
//!
//! The same struct carries the settings taken from flags and env, so
//! precedence (flags and env > file > defaults) is one [`MeshFile::over`].
//! `up --dry-run --format yaml` prints the resolved settings as a mesh file
//! whose `degree: 0` and explicit `links` reproduce the mesh exactly.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::plan::{self, Config, PeerOverride};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge1_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge2_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge1_peers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge2_peers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_db: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_rtt_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_sec: Option<u64>,
    /// `15m`, `15MiB`, or bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker_ttl: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degree: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<[String; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<BTreeMap<String, PeerOverride>>,
}

macro_rules! over {
    ($a:expr, $b:expr, $($f:ident),*) => {
        MeshFile { $($f: $a.$f.or($b.$f),)* }
    };
}

impl MeshFile {
    /// `self`'s settings where set, else `lower`'s.
    pub fn over(self, lower: MeshFile) -> MeshFile {
        over!(
            self,
            lower,
            name,
            count,
            prefix,
            peer_network,
            edge1_network,
            edge2_network,
            origin_network,
            edge1_peers,
            edge2_peers,
            image,
            control_image,
            postgres_db,
            postgres_user,
            postgres_password,
            tracker_url,
            signal_url,
            peer_room,
            peer_region,
            peer_rtt_ms,
            cache_capacity,
            heartbeat_interval_sec,
            peer_memory,
            peer_cpus,
            tracker_ttl,
            degree,
            seed,
            links,
            peers
        )
    }

    /// Applies defaults: the resolved config (secrets left empty when unset).
    pub fn resolve(self) -> anyhow::Result<Config> {
        let name = self
            .name
            .unwrap_or_else(|| plan::DEFAULT_DEPLOYMENT.to_string());
        let mut c = Config::with_defaults(&name, "", "");
        macro_rules! set {
            ($($f:ident => $t:ident),*) => { $(if let Some(v) = self.$f { c.$t = v; })* };
        }
        set!(count => count, prefix => prefix, peer_network => peer_network,
            edge1_network => edge1_network, edge2_network => edge2_network,
            origin_network => origin_network, image => image, control_image => control_image,
            postgres_db => postgres_db, postgres_user => postgres_user,
            postgres_password => postgres_password, peer_cpus => peer_cpus,
            tracker_ttl => tracker_ttl, degree => degree, seed => seed);
        c.edge1_peers = self.edge1_peers;
        c.edge2_peers = self.edge2_peers;
        if let Some(v) = self.tracker_url {
            c.peer.tracker_url = v;
        }
        if let Some(v) = self.signal_url {
            c.peer.signal_url = v;
        }
        if let Some(v) = self.peer_room {
            c.peer.room = v;
        }
        if let Some(v) = self.peer_region {
            c.peer.region = v;
        }
        if let Some(v) = self.peer_rtt_ms {
            c.peer.rtt_ms = v;
        }
        if let Some(v) = self.cache_capacity {
            c.peer.cache_capacity = v;
        }
        if let Some(v) = self.heartbeat_interval_sec {
            c.peer.heartbeat_interval_sec = v;
        }
        if let Some(v) = self.peer_memory {
            c.peer_memory = plan::parse_memory(&v).context("peer_memory")?;
        }
        c.links = self
            .links
            .unwrap_or_default()
            .into_iter()
            .map(|[a, b]| (a, b))
            .collect();
        c.overrides = self.peers.unwrap_or_default();
        Ok(c)
    }

    /// A file that reproduces `plan`'s config exactly: every setting written
    /// out, the generated mesh as explicit links with `degree: 0`. Secrets
    /// are left out.
    pub fn reproducing(config: &Config, neighbors: &BTreeMap<String, Vec<String>>) -> MeshFile {
        let (a, b) = config.edge_sets();
        let mut links = Vec::new();
        for (p, ns) in neighbors {
            for q in ns {
                if crate::context::natural_key(p) < crate::context::natural_key(q) {
                    links.push([p.clone(), q.clone()]);
                }
            }
        }
        links.sort_by_key(|[p, q]| {
            (
                crate::context::natural_key(p),
                crate::context::natural_key(q),
            )
        });
        MeshFile {
            name: Some(config.name.clone()),
            count: Some(config.count),
            prefix: Some(config.prefix.clone()),
            peer_network: Some(config.peer_network.clone()),
            edge1_network: Some(config.edge1_network.clone()),
            edge2_network: Some(config.edge2_network.clone()),
            origin_network: Some(config.origin_network.clone()),
            edge1_peers: Some(a),
            edge2_peers: Some(b),
            image: Some(config.image.clone()),
            control_image: Some(config.control_image.clone()),
            postgres_db: Some(config.postgres_db.clone()),
            postgres_user: Some(config.postgres_user.clone()),
            postgres_password: None,
            tracker_url: Some(config.peer.tracker_url.clone()),
            signal_url: Some(config.peer.signal_url.clone()),
            peer_room: Some(config.peer.room.clone()),
            peer_region: Some(config.peer.region.clone()),
            peer_rtt_ms: Some(config.peer.rtt_ms),
            cache_capacity: Some(config.peer.cache_capacity),
            heartbeat_interval_sec: Some(config.peer.heartbeat_interval_sec),
            peer_memory: Some(config.peer_memory.to_string()),
            peer_cpus: Some(config.peer_cpus),
            tracker_ttl: Some(config.tracker_ttl),
            degree: Some(0),
            seed: Some(config.seed),
            links: Some(links),
            peers: (!config.overrides.is_empty()).then(|| config.overrides.clone()),
        }
    }
}

/// Parses a mesh file; errors name the field and the line (`source` names
/// the file in messages).
pub fn parse(text: &str, source: &str) -> anyhow::Result<MeshFile> {
    if text.trim().is_empty() {
        return Ok(MeshFile::default());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, MeshFile>(de) {
        Ok(f) => Ok(f),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            let field = if path.is_empty() || path == "." {
                String::new()
            } else {
                format!(" field `{path}`")
            };
            bail!("{source}:{field}{at}: {inner}")
        }
    }
}

pub fn to_yaml(f: &MeshFile) -> anyhow::Result<String> {
    serde_yaml::to_string(f).context("write the mesh file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_resolve_and_precedence() {
        let text = "name: t1\ncount: 6\nedge1_peers: [peer-1]\npeer_memory: 20m\npeers:\n  peer-3: {room: jazz}\nlinks: [[peer-1, peer-6]]\n";
        let file = parse(text, "mesh.yaml").unwrap();
        let flags = MeshFile {
            count: Some(4),
            ..Default::default()
        };
        let c = flags.over(file).resolve().unwrap();
        assert_eq!(c.name, "t1");
        assert_eq!(c.count, 4);
        assert_eq!(c.peer_memory, 20 * 1024 * 1024);
        assert_eq!(c.edge1_peers, Some(vec!["peer-1".to_string()]));
        assert_eq!(c.overrides["peer-3"].room.as_deref(), Some("jazz"));
        assert_eq!(c.links, [("peer-1".to_string(), "peer-6".to_string())]);
        assert_eq!(MeshFile::default().resolve().unwrap().count, 160);
    }

    #[test]
    fn errors_name_field_and_line() {
        let err = parse("count: 6\ndegree: many\n", "mesh.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("degree") && err.contains("line 2"), "{err}");
        let err = parse("count: 6\npeers:\n  peer-1: {colour: red}\n", "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("peers") && err.contains("colour") && err.contains("line 3"),
            "{err}"
        );
        let err = parse("cuont: 6\n", "m.yaml").unwrap_err().to_string();
        assert!(err.contains("cuont") && err.contains("line 1"), "{err}");
        let err = parse("count: 6\npeer_memory: lots\n", "m.yaml")
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(format!("{err:#}").contains("peer_memory"), "{err:#}");
    }

    #[test]
    fn dry_run_file_reproduces_the_plan() {
        let mut c = MeshFile {
            count: Some(12),
            degree: Some(3),
            seed: Some(9),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        c.postgres_password = "pw".into();
        let p = plan::plan(&c).unwrap();
        let yaml = to_yaml(&MeshFile::reproducing(&c, &p.neighbors)).unwrap();
        let mut again = parse(&yaml, "dry-run").unwrap().resolve().unwrap();
        again.postgres_password = "pw".into();
        let q = plan::plan(&again).unwrap();
        assert_eq!(p.neighbors, q.neighbors);
        assert_eq!(p.peers, q.peers);
    }
}
