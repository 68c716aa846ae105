//! `graph`: the live mesh from topology's `GET /graph`, with the databases,
//! the edge attachments and replication drawn in, as DOT, JSON or Mermaid.
//! Expired peers are absent because topology drops them.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::context::{self, natural_key, Role, LABEL_COMPONENT, LABEL_EDGE, LABEL_ROLE};
use crate::probe;
use crate::runtime::Runtime;
use anyhow::Context;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MeshGraph {
    pub deployment: String,
    /// Live peers, sorted.
    pub peers: Vec<String>,
    /// Mesh links between live peers, each once, sorted.
    pub links: Vec<[String; 2]>,
    /// Database containers (`origin-db`, `edge-db-a`, ...).
    pub databases: Vec<String>,
    /// `[edge-db, peer]`: a live edge peer reading that database.
    pub edge_links: Vec<[String; 2]>,
    /// `[origin-db, edge-db]`: logical replication.
    pub replication: Vec<[String; 2]>,
}

/// Reads the live graph of deployment `name`.
pub async fn graph(rt: &impl Runtime, name: &str) -> anyhow::Result<MeshGraph> {
    let d = context::discover(rt, name).await?;
    let topology = d
        .topology_url
        .context("the topology service of this deployment is not running")?;
    let snap: wire::topology::GraphSnapshot =
        probe::get_json(&probe::client()?, &format!("{topology}/graph")).await?;
    let containers = context::list_containers(rt, name).await?;
    let mut g = MeshGraph {
        deployment: name.to_string(),
        ..Default::default()
    };
    let live: BTreeSet<String> = snap.nodes.iter().map(|n| n.peer_id.clone()).collect();
    let mut links = BTreeSet::new();
    let mut add = |a: &String, b: &String| {
        if a != b && live.contains(a) && live.contains(b) {
            let pair = if natural_key(a) <= natural_key(b) {
                [a.clone(), b.clone()]
            } else {
                [b.clone(), a.clone()]
            };
            links.insert(pair);
        }
    };
    for [a, b] in &snap.edges {
        add(a, b);
    }
    for n in &snap.nodes {
        for m in &n.neighbors {
            add(&n.peer_id, m);
        }
    }
    let mut links: Vec<[String; 2]> = links.into_iter().collect();
    links.sort_by_key(|[a, b]| (natural_key(a), natural_key(b)));
    g.links = links;
    let mut peers: Vec<String> = live.iter().cloned().collect();
    peers.sort_by_key(|p| natural_key(p));
    g.peers = peers;
    for c in &containers {
        match c.label(LABEL_ROLE) {
            Some(r) if r == Role::Db.as_str() => {
                if let Some(db) = c.label(LABEL_COMPONENT) {
                    g.databases.push(db.to_string());
                }
            }
            Some(r) if r == Role::Peer.as_str() => {
                if let (Some(p), Some(edge)) = (c.label(LABEL_COMPONENT), c.label(LABEL_EDGE)) {
                    if live.contains(p) {
                        g.edge_links.push([edge.to_string(), p.to_string()]);
                    }
                }
            }
            _ => {}
        }
    }
    g.databases.sort();
    g.edge_links
        .sort_by_key(|[e, p]| (e.clone(), natural_key(p)));
    if g.databases.iter().any(|d| d == crate::plan::ORIGIN_DB) {
        g.replication = g
            .databases
            .iter()
            .filter(|d| *d != crate::plan::ORIGIN_DB)
            .map(|d| [crate::plan::ORIGIN_DB.to_string(), d.clone()])
            .collect();
    }
    Ok(g)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT (`dot -Tpng`).
pub fn to_dot(g: &MeshGraph) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "graph {} {{", quote(&format!("mesh {}", g.deployment)));
    let _ = writeln!(s, "  graph [overlap=false, splines=true];");
    let _ = writeln!(s, "  node [shape=circle, fontsize=10];");
    for p in &g.peers {
        let _ = writeln!(s, "  {};", quote(p));
    }
    for d in &g.databases {
        let _ = writeln!(
            s,
            "  {} [shape=cylinder, style=filled, fillcolor=lightblue];",
            quote(d)
        );
    }
    for [a, b] in &g.links {
        let _ = writeln!(s, "  {} -- {};", quote(a), quote(b));
    }
    for [e, p] in &g.edge_links {
        let _ = writeln!(
            s,
            "  {} -- {} [style=dashed, color=blue];",
            quote(e),
            quote(p)
        );
    }
    for [o, e] in &g.replication {
        let _ = writeln!(
            s,
            "  {} -- {} [style=bold, color=gray, label=\"replication\"];",
            quote(o),
            quote(e)
        );
    }
    s.push_str("}\n");
    s
}

/// A Mermaid flowchart.
pub fn to_mermaid(g: &MeshGraph) -> String {
    let id = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let mut s = String::from("graph LR\n");
    for p in &g.peers {
        let _ = writeln!(s, "  {}(({}))", id(p), p);
    }
    for d in &g.databases {
        let _ = writeln!(s, "  {}[({})]", id(d), d);
    }
    for [a, b] in &g.links {
        let _ = writeln!(s, "  {} --- {}", id(a), id(b));
    }
    for [e, p] in &g.edge_links {
        let _ = writeln!(s, "  {} -.- {}", id(e), id(p));
    }
    for [o, e] in &g.replication {
        let _ = writeln!(s, "  {} ==> {}", id(o), id(e));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MeshGraph {
        MeshGraph {
            deployment: "mesh".into(),
            peers: vec!["peer-1".into(), "peer-2".into()],
            links: vec![["peer-1".into(), "peer-2".into()]],
            databases: vec!["edge-db-a".into(), "origin-db".into()],
            edge_links: vec![["edge-db-a".into(), "peer-1".into()]],
            replication: vec![["origin-db".into(), "edge-db-a".into()]],
        }
    }

    #[test]
    fn dot_and_mermaid() {
        let dot = to_dot(&sample());
        assert!(dot.starts_with("graph \"mesh mesh\" {"));
        assert!(dot.contains("\"peer-1\" -- \"peer-2\";"));
        assert!(dot.contains("\"edge-db-a\" [shape=cylinder"));
        assert!(dot.trim_end().ends_with('}'));
        let m = to_mermaid(&sample());
        assert!(m.contains("peer_1 --- peer_2"));
        assert!(m.contains("origin_db ==> edge_db_a"));
        let empty = to_dot(&MeshGraph::default());
        assert!(empty.contains("graph"));
    }
}
