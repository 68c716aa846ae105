//! `mesh-agent`: the peer of the mesh. It caches HLS segments, serves them
//! to any client, and fetches misses hop by hop through its neighbors only,
//! following the relay contract of `DESIGN.md`.
//!
//! - [`config`]: the environment contract ([`Config::from_env_map`]).
//! - [`cache`]: the entry- and byte-capped LRU of segments.
//! - [`flight`]: one streamed upstream fetch shared by concurrent misses.
//! - [`mesh`]: where a miss is fetched from (holders, routes, the edge) and the relay checks.
//! - [`http`]: the REST endpoints (segments, songs, inventory, stats, metrics).
//! - [`client`]: outgoing HTTP/1 (relays and control-plane calls) on plain hyper.
//! - [`control`]: tracker announce/heartbeat, the signalling client, topology paths.
//! - [`edge`]: the edge peer's PostgreSQL reads.
//! - [`stats`]: counters for `/stats` and `/metrics`.
//!
//! [`run`] serves on a listener until a shutdown future resolves, so tests
//! start agents in-process on port 0.

pub mod cache;
pub mod client;
pub mod config;
pub mod control;
pub mod edge;
pub mod flight;
pub mod http;
pub mod mesh;
pub mod stats;

pub use config::{Config, ConfigError, Neighbor};

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
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
    pub paths: control::Paths,
    pub inventory_changed: Notify,
    /// A copy that expires entered the cache (wakes [`expiry_loop`]).
    pub expiring_added: Notify,
    pub edge: Option<edge::EdgeDb>,
    // std Mutex: resolved neighbor addresses, refreshed every few seconds.
    pub resolved: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
}

impl Inner {
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

/// Serves the agent on `listener` until `shutdown` resolves; runs the
/// tracker and signalling clients beside it.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let inner = Arc::new(Inner {
        cache: Mutex::new(cache::Cache::new(
            config.cache_capacity,
            config.cache_max_bytes,
            config.playlist_ttl,
        )),
        flights: Mutex::new(HashMap::new()),
        inflight_bytes: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
        stats: stats::Stats::default(),
        paths: control::Paths::default(),
        inventory_changed: Notify::new(),
        expiring_added: Notify::new(),
        edge: config.edge_db_url.clone().map(edge::EdgeDb::new),
        resolved: Mutex::new(HashMap::new()),
        config,
    });
    let cancel = CancellationToken::new();
    let tracker = tokio::spawn(control::tracker_loop(inner.clone(), cancel.clone()));
    let signalling = tokio::spawn(control::signalling_loop(inner.clone(), cancel.clone()));
    let expiry = tokio::spawn(expiry_loop(inner.clone(), cancel.clone()));
    tracing::info!(
        peer = %inner.config.peer_id,
        addr = %listener.local_addr()?,
        neighbors = inner.config.neighbors.len(),
        edge = inner.edge.is_some(),
        "mesh agent serving"
    );
    let app = http::router(inner.clone());
    let stop = cancel.clone();
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stop.cancel();
    })
    .await;
    cancel.cancel();
    for (name, task) in [
        ("tracker client", tracker),
        ("signalling client", signalling),
        ("cache expiry", expiry),
    ] {
        if let Err(e) = task.await {
            anyhow::bail!("{name} task failed: {e}");
        }
    }
    result.map_err(|e| anyhow::anyhow!("serve: {e}"))
}
