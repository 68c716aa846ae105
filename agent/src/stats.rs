//! Counters behind `GET /stats` (per song, [`wire::agent::AgentStats`]) and
//! `GET /metrics` (Prometheus text).
//!
//! Counting rules, so that `meshctl stats` can add agents up: a client
//! request's bytes are counted once, at the agent that answered the client,
//! by where they came from (its own cache, another peer's cache through the
//! mesh, or an edge database read). Hops count what they forwarded to a
//! neighbor as `relay_bytes`; edge peers count their database reads.
//!
//! Per-song counters exist only for songs this agent served or relayed
//! bytes of, read from its edge database, ingested, or failed to fetch from
//! a source that claimed them; a request for an id nobody holds counts only
//! in the totals. Their number is capped (`STATS_MAX_SONGS`): the song
//! counted least recently is dropped first. The totals in `/metrics` count
//! everything.

use lru::LruCache;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use wire::agent::{song_of_id, AgentStats, SongCounters};
use wire::relay::Source;

struct Counters {
    hits: u64,
    misses: u64,
    client_bytes: [u64; 3],
    client_requests: u64,
    client_failures: u64,
    relay_bytes: u64,
    relays_forwarded: u64,
    relays_refused: u64,
    singleflight_joins: u64,
    upstream_fetches: u64,
    upstream_failures: u64,
    hash_mismatches: u64,
    edge_reads: u64,
    edge_read_bytes: u64,
    ingested: u64,
    songs_dropped: u64,
    songs: LruCache<String, SongCounters>,
}

/// The agent's counters.
pub struct Stats {
    // std Mutex: every update is a few additions, never held across an await.
    inner: Mutex<Counters>,
}

/// Default of `STATS_MAX_SONGS`.
pub const DEFAULT_MAX_SONGS: usize = 256;

impl Default for Stats {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SONGS)
    }
}

fn idx(s: Source) -> usize {
    match s {
        Source::Cache => 0,
        Source::Peer => 1,
        Source::Edge => 2,
    }
}

/// A counter that can be bumped by one.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Hit,
    Miss,
    ClientRequest,
    ClientFailure,
    RelayForwarded,
    RelayRefused,
    SingleflightJoin,
    UpstreamFetch,
    UpstreamFailure,
    HashMismatch,
    Ingested,
}

impl Stats {
    /// Counters with per-song entries for at most `max_songs` songs.
    pub fn new(max_songs: usize) -> Self {
        let cap = NonZeroUsize::new(max_songs).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(Counters {
                hits: 0,
                misses: 0,
                client_bytes: [0; 3],
                client_requests: 0,
                client_failures: 0,
                relay_bytes: 0,
                relays_forwarded: 0,
                relays_refused: 0,
                singleflight_joins: 0,
                upstream_fetches: 0,
                upstream_failures: 0,
                hash_mismatches: 0,
                edge_reads: 0,
                edge_read_bytes: 0,
                ingested: 0,
                songs_dropped: 0,
                songs: LruCache::new(cap),
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Counters) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// The song's counters, created (dropping the least recent song when
    /// full) when `create`, else only when it already has some.
    fn song<'a>(c: &'a mut Counters, id: &str, create: bool) -> Option<&'a mut SongCounters> {
        let song = song_of_id(id)?;
        if !c.songs.contains(song) {
            if !create {
                return None;
            }
            if let Some((_, _)) = c.songs.push(song.to_string(), SongCounters::default()) {
                c.songs_dropped += 1;
            }
        }
        c.songs.get_mut(song)
    }

    /// Gives the song of `id` its own counters (a source claimed it, so it
    /// is a song of the mesh, not a guessed id).
    pub fn keep_song(&self, id: &str) {
        self.with(|c| {
            Self::song(c, id, true);
        })
    }

    /// Songs with their own counters now.
    pub fn songs_counted(&self) -> usize {
        self.with(|c| c.songs.len())
    }

