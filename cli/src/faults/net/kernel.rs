//! What `tc` and `iptables` print in a peer's namespace, read back into
//! [`KernelState`].

use std::collections::{BTreeMap, BTreeSet};

use super::units::Shaping;
use super::{RULE_ISOLATE, RULE_NETEM, RULE_PARTITION, RULE_SHAPER};

/// One shaped direction, as `netem show` prints it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LinkRow {
    pub peer: String,
    /// A neighbour, or `all`.
    pub to: String,
    #[serde(flatten)]
    pub shaping: Shaping,
    /// Where delay, jitter, corruption and duplication are applied:
    /// `kernel` (netem; rate and loss are always the kernel's) or `shaper`.
    pub via: Via,
    /// With `via` shaper: its container's state (`running`, `exited`, ...)
    /// or `missing` (then the packets pass unshaped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shaper: Option<String>,
}

/// See [`LinkRow::via`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    #[default]
    Kernel,
    Shaper,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Kernel => "kernel",
            Via::Shaper => "shaper",
        }
    }
}

/// The meshctl-made state of one peer's namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelState {
    /// Class minor → its shaping (rate, netem).
    classes: BTreeMap<u16, Shaping>,
    /// Class minor → the destination its filter matches (`None`: all).
    filters: BTreeMap<u16, Option<String>>,
    /// `to` (peer name or `all`) → loss percent.
    losses: BTreeMap<String, f64>,
    /// `to` (peer name or `all`) → what its shaper applies.
    shapers: BTreeMap<String, Shaping>,
    /// Addresses cut off by partition rules.
    pub partitioned_from: BTreeSet<String>,
    pub isolated: bool,
}

/// Rates at or above this are the unshaped class of a netem-only link.
const UNLIMITED_BPS: u64 = 10_000_000_000;

impl KernelState {
    /// Parses the output of the read script (`## qdisc`, `## class`,
    /// `## filter`, `## iptables` sections).
    pub fn parse(out: &str) -> KernelState {
        let mut s = KernelState::default();
        let mut section = "";
        let mut pending_flow: Option<u16> = None;
        for line in out.lines() {
            if let Some(name) = line.strip_prefix("## ") {
                section = match name.split_whitespace().next() {
                    Some("qdisc") => "qdisc",
                    Some("class") => "class",
                    Some("filter") => "filter",
                    Some("iptables") => "iptables",
                    Some("mangle") => "mangle",
                    _ => "",
                };
                continue;
            }
            let t: Vec<&str> = line.split_whitespace().collect();
            match section {
                "qdisc" if t.get(1) == Some(&"netem") => {
                    let Some(m) = after(&t, "parent").and_then(minor_of) else {
                        continue;
                    };
                    let sh = s.classes.entry(m).or_default();
                    if let Some(i) = t.iter().position(|x| *x == "delay") {
                        sh.delay_us = t.get(i + 1).and_then(|v| tc_time(v));
                        sh.jitter_us = t.get(i + 2).and_then(|v| tc_time(v));
                    }
                    sh.corrupt = after(&t, "corrupt").and_then(pct);
                    sh.duplicate = after(&t, "duplicate").and_then(pct);
                }
                "class" if t.get(1) == Some(&"htb") => {
                    let Some(m) = t.get(2).and_then(|c| minor_of(c)) else {
                        continue;
                    };
                    let rate = after(&t, "rate").and_then(tc_rate);
                    s.classes.entry(m).or_default().rate_bps = rate.filter(|r| *r < UNLIMITED_BPS);
                }
                "filter" => {
                    if let Some(i) = t.iter().position(|x| x.trim_start_matches('*') == "flowid") {
                        pending_flow = t.get(i + 1).and_then(|c| minor_of(c));
                    } else if t.first() == Some(&"match") {
                        if let Some(m) = pending_flow.take() {
                            s.filters.insert(m, t.get(1).and_then(|v| match_ip(v)));
                        }
                    }
                }
                "iptables" => s.rule(&t),
                "mangle" => s.shaper_rule(&t),
                _ => {}
            }
        }
        s
    }

    /// A queueing rule: `--comment meshctl-shaper-<to>_<tag>`.
    fn shaper_rule(&mut self, t: &[&str]) {
        let Some(comment) = after(t, "--comment") else {
            return;
        };
        let comment = comment.trim_matches('"');
        let Some(rest) = comment.strip_prefix(&format!("{RULE_SHAPER}-")) else {
            return;
        };
        let Some((to, tag)) = rest.split_once('_') else {
            return;
        };
        if let Some(sh) = Shaping::from_shaper_tag(tag) {
            self.shapers.insert(to.to_string(), sh);
        }
    }

