//! The state every part of one agent shares ([`Inner`], behind an `Arc`),
//! byte reservations against the cache's budget ([`Reservation`]), the
//! count of transfers in flight ([`Busy`]) that hands freed memory back
//! to the kernel, and the task that drops expired copies ([`expiry_loop`]).

use crate::config::Config;
use crate::{cache, client, edge, flight, paths, stats};
use lru::LruCache;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Shared state of one agent.
pub struct Inner {
    pub config: Config,
    // std Mutex: cache operations are short and never await.
    pub cache: Mutex<cache::Cache>,
    // std Mutex: the map of fetches in flight; the lock is taken before the
    // cache lock when both are needed (join-or-lead), never the other way.
    pub flights: Mutex<HashMap<String, Arc<flight::Flight>>>,
    /// Bytes of fetches in flight, reserved against the cache's byte cap.
    pub inflight_bytes: AtomicU64,
    /// Upstream fetches and relayed response streams open now (see [`Busy`]).
    pub busy: AtomicUsize,
    pub stats: stats::Stats,
    pub paths: paths::Paths,
    pub inventory_changed: Notify,
    /// The tracker does not know this peer (it lost its state): announce
    /// now (wakes [`crate::control::tracker_loop`]).
    pub announce_again: Notify,
    // std Mutex: replaced after a lookup, copied when a miss plans.
    /// Edge peers learned from lookups or topology (peer → edge database):
    /// where a miss goes when the tracker cannot help.
    edges: Mutex<BTreeMap<String, Option<String>>>,
    /// A copy that expires entered the cache (wakes [`expiry_loop`]).
    pub expiring_added: Notify,
    pub edge: Option<edge::EdgeDb>,
    // std Mutex: resolved neighbor addresses, refreshed every few seconds.
    pub resolved: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
    // std Mutex: ids no holder and no edge could serve, until when they are
    // answered 404 at once (`MISS_TTL_MS`, `MISS_CACHE_ENTRIES`).
    misses: Mutex<LruCache<String, Instant>>,
    // std Mutex: holders that failed to serve, until when they go last.
    penalties: Mutex<LruCache<String, Instant>>,
    // std Mutex: peers that could not be reached or did not answer on a
    // route, until when paths avoid them.
    suspects: Mutex<LruCache<String, Instant>>,
    /// Kept-alive connections to the tracker shared by candidate lookups.
    pub tracker: client::Pool,
}

impl Inner {
    /// Empty state for `config`: an empty cache, no fetches in flight.
    pub fn new(config: Config) -> Inner {
        Inner {
            cache: Mutex::new(cache::Cache::new(
                config.cache_capacity,
                config.cache_max_bytes,
                config.playlist_ttl,
            )),
            flights: Mutex::new(HashMap::new()),
            inflight_bytes: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            stats: stats::Stats::new(config.stats_max_songs),
            paths: paths::Paths::default(),
            inventory_changed: Notify::new(),
            announce_again: Notify::new(),
            edges: Mutex::new(BTreeMap::new()),
            expiring_added: Notify::new(),
            edge: config.edge_db_url.clone().map(edge::EdgeDb::new),
            resolved: Mutex::new(HashMap::new()),
            misses: Mutex::new(LruCache::new(
                NonZeroUsize::new(config.miss_cache_entries).unwrap_or(NonZeroUsize::MIN),
            )),
            penalties: Mutex::new(LruCache::new(
                NonZeroUsize::new(PENALTY_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
            suspects: Mutex::new(LruCache::new(
                NonZeroUsize::new(PENALTY_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
            tracker: client::Pool::new(config.tracker_connections, config.tracker_lookups_max),
            config,
        }
    }

    /// Remembers that nobody could serve `id` (for `MISS_TTL_MS`).
    pub fn remember_miss(&self, id: &str) {
        if self.config.miss_ttl.is_zero() {
            return;
        }
        let until = Instant::now() + self.config.miss_ttl;
        self.misses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id.to_string(), until);
    }

    /// Whether `id` was a miss nobody could serve a moment ago.
    pub fn recent_miss(&self, id: &str) -> bool {
        let mut m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        match m.peek(id) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                m.pop(id);
                false
            }
            None => false,
        }
    }

    /// Forgets a remembered miss (the id arrived here).
    pub fn forget_miss(&self, id: &str) {
        self.misses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop(id);
    }

    /// `peer` failed to serve: it goes after the others for `HOLDER_PENALTY_SEC`.
    pub fn penalize(&self, peer: &str) {
        if self.config.holder_penalty.is_zero() {
            return;
        }
        let until = Instant::now() + self.config.holder_penalty;
        self.penalties
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(peer.to_string(), until);
    }

    /// Whether `peer` failed to serve a moment ago.
    pub fn penalized(&self, peer: &str) -> bool {
        let mut m = self.penalties.lock().unwrap_or_else(|p| p.into_inner());
        match m.peek(peer) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                m.pop(peer);
                false
            }
            None => false,
        }
    }

    /// `peer` could not be reached or did not answer on a route: for
    /// `HOLDER_PENALTY_SEC` it goes last as a source and paths avoid it.
    /// Answers whether it was not suspected already (then it is worth
    /// telling the tracker).
    pub fn suspect(&self, peer: &str) -> bool {
        if peer == self.config.peer_id || self.config.holder_penalty.is_zero() {
            return false;
        }
        self.penalize(peer);
        let now = Instant::now();
        let until = now + self.config.holder_penalty;
        let mut m = self.suspects.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = m.peek(peer).is_none_or(|u| *u <= now);
        m.put(peer.to_string(), until);
        fresh
    }

    /// Whether `peer` could not be reached or did not answer a moment ago
    /// (a holder that only lacked an id is not suspected).
    pub fn suspected(&self, peer: &str) -> bool {
        let now = Instant::now();
        self.suspects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .peek(peer)
            .is_some_and(|until| *until > now)
    }

    /// The peers paths should avoid now (at most [`MAX_AVOID`]), `target`
    /// excepted: a route may still end at a suspect.
    pub fn avoid(&self, target: &str) -> Vec<String> {
        let now = Instant::now();
        let m = self.suspects.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .filter(|(p, until)| **until > now && p.as_str() != target)
            .map(|(p, _)| p.clone())
            .take(MAX_AVOID)
            .collect()
    }

    /// The edge peers this agent remembers.
    pub fn remembered_edges(&self) -> BTreeMap<String, Option<String>> {
        self.edges.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Remembers the edge peers a lookup or topology named (see
    /// [`crate::sources::remember_edges`]).
    pub fn learn_edges(&self, edges: BTreeMap<String, Option<String>>) {
        *self.edges.lock().unwrap_or_else(|p| p.into_inner()) = edges;
    }

    /// Cached segment ids, sorted.
    pub fn inventory(&self) -> Vec<String> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).ids()
    }
}

/// Most holders remembered as having failed (the least recent forgotten first).
const PENALTY_ENTRIES: usize = 256;
/// Most peers one path request asks signalling to avoid (the most recently
/// suspected first).
pub const MAX_AVOID: usize = 32;

/// Bytes reserved against the cache's byte budget while a transfer (an
/// ingest body, a relay, an edge read) is in memory; released when dropped.
/// The cache evicts to make room for reservations.
pub struct Reservation<'a> {
    inner: &'a Inner,
    bytes: u64,
}

