//! The swarm benchmark: N listeners play one song at once, each through its
//! own peer, as an HLS player would (the playlist, then every segment in
//! order), each starting at a random moment within a spread.
//!
//! Every listener checks each segment against the SHA-256 its id carries
//! and retries a bad or failed one (as players do), so "failed" counts the
//! segments a listener never got right and "corrupt" the responses that
//! arrived whole with the wrong bytes, which the mesh must never let
//! through. Agent counters are read before and after, so the report also
//! carries what the peers counted, and the database reads of the run.
//!
//! With `fallbacks` (a peer's mesh neighbours and peers two hops away), a
//! listener whose request failed (refused, cut, 5xx, timed out) asks the
//! next peer of its list for the next attempt, as a player with backup
//! streams does, passing over peers that failed it a moment ago: a listener
//! whose peer dies goes on through another. Each such move is a failover.
//! `retry_pause` spaces the attempts out as a player's backoff does.

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::Rng;
use tokio::task::JoinSet;
use wire::relay::{self, Source};

use super::figures::{p2p_ceiling, p2p_ratio, per, percentile};
use super::hls::parse_playlist;
use super::sha256_hex;
use super::stats::{collect, delta_all, summarize, SongStats};
use super::PeerRef;

/// Options of [`swarm`].
#[derive(Debug, Clone, Default)]
pub struct SwarmOptions {
    pub song: String,
    /// Listeners; `None` is one per peer. Listener i plays through peer
    /// `i mod peers`.
    pub listeners: Option<usize>,
    /// Each listener starts at a uniformly random moment in `[0, spread)`.
    pub spread: Duration,
    /// Per request.
    pub request_timeout: Duration,
    /// Further attempts at a failed or corrupt segment.
    pub retries: u32,
    /// Pause before the k-th further attempt: k times this (a linear
    /// backoff, as players do: hls.js waits 1 s, 2 s, ... by default).
    /// Zero: at once.
    pub retry_pause: Duration,
    /// Peer name → the peers its listeners move to after a failed request,
    /// in order (its neighbours). Empty: a listener stays on its peer.
    pub fallbacks: BTreeMap<String, Vec<String>>,
    /// Play at this many times real time, as a player does: the first
    /// [`BUFFER_SEGMENTS`] segments at once, then each when the one
    /// [`BUFFER_SEGMENTS`] before it has played. `None`: every segment as
    /// fast as the mesh answers.
    pub speed: Option<f64>,
}

/// Most peers a listener may move on to after its own.
pub const MAX_FALLBACKS: usize = 8;

/// Each peer's fallbacks for its listeners, from the mesh links: its
/// neighbours and the peers two hops away, taken in turn (each group in
/// natural order), at most [`MAX_FALLBACKS`]. Peers two hops away matter
/// when churn takes a peer's neighbours down with it, or leaves the peer
/// and a neighbour as an island: they are reached by other links.
pub fn fallbacks_of(links: &[[String; 2]]) -> BTreeMap<String, Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for [a, b] in links {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default().push(a);
    }
    let natural = |v: &mut Vec<&str>| {
        v.sort_by_key(|p| crate::labels::natural_key(p));
        v.dedup();
    };
    next.iter()
        .map(|(&me, near)| {
            let mut near = near.clone();
            natural(&mut near);
            let mut far: Vec<&str> = near
                .iter()
                .flat_map(|n| next.get(n).into_iter().flatten().copied())
                .filter(|p| *p != me && !near.contains(p))
                .collect();
            natural(&mut far);
            let (mut near, mut far) = (near.into_iter(), far.into_iter());
            let mut all = Vec::new();
            while all.len() < MAX_FALLBACKS {
                let (a, b) = (near.next(), far.next());
                if a.is_none() && b.is_none() {
                    break;
                }
                all.extend(a.into_iter().chain(b).map(str::to_string));
            }
            all.truncate(MAX_FALLBACKS);
            (me.to_string(), all)
        })
        .collect()
}