    fn rule(&mut self, t: &[&str]) {
        let Some(comment) = after(t, "--comment") else {
            return;
        };
        let comment = comment.trim_matches('"');
        let addr = |flag: &str| after(t, flag).map(|a| a.trim_end_matches("/32").to_string());
        if let Some(to) = comment.strip_prefix(&format!("{RULE_NETEM}-")) {
            let loss = after(t, "--probability")
                .and_then(|p| p.parse::<f64>().ok())
                .map_or(100.0, |p| (p * 100.0 * 1e6).round() / 1e6);
            self.losses.insert(to.to_string(), loss);
        } else if comment == RULE_PARTITION {
            if let Some(ip) = addr("-s").or_else(|| addr("-d")) {
                self.partitioned_from.insert(ip);
            }
        } else if comment == RULE_ISOLATE {
            self.isolated = true;
        }
    }

    /// The shaped directions of peer `peer`, naming destinations with
    /// `name_of`, sorted by destination.
    pub fn links(&self, peer: &str, name_of: &dyn Fn(&str) -> String) -> Vec<LinkRow> {
        let mut rows: BTreeMap<String, Shaping> = BTreeMap::new();
        for (m, sh) in &self.classes {
            let to = match self.filters.get(m) {
                Some(Some(ip)) => name_of(ip),
                Some(None) => "all".to_string(),
                None => continue,
            };
            rows.insert(to, sh.clone());
        }
        for (to, loss) in &self.losses {
            rows.entry(to.clone()).or_default().loss = Some(*loss);
        }
        for (to, sh) in &self.shapers {
            let row = rows.entry(to.clone()).or_default();
            row.delay_us = sh.delay_us;
            row.jitter_us = sh.jitter_us;
            row.corrupt = sh.corrupt;
            row.duplicate = sh.duplicate;
        }
        let mut out: Vec<LinkRow> = rows
            .into_iter()
            .filter(|(_, sh)| *sh != Shaping::default())
            .map(|(to, shaping)| LinkRow {
                peer: peer.to_string(),
                via: if self.shapers.contains_key(&to) {
                    Via::Shaper
                } else {
                    Via::Kernel
                },
                to,
                shaping,
                shaper: None,
            })
            .collect();
        out.sort_by_key(|r| crate::labels::natural_key(&r.to));
        out
    }
}

fn after<'a>(t: &[&'a str], key: &str) -> Option<&'a str> {
    let i = t.iter().position(|x| *x == key)?;
    t.get(i + 1).copied()
}

/// `1:1f` → 0x1f (tc class ids are hex).
fn minor_of(classid: &str) -> Option<u16> {
    let (major, minor) = classid.split_once(':')?;
    if major != "1" {
        return None;
    }
    u16::from_str_radix(minor, 16).ok()
}

/// `ac110005/ffffffff` → `172.17.0.5`; the match-all `00000000/00000000` → None.
fn match_ip(v: &str) -> Option<String> {
    let (value, mask) = v.split_once('/')?;
    if mask != "ffffffff" {
        return None;
    }
    let n = u32::from_str_radix(value, 16).ok()?;
    Some(std::net::Ipv4Addr::from(n).to_string())
}

fn pct(v: &str) -> Option<f64> {
    v.strip_suffix('%')?.parse().ok()
}

/// `200ms`, `10us`, `1.5s`, `1s` → microseconds.
fn tc_time(v: &str) -> Option<u64> {
    let at = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = v.split_at(at);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "s" => 1e6,
        "ms" => 1e3,
        "us" => 1.0,
        "ns" => 1e-3,
        _ => return None,
    };
    Some((n * scale).round() as u64)
}

/// `1Mbit`, `500Kbit`, `10Gbit`, `800bit` → bits per second.
fn tc_rate(v: &str) -> Option<u64> {
    let n = v.strip_suffix("bit")?;
    let (n, scale) = match n.chars().last()? {
        'K' | 'k' => (&n[..n.len() - 1], 1e3),
        'M' | 'm' => (&n[..n.len() - 1], 1e6),
        'G' | 'g' => (&n[..n.len() - 1], 1e9),
        _ => (n, 1.0),
    };
    Some((n.parse::<f64>().ok()? * scale).round() as u64)
}
