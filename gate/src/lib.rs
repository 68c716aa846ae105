//! The door every HTTP request of the mesh's processes comes through.
//!
//! [`serve`] replaces `axum::serve` for the agent and the three services
//! with the limits a process facing hostile clients needs:
//!
//! - **A connection cap** ([`Limits::max_connections`], lowered to fit the
//!   process's descriptor limit). When it is reached, the connection that
//!   has been idle longest (no request in flight: a slowloris that never
//!   finished its head, or a kept-alive client between requests) is closed
//!   to make room. A connection younger than half a second is not closed
//!   for room (its client has had no time to send a head). Only when every
//!   connection is busy or that young is a newcomer refused, with a canned
//!   `503` JSON after its request head (see [`refuse`]).
//! - **A header timeout** ([`Limits::header_timeout`]): a request head must
//!   arrive within it, and a kept-alive connection may wait at most that
//!   long for its next request.
//! - **A keep-alive request limit** ([`Limits::max_requests`]): the answer
//!   to the last one carries `Connection: close`.
//! - **Small buffers**: request heads are capped at
//!   [`Limits::max_header_bytes`] (431 beyond).
//! - **Memory back after a burst**: half a second after connections close,
//!   freed heap pages go back to the operating system ([`trim`]).
//!
//! Every request carries `axum::extract::ConnectInfo<SocketAddr>`.
//! Request-level limits (bodies, tokens) belong to the routes.

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

mod bucket;
mod limits;
pub use bucket::Bucket;
pub use limits::{Limits, LimitsError};

/// Serves `router` on `listener` within `limits` until `stop` is cancelled,
/// then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let cap = limits.effective_connections();
    let table = Table::new(cap);
    let tasks = TaskTracker::new();
    let trimmer = tokio::spawn(trim_when_drained(table.clone(), stop.clone()));
    let refusing = Arc::new(tokio::sync::Semaphore::new(REFUSING));
    tracing::debug!(cap, "accepting connections");
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            // Out of descriptors or memory for a moment, or a connection
            // reset before it was accepted: wait a little, go on.
            Err(e) => {
                tracing::debug!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Answers go out as written: a response head and a short last
        // piece of body are small writes, which Nagle's algorithm would hold
        // until the client's (delayed, up to 40 ms) ACK of the previous one.
        let _ = stream.set_nodelay(true);
        let Some(slot) = table.admit() else {
            refuse(stream, &refusing);
            continue;
        };
        let router = router.clone();
        let stop = stop.clone();
        let limits = limits.clone();
        tasks.spawn(connection(stream, remote, router, limits, slot, stop));
    }
    tasks.close();
    tasks.wait().await;
    let _ = trimmer.await;
    Ok(())
}

/// Hands memory back half a second after connections closed: at most twice
/// a second, never per request. (Waiting for the table to empty is not
/// enough: a kept-alive client holds it open for its idle timeout.)
async fn trim_when_drained(table: Table, stop: CancellationToken) {
    let drained = table.drained.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = drained.notified() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        trim();
    }
}

/// Refusals that may linger at once (see [`refuse`]); beyond them a refused
/// connection is answered and dropped at once.
const REFUSING: usize = 64;

/// How long a new connection may take to send its first request head
/// before it counts as idle and may be closed to make room.
const GRACE: Duration = Duration::from_millis(500);

