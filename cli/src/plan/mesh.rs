//! The generated mesh: a connected, symmetric partial mesh over the peers,
//! the same for the same seed on every machine and every version.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;

use crate::labels::natural_key;

/// A reproducible stream of numbers (splitmix64): the same seed gives the
/// same mesh on every machine and every version of this program.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A connected, symmetric partial mesh over `names`: a random spanning tree
/// whose nodes stay under `degree` neighbors, then random extra links until
/// each peer has about `degree`; plus the explicit `links`. `degree` 0 takes
/// the explicit links alone (they must connect every peer).
pub fn mesh(
    names: &[String],
    degree: usize,
    seed: u64,
    links: &[(String, String)],
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let n = names.len();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut adj: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    if degree == 1 && n > 2 {
        bail!("degree 1 cannot connect {n} peers: use 2 or more (or 0 with explicit links)");
    }
    if degree > 0 && n > 1 {
        let mut rng = SplitMix(seed);
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let cap = degree.max(2);
        for k in 1..n {
            let open: Vec<usize> = order[..k]
                .iter()
                .copied()
                .filter(|&j| adj[j].len() < cap)
                .collect();
            // The last added node has one link and cap ≥ 2, so `open` is
            // never empty.
            let j = open[rng.below(open.len())];
            let i = order[k];
            adj[i].insert(j);
            adj[j].insert(i);
        }
        let target = degree.min(n - 1);
        for _round in 0..4 {
            for &i in &order {
                let mut tries = 0;
                while adj[i].len() < target && tries < 8 * n {
                    tries += 1;
                    let j = rng.below(n);
                    if j != i && adj[j].len() < target && !adj[i].contains(&j) {
                        adj[i].insert(j);
                        adj[j].insert(i);
                    }
                }
            }
        }
    }
    for (a, b) in links {
        let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) else {
            bail!("links: {a} -- {b} names a peer that is not in the deployment");
        };
        if i == j {
            bail!("links: {a} -- {b} links a peer to itself");
        }
        adj[i].insert(j);
        adj[j].insert(i);
    }
    // Connected?
    if n > 0 {
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for &j in &adj[i] {
                if !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            bail!(
                "the mesh is not connected: {} is cut off from {} (raise degree or add links)",
                names[i],
                names[0]
            );
        }
    }
    let mut out = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut ns: Vec<String> = adj[i].iter().map(|&j| names[j].clone()).collect();
        ns.sort_by_key(|s| natural_key(s));
        out.insert(name.clone(), ns);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<String> {
        (1..=count).map(|i| format!("peer-{i}")).collect()
    }

    fn connected(m: &BTreeMap<String, Vec<String>>) -> bool {
        let start = m.keys().next().unwrap().clone();
        let mut seen = BTreeSet::from([start.clone()]);
        let mut stack = vec![start];
        while let Some(p) = stack.pop() {
            for q in &m[&p] {
                if seen.insert(q.clone()) {
                    stack.push(q.clone());
                }
            }
        }
        seen.len() == m.len()
    }

    #[test]
    fn mesh_is_connected_symmetric_and_reproducible() {
        for n in [1, 2, 3, 6, 25, 160] {
            for degree in [2, 3, 4, 8] {
                for seed in [1, 7, 42] {
                    let m = mesh(&names(n), degree, seed, &[]).unwrap();
                    assert_eq!(m.len(), n);
                    assert!(connected(&m), "n={n} degree={degree} seed={seed}");
                    for (p, ns) in &m {
                        assert!(!ns.contains(p));
                        for q in ns {
                            assert!(m[q].contains(p), "{p} -> {q} not symmetric");
                        }
                        if n > 1 {
                            assert!(!ns.is_empty());
                        }
                        assert!(ns.len() <= degree.max(2), "{p} has {} > {degree}", ns.len());
                    }
                    assert_eq!(m, mesh(&names(n), degree, seed, &[]).unwrap());
                }
            }
        }
        assert_ne!(
            mesh(&names(40), 4, 1, &[]).unwrap(),
            mesh(&names(40), 4, 2, &[]).unwrap()
        );
        // Most peers reach the target degree.
        let m = mesh(&names(160), 4, 1, &[]).unwrap();
        let full = m.values().filter(|v| v.len() == 4).count();
        assert!(full >= 150, "{full}");
    }

    #[test]
    fn explicit_links_alone_must_connect() {
        let three = names(3);
        let line = vec![
            ("peer-1".to_string(), "peer-2".to_string()),
            ("peer-2".to_string(), "peer-3".to_string()),
        ];
        let m = mesh(&three, 0, 1, &line).unwrap();
        assert_eq!(m["peer-2"], ["peer-1", "peer-3"]);
        let err = mesh(&three, 0, 1, &line[..1]).unwrap_err();
        assert!(err.to_string().contains("peer-3 is cut off"), "{err}");
        assert!(mesh(&three, 0, 1, &[("peer-1".into(), "peer-9".into())]).is_err());
        assert!(mesh(&names(5), 1, 1, &[]).is_err());
    }
}
