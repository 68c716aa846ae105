//! The tracker against a real redis-server, and with a real topology.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use wire::topology::GraphSnapshot;
use wire::tracker::{PeersResponse, SegmentLookup};

const LONG: Duration = Duration::from_secs(600);

fn announce(
    id: &str,
    region: &str,
    rtt: u32,
    neighbors: &[&str],
    segs: &[&str],
) -> serde_json::Value {
    json!({"peer_id": id, "region": region, "rtt_ms": rtt, "neighbors": neighbors, "segments": segs})
}

fn ids(c: &[wire::tracker::Candidate]) -> Vec<&str> {
    c.iter().map(|c| c.peer_id.as_str()).collect()
}

async fn tracker_up(redis: &Redis, topo: Option<&Service>, ttl: Duration) -> Service {
    let t = tracker(tracker_config(redis, topo, ttl)).await;
    t.wait_healthy().await;
    t
}

#[tokio::test]
async fn announce_lookup_sorts_by_region_then_rtt_then_id() {
    let redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    for body in [
        announce("p-us", "us", 1, &[], &["s1"]),
        announce("p-eu-slow", "eu", 40, &[], &["s1", "s2"]),
        announce("p-eu-b", "eu", 10, &[], &["s1"]),
        announce("p-eu-a", "eu", 10, &[], &["s1"]),
        announce("p-none", "eu", 1, &[], &["s9"]),
        json!({"peer_id":"edge-1","region":"us","rtt_ms":3,"neighbors":[],"segments":[],"edge":"edge-db-a","addr":"10.0.0.9:8080"}),
        json!({"peer_id":"edge-2","region":"eu","rtt_ms":30,"neighbors":[],"segments":["s1"],"edge":"edge-db-b"}),
    ] {
        let (status, ack) = post(&t.url("/announce"), &body).await;
        assert_eq!(status, 200, "{ack}");
        assert_eq!(ack["peer_id"], body["peer_id"]);
        assert_eq!(ack["ttl_seconds"], 600);
    }
    let l: SegmentLookup = get_as(&t.url("/segments/s1?region=eu")).await;
    assert_eq!(l.segment, "s1");
    assert_eq!(
        ids(&l.holders),
        ["p-eu-a", "p-eu-b", "edge-2", "p-eu-slow", "p-us"]
    );
    assert_eq!(ids(&l.edges), ["edge-2", "edge-1"]);
    assert_eq!(
        l.holders[0].addr, "p-eu-a:8080",
        "addr defaults to <peer>:8080"
    );
    assert_eq!(l.edges[1].addr, "10.0.0.9:8080");
    assert_eq!(l.edges[1].edge.as_deref(), Some("edge-db-a"));

    // No preferred region: RTT, then id.
    let l: SegmentLookup = get_as(&t.url("/segments/s1?limit=2")).await;
    assert_eq!(ids(&l.holders), ["p-us", "p-eu-a"]);
    assert_eq!(ids(&l.edges), ["edge-1", "edge-2"]);
    // Nobody holds it: no holders, edges still there for the fallback.
    let l: SegmentLookup = get_as(&t.url("/segments/nothing-here.ts?region=us")).await;
    assert!(l.holders.is_empty());
    assert_eq!(ids(&l.edges), ["edge-1", "edge-2"]);

    // Announce replaces the inventory; heartbeat with segments too.
    post(
        &t.url("/announce"),
        &announce("p-us", "us", 1, &[], &["s2"]),
    )
    .await;
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert!(!ids(&l.holders).contains(&"p-us"));
    let (status, _) = post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p-eu-slow","segments":["s3"]}),
    )
    .await;
    assert_eq!(status, 200);
    let l: SegmentLookup = get_as(&t.url("/segments/s2")).await;
    assert_eq!(ids(&l.holders), ["p-us"]);
    let l: SegmentLookup = get_as(&t.url("/segments/s3")).await;
    assert_eq!(ids(&l.holders), ["p-eu-slow"]);

    let peers: PeersResponse = get_as(&t.url("/peers")).await;
    let names: Vec<_> = peers.peers.iter().map(|p| p.peer_id.as_str()).collect();
    assert_eq!(
        names,
        [
            "edge-1",
            "edge-2",
            "p-eu-a",
            "p-eu-b",
            "p-eu-slow",
            "p-none",
            "p-us"
        ]
    );
    let slow = &peers.peers[4];
    assert_eq!(
        (slow.region.as_str(), slow.rtt_ms, slow.segments),
        ("eu", 40, 1)
    );
    assert!(slow.last_seen_secs >= 0.0 && slow.last_seen_secs < 60.0);
    assert_eq!(peers.peers[0].edge.as_deref(), Some("edge-db-a"));
}

