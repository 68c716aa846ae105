//! The state every part of one agent shares ([`Inner`], behind an `Arc`),
//! the count of transfers in flight ([`Busy`]) that hands freed memory back
//! to the kernel, and the task that drops expired copies ([`expiry_loop`]).

use crate::config::Config;
use crate::{cache, edge, flight, paths, stats};
use std::collections::HashMap;
use std::net::IpAddr;
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
    /// A copy that expires entered the cache (wakes [`expiry_loop`]).
    pub expiring_added: Notify,
    pub edge: Option<edge::EdgeDb>,
    // std Mutex: resolved neighbor addresses, refreshed every few seconds.
    pub resolved: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
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
            stats: stats::Stats::default(),
            paths: paths::Paths::default(),
            inventory_changed: Notify::new(),
            expiring_added: Notify::new(),
            edge: config.edge_db_url.clone().map(edge::EdgeDb::new),
            resolved: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Cached segment ids, sorted.
    pub fn inventory(&self) -> Vec<String> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).ids()
    }
}

/// One upstream fetch or relayed response stream in flight, counted in
/// [`Inner::busy`] while it lives. When the last one ends, freed buffers go
/// back to the kernel at once ([`release_free_memory`]) instead of at the
/// next heartbeat: one atomic add and subtract per miss, a trim per burst.
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
            release_free_memory();
        }
    }
}

/// Hands freed heap pages back to the kernel. After a burst of relays the
/// connections' buffers are freed in the middle of the heap, where glibc's
/// trim threshold does not reach; this is called when the last fetch or
/// relay in flight ends ([`Busy`]) and after each heartbeat, so also every
/// interval anyway.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns free pages of the allocator's own
        // heap to the kernel; it takes the allocator's lock itself.
        unsafe {
            malloc_trim(0);
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
