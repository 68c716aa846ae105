//! What `up` is asked for. [`Settings`] is at once the mesh file's schema
//! (`meshctl up -f mesh.yaml`, see [`crate::mesh_file`]), the source of
//! every default (also of the "[default: …]" in `meshctl up --help`) and the
//! plan's input. A setting is one field here, its default one line of
//! [`Settings::default`], plus its use; a flag for it, when it wants one, is
//! an `Option` of the same name in `cmd/up.rs`.
//!
//! Keys follow the spec's environment names in lowercase; the secrets
//! (`postgres_password`, `token`) are read but never written out.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer, Serialize};
use wire::contract::urls;

use super::impair::{duration, percent, rate, Link};
use super::naming::DEFAULT_DEPLOYMENT;
use crate::faults::net::Shaping;

/// Every setting of `up`, resolved (flags > env > mesh file > defaults, in
/// [`crate::mesh_file::resolve`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The deployment name; every object carries it.
    pub name: String,
    /// Number of peers.
    pub count: usize,
    /// Upper bound on `count`: a larger count is lowered to it.
    pub max_count: usize,
    /// Peer name prefix: `peer` names `peer-1`, `peer-2`, ...
    pub prefix: String,
    /// The mesh network (`PEER_NETWORK`).
    pub peer_network: String,
    /// Edge A's network.
    pub edge1_network: String,
    /// Edge B's network.
    pub edge2_network: String,
    /// The network of origin-db and both edge databases.
    pub origin_network: String,
    /// Peers joined to edge A, a list or `peer-1,peer-2`; unset: the first
    /// few ([`Settings::edge_sets`]).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "peer_list"
    )]
    pub edge1_peers: Option<Vec<String>>,
    /// Peers joined to edge B; unset: a few from the middle.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "peer_list"
    )]
    pub edge2_peers: Option<Vec<String>>,
    /// The peer image (built from mesh-agent).
    pub image: String,
    /// The control-plane image.
    pub control_image: String,
    /// `POSTGRES_DB` of every database.
    pub postgres_db: String,
    /// `POSTGRES_USER`.
    pub postgres_user: String,
    /// `POSTGRES_PASSWORD`, secret; empty: generated once per deployment and
    /// kept in its containers.
    #[serde(skip_serializing)]
    pub postgres_password: String,
    /// `MESH_TOKEN`, the bearer token of control-plane writes and peer
    /// ingest, secret; empty: generated once per deployment.
    #[serde(skip_serializing)]
    pub token: String,
    /// `TRACKER_URL` as peers see it.
    pub tracker_url: String,
    /// `SIGNAL_URL` as peers see it.
    pub signal_url: String,
    /// `PEER_ROOM` of every peer not overridden in `peers`.
    pub peer_room: String,
    /// `PEER_REGION`.
    pub peer_region: String,
    /// `PEER_RTT_MS`, milliseconds.
    pub peer_rtt_ms: u32,
    /// `CACHE_CAPACITY`, entries per peer.
    pub cache_capacity: u32,
    /// `HEARTBEAT_INTERVAL_SEC`, seconds.
    pub heartbeat_interval_sec: u64,
    /// Hard memory limit per peer, bytes (memory+swap is the same: no
    /// swap); written `15m`, `15MiB`, `512k`, `1g` or bytes.
    #[serde(with = "memory")]
    pub peer_memory: i64,
    /// CPUs per peer; 0: no limit.
    pub peer_cpus: f64,
    /// `TRACKER_TTL_SECONDS`: seconds without a heartbeat before the tracker
    /// drops a peer.
    pub tracker_ttl: u64,
    /// Neighbors per peer in the generated mesh; 0: `links` alone.
    pub degree: usize,
    /// Seed of the generated mesh: the same seed gives the same mesh.
    pub seed: u64,
    /// Links added to the generated mesh (both directions): `[a, b]`, or
    /// `{a: .., b: .., delay: 80ms, loss: 2%, rate: 1mbit}` to impair both
    /// directions too (also `jitter`, `corrupt`, `duplicate`).
    #[serde(with = "super::impair::link_list")]
    pub links: Vec<Link>,
    /// Impairments of links the mesh has anyway (generated or in `links`),
    /// in the same form as `links`; adds no link.
    #[serde(
        with = "super::impair::link_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub impair: Vec<Link>,
    /// Per-peer settings that replace the ones above, by peer name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, PeerOverride>,
    /// Extra labels on every object (tests mark theirs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: DEFAULT_DEPLOYMENT.into(),
            count: 160,
            max_count: 160,
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
            postgres_password: String::new(),
            token: String::new(),
            tracker_url: urls::TRACKER.into(),
            signal_url: urls::SIGNAL.into(),
            peer_room: "default".into(),
            peer_region: "default".into(),
            peer_rtt_ms: 50,
            cache_capacity: 64,
            heartbeat_interval_sec: 30,
            peer_memory: 15 * 1024 * 1024,
            peer_cpus: 0.25,
            tracker_ttl: 120,
            degree: 4,
            seed: 1,
            links: Vec::new(),
            impair: Vec::new(),
            peers: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }
}

/// Per-peer settings that replace the defaults, and the shaping of all of
/// the peer's egress on the peer network (`delay: 40ms`, `rate: 2mbit`; the
/// values of `meshctl netem set`, see [`Link`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration")]
    pub delay: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration")]
    pub jitter: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "percent")]
    pub loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rate")]
    pub rate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "percent")]
    pub corrupt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "percent")]
    pub duplicate: Option<f64>,
}

