//! The order in which a client miss tries its sources, apart from the I/O
//! so it can be tested alone.
//!
//! ```text
//! the first FIRST_HOLDERS holders (tracker's order; those that failed a
//!             moment ago, or that the tracker marks suspect, last)
//! this peer's own edge database (edge peers)
//! edge peers: the tracker's, then those remembered from earlier lookups,
//!             alternating between edge databases (a, b, a, b, ...), those
//!             that failed a moment ago last
//! the other holders
//! ```
//!
//! Holders past the first few come after the edges: when the first ones
//! all failed (peers dying faster than the tracker learns it), an edge is
//! likelier to answer than the next holder, and each try costs a path.
//!
//! Remembered edge peers make a miss end somewhere when the tracker is
//! unreachable, restarting or lost its state (it then knows no holder and
//! no edge); alternating databases means one stopped edge database costs
//! one attempt, not one per edge peer on it.

use std::collections::{BTreeMap, HashSet};
use wire::tracker::Candidate;

/// One source a miss may be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePlan {
    /// A holder or edge peer, reached by a route from signalling/topology.
    Peer(String),
    /// The rest of a relay route, next hop first.
    Route(Vec<String>),
    /// This peer's own edge database.
    OwnEdge,
}

/// Holders tried before the edges.
pub const FIRST_HOLDERS: usize = 4;

/// Most edge peers an agent remembers.
pub const MAX_REMEMBERED_EDGES: usize = 64;

/// What a client miss knows when it plans its sources.
pub struct Known<'a> {
    pub me: &'a str,
    /// This peer reads an edge database itself.
    pub own_edge: bool,
    /// The tracker's holders, in its order (empty when it did not answer).
    pub holders: &'a [Candidate],
    /// The tracker's edge peers, in its order (empty when it did not answer).
    pub edges: &'a [Candidate],
    /// Edge peers learned before: peer → its edge database, if known.
    pub remembered: &'a BTreeMap<String, Option<String>>,
}

/// The sources of a client miss, in the order to try them; `failed` says
/// whether a peer failed to serve a moment ago.
pub fn client_sources(k: &Known, failed: impl Fn(&str) -> bool) -> Vec<SourcePlan> {
    let mut seen: HashSet<&str> = HashSet::from([k.me]);
    let mut out = Vec::new();
    let holders: Vec<&Candidate> = k
        .holders
        .iter()
        .filter(|c| seen.insert(c.peer_id.as_str()))
        .collect();
    let (fresh, late): (Vec<&Candidate>, Vec<&Candidate>) = holders
        .into_iter()
        .partition(|c| !c.suspect && !failed(&c.peer_id));
    let mut holders = fresh
        .into_iter()
        .chain(late)
        .map(|c| SourcePlan::Peer(c.peer_id.clone()));
    out.extend(holders.by_ref().take(FIRST_HOLDERS));
    if k.own_edge {
        out.push(SourcePlan::OwnEdge);
    }
    let edges: Vec<(&str, Option<&str>)> = k
        .edges
        .iter()
        .map(|c| (c.peer_id.as_str(), c.edge.as_deref()))
        .chain(k.remembered.iter().map(|(p, e)| (p.as_str(), e.as_deref())))
        .filter(|(p, _)| seen.insert(p))
        .collect();
    let (fresh, late): (Vec<_>, Vec<_>) = edges.into_iter().partition(|(p, _)| !failed(p));
    for group in [fresh, late] {
        out.extend(
            alternate_databases(group)
                .into_iter()
                .map(|p| SourcePlan::Peer(p.to_string())),
        );
    }
    out.extend(holders);
    out
}

