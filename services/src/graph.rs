//! The undirected mesh graph shared by topology (one graph) and signalling
//! (one per room).
//!
//! Each peer lists its neighbors; an edge `a — b` exists only when both ends
//! are present and each lists the other, so no peer can claim a link on its
//! own (a one-sided claim changes nobody's routes). Listing a peer that is
//! not (yet) present is remembered, so the edge appears when it arrives and
//! lists back.

use petgraph::graphmap::UnGraphMap;
use std::collections::{HashMap, VecDeque};

/// Why no path was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("unknown peer {0:?} (from)")]
    UnknownFrom(String),
    #[error("unknown peer {0:?} (to)")]
    UnknownTo(String),
    #[error("no path from {from:?} to {to:?}")]
    NoPath { from: String, to: String },
}

/// Peers, the neighbors each listed, and the edges that follow from them.
#[derive(Default)]
pub struct MeshGraph {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    free: Vec<u32>,
    /// The neighbor list each present peer gave, as given.
    listed: HashMap<u32, Vec<String>>,
    graph: UnGraphMap<u32, ()>,
}

impl MeshGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.listed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    pub fn contains(&self, peer: &str) -> bool {
        self.ids.contains_key(peer)
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The neighbor list `peer` gave, if present.
    pub fn listed(&self, peer: &str) -> Option<&[String]> {
        self.ids
            .get(peer)
            .and_then(|i| self.listed.get(i))
            .map(Vec::as_slice)
    }

    /// Adds `peer` or replaces its neighbor list; returns true when it is new.
    pub fn upsert(&mut self, peer: &str, neighbors: &[String]) -> bool {
        let (id, new) = match self.ids.get(peer) {
            Some(&id) => (id, false),
            None => {
                let id = match self.free.pop() {
                    Some(id) => {
                        self.names[id as usize] = peer.to_string();
                        id
                    }
                    None => {
                        self.names.push(peer.to_string());
                        (self.names.len() - 1) as u32
                    }
                };
                self.ids.insert(peer.to_string(), id);
                self.graph.add_node(id);
                (id, true)
            }
        };
        let mut list: Vec<String> = Vec::with_capacity(neighbors.len());
        for n in neighbors {
            if n != peer && !list.contains(n) {
                list.push(n.clone());
            }
        }
        // An edge needs both listings: whatever this peer no longer lists
        // loses its edge, whatever it lists gains one where the other end
        // lists it back.
        if let Some(old) = self.listed.remove(&id) {
            for n in old.iter().filter(|n| !list.contains(n)) {
                if let Some(&other) = self.ids.get(n) {
                    self.graph.remove_edge(id, other);
                }
            }
        }
        for n in &list {
            if let Some(&other) = self.ids.get(n) {
                let lists_back = self
                    .listed
                    .get(&other)
                    .is_some_and(|theirs| theirs.iter().any(|t| t == peer));
                if lists_back {
                    self.graph.add_edge(id, other, ());
                }
            }
        }
        self.listed.insert(id, list);
        new
    }

    /// Removes `peer` and every incident edge; returns true when it was present.
    pub fn remove(&mut self, peer: &str) -> bool {
        let Some(id) = self.ids.remove(peer) else {
            return false;
        };
        self.listed.remove(&id);
        self.graph.remove_node(id);
        self.names[id as usize].clear();
        self.free.push(id);
        true
    }