#[tokio::test]
async fn heartbeat_of_unknown_peer_says_announce_again() {
    let redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    let (status, body) = post(&t.url("/heartbeat"), &json!({"peer_id":"ghost"})).await;
    assert_error(status, &body, 404, "announce again");
    post(&t.url("/announce"), &announce("p1", "eu", 5, &["p2"], &[])).await;
    let (status, body) = post(&t.url("/heartbeat"), &json!({"peer_id":"p1"})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn ttl_reaping_removes_peer_from_lookups_and_topology() {
    let redis = Redis::start().await;
    let topo = topology(services::topology::Config::default()).await;
    let t = tracker_up(&redis, Some(&topo), Duration::from_secs(2)).await;
    post(
        &t.url("/announce"),
        &announce("p1", "eu", 5, &["p2"], &["s1"]),
    )
    .await;
    post(
        &t.url("/announce"),
        &announce("p2", "eu", 6, &["p1", "p3"], &["s1"]),
    )
    .await;
    post(
        &t.url("/announce"),
        &announce("p3", "eu", 7, &["p2"], &["s1"]),
    )
    .await;
    let graph = topo.url("/graph");
    eventually("topology has all three peers and two edges", || async {
        let g: GraphSnapshot = get_as(&graph).await;
        g.nodes.len() == 3 && g.edges.len() == 2
    })
    .await;
    let g: GraphSnapshot = get_as(&graph).await;
    assert_eq!(g.nodes[0].metadata["addr"], "p1:8080");
    assert_eq!(g.nodes[0].region.as_deref(), Some("eu"));

    // p1 and p2 keep heartbeating; p3 falls silent and must vanish.
    let lookup = t.url("/segments/s1");
    let mut gone_from_lookup = false;
    let mut gone_from_topology = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !(gone_from_lookup && gone_from_topology) {
        assert!(tokio::time::Instant::now() < deadline, "p3 was not reaped");
        for p in ["p1", "p2"] {
            let (status, body) = post(&t.url("/heartbeat"), &json!({"peer_id": p})).await;
            assert_eq!(status, 200, "{p}: {body}");
        }
        let l: SegmentLookup = get_as(&lookup).await;
        gone_from_lookup = !ids(&l.holders).contains(&"p3");
        let g: GraphSnapshot = get_as(&graph).await;
        gone_from_topology = g.nodes.iter().all(|n| n.peer_id != "p3")
            && g.edges.iter().all(|e| !e.contains(&"p3".to_string()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p1", "p2"]);
    // The reaper cleaned Redis up, not only hid the peer.
    let mut conn = redis.conn().await;
    eventually("p3's keys deleted", || {
        let mut conn = conn.clone();
        async move {
            let exists: i64 = redis::cmd("EXISTS")
                .arg("mesh:segs:p3")
                .query_async(&mut conn)
                .await
                .unwrap_or(-1);
            let info: i64 = redis::cmd("HEXISTS")
                .arg("mesh:info")
                .arg("p3")
                .query_async(&mut conn)
                .await
                .unwrap_or(-1);
            let holders: Vec<String> = redis::cmd("SMEMBERS")
                .arg("mesh:holders:s1")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            exists == 0 && info == 0 && !holders.contains(&"p3".to_string())
        }
    })
    .await;
    let (status, body) = post(&t.url("/heartbeat"), &json!({"peer_id":"p3"})).await;
    assert_error(status, &body, 404, "announce again");
    let text = get_text(&t.url("/metrics")).await;
    assert!(text.contains("tracker_reaped_peers_total 1"), "{text}");
    assert!(text.contains("tracker_live_peers 2"), "{text}");
    let _: () = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map(|_: String| ())
        .expect("ping");
}

#[tokio::test]
async fn liveness_is_decided_on_read_not_by_the_reaper() {
    let redis = Redis::start().await;
    // TTL 600 s: the reaper sweeps at start, then only every 150 s.
    let t = tracker_up(&redis, None, LONG).await;
    post(&t.url("/announce"), &announce("p1", "eu", 5, &[], &["s1"])).await;
    post(&t.url("/announce"), &announce("p2", "eu", 9, &[], &["s1"])).await;
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["p1", "p2"]);
    // p1 was last heard from 601 s ago.
    age(&redis, "p1", 601).await;
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["p2"], "expired holder hidden at once");
    let p: PeersResponse = get_as(&t.url("/peers")).await;
    assert_eq!(p.peers.len(), 1);
    let (status, body) = post(&t.url("/heartbeat"), &json!({"peer_id":"p1"})).await;
    assert_error(status, &body, 404, "announce again");
    let mut conn = redis.conn().await;
    let exists: i64 = redis::cmd("HEXISTS")
        .arg("mesh:info")
        .arg("p1")
        .query_async(&mut conn)
        .await
        .expect("exists");
    assert_eq!(exists, 1, "not reaped yet: hidden by the read alone");
    // Announcing again revives it.
    post(&t.url("/announce"), &announce("p1", "eu", 5, &[], &["s1"])).await;
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["p1", "p2"]);
}

#[tokio::test]
async fn neighbor_changes_and_topology_outage_catch_up() {
    let redis = Redis::start().await;
    // Topology is down at first: a port with nothing listening.
    let spare = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let topo_addr = spare.local_addr().expect("addr");
    drop(spare);
    let mut cfg = tracker_config(&redis, None, Duration::from_secs(8));
    cfg.topology_url = Some(format!("http://{topo_addr}"));
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    let (status, _) = post(&t.url("/announce"), &announce("p1", "eu", 5, &["p2"], &[])).await;
    assert_eq!(status, 200, "announce works while topology is down");
    post(&t.url("/announce"), &announce("p2", "eu", 5, &[], &[])).await;
    post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p2","neighbors":["p1"]}),
    )
    .await;

    // Topology comes up on that address and catches up.
    let listener = tokio::net::TcpListener::bind(topo_addr)
        .await
        .expect("rebind topology port");
    let topology = Service::spawn(listener, |l, stop| {
        services::topology::run(services::topology::Config::default(), l, stop)
    });
    let graph = format!("http://{topo_addr}/graph");
    eventually("topology caught up with p1 and p2", || async {
        let g: GraphSnapshot = get_as(&graph).await;
        g.nodes.len() == 2 && g.edges.len() == 1
    })
    .await;
    // A heartbeat that changes neighbors reaches topology.
    post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p1","neighbors":[]}),
    )
    .await;
    post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p2","neighbors":[]}),
    )
    .await;
    eventually("edge dropped after neighbor change", || async {
        let g: GraphSnapshot = get_as(&graph).await;
        g.edges.is_empty()
    })
    .await;
    let _ = topology.shutdown().await;
}

