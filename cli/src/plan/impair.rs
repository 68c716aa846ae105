//! Impairments declared in the mesh file: shaped links and shaped peers.
//!
//! The values are those of `meshctl netem set`'s flags (`80ms`, `2%`,
//! `1mbit`), read by the same parsers ([`crate::faults::net`]) and written
//! back the way they print, so a file round-trips. [`impairments`] turns
//! the file's `links`, `impair` and `peers` into the plan's list: every
//! name checked against the plan, each link once, its ends in natural
//! order.

use std::collections::BTreeMap;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::Settings;
use crate::faults::net::Shaping;
use crate::labels::natural_key;

/// One impairment `up` applies after the peers are up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impairment {
    /// The peer whose egress is shaped (a link's first end).
    pub peer: String,
    /// A link's other end: both directions of `peer -- to` are shaped.
    /// `None`: all of `peer`'s egress on the peer network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub shaping: Shaping,
}

impl Impairment {
    /// What is shaped: `peer-1 -- peer-6`, `peer-3 (all egress)`.
    pub fn target(&self) -> String {
        match &self.to {
            Some(to) => format!("{} -- {to}", self.peer),
            None => format!("{} (all egress)", self.peer),
        }
    }

    /// `peer-1 -- peer-6: rate=1mbit loss=2%`.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.target(), self.shaping.describe())
    }
}

/// A link of the mesh file: `[a, b]`, or `{a: .., b: .., delay: 80ms, ...}`
/// to impair it too. Shaping fields hold the parsed values (microseconds,
/// percent, bits per second) and are written back as the flags take them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub a: String,
    pub b: String,
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

impl Link {
    /// A plain link, not impaired.
    pub fn new(a: impl Into<String>, b: impl Into<String>) -> Link {
        Link {
            a: a.into(),
            b: b.into(),
            ..Default::default()
        }
    }

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

    /// `link` between `a` and `b`, impaired by `s`.
    pub fn shaped(a: &str, b: &str, s: &Shaping) -> Link {
        Link {
            a: a.into(),
            b: b.into(),
            delay: s.delay_us,
            jitter: s.jitter_us,
            loss: s.loss,
            rate: s.rate_bps,
            corrupt: s.corrupt,
            duplicate: s.duplicate,
        }
    }
}

/// Every impairment the settings declare, checked against `names` (the
/// plan's peers) and `neighbors` (the mesh). `links` entries that carry
/// shaping, `impair` entries (each must be a link of the mesh), then
/// `peers` entries that carry shaping; sorted by peer, links before the
/// peer's whole egress.
pub fn impairments(
    settings: &Settings,
    neighbors: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<Vec<Impairment>> {
    // Link impairments by their ends in natural order, with the key that
    // declared them (for a duplicate's error).
    let mut links: BTreeMap<(String, String), (String, Shaping)> = BTreeMap::new();
    let lists = [("links", &settings.links), ("impair", &settings.impair)];
    for (list, entries) in lists {
        for (i, l) in entries.iter().enumerate() {
            let key = format!("{list}[{i}]");
            let shaping = l.shaping();
            if list == "links" && shaping == Shaping::default() {
                continue;
            }
            for p in [&l.a, &l.b] {
                if !neighbors.contains_key(p) {
                    bail!("{key}: {p} is not one of the {} peers", settings.count);
                }
            }
            if l.a == l.b {
                bail!("{key}: {} -- {} links a peer to itself", l.a, l.b);
            }
            if !neighbors[&l.a].contains(&l.b) {
                bail!(
                    "{key}: {} -- {} is not a link of the mesh (add it to links to make it one)",
                    l.a,
                    l.b
                );
            }
            shaping.check().map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
            let ends = if natural_key(&l.a) <= natural_key(&l.b) {
                (l.a.clone(), l.b.clone())
            } else {
                (l.b.clone(), l.a.clone())
            };
            if let Some((first, _)) = links.get(&ends) {
                bail!(
                    "{key}: {} -- {} is already impaired by {first}",
                    ends.0,
                    ends.1
                );
            }
            links.insert(ends, (key, shaping));
        }
    }
    let mut out: Vec<Impairment> = links
        .into_iter()
        .map(|((a, b), (_, shaping))| Impairment {
            peer: a,
            to: Some(b),
            shaping,
        })
        .collect();
    for (p, o) in &settings.peers {
        let shaping = o.shaping();
        if shaping == Shaping::default() {
            continue;
        }
        shaping
            .check()
            .map_err(|e| anyhow::anyhow!("peers.{p}: {e}"))?;
        out.push(Impairment {
            peer: p.clone(),
            to: None,
            shaping,
        });
    }
    out.sort_by_key(|i| {
        (
            natural_key(&i.peer),
            i.to.is_none(),
            i.to.as_deref().map(natural_key),
        )
    });
    Ok(out)
}

/// `links` and `impair` in the file: each entry `[a, b]` or a map.
pub(super) mod link_list {
    use std::fmt;

    use serde::de::{self, MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Link;

    struct Entry(Link);

    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
            // A visitor rather than an untagged enum: errors keep their
            // key (`links[2].delay`) and their line.
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Entry;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a link: [peer-1, peer-2] or {a: peer-1, b: peer-2, delay: 80ms}")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                    let mut ends: Vec<String> = Vec::new();
                    while let Some(p) = seq.next_element()? {
                        ends.push(p);
                    }
                    match <[String; 2]>::try_from(ends) {
                        Ok([a, b]) => Ok(Entry(Link::new(a, b))),
                        Err(ends) => Err(de::Error::invalid_length(ends.len(), &"two peers")),
                    }
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                    Link::deserialize(de::value::MapAccessDeserializer::new(map)).map(Entry)
                }
            }
            d.deserialize_any(V)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Link>, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?
            .into_iter()
            .map(|e| e.0)
            .collect())
    }

    /// A link without shaping as `[a, b]`, as files always wrote it.
    pub fn serialize<S: Serializer>(links: &[Link], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(links.len()))?;
        for l in links {
            if l.shaping() == Default::default() {
                seq.serialize_element(&[&l.a, &l.b])?;
            } else {
                seq.serialize_element(l)?;
            }
        }
        seq.end()
    }
}

/// Shaping values in the file: a string the flag's parser takes (a bare
/// number is read as its text, so `loss: 2` is 2%), written back as the
/// flags print them.
macro_rules! value_format {
    ($name:ident, $t:ty, $parse:path, $fmt:expr, $what:literal) => {
        pub mod $name {
            use std::fmt;

            use serde::de::{self, Visitor};
            use serde::{Deserializer, Serializer};

            pub fn serialize<S: Serializer>(v: &Option<$t>, s: S) -> Result<S::Ok, S::Error> {
                match v {
                    Some(v) => s.serialize_str(&($fmt)(*v)),
                    None => s.serialize_none(),
                }
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Option<$t>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(None)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                        $parse(stringify!($name), v)
                            .map(Some)
                            .map_err(|e| E::custom(format!("{e:#}")))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

value_format!(
    duration,
    u64,
    crate::faults::net::parse_duration,
    crate::faults::net::units_fmt::duration,
    "a duration (80ms, 1s, 500us)"
);
value_format!(
    percent,
    f64,
    crate::faults::net::parse_percent,
    |v: f64| format!("{v}%"),
    "a percentage (2%)"
);
value_format!(
    rate,
    u64,
    crate::faults::net::parse_rate,
    crate::faults::net::units_fmt::rate,
    "a rate (1mbit, 500kbit, 100kbps)"
);
