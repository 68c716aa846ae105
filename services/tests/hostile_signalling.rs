//! Signalling against hostile and heavy clients: the `signalling` binary
//! spawned as its own process (memory read from its `/proc/<pid>/status`),
//! and in-process servers for the protocol-level limits. Every hostile loop
//! is bounded in count and time and goes to loopback only.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Sockets opened by the memory test.
const SOCKETS: usize = 1_000;
/// Connects in flight at once while opening them.
const CONNECTS_IN_FLIGHT: usize = 50;

/// The `signalling` binary on a loopback port, killed on drop.
struct Spawned {
    child: Child,
    addr: String,
}

impl Spawned {
    fn start(envs: &[(&str, &str)]) -> Spawned {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signalling"));
        cmd.env_clear()
            .env("SIGNAL_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn signalling");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Drains stderr for the life of the child so it never blocks on a
        // full pipe; hands over the bound address.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if let Some(addr) = line.split("listening on ").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_string());
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("signalling logs its address");
        Spawned { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    async fn connected(&self) -> u64 {
        let text = get_text(&self.url("/metrics")).await;
        text.lines()
            .find_map(|l| l.strip_prefix("signalling_connected_peers "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .expect("connected_peers in /metrics")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises this process's soft descriptor limit to `want` (or the hard
/// limit); a spawned child inherits it.
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur >= want as libc::rlim_t {
            return;
        }
        lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens one socket as `peer` in `room`, with small client buffers (the
/// client's memory is not what is measured, but 1,000 default clients
/// would hold 128 MiB in this process).
async fn open(addr: &str, peer: &str, room: &str) -> Client {
    let url = format!("ws://{addr}/ws?peer={peer}&room={room}");
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio::time::timeout(
        READ,
        tokio_tungstenite::connect_async_with_config(url, Some(config), false),
    )
    .await
    .expect("connect in time")
    .unwrap_or_else(|e| panic!("connect {peer}: {e}"));
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sockets_cost_little_and_their_memory_comes_back() {
    raise_nofile(4 * SOCKETS as u64);
    let s = Spawned::start(&[("SIGNAL_PING_SECONDS", "120")]);
    let (status, _) = get_json(&s.url("/healthz")).await;
    assert_eq!(status, 200);
    let before = s.rss_kib();

    let started = Instant::now();
    let addr = s.addr.clone();
    let mut clients: Vec<Client> = futures::stream::iter(0..SOCKETS)
        .map(|i| {
            let addr = addr.clone();
            async move {
                let mut ws = open(&addr, &format!("p{i}"), &format!("room{}", i % 4)).await;
                // An announce of a few names, as a real peer sends.
                let hello = serde_json::json!({
                    "type": "announce",
                    "neighbors": [format!("p{}", (i + 1) % SOCKETS), format!("p{}", (i + 4) % SOCKETS)],
                });
                ws.send(tokio_tungstenite::tungstenite::Message::Text(
                    hello.to_string().into(),
                ))
                .await
                .expect("announce");
                ws
            }
        })
        .buffer_unordered(CONNECTS_IN_FLIGHT)
        .collect()
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "opening took too long"
    );
    eventually("all sockets registered", || async {
        s.connected().await == SOCKETS as u64
    })
    .await;
    let open_rss = s.rss_kib();
    let per_socket = open_rss.saturating_sub(before) as f64 / SOCKETS as f64;

    for ws in &mut clients {
        let _ = ws.close(None).await;
    }
    drop(clients);
    eventually("all sockets gone", || async { s.connected().await == 0 }).await;
    // Freed memory is handed back shortly after the sockets leave.
    let mut after = s.rss_kib();
    let deadline = Instant::now() + Duration::from_secs(10);
    while after > before + 2 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = s.rss_kib();
    }
    eprintln!(
        "signalling RSS: {before} KiB at rest, {open_rss} KiB with {SOCKETS} sockets \
         ({per_socket:.1} KiB/socket), {after} KiB after they closed"
    );
    assert!(
        per_socket < 40.0,
        "{per_socket:.1} KiB per socket (RSS {before} -> {open_rss} KiB)"
    );
    assert!(
        after <= before + 4 * 1024,
        "memory not returned after close: {before} -> {open_rss} -> {after} KiB"
    );
    let (status, _) = get_json(&s.url("/healthz")).await;
    assert_eq!(status, 200);
}
