//! What every services test shares: services started in-process on port 0
//! (`testkit::Service`), a real `redis-server` on a free loopback port
//! (stopped on drop), HTTP and WebSocket clients whose every read has a
//! deadline, and polling.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Deadline of every single network read in the tests.
pub const READ: Duration = Duration::from_secs(5);

/// A service running in this process; its shutdown future resolves on drop.
pub use testkit::Service;

pub async fn topology(config: services::topology::Config) -> Service {
    let s = Service::start(|l, stop| services::topology::run(config, l, stop)).await;
    s.wait_healthy().await;
    s
}

/// Starts a tracker; does not wait for health (Redis may be down on purpose).
pub async fn tracker(config: services::tracker::Config) -> Service {
    Service::start(|l, stop| services::tracker::run(config, l, stop)).await
}

pub async fn signalling(config: services::signalling::Config) -> Service {
    let s = Service::start(|l, stop| services::signalling::run(config, l, stop)).await;
    s.wait_healthy().await;
    s
}

/// A tracker config for `redis` and (optionally) a topology, TTL `ttl`.
pub fn tracker_config(
    redis: &Redis,
    topology: Option<&Service>,
    ttl: Duration,
) -> services::tracker::Config {
    services::tracker::Config {
        redis_url: redis.url(),
        topology_url: topology.map(|t| t.url("")),
        ttl,
        reap_interval: None,
        token: None,
        ..Default::default()
    }
}

/// An HTTP client whose every request has a deadline.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(READ)
        .build()
        .expect("http client")
}

/// Polls `check` every 25 ms until it holds; panics after 15 s naming `what`.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !testkit::wait_until(Duration::from_secs(15), Duration::from_millis(25), check).await {
        panic!("timed out waiting for: {what}");
    }
}

/// GET returning (status, JSON body).
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = client().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// GET returning the body as text (e.g. `/metrics`).
pub async fn get_text(url: &str) -> String {
    let r = client().get(url).send().await.expect("GET");
    r.text().await.expect("text body")
}

pub async fn get_as<T: DeserializeOwned>(url: &str) -> T {
    let (status, body) = get_json(url).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_value(body).expect("typed body")
}

