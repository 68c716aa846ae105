//! The tracker: which live peer holds which segment, kept in Redis with
//! liveness decided on every read from last-seen times.
//!
//! ```text
//! POST /announce   Announce  → 200 Ack        (full state; upserts topology)
//! POST /heartbeat  Heartbeat → 200 Ack, or 404 "announce again" when unknown/expired
//! GET  /segments/<segment>?region=<preferred>&limit=N → SegmentLookup
//! POST /suspect    Suspect   → 202 (a peer reports another failing; see [`suspect`])
//! GET  /peers      → PeersResponse (live peers, sorted by id)
//! GET  /events?after=<seq>&limit=<n> → EventsResponse (announces, expiries, suspicions; see crate::events)
//! GET  /healthz, /metrics
//! ```
//!
//! Every call is one Redis round trip (a Lua script, see [`scripts`]). A
//! reaper sweeps expired peers every `ttl/4` (or `reap_interval`), deletes
//! their keys and queues `DELETE /peers/<id>` for topology ([`sync`]).
//! With Redis down, every endpoint answers 503 and the connection manager
//! reconnects by itself. When Redis comes back empty, the tracker notices
//! within a second and asks the peers to announce again ([`epoch`]).
//!
//! A lookup lists the holders (and edge peers) it has reason to doubt after
//! all the others, marked `suspect`: those a quorum of distinct peers
//! reported failing within a window (`TRACKER_SUSPECT_QUORUM`, default 2;
//! `TRACKER_SUSPECT_WINDOW_SECONDS`, default 30), and those not heard from
//! for `TRACKER_SUSPECT_AFTER_SECONDS` (default half the TTL) though still
//! live. Reports never remove a peer; see [`suspect`].

pub mod epoch;
mod handlers;
pub mod scripts;
pub mod suspect;
pub mod sync;

use handlers::router;

use crate::http::{self, ApiError};
use crate::metrics::Metrics;
use redis::aio::ConnectionManager;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use sync::{Change, TopologySync};
use tokio_util::sync::CancellationToken;
use wire::contract::urls;
use wire::events::EventKind;
use wire::tracker::PeerStatus;

/// Tracker settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Redis URL, `redis://host:port[/db]` (`REDIS_ADDR`, see
    /// [`redis_url_from_addr`]). Default `redis://redis:6379`.
    pub redis_url: String,
    /// Topology manager base URL (`TOPOLOGY_URL`), told about announces,
    /// neighbor changes and expiries. `None` leaves topology alone.
    /// Default `http://topology:8090`.
    pub topology_url: Option<String>,
    /// A peer not heard from for this long is dead (`TRACKER_TTL_SECONDS`).
    /// Default 120 s.
    pub ttl: Duration,
    /// How often the reaper sweeps expired peers. `None` means `ttl / 4`;
    /// longer values are clamped to `ttl / 4`.
    pub reap_interval: Option<Duration>,
    /// The deployment secret (`MESH_TOKEN`). When set, `POST /announce`
    /// and `POST /heartbeat` need it or the peer's own token (which acts
    /// for that peer only). Default: none.
    pub token: Option<String>,
    /// Most segment ids in one announce or heartbeat inventory
    /// (`TRACKER_MAX_SEGMENTS`); more is refused (413 naming `segments`).
    /// It bounds the Redis script work of one call (a 1024-id inventory
    /// written afresh takes ~10 ms of Redis time; 85,000 took 1 to 2.7 s).
    /// A peer caches 64 segments by default (`CACHE_CAPACITY`). Default 1024.
    pub max_segments: usize,
    /// Most neighbors one peer may list (`TRACKER_MAX_NEIGHBORS`). Default
    /// 32, as topology's `TOPOLOGY_MAX_NEIGHBORS` (the tracker forwards them).
    pub max_neighbors: usize,
    /// Largest `POST /announce` or `POST /heartbeat` body, bytes
    /// (`TRACKER_MAX_BODY_BYTES`). Both carry the full inventory (the agent
    /// heartbeats with it): 1024 content-addressed ids (~87 bytes each in
    /// JSON) and 32 neighbors take ~96 KB. Default 128 KiB.
    pub max_body: usize,
    /// Time allowed to send a request body (`TRACKER_BODY_TIMEOUT_SECONDS`);
    /// later gets 408 and the connection closed. Default 10 s.
    pub body_timeout: Duration,
    /// Connection limits (`HTTP_*`, see the gate crate).
    pub http: gate::Limits,
    /// Recent events kept for `GET /events` (`TRACKER_EVENTS`): announces,
    /// expiries and suspicions. Default 4,096.
    pub events: usize,
    /// Distinct reporters that demote a peer (`TRACKER_SUSPECT_QUORUM`),
    /// 1 to [`suspect::MAX_REPORTERS`]. Default 2.
    pub suspect_quorum: usize,
    /// How long a report counts, and a demotion by reports lasts after the
    /// last one (`TRACKER_SUSPECT_WINDOW_SECONDS`). Default 30 s.
    pub suspect_window: Duration,
    /// A live peer not heard from for this long is demoted in lookups
    /// (`TRACKER_SUSPECT_AFTER_SECONDS`). `None` means half the TTL: 60 s
    /// with the default 120 s TTL, two of the agent's default 30 s heartbeat
    /// intervals. At least 100 ms; the TTL or more turns it off.
    pub suspect_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            redis_url: redis_url_from_addr(urls::REDIS_ADDR),
            topology_url: Some(urls::TOPOLOGY.into()),
            ttl: Duration::from_secs(120),
            reap_interval: None,
            token: None,
            max_segments: wire::contract::limits::MAX_SEGMENTS,
            max_neighbors: wire::contract::limits::MAX_NEIGHBORS,
            max_body: 128 << 10,
            body_timeout: Duration::from_secs(10),
            http: gate::Limits::service(),
            events: crate::events::DEFAULT_CAPACITY,
            suspect_quorum: suspect::DEFAULT_QUORUM,
            suspect_window: suspect::DEFAULT_WINDOW,
            suspect_after: None,
        }
    }
}

