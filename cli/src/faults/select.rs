//! Which containers a fault command acts on: named targets and the
//! `--random` selector, resolved against a deployment's containers. Pure:
//! the caller lists the containers (and, for a name the deployment lacks,
//! looks it up engine-wide) through the runtime.
//!
//! A pick is reproducible: the candidates are sorted in natural order and
//! shuffled by a seeded SplitMix64, a generator small enough to be written
//! here and so the same seed picks the same peers in every meshctl version.

use std::collections::BTreeSet;

use anyhow::{bail, Context};

use crate::labels::{natural_key, Role, LABEL_COMPONENT, LABEL_DEPLOYMENT, LABEL_EDGE, LABEL_ROLE};
use crate::runtime::{Container, ContainerState};

/// How many to pick: a count or a share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Count(usize),
    /// Percent, in (0, 100].
    Percent(f64),
}

impl Amount {
    /// `3` or `25%` (also `12.5%`); `flag` names the flag in errors.
    pub fn parse(flag: &str, s: &str) -> anyhow::Result<Amount> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .with_context(|| {
                    format!(
                        "{flag} {s:?}: not a percentage (use a count like 3 or a share like 25%)"
                    )
                })?;
            if v <= 0.0 {
                bail!("{flag} {s:?}: the percentage must be above 0");
            }
            if v > 100.0 {
                bail!("{flag} {s:?}: the percentage must be at most 100");
            }
            return Ok(Amount::Percent(v));
        }
        let n: usize = s
            .parse()
            .with_context(|| format!("{flag} {s:?}: not a count or a percentage (use 3 or 25%)"))?;
        if n == 0 {
            bail!("{flag} {s:?}: the count must be at least 1");
        }
        Ok(Amount::Count(n))
    }

    /// How many of `total`: a share is rounded to the nearest count, and is
    /// at least 1 of a non-empty set.
    pub fn of(self, total: usize) -> usize {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => {
                let n = (total as f64 * p / 100.0).round() as usize;
                n.clamp(usize::from(total > 0), total)
            }
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// What `--except` leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Except {
    /// Peers that read an edge database.
    EdgePeers,
    /// One target by name.
    Target(String),
}

impl Except {
    pub fn parse(s: &str) -> Except {
        match s {
            "edge-peers" => Except::EdgePeers,
            t => Except::Target(t.to_string()),
        }
    }

    /// Whether `c` is left out.
    pub fn excludes(&self, c: &Container) -> bool {
        match self {
            Except::EdgePeers => {
                c.label(LABEL_ROLE) == Some(Role::Peer.as_str()) && c.label(LABEL_EDGE).is_some()
            }
            Except::Target(t) => c.label(LABEL_COMPONENT) == Some(t) || c.name == *t,
        }
    }
}

/// The roles a fault may target.
pub const FAULT_ROLES: [Role; 3] = [Role::Peer, Role::Control, Role::Db];

/// What to act on: named targets plus, optionally, a random pick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub targets: Vec<String>,
    pub random: Option<Amount>,
    /// The role `random` picks from (peer when `None`).
    pub role: Option<Role>,
    pub seed: u64,
    pub except: Vec<Except>,
}

/// One container a fault acts on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// `peer-7`, `tracker`, `origin-db`.
    pub component: String,
    pub role: Role,
    /// The Docker name.
    pub container: String,
    pub id: String,
    pub state: ContainerState,
}

impl Target {
    /// `c` as a target, when it is a peer, control service or database.
    pub fn of(c: &Container) -> Option<Target> {
        let role = c.label(LABEL_ROLE).and_then(Role::parse)?;
        if !FAULT_ROLES.contains(&role) {
            return None;
        }
        Some(Target {
            component: c.label(LABEL_COMPONENT)?.to_string(),
            role,
            container: c.name.clone(),
            id: c.id.clone(),
            state: c.state,
        })
    }
}

/// What the engine knows of a name the deployment lacks, for the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elsewhere {
    /// No such container anywhere.
    Nowhere,
    /// A container of another deployment.
    Deployment(String),
    /// A container meshctl did not make.
    Foreign,
}

impl Elsewhere {
    pub fn of(c: Option<&Container>) -> Elsewhere {
        match c.and_then(|c| c.label(LABEL_DEPLOYMENT).map(|d| d.to_string())) {
            Some(d) => Elsewhere::Deployment(d),
            None if c.is_some() => Elsewhere::Foreign,
            None => Elsewhere::Nowhere,
        }
    }
}