/// POST raw bytes as JSON with an optional token; returns (status, JSON body).
pub async fn post_raw(
    url: &str,
    body: impl Into<reqwest::Body>,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("POST");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

pub async fn post(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    post_raw(url, body.to_string(), None).await
}

pub async fn delete(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = client().delete(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("DELETE");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Asserts a 4xx JSON error whose text mentions `needle`.
pub fn assert_error(status: u16, body: &serde_json::Value, want: u16, needle: &str) {
    assert_eq!(status, want, "body: {body}");
    let text = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {body}"));
    assert!(
        text.contains(needle),
        "error {text:?} should mention {needle:?}"
    );
}

/// A real `redis-server` on a free loopback port, without persistence
/// (`testkit::RedisServer`: `port`, `url`, `restart`, `stop`), plus a direct
/// connection to look at the keys.
pub struct Redis(testkit::RedisServer);

impl Redis {
    pub async fn start() -> Redis {
        Redis(testkit::RedisServer::start().await)
    }

    /// A direct connection, to look at the keys.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url().as_str()).expect("redis url");
        tokio::time::timeout(READ, client.get_multiplexed_async_connection())
            .await
            .expect("redis connect in time")
            .expect("redis connect")
    }
}

impl std::ops::Deref for Redis {
    type Target = testkit::RedisServer;

    fn deref(&self) -> &testkit::RedisServer {
        &self.0
    }
}

impl std::ops::DerefMut for Redis {
    fn deref_mut(&mut self) -> &mut testkit::RedisServer {
        &mut self.0
    }
}

/// A WebSocket client over tokio-tungstenite; every read has a deadline.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// Connects to signalling as `peer` in `room`.
pub async fn ws_connect(s: &Service, peer: &str, room: &str, token: Option<&str>) -> Ws {
    ws_try(s, &format!("peer={peer}&room={room}"), token)
        .await
        .unwrap_or_else(|(status, body)| panic!("ws connect {peer}: {status} {body}"))
}

/// Opens `/ws?<query>`; on an HTTP refusal returns (status, body).
pub async fn ws_try(s: &Service, query: &str, token: Option<&str>) -> Result<Ws, (u16, String)> {
    let mut req = format!("ws://{}/ws?{query}", s.addr)
        .into_client_request()
        .expect("ws request");
    if let Some(t) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    let res = tokio::time::timeout(READ, tokio_tungstenite::connect_async(req))
        .await
        .expect("ws connect in time");
    match res {
        Ok((stream, _)) => Ok(Ws { stream }),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            Err((status, body))
        }
        Err(e) => panic!("ws connect: {e}"),
    }
}

impl Ws {
    pub async fn send(&mut self, v: serde_json::Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(
            READ,
            self.stream.send(Message::Text(text.to_string().into())),
        )
        .await
        .expect("ws send in time")
        .expect("ws send");
    }

    /// The next JSON text message (pings are answered by tungstenite).
    pub async fn recv(&mut self) -> serde_json::Value {
        loop {
            let msg = tokio::time::timeout(READ, self.stream.next())
                .await
                .expect("ws message in time")
                .expect("ws open")
                .expect("ws frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json message"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Reads until the server closes; returns true when it did within the deadline.
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(READ, self.stream.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// A `path` message: its hop list.
    pub async fn recv_path(&mut self) -> Vec<String> {
        let m = self.recv().await;
        assert_eq!(m["type"], "path", "expected a path, got {m}");
        serde_json::from_value(m["path"].clone()).expect("path list")
    }

    /// An `error` message: its text.
    pub async fn recv_error(&mut self) -> String {
        let m = self.recv().await;
        assert_eq!(m["type"], "error", "expected an error, got {m}");
        m["error"].as_str().expect("error text").to_string()
    }

    pub async fn announce(&mut self, neighbors: &[&str]) {
        self.send(serde_json::json!({"type": "announce", "neighbors": neighbors}))
            .await;
    }

    pub async fn request_path(&mut self, target: &str) {
        self.send(serde_json::json!({"type": "request_path", "target": target}))
            .await;
    }
}

pub use testkit::rss_kib;

/// A service binary running as its own process on a loopback port; killed
/// on drop.
pub struct Spawned {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl Spawned {
    /// Starts `bin` with `env` (plus `RUST_LOG=warn`), listening on a free
    /// loopback port given in `addr_env`; waits until `/healthz` answers 200.
    pub async fn start(bin: &str, addr_env: &str, env: &[(&str, &str)]) -> Spawned {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", testkit::free_port())
            .parse()
            .expect("addr");
        let mut cmd = std::process::Command::new(bin);
        cmd.env_clear()
            .env("RUST_LOG", "warn")
            .env(addr_env, addr.to_string())
            .stdout(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn service binary");
        let s = Spawned { child, addr };
        let url = s.url("/healthz");
        eventually("spawned service answers /healthz", || async {
            matches!(client().get(&url).send().await, Ok(r) if r.status() == 200)
        })
        .await;
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a raw HTTP/1.1 request head and `body` (then half-closes when
/// `close_write`), reads the answer until the server closes or `wait`
/// passes; returns what was read (empty on a reset before any byte).
pub async fn raw_exchange(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
    close_write: bool,
    wait: Duration,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(READ, tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    if close_write {
        let _ = s.shutdown().await;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The status code of a raw HTTP answer (0 when there is none).
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The JSON body of a raw HTTP answer (Null when there is none).
pub fn raw_json(answer: &str) -> serde_json::Value {
    answer
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Opens `n` connections that each send a request head declaring
/// `declared` body bytes and then `sent` bytes of it (in the background,
/// ignoring write errors), without waiting between them; returns what each
/// read within `wait` after its head went out, with the connections still
/// held open by the returned guards until dropped.
pub async fn partial_bodies(
    addr: std::net::SocketAddr,
    path: &str,
    n: usize,
    declared: usize,
    sent: usize,
    wait: Duration,
) -> (Vec<String>, Vec<tokio::task::JoinHandle<()>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..n {
        let s = tokio::time::timeout(READ, tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (mut rd, mut wr) = s.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
        );
        writers.push(tokio::spawn(async move {
            if wr.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 16 << 10];
            let mut left = sent;
            while left > 0 {
                let k = left.min(chunk.len());
                let w = tokio::time::timeout(READ, wr.write_all(&chunk[..k])).await;
                if !matches!(w, Ok(Ok(()))) {
                    return;
                }
                left -= k;
            }
            // Hold the connection open (the rest of the body never comes).
            std::future::pending::<()>().await;
        }));
        readers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => {
                        out.extend_from_slice(&buf[..n]);
                        if out.windows(4).any(|w| w == b"\r\n\r\n")
                            && String::from_utf8_lossy(&out).contains('}')
                        {
                            break;
                        }
                    }
                }
            }
            String::from_utf8_lossy(&out).to_string()
        }));
    }
    let mut answers = Vec::new();
    for r in readers {
        answers.push(r.await.unwrap_or_default());
    }
    (answers, writers)
}