/// `REDIS_ADDR` as the spec gives it (`host:port`) or a `redis://` URL, as a URL.
pub fn redis_url_from_addr(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("redis://{addr}")
    }
}

/// Default and largest `limit` of a segment lookup.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 1000;
/// How long one Redis call may take before the endpoint answers 503.
const REDIS_DEADLINE: Duration = Duration::from_secs(3);
/// Peers reaped per script call, and the most segment entries one reap
/// call removes (it stops after the peer that crosses it), so one sweep
/// never blocks Redis for long.
const REAP_BATCH: usize = 256;
const REAP_SEGMENTS: usize = 2048;

#[derive(Clone)]
struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    redis: ConnectionManager,
    ttl: Duration,
    /// A live peer not heard from for this long is demoted.
    suspect_after: Duration,
    // std Mutex: a few map operations per call, never across an await.
    suspicions: std::sync::Mutex<suspect::Suspicions>,
    max_segments: usize,
    max_neighbors: usize,
    metrics: Metrics,
    events: crate::events::EventLog,
    topology: TopologySync,
    scripts: Scripts,
    // std Mutex: a map lookup or insert per call, never across an await.
    /// peer → hash of the inventory this tracker last wrote for it.
    inventories: std::sync::Mutex<std::collections::HashMap<String, String>>,
    // std Mutex: an insert per announce, a copy per state loss.
    /// peer → address, of every peer announced since start (at most
    /// [`epoch::MAX_KNOWN`]): whom to ask to announce again after a loss.
    known: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// The deployment secret, to make each peer's token for the push.
    secret: Option<String>,
    topology_url: Option<String>,
    /// For the push and reading topology's graph.
    http: reqwest::Client,
    /// Topology lists fewer peers than this tracker knows (it restarted
    /// empty): the reaper resyncs it now, not at its next period.
    resync_topology: tokio::sync::Notify,
}

struct Scripts {
    announce: redis::Script,
    heartbeat: redis::Script,
    lookup: redis::Script,
    peers: redis::Script,
    reap: redis::Script,
    suspect: redis::Script,
    late: redis::Script,
}