    pub fn event(&self, id: Option<&str>, e: Event) {
        self.with(|c| {
            match e {
                Event::Hit => c.hits += 1,
                Event::Miss => c.misses += 1,
                Event::ClientRequest => c.client_requests += 1,
                Event::ClientFailure => c.client_failures += 1,
                Event::RelayForwarded => c.relays_forwarded += 1,
                Event::RelayRefused => c.relays_refused += 1,
                Event::SingleflightJoin => c.singleflight_joins += 1,
                Event::UpstreamFetch => c.upstream_fetches += 1,
                Event::UpstreamFailure => c.upstream_failures += 1,
                Event::HashMismatch => c.hash_mismatches += 1,
                Event::Ingested => c.ingested += 1,
            }
            // Only an answered request or an ingest gives a song counters.
            let create = matches!(e, Event::ClientRequest | Event::Ingested);
            let counted = matches!(
                e,
                Event::ClientRequest | Event::ClientFailure | Event::Ingested
            );
            if !counted {
                return;
            }
            if let Some(s) = id.and_then(|id| Self::song(c, id, create)) {
                match e {
                    Event::ClientRequest => s.client_requests += 1,
                    Event::ClientFailure => s.client_failures += 1,
                    _ => {}
                }
            }
        })
    }

    /// Bytes sent to a client, by where they came from.
    pub fn client_bytes(&self, id: &str, source: Source, n: u64) {
        self.with(|c| {
            c.client_bytes[idx(source)] += n;
            if let Some(s) = Self::song(c, id, true) {
                match source {
                    Source::Cache => s.client_bytes_cache += n,
                    Source::Peer => s.client_bytes_peer += n,
                    Source::Edge => s.client_bytes_edge += n,
                }
            }
        })
    }

    /// Bytes sent to a neighbor on a relay request.
    pub fn relay_bytes(&self, id: &str, n: u64) {
        self.with(|c| {
            c.relay_bytes += n;
            if let Some(s) = Self::song(c, id, true) {
                s.relay_bytes += n;
            }
        })
    }

    /// One read of `n` bytes from the edge database.
    pub fn edge_read(&self, id: &str, n: u64) {
        self.with(|c| {
            c.edge_reads += 1;
            c.edge_read_bytes += n;
            if let Some(s) = Self::song(c, id, true) {
                s.edge_reads += 1;
                s.edge_read_bytes += n;
            }
        })
    }

    /// The `GET /stats` body.
    pub fn snapshot(
        &self,
        peer_id: &str,
        edge: Option<String>,
        cache_entries: usize,
        cache_bytes: u64,
    ) -> AgentStats {
        self.with(|c| AgentStats {
            peer_id: peer_id.to_string(),
            edge,
            cache_entries,
            cache_bytes,
            rss_bytes: rss_bytes(),
            relays_forwarded: c.relays_forwarded,
            relays_refused: c.relays_refused,
            singleflight_joins: c.singleflight_joins,
            songs: c
                .songs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        })
    }

    /// The `GET /metrics` body.
    pub fn prometheus(&self, cache_entries: usize, cache_bytes: u64, evictions: u64) -> String {
        let mut out = String::with_capacity(2048);
        let mut line = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP mesh_agent_{name} {help}");
            let _ = writeln!(out, "# TYPE mesh_agent_{name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "mesh_agent_{name}{labels} {v}");
            }
        };
        self.with(|c| {
            line(
                "cache_hits_total",
                "counter",
                "Segment requests answered from the cache.",
                &[("", c.hits)],
            );
            line(
                "cache_misses_total",
                "counter",
                "Segment requests not in the cache.",
                &[("", c.misses)],
            );
            line(
                "client_bytes_total",
                "counter",
                "Bytes served to clients, by where they came from.",
                &[
                    ("{source=\"cache\"}", c.client_bytes[0]),
                    ("{source=\"peer\"}", c.client_bytes[1]),
                    ("{source=\"edge\"}", c.client_bytes[2]),
                ],
            );
            line(
                "client_requests_total",
                "counter",
                "Client requests answered.",
                &[("", c.client_requests)],
            );
            line(
                "client_failures_total",
                "counter",
                "Client requests that failed.",
                &[("", c.client_failures)],
            );
            line(
                "relay_bytes_total",
                "counter",
                "Bytes forwarded to neighbors on relay requests.",
                &[("", c.relay_bytes)],
            );
            line(
                "relays_forwarded_total",
                "counter",
                "Relay requests answered with bytes.",
                &[("", c.relays_forwarded)],
            );
            line(
                "relays_refused_total",
                "counter",
                "Relay requests refused by the neighbor or route check.",
                &[("", c.relays_refused)],
            );
            line(
                "singleflight_joins_total",
                "counter",
                "Misses that joined a fetch already in flight.",
                &[("", c.singleflight_joins)],
            );
            line(
                "upstream_fetches_total",
                "counter",
                "Fetches started from a neighbor or the edge database.",
                &[("", c.upstream_fetches)],
            );
            line(
                "upstream_failures_total",
                "counter",
                "Fetch attempts that failed.",
                &[("", c.upstream_failures)],
            );
            line(
                "hash_mismatches_total",
                "counter",
                "Fetches cut because the bytes did not match their SHA-256.",
                &[("", c.hash_mismatches)],
            );
            line(
                "edge_reads_total",
                "counter",
                "Reads from the edge database.",
                &[("", c.edge_reads)],
            );
            line(
                "edge_read_bytes_total",
                "counter",
                "Bytes read from the edge database.",
                &[("", c.edge_read_bytes)],
            );
            line(
                "stats_songs_dropped_total",
                "counter",
                "Songs whose per-song counters were dropped for newer ones (STATS_MAX_SONGS).",
                &[("", c.songs_dropped)],
            );
            line(
                "stats_songs",
                "gauge",
                "Songs with their own counters in /stats.",
                &[("", c.songs.len() as u64)],
            );
            line(
                "ingested_total",
                "counter",
                "Segments ingested by POST /segments.",
                &[("", c.ingested)],
            );
        });
        line(
            "cache_entries",
            "gauge",
            "Cached segments.",
            &[("", cache_entries as u64)],
        );
        line(
            "cache_bytes",
            "gauge",
            "Cached bytes.",
            &[("", cache_bytes)],
        );
        line(
            "cache_evictions_total",
            "counter",
            "Segments evicted from the cache.",
            &[("", evictions)],
        );
        line(
            "rss_bytes",
            "gauge",
            "Resident set size of the process.",
            &[("", rss_bytes())],
        );
        out
    }
}