#[tokio::test]
async fn redis_stopped_and_restarted_under_a_running_tracker() {
    let mut redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    let (status, _) = post(&t.url("/announce"), &announce("p1", "eu", 5, &[], &["s1"])).await;
    assert_eq!(status, 200);

    redis.stop();
    for (what, status, body) in [
        (
            "announce",
            post(&t.url("/announce"), &announce("p2", "eu", 5, &[], &[])).await,
        ),
        (
            "heartbeat",
            post(&t.url("/heartbeat"), &json!({"peer_id":"p1"})).await,
        ),
        ("lookup", get_json(&t.url("/segments/s1")).await),
        ("peers", get_json(&t.url("/peers")).await),
        ("healthz", get_json(&t.url("/healthz")).await),
    ]
    .map(|(w, (s, b))| (w, s, b))
    {
        assert_eq!(status, 503, "{what}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("redis unavailable"),
            "{what}: {body}"
        );
    }
    // Metrics still answer without Redis.
    let r = client()
        .get(t.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), 200);

    redis.restart().await; // empty: no persistence
    eventually("tracker recovers by itself", || async {
        post(&t.url("/announce"), &announce("p1", "eu", 5, &[], &["s1"]))
            .await
            .0
            == 200
    })
    .await;
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["p1"]);
    let (status, _) = get_json(&t.url("/healthz")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn redis_down_at_start_then_up() {
    let mut redis = Redis::start().await;
    redis.stop();
    let t = tracker(tracker_config(&redis, None, LONG)).await;
    eventually("tracker answers 503 while redis is down", || async {
        client()
            .get(t.url("/peers"))
            .send()
            .await
            .map(|r| r.status() == 503)
            .unwrap_or(false)
    })
    .await;
    redis.restart().await;
    t.wait_healthy().await;
    let (status, _) = post(&t.url("/announce"), &announce("p1", "eu", 5, &[], &[])).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn token_guards_announce_and_heartbeat_only() {
    let redis = Redis::start().await;
    let mut cfg = tracker_config(&redis, None, LONG);
    cfg.token = Some("tok".into());
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    let body = announce("p1", "eu", 5, &[], &["s1"]).to_string();
    let (status, resp) = post_raw(&t.url("/announce"), body.clone(), None).await;
    assert_error(status, &resp, 401, "missing token");
    let (status, resp) = post_raw(&t.url("/announce"), body.clone(), Some("nope")).await;
    assert_error(status, &resp, 401, "wrong token");
    let (status, _) = post_raw(&t.url("/announce"), body, Some("tok")).await;
    assert_eq!(status, 200);
    let hb = json!({"peer_id":"p1"}).to_string();
    let (status, resp) = post_raw(&t.url("/heartbeat"), hb.clone(), None).await;
    assert_error(status, &resp, 401, "token");
    let (status, _) = post_raw(&t.url("/heartbeat"), hb, Some("tok")).await;
    assert_eq!(status, 200);
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["p1"]);
    let _: PeersResponse = get_as(&t.url("/peers")).await;
}

#[tokio::test]
async fn bad_input_everywhere_gets_4xx_and_the_tracker_keeps_serving() {
    let redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    post(
        &t.url("/announce"),
        &announce("keep", "eu", 5, &[], &["s1"]),
    )
    .await;
    let a = t.url("/announce");
    let h = t.url("/heartbeat");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (&a, "{".into(), 400, "malformed"),
        (&a, "[]".into(), 400, "invalid body"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":1,"neighbors":[]}"#.into(), 400, "segments"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":"fast","neighbors":[],"segments":[]}"#.into(), 400, "rtt_ms"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":-3,"neighbors":[],"segments":[]}"#.into(), 400, "rtt_ms"),
        (&a, r#"{"peer_id":"p q","region":"eu","rtt_ms":1,"neighbors":[],"segments":[]}"#.into(), 400, "peer_id"),
        (&a, r#"{"peer_id":"p","region":"","rtt_ms":1,"neighbors":[],"segments":[]}"#.into(), 400, "region"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":1,"neighbors":["../x"],"segments":[]}"#.into(), 400, "neighbors[0]"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":1,"neighbors":[],"segments":["ok",".hidden"]}"#.into(), 400, "segments[1]"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":1,"neighbors":[],"segments":[],"addr":"a b"}"#.into(), 400, "addr"),
        (&a, r#"{"peer_id":"p","region":"eu","rtt_ms":1,"neighbors":[],"segments":[],"edge":"x/y"}"#.into(), 400, "edge"),
        (&a, format!(r#"{{"peer_id":"p","region":"eu","rtt_ms":1,"neighbors":[],"segments":["{}"]}}"#, "s".repeat(2 << 20)), 413, "larger than"),
        (&h, "nope".into(), 400, "malformed"),
        (&h, r#"{"segments":[]}"#.into(), 400, "peer_id"),
        (&h, r#"{"peer_id":"keep","segments":"s1"}"#.into(), 400, "segments"),
        (&h, r#"{"peer_id":"keep","neighbors":[null]}"#.into(), 400, "neighbors[0]"),
        (&h, r#"{"peer_id":"keep","segments":["a/b"]}"#.into(), 400, "segments[0]"),
        (&h, r#"{"peer_id":"nobody"}"#.into(), 404, "announce again"),
    ];
    for (url, body, want, needle) in cases {
        let (status, resp) = post_raw(url, body.clone(), None).await;
        assert_error(status, &resp, want, needle);
    }
    for (q, want, needle) in [
        ("/segments/s1?limit=0", 400, "limit"),
        ("/segments/s1?limit=abc", 400, "limit"),
        ("/segments/s1?limit=100000", 400, "limit"),
        ("/segments/s1?region=e%20u", 400, "region"),
        ("/segments/bad%2Fid", 400, "segment"),
        ("/segments/", 404, "no such endpoint"),
    ] {
        let (status, body) = get_json(&t.url(q)).await;
        assert_error(status, &body, want, needle);
    }
    // Nothing stored was lost, and the tracker still serves.
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["keep"]);
    let p: PeersResponse = get_as(&t.url("/peers")).await;
    assert_eq!(p.peers.len(), 1);
    assert_eq!(p.peers[0].segments, 1);
    t.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unchanged_inventory_skips_the_write_but_never_goes_stale() {
    let redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    post(
        &t.url("/announce"),
        &announce("p1", "eu", 5, &[], &["s1", "s2"]),
    )
    .await;
    // Same inventory (other order): still held.
    let (status, _) = post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p1","segments":["s2","s1"]}),
    )
    .await;
    assert_eq!(status, 200);
    let l: SegmentLookup = get_as(&t.url("/segments/s2")).await;
    assert_eq!(ids(&l.holders), ["p1"]);
    // Redis diverges behind the tracker's back (another writer, a restore):
    // the hash check notices and the full inventory is written again.
    let mut conn = redis.conn().await;
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg("mesh:invh")
        .arg("p1")
        .arg("other")
        .ignore()
        .cmd("SREM")
        .arg("mesh:holders:s1")
        .arg("p1")
        .ignore()
        .cmd("SREM")
        .arg("mesh:segs:p1")
        .arg("s1")
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("diverge");
    let (status, _) = post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p1","segments":["s1","s2"]}),
    )
    .await;
    assert_eq!(status, 200);
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["p1"]);
    // A changed inventory is written.
    post(
        &t.url("/heartbeat"),
        &json!({"peer_id":"p1","segments":["s3"]}),
    )
    .await;
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert!(l.holders.is_empty());
    let p: PeersResponse = get_as(&t.url("/peers")).await;
    assert_eq!(p.peers[0].segments, 1);
}

#[tokio::test]
async fn a_restarted_empty_topology_is_refilled() {
    let redis = Redis::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let topo_addr = listener.local_addr().expect("addr");
    let start_topology = |listener: tokio::net::TcpListener| {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(services::topology::run(
            services::topology::Config::default(),
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        (tx, task)
    };
    let (stop, task) = start_topology(listener);
    let mut cfg = tracker_config(&redis, None, Duration::from_secs(3));
    cfg.topology_url = Some(format!("http://{topo_addr}"));
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    post(&t.url("/announce"), &announce("p1", "eu", 5, &["p2"], &[])).await;
    post(&t.url("/announce"), &announce("p2", "eu", 5, &["p1"], &[])).await;
    let graph = format!("http://{topo_addr}/graph");
    eventually("topology has both", || async {
        get_as::<GraphSnapshot>(&graph).await.nodes.len() == 2
    })
    .await;
    // Topology restarts empty; the tracker makes no call that could fail.
    let _ = stop.send(());
    task.await.expect("join").expect("topology stopped");
    let listener = tokio::net::TcpListener::bind(topo_addr)
        .await
        .expect("rebind");
    let (stop, task) = start_topology(listener);
    let g: GraphSnapshot = get_as(&graph).await;
    assert!(g.nodes.is_empty());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        for p in ["p1", "p2"] {
            let (status, _) = post(&t.url("/heartbeat"), &json!({"peer_id": p})).await;
            assert_eq!(status, 200);
        }
        let g: GraphSnapshot = get_as(&graph).await;
        if g.nodes.len() == 2 && g.edges.len() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "topology was not refilled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(());
    let _ = task.await;
}

/// A stand-in for a peer's HTTP port that records each request's first
/// line and `Authorization` header and answers 202.
async fn recording_peer() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(String, Option<String>)>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(stream);
                let (mut first, mut auth) = (String::new(), None);
                let mut line = String::new();
                loop {
                    line.clear();
                    match tokio::time::timeout(READ, r.read_line(&mut line)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if first.is_empty() {
                        first = l.to_string();
                    } else if let Some(v) = l
                        .split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                    {
                        auth = Some(v.1.trim().to_string());
                    }
                }
                let _ = tx.send((first, auth));
                let _ = r
                    .get_mut()
                    .write_all(
                        b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (addr, rx)
}

/// A lookup as `peer` (its own token): whether the answer says "announce again".
async fn told_to_announce(t: &Service, peer: &str) -> bool {
    let r = client()
        .get(t.url("/segments/s1"))
        .bearer_auth(wire::auth::peer_token("tok", peer))
        .send()
        .await
        .expect("lookup");
    assert_eq!(r.status(), 200);
    r.headers()
        .get(wire::tracker::ANNOUNCE_HEADER)
        .is_some_and(|v| v == wire::tracker::ANNOUNCE_AGAIN)
}

#[tokio::test]
async fn redis_losing_its_state_brings_the_peers_back_at_once() {
    let mut redis = Redis::start().await;
    let mut cfg = tracker_config(&redis, None, LONG);
    cfg.token = Some("tok".into());
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    let (addr, mut calls) = recording_peer().await;
    // The tracker's first reading of the epoch finds a fresh Redis and asks
    // every peer it knows to announce: let it happen before p1 is known.
    eventually("the tracker wrote its epoch", || async {
        let mut c = redis.conn().await;
        redis::cmd("EXISTS")
            .arg("mesh:epoch")
            .query_async::<i64>(&mut c)
            .await
            .unwrap_or(0)
            == 1
    })
    .await;
    // It reads the known peers right after writing the epoch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut body = announce("p1", "eu", 5, &[], &["s1"]);
    body["addr"] = json!(addr.to_string());
    let p1_token = wire::auth::peer_token("tok", "p1");
    let (status, resp) = post_raw(&t.url("/announce"), body.to_string(), Some(&p1_token)).await;
    assert_eq!(status, 200, "{resp}");
    // A known peer looks up undisturbed; one the tracker never heard of is
    // told to announce. Without a token a lookup is anonymous: no advice.
    assert!(!told_to_announce(&t, "p1").await);
    assert!(told_to_announce(&t, "p9").await);
    let r = client()
        .get(t.url("/segments/s1?peer=p9"))
        .send()
        .await
        .expect("lookup");
    assert!(r.headers().get(wire::tracker::ANNOUNCE_HEADER).is_none());

    // Then lose everything.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), calls.recv())
            .await
            .is_err(),
        "nobody is asked while the state is intact"
    );
    redis.restart().await; // empty: no persistence
    let (line, auth) = tokio::time::timeout(Duration::from_secs(15), calls.recv())
        .await
        .expect("the peer is asked to announce within 15 s")
        .expect("recorder alive");
    assert_eq!(
        line,
        format!("POST {} HTTP/1.1", wire::agent::ANNOUNCE_AGAIN_PATH)
    );
    assert_eq!(
        auth,
        Some(format!("Bearer {p1_token}")),
        "the peer's own token"
    );
    // Until it does, its lookups say the same, and its heartbeat is a 404.
    assert!(told_to_announce(&t, "p1").await);
    let hb = json!({"peer_id":"p1"}).to_string();
    let (status, _) = post_raw(&t.url("/heartbeat"), hb, Some(&p1_token)).await;
    assert_eq!(status, 404);
    let (status, _) = post_raw(&t.url("/announce"), body.to_string(), Some(&p1_token)).await;
    assert_eq!(status, 200);
    assert!(!told_to_announce(&t, "p1").await);
    let metrics = get_text(&t.url("/metrics")).await;
    assert!(
        metrics.contains("tracker_state_losses_total 1"),
        "{metrics}"
    );
}

// ---- Suspicion: POST /suspect, missed heartbeats ----

fn report(reporter: &str, suspect: &str) -> serde_json::Value {
    json!({"peer_id": reporter, "suspect": suspect, "reason": "connect refused"})
}

fn suspects(c: &[wire::tracker::Candidate]) -> Vec<&str> {
    c.iter()
        .filter(|c| c.suspect)
        .map(|c| c.peer_id.as_str())
        .collect()
}

/// The `peer_suspected` events of the tracker, in order: (peer, reporters, reason).
async fn suspected_events(t: &Service) -> Vec<(String, Vec<String>, String)> {
    let r: wire::events::EventsResponse = get_as(&t.url("/events")).await;
    r.events
        .into_iter()
        .filter_map(|e| match e.kind {
            wire::events::EventKind::PeerSuspected {
                peer,
                reporters,
                reason,
            } => Some((peer, reporters, reason)),
            _ => None,
        })
        .collect()
}

/// Sets `peer`'s last-seen time `secs` seconds in the past, as if it had
/// been silent that long.
async fn age(redis: &Redis, peer: &str, secs: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let mut conn = redis.conn().await;
    let _: () = redis::cmd("ZADD")
        .arg("mesh:seen")
        .arg(now - secs * 1000)
        .arg(peer)
        .query_async(&mut conn)
        .await
        .expect("age a peer");
}

#[tokio::test]
async fn a_quorum_of_distinct_reporters_demotes_a_holder_and_one_does_not() {
    let redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    for (p, rtt) in [("p1", 1), ("p2", 2), ("p3", 3), ("p4", 4)] {
        let (status, body) = post(&t.url("/announce"), &announce(p, "eu", rtt, &[], &["s1"])).await;
        assert_eq!(status, 200, "{body}");
    }
    let edge = json!({"peer_id":"e1","region":"eu","rtt_ms":1,"neighbors":[],"segments":[],"edge":"edge-db-a"});
    post(&t.url("/announce"), &edge).await;
    post(&t.url("/announce"), &json!({"peer_id":"e2","region":"eu","rtt_ms":9,"neighbors":[],"segments":[],"edge":"edge-db-b"})).await;
    let lookup = t.url("/segments/s1?region=eu");
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p1", "p2", "p3", "p4"]);

    // One report changes nothing; the same reporter again does not count twice.
    for _ in 0..3 {
        let (status, body) = post(&t.url("/suspect"), &report("p2", "p1")).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(
            (body["peer_id"].as_str(), body["suspect"].as_str()),
            (Some("p2"), Some("p1"))
        );
    }
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p1", "p2", "p3", "p4"]);
    assert!(suspects(&l.holders).is_empty());
    assert!(suspected_events(&t).await.is_empty());

    // A second, distinct reporter: p1 goes to the back, marked suspect.
    let (status, body) = post(&t.url("/suspect"), &json!({"peer_id":"p3","suspect":"p1"})).await;
    assert_eq!(status, 202, "{body}");
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p2", "p3", "p4", "p1"]);
    assert_eq!(suspects(&l.holders), ["p1"]);
    // On the wire: "suspect":true for p1 only.
    let (_, raw) = get_json(&lookup).await;
    assert_eq!(raw["holders"][3]["suspect"], true, "{raw}");
    assert!(raw["holders"][0].get("suspect").is_none(), "{raw}");
    // A limit cuts the demoted holder first.
    let l: SegmentLookup = get_as(&t.url("/segments/s1?region=eu&limit=3")).await;
    assert_eq!(ids(&l.holders), ["p2", "p3", "p4"]);

    // Recorded once, with the reporters; more reports record nothing more.
    post(&t.url("/suspect"), &report("p4", "p1")).await;
    let ev = suspected_events(&t).await;
    assert_eq!(
        ev,
        [(
            "p1".to_string(),
            vec!["p2".to_string(), "p3".to_string()],
            "reported failing".to_string()
        )]
    );
    let metrics = get_text(&t.url("/metrics")).await;
    for line in [
        "tracker_suspect_reports_total 5",
        "tracker_peers_suspected_total 1",
        "tracker_suspected_peers 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    // Never taken out: p1 is still live, and its heartbeat does not clear
    // the demotion (it shows the tracker reaches p1, not that peers do).
    let peers: PeersResponse = get_as(&t.url("/peers")).await;
    assert!(peers.peers.iter().any(|p| p.peer_id == "p1"));
    let (status, _) = post(&t.url("/heartbeat"), &json!({"peer_id":"p1"})).await;
    assert_eq!(status, 200);
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p2", "p3", "p4", "p1"]);
    // An announce (a new start) clears it.
    post(&t.url("/announce"), &announce("p1", "eu", 1, &[], &["s1"])).await;
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p1", "p2", "p3", "p4"]);
    assert!(suspects(&l.holders).is_empty());

    // Edge peers are demoted the same way, in the edges list.
    post(&t.url("/suspect"), &report("p1", "e1")).await;
    post(&t.url("/suspect"), &report("p2", "e1")).await;
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.edges), ["e2", "e1"]);
    assert_eq!(suspects(&l.edges), ["e1"]);
    assert_eq!(ids(&l.holders), ["p1", "p2", "p3", "p4"]);
    let ev = suspected_events(&t).await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1].0, "e1");
    assert_eq!(ev[1].2, "connect refused");
}

#[tokio::test]
async fn suspect_reports_are_checked() {
    let redis = Redis::start().await;
    let t = tracker_up(&redis, None, LONG).await;
    for p in ["p1", "p2"] {
        post(&t.url("/announce"), &announce(p, "eu", 1, &[], &["s1"])).await;
    }
    let url = t.url("/suspect");
    let (status, body) = post(&url, &report("p1", "p1")).await;
    assert_error(status, &body, 400, "cannot report itself");
    assert_eq!(body["field"], "suspect");
    let (status, body) = post(&url, &report("p1", "ghost")).await;
    assert_error(status, &body, 404, "\"ghost\"");
    assert_eq!(body["field"], "suspect");
    let (status, body) = post(&url, &report("stranger", "p1")).await;
    assert_error(status, &body, 404, "announce again");
    assert_eq!(body["field"], "peer_id");
    let (status, body) = post(&url, &report("p1", "../x")).await;
    assert_error(status, &body, 400, "suspect");
    let (status, body) = post(&url, &report("", "p2")).await;
    assert_error(status, &body, 400, "peer_id");
    let long = json!({"peer_id":"p1","suspect":"p2","reason":"x".repeat(201)});
    let (status, body) = post(&url, &long).await;
    assert_error(status, &body, 400, "reason");
    let (status, body) = post(&url, &json!({"peer_id":"p1"})).await;
    assert_error(status, &body, 400, "suspect");
    // 200 characters pass even when they are more bytes (the agent cuts its
    // error text at 200 characters); a line break is shown as a space.
    let wide = json!({"peer_id":"p1","suspect":"p2","reason":"é".repeat(200)});
    let (status, body) = post(&url, &wide).await;
    assert_eq!(status, 202, "{body}");
    let ctl = json!({"peer_id":"p2","suspect":"p1","reason":"refused\nby peer"});
    let (status, body) = post(&url, &ctl).await;
    assert_eq!(status, 202, "{body}");
    let two = json!({"peer_id":"p2","suspect":"p3","reason":"refused\nby peer"});
    post(&t.url("/announce"), &announce("p3", "eu", 1, &[], &["s1"])).await;
    let (status, _) = post(&url, &two).await;
    assert_eq!(status, 202);
    let (status, _) = post(&url, &json!({"peer_id":"p1","suspect":"p3"})).await;
    assert_eq!(status, 202);
    let ev = suspected_events(&t).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        ev[0].2, "reported failing",
        "the last report gave no reason"
    );
    let three = json!({"peer_id":"p3","suspect":"p1","reason":"refused\nby peer"});
    let (status, _) = post(&url, &three).await;
    assert_eq!(status, 202);
    let ev = suspected_events(&t).await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        (ev[1].0.as_str(), ev[1].2.as_str()),
        ("p1", "refused by peer")
    );
    // An expired suspect is unknown, too.
    age(&redis, "p2", 601).await;
    let (status, body) = post(&url, &report("p1", "p2")).await;
    assert_error(status, &body, 404, "\"p2\"");
    // The five accepted reports were counted, nothing refused was.
    let metrics = get_text(&t.url("/metrics")).await;
    assert!(
        metrics.contains("tracker_suspect_reports_total 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_peer_token_reports_only_as_its_own_peer() {
    let redis = Redis::start().await;
    let mut cfg = tracker_config(&redis, None, LONG);
    cfg.token = Some("tok".into());
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    for p in ["a", "b", "c"] {
        let body = announce(p, "eu", 1, &[], &["s1"]).to_string();
        let (status, _) = post_raw(&t.url("/announce"), body, Some("tok")).await;
        assert_eq!(status, 200);
    }
    let token_a = wire::auth::peer_token("tok", "a");
    let url = t.url("/suspect");
    let as_b = json!({"peer_id":"b","suspect":"c"}).to_string();
    let (status, body) = post_raw(&url, as_b.clone(), Some(&token_a)).await;
    assert_error(status, &body, 403, "may not act as peer \"b\"");
    let (status, body) = post_raw(&url, as_b.clone(), None).await;
    assert_error(status, &body, 401, "token");
    // Posing as b twice with a's token did not make a quorum with a's own report.
    let (status, _) = post_raw(&url, as_b, Some(&token_a)).await;
    assert_eq!(status, 403);
    let as_a = json!({"peer_id":"a","suspect":"c"}).to_string();
    let (status, body) = post_raw(&url, as_a, Some(&token_a)).await;
    assert_eq!(status, 202, "{body}");
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert!(suspects(&l.holders).is_empty(), "one real reporter only");
    // b's own token counts: now c is demoted.
    let token_b = wire::auth::peer_token("tok", "b");
    let as_b = json!({"peer_id":"b","suspect":"c"}).to_string();
    let (status, _) = post_raw(&url, as_b, Some(&token_b)).await;
    assert_eq!(status, 202);
    let l: SegmentLookup = get_as(&t.url("/segments/s1")).await;
    assert_eq!(ids(&l.holders), ["a", "b", "c"]);
    assert_eq!(suspects(&l.holders), ["c"]);
}

#[tokio::test]
async fn a_holder_late_with_its_heartbeats_is_listed_last_before_it_expires() {
    let redis = Redis::start().await;
    // TTL 600 s: late after 300 s (half the TTL), expired after 600 s.
    let t = tracker_up(&redis, None, LONG).await;
    for (p, rtt) in [("p1", 1), ("p2", 2), ("p3", 3)] {
        post(&t.url("/announce"), &announce(p, "eu", rtt, &[], &["s1"])).await;
    }
    let lookup = t.url("/segments/s1?region=eu");
    age(&redis, "p1", 200).await;
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p1", "p2", "p3"], "200 s is not late");
    assert!(suspects(&l.holders).is_empty());

    age(&redis, "p1", 301).await;
    for _ in 0..3 {
        let l: SegmentLookup = get_as(&lookup).await;
        assert_eq!(ids(&l.holders), ["p2", "p3", "p1"]);
        assert_eq!(suspects(&l.holders), ["p1"]);
    }
    // Still live: listed, in /peers, and its heartbeat is taken.
    let peers: PeersResponse = get_as(&t.url("/peers")).await;
    assert_eq!(peers.peers.len(), 3);
    let ev = suspected_events(&t).await;
    assert_eq!(
        ev,
        [("p1".to_string(), vec![], "missed heartbeats".to_string())],
        "recorded once, not per lookup"
    );
    let (status, _) = post(&t.url("/heartbeat"), &json!({"peer_id":"p1"})).await;
    assert_eq!(status, 200);
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p1", "p2", "p3"]);
    assert!(suspects(&l.holders).is_empty());
    // Late again after being heard from: recorded again.
    age(&redis, "p1", 400).await;
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(suspects(&l.holders), ["p1"]);
    assert_eq!(suspected_events(&t).await.len(), 2);
    let metrics = get_text(&t.url("/metrics")).await;
    assert!(metrics.contains("tracker_late_peers_total 2"), "{metrics}");
    assert!(metrics.contains("tracker_late_peers 1"), "{metrics}");
    // Past the TTL it is gone, as before.
    age(&redis, "p1", 601).await;
    let l: SegmentLookup = get_as(&lookup).await;
    assert_eq!(ids(&l.holders), ["p2", "p3"]);
}

#[tokio::test]
async fn a_late_peer_nobody_looks_up_is_recorded_by_the_sweep() {
    let redis = Redis::start().await;
    let mut cfg = tracker_config(&redis, None, LONG);
    // Late after 2 s: the sweep runs every 500 ms.
    cfg.suspect_after = Some(Duration::from_secs(2));
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    post(
        &t.url("/announce"),
        &announce("quiet", "eu", 1, &[], &["s7"]),
    )
    .await;
    post(
        &t.url("/announce"),
        &announce("busy", "eu", 2, &[], &["s7"]),
    )
    .await;
    age(&redis, "quiet", 10).await;
    let quiet_events = |ev: Vec<(String, Vec<String>, String)>| {
        ev.into_iter()
            .filter(|e| e.0 == "quiet")
            .collect::<Vec<_>>()
    };
    eventually("the sweep records quiet as late", || async {
        !quiet_events(suspected_events(&t).await).is_empty()
    })
    .await;
    let (status, _) = post(&t.url("/heartbeat"), &json!({"peer_id":"busy"})).await;
    assert_eq!(status, 200);
    // The lookup agrees and records nothing twice.
    let l: SegmentLookup = get_as(&t.url("/segments/s7")).await;
    assert_eq!(ids(&l.holders), ["busy", "quiet"]);
    assert_eq!(suspects(&l.holders), ["quiet"]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        quiet_events(suspected_events(&t).await),
        [("quiet".to_string(), vec![], "missed heartbeats".to_string())]
    );
}
