//! Tables for people; the commands print JSON of the same reports for
//! scripts. Every table is valid when empty.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};

use super::churn::ChurnBenchReport;
use super::figures::{human_bytes, pct};
use super::play::PlayReport;
use super::stats::StatsReport;
use super::swarm::SwarmReport;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    t
}

fn right(t: &mut Table, from: usize) {
    for i in from..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

/// A shortened id: `tone-00003-9f86d0…` (the full one is in the JSON).
fn short_id(id: &str) -> String {
    match wire::ids::sha256_of_id(id) {
        Some(sha) => format!("{}{}…", &id[..id.len() - 3 - sha.len()], &sha[..8]),
        None => id.to_string(),
    }
}

/// `meshctl play`: one row per request, then the total.
pub fn play(r: &PlayReport) -> String {
    let mut t = table(&[
        "#", "segment", "status", "peer", "source", "hops", "bytes", "latency", "sha256",
    ]);
    for (i, f) in r.fetches.iter().enumerate() {
        t.add_row(vec![
            Cell::new(i),
            Cell::new(short_id(&f.id)),
            Cell::new(if f.status == 0 {
                "-".into()
            } else {
                f.status.to_string()
            }),
            Cell::new(match (&f.peer, f.failovers) {
                (None, _) => "-".to_string(),
                (Some(p), 0) => p.clone(),
                (Some(p), n) => format!("{p} ({n} failover{})", if n == 1 { "" } else { "s" }),
            }),
            Cell::new(f.source.map_or("-", |s| s.as_str())),
            Cell::new(f.hops.map_or_else(|| "-".into(), |h| h.to_string())),
            Cell::new(f.bytes),
            Cell::new(format!("{:.1} ms", f.latency_ms)),
            Cell::new(match f.verified {
                Some(true) => "ok",
                Some(false) => "MISMATCH",
                None => "-",
            }),
        ]);
    }
    let tot = &r.totals;
    t.add_row(vec![
        Cell::new("total"),
        Cell::new(format!("{} segments", tot.segments)),
        Cell::new(format!("{} failed", tot.failed)),
        Cell::new(format!("{} failovers", tot.failovers)),
        Cell::new(format!("p2p {}", pct(tot.p2p_ratio))),
        Cell::new(tot.max_hops.map_or_else(|| "-".into(), |h| format!("≤{h}"))),
        Cell::new(tot.bytes),
        Cell::new(format!("p50 {}", ms(tot.latency_p50_ms))),
        Cell::new(format!("{} corrupt", tot.corrupt)),
    ]);
    right(&mut t, 5);
    let mut out = format!("{t}\n");
    out.push_str(&format!(
        "{}{} through {}: ffmpeg decoded {} of audio in {:.1} s (exit {}); cache {}, peer {}, edge {}\n",
        r.song,
        if r.master { " (master playlist)" } else { "" },
        r.peer,
        r.decoded_secs
            .map_or_else(|| "nothing".into(), |s| format!("{s:.1} s")),
        r.wall_secs,
        r.ffmpeg_exit
            .map_or_else(|| "killed".into(), |c| c.to_string()),
        human_bytes(tot.cache_bytes),
        human_bytes(tot.peer_bytes),
        human_bytes(tot.edge_bytes),
    ));
    let by_peer: Vec<String> = tot
        .by_peer
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    out.push_str(&format!(
        "answers by peer: {}; {} failovers ({})\n",
        if by_peer.is_empty() {
            "none".into()
        } else {
            by_peer.join(", ")
        },
        tot.failovers,
        if r.failover {
            "to the peer's mesh neighbours"
        } else {
            "off"
        },
    ));
    for m in &r.ffmpeg_messages {
        out.push_str(&format!("ffmpeg: {m}\n"));
    }
    if r.master {
        out.push_str(&format!(
            "the master playlist {} names peers by mesh address (http://<peer>:8080): \
             a player outside the mesh needs a proxy that maps them, as meshctl play --master runs\n",
            r.url
        ));
    } else {
        out.push_str(&format!(
            "play it yourself: ffmpeg -i {} -f null -   (or ffplay / VLC / hls.js on the same URL)\n",
            r.url
        ));
    }
    out
}

/// `meshctl stats`: one row per song, then the total.
pub fn stats(r: &StatsReport) -> String {
    let mut t = table(&[
        "song",
        "from caches",
        "via peers",
        "from edge DBs",
        "relayed",
        "edge reads",
        "origin → edges",
        "listeners",
        "p2p ratio",
        "ceiling",
    ]);
    let rows = r.songs.iter().map(|s| (s.song.as_str(), s));
    for (name, s) in rows.chain(std::iter::once(("total", &r.total))) {
        t.add_row(vec![
            name.to_string(),
            human_bytes(s.cache_bytes),
            human_bytes(s.peer_bytes),
            human_bytes(s.edge_bytes),
            human_bytes(s.relay_bytes),
            s.edge_reads.to_string(),
            s.origin_shipped_bytes
                .map_or_else(|| "-".into(), human_bytes),
            s.listeners.to_string(),
            pct(s.p2p_ratio),
            pct(s.p2p_ceiling),
        ]);
    }
    right(&mut t, 1);
    let mut out = format!("{t}\n");
    out.push_str(&format!(
        "{} peers answered, {} edge databases; p2p ratio = (caches + via peers) / all client bytes, ceiling (N−1)/N for N listening peers\n",
        r.peers, r.edges
    ));
    for (peer, why) in &r.unreachable {
        out.push_str(&format!("unreachable: {peer}: {why}\n"));
    }
    out
}

/// `meshctl bench swarm`.
pub fn swarm(r: &SwarmReport) -> String {
    let mut t = table(&["figure", "value"]);
    let rows: Vec<(&str, String)> = vec![
        ("song", r.song.clone()),
        (
            "listeners / peers / edge peers",
            format!("{} / {} / {}", r.listeners, r.peers, r.edge_peers),
        ),
        ("segments per listener", r.segments_per_listener.to_string()),
        ("segments received", r.segments_received.to_string()),
        ("bytes received", human_bytes(r.bytes)),
        (
            "from caches / via peers / from edge DBs",
            format!(
                "{} / {} / {}",
                human_bytes(r.cache_bytes),
                human_bytes(r.peer_bytes),
                human_bytes(r.edge_bytes)
            ),
        ),
        ("peer-to-peer ratio", pct(r.p2p_ratio)),
        ("ceiling (N−1)/N", pct(r.p2p_ceiling)),
        (
            "p2p ratio (agent counters)",
            pct(r.agents.as_ref().and_then(|a| a.p2p_ratio)),
        ),
        ("DB reads", r.db_reads.to_string()),
        (
            "DB reads per segment",
            r.db_reads_per_segment
                .map_or_else(|| "-".into(), |v| format!("{v:.2}")),
        ),
        ("latency p50", ms(r.latency_p50_ms)),
        ("latency p99", ms(r.latency_p99_ms)),
        ("latency max", ms(r.latency_max_ms)),
        ("failed segments", r.failed_segments.to_string()),
        ("corrupt responses", r.corrupt_responses.to_string()),
        ("retries", r.retries.to_string()),
        ("wall time", format!("{:.1} s", r.wall_secs)),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    right(&mut t, 1);
    let mut out = format!("{t}\n");
    if !r.stats_unreachable.is_empty() {
        out.push_str(&format!(
            "stats unreachable on: {}\n",
            r.stats_unreachable.join(", ")
        ));
    }
    out
}

/// `meshctl bench churn`: the phases, the live/dead split, then each fault.
pub fn churn(r: &ChurnBenchReport) -> String {
    let mut t = table(&[
        "phase",
        "from",
        "to",
        "segments",
        "failed",
        "p2p ratio",
        "p50",
        "p99",
        "retries",
        "failovers",
    ]);
    for p in &r.phases {
        t.add_row(vec![
            p.phase.clone(),
            format!("{:.1} s", p.from_ms / 1000.0),
            format!("{:.1} s", p.to_ms / 1000.0),
            p.segments.to_string(),
            p.failed_segments.to_string(),
            pct(p.p2p_ratio),
            ms(p.latency_p50_ms),
            ms(p.latency_p99_ms),
            p.retries.to_string(),
            p.failovers.to_string(),
        ]);
    }
    right(&mut t, 1);
    let mut out = format!("{t}\n");
    out.push_str(&format!(
        "failed segments: {} for {} listeners whose peer stayed up, {} for {} listeners whose peer was taken down; {} failovers, {} retries, {} corrupt; seed {}\n",
        r.failed_segments_live,
        r.listeners_live,
        r.failed_segments_dead,
        r.listeners_dead,
        r.failovers,
        r.swarm.retries,
        r.swarm.corrupt_responses,
        r.seed
    ));
    if !r.faults.is_empty() {
        let mut f = table(&[
            "at",
            "action",
            "target",
            "result",
            "tracker suspect",
            "tracker drop",
            "topology drop",
            "listeners resumed",
        ]);
        for x in &r.faults {
            f.add_row(vec![
                format!("{:.1} s", x.at_ms / 1000.0),
                x.action.clone(),
                x.target.clone(),
                x.result.clone(),
                ms(x.tracker_suspected_ms),
                ms(x.tracker_dropped_ms),
                ms(x.topology_dropped_ms),
                ms(x.listeners_resumed_ms),
            ]);
        }
        out.push_str(&format!("{f}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_reports_render() {
        let s = stats(&StatsReport::default());
        assert!(s.contains("total"));
        let w = swarm(&SwarmReport::default());
        assert!(w.contains("failed segments"));
        let sha = "ab".repeat(32);
        assert_eq!(
            short_id(&format!("tone-00001-{sha}.ts")),
            "tone-00001-abababab…"
        );
        assert_eq!(short_id("tone.m3u8"), "tone.m3u8");
    }
}
