//! The agent's outgoing HTTP/1: plain hyper connections leaving from the
//! agent's own IP, with a fixed read buffer and deadlines. Relays stream
//! through [`open`], one connection each; heartbeats and topology's paths
//! go through [`call`], a fresh connection each (a few a minute); candidate
//! lookups, one per miss, share a few kept-alive tracker connections
//! ([`Pool`]).
//!
//! A full HTTP client (URL and IDNA tables, redirects) would cost the agent
//! more code pages than everything it does.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Read buffer of one connection: fixed, so 50 concurrent relays cost 50
/// small buffers, not 50 buffers grown to the segment's size.
const READ_BUF: usize = 16 * 1024;
/// Longest wait for a TCP connection to a service.
const CONNECT: Duration = Duration::from_secs(2);
/// Longest wait for a TCP connection to a neighbor. A neighbor on the same
/// network completes the handshake in well under a millisecond (its kernel
/// does, even when the agent is busy); one that has not within a second is
/// gone or cut off, and the next path is tried.
pub const RELAY_CONNECT: Duration = Duration::from_secs(1);
/// Largest control-plane answer read.
const MAX_ANSWER: usize = 1 << 20;

pub type Response = hyper::Response<hyper::body::Incoming>;

/// Connects to `addr`, from `bind` when it is of the same family.
pub async fn connect(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    within: Duration,
) -> Result<tokio::net::TcpStream, String> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(ip) = bind {
        if ip.is_ipv4() == addr.is_ipv4() {
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
    }
    let stream = tokio::time::timeout(within, socket.connect(addr))
        .await
        .map_err(|_| format!("connect {addr} timed out"))?
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends `req` on a new connection to `addr` and answers the response head;
/// the body streams from the connection.
pub async fn open(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    req: hyper::Request<http_body_util::Full<Bytes>>,
) -> Result<Response, String> {
    let mut sender = handshake(addr, bind, RELAY_CONNECT).await?;
    sender.send_request(req).await.map_err(|e| e.to_string())
}

type Sender = SendRequest<http_body_util::Full<Bytes>>;

/// A new HTTP/1 connection to `addr`, its driving task spawned.
async fn handshake(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    within: Duration,
) -> Result<Sender, String> {
    let stream = connect(addr, bind, within).await?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .read_buf_exact_size(Some(READ_BUF))
        .handshake::<_, http_body_util::Full<Bytes>>(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Why a pooled request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// More requests than `TRACKER_LOOKUPS_MAX` are running or waiting.
    Busy,
    /// The request failed (connect, send, read, deadline).
    Failed(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Busy => f.write_str("too many lookups in progress"),
            PoolError::Failed(e) => f.write_str(e),
        }
    }
}

/// A few kept-alive HTTP/1 connections to one service (the tracker), shared
/// by concurrent `GET`s: at most `connections` requests run at once, each on
/// an idle connection or a new one, and at most `max_waiting` run or wait;
/// more are refused at once ([`PoolError::Busy`]). A connection the server
/// closed is noticed on its next use and replaced; the request is retried
/// once on a new connection (`GET`s only, so retrying is safe).
pub struct Pool {
    // std Mutex: taking or returning an idle sender, never held across an await.
    idle: Mutex<Vec<(SocketAddr, Sender)>>,
    permits: tokio::sync::Semaphore,
    connections: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts one request running or waiting in a [`Pool`] while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pool {
    pub fn new(connections: usize, max_waiting: usize) -> Self {
        let connections = connections.max(1);
        Self {
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(connections),
            connections,
            waiting: AtomicUsize::new(0),
            max_waiting: max_waiting.max(1),
        }
    }

    /// Requests running or waiting now.
    pub fn in_use(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Connections kept idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// `GET base + path_and_query` with a bearer token when given; the
    /// whole exchange, waiting for a connection included, within `deadline`.
    pub async fn get(
        &self,
        base: &str,
        path_and_query: &str,
        token: Option<&str>,
        bind: Option<IpAddr>,
        deadline: Duration,
    ) -> Result<Answer, PoolError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(PoolError::Busy);
        }
        let _waiting = Waiting(&self.waiting);
        let (host, port, prefix) =
            split_url(base).ok_or_else(|| PoolError::Failed(format!("bad URL {base}")))?;
        let exchange = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| "pool closed".to_string())?;
            let mut last = String::new();
            for _ in 0..2 {
                let (addr, mut sender, reused) = match self.take_idle() {
                    Some((addr, s)) => (addr, s, true),
                    None => {
                        let addr = resolve(host, port, bind).await?;
                        (addr, handshake(addr, bind, CONNECT).await?, false)
                    }
                };
                if let Err(e) = sender.ready().await {
                    last = e.to_string();
                    if reused {
                        continue;
                    }
                    return Err(last);
                }
                let req = request(
                    host,
                    port,
                    &format!("{prefix}{path_and_query}"),
                    None,
                    token,
                )?;
                let resp = match sender.send_request(req).await {
                    Ok(r) => r,
                    // A kept connection the server closed meanwhile.
                    Err(e) if reused => {
                        last = e.to_string();
                        continue;
                    }
                    Err(e) => return Err(e.to_string()),
                };
                let status = resp.status().as_u16();
                let announce_again = announce_again(resp.headers());
                let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map_err(|e| format!("reading the answer: {e}"))?
                    .to_bytes();
                self.give_back(addr, sender);
                return Ok(Answer {
                    status,
                    body,
                    announce_again,
                });
            }
            Err(last)
        };
        match tokio::time::timeout(deadline, exchange).await {
            Err(_) => Err(PoolError::Failed(format!("no answer within {deadline:?}"))),
            Ok(r) => r.map_err(PoolError::Failed),
        }
    }

    fn take_idle(&self) -> Option<(SocketAddr, Sender)> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((addr, s)) = idle.pop() {
            if !s.is_closed() {
                return Some((addr, s));
            }
        }
        None
    }

    fn give_back(&self, addr: SocketAddr, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.connections {
            idle.push((addr, sender));
        }
    }
}

