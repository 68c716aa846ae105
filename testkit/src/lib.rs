//! Helpers shared by the integration tests of `agent` and `services` (a
//! dev-dependency only; never part of a binary):
//!
//! - [`service`]: [`Service`], a server (`run(config, listener, shutdown)`)
//!   started in-process on port 0, polled until healthy, stopped by its
//!   [`Shutdown`] future; [`serve_on_own_thread`] for benchmarks.
//! - [`RedisServer`]: a real `redis-server` on a free loopback port, without
//!   persistence, stopped on drop.
//! - [`free_port`]: a loopback port nobody listens on right now.
//! - [`wait_until`]: polls a check until it holds or a deadline passes.
//! - [`bytes`]: deterministic pseudo-random test data.
//!
//! Each test crate keeps its own `eventually` on top of [`wait_until`], with
//! its own deadline and panic message.
//!
//! testkit knows no service: it does not depend on `services` (which
//! dev-depends on it), the callers pass `run` with its config.

pub mod process;
pub mod service;

pub use process::{
    answers_beside_idle_connections, rss_kib, spawn_with_descriptors, status_kib, KillOnDrop,
};
pub use service::{serve_on_own_thread, Service, Shutdown};

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a fresh `redis-server` may take to answer PING.
const REDIS_READY: Duration = Duration::from_secs(20);
/// Deadline of each connect and read while probing `redis-server`.
const REDIS_READ: Duration = Duration::from_secs(5);
/// How often `redis-server` is probed while it starts.
const REDIS_POLL: Duration = Duration::from_millis(25);

/// A loopback port that was free when asked (the listener is closed again).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `n` deterministic pseudo-random bytes (xorshift), the same for the same
/// `seed`.
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Polls `check` every `interval` until it holds (true) or `timeout` has
/// passed (false). `check` runs at least once, and once more after the
/// deadline has passed.
pub async fn wait_until<F, Fut>(timeout: Duration, interval: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(interval).await;
    }
}

/// A real `redis-server` on a free loopback port, without persistence.
/// Killed (and reaped) on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    pub async fn start() -> RedisServer {
        let mut r = RedisServer {
            port: free_port(),
            child: None,
        };
        r.restart().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts an empty server on the same port and waits until it
    /// answers PING; panics when it does not within 20 s.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (is it installed?)");
        self.child = Some(child);
        let port = self.port;
        if !wait_until(REDIS_READY, REDIS_POLL, || ping(port)).await {
            panic!("timed out waiting until redis-server on port {port} answers PING");
        }
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when a Redis on `127.0.0.1:port` answers an inline PING with PONG.
async fn ping(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let Ok(Ok(mut s)) = tokio::time::timeout(REDIS_READ, connect).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(REDIS_READ, s.read_exact(&mut buf)).await,
        Ok(Ok(_))
    ) && &buf == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn redis_starts_restarts_and_stops() {
        let mut r = RedisServer::start().await;
        assert!(ping(r.port).await);
        r.stop();
        assert!(!ping(r.port).await);
        r.restart().await;
        assert!(ping(r.port).await);
        let port = r.port;
        drop(r);
        assert!(!ping(port).await);
    }

    #[test]
    fn bytes_depend_on_the_seed_only() {
        assert_eq!(bytes(7, 1000), bytes(7, 1000));
        assert_ne!(bytes(7, 1000), bytes(8, 1000));
        assert_eq!(bytes(7, 10), bytes(7, 1000)[..10]);
    }

    #[tokio::test]
    async fn wait_until_reports_the_deadline() {
        let mut n = 0;
        let held = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            let done = n == 3;
            async move { done }
        })
        .await;
        assert!(held);
        assert_eq!(n, 3);
        let never = wait_until(
            Duration::from_millis(50),
            Duration::from_millis(10),
            || async { false },
        )
        .await;
        assert!(!never);
    }
}
