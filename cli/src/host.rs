//! Changes to the host itself, apart from the engine: today the kernel's
//! neighbour (ARP) table, which every container shares.

use std::collections::BTreeMap;

use anyhow::bail;

/// The kernel's neighbour (ARP) table is one table for all network
/// namespaces, capped at `net.ipv4.neigh.default.gc_thresh3` entries (1024
/// by default). Every container keeps entries for the containers it talks
/// to, so a mesh of 160 peers holds well over 1024 of them at once: past the
/// cap the kernel drops packets to new destinations ("neighbor table
/// overflow") and connections between containers time out.
const NEIGH_SYSCTL: &str = "/proc/sys/net/ipv4/neigh/default";

/// ARP entries a deployment may hold at once over all namespaces: per peer,
/// one for each mesh neighbor, plus about nine around it (its gateway, the
/// tracker, topology, signalling and an edge database in its namespace; its
/// own entry in the host's namespace, behind the published port, and in the
/// tracker's, topology's and signalling's).
pub fn neighbour_entries(neighbors: &BTreeMap<String, Vec<String>>) -> u64 {
    neighbors.values().map(|n| n.len() as u64 + 9).sum()
}

/// New `[gc_thresh1, gc_thresh2, gc_thresh3]` so the table holds twice what
/// a deployment needs (other deployments share it), or `None` when the
/// current thresholds already do. Never lowers a threshold.
pub fn raised_neighbour_thresholds(current: [u64; 3], needed: u64) -> Option<[u64; 3]> {
    let want = needed.saturating_mul(2);
    if current[2] >= want {
        return None;
    }
    let hard = want.next_power_of_two().max(current[1]);
    let soft = current[1].max(hard / 2);
    Some([current[0].min(soft), soft, hard])
}

/// Makes sure the host's neighbour table can hold a deployment with these
/// symmetric `neighbors`: raises the thresholds when needed (as root) and
/// answers what it did; fails when the table is too small and cannot be
/// raised. Skipped when the daemon is not on this host (`DOCKER_HOST`).
pub fn ensure_neighbour_table(
    neighbors: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<Option<String>> {
    if std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty() && !h.starts_with("unix://")) {
        return Ok(None);
    }
    let read = |i: usize| -> Option<u64> {
        std::fs::read_to_string(format!("{NEIGH_SYSCTL}/gc_thresh{i}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let (Some(t1), Some(t2), Some(t3)) = (read(1), read(2), read(3)) else {
        return Ok(None);
    };
    let needed = neighbour_entries(neighbors);
    let Some(new) = raised_neighbour_thresholds([t1, t2, t3], needed) else {
        return Ok(None);
    };
    // The hard cap first, so gc_thresh2 never exceeds gc_thresh3.
    let written = [(3, t3, new[2]), (2, t2, new[1]), (1, t1, new[0])]
        .iter()
        .filter(|(_, was, v)| was != v)
        .map(|(i, _, v)| (i, v))
        .try_for_each(|(i, v)| {
            std::fs::write(format!("{NEIGH_SYSCTL}/gc_thresh{i}"), v.to_string())
        });
    match written {
        Ok(()) => Ok(Some(format!(
            "raised the host's neighbour (ARP) table from {t3} to {} entries \
             (net.ipv4.neigh.default.gc_thresh3; gc_thresh2 {t2} -> {}): \
             {} peers need about {needed}",
            new[2],
            new[1],
            neighbors.len()
        ))),
        Err(_) if t3 >= needed => Ok(None),
        Err(e) => bail!(
            "the host's neighbour (ARP) table, shared by all containers, holds at most {t3} \
             entries (net.ipv4.neigh.default.gc_thresh3) and {} peers need about {needed}: \
             past it connections between containers time out. Raising it failed ({e}); as root: \
             sysctl -w net.ipv4.neigh.default.gc_thresh3={} net.ipv4.neigh.default.gc_thresh2={}",
            neighbors.len(),
            new[2],
            new[1]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbour_table_is_raised_only_when_a_deployment_needs_it() {
        // 160 peers of degree 4, as `meshctl up --count 160` plans them.
        let neighbors: BTreeMap<String, Vec<String>> = (1..=160)
            .map(|i| (format!("peer-{i}"), vec!["x".to_string(); 4]))
            .collect();
        let needed = neighbour_entries(&neighbors);
        assert_eq!(needed, 160 * 13);
        // The kernel's defaults overflow (seen as connect timeouts).
        assert_eq!(
            raised_neighbour_thresholds([128, 512, 1024], needed),
            Some([128, 4096, 8192])
        );
        // Enough already: nothing changes, nothing is lowered.
        assert_eq!(
            raised_neighbour_thresholds([1024, 4096, 8192], needed),
            None
        );
        assert_eq!(raised_neighbour_thresholds([128, 512, 1024], 100), None);
        // A soft threshold above the new hard cap's half is kept.
        assert_eq!(
            raised_neighbour_thresholds([128, 6000, 1024], needed),
            Some([128, 6000, 8192])
        );
    }
}

/// CPU time a host process has used (user + system, all its threads), in
/// clock ticks of `/proc` (USER_HZ, 100 a second), from `/proc/<pid>/stat`.
/// `None` where the process is not visible (an Engine on another host, or
/// another PID namespace).
pub fn cpu_ticks(pid: i64) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&text)
}

/// `/proc` counts CPU time in these per second on every Linux.
pub const USER_HZ: f64 = 100.0;

/// utime + stime from a `/proc/<pid>/stat` line: fields 14 and 15, counted
/// after the command name, which sits in parentheses and may hold spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ")": state is field 3, so utime (14) is the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn cpu_ticks_of_a_stat_line() {
        let line = "4242 (mesh agent) S 4200 4242 4242 0 -1 4194560 2000 0 0 0 \
                    1234 567 0 0 20 0 5 0 99999 10000000 900 18446744073709551615";
        assert_eq!(parse_cpu_ticks(line), Some(1234 + 567));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2"), None);
        // This process can read itself.
        assert!(cpu_ticks(i64::from(std::process::id())).is_some());
    }
}
