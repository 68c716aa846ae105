//! Hostile clients get nothing (issue 9): ingest bodies are refused before
//! they are read, the byte budget holds under concurrent ingests, misses of
//! ids nobody holds leave no state behind, a route that fails the neighbor
//! check is not reused, fake holders cost time and never a segment, the
//! signalling client backs off when refused, and every error is JSON.
//!
//! Memory and descriptors are read from `/proc` of a spawned `mesh-agent`;
//! every hostile loop is bounded in count and time and stays on loopback.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::contract::env;

const SECRET: &str = "deployment-secret";
const MIB: u64 = 1 << 20;

/// Environment of an agent alone: no tracker, signalling or topology.
fn alone(peer: &str) -> Vec<(&'static str, String)> {
    vec![
        (env::PEER_ID, peer.to_string()),
        (env::TRACKER_URL, String::new()),
        (env::SIGNAL_URL, String::new()),
        (env::TOPOLOGY_URL, String::new()),
        (env::MESH_TOKEN, wire::auth::peer_token(SECRET, peer)),
    ]
}

fn ingest_head(id: &str, len: usize, token: Option<&str>, extra: &str) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /segments?id={id} HTTP/1.1\r\nHost: agent\r\n{auth}{extra}Content-Length: {len}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_partial_ingests_are_refused_at_once_and_the_agent_keeps_answering() {
    let peer = "hostile-1";
    let mut vars = alone(peer);
    vars.push(("INGEST_BODY_TIMEOUT_SEC", "2".into()));
    let agent = Spawned::start(&vars, false).await;
    let token = wire::auth::peer_token(SECRET, peer);
    let rss_before = agent.rss();

    // 40 connections each declare 2.4 MB and send 256 KiB of it, no token.
    let n = 40;
    let partial = vec![7u8; 256 * 1024];
    let mut held = Vec::new();
    for i in 0..n {
        let head = ingest_head(&format!("big{i}.ts"), 2_400_000, None, "");
        held.push(send_partial(agent.addr, &head, &partial).await);
    }
    for (i, s) in held.iter_mut().enumerate() {
        let (status, body) = read_answer(s, Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("connection {i}: no answer while the body is incomplete"));
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_field(&body), "authorization");
    }
    // Still answering, with the hostile connections open.
    let r = http()
        .get(format!("{}/healthz", agent.url()))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let rss_after = agent.rss();
    eprintln!("{n} refused partial bodies: RSS {rss_before} -> {rss_after} bytes");
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown < 4 * MIB,
        "RSS grew by {grown} bytes for {n} refused bodies"
    );
    drop(held);

    // Another peer's token is not this peer's.
    let other = wire::auth::peer_token(SECRET, "hostile-2");
    let mut s = send_partial(
        agent.addr,
        &ingest_head("x.ts", 10, Some(&other), ""),
        b"0123456789",
    )
    .await;
    let (status, body) = read_answer(&mut s, READ).await.expect("answer");
    assert_eq!(
        (status, error_field(&body).as_str()),
        (401, "authorization")
    );

    // Authorized, but the body stalls: 408 once INGEST_BODY_TIMEOUT_SEC passed.
    let started = Instant::now();
    let mut s = send_partial(
        agent.addr,
        &ingest_head("slow.ts", 10_000, Some(&token), ""),
        &[1u8; 100],
    )
    .await;
    let (status, body) = read_answer(&mut s, READ).await.expect("answer");
    assert_eq!(
        (status, error_field(&body).as_str()),
        (408, "body"),
        "{body}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // Authorized, but the body ends early: 400, not 413.
    let mut s = send_partial(
        agent.addr,
        &ingest_head("short.ts", 1_000, Some(&token), ""),
        &[1u8; 500],
    )
    .await;
    {
        use tokio::io::AsyncWriteExt;
        s.shutdown().await.expect("half-close");
    }
    let (status, body) = read_answer(&mut s, READ).await.expect("answer");
    assert_eq!(
        (status, error_field(&body).as_str()),
        (400, "body"),
        "{body}"
    );

    // Too large and announced with Expect: the 413 comes before the body.
    let mut s = send_partial(
        agent.addr,
        &ingest_head(
            "huge.ts",
            3_000_000,
            Some(&token),
            "Expect: 100-continue\r\n",
        ),
        &[],
    )
    .await;
    let (status, body) = read_answer(&mut s, READ).await.expect("answer");
    assert_eq!(
        (status, error_field(&body).as_str()),
        (413, "body"),
        "{body}"
    );

    // The real thing still works.
    let data = bytes(9, 50_000);
    let r = http()
        .post(format!("{}/segments", agent.url()))
        .query(&[("id", "fine.ts")])
        .bearer_auth(&token)
        .body(data)
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_authorized_ingests_cannot_exceed_the_byte_budget() {
    let peer = "budget-1";
    let budget: usize = 1 << 20;
    let mut vars = alone(peer);
    vars.push((env::CACHE_MAX_BYTES, budget.to_string()));
    let agent = Spawned::start(&vars, false).await;
    let token = wire::auth::peer_token(SECRET, peer);

    // Ten ingests of 200,000 bytes each, half sent: the budget holds five.
    let len = 200_000;
    let segs: Vec<(String, Vec<u8>)> = (0..10).map(|i| segment("budget", i, len)).collect();
    let mut conns = Vec::new();
    for (id, data) in &segs {
        let head = ingest_head(id, len, Some(&token), "");
        conns.push(send_partial(agent.addr, &head, &data[..len / 2]).await);
    }
    let mut refused = 0;
    let mut pending = Vec::new();
    for (i, mut s) in conns.into_iter().enumerate() {
        match read_answer(&mut s, Duration::from_millis(1500)).await {
            Some((status, body)) => {
                assert_eq!(status, 503, "{body}");
                assert_eq!(error_field(&body), "body");
                refused += 1;
            }
            None => pending.push((i, s)),
        }
    }
    assert_eq!(
        refused,
        10 - budget / len,
        "reservations beyond the budget are refused at once"
    );
    // The reserved ones complete.
    for (i, s) in &mut pending {
        use tokio::io::AsyncWriteExt;
        s.write_all(&segs[*i].1[len / 2..]).await.expect("rest");
        let (status, body) = read_answer(s, READ).await.expect("answer");
        assert_eq!(status, 201, "{body}");
    }
    let inv: wire::agent::Inventory = http()
        .get(format!("{}/inventory", agent.url()))
        .send()
        .await
        .expect("inventory")
        .json()
        .await
        .expect("inventory body");
    assert_eq!(inv.entries, budget / len);
    assert!(inv.bytes <= budget as u64, "{inv:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_missing_ids_leave_stats_memory_and_descriptors_bounded() {
    let cp = ControlPlane::start().await;
    let peer = "misses-1";
    let mut vars = alone(peer);
    vars.retain(|(k, _)| *k != env::TRACKER_URL && *k != env::MESH_TOKEN);
    vars.push((env::TRACKER_URL, cp.tracker.url("")));
    vars.push((env::HEARTBEAT_INTERVAL_SEC, "1".into()));
    let agent = Spawned::start(&vars, false).await;
    eventually("the tracker lists the agent", || async {
        cp.live_peers().await.contains(&peer.to_string())
    })
    .await;
    // Warm up, then measure: ids of songs (so each would be a song entry).
    let sha = "c".repeat(64);
    let id = |i: usize| wire::ids::segment_id(&format!("ghost{i}"), 1, &sha);
    let c = http();
    for i in 0..200 {
        let r = c
            .get(format!("{}/segments/{}", agent.url(), id(1_000_000 + i)))
            .send()
            .await
            .expect("miss");
        assert_eq!(r.status(), 404);
    }
    let rss_before = agent.rss();

    let total = 20_000;
    let workers = 8;
    let next = Arc::new(AtomicUsize::new(0));
    let max_fds = Arc::new(AtomicUsize::new(0));
    let pid = agent.child.id();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (c, next, max_fds) = (c.clone(), next.clone(), max_fds.clone());
            let base = agent.url();
            let sha = sha.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total || started.elapsed() > Duration::from_secs(120) {
                        return;
                    }
                    let id = wire::ids::segment_id(&format!("ghost{i}"), 1, &sha);
                    let r = c
                        .get(format!("{base}/segments/{id}"))
                        .send()
                        .await
                        .expect("miss answered");
                    assert_eq!(r.status(), 404, "{id}");
                    let _ = r.bytes().await;
                    if i % 500 == 0 {
                        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
                            .map(|d| d.count())
                            .unwrap_or(0);
                        max_fds.fetch_max(fds, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("worker");
    }
    assert!(
        next.load(Ordering::SeqCst) >= total,
        "all misses sent in time"
    );

    let r = c
        .get(format!("{}/stats", agent.url()))
        .send()
        .await
        .expect("stats");
    let body = r.bytes().await.expect("stats body");
    assert!(body.len() < 4096, "/stats is {} bytes", body.len());
    let stats: wire::agent::AgentStats = serde_json::from_slice(&body).expect("stats JSON");
    assert!(stats.songs.is_empty(), "{:?}", stats.songs.keys().take(5));
    let rss_after = agent.rss();
    let fds = max_fds.load(Ordering::SeqCst).max(agent.fds());
    eprintln!(
        "{total} misses: /stats {} bytes, RSS {rss_before} -> {rss_after} bytes, at most {fds} descriptors",
        body.len()
    );
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown < 3 * MIB,
        "RSS grew by {grown} bytes over {total} misses"
    );
    assert!(fds < 64, "{fds} descriptors open");
    // The totals still count every miss.
    let metrics = c
        .get(format!("{}/metrics", agent.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mesh_agent_client_failures_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("client_failures_total");
    assert!(failures >= total as u64, "{failures}");

    // A repeated miss is answered without asking the tracker again.
    let lookups = || async {
        let text = http()
            .get(cp.tracker.url("/metrics"))
            .send()
            .await
            .expect("tracker metrics")
            .text()
            .await
            .expect("tracker metrics text");
        text.lines()
            .find(|l| !l.starts_with('#') && l.contains("lookups_total"))
            .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .expect("tracker lookups_total")
    };
    let before = lookups().await;
    let again = wire::ids::segment_id("ghost-again", 1, &sha);
    for _ in 0..5 {
        let r = c
            .get(format!("{}/segments/{again}", agent.url()))
            .send()
            .await
            .expect("miss");
        assert_eq!(r.status(), 404);
        assert!(r.json::<wire::ErrorBody>().await.is_ok());
    }
    assert_eq!(lookups().await - before, 1, "one lookup for five misses");
}

/// A topology that answers `GET /path` from the test's switch: through
/// `evil` (not a neighbor of the asker) while poisoned, else the real line.
async fn switchable_topology(
    poisoned: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Query;
    use std::collections::HashMap;
    let app = axum::Router::new().route(
        "/path",
        axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
            let (poisoned, asked) = (poisoned.clone(), asked.clone());
            async move {
                asked.fetch_add(1, Ordering::SeqCst);
                let from = q.get("from").cloned().unwrap_or_default();
                let to = q.get("to").cloned().unwrap_or_default();
                let middle = if poisoned.load(Ordering::SeqCst) {
                    "evil"
                } else {
                    "r2"
                };
                axum::Json(wire::topology::PathResponse {
                    path: vec![from.clone(), middle.into(), to.clone()],
                    from,
                    to,
                    hops: 2,
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind topology");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_rejected_by_the_neighbor_check_is_not_reused() {
    let cp = ControlPlane::start().await;
    let poisoned = Arc::new(AtomicBool::new(true));
    let asked = Arc::new(AtomicUsize::new(0));
    let (topology, fake) = switchable_topology(poisoned.clone(), asked.clone()).await;
    // r1 takes its routes from the switchable topology only.
    let spec = MeshSpec::line("r", 3)
        .set(0, "SIGNAL_URL", "")
        .set(0, "TOPOLOGY_URL", topology);
    let agents = start_mesh(&cp, spec).await;
    let (id, data) = segment("poison", 1, 30_000);
    agents[2].ingest(&id, &data).await;
    eventually("the tracker lists r3 as holder", || async {
        cp.holders(&id).await == vec!["r3".to_string()]
    })
    .await;
    let url = format!("{}/segments/{id}", agents[0].url());

    let (status, _, body) = fetch(&http(), &url).await;
    assert_eq!(status, 502);
    let text = String::from_utf8_lossy(&body.expect("error body")).to_string();
    assert!(text.contains("starts with evil, not a neighbor"), "{text}");

    // The control plane mends; the very next request asks again.
    poisoned.store(false, Ordering::SeqCst);
    let (status, h, body) = fetch(&http(), &url).await;
    assert_eq!(
        status,
        200,
        "{:?}",
        body.map(|b| String::from_utf8_lossy(&b).to_string())
    );
    assert_eq!(body.expect("body"), data);
    assert_eq!(header(&h, "x-mesh-route"), "r1,r2,r3");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    fake.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_fake_holders_in_front_of_the_real_one_do_not_make_a_fetch_fail() {
    let cp = ControlPlane::start().await;
    // One fake address refuses connections, another answers 502 to everything.
    let refusing = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address")
    };
    let bad = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bad_addr = bad.local_addr().expect("address");
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::BAD_GATEWAY,
            axum::Json(wire::ErrorBody::new("lying holder")),
        )
    });
    let bad_task = tokio::spawn(async move {
        let _ = axum::serve(bad, app).await;
    });

    // k1 asks for 4 candidates a page: two pages of fakes come before k2.
    let spec = MeshSpec::line("k", 2)
        .set(0, "LOOKUP_CANDIDATES", "4")
        .set(1, "PEER_RTT_MS", "50");
    let agents = start_mesh(&cp, spec).await;
    let segs: Vec<_> = (0..3).map(|i| segment("fakes", i, 40_000)).collect();
    for (id, data) in &segs {
        agents[1].ingest(id, data).await;
    }
    // Eight fake holders of everything, announced as the deployment would
    // (the test's control plane is open, so any announcer may).
    for i in 0..8 {
        let addr = if i % 2 == 0 { refusing } else { bad_addr };
        let announce = wire::tracker::Announce {
            peer_id: format!("fake{i}"),
            region: "lab".into(),
            rtt_ms: 0,
            neighbors: vec!["k1".into()],
            segments: segs.iter().map(|(id, _)| id.clone()).collect(),
            addr: Some(addr.to_string()),
            edge: None,
        };
        let r = http()
            .post(cp.tracker.url("/announce"))
            .bearer_auth(SECRET)
            .json(&announce)
            .send()
            .await
            .expect("announce");
        assert!(r.status().is_success(), "{}", r.status());
    }
    let last = segs[2].0.clone();
    eventually("the tracker ranks eight fakes before k2", || async {
        let h = cp.holders(&last).await;
        h.len() == 9 && h[8] == "k2" && h[..8].iter().all(|p| p.starts_with("fake"))
    })
    .await;

    for (id, data) in &segs {
        let started = Instant::now();
        let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
        let body = body.expect("body");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(&body, data);
        assert_eq!(header(&h, "x-mesh-route"), "k1,k2");
        assert!(started.elapsed() < Duration::from_secs(15));
    }
    let s = agents[0].stats().await;
    assert_eq!(s.songs["fakes"].client_failures, 0);
    bad_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_and_an_unreadable_path_get_json_errors() {
    let agent = Spawned::start(&alone("json-1"), false).await;
    let c = http();
    let u = |p: &str| format!("{}{p}", agent.url());
    let cases = [
        (c.delete(u("/segments/x.ts")), 405, "method"),
        (c.post(u("/stats")), 405, "method"),
        (c.put(u("/segments")), 405, "method"),
        (c.get(u("/segments/%FF%FE.ts")), 400, "id"),
        (c.get(u("/songs/%C3%28/playlist.m3u8")), 400, "path"),
        (
            c.post(u("/segments?id=%FF"))
                .bearer_auth(wire::auth::peer_token(SECRET, "json-1")),
            400,
            "id",
        ),
    ];
    for (req, status, field) in cases {
        let r = req.send().await.expect("answer");
        assert_eq!(r.status().as_u16(), status);
        let text = r.text().await.expect("body");
        assert_eq!(error_field(&text), field, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_signalling_socket_is_retried_with_backoff_and_logged_once() {
    use std::io::BufRead;
    // A signalling service that refuses the name as taken, counting attempts.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let app = axum::Router::new().route(
        "/ws",
        axum::routing::get(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                (
                    axum::http::StatusCode::CONFLICT,
                    axum::Json(wire::ErrorBody::field("peer", "sig-1 is connected already")),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}/ws", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut vars = alone("sig-1");
    vars.retain(|(k, _)| *k != env::SIGNAL_URL);
    vars.push((env::SIGNAL_URL, url));
    vars.push(("SIGNAL_BACKOFF_MAX_MS", "1000".into()));
    let mut agent = Spawned::start(&vars, true).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    let stderr = agent.child.stderr.take().expect("piped stderr");
    let lines: Vec<String> = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    let n = attempts.load(Ordering::SeqCst);
    // 200 ms doubling to 1 s, jittered: a handful of attempts in 4 s.
    assert!((3..=20).contains(&n), "{n} attempts");
    let refusals: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("connected already"))
        .collect();
    assert_eq!(refusals.len(), 1, "logged once: {lines:#?}");
    assert!(refusals[0].contains("409"), "{}", refusals[0]);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_two_tracker_connections_and_excess_lookups_are_refused() {
    use axum::extract::ConnectInfo;
    use std::collections::HashSet;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    // A slow tracker that knows nothing, noting every connection it accepts
    // and how many lookups it answers at once.
    let conns: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = {
        let (conns, now, peak) = (conns.clone(), now.clone(), peak.clone());
        axum::Router::new()
            .route(
                "/segments/{id}",
                axum::routing::get(move |ConnectInfo(remote): ConnectInfo<SocketAddr>| {
                    let (conns, now, peak) = (conns.clone(), now.clone(), peak.clone());
                    async move {
                        conns.lock().unwrap().insert(remote);
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        (
                            axum::http::StatusCode::NOT_FOUND,
                            axum::Json(wire::ErrorBody::new("unknown segment")),
                        )
                    }
                }),
            )
            .into_make_service_with_connect_info::<SocketAddr>()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tracker = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut vars = alone("burst-1");
    vars.retain(|(k, _)| *k != env::TRACKER_URL);
    vars.push((env::TRACKER_URL, tracker));
    vars.push(("TRACKER_LOOKUPS_MAX", "16".into()));
    // 200 clients at once: above the peer's default connection cap, which
    // is tested on its own (tests/connections.rs); here only lookups are.
    vars.push(("HTTP_MAX_CONNECTIONS", "512".into()));
    let agent = Spawned::start(&vars, false).await;

    // 200 distinct misses at once.
    let sha = "d".repeat(64);
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let url = format!(
                "{}/segments/{}",
                agent.url(),
                wire::ids::segment_id(&format!("burst{i}"), 1, &sha)
            );
            tokio::spawn(async move {
                let r = http().get(&url).send().await.expect("answer");
                let status = r.status().as_u16();
                let body = r.text().await.expect("body");
                (status, body)
            })
        })
        .collect();
    let (mut not_found, mut busy) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.expect("task");
        let _: wire::ErrorBody = serde_json::from_str(&body).expect("JSON error");
        match status {
            404 => not_found += 1,
            503 => busy += 1,
            s => panic!("{s}: {body}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(not_found >= 16, "{not_found} answered, {busy} refused");
    assert!(busy >= 100, "{not_found} answered, {busy} refused");
    let opened = conns.lock().unwrap().len();
    assert!(opened <= 2, "{opened} connections to the tracker");
    assert!(peak.load(Ordering::SeqCst) <= 2);
    server.abort();
}
