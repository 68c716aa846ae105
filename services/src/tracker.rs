//! The tracker: which live peer holds which segment, in Redis.

use std::time::Duration;

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
    /// Bearer token required on `POST /announce` and `POST /heartbeat`
    /// (`MESH_TOKEN`). Default: none.
    pub token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            redis_url: "redis://redis:6379".into(),
            topology_url: Some("http://topology:8090".into()),
            ttl: Duration::from_secs(120),
            reap_interval: None,
            token: None,
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

/// Serves the tracker on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = config;
    let token = tokio_util::sync::CancellationToken::new();
    let watcher = crate::http::cancel_on(shutdown, &token);
    let metrics = crate::metrics::Metrics::new("tracker");
    let r = axum::Router::new().route(
        "/healthz",
        axum::routing::get(|| async { crate::http::health("tracker") }),
    );
    let result = crate::http::serve(listener, crate::http::finish(r, metrics), token.clone()).await;
    token.cancel();
    let _ = watcher.await;
    result
}