/// How long a peer that failed a listener is passed over by its failovers.
const FAILED_FOR: Duration = Duration::from_secs(10);

/// The chain index after `cur` to fail over to: the next one that has not
/// failed within [`FAILED_FOR`], or simply the next when all have.
fn next_peer(failed_at: &[Option<Instant>], cur: usize) -> usize {
    let n = failed_at.len().max(1);
    (1..n)
        .map(|k| (cur + k) % n)
        .find(|&i| failed_at[i].is_none_or(|t| t.elapsed() >= FAILED_FOR))
        .unwrap_or((cur + 1) % n)
}

/// Segments a paced listener fetches ahead of the playhead.
pub const BUFFER_SEGMENTS: usize = 3;

/// One listener's count of what it received.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ListenerReport {
    pub listener: usize,
    pub peer: String,
    /// Bytes of good responses (playlist and segments), as the listener counted them.
    pub bytes: u64,
    pub segments: usize,
    pub failed_segments: usize,
    pub corrupt_responses: usize,
    pub retries: usize,
    /// Attempts made at another peer than the one before, after a failure.
    pub failovers: usize,
    pub error: Option<String>,
}

/// One playlist or segment as a listener finally got it (or not).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentRecord {
    pub listener: usize,
    /// When the first attempt started, milliseconds from the swarm's start.
    pub at_ms: f64,
    pub playlist: bool,
    pub ok: bool,
    /// Of the good attempt.
    pub latency_ms: Option<f64>,
    pub source: Option<Source>,
    pub bytes: u64,
    /// The peer that answered the good attempt (or the last one asked).
    pub peer: String,
    /// Attempts after the first, and moves to another peer among them.
    pub retries: u32,
    pub failovers: u32,
}

/// What [`swarm`] measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SwarmReport {
    pub song: String,
    pub listeners: usize,
    pub peers: usize,
    pub edge_peers: usize,
    pub segments_per_listener: usize,
    /// Good segment responses over all listeners.
    pub segments_received: usize,
    /// Bytes of good responses (playlists included) over all listeners.
    pub bytes: u64,
    pub cache_bytes: u64,
    pub peer_bytes: u64,
    pub edge_bytes: u64,
    /// `(cache + peer) / all`, from the `X-Mesh-Source` of each response.
    pub p2p_ratio: Option<f64>,
    pub p2p_ceiling: Option<f64>,
    /// Edge database reads of the song during the run (agent counters).
    pub db_reads: u64,
    /// `db_reads / (segments + 1)`: the playlist is stored and read like a segment.
    pub db_reads_per_segment: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub failed_segments: usize,
    pub corrupt_responses: usize,
    pub retries: usize,
    pub failovers: usize,
    pub wall_secs: f64,
    /// The song's counters over the run, as the peers counted them.
    pub agents: Option<SongStats>,
    /// Peers whose `/stats` did not answer before or after.
    pub stats_unreachable: Vec<String>,
    pub per_listener: Vec<ListenerReport>,
    /// Every playlist and segment of every listener, in time order (for
    /// phase figures; not in the swarm's JSON).
    #[serde(skip)]
    pub timeline: Vec<SegmentRecord>,
}

/// One response as a listener saw it.
struct Got {
    ok: bool,
    corrupt: bool,
    bytes: u64,
    source: Option<Source>,
    latency_ms: f64,
    error: Option<String>,
    body: bytes::Bytes,
}

