//! Signalling against hostile and heavy clients: the `signalling` binary
//! spawned as its own process (memory read from its `/proc/<pid>/status`),
//! and in-process servers for the protocol-level limits. Every hostile loop
//! is bounded in count and time and goes to loopback only.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use services::signalling::Config;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

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
        testkit::rss_kib(self.child.id())
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
    // A small event ring: the default one keeps the last 4,096 socket
    // events, whose small allocations sit between the freed socket buffers
    // and keep about 5 MiB of their pages resident (bounded by the ring, and
    // measured in BENCHMARKS.md); this test is about the sockets themselves.
    let s = Spawned::start(&[("SIGNAL_PING_SECONDS", "120"), ("SIGNAL_EVENTS", "16")]);
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
                ws.send(Message::Text(hello.to_string().into()))
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

fn cfg() -> Config {
    Config::default()
}

/// `(status, JSON body)` of a refused socket; panics when it was accepted.
async fn refused(s: &Service, query: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    match ws_try(s, query, token).await {
        Ok(_) => panic!("{query}: socket accepted, expected a refusal"),
        Err((status, body)) => {
            let body: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{query}: {status} with a non-JSON body {body:?}"));
            assert!(body["error"].is_string(), "{query}: {body}");
            (status, body)
        }
    }
}

/// Keeps reading `ws` (so that tungstenite answers pings) until stopped;
/// hands the socket back.
fn keep_reading(
    mut ws: Ws,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Ws>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return ws,
                frame = ws.stream.next() => {
                    assert!(matches!(frame, Some(Ok(_))), "socket ended: {frame:?}");
                }
            }
        }
    });
    (stop, task)
}

async fn rooms(s: &Service) -> serde_json::Value {
    let (status, body) = get_json(&s.url("/rooms")).await;
    assert_eq!(status, 200);
    body["rooms"].clone()
}