impl PeerOverride {
    /// The shaping of the peer's egress (default: none).
    pub fn shaping(&self) -> Shaping {
        Shaping {
            delay_us: self.delay,
            jitter_us: self.jitter,
            loss: self.loss,
            rate_bps: self.rate,
            corrupt: self.corrupt,
            duplicate: self.duplicate,
        }
    }
}

/// Shown for a secret `up` will generate.
pub const GENERATED: &str = "<generated>";
/// Shown for a secret that was given.
pub const HIDDEN: &str = "<hidden>";

impl Settings {
    /// Every key of the mesh file, in order (secrets included).
    pub fn keys() -> &'static [&'static str] {
        struct_keys::<Settings>()
    }

    /// The defaults as `meshctl up --help` shows them, by key: every
    /// default that is a plain value. Secrets and defaults that are chosen
    /// later (edge sets) have none.
    pub fn help_defaults() -> BTreeMap<&'static str, String> {
        let Ok(serde_yaml::Value::Mapping(map)) = serde_yaml::to_value(Settings::default()) else {
            return BTreeMap::new();
        };
        Settings::keys()
            .iter()
            .filter_map(|&key| {
                let text = match map.get(key)? {
                    serde_yaml::Value::String(s) if !s.is_empty() => s.clone(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((key, text))
            })
            .collect()
    }

    /// A copy fit to print or plan without secrets: a given secret reads
    /// [`HIDDEN`], one left to `up` [`GENERATED`].
    pub fn masked(&self) -> Settings {
        let mask = |s: &str| if s.is_empty() { GENERATED } else { HIDDEN }.to_string();
        Settings {
            postgres_password: mask(&self.postgres_password),
            token: mask(&self.token),
            ..self.clone()
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

/// Writes a memory size the way [`parse_memory`] reads it back: the
/// largest unit that divides it (`15m`), else bytes.
pub fn format_memory(bytes: i64) -> String {
    for (unit, size) in [("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Parses a peer list: `peer-1,peer-2` (spaces and empty items ignored).
pub fn parse_list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses a label: `KEY=VALUE`.
pub fn parse_label(s: &str) -> anyhow::Result<(String, String)> {
    let Some((k, v)) = s.split_once('=') else {
        bail!("label {s:?}: expected KEY=VALUE");
    };
    if k.is_empty() {
        bail!("label {s:?}: the key is empty");
    }
    Ok((k.to_string(), v.to_string()))
}

/// `peer_memory` in the file: a size with a unit, or bytes.
mod memory {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_memory(*bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        // A visitor rather than an untagged enum: the error of a bad size
        // then keeps the line of the value in the file.
        struct Size;
        impl Visitor<'_> for Size {
            type Value = i64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a memory size (15m) or bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
                super::parse_memory(v).map_err(|e| E::custom(format!("{e:#}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| E::custom(format!("memory size {v}: too large")))
            }
        }
        d.deserialize_any(Size)
    }
}

/// An edge peer list in the file: a YAML list, or `peer-1,peer-2` as the
/// flag and env take it.
fn peer_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    use serde::de::{self, SeqAccess, Visitor};
    use std::fmt;

    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of peers or peer-1,peer-2")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(parse_list(v)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(p) = seq.next_element()? {
                out.push(p);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(List)
}

/// The field names of a struct's serde schema, asked of its `Deserialize`
/// impl: it hands them to `deserialize_struct`, where this probe keeps them.
fn struct_keys<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut keys: &'static [&'static str] = &[];
    // The probe always ends the deserialization with an error.
    let _ = T::deserialize(Probe(&mut keys));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(count: usize) -> Settings {
        Settings {
            count,
            postgres_password: "pw".into(),
            token: "tok".into(),
            ..Default::default()
        }
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
        for bytes in [0, 1, 1000, 4096, 15 << 20, 3 << 30, (15 << 20) + 1] {
            assert_eq!(parse_memory(&format_memory(bytes)).unwrap(), bytes);
        }
        assert_eq!(format_memory(15 << 20), "15m");
        assert_eq!(format_memory(1536), "1536");
    }

    #[test]
    fn lists_and_labels() {
        assert_eq!(parse_list("peer-1, peer-2,,"), ["peer-1", "peer-2"]);
        assert_eq!(
            parse_label("a.b=c=d").unwrap(),
            ("a.b".to_string(), "c=d".to_string())
        );
        assert!(parse_label("nolabel").is_err());
        assert!(parse_label("=v").is_err());
    }

    #[test]
    fn keys_and_help_defaults() {
        let keys = Settings::keys();
        assert_eq!(keys[..3], ["name", "count", "max_count"]);
        for k in ["postgres_password", "token", "links", "peers", "labels"] {
            assert!(keys.contains(&k), "{k}");
        }
        let help = Settings::help_defaults();
        assert_eq!(help["name"], DEFAULT_DEPLOYMENT);
        assert_eq!(help["count"], "160");
        assert_eq!(help["peer_memory"], "15m");
        assert_eq!(help["peer_cpus"], "0.25");
        assert_eq!(help["tracker_url"], "http://tracker:7070");
        // Nothing to show for secrets, lists and defaults chosen later.
        for k in [
            "postgres_password",
            "token",
            "edge1_peers",
            "links",
            "peers",
        ] {
            assert!(!help.contains_key(k), "{k}");
        }
    }

    #[test]
    fn masked_hides_secrets() {
        let given = config(2).masked();
        assert_eq!(
            (given.postgres_password.as_str(), given.token.as_str()),
            (HIDDEN, HIDDEN)
        );
        let unset = Settings::default().masked();
        assert_eq!(unset.postgres_password, GENERATED);
        assert_eq!(unset.token, GENERATED);
        assert_eq!(unset.count, 160);
    }
}
