//! The groups of a partition: named lists of peers, a random group, and the
//! peers nearest each edge database; the peers left over form one more
//! group. Pure: the caller reads the running peers and the live graph.
//!
//! "Nearest" is by mesh hops: a breadth-first search starts at once from
//! the edge peers of every edge database of the deployment, and each peer
//! belongs to the edge whose search reaches it first (ties go to the edge
//! that comes first by name). `--around edge-db-a` on a deployment with
//! two edges so cuts the mesh into two halves, each keeping its edge peers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::bail;

use super::select::{pick_by, Amount};
use crate::labels::natural_key;

/// What `partition` was asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSpec {
    /// Groups named on the command line.
    pub named: Vec<Vec<String>>,
    /// One more group of this many peers, chosen by `seed`.
    pub random: Option<Amount>,
    /// One group per edge database named: the peers nearest it.
    pub around: Vec<String>,
    pub seed: u64,
}

/// The live mesh as the split needs it.
#[derive(Debug, Clone, Default)]
pub struct MeshView {
    /// Running peers.
    pub peers: Vec<String>,
    /// Mesh links, each once.
    pub links: Vec<[String; 2]>,
    /// `[edge-db, peer]` for every edge peer.
    pub edge_links: Vec<[String; 2]>,
}

/// Resolves `spec` into two or more disjoint, non-empty groups, each
/// sorted; the peers in no group form the last one. Every name is checked
/// first; an error names what was wrong.
pub fn groups(spec: &GroupSpec, view: &MeshView) -> anyhow::Result<Vec<Vec<String>>> {
    if spec.named.is_empty() && spec.random.is_none() && spec.around.is_empty() {
        bail!("partition: give a group (peer-1,peer-2), --random N or --around EDGE-DB");
    }
    let running: BTreeSet<&str> = view.peers.iter().map(String::as_str).collect();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    for g in &spec.named {
        if g.is_empty() {
            bail!("partition: an empty group");
        }
        for p in g {
            if !running.contains(p.as_str()) {
                bail!("partition: {p:?} is not a running peer of this deployment (see `meshctl status`)");
            }
            if !taken.insert(p.clone()) {
                bail!("partition: peer {p:?} is in two groups");
            }
        }
        out.push(g.clone());
    }
    let edges: BTreeSet<&str> = view.edge_links.iter().map(|[e, _]| e.as_str()).collect();
    for e in &spec.around {
        if !edges.contains(e.as_str()) {
            let have: Vec<&str> = edges.iter().copied().collect();
            bail!(
                "--around {e}: not an edge database with a running edge peer (this deployment has {})",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            );
        }
    }
    if let Some(amount) = spec.random {
        let pool: Vec<String> = view
            .peers
            .iter()
            .filter(|p| !taken.contains(*p))
            .cloned()
            .collect();
        let n = amount.of(pool.len());
        if pool.is_empty() || n >= pool.len() {
            bail!(
                "--random {amount}: {} peer(s) are not in a named group; the random group must leave at least one on the other side",
                pool.len()
            );
        }
        let g = pick_by(pool, n, spec.seed, |p| natural_key(p));
        taken.extend(g.iter().cloned());
        out.push(g);
    }
    if !spec.around.is_empty() {
        let owner = nearest_edge(view);
        let mut seen = BTreeSet::new();
        for e in &spec.around {
            if !seen.insert(e) {
                bail!("--around {e}: named twice");
            }
            let g: Vec<String> = view
                .peers
                .iter()
                .filter(|p| !taken.contains(*p) && owner.get(*p) == Some(e))
                .cloned()
                .collect();
            if g.is_empty() {
                bail!("--around {e}: every peer nearest it is already in another group");
            }
            taken.extend(g.iter().cloned());
            out.push(g);
        }
    }
    let rest: Vec<String> = view
        .peers
        .iter()
        .filter(|p| !taken.contains(*p))
        .cloned()
        .collect();
    if !rest.is_empty() {
        out.push(rest);
    }
    if out.len() < 2 {
        bail!("partition: that leaves one group only (every running peer is in it); name another");
    }
    for g in &mut out {
        g.sort_by_key(|p| natural_key(p));
    }
    Ok(out)
}

