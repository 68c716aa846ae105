//! Every peer's `GET /stats` (`wire::agent::AgentStats`) added up per song.
//!
//! Client bytes are counted once, by the peer that answered the listener,
//! under where they came from: its own cache, another peer (relayed hop by
//! hop) or an edge database. The peer-to-peer ratio is
//! `(cache + peer) / (cache + peer + edge)`; its ceiling for N listeners of a
//! song is `(N − 1) / N`, since each segment leaves a database once. N here
//! is the number of peers that answered clients for the song.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{stream, StreamExt};
use wire::agent::{AgentStats, SongCounters};

use super::figures::{p2p_ceiling, p2p_ratio};
use super::PeerRef;

/// Requests in flight at once when asking every peer.
const FAN_OUT: usize = 32;

/// Asks every peer for `GET /stats`; a peer that does not answer within
/// `timeout` gets an error string instead.
pub async fn collect(
    peers: &[PeerRef],
    http: &reqwest::Client,
    timeout: Duration,
) -> Vec<(String, Result<AgentStats, String>)> {
    let mut out: Vec<_> = stream::iter(peers.iter().cloned())
        .map(|p| async move {
            let url = format!("{}/stats", p.url.trim_end_matches('/'));
            let r = async {
                let resp = http
                    .get(&url)
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(|e| format!("{e}"))?;
                if !resp.status().is_success() {
                    return Err(format!("GET /stats answered {}", resp.status()));
                }
                resp.json::<AgentStats>().await.map_err(|e| format!("{e}"))
            }
            .await;
            (p.name, r)
        })
        .buffer_unordered(FAN_OUT)
        .collect()
        .await;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `a += b`, field by field.
pub fn add(a: &mut SongCounters, b: &SongCounters) {
    a.client_bytes_cache += b.client_bytes_cache;
    a.client_bytes_peer += b.client_bytes_peer;
    a.client_bytes_edge += b.client_bytes_edge;
    a.client_requests += b.client_requests;
    a.client_failures += b.client_failures;
    a.relay_bytes += b.relay_bytes;
    a.edge_reads += b.edge_reads;
    a.edge_read_bytes += b.edge_read_bytes;
}

/// `after − before`, field by field; a counter that went down (the agent
/// restarted) counts from zero.
pub fn delta(after: &SongCounters, before: &SongCounters) -> SongCounters {
    let d = |a: u64, b: u64| if a >= b { a - b } else { a };
    SongCounters {
        client_bytes_cache: d(after.client_bytes_cache, before.client_bytes_cache),
        client_bytes_peer: d(after.client_bytes_peer, before.client_bytes_peer),
        client_bytes_edge: d(after.client_bytes_edge, before.client_bytes_edge),
        client_requests: d(after.client_requests, before.client_requests),
        client_failures: d(after.client_failures, before.client_failures),
        relay_bytes: d(after.relay_bytes, before.relay_bytes),
        edge_reads: d(after.edge_reads, before.edge_reads),
        edge_read_bytes: d(after.edge_read_bytes, before.edge_read_bytes),
    }
}

/// Per peer and song, what changed between two collections.
pub fn delta_all(after: &[AgentStats], before: &[AgentStats]) -> Vec<AgentStats> {
    let before: BTreeMap<&str, &AgentStats> =
        before.iter().map(|s| (s.peer_id.as_str(), s)).collect();
    after
        .iter()
        .map(|a| {
            let mut d = AgentStats {
                peer_id: a.peer_id.clone(),
                edge: a.edge.clone(),
                ..Default::default()
            };
            for (song, c) in &a.songs {
                let prev = before
                    .get(a.peer_id.as_str())
                    .and_then(|b| b.songs.get(song))
                    .cloned()
                    .unwrap_or_default();
                d.songs.insert(song.clone(), delta(c, &prev));
            }
            d
        })
        .collect()
}

/// One song's figures over the whole mesh.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SongStats {
    pub song: String,
    pub cache_bytes: u64,
    pub peer_bytes: u64,
    pub edge_bytes: u64,
    pub client_bytes: u64,
    pub client_requests: u64,
    pub client_failures: u64,
    /// Bytes forwarded between peers on relay requests (each hop counts).
    pub relay_bytes: u64,
    pub edge_reads: u64,
    pub edge_read_bytes: u64,
    /// Peers that answered clients for the song.
    pub listeners: usize,
    pub p2p_ratio: Option<f64>,
    pub p2p_ceiling: Option<f64>,
    /// Segment bytes of the song on origin (the playlist not counted).
    pub segment_bytes: Option<u64>,
    pub segments: Option<u64>,
    /// Segment bytes × number of edge databases: what logical replication
    /// shipped for the current version of the song.
    pub origin_shipped_bytes: Option<u64>,
}

impl SongStats {
    fn from_counters(song: &str, c: &SongCounters, listeners: usize) -> Self {
        SongStats {
            song: song.to_string(),
            cache_bytes: c.client_bytes_cache,
            peer_bytes: c.client_bytes_peer,
            edge_bytes: c.client_bytes_edge,
            client_bytes: c.client_bytes_cache + c.client_bytes_peer + c.client_bytes_edge,
            client_requests: c.client_requests,
            client_failures: c.client_failures,
            relay_bytes: c.relay_bytes,
            edge_reads: c.edge_reads,
            edge_read_bytes: c.edge_read_bytes,
            listeners,
            p2p_ratio: p2p_ratio(
                c.client_bytes_cache,
                c.client_bytes_peer,
                c.client_bytes_edge,
            ),
            p2p_ceiling: p2p_ceiling(listeners),
            ..Default::default()
        }
    }
}