impl<'a> Reservation<'a> {
    /// Reserves `bytes` only if the reservations in flight stay within the
    /// budget (`CACHE_MAX_BYTES`); `None` when they would not.
    pub fn try_new(inner: &'a Inner, bytes: u64) -> Option<Self> {
        let max = inner.config.cache_max_bytes;
        let mut cur = inner.inflight_bytes.load(Ordering::SeqCst);
        loop {
            let total = cur.checked_add(bytes).filter(|t| *t <= max)?;
            match inner.inflight_bytes.compare_exchange(
                cur,
                total,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    Self::make_room(inner, total);
                    return Some(Self { inner, bytes });
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Reserves `bytes` that are in memory already (an edge row just read).
    pub fn new(inner: &'a Inner, bytes: u64) -> Self {
        let total = inner.inflight_bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        Self::make_room(inner, total);
        Self { inner, bytes }
    }

    fn make_room(inner: &Inner, total: u64) {
        inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .make_room(total);
    }

    /// Bytes reserved by everything but this reservation.
    pub fn others(&self) -> u64 {
        self.inner
            .inflight_bytes
            .load(Ordering::SeqCst)
            .saturating_sub(self.bytes)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.inner
            .inflight_bytes
            .fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// One upstream fetch or relayed response stream in flight, counted in
/// [`Inner::busy`] while it lives. When the last one ends, freed buffers go
/// back to the kernel at once ([`gate::trim`]: connection buffers are freed
/// in the middle of the heap, where glibc's trim threshold does not reach)
/// instead of at the next heartbeat: one atomic add and subtract per miss,
/// a trim per burst.
pub struct Busy(Arc<Inner>);

impl Busy {
    pub fn new(inner: &Arc<Inner>) -> Self {
        inner.busy.fetch_add(1, Ordering::SeqCst);
        Self(inner.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            gate::trim();
        }
    }
}

/// Drops expired copies (playlists) when they expire, so the tracker hears
/// at once that this peer no longer holds them and stops offering it.
pub async fn expiry_loop(inner: Arc<Inner>, cancel: CancellationToken) {
    loop {
        let (dropped, next) = inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .purge_expired(Instant::now());
        if dropped > 0 {
            inner.inventory_changed.notify_one();
        }
        let until_next = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = until_next => {}
            _ = inner.expiring_added.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(penalty: &str) -> Inner {
        let env: HashMap<String, String> = [("PEER_ID", "peer-1"), ("HOLDER_PENALTY_SEC", penalty)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Inner::new(Config::from_env_map(&env).expect("config"))
    }

    #[test]
    fn a_suspect_is_avoided_by_paths_except_as_their_target() {
        let i = inner("10");
        assert!(i.suspect("peer-7"), "first suspicion is news");
        assert!(!i.suspect("peer-7"), "the second is not");
        assert!(i.penalized("peer-7"), "it also goes last as a source");
        assert!(i.suspected("peer-7"));
        i.penalize("peer-8");
        assert!(
            !i.suspected("peer-8"),
            "a holder that failed to serve is not a suspect"
        );
        assert!(i.suspect("peer-9"));
        let mut avoid = i.avoid("peer-3");
        avoid.sort();
        assert_eq!(avoid, vec!["peer-7".to_string(), "peer-9".to_string()]);
        assert_eq!(i.avoid("peer-7"), vec!["peer-9".to_string()]);
        assert!(!i.suspect("peer-1"), "never itself");
        assert!(!i.avoid("peer-3").contains(&"peer-1".to_string()));
    }

    #[test]
    fn no_penalty_means_no_suspicion() {
        let i = inner("0");
        assert!(!i.suspect("peer-7"));
        assert!(i.avoid("peer-3").is_empty());
    }
}
