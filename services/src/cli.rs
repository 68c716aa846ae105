//! What the three binaries share: tracing to stderr, the shutdown signal,
//! and turning empty environment values into "unset".

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(wire::contract::env::RUST_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// An empty string (e.g. `MESH_TOKEN=`) means "not set".
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// `0.0.0.0:<port>`: the default listen address of a service.
pub fn any_interface(port: u16) -> String {
    format!("0.0.0.0:{port}")
}

/// Binds `addr` (resolved through getaddrinfo), naming it on failure.
pub async fn bind(addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context;
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    tracing::info!(
        "listening on {}",
        l.local_addr().context("read bound address")?
    );
    Ok(l)
}

/// The connection limits (`HTTP_MAX_CONNECTIONS` and the rest, see the gate
/// crate) from the environment over the services' defaults.
pub fn http_limits() -> anyhow::Result<gate::Limits> {
    Ok(gate::Limits::from_env(gate::Limits::service(), |k| {
        std::env::var(k).ok()
    })?)
}