/// `meshctl stats`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StatsReport {
    pub peers: usize,
    /// Peers whose `/stats` did not answer, with why.
    pub unreachable: Vec<(String, String)>,
    pub edges: usize,
    /// Sorted by song.
    pub songs: Vec<SongStats>,
    pub total: SongStats,
}

/// Adds up `stats` per song. `sizes` (from origin: segment bytes and count
/// per song) fills in what replication shipped to `edges` databases.
pub fn summarize(
    stats: &[AgentStats],
    sizes: Option<&BTreeMap<String, (u64, u64)>>,
    edges: usize,
) -> StatsReport {
    let mut per_song: BTreeMap<String, (SongCounters, usize)> = BTreeMap::new();
    let mut total = SongCounters::default();
    let mut any_listener = std::collections::BTreeSet::new();
    for s in stats {
        for (song, c) in &s.songs {
            let e = per_song.entry(song.clone()).or_default();
            add(&mut e.0, c);
            add(&mut total, c);
            if c.client_requests > 0 {
                e.1 += 1;
                any_listener.insert(s.peer_id.as_str());
            }
        }
    }
    if let Some(sizes) = sizes {
        for song in sizes.keys() {
            per_song.entry(song.clone()).or_default();
        }
    }
    let mut songs = Vec::new();
    let (mut shipped, mut seg_bytes, mut seg_count) = (0u64, 0u64, 0u64);
    for (song, (c, listeners)) in &per_song {
        let mut row = SongStats::from_counters(song, c, *listeners);
        if let Some(&(bytes, count)) = sizes.and_then(|m| m.get(song)) {
            row.segment_bytes = Some(bytes);
            row.segments = Some(count);
            row.origin_shipped_bytes = Some(bytes * edges as u64);
            shipped += bytes * edges as u64;
            seg_bytes += bytes;
            seg_count += count;
        }
        songs.push(row);
    }
    let mut total = SongStats::from_counters("total", &total, any_listener.len());
    if sizes.is_some() {
        total.segment_bytes = Some(seg_bytes);
        total.segments = Some(seg_count);
        total.origin_shipped_bytes = Some(shipped);
    }
    StatsReport {
        peers: stats.len(),
        unreachable: Vec::new(),
        edges,
        songs,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(peer: &str, song: &str, cache: u64, peer_b: u64, edge: u64, reads: u64) -> AgentStats {
        let mut s = AgentStats {
            peer_id: peer.into(),
            ..Default::default()
        };
        s.songs.insert(
            song.into(),
            SongCounters {
                client_bytes_cache: cache,
                client_bytes_peer: peer_b,
                client_bytes_edge: edge,
                client_requests: u64::from(cache + peer_b + edge > 0),
                edge_reads: reads,
                ..Default::default()
            },
        );
        s
    }

    #[test]
    fn songs_are_added_up() {
        let stats = vec![
            agent("peer-1", "tone", 0, 0, 100, 10),
            agent("peer-2", "tone", 100, 0, 0, 0),
            agent("peer-3", "tone", 0, 100, 0, 0),
            agent("peer-3", "other", 0, 0, 0, 1),
        ];
        let sizes = BTreeMap::from([("tone".to_string(), (90, 9)), ("new".to_string(), (5, 1))]);
        let r = summarize(&stats, Some(&sizes), 2);
        assert_eq!(
            r.songs.iter().map(|s| s.song.as_str()).collect::<Vec<_>>(),
            ["new", "other", "tone"]
        );
        let tone = &r.songs[2];
        assert_eq!(tone.client_bytes, 300);
        assert_eq!(tone.listeners, 3);
        assert_eq!(tone.p2p_ratio, Some(2.0 / 3.0));
        assert_eq!(tone.p2p_ceiling, Some(2.0 / 3.0));
        assert_eq!(tone.edge_reads, 10);
        assert_eq!(tone.origin_shipped_bytes, Some(180));
        assert_eq!(r.songs[0].p2p_ratio, None);
        assert_eq!(r.total.edge_reads, 11);
        assert_eq!(r.total.origin_shipped_bytes, Some(190));
        assert_eq!(r.total.listeners, 3);
        // Valid when empty.
        let empty = summarize(&[], None, 2);
        assert!(empty.songs.is_empty());
        assert_eq!(empty.total.p2p_ratio, None);
    }

    #[test]
    fn deltas_subtract_and_survive_restarts() {
        let before = vec![agent("peer-1", "tone", 10, 0, 50, 5)];
        let after = vec![
            agent("peer-1", "tone", 30, 0, 40, 7),
            agent("peer-2", "tone", 5, 0, 0, 0),
        ];
        let d = delta_all(&after, &before);
        let c = &d[0].songs["tone"];
        assert_eq!(c.client_bytes_cache, 20);
        // went down: restarted, so counted from zero
        assert_eq!(c.client_bytes_edge, 40);
        assert_eq!(c.edge_reads, 2);
        assert_eq!(d[1].songs["tone"].client_bytes_cache, 5);
    }
}