/// Resolves `sel` against the `containers` of `deployment`. Every named
/// target must be a peer, control service or database of it; `elsewhere`
/// says what the engine knows of a name that is not (asked only for those).
/// All targets are checked before the caller acts on any. Sorted, no
/// duplicates.
pub fn resolve(
    deployment: &str,
    containers: &[Container],
    sel: &Selection,
    elsewhere: &dyn Fn(&str) -> Elsewhere,
) -> anyhow::Result<Vec<Target>> {
    if sel.targets.is_empty() && sel.random.is_none() {
        bail!("name at least one target (peer-3, tracker, origin-db, ...) or use --random");
    }
    if sel.random.is_none() && (sel.role.is_some() || !sel.except.is_empty()) {
        bail!("--role and --except choose what --random picks from: add --random");
    }
    let ours: Vec<Target> = containers.iter().filter_map(Target::of).collect();
    let mut errors = Vec::new();
    let mut chosen: Vec<Target> = Vec::new();
    for name in &sel.targets {
        let found = ours
            .iter()
            .find(|t| t.component == *name || t.container == *name);
        match found {
            Some(t) => chosen.push(t.clone()),
            None => errors.push(match elsewhere(name) {
                Elsewhere::Deployment(d) if d != deployment => format!(
                    "{name:?} belongs to deployment {d:?}, not {deployment:?} (use --name {d})"
                ),
                Elsewhere::Foreign => {
                    format!("{name:?} is a container meshctl did not make; it is left alone")
                }
                _ => format!(
                    "deployment {deployment:?} has no peer, control service or database {name:?}{}",
                    hint(&ours)
                ),
            }),
        }
    }
    if !errors.is_empty() {
        bail!("{}; nothing was changed", errors.join("; "));
    }
    if let Some(amount) = sel.random {
        let role = sel.role.unwrap_or(Role::Peer);
        let pool: Vec<&Container> = containers
            .iter()
            .filter(|c| c.label(LABEL_ROLE) == Some(role.as_str()))
            .filter(|c| !sel.except.iter().any(|e| e.excludes(c)))
            .collect();
        let pool: Vec<Target> = pool.into_iter().filter_map(Target::of).collect();
        let n = amount.of(pool.len());
        if pool.is_empty() {
            bail!(
                "--random {amount}: deployment {deployment:?} has no {} to pick from{}",
                plural(role),
                if sel.except.is_empty() {
                    ""
                } else {
                    " after --except"
                }
            );
        }
        if n > pool.len() {
            bail!(
                "--random {amount}: only {} {} to pick from",
                pool.len(),
                plural(role)
            );
        }
        chosen.extend(pick(pool, n, sel.seed));
    }
    chosen.sort_by_key(|t| natural_key(&t.component));
    chosen.dedup_by(|a, b| a.id == b.id);
    Ok(chosen)
}

fn plural(role: Role) -> &'static str {
    match role {
        Role::Peer => "peers",
        Role::Control => "control services",
        Role::Db => "databases",
        _ => "containers",
    }
}

/// ` (it has peer-1..peer-4, redis, ...)`, a short list of what exists.
fn hint(ours: &[Target]) -> String {
    let mut peers: Vec<&str> = Vec::new();
    let mut others: BTreeSet<&str> = BTreeSet::new();
    for t in ours {
        if t.role == Role::Peer {
            peers.push(&t.component);
        } else {
            others.insert(&t.component);
        }
    }
    peers.sort_by_key(|p| natural_key(p));
    let mut parts = Vec::new();
    match peers.as_slice() {
        [] => {}
        [one] => parts.push(one.to_string()),
        [first, .., last] => parts.push(format!("{first}..{last}")),
    }
    parts.extend(others.iter().map(|s| s.to_string()));
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (it has {})", parts.join(", "))
    }
}

/// `n` of `pool`, chosen by `seed`: sorted first, so the pick depends on
/// the deployment's names and the seed only.
pub fn pick(pool: Vec<Target>, n: usize, seed: u64) -> Vec<Target> {
    pick_by(pool, n, seed, |t| natural_key(&t.component))
}

/// `n` of `pool` after sorting it by `key`, chosen by `seed`: every
/// `--random` of meshctl picks this way.
pub fn pick_by<T, K: Ord>(
    mut pool: Vec<T>,
    n: usize,
    seed: u64,
    key: impl FnMut(&T) -> K,
) -> Vec<T> {
    pool.sort_by_key(key);
    let mut rng = SplitMix64(seed);
    // A partial Fisher-Yates shuffle: the first n are the pick.
    let len = pool.len();
    for i in 0..n.min(len) {
        let j = i + (rng.next_u64() % (len - i) as u64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny and fixed forever.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A seed for when none was given: printed, so the pick can be repeated.
pub fn fresh_seed() -> u64 {
    rand::random()
}

/// `500ms`, `5s`, `2m`, `1h` (a bare number is seconds); `flag` names the
/// flag in errors.
pub fn parse_duration(flag: &str, s: &str) -> anyhow::Result<std::time::Duration> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .with_context(|| format!("{flag} {s:?}: not a duration (use 500ms, 5s, 2m or 1h)"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        u => bail!("{flag} {s:?}: unknown unit {u:?} (use ms, s, m or h)"),
    };
    std::time::Duration::try_from_secs_f64(v * scale)
        .with_context(|| format!("{flag} {s:?}: out of range"))
}
