//! `mesh-agent`: reads its configuration from the environment (see
//! `agent/README.md`), binds `PEER_ADDR` and serves until SIGINT/SIGTERM.

use anyhow::Context;
use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    tune_malloc();
    // A plain level (RUST_LOG=error|warn|info|debug|trace), not an EnvFilter:
    // its regex engine alone costs more idle memory than the whole agent.
    let level = std::env::var(wire::contract::env::RUST_LOG)
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    // Colours only on a terminal: `docker logs` reads a pipe.
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match serve() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-agent: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// glibc's allocator by default keeps freed memory in per-thread arenas and
/// raises its mmap threshold after each large free, so freed segment buffers
/// would stay resident. One arena, segment-sized blocks always on their own
/// mmap (returned to the kernel when freed) and an eager trim keep RSS close
/// to what the cache really holds.
fn tune_malloc() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        mallopt(M_ARENA_MAX, 1);
        mallopt(M_MMAP_THRESHOLD, 32 * 1024);
        mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    }
}

fn serve() -> anyhow::Result<()> {
    let config = agent::Config::from_env().context("configuration")?;
    // One thread: the agent is I/O bound and must stay within a few MiB.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .context("start runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("bind {}", config.listen))?;
        agent::run(config, listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