/// Resident set size from `/proc/self/statm` (0 where it cannot be read).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_song_and_renders() {
        let s = Stats::default();
        let id = wire::ids::segment_id("tone", 1, &"a".repeat(64));
        s.event(Some(&id), Event::ClientRequest);
        s.client_bytes(&id, Source::Peer, 100);
        s.client_bytes("tone.m3u8", Source::Cache, 7);
        s.relay_bytes(&id, 100);
        s.edge_read("raw", 5);
        let snap = s.snapshot("p", None, 0, 0);
        let tone = &snap.songs["tone"];
        assert_eq!(tone.client_requests, 1);
        assert_eq!(tone.client_bytes_peer, 100);
        assert_eq!(tone.client_bytes_cache, 7);
        assert_eq!(tone.relay_bytes, 100);
        assert_eq!(snap.songs.len(), 1);
        let text = s.prometheus(1, 2, 3);
        assert!(text.contains("mesh_agent_client_bytes_total{source=\"peer\"} 100"));
        assert!(text.contains("mesh_agent_edge_reads_total 1"));
        assert!(rss_bytes() > 0);
    }

    #[test]
    fn misses_add_no_song_and_songs_are_capped() {
        let s = Stats::new(3);
        let sha = "b".repeat(64);
        for i in 0..100 {
            let id = wire::ids::segment_id(&format!("ghost{i}"), 1, &sha);
            s.event(Some(&id), Event::Miss);
            s.event(Some(&id), Event::ClientFailure);
            s.event(Some(&id), Event::UpstreamFetch);
        }
        assert_eq!(s.songs_counted(), 0);
        assert!(s
            .prometheus(0, 0, 0)
            .contains("mesh_agent_client_failures_total 100"));
        for i in 0..5 {
            let id = wire::ids::segment_id(&format!("real{i}"), 1, &sha);
            s.client_bytes(&id, Source::Cache, 10);
            // A failure of a song with counters is counted there.
            s.event(Some(&id), Event::ClientFailure);
        }
        let snap = s.snapshot("p", None, 0, 0);
        assert_eq!(
            snap.songs.keys().collect::<Vec<_>>(),
            vec!["real2", "real3", "real4"]
        );
        assert_eq!(snap.songs["real4"].client_failures, 1);
        assert!(s
            .prometheus(0, 0, 0)
            .contains("mesh_agent_stats_songs_dropped_total 2"));
        s.keep_song("kept.m3u8");
        assert!(s.snapshot("p", None, 0, 0).songs.contains_key("kept"));
    }
}