/// Why a Redis call failed, as an answer.
fn redis_down(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("redis unavailable: {e}"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An order-insensitive hash of an inventory, as stored beside it in Redis.
fn inventory_hash(segments: &[String]) -> String {
    use std::hash::{Hash, Hasher};
    let mut sum = 0u64;
    let mut uniq = std::collections::HashSet::with_capacity(segments.len());
    for s in segments {
        if uniq.insert(s.as_str()) {
            let mut h = std::hash::DefaultHasher::new();
            s.hash(&mut h);
            sum = sum.wrapping_add(h.finish());
        }
    }
    format!("{sum:016x}-{}", uniq.len())
}

impl Inner {
    fn cached_inventory(&self, peer: &str) -> Option<String> {
        let map = self.inventories.lock().unwrap_or_else(|e| e.into_inner());
        map.get(peer).cloned()
    }

    fn remember_inventory(&self, peer: &str, hash: String) {
        let mut map = self.inventories.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(peer.to_string(), hash);
    }

    fn forget_inventory(&self, peer: &str) {
        let mut map = self.inventories.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(peer);
    }

    fn remember_peer(&self, peer: &str, addr: &str) {
        let mut map = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() < epoch::MAX_KNOWN || map.contains_key(peer) {
            map.insert(peer.to_string(), addr.to_string());
        }
    }

    fn forget_peer(&self, peer: &str) {
        let mut map = self.known.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(peer);
    }

    fn cutoff(&self, now: u64) -> u64 {
        now.saturating_sub(self.ttl.as_millis() as u64)
    }

    /// Live peers last seen before this are late (missed heartbeats).
    fn late_cutoff(&self, now: u64) -> u64 {
        now.saturating_sub(self.suspect_after.as_millis() as u64)
    }

    fn suspicions(&self) -> std::sync::MutexGuard<'_, suspect::Suspicions> {
        self.suspicions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `peer_suspected` for each of `peers` found late that was not
    /// marked late already (once per peer until it is heard from again).
    fn note_late<'a>(&self, peers: impl IntoIterator<Item = &'a str>) {
        let fresh: Vec<String> = {
            let mut s = self.suspicions();
            peers
                .into_iter()
                .filter(|p| s.note_late(p))
                .map(str::to_string)
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        for peer in &fresh {
            tracing::info!(peer, "peer missed its heartbeats; demoted in lookups");
        }
        self.metrics.inc(
            "late_peers_total",
            "Peers demoted in lookups for missing their heartbeats.",
            fresh.len() as u64,
        );
        self.events
            .record_all(fresh.into_iter().map(|peer| EventKind::PeerSuspected {
                peer,
                reporters: Vec::new(),
                reason: wire::events::MISSED_HEARTBEATS.into(),
            }));
    }

    /// Runs one script invocation with a deadline; errors become 503.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, ApiError> {
        let mut conn = self.redis.clone();
        match tokio::time::timeout(REDIS_DEADLINE, inv.invoke_async(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.metrics
                    .inc("redis_errors_total", "Redis calls that failed.", 1);
                Err(redis_down(e))
            }
            Err(_) => {
                self.metrics
                    .inc("redis_errors_total", "Redis calls that failed.", 1);
                Err(redis_down("no answer within 3 s"))
            }
        }
    }

    /// Every live peer, sorted by id.
    async fn live_peers(&self) -> Result<Vec<PeerStatus>, ApiError> {
        let now = now_ms();
        let mut inv = self.scripts.peers.prepare_invoke();
        inv.arg(self.cutoff(now));
        let flat: Vec<String> = self.invoke(&inv).await?;
        let mut peers: Vec<PeerStatus> = flat
            .chunks_exact(5)
            .map(|r| {
                let (region, rtt_ms, addr, edge) = scripts::unpack_info(&r[2]);
                PeerStatus {
                    peer_id: r[0].clone(),
                    last_seen_secs: now.saturating_sub(r[1].parse::<f64>().unwrap_or(0.0) as u64)
                        as f64
                        / 1000.0,
                    region,
                    rtt_ms,
                    addr,
                    edge,
                    neighbors: serde_json::from_str(&r[3]).unwrap_or_default(),
                    segments: r[4].parse().unwrap_or(0),
                }
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Ok(peers)
    }

    /// Deletes expired peers; returns their ids.
    async fn reap(&self) -> Result<Vec<String>, ApiError> {
        let mut all = Vec::new();
        loop {
            let mut inv = self.scripts.reap.prepare_invoke();
            inv.arg(self.cutoff(now_ms()))
                .arg(REAP_BATCH)
                .arg(REAP_SEGMENTS);
            let gone: Vec<String> = self.invoke(&inv).await?;
            if gone.is_empty() {
                return Ok(all);
            }
            all.extend(gone);
        }
    }
}

fn topology_upsert(
    peer: &str,
    region: &str,
    rtt_ms: u32,
    addr: &str,
    edge: Option<&str>,
    neighbors: Vec<String>,
) -> Change {
    let mut metadata = BTreeMap::from([("addr".to_string(), addr.to_string())]);
    if let Some(edge) = edge {
        metadata.insert("edge".into(), edge.into());
    }
    Change::Upsert(wire::topology::PeerUpsert {
        peer_id: peer.to_string(),
        neighbors,
        region: Some(region.to_string()),
        rtt_ms: Some(rtt_ms),
        metadata,
    })
}

/// Serves the tracker on `listener` until `shutdown` resolves.
///
/// Starts even when Redis is down (endpoints answer 503 until it is up).
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let client = redis::Client::open(config.redis_url.as_str())
        .with_context(|| format!("parse redis URL {:?}", config.redis_url))?;
    let redis = ConnectionManager::new_lazy_with_config(
        client,
        redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500)),
    )
    .context("create redis connection manager")?;
    let metrics = Metrics::new("tracker");
    for (name, help) in [
        ("announces_total", "Accepted announces."),
        ("heartbeats_total", "Accepted heartbeats."),
        ("lookups_total", "Segment lookups answered."),
        ("reaped_peers_total", "Peers removed after missing the TTL."),
        (
            "suspect_reports_total",
            "Accepted reports of a failing peer.",
        ),
        (
            "peers_suspected_total",
            "Peers demoted in lookups after reports from a quorum of distinct peers.",
        ),
        (
            "late_peers_total",
            "Peers demoted in lookups for missing their heartbeats.",
        ),
        ("redis_errors_total", "Redis calls that failed."),
        ("topology_errors_total", "Calls to topology that failed."),
        (
            "state_losses_total",
            "Times Redis came back without the tracker's state.",
        ),
    ] {
        metrics.inc(name, help, 0);
    }
    let token_cfg = config.token.filter(|t| !t.is_empty());
    let limits = config.http.clone();
    let topology_url = config
        .topology_url
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_string());
    let topology = TopologySync::new(topology_url.clone(), token_cfg.clone(), metrics.clone());
    let ttl = config.ttl.max(Duration::from_millis(100));
    let reap_every = config
        .reap_interval
        .unwrap_or(ttl / 4)
        .min(ttl / 4)
        .max(Duration::from_millis(10));
    let guard = http::Guard::new(token_cfg.as_deref(), config.max_body, config.body_timeout);
    let suspect_after = config
        .suspect_after
        .unwrap_or(ttl / 2)
        .max(Duration::from_millis(100));
    let inner = Arc::new(Inner {
        redis,
        ttl,
        suspect_after,
        suspicions: std::sync::Mutex::new(suspect::Suspicions::new(
            config.suspect_quorum,
            config.suspect_window,
        )),
        max_segments: config.max_segments,
        max_neighbors: config.max_neighbors,
        metrics: metrics.clone(),
        events: crate::events::EventLog::new("tracker", config.events),
        topology: topology.clone(),
        scripts: Scripts {
            announce: redis::Script::new(&scripts::announce()),
            heartbeat: redis::Script::new(&scripts::heartbeat()),
            lookup: redis::Script::new(scripts::LOOKUP),
            peers: redis::Script::new(scripts::PEERS),
            reap: redis::Script::new(scripts::REAP),
            suspect: redis::Script::new(scripts::SUSPECT),
            late: redis::Script::new(scripts::LATE),
        },
        inventories: std::sync::Mutex::new(std::collections::HashMap::new()),
        known: std::sync::Mutex::new(std::collections::HashMap::new()),
        secret: token_cfg.clone(),
        topology_url: topology_url.clone(),
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
        resync_topology: tokio::sync::Notify::new(),
    });

    let stop = CancellationToken::new();
    let watcher = http::cancel_on(shutdown, &stop);
    let sync_task = tokio::spawn(topology.clone().run(stop.clone()));
    let reaper = tokio::spawn(reaper(inner.clone(), reap_every, stop.clone()));
    let epochs = tokio::spawn(epoch_loop(inner.clone(), stop.clone()));
    let watch = tokio::spawn(topology_watch(inner.clone(), stop.clone()));
    let lateness = tokio::spawn(late_watch(inner.clone(), stop.clone()));
    let router = router(AppState { inner }, metrics, guard);
    let result = tokio::select! {
        r = http::serve(listener, router, limits, stop.clone()) => r,
        r = reaper_guard(reaper) => r,
    };
    stop.cancel();
    let _ = epochs.await;
    let _ = watch.await;
    let _ = lateness.await;
    let _ = sync_task.await;
    let _ = watcher.await;
    result
}

