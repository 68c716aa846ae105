//! Names of a deployment's objects, and the checks a config passes before
//! anything is planned.
//!
//! The default deployment (`mesh`) keeps the spec's names (`peer-1`,
//! `origin-db`, `micro-net`, ...); any other deployment prefixes them with
//! `<name>-`. Control containers are always prefixed (`mesh-tracker`).
//! Hostnames inside the deployment's networks are aliases (`peer-2`,
//! `tracker`, `edge-db-a`) and read the same everywhere.

use std::collections::BTreeSet;

use anyhow::bail;
use wire::contract::ports;

use super::Config;
use crate::conninfo::quote;

/// The deployment whose objects keep the spec's names unprefixed.
pub const DEFAULT_DEPLOYMENT: &str = "mesh";

pub const ORIGIN_DB: &str = "origin-db";
pub const EDGE_DB_A: &str = "edge-db-a";
pub const EDGE_DB_B: &str = "edge-db-b";

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

/// The subscription name of an edge (`edge-db-a` → `edge_db_a`).
pub fn subscription_name(edge: &str) -> String {
    edge.replace('-', "_")
}

/// How an edge database reaches origin (over the origin network).
pub fn origin_conninfo(config: &Config) -> String {
    format!(
        "host={ORIGIN_DB} port={} user={} password={} dbname={}",
        ports::POSTGRES,
        quote(&config.postgres_user),
        quote(&config.postgres_password),
        quote(&config.postgres_db)
    )
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

/// Everything about a config that can be refused before planning: names
/// Docker takes, four distinct networks, edge sets and overrides that name
/// existing peers, limits Docker accepts.
pub fn check(config: &Config) -> anyhow::Result<()> {
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
    for p in config.peers.keys() {
        if !known.contains(p) {
            bail!("peers: {p} is not one of the {} peers", config.count);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan;

    fn config(count: usize) -> Config {
        Config {
            count,
            postgres_password: "pw".into(),
            token: "tok".into(),
            ..Default::default()
        }
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
    fn conninfo_quotes() {
        let mut c = config(1);
        c.postgres_password = "a'b c".into();
        assert_eq!(
            origin_conninfo(&c),
            r"host=origin-db port=5432 user='mesh' password='a\'b c' dbname='songs'"
        );
    }
}