async fn get(http: &reqwest::Client, url: &str, timeout: Duration, want_sha: Option<&str>) -> Got {
    let t0 = Instant::now();
    let r = async {
        let resp = http.get(url).timeout(timeout).send().await?;
        let status = resp.status();
        let source = resp
            .headers()
            .get(relay::SOURCE)
            .and_then(|v| v.to_str().ok())
            .and_then(Source::parse);
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, source, body))
    }
    .await;
    let latency_ms = t0.elapsed().as_secs_f64() * 1000.0;
    match r {
        Err(e) => Got {
            ok: false,
            corrupt: false,
            bytes: 0,
            source: None,
            latency_ms,
            error: Some(format!("{e}")),
            body: bytes::Bytes::new(),
        },
        Ok((status, source, body)) if !status.is_success() => Got {
            ok: false,
            corrupt: false,
            bytes: 0,
            source,
            latency_ms,
            error: Some(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(160)
                    .collect::<String>()
            )),
            body: bytes::Bytes::new(),
        },
        Ok((_, source, body)) => {
            let corrupt = want_sha.is_some_and(|w| sha256_hex(&body) != w);
            Got {
                ok: !corrupt,
                corrupt,
                bytes: body.len() as u64,
                source,
                latency_ms,
                error: corrupt.then(|| "bytes do not match the id's SHA-256".to_string()),
                body,
            }
        }
    }
}

/// What one listener did, with every good segment's source, bytes and latency.
#[derive(Default)]
struct Run {
    report: ListenerReport,
    /// (source, bytes) of good responses, playlist included.
    sources: Vec<(Option<Source>, u64)>,
    latencies: Vec<f64>,
    segments_in_playlist: usize,
    timeline: Vec<SegmentRecord>,
}

async fn listen(
    listener: usize,
    chain: Vec<PeerRef>,
    song: String,
    opts: SwarmOptions,
    delay: Duration,
    started: Instant,
    http: reqwest::Client,
) -> Run {
    tokio::time::sleep(delay).await;
    let mut run = Run {
        report: ListenerReport {
            listener,
            peer: chain.first().map(|p| p.name.clone()).unwrap_or_default(),
            ..Default::default()
        },
        ..Default::default()
    };
    let base = |p: &PeerRef| format!("{}/songs/{song}", p.url.trim_end_matches('/'));
    let mut cur = 0usize;
    // When each peer of the chain last failed this listener: a failover
    // skips those that failed within FAILED_FOR, as a player marks a
    // redundant stream bad for a while.
    let mut failed_at: Vec<Option<Instant>> = vec![None; chain.len()];
    // One item (the playlist, then each segment) with retries, moving along
    // the chain after a failure.
    let mut fetch = async |run: &mut Run, path: &str, want: Option<&str>, playlist: bool| {
        let at_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut moved = 0u32;
        for attempt in 0..=opts.retries {
            run.report.retries += usize::from(attempt > 0);
            if attempt > 0 && !opts.retry_pause.is_zero() {
                tokio::time::sleep(opts.retry_pause * attempt).await;
            }
            let peer = &chain[cur % chain.len()];
            let g = get(
                &http,
                &format!("{}/{path}", base(peer)),
                opts.request_timeout,
                want,
            )
            .await;
            run.report.corrupt_responses += usize::from(g.corrupt);
            if g.ok {
                run.report.bytes += g.bytes;
                run.sources.push((g.source, g.bytes));
                run.timeline.push(SegmentRecord {
                    listener,
                    at_ms,
                    playlist,
                    ok: true,
                    latency_ms: Some(g.latency_ms),
                    source: g.source,
                    bytes: g.bytes,
                    peer: peer.name.clone(),
                    retries: attempt,
                    failovers: moved,
                });
                return Some(g);
            }
            run.report.error = g.error;
            if chain.len() > 1 && attempt < opts.retries {
                failed_at[cur % chain.len()] = Some(Instant::now());
                cur = next_peer(&failed_at, cur);
                run.report.failovers += 1;
                moved += 1;
            }
        }
        run.timeline.push(SegmentRecord {
            listener,
            at_ms,
            playlist,
            ok: false,
            latency_ms: None,
            source: None,
            bytes: 0,
            peer: chain[cur % chain.len()].name.clone(),
            retries: opts.retries,
            failovers: moved,
        });
        None
    };
    let Some(playlist) = fetch(&mut run, "playlist.m3u8", None, true).await else {
        return run;
    };
    let entries = match parse_playlist(&String::from_utf8_lossy(&playlist.body)) {
        Ok(e) => e,
        Err(e) => {
            run.report.error = Some(format!("playlist: {e}"));
            return run;
        }
    };
    run.report.error = None;
    run.segments_in_playlist = entries.len();
    // When each segment is due under pacing: its playback start, less the
    // buffer ahead, from the moment the playlist arrived.
    let t0 = Instant::now();
    let mut starts = Vec::with_capacity(entries.len());
    let mut at = 0.0f64;
    for e in &entries {
        starts.push(at);
        at += e.duration.max(0.0);
    }
    for (i, e) in entries.into_iter().enumerate() {
        if let Some(speed) = opts.speed.filter(|s| s.is_finite() && *s > 0.0) {
            let due = i
                .checked_sub(BUFFER_SEGMENTS)
                .map_or(0.0, |j| starts.get(j + 1).copied().unwrap_or(0.0));
            let due = t0 + Duration::from_secs_f64(due / speed);
            tokio::time::sleep_until(due.into()).await;
        }
        let want = wire::ids::sha256_of_id(&e.uri).map(str::to_string);
        match fetch(&mut run, &e.uri, want.as_deref(), false).await {
            Some(g) => {
                run.report.segments += 1;
                run.latencies.push(g.latency_ms);
            }
            None => run.report.failed_segments += 1,
        }
    }
    run
}