/// The reaper is critical: if it dies, the tracker stops with its error.
async fn reaper_guard(task: tokio::task::JoinHandle<()>) -> anyhow::Result<()> {
    match task.await {
        Ok(()) => std::future::pending().await,
        Err(e) => Err(anyhow::anyhow!("reaper task died: {e}")),
    }
}

async fn reaper(inner: Arc<Inner>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let resync_every = inner.ttl.max(Duration::from_secs(1));
    // None: resync on the first sweep, so a restarted tracker re-tells
    // topology everything (changes queued at shutdown are not kept).
    let mut last_resync: Option<tokio::time::Instant> = None;
    let mut redis_was_down = false;
    loop {
        let mut wanted = false;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
            _ = inner.resync_topology.notified() => wanted = true,
        }
        match inner.reap().await {
            Ok(gone) => {
                if redis_was_down {
                    tracing::info!("redis is back");
                    redis_was_down = false;
                }
                for peer in &gone {
                    tracing::info!(peer, "peer expired; removed");
                    inner.forget_inventory(peer);
                    inner.forget_peer(peer);
                    inner.topology.push(peer, Change::Delete);
                }
                if !gone.is_empty() {
                    let mut s = inner.suspicions();
                    for peer in &gone {
                        s.forget(peer);
                    }
                }
                inner.events.record_all(
                    gone.iter()
                        .map(|peer| EventKind::PeerExpired { peer: peer.clone() }),
                );
                inner.metrics.inc(
                    "reaped_peers_total",
                    "Peers removed after missing the TTL.",
                    gone.len() as u64,
                );
            }
            Err(e) => {
                if !redis_was_down {
                    tracing::warn!("reaper: {}", e.body.error);
                    redis_was_down = true;
                }
                continue;
            }
        }
        let due = |every: Duration| last_resync.is_none_or(|t| t.elapsed() >= every);
        if inner.topology.enabled()
            && (inner.topology.take_lost_contact()
                || (wanted && due(RESYNC_GAP))
                || due(resync_every))
        {
            if let Ok(peers) = inner.live_peers().await {
                for p in peers {
                    let change = topology_upsert(
                        &p.peer_id,
                        &p.region,
                        p.rtt_ms,
                        &p.addr,
                        p.edge.as_deref(),
                        p.neighbors,
                    );
                    inner.topology.push(&p.peer_id, change);
                }
                last_resync = Some(tokio::time::Instant::now());
            }
        }
    }
}