/// The first address of `host`, of the same family as `bind` when given.
async fn resolve(host: &str, port: u16, bind: Option<IpAddr>) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .find(|a| bind.is_none_or(|b| b.is_ipv4() == a.is_ipv4()))
        .ok_or_else(|| format!("cannot resolve {host}"))
}

/// A request to `host:port`: `GET`, or `POST` of `json`, with a bearer token
/// when given.
fn request(
    host: &str,
    port: u16,
    path_and_query: &str,
    json: Option<Vec<u8>>,
    token: Option<&str>,
) -> Result<hyper::Request<http_body_util::Full<Bytes>>, String> {
    let method = if json.is_some() {
        hyper::Method::POST
    } else {
        hyper::Method::GET
    };
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(hyper::header::HOST, host_header);
    if json.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    req.body(http_body_util::Full::new(Bytes::from(
        json.unwrap_or_default(),
    )))
    .map_err(|e| e.to_string())
}

/// `http://host[:port][/base]` split into host, port and base path.
pub fn split_url(url: &str) -> Option<(&str, u16, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, 80),
        }
    };
    (!host.is_empty()).then_some((host, port, base.trim_end_matches('/')))
}

/// A control-plane answer: status and the whole (bounded) body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// The tracker does not know this peer (`X-Mesh-Announce: again`).
    pub announce_again: bool,
}

fn announce_again(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(wire::tracker::ANNOUNCE_HEADER)
        .is_some_and(|v| v.as_bytes() == wire::tracker::ANNOUNCE_AGAIN.as_bytes())
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }

    /// The body as text, at most 200 characters, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(200)
            .collect()
    }
}

/// One control-plane request: `GET` (no body) or `POST` of a JSON body to
/// `base` + `path_and_query`, with a bearer token when given; the whole
/// exchange within `deadline`.
pub async fn call(
    base: &str,
    path_and_query: &str,
    json: Option<Vec<u8>>,
    token: Option<&str>,
    bind: Option<IpAddr>,
    deadline: Duration,
) -> Result<Answer, String> {
    let (host, port, prefix) = split_url(base).ok_or_else(|| format!("bad URL {base}"))?;
    let exchange = async {
        let addr = resolve(host, port, bind).await?;
        let req = request(
            host,
            port,
            &format!("{prefix}{path_and_query}"),
            json,
            token,
        )?;
        let resp = open(addr, bind, req).await?;
        let status = resp.status().as_u16();
        let announce_again = announce_again(resp.headers());
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            body,
            announce_again,
        })
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| format!("no answer within {deadline:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_base() {
        assert_eq!(
            split_url("http://tracker:7070"),
            Some(("tracker", 7070, ""))
        );
        assert_eq!(
            split_url("http://127.0.0.1:9/api/"),
            Some(("127.0.0.1", 9, "/api"))
        );
        assert_eq!(split_url("http://topology"), Some(("topology", 80, "")));
        assert_eq!(split_url("http://[::1]:8090"), Some(("::1", 8090, "")));
        assert_eq!(split_url("https://x"), None);
        assert_eq!(split_url("http://x:port"), None);
    }
}