#[tokio::test]
async fn a_peer_token_opens_only_its_own_name() {
    const SECRET: &str = "deployment-secret";
    let s = signalling(Config {
        token: Some(SECRET.into()),
        ..cfg()
    })
    .await;
    let a_token = wire::auth::peer_token(SECRET, "a");
    let b_token = wire::auth::peer_token(SECRET, "b");

    // No token, a wrong one, a forged one: 401, also for a bad query (the
    // schema is not shown to a stranger).
    for (query, token, needle) in [
        ("peer=a&room=r", None, "missing token"),
        ("peer=a%20b&room=r", None, "missing token"),
        ("peer=a&room=r", Some("nope"), "wrong token"),
        (
            "peer=a&room=r",
            Some(&format!("{a_token}0")[..]),
            "wrong token",
        ),
        ("peer=a&room=r", Some("a:00"), "wrong token"),
    ] {
        let (status, body) = refused(&s, query, token).await;
        assert_eq!(status, 401, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains(needle),
            "{body}"
        );
    }
    // b's token cannot open a's socket.
    let (status, body) = refused(&s, "peer=a&room=r", Some(&b_token)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["field"], "peer", "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("\"b\""),
        "{body}"
    );
    // With a good token, bad input is a 400 naming the field.
    let (status, body) = refused(&s, "peer=a&room=r%2F1", Some(&a_token)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "room", "{body}");

    // Its own token, and the deployment secret, open it.
    let mut a = ws_connect(&s, "a", "r", Some(&a_token)).await;
    let mut b = ws_connect(&s, "b", "r", Some(SECRET)).await;
    a.announce(&["b"]).await;
    b.announce(&["a"]).await;
    eventually("a - b", || async {
        rooms(&s).await["r"]["edges"] == serde_json::json!([["a", "b"]])
    })
    .await;
    a.request_path("b").await;
    assert_eq!(a.recv_path().await, ["a", "b"]);
    // Every other refusal of /ws is JSON too.
    let r = client()
        .post(s.url("/ws?peer=a&room=r"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.expect("JSON 405");
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn a_name_in_use_is_not_taken_over_but_a_dead_one_is() {
    let wait = Duration::from_millis(1000);
    let s = signalling(Config {
        takeover_wait: wait,
        ..cfg()
    })
    .await;
    let first = ws_connect(&s, "a", "r", None).await;
    let (stop, reader) = keep_reading(first);
    // The first socket answers the ping: the second is refused with 409,
    // as soon as the pong is back, and again on every retry.
    for _ in 0..3 {
        let t = Instant::now();
        let (status, body) = refused(&s, "peer=a&room=r", None).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["field"], "peer", "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("answers pings"),
            "{body}"
        );
        assert!(t.elapsed() < wait, "refused only after {:?}", t.elapsed());
    }
    // The same name in another room is another member.
    let _other_room = ws_connect(&s, "a", "q", None).await;
    let _ = stop.send(());
    let mut first = reader.await.expect("reader");
    // The first socket was never disturbed.
    first.request_path("a").await;
    assert_eq!(first.recv_path().await, ["a"]);
    assert_eq!(rooms(&s).await["r"]["peers"], serde_json::json!(["a"]));

    // Now it stops answering (a restarted peer's half-open socket): a new
    // socket gets the name after at most `takeover_wait`, and the old one
    // is closed.
    let t = Instant::now();
    let mut second = ws_connect(&s, "a", "r", None).await;
    assert!(t.elapsed() >= wait, "taken over after {:?}", t.elapsed());
    assert!(t.elapsed() < wait + Duration::from_secs(3));
    assert!(first.closed().await, "the silent socket is closed");
    second.request_path("a").await;
    assert_eq!(second.recv_path().await, ["a"]);
    let text = get_text(&s.url("/metrics")).await;
    assert!(text.contains("signalling_takeovers_total 1"), "{text}");

    // A peer that left cleanly is replaced at once.
    drop(second);
    eventually("a left r", || async { rooms(&s).await.get("r").is_none() }).await;
    let t = Instant::now();
    let _third = ws_connect(&s, "a", "r", None).await;
    assert!(t.elapsed() < wait, "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_rogue_member_with_its_own_token_changes_nobodys_path() {
    const SECRET: &str = "deployment-secret";
    let s = signalling(Config {
        token: Some(SECRET.into()),
        ..cfg()
    })
    .await;
    let names = ["a1", "a2", "a3", "a4", "a5"];
    let mut peers: Vec<Ws> = Vec::new();
    for n in names {
        peers.push(ws_connect(&s, n, "r", Some(&wire::auth::peer_token(SECRET, n))).await);
    }
    // A line a1 - a2 - a3 - a4 - a5, each edge listed by both ends.
    for (i, ws) in peers.iter_mut().enumerate() {
        let mut listed = Vec::new();
        if i > 0 {
            listed.push(names[i - 1]);
        }
        if i + 1 < names.len() {
            listed.push(names[i + 1]);
        }
        ws.announce(&listed).await;
    }
    eventually("4 edges", || async {
        rooms(&s).await["r"]["edges"].as_array().map(|e| e.len()) == Some(4)
    })
    .await;

    /// What each of a1..a5 receives when a1 asks for a5 and a5 for a1.
    async fn received(peers: &mut [Ws]) -> Vec<Vec<Vec<String>>> {
        peers[0].request_path("a5").await;
        let mut got: Vec<Vec<Vec<String>>> = Vec::new();
        for ws in peers.iter_mut() {
            got.push(vec![ws.recv_path().await]);
        }
        peers[4].request_path("a1").await;
        for (i, ws) in peers.iter_mut().enumerate() {
            got[i].push(ws.recv_path().await);
        }
        got
    }
    let before = received(&mut peers).await;
    assert_eq!(before[0][0], ["a1", "a2", "a3", "a4", "a5"]);

    // evil holds a valid token of its own and claims edges to both ends.
    let mut evil = ws_connect(
        &s,
        "evil",
        "r",
        Some(&wire::auth::peer_token(SECRET, "evil")),
    )
    .await;
    evil.announce(&["a1", "a5"]).await;
    // It cannot speak for a1 either.
    evil.send(serde_json::json!({"type":"announce","peer":"a1","neighbors":["evil"]}))
        .await;
    assert!(evil
        .recv_error()
        .await
        .contains("not this connection's name"));
    // Its announce has been handled (messages of one socket are in order):
    // it has no path to anyone.
    evil.request_path("a1").await;
    assert!(evil.recv_error().await.contains("no path"));

    let after = received(&mut peers).await;
    assert_eq!(after, before, "evil changed the paths peers receive");
    assert_eq!(
        rooms(&s).await["r"]["edges"].as_array().map(|e| e.len()),
        Some(4)
    );
    // evil was on no path: its next message answers its own request.
    evil.request_path("evil").await;
    assert_eq!(evil.recv_path().await, ["evil"]);
}

#[tokio::test]
async fn caps_on_sockets_refuse_with_json_before_the_upgrade() {
    let s = signalling(Config {
        max_sockets: 4,
        max_room_peers: 2,
        max_rooms_per_peer: 2,
        ..cfg()
    })
    .await;
    let _a = ws_connect(&s, "a", "r", None).await;
    let b = ws_connect(&s, "b", "r", None).await;
    let (status, body) = refused(&s, "peer=c&room=r", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["field"], "room", "{body}");

    let _aq = ws_connect(&s, "a", "q", None).await;
    let (status, body) = refused(&s, "peer=a&room=z", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["field"], "peer", "{body}");

    let _c = ws_connect(&s, "c", "q", None).await;
    let (status, body) = refused(&s, "peer=d&room=z", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("full"),
        "{body}"
    );

    // A place freed is a place taken.
    drop(b);
    eventually("b left", || async {
        rooms(&s).await["r"]["peers"] == serde_json::json!(["a"])
    })
    .await;
    let _d = ws_connect(&s, "d", "z", None).await;
    let text = get_text(&s.url("/metrics")).await;
    assert!(text.contains("signalling_connected_peers 4"), "{text}");
}

#[tokio::test]
async fn a_flooding_socket_gets_errors_then_a_close_frame() {
    let s = signalling(Config {
        msg_rate: 20,
        msg_burst: 10,
        flood_close: 20,
        ..cfg()
    })
    .await;
    // Within the rate, nothing is refused.
    let mut calm = ws_connect(&s, "calm", "r", None).await;
    for _ in 0..15 {
        calm.request_path("calm").await;
        assert_eq!(calm.recv_path().await, ["calm"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut f = ws_connect(&s, "f", "r", None).await;
    let started = Instant::now();
    let mut sent = 0;
    for _ in 0..200 {
        let m = serde_json::json!({"type": "request_path", "target": "f"}).to_string();
        if f.stream.send(Message::Text(m.into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent >= 30, "only {sent} sent");
    let (mut paths, mut limited, mut close) = (0, 0, None);
    while started.elapsed() < Duration::from_secs(10) {
        match tokio::time::timeout(READ, f.stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let m: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                if m["type"] == "path" {
                    paths += 1;
                } else {
                    assert!(
                        m["error"].as_str().unwrap_or("").contains("rate limit"),
                        "{m}"
                    );
                    assert_eq!(m["target"], "f", "the refusal names the target: {m}");
                    limited += 1;
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                close = frame;
                break;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("socket ended without a close frame: {other:?}"),
        }
    }
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    assert!(close.reason.contains("too many messages"), "{close:?}");
    assert!((10..=12).contains(&paths), "{paths} paths answered");
    assert!((1..=20).contains(&limited), "{limited} refused");
    // Others are still served.
    calm.request_path("calm").await;
    assert_eq!(calm.recv_path().await, ["calm"]);
    let text = get_text(&s.url("/metrics")).await;
    assert!(text.contains("signalling_flood_closed_total 1"), "{text}");
}

#[tokio::test]
async fn announces_over_the_neighbor_cap_are_refused() {
    let s = signalling(Config {
        max_neighbors: 4,
        ..cfg()
    })
    .await;
    let mut a = ws_connect(&s, "a", "r", None).await;
    a.announce(&["b", "c", "d", "e", "f"]).await;
    let err = a.recv_error().await;
    assert!(err.contains("5 listed, at most 4"), "{err}");
    a.announce(&["b", "c", "d", "e"]).await;
    a.request_path("a").await;
    assert_eq!(a.recv_path().await, ["a"]);
    // A message past the size that cap implies closes the socket.
    let big = format!(
        r#"{{"type":"announce","neighbors":["{}"]}}"#,
        "n".repeat(
            Config {
                max_neighbors: 4,
                ..cfg()
            }
            .max_message()
        )
    );
    let _ = a.stream.send(Message::Text(big.into())).await;
    assert!(a.closed().await);
    eventually("room gone with its last socket", || async {
        rooms(&s).await == serde_json::json!({})
    })
    .await;
}