/// Edge peers reordered round-robin over their databases, each database's
/// peers in their given order, databases in order of first appearance.
fn alternate_databases<'a>(peers: Vec<(&'a str, Option<&'a str>)>) -> Vec<&'a str> {
    let mut dbs: Vec<(Option<&str>, std::collections::VecDeque<&str>)> = Vec::new();
    for (p, db) in peers {
        match dbs.iter_mut().find(|(d, _)| *d == db) {
            Some((_, q)) => q.push_back(p),
            None => dbs.push((db, std::collections::VecDeque::from([p]))),
        }
    }
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for (_, q) in dbs.iter_mut() {
            if let Some(p) = q.pop_front() {
                out.push(p);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The edge peers to remember after a lookup answered `edges`: the
/// tracker's list when it has any (it knows who is live), else what was
/// remembered before. At most [`MAX_REMEMBERED_EDGES`].
pub fn remember_edges(
    before: &BTreeMap<String, Option<String>>,
    edges: &[Candidate],
    me: &str,
) -> BTreeMap<String, Option<String>> {
    if edges.is_empty() {
        return before.clone();
    }
    edges
        .iter()
        .filter(|c| c.peer_id != me)
        .take(MAX_REMEMBERED_EDGES)
        .map(|c| (c.peer_id.clone(), c.edge.clone()))
        .collect()
}

/// The edge peers of topology's graph (nodes whose metadata names an edge
/// database), other than `me`.
pub fn edges_of_graph(
    graph: &wire::topology::GraphSnapshot,
    me: &str,
) -> BTreeMap<String, Option<String>> {
    graph
        .nodes
        .iter()
        .filter(|n| n.peer_id != me)
        .filter_map(|n| {
            n.metadata
                .get("edge")
                .map(|e| (n.peer_id.clone(), Some(e.clone())))
        })
        .take(MAX_REMEMBERED_EDGES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, edge: Option<&str>) -> Candidate {
        Candidate {
            peer_id: id.into(),
            region: "eu".into(),
            rtt_ms: 1,
            addr: format!("{id}:8080"),
            edge: edge.map(str::to_string),
            suspect: false,
        }
    }

    fn names(v: &[SourcePlan]) -> Vec<String> {
        v.iter()
            .map(|s| match s {
                SourcePlan::Peer(p) => p.clone(),
                SourcePlan::OwnEdge => "<own edge>".into(),
                SourcePlan::Route(r) => r.join(">"),
            })
            .collect()
    }

    fn remembered(v: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
        v.iter()
            .map(|(p, e)| (p.to_string(), Some(e.to_string())))
            .collect()
    }

    #[test]
    fn holders_then_own_edge_then_edges_alternating_databases() {
        let holders = [c("h1", None), c("me", None), c("h2", None)];
        let edges = [
            c("a1", Some("edge-db-a")),
            c("a2", Some("edge-db-a")),
            c("a3", Some("edge-db-a")),
            c("b1", Some("edge-db-b")),
            c("h2", Some("edge-db-b")),
        ];
        let none = BTreeMap::new();
        let k = Known {
            me: "me",
            own_edge: true,
            holders: &holders,
            edges: &edges,
            remembered: &none,
        };
        assert_eq!(
            names(&client_sources(&k, |p| p == "h1")),
            ["h2", "h1", "<own edge>", "a1", "b1", "a2", "a3"]
        );
    }

    #[test]
    fn a_few_holders_then_the_edges_then_the_rest_suspects_last() {
        let mut holders: Vec<Candidate> = (1..=7).map(|i| c(&format!("h{i}"), None)).collect();
        holders[0].suspect = true;
        let edges = [c("a1", Some("edge-db-a")), c("b1", Some("edge-db-b"))];
        let none = BTreeMap::new();
        let k = Known {
            me: "me",
            own_edge: false,
            holders: &holders,
            edges: &edges,
            remembered: &none,
        };
        assert_eq!(
            names(&client_sources(&k, |p| p == "h2")),
            ["h3", "h4", "h5", "h6", "a1", "b1", "h7", "h1", "h2"]
        );
    }

    #[test]
    fn remembered_edges_end_a_miss_the_tracker_cannot_help_with() {
        let mem = remembered(&[
            ("peer-1", "edge-db-a"),
            ("peer-2", "edge-db-b"),
            ("peer-3", "edge-db-a"),
        ]);
        // The tracker is down or lost its state: nothing from it.
        let k = Known {
            me: "peer-7",
            own_edge: false,
            holders: &[],
            edges: &[],
            remembered: &mem,
        };
        assert_eq!(
            names(&client_sources(&k, |_| false)),
            ["peer-1", "peer-2", "peer-3"]
        );
        // peer-1's database failed a moment ago: the other database first.
        assert_eq!(
            names(&client_sources(&k, |p| p == "peer-1")),
            ["peer-2", "peer-3", "peer-1"]
        );
        // The tracker's edges come first; remembered ones it did not list follow.
        let edges = [c("peer-2", Some("edge-db-b"))];
        let k = Known { edges: &edges, ..k };
        assert_eq!(
            names(&client_sources(&k, |_| false)),
            ["peer-2", "peer-1", "peer-3"]
        );
    }

    #[test]
    fn what_is_remembered() {
        let before = remembered(&[("peer-1", "edge-db-a")]);
        assert_eq!(remember_edges(&before, &[], "me"), before);
        let now = remember_edges(
            &before,
            &[c("peer-2", Some("edge-db-b")), c("me", Some("edge-db-a"))],
            "me",
        );
        assert_eq!(now, remembered(&[("peer-2", "edge-db-b")]));
        let g: wire::topology::GraphSnapshot = serde_json::from_str(
            r#"{"nodes":[{"peer_id":"peer-1","metadata":{"addr":"x:1","edge":"edge-db-a"}},
                         {"peer_id":"peer-5","metadata":{"addr":"y:1"}},
                         {"peer_id":"me","metadata":{"edge":"edge-db-b"}}],"edges":[]}"#,
        )
        .expect("graph");
        assert_eq!(edges_of_graph(&g, "me"), before);
    }
}