/// Most late peers one sweep of [`late_watch`] reads.
const LATE_BATCH: usize = 4096;

/// Every quarter of `suspect_after` (or of the TTL, when shorter): records `peer_suspected` for live peers that
/// missed their heartbeats and no lookup has listed yet, and drops
/// suspicions that are over. One Redis round trip (a range read of
/// `mesh:seen`).
async fn late_watch(inner: Arc<Inner>, stop: CancellationToken) {
    let every = (inner.suspect_after / 4)
        .min(inner.ttl / 4)
        .max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        inner.suspicions().prune(std::time::Instant::now());
        if inner.suspect_after >= inner.ttl {
            continue;
        }
        let now = now_ms();
        let mut inv = inner.scripts.late.prepare_invoke();
        inv.arg(inner.cutoff(now))
            .arg(inner.late_cutoff(now))
            .arg(LATE_BATCH);
        if let Ok(late) = inner.invoke::<Vec<String>>(&inv).await {
            inner.note_late(late.iter().map(String::as_str));
        }
    }
}

/// How often topology's peer count is compared with this tracker's.
const TOPOLOGY_WATCH: Duration = Duration::from_secs(2);
/// Shortest time between two resyncs of topology asked for by the watch
/// (a peer topology refuses must not make it resync without end).
const RESYNC_GAP: Duration = Duration::from_secs(5);

