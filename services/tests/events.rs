//! `GET /events` of the three services: what each records, paging with
//! `after`, and the bound on the ring (real redis-server, in-process services).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use wire::events::{EventKind, EventsResponse};

async fn events(s: &Service, after: u64) -> EventsResponse {
    get_as(&s.url(&format!("/events?after={after}&limit=4096"))).await
}

fn kinds(r: &EventsResponse) -> Vec<(&'static str, String)> {
    r.events
        .iter()
        .map(|e| (e.kind.name(), e.kind.target()))
        .collect()
}

fn announce(id: &str, neighbors: &[&str]) -> serde_json::Value {
    json!({"peer_id": id, "region": "eu", "rtt_ms": 5, "neighbors": neighbors, "segments": []})
}

#[tokio::test]
async fn announce_and_expiry_reach_tracker_and_topology_feeds() {
    let redis = Redis::start().await;
    let topo = topology(services::topology::Config::default()).await;
    let t = tracker(tracker_config(&redis, Some(&topo), Duration::from_secs(2))).await;
    t.wait_healthy().await;
    for (p, n) in [("p1", &["p2"][..]), ("p2", &["p1", "p3"]), ("p3", &["p2"])] {
        let (status, body) = post(&t.url("/announce"), &announce(p, n)).await;
        assert_eq!(status, 200, "{body}");
    }
    let feed = events(&t, 0).await;
    assert_eq!(feed.service, "tracker");
    assert_eq!(
        kinds(&feed),
        [
            ("peer_announced", "p1".to_string()),
            ("peer_announced", "p2".into()),
            ("peer_announced", "p3".into())
        ]
    );
    assert_eq!((feed.first_seq, feed.next_seq), (1, 4));
    assert!(feed.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    eventually("topology records both edges", || async {
        let k = kinds(&events(&topo, 0).await);
        k.contains(&("edge_added", "p1<->p2".into()))
            && k.contains(&("edge_added", "p2<->p3".into()))
    })
    .await;

    // p1 and p2 keep beating; p3 falls silent and is reaped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "p3 never expired");
        for p in ["p1", "p2"] {
            let (status, body) = post(&t.url("/heartbeat"), &json!({"peer_id": p})).await;
            assert_eq!(status, 200, "{p}: {body}");
        }
        let k = kinds(&events(&t, 3).await);
        if k.contains(&("peer_expired", "p3".into())) {
            // Heartbeats are not events: after seq 3 only p3's expiry came,
            // after (at most once) its demotion for missing heartbeats (late
            // after half the TTL, 1 s here, swept every 250 ms).
            let (last, before) = k.split_last().expect("the expiry");
            assert_eq!(*last, ("peer_expired", "p3".to_string()), "{k:?}");
            assert!(
                before.len() <= 1 && before.iter().all(|e| *e == ("peer_suspected", "p3".into())),
                "{k:?}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually("topology removes p3 and its edge", || async {
        let k = kinds(&events(&topo, 0).await);
        let removed = k.iter().position(|e| *e == ("peer_removed", "p3".into()));
        let edge = k
            .iter()
            .position(|e| *e == ("edge_removed", "p2<->p3".into()));
        // The edge goes first, then the peer, and p1-p2 stays.
        matches!((edge, removed), (Some(e), Some(r)) if e < r)
            && !k.contains(&("edge_removed", "p1<->p2".into()))
    })
    .await;
}

#[tokio::test]
async fn request_path_is_recorded_with_its_hops() {
    let s = signalling(services::signalling::Config::default()).await;
    let mut p: Vec<Ws> = Vec::new();
    for i in 1..=3 {
        p.push(ws_connect(&s, &format!("p{i}"), "rock", None).await);
    }
    p[0].announce(&["p2"]).await;
    p[1].announce(&["p1", "p3"]).await;
    p[2].announce(&["p2"]).await;
    eventually("the line p1-p2-p3 is up", || async {
        let (_, rooms) = get_json(&s.url("/rooms")).await;
        rooms["rooms"]["rock"]["edges"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    p[0].request_path("p3").await;
    assert_eq!(p[0].recv_path().await, ["p1", "p2", "p3"]);
    let feed = events(&s, 0).await;
    assert_eq!(feed.service, "signalling");
    let opened: Vec<String> = feed
        .events
        .iter()
        .filter(|e| e.kind.name() == "socket_opened")
        .map(|e| e.kind.target())
        .collect();
    assert_eq!(opened, ["p1", "p2", "p3"]);
    let pushed: Vec<&EventKind> = feed
        .events
        .iter()
        .map(|e| &e.kind)
        .filter(|k| k.name() == "path_pushed")
        .collect();
    assert_eq!(
        pushed,
        [&EventKind::PathPushed {
            room: "rock".into(),
            from: "p1".into(),
            to: "p3".into(),
            hops: 2,
            path: vec!["p1".into(), "p2".into(), "p3".into()],
        }]
    );
    // A socket that goes is recorded too.
    let last = feed.next_seq - 1;
    drop(p.pop());
    eventually("p3's socket_closed", || async {
        kinds(&events(&s, last).await) == [("socket_closed", "p3".to_string())]
    })
    .await;
}

#[tokio::test]
async fn the_ring_is_bounded_and_pages_with_after() {
    const N: usize = 50;
    let topo = topology(services::topology::Config {
        events: N,
        ..Default::default()
    })
    .await;
    // Each new peer is one peer_added: N + 100 of them.
    for i in 0..N + 100 {
        let (status, body) = post(
            &topo.url("/peers"),
            &json!({"peer_id": format!("q{i}"), "neighbors": []}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let all = events(&topo, 0).await;
    assert_eq!(all.events.len(), N, "the ring holds N");
    assert_eq!(all.first_seq, 101, "the oldest 100 fell out");
    assert_eq!(all.next_seq, (N + 101) as u64);
    // A reader that stopped at seq 10 sees the gap.
    let behind = events(&topo, 10).await;
    assert!(behind.first_seq > 10 + 1);
    assert_eq!(behind.events.first().map(|e| e.seq), Some(101));
    assert_eq!(kinds(&behind)[0], ("peer_added", "q100".to_string()));

    // Paging: limit and after walk the ring without loss or repeat.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page: EventsResponse =
            get_as(&topo.url(&format!("/events?after={after}&limit=7"))).await;
        assert!(page.events.len() <= 7);
        let Some(last) = page.events.last() else {
            break;
        };
        after = last.seq;
        seen.extend(page.events.iter().map(|e| e.seq));
    }
    assert_eq!(seen, (101..=(N as u64 + 100)).collect::<Vec<_>>());

    // Bad paging is refused, naming the parameter.
    for (query, field) in [
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
    ] {
        let (status, body) = get_json(&topo.url(&format!("/events?{query}"))).await;
        assert_error(status, &body, 400, field);
        assert_eq!(body["field"], field);
    }
}

#[test]
fn memory_stays_bounded_by_the_ring() {
    let log = services::events::EventLog::new("tracker", 4096);
    let mut slots = 0;
    for round in 0..10 {
        log.record_all((0..4096).map(|i| EventKind::PeerExpired {
            peer: format!("peer-{i}"),
        }));
        let (held, capacity) = log.held();
        assert_eq!(held, 4096);
        if round == 0 {
            slots = capacity;
        }
        assert_eq!(capacity, slots, "the ring grew after it filled");
    }
    let page = log.page(0, 10);
    assert_eq!(page.first_seq, 9 * 4096 + 1);
    assert_eq!(page.next_seq, 10 * 4096 + 1);
}
