//! What `up` is asked for: the resolved settings the plan is built from.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

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
    fn memory_sizes() {
        assert_eq!(parse_memory("15m").unwrap(), 15 * 1024 * 1024);
        assert_eq!(parse_memory("15MiB").unwrap(), 15 * 1024 * 1024);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("4096").unwrap(), 4096);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("5t").is_err());
    }
}