/// Each peer reachable from an edge peer → the edge database whose search
/// reaches it first.
pub fn nearest_edge(view: &MeshView) -> BTreeMap<String, String> {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for [a, b] in &view.links {
        adj.entry(a).or_default().push(b);
        adj.entry(b).or_default().push(a);
    }
    for v in adj.values_mut() {
        v.sort_by_key(|p| natural_key(p));
        v.dedup();
    }
    let running: BTreeSet<&str> = view.peers.iter().map(String::as_str).collect();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: VecDeque<(&str, &str)> = VecDeque::new();
    let mut starts: Vec<&[String; 2]> = view.edge_links.iter().collect();
    starts.sort_by_key(|[e, p]| (e.clone(), natural_key(p)));
    for [e, p] in starts {
        if running.contains(p.as_str()) && !owner.contains_key(p) {
            owner.insert(p.clone(), e.clone());
            queue.push_back((p, e));
        }
    }
    while let Some((p, e)) = queue.pop_front() {
        for q in adj.get(p).into_iter().flatten() {
            if running.contains(q) && !owner.contains_key(*q) {
                owner.insert(q.to_string(), e.to_string());
                queue.push_back((q, e));
            }
        }
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A line peer-1 .. peer-8, edge-db-a at peer-1, edge-db-b at peer-8.
    fn line() -> MeshView {
        let peers: Vec<String> = (1..=8).map(|i| format!("peer-{i}")).collect();
        let links = (1..8)
            .map(|i| [format!("peer-{i}"), format!("peer-{}", i + 1)])
            .collect();
        MeshView {
            peers,
            links,
            edge_links: vec![
                ["edge-db-a".into(), "peer-1".into()],
                ["edge-db-b".into(), "peer-8".into()],
            ],
        }
    }

    #[test]
    fn around_one_edge_cuts_the_line_in_halves() {
        let spec = GroupSpec {
            around: names(&["edge-db-a"]),
            ..Default::default()
        };
        let g = groups(&spec, &line()).unwrap();
        assert_eq!(
            g,
            vec![
                names(&["peer-1", "peer-2", "peer-3", "peer-4"]),
                names(&["peer-5", "peer-6", "peer-7", "peer-8"]),
            ]
        );
        let both = GroupSpec {
            around: names(&["edge-db-b", "edge-db-a"]),
            ..Default::default()
        };
        let g = groups(&both, &line()).unwrap();
        assert_eq!(g[0], names(&["peer-5", "peer-6", "peer-7", "peer-8"]));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn one_named_group_is_cut_from_the_rest() {
        let spec = GroupSpec {
            named: vec![names(&["peer-3", "peer-2"])],
            ..Default::default()
        };
        let g = groups(&spec, &line()).unwrap();
        assert_eq!(g[0], names(&["peer-2", "peer-3"]));
        assert_eq!(g[1].len(), 6);
        assert!(!g[1].contains(&"peer-2".to_string()));
    }

    #[test]
    fn random_group_is_reproducible_by_seed() {
        let spec = |seed| GroupSpec {
            random: Some(Amount::Count(3)),
            seed,
            ..Default::default()
        };
        let a = groups(&spec(7), &line()).unwrap();
        let b = groups(&spec(7), &line()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].len(), 3);
        assert_eq!(a[1].len(), 5);
        let others: Vec<_> = (0..20)
            .map(|s| groups(&spec(s), &line()).unwrap())
            .collect();
        assert!(others.iter().any(|o| o[0] != a[0]), "seeds change the pick");
        let half = GroupSpec {
            random: Some(Amount::Percent(50.0)),
            seed: 1,
            ..Default::default()
        };
        assert_eq!(groups(&half, &line()).unwrap()[0].len(), 4);
    }

    #[test]
    fn bad_groups_name_what_is_wrong() {
        let err = |spec: GroupSpec| groups(&spec, &line()).unwrap_err().to_string();
        assert!(err(GroupSpec::default()).contains("give a group"));
        let e = err(GroupSpec {
            named: vec![names(&["peer-1", "peer-99"])],
            ..Default::default()
        });
        assert!(e.contains("peer-99"), "{e}");
        let e = err(GroupSpec {
            named: vec![names(&["peer-1"]), names(&["peer-1", "peer-2"])],
            ..Default::default()
        });
        assert!(e.contains("two groups"), "{e}");
        let e = err(GroupSpec {
            around: names(&["edge-db-c"]),
            ..Default::default()
        });
        assert!(
            e.contains("edge-db-c") && e.contains("edge-db-a, edge-db-b"),
            "{e}"
        );
        let e = err(GroupSpec {
            random: Some(Amount::Count(8)),
            ..Default::default()
        });
        assert!(e.contains("--random 8"), "{e}");
        let all = names(
            &(1..=8)
                .map(|i| format!("peer-{i}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let e = err(GroupSpec {
            named: vec![all],
            ..Default::default()
        });
        assert!(e.contains("one group only"), "{e}");
    }

    #[test]
    fn unreachable_peers_join_the_rest() {
        let mut v = line();
        v.peers.push("peer-9".into());
        let owner = nearest_edge(&v);
        assert!(!owner.contains_key("peer-9"));
        let spec = GroupSpec {
            around: names(&["edge-db-a", "edge-db-b"]),
            ..Default::default()
        };
        let g = groups(&spec, &v).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[2], names(&["peer-9"]));
    }
}
