//! `mesh-agent`: the peer of the mesh. It caches HLS segments, serves them
//! to any client, and fetches misses hop by hop through its neighbors only,
//! following the relay contract of `DESIGN.md`.
//!
//! - [`config`]: the environment contract ([`Config::from_env_map`]).
//! - [`state`]: what every part of one agent shares, transfers in flight, cache expiry.
//! - [`cache`]: the entry- and byte-capped LRU of segments.
//! - [`flight`]: one streamed upstream fetch shared by concurrent misses.
//! - [`mesh`]: where a miss is fetched from (holders, routes, the edge) and the relay checks.
//! - [`sources`]: the order a client miss tries holders, its own edge and edge peers.
//! - [`http`]: the REST endpoints (segments, songs, inventory, stats, metrics).
//! - [`client`]: outgoing HTTP/1 (relays and control-plane calls) on plain hyper.
//! - [`control`]: tracker announce/heartbeat, the signalling client, topology paths.
//! - [`paths`]: routes the control plane answered, shared with the relay.
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
pub mod paths;
pub mod sources;
pub mod state;
pub mod stats;

pub use config::{Config, ConfigError, Neighbor};

use state::Inner;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Serves the agent on `listener` until `shutdown` resolves; runs the
/// tracker and signalling clients beside it.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let inner = Arc::new(Inner::new(config));
    let cancel = CancellationToken::new();
    let tracker = tokio::spawn(control::tracker_loop(inner.clone(), cancel.clone()));
    let signalling = tokio::spawn(control::signalling_loop(inner.clone(), cancel.clone()));
    let expiry = tokio::spawn(state::expiry_loop(inner.clone(), cancel.clone()));
    tracing::info!(
        peer = %inner.config.peer_id,
        addr = %listener.local_addr()?,
        neighbors = inner.config.neighbors.len(),
        edge = inner.edge.is_some(),
        "mesh agent serving"
    );
    let app = http::router(inner.clone());
    let watcher = {
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown => stop.cancel(),
                _ = stop.cancelled() => {}
            }
        })
    };
    let result = gate::serve(listener, app, inner.config.http.clone(), cancel.clone()).await;
    cancel.cancel();
    let _ = watcher.await;
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