    /// Present peers, sorted.
    pub fn peers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.ids.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Every edge once as `[a, b]` with `a < b`, sorted.
    pub fn edges(&self) -> Vec<[String; 2]> {
        let mut v: Vec<[String; 2]> = self
            .graph
            .all_edges()
            .map(|(a, b, _)| {
                let (a, b) = (&self.names[a as usize], &self.names[b as usize]);
                if a < b {
                    [a.clone(), b.clone()]
                } else {
                    [b.clone(), a.clone()]
                }
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The present peers `peer` has an edge with, sorted.
    pub fn neighbors_of(&self, peer: &str) -> Vec<&str> {
        let Some(&id) = self.ids.get(peer) else {
            return Vec::new();
        };
        let mut v: Vec<&str> = self
            .graph
            .neighbors(id)
            .map(|n| self.names[n as usize].as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// Breadth-first shortest path, both ends included.
    pub fn shortest_path(&self, from: &str, to: &str) -> Result<Vec<String>, PathError> {
        self.shortest_path_avoiding::<&str>(from, to, &[])
    }

    /// Breadth-first shortest path from `from` to `to` through none of the
    /// peers named in `avoid`. The two ends are never avoided, and names that
    /// are not present are ignored; [`MeshGraph::avoided`] tells which ones
    /// took effect.
    pub fn shortest_path_avoiding<S: AsRef<str>>(
        &self,
        from: &str,
        to: &str,
        avoid: &[S],
    ) -> Result<Vec<String>, PathError> {
        let &src = self
            .ids
            .get(from)
            .ok_or_else(|| PathError::UnknownFrom(from.to_string()))?;
        let &dst = self
            .ids
            .get(to)
            .ok_or_else(|| PathError::UnknownTo(to.to_string()))?;
        if src == dst {
            return Ok(vec![from.to_string()]);
        }
        // Ids are dense (freed ones are reused), so predecessors fit a Vec.
        // An avoided peer is marked as seen before the search starts, so it
        // is never entered (and never left).
        const UNSEEN: u32 = u32::MAX;
        const AVOIDED: u32 = u32::MAX - 1;
        let mut prev = vec![UNSEEN; self.names.len()];
        for name in avoid {
            if let Some(&id) = self.ids.get(name.as_ref()) {
                if id != src && id != dst {
                    prev[id as usize] = AVOIDED;
                }
            }
        }
        let mut queue = VecDeque::from([src]);
        prev[src as usize] = src;
        while let Some(node) = queue.pop_front() {
            for next in self.graph.neighbors(node) {
                if prev[next as usize] != UNSEEN {
                    continue;
                }
                prev[next as usize] = node;
                if next == dst {
                    let mut path = vec![self.names[dst as usize].clone()];
                    let mut at = dst;
                    while at != src {
                        at = prev[at as usize];
                        path.push(self.names[at as usize].clone());
                    }
                    path.reverse();
                    return Ok(path);
                }
                queue.push_back(next);
            }
        }
        Err(PathError::NoPath {
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    /// The names of `avoid` that [`MeshGraph::shortest_path_avoiding`] acts
    /// on: present peers other than `from` and `to`, each once, in order.
    pub fn avoided<'a, S: AsRef<str>>(&self, from: &str, to: &str, avoid: &'a [S]) -> Vec<&'a str> {
        let mut v: Vec<&str> = Vec::new();
        for name in avoid.iter().map(AsRef::as_ref) {
            if name != from && name != to && self.contains(name) && !v.contains(&name) {
                v.push(name);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn edge_needs_both_ends_to_list_each_other() {
        let mut g = MeshGraph::new();
        g.upsert("a", &s(&["b"]));
        assert!(g.edges().is_empty(), "b is not present yet");
        g.upsert("b", &[]);
        assert!(g.edges().is_empty(), "a's claim alone is no edge");
        g.upsert("b", &s(&["a"]));
        assert_eq!(g.edges(), vec![["a".to_string(), "b".to_string()]]);
        // Either end withdrawing its listing removes the edge.
        g.upsert("a", &[]);
        assert!(g.edges().is_empty());
        g.upsert("a", &s(&["b"]));
        assert_eq!(g.edges().len(), 1);
        g.upsert("b", &[]);
        assert!(g.edges().is_empty());
    }

    #[test]
    fn a_one_sided_claim_changes_no_route() {
        let mut g = MeshGraph::new();
        g.upsert("a1", &s(&["a2"]));
        g.upsert("a2", &s(&["a1", "a3"]));
        g.upsert("a3", &s(&["a2"]));
        let before = g.shortest_path("a1", "a3").expect("path");
        g.upsert("evil", &s(&["a1", "a3"]));
        assert_eq!(g.shortest_path("a1", "a3").expect("path"), before);
        assert!(g.neighbors_of("evil").is_empty());
    }

    #[test]
    fn remove_drops_incident_edges_and_readd_restores_listed_ones() {
        let mut g = MeshGraph::new();
        g.upsert("a", &s(&["b", "c"]));
        g.upsert("b", &s(&["a", "c"]));
        g.upsert("c", &s(&["a", "b"]));
        assert_eq!(g.edge_count(), 3);
        assert!(g.remove("c"));
        assert_eq!(g.edges(), vec![["a".to_string(), "b".to_string()]]);
        g.upsert("c", &s(&["a", "b"]));
        assert_eq!(g.edge_count(), 3);
        assert!(!g.remove("zzz"));
    }

    #[test]
    fn bfs_finds_shortest_and_names_failures() {
        let mut g = MeshGraph::new();
        for (p, n) in [
            ("p1", vec!["p2", "p5"]),
            ("p2", vec!["p1", "p3"]),
            ("p3", vec!["p2", "p4"]),
            ("p4", vec!["p3", "p5"]),
            ("p5", vec!["p1", "p4"]),
            ("lone", vec![]),
        ] {
            g.upsert(p, &s(&n));
        }
        assert_eq!(g.shortest_path("p1", "p4").unwrap(), s(&["p1", "p5", "p4"]));
        assert_eq!(g.shortest_path("p1", "p1").unwrap(), s(&["p1"]));
        assert_eq!(
            g.shortest_path("x", "p1"),
            Err(PathError::UnknownFrom("x".into()))
        );
        assert_eq!(
            g.shortest_path("p1", "x"),
            Err(PathError::UnknownTo("x".into()))
        );
        assert!(matches!(
            g.shortest_path("p1", "lone"),
            Err(PathError::NoPath { .. })
        ));
    }

    /// A line a-b-c and a second way a-d-c.
    fn two_ways() -> MeshGraph {
        let mut g = MeshGraph::new();
        for (p, n) in [
            ("a", vec!["b", "d"]),
            ("b", vec!["a", "c"]),
            ("c", vec!["b", "d"]),
            ("d", vec!["a", "c"]),
        ] {
            g.upsert(p, &s(&n));
        }
        g
    }

    #[test]
    fn avoiding_a_peer_takes_the_other_way_or_none() {
        let g = two_ways();
        assert_eq!(g.shortest_path("a", "c").unwrap(), s(&["a", "b", "c"]));
        let none: [&str; 0] = [];
        assert_eq!(
            g.shortest_path_avoiding("a", "c", &none).unwrap(),
            s(&["a", "b", "c"])
        );
        assert_eq!(
            g.shortest_path_avoiding("a", "c", &["b"]).unwrap(),
            s(&["a", "d", "c"])
        );
        assert_eq!(
            g.shortest_path_avoiding("a", "c", &["d"]).unwrap(),
            s(&["a", "b", "c"])
        );
        assert_eq!(
            g.shortest_path_avoiding("a", "c", &["b", "d"]),
            Err(PathError::NoPath {
                from: "a".into(),
                to: "c".into()
            })
        );
        // Avoiding leaves the graph as it was.
        assert_eq!(g.shortest_path("a", "c").unwrap(), s(&["a", "b", "c"]));
    }

    #[test]
    fn the_ends_and_unknown_names_are_never_avoided() {
        let g = two_ways();
        assert_eq!(
            g.shortest_path_avoiding("a", "c", &["a", "c", "zzz", "b"])
                .unwrap(),
            s(&["a", "d", "c"])
        );
        assert_eq!(
            g.shortest_path_avoiding("a", "b", &["b", "a"]).unwrap(),
            s(&["a", "b"])
        );
        assert_eq!(
            g.shortest_path_avoiding("a", "a", &["a"]).unwrap(),
            s(&["a"])
        );
        assert_eq!(
            g.shortest_path_avoiding("x", "c", &["b"]),
            Err(PathError::UnknownFrom("x".into()))
        );
        assert_eq!(
            g.avoided("a", "c", &["a", "b", "zzz", "b", "d", "c"]),
            ["b", "d"]
        );
        assert!(g.avoided("a", "c", &["zzz"]).is_empty());
    }

    #[test]
    fn avoiding_finds_a_longer_way_around() {
        // A ring of six: p0..p5. Avoiding p1 sends p0 -> p2 the long way.
        let mut g = MeshGraph::new();
        for i in 0..6 {
            let n = [format!("p{}", (i + 5) % 6), format!("p{}", (i + 1) % 6)];
            g.upsert(&format!("p{i}"), &n);
        }
        assert_eq!(g.shortest_path("p0", "p2").unwrap(), s(&["p0", "p1", "p2"]));
        assert_eq!(
            g.shortest_path_avoiding("p0", "p2", &["p1"]).unwrap(),
            s(&["p0", "p5", "p4", "p3", "p2"])
        );
        // A freed and reused id is avoided by its new name only.
        g.remove("p4");
        assert!(g.shortest_path_avoiding("p0", "p2", &["p1"]).is_err());
        g.upsert("p4", &s(&["p3", "p5"]));
        assert_eq!(
            g.shortest_path_avoiding("p0", "p2", &["p1", "p4-old"])
                .unwrap(),
            s(&["p0", "p5", "p4", "p3", "p2"])
        );
    }
}
