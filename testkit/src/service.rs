//! A server started in-process the way every service and the agent expose
//! themselves: `run(config, listener, shutdown)`. The caller passes a
//! closure that fills in the config:
//!
//! ```text
//! let topology = Service::start(|l, stop| services::topology::run(config, l, stop)).await;
//! topology.wait_healthy().await;
//! let graph = topology.url("/graph");
//! topology.shutdown().await?;
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long `run` may take to return once its shutdown future resolved.
const STOP: Duration = Duration::from_secs(15);
/// How long a fresh server may take to answer `GET /healthz` with 200.
const HEALTHY: Duration = Duration::from_secs(20);
/// How often `GET /healthz` is polled, and the deadline of each request.
const HEALTH_POLL: Duration = Duration::from_millis(25);
const HEALTH_READ: Duration = Duration::from_secs(5);

/// The shutdown future handed to `run`: resolves when the [`Service`] is
/// stopped or dropped.
pub struct Shutdown(oneshot::Receiver<()>);

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A server task running in this process. Dropping it resolves its
/// [`Shutdown`] without waiting for `run` to return.
pub struct Service {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Service {
    /// Binds `127.0.0.1:0` and spawns `run` on it.
    pub async fn start<F, Fut>(run: F) -> Service
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Service::spawn(listener, run)
    }

    /// Spawns `run` on a listener the caller bound (a given loopback
    /// address, or the address of a service being restarted).
    pub fn spawn<F, Fut>(listener: TcpListener, run: F) -> Service
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(run(listener, Shutdown(rx)));
        Service {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Polls `GET /healthz` until it answers 200; panics after 20 s.
    pub async fn wait_healthy(&self) {
        let url = self.url("/healthz");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(HEALTH_READ)
            .build()
            .expect("http client");
        let healthy = crate::wait_until(HEALTHY, HEALTH_POLL, || async {
            matches!(client.get(&url).send().await, Ok(r) if r.status() == 200)
        })
        .await;
        if !healthy {
            panic!("timed out waiting until {url} answers 200");
        }
    }

    /// Resolves the shutdown future and waits for `run` to return (panics
    /// when it takes more than 15 s); answers what `run` returned. The
    /// address stays known, so a new service may bind it again.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        tokio::time::timeout(STOP, task)
            .await
            .expect("service stops within 15 s")
            .expect("service task")
    }

    /// [`Service::stop`], consuming the service (for `tokio::spawn`).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop().await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Serves `run` on `127.0.0.1:0` on a thread of its own with a
/// current-thread runtime, as the service binaries run, until the process
/// exits (benchmarks measure the server apart from their load). Panics on
/// that thread, naming it, when `run` fails.
pub fn serve_on_own_thread<F, Fut>(name: &str, run: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let addr = listener.local_addr().expect("local addr");
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                run(listener).await
            })
            .unwrap_or_else(|e| panic!("{thread_name}: {e:#}"));
        })
        .expect("spawn server thread");
    addr
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answers every connection with `200 OK` until `shutdown`, then `Ok`.
    async fn ok_server(listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (mut conn, _) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                c = listener.accept() => c?,
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    }

    #[tokio::test]
    async fn starts_answers_and_stops_with_what_run_returned() {
        let mut s = Service::start(ok_server).await;
        assert_eq!(s.url("/x"), format!("http://{}/x", s.addr));
        s.wait_healthy().await;
        s.stop().await.expect("run returned Ok");

        let failing = Service::start(|_, stop| async move {
            stop.await;
            anyhow::bail!("failed on purpose")
        })
        .await;
        let e = failing.shutdown().await.expect_err("run's error");
        assert_eq!(e.to_string(), "failed on purpose");
    }
}
