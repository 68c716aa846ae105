//! The connection limits of `gate::serve`, against a real listener on
//! loopback and raw TCP clients.

use axum::routing::get;
use axum::Router;
use gate::Limits;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: Limits, release: Arc<Notify>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/hold",
                get(move || {
                    let release = release.clone();
                    async move {
                        release.notified().await;
                        "released"
                    }
                }),
            );
        let stop = CancellationToken::new();
        let task = tokio::spawn(gate::serve(listener, router, limits, stop.clone()));
        Self { addr, stop, task }
    }

    async fn shutdown(self) {
        self.stop.cancel();
        let done = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(
            matches!(done, Ok(Ok(Ok(())))),
            "server did not stop cleanly"
        );
    }
}

fn limits(max_connections: usize, header_timeout: Duration) -> Limits {
    Limits {
        max_connections,
        header_timeout,
        max_requests: 3,
        max_header_bytes: 8192,
    }
}

/// One raw HTTP/1.1 GET; the whole answer as text (the server closes).
async fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send request");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no answer to {path} within 5 s");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until the peer closes; how long that took (bounded by `max`).
async fn time_to_close(mut s: TcpStream, max: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((t + max).into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn idle_connections_beyond_the_cap_do_not_lock_out_a_real_client() {
    let s = Server::start(limits(16, Duration::from_secs(30)), Arc::new(Notify::new())).await;
    let mut idle = Vec::new();
    for i in 0..48 {
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        // Half of them start a head and never finish it (slowloris).
        if i % 2 == 0 {
            c.write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ")
                .await
                .expect("partial head");
        }
        idle.push(c);
    }
    // New connections get half a second to send a head before they count
    // as idle; these never will.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t = Instant::now();
    let answer = raw_get(s.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(idle);
    s.shutdown().await;
}

#[tokio::test]
async fn a_head_must_arrive_within_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let s = Server::start(limits(16, timeout), Arc::new(Notify::new())).await;
    let t0 = Instant::now();
    let silent = TcpStream::connect(s.addr).await.expect("connect");
    let mut slow = TcpStream::connect(s.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("part");
    for (what, c) in [("silent", silent), ("slow", slow)] {
        let closed = time_to_close(c, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "{what} connection still open after 10 s");
        let closed = t0.elapsed();
        assert!(closed >= timeout, "{what} closed after {closed:?}");
    }
    // A kept-alive connection that goes quiet after a request is closed too.
    let mut kept = TcpStream::connect(s.addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("request");
    let closed = time_to_close(kept, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "idle keep-alive connection never closed");
    s.shutdown().await;
}

#[tokio::test]
async fn when_every_connection_is_busy_a_newcomer_gets_a_json_503() {
    let release = Arc::new(Notify::new());
    let s = Server::start(limits(4, Duration::from_secs(30)), release.clone()).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let addr = s.addr;
        held.push(tokio::spawn(async move { raw_get(addr, "/hold").await }));
    }
    // Wait until the four requests are in flight (each holds a connection).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = raw_get(s.addr, "/healthz").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains(r#"{"error":"too many connections"#),
        "{refused}"
    );
    release.notify_waiters();
    for h in held {
        let answer = h.await.expect("holder task");
        assert!(answer.ends_with("released"), "{answer}");
    }
    assert!(raw_get(s.addr, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    s.shutdown().await;
}

#[tokio::test]
async fn the_last_request_of_a_connection_says_close() {
    let s = Server::start(limits(16, Duration::from_secs(30)), Arc::new(Notify::new())).await;
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    let three = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(4);
    c.write_all(three.as_bytes())
        .await
        .expect("pipelined requests");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server did not close after its third answer"
    );
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 3, "{text}");
    assert_eq!(text.matches("connection: close").count(), 1, "{text}");
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let release = Arc::new(Notify::new());
    let s = Server::start(limits(16, Duration::from_secs(30)), release.clone()).await;
    let addr = s.addr;
    let held = tokio::spawn(async move { raw_get(addr, "/hold").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    release.notify_waiters();
    let answer = held.await.expect("holder task");
    assert!(answer.ends_with("released"), "{answer}");
    let done = tokio::time::timeout(Duration::from_secs(10), s.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))));
}