/// The peers a listener of `own` asks, in order: `own`, then its fallbacks
/// (its mesh neighbours and peers two hops away, in turn) that `known`
/// accepts, each once. A listener moves one step along this list after a
/// failed request, wrapping around.
pub fn failover_order(
    own: &str,
    fallbacks: &BTreeMap<String, Vec<String>>,
    known: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut chain = vec![own.to_string()];
    for f in fallbacks.get(own).into_iter().flatten() {
        if known(f) && !chain.contains(f) {
            chain.push(f.clone());
        }
    }
    chain
}

/// Runs the swarm over `peers` (every peer of the mesh; `edge` set for edge peers).
pub async fn swarm(
    peers: &[PeerRef],
    opts: &SwarmOptions,
    http: &reqwest::Client,
) -> anyhow::Result<SwarmReport> {
    swarm_from(peers, opts, http, Instant::now()).await
}

/// [`swarm`], with the timeline's times counted from `started`.
pub async fn swarm_from(
    peers: &[PeerRef],
    opts: &SwarmOptions,
    http: &reqwest::Client,
    started: Instant,
) -> anyhow::Result<SwarmReport> {
    wire::ids::validate_song(&opts.song)?;
    if peers.is_empty() {
        bail!("no peers to listen through");
    }
    let n = opts.listeners.unwrap_or(peers.len());
    if n == 0 {
        bail!("--listeners must be at least 1");
    }
    let stats_timeout = Duration::from_secs(10);
    let before = collect(peers, http, stats_timeout).await;
    let began = Instant::now();
    let mut set = JoinSet::new();
    let spread_ms = opts.spread.as_millis() as u64;
    let mut rng = rand::rng();
    for i in 0..n {
        let delay = if spread_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.random_range(0..spread_ms))
        };
        let own = &peers[i % peers.len()];
        let chain = failover_order(&own.name, &opts.fallbacks, |f| {
            peers.iter().any(|p| p.name == f)
        })
        .iter()
        .filter_map(|f| peers.iter().find(|p| p.name == *f).cloned())
        .collect();
        set.spawn(listen(
            i,
            chain,
            opts.song.clone(),
            opts.clone(),
            delay,
            started,
            http.clone(),
        ));
    }
    let mut runs = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        runs.push(r.context("a listener task failed")?);
    }
    let wall_secs = began.elapsed().as_secs_f64();
    let after = collect(peers, http, stats_timeout).await;
    runs.sort_by_key(|r| r.report.listener);

    let mut report = SwarmReport {
        song: opts.song.clone(),
        listeners: n,
        peers: peers.len(),
        edge_peers: peers.iter().filter(|p| p.edge.is_some()).count(),
        segments_per_listener: runs
            .iter()
            .map(|r| r.segments_in_playlist)
            .max()
            .unwrap_or(0),
        p2p_ceiling: p2p_ceiling(n),
        wall_secs,
        ..Default::default()
    };
    let mut latencies = Vec::new();
    for r in &runs {
        for &(source, bytes) in &r.sources {
            report.bytes += bytes;
            match source {
                Some(Source::Cache) => report.cache_bytes += bytes,
                Some(Source::Peer) => report.peer_bytes += bytes,
                Some(Source::Edge) => report.edge_bytes += bytes,
                None => {}
            }
        }
        latencies.extend_from_slice(&r.latencies);
        report.segments_received += r.report.segments;
        // A listener that never read the playlist failed every segment.
        report.failed_segments += if r.segments_in_playlist == 0 {
            report.segments_per_listener.max(1)
        } else {
            r.report.failed_segments
        };
        report.corrupt_responses += r.report.corrupt_responses;
        report.retries += r.report.retries;
        report.failovers += r.report.failovers;
    }
    report.p2p_ratio = p2p_ratio(report.cache_bytes, report.peer_bytes, report.edge_bytes);
    report.latency_p50_ms = percentile(&latencies, 50.0);
    report.latency_p99_ms = percentile(&latencies, 99.0);
    report.latency_max_ms = percentile(&latencies, 100.0);

    let ok = |v: Vec<(String, Result<wire::agent::AgentStats, String>)>, bad: &mut Vec<String>| {
        v.into_iter()
            .filter_map(|(name, r)| match r {
                Ok(s) => Some(s),
                Err(_) => {
                    bad.push(name);
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let mut unreachable = Vec::new();
    let before = ok(before, &mut unreachable);
    let after = ok(after, &mut unreachable);
    unreachable.sort();
    unreachable.dedup();
    report.stats_unreachable = unreachable;
    let delta = delta_all(&after, &before);
    let summary = summarize(&delta, None, 0);
    if let Some(mut song) = summary.songs.into_iter().find(|s| s.song == opts.song) {
        song.p2p_ceiling = report.p2p_ceiling;
        song.listeners = n;
        report.db_reads = song.edge_reads;
        report.agents = Some(song);
    }
    report.db_reads_per_segment = per(report.db_reads, report.segments_per_listener as u64 + 1);
    let mut timeline: Vec<SegmentRecord> = Vec::new();
    report.per_listener = runs
        .into_iter()
        .map(|mut r| {
            timeline.append(&mut r.timeline);
            r.report
        })
        .collect();
    timeline.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    report.timeline = timeline;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks_take_neighbours_and_two_hops_away_in_turn() {
        let l = |a: &str, b: &str| [a.to_string(), b.to_string()];
        // p1 - p2 - p3 - p4, p1 - p10, p2 - p5
        let links = [
            l("p1", "p2"),
            l("p2", "p3"),
            l("p3", "p4"),
            l("p1", "p10"),
            l("p2", "p5"),
        ];
        let f = fallbacks_of(&links);
        assert_eq!(f["p1"], ["p2", "p3", "p10", "p5"]);
        assert_eq!(f["p4"], ["p3", "p2"]);
        assert_eq!(f["p2"], ["p1", "p4", "p3", "p10", "p5"]);
        let now = Instant::now();
        let long_ago = now.checked_sub(FAILED_FOR * 2);
        assert_eq!(next_peer(&[None, None, None], 0), 1);
        assert_eq!(
            next_peer(&[None, Some(now), None], 0),
            2,
            "skips a recent failure"
        );
        assert_eq!(
            next_peer(&[None, long_ago, None], 0),
            1,
            "a failure long ago is forgiven"
        );
        assert_eq!(
            next_peer(&[Some(now), Some(now), Some(now)], 2),
            0,
            "all failed: the next"
        );
        assert_eq!(next_peer(&[None, Some(now), Some(now)], 1), 0);
        let star: Vec<[String; 2]> = (2..=20).map(|i| l("p1", &format!("p{i}"))).collect();
        assert_eq!(fallbacks_of(&star)["p1"].len(), MAX_FALLBACKS);
    }
}