/// Answers a connection beyond the cap with the canned 503, after reading
/// the client's request head (an HTTP/1 client treats an answer that comes
/// before its request as an error), then reads and discards a little of
/// what follows, so that closing does not turn into a reset that hides the
/// answer. At most [`REFUSING`] refusals run at once, each for at most two
/// seconds and 80 KiB read; beyond them a connection is closed at once.
fn refuse(stream: TcpStream, refusing: &Arc<tokio::sync::Semaphore>) {
    const BODY: &str = r#"{"error":"too many connections: try again shortly"}"#;
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let mut buf = [0u8; 4096];
        let head = async {
            let (mut total, mut tail) = (0usize, [0u8; 3]);
            while total < 16 * 1024 {
                let n = match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => n,
                };
                total += n;
                let mut seen: Vec<u8> = tail.to_vec();
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    return true;
                }
                let keep = seen.len() - 3;
                tail.copy_from_slice(&seen[keep..]);
            }
            true
        };
        if !matches!(
            tokio::time::timeout(Duration::from_secs(1), head).await,
            Ok(true)
        ) {
            return;
        }
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        let written = tokio::time::timeout(
            Duration::from_millis(500),
            stream.write_all(answer.as_bytes()),
        )
        .await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
        let _ = stream.shutdown().await;
        let drain = async {
            let mut read = 0usize;
            while read < 64 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
        drop(permit);
    });
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    slot: Slot,
    stop: CancellationToken,
) {
    let evicted = slot.evicted.clone();
    let slot = Arc::new(slot);
    let served = Arc::new(AtomicU64::new(0));
    let max_requests = u64::from(limits.max_requests.max(1));
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let busy = Busy::new(slot.clone());
        let n = served.fetch_add(1, Ordering::Relaxed) + 1;
        let router = router.clone();
        async move {
            let mut resp = match router.oneshot(req.map(axum::body::Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if n >= max_requests {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            // The connection stays busy until the body is sent.
            Ok::<_, std::convert::Infallible>(resp.map(move |body| {
                body.map_frame(move |frame| {
                    let _still_busy = &busy;
                    frame
                })
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = builder
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%remote, "connection: {e}");
                }
                break;
            }
            _ = evicted.cancelled() => {
                tracing::debug!(%remote, "idle connection closed to make room");
                break;
            }
            _ = stop.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The open connections: how many, which are idle and since when.
#[derive(Clone)]
struct Table {
    inner: Arc<Mutex<TableInner>>,
    /// Told when a connection closes.
    drained: Arc<tokio::sync::Notify>,
}

struct TableInner {
    cap: usize,
    next: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    busy: u32,
    idle_since: Instant,
    /// Until then a new connection is not closed for room: its client has
    /// had no time to send a head yet.
    fresh_until: Instant,
    evict: CancellationToken,
}

/// One admitted connection; leaving the table when dropped.
struct Slot {
    id: u64,
    table: Table,
    evicted: CancellationToken,
}

impl Table {
    fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(TableInner {
                cap: cap.max(1),
                next: 0,
                open: HashMap::new(),
            })),
            drained: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection: free, or taken from the longest-idle
    /// connection; `None` when every connection is busy or new.
    fn admit(&self) -> Option<Slot> {
        let mut t = self.lock();
        let now = Instant::now();
        if t.open.len() >= t.cap {
            let oldest = t
                .open
                .iter()
                .filter(|(_, e)| e.busy == 0 && e.fresh_until <= now)
                .min_by_key(|(_, e)| e.idle_since)
                .map(|(&id, _)| id)?;
            if let Some(e) = t.open.remove(&oldest) {
                e.evict.cancel();
            }
        }
        t.next += 1;
        let id = t.next;
        let evict = CancellationToken::new();
        t.open.insert(
            id,
            Entry {
                busy: 0,
                idle_since: now,
                fresh_until: now + GRACE,
                evict: evict.clone(),
            },
        );
        Some(Slot {
            id,
            table: self.clone(),
            evicted: evict,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().open.remove(&self.id);
        self.table.drained.notify_one();
    }
}

/// A request in flight on a connection: it cannot be evicted meanwhile.
struct Busy {
    slot: Arc<Slot>,
}

impl Busy {
    fn new(slot: Arc<Slot>) -> Self {
        if let Some(e) = slot.table.lock().open.get_mut(&slot.id) {
            e.busy += 1;
        }
        Self { slot }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(e) = self.slot.table.lock().open.get_mut(&self.slot.id) {
            e.busy = e.busy.saturating_sub(1);
            if e.busy == 0 {
                e.idle_since = Instant::now();
            }
        }
    }
}

/// Hands the allocator's free pages back to the operating system, so a
/// burst's memory does not stay resident (glibc keeps freed arenas).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns free pages of the allocator's
        // own arenas to the kernel; it touches no memory in use.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The soft limit on open descriptors, when the platform tells it.
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given and nothing else.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0;
        if ok && rl.rlim_cur != libc::RLIM_INFINITY {
            return Some(rl.rlim_cur);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
        let t = Table::new(2);
        let a = Arc::new(t.admit().expect("a"));
        std::thread::sleep(Duration::from_millis(2));
        let b = Arc::new(t.admit().expect("b"));
        let busy_b = Busy::new(b.clone());
        assert!(t.admit().is_none(), "a is new: not closed for room yet");
        std::thread::sleep(GRACE);
        let c = Arc::new(t.admit().expect("c takes a's place"));
        assert!(a.evicted.is_cancelled());
        assert!(!b.evicted.is_cancelled());
        let _busy_c = Busy::new(c.clone());
        assert!(t.admit().is_none(), "both busy: refused");
        drop(busy_b);
        std::thread::sleep(GRACE);
        let _d = t.admit().expect("b idle again: it goes");
        assert!(b.evicted.is_cancelled());
        assert!(!c.evicted.is_cancelled());
    }
}