/// Compares, every [`TOPOLOGY_WATCH`], how many peers topology lists with
/// how many this tracker knows; fewer (topology restarted empty, and no
/// change was queued while it was away) wakes the reaper to resync it.
async fn topology_watch(inner: Arc<Inner>, stop: CancellationToken) {
    let Some(base) = inner.topology_url.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(TOPOLOGY_WATCH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let known = inner.known.lock().unwrap_or_else(|e| e.into_inner()).len();
        if known == 0 {
            continue;
        }
        let listed = async {
            let v: serde_json::Value = inner
                .http
                .get(format!("{base}/peers"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v.as_array()
                .or_else(|| v.get("nodes").and_then(|n| n.as_array()))
                .map(Vec::len)
        };
        if listed.await.is_some_and(|n| n < known) {
            inner.resync_topology.notify_one();
        }
    }
}

/// Reads the epoch every [`epoch::CHECK_EVERY`]; when Redis lost the state
/// (or was empty when this tracker started), asks every peer it can name
/// to announce again. A Redis that does not answer is skipped over.
async fn epoch_loop(inner: Arc<Inner>, stop: CancellationToken) {
    let script = redis::Script::new(epoch::CHECK);
    let mut known: Option<String> = None;
    let mut tick = tokio::time::interval(epoch::CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut inv = script.prepare_invoke();
        inv.arg(epoch::fresh_epoch());
        let Ok((seen, created)) = inner.invoke::<(String, String)>(&inv).await else {
            continue;
        };
        let verdict = epoch::judge(known.as_deref(), &seen, created == "1");
        known = Some(seen);
        match verdict {
            epoch::Seen::Same => continue,
            epoch::Seen::Adopted => {
                // A restarted tracker with Redis intact: remember the live
                // peers, so a later loss can reach them.
                if let Ok(peers) = inner.live_peers().await {
                    for p in peers {
                        inner.remember_peer(&p.peer_id, &p.addr);
                    }
                }
                continue;
            }
            epoch::Seen::Lost => {
                tracing::warn!(
                    "redis lost the tracker's state; asking the peers to announce again"
                );
                inner.metrics.inc(
                    "state_losses_total",
                    "Times Redis came back without the tracker's state.",
                    1,
                );
                inner
                    .inventories
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                inner.suspicions().clear();
            }
            epoch::Seen::StartedEmpty => {}
        }
        let mut peers: BTreeMap<String, String> = inner
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, a)| (p.clone(), a.clone()))
            .collect();
        if let Some(topology) = &inner.topology_url {
            let graph = inner.http.get(format!("{topology}/graph")).send().await;
            if let Ok(g) = graph {
                if let Ok(g) = g.json::<wire::topology::GraphSnapshot>().await {
                    for (p, a) in epoch::peers_of_graph(&g) {
                        peers.entry(p).or_insert(a);
                    }
                }
            }
        }
        if peers.is_empty() {
            continue;
        }
        let asked = peers.len();
        let started = std::time::Instant::now();
        let ok = epoch::ask_to_announce(&inner.http, peers, inner.secret.as_deref()).await;
        tracing::info!(
            asked,
            ok,
            took_ms = started.elapsed().as_millis() as u64,
            "asked the peers to announce again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::handlers::sort_candidates;
    use super::*;
    use wire::tracker::Candidate;

    fn c(id: &str, region: &str, rtt: u32) -> Candidate {
        Candidate {
            peer_id: id.into(),
            region: region.into(),
            rtt_ms: rtt,
            addr: format!("{id}:8080"),
            edge: None,
            suspect: false,
        }
    }

    #[test]
    fn same_region_first_then_rtt_then_id() {
        let mut v = vec![
            c("d", "us", 1),
            c("c", "eu", 30),
            c("b", "eu", 10),
            c("a", "eu", 10),
        ];
        sort_candidates(&mut v, Some("eu"));
        let ids: Vec<_> = v.iter().map(|c| c.peer_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        sort_candidates(&mut v, None);
        let ids: Vec<_> = v.iter().map(|c| c.peer_id.as_str()).collect();
        assert_eq!(ids, ["d", "a", "b", "c"]);
    }

    #[test]
    fn suspects_go_after_every_other_candidate() {
        let mut v = vec![
            Candidate {
                suspect: true,
                ..c("a", "eu", 1)
            },
            c("b", "us", 50),
            c("c", "eu", 30),
            Candidate {
                suspect: true,
                ..c("d", "us", 2)
            },
        ];
        sort_candidates(&mut v, Some("eu"));
        let ids: Vec<_> = v.iter().map(|c| c.peer_id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a", "d"]);
    }

    #[test]
    fn redis_addr_forms() {
        assert_eq!(redis_url_from_addr("redis:6379"), "redis://redis:6379");
        assert_eq!(redis_url_from_addr("redis://h:1/2"), "redis://h:1/2");
    }
}
