//! The tracker against hostile and careless clients: bodies without a
//! token, peer tokens acting for other peers, oversize inventories,
//! trailing garbage, slow bodies; and the Redis work one call may cost.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use wire::tracker::PeersResponse;

const SECRET: &str = "s3cret";
const LONG: Duration = Duration::from_secs(120);

/// A content-addressed segment id, as `meshctl publish` makes them (84 bytes).
fn seg(i: usize) -> String {
    let sha = format!("{:064x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    wire::ids::segment_id("song", i as u32, &sha)
}

fn announce(id: &str, segs: &[String]) -> serde_json::Value {
    json!({"peer_id": id, "region": "eu", "rtt_ms": 5, "neighbors": [], "segments": segs})
}

async fn guarded(redis: &Redis, f: impl FnOnce(&mut services::tracker::Config)) -> Service {
    let mut cfg = tracker_config(redis, None, LONG);
    cfg.token = Some(SECRET.into());
    f(&mut cfg);
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    t
}

#[tokio::test]
async fn a_peer_token_announces_and_heartbeats_only_its_own_peer() {
    let redis = Redis::start().await;
    let t = guarded(&redis, |_| {}).await;
    let p1 = wire::auth::peer_token(SECRET, "p1");
    let body = announce("p1", &[seg(1)]).to_string();
    let (status, resp) = post_raw(&t.url("/announce"), body, Some(&p1)).await;
    assert_eq!(status, 200, "{resp}");
    // p1's token cannot announce p2, nor heartbeat it.
    let body = announce("p2", &[seg(1)]).to_string();
    let (status, resp) = post_raw(&t.url("/announce"), body.clone(), Some(&p1)).await;
    assert_error(status, &resp, 403, "\"p2\"");
    assert_eq!(resp["field"], "peer_id");
    let hb = json!({"peer_id":"p2"}).to_string();
    let (status, resp) = post_raw(&t.url("/heartbeat"), hb.clone(), Some(&p1)).await;
    assert_error(status, &resp, 403, "\"p2\"");
    // The secret acts for anyone; p2's own token for p2.
    let (status, _) = post_raw(&t.url("/announce"), body, Some(SECRET)).await;
    assert_eq!(status, 200);
    let p2 = wire::auth::peer_token(SECRET, "p2");
    let (status, _) = post_raw(&t.url("/heartbeat"), hb, Some(&p2)).await;
    assert_eq!(status, 200);
    // A token renamed to another peer is no token at all.
    let forged = p1.replacen("p1:", "p2:", 1);
    let (status, resp) = post_raw(
        &t.url("/heartbeat"),
        json!({"peer_id":"p2"}).to_string(),
        Some(&forged),
    )
    .await;
    assert_error(status, &resp, 401, "wrong token");
    let p: PeersResponse = get_as(&t.url("/peers")).await;
    assert_eq!(p.peers.len(), 2);
}

#[tokio::test]
async fn inventory_and_neighbor_caps_name_the_field_and_change_nothing() {
    let redis = Redis::start().await;
    let t = guarded(&redis, |c| c.max_segments = 100).await;
    let ok: Vec<String> = (0..100).map(seg).collect();
    let (status, _) = post_raw(
        &t.url("/announce"),
        announce("p1", &ok).to_string(),
        Some(SECRET),
    )
    .await;
    assert_eq!(status, 200);
    let over: Vec<String> = (0..101).map(seg).collect();
    let (status, resp) = post_raw(
        &t.url("/announce"),
        announce("p1", &over).to_string(),
        Some(SECRET),
    )
    .await;
    assert_error(status, &resp, 413, "TRACKER_MAX_SEGMENTS");
    assert_eq!(resp["field"], "segments");
    let hb = json!({"peer_id":"p1","segments": over}).to_string();
    let (status, resp) = post_raw(&t.url("/heartbeat"), hb, Some(SECRET)).await;
    assert_error(status, &resp, 413, "TRACKER_MAX_SEGMENTS");
    assert_eq!(resp["field"], "segments");
    let nbrs: Vec<String> = (0..33).map(|i| format!("n{i}")).collect();
    let body = json!({"peer_id":"p1","region":"eu","rtt_ms":1,"neighbors":nbrs,"segments":[]});
    let (status, resp) = post_raw(&t.url("/announce"), body.to_string(), Some(SECRET)).await;
    assert_error(status, &resp, 400, "TRACKER_MAX_NEIGHBORS");
    assert_eq!(resp["field"], "neighbors");
    let p: PeersResponse = get_as(&t.url("/peers")).await;
    assert_eq!(p.peers[0].segments, 100, "a refused call changed nothing");
}

#[tokio::test]
async fn bodies_without_token_get_401_at_once_and_bad_bodies_get_json_errors() {
    let redis = Redis::start().await;
    let t = guarded(&redis, |c| c.body_timeout = Duration::from_millis(400)).await;
    // Validation never before the token.
    let (status, resp) = post_raw(&t.url("/announce"), "{junk", None).await;
    assert_error(status, &resp, 401, "missing token");
    let (status, resp) = post_raw(&t.url("/heartbeat"), "{junk", Some(&format!(" {SECRET}"))).await;
    assert_error(status, &resp, 401, "wrong token");
    // Trailing garbage.
    let body = format!("{} junk", announce("p1", &[]));
    let (status, resp) = post_raw(&t.url("/announce"), body, Some(SECRET)).await;
    assert_error(status, &resp, 400, "trailing");
    let (status, resp) = post_raw(&t.url("/heartbeat"), r#"{"peer_id":"p1"}]"#, Some(SECRET)).await;
    assert_error(status, &resp, 400, "trailing");
    // Oversize: a readable 413.
    let big: Vec<String> = (0..8000).map(seg).collect();
    let (status, resp) = post_raw(
        &t.url("/announce"),
        announce("p1", &big).to_string(),
        Some(SECRET),
    )
    .await;
    assert_error(status, &resp, 413, "larger than");
    // Slow: 408 and closed.
    let head = format!(
        "POST /announce HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {SECRET}\r\ncontent-length: 50\r\n\r\n"
    );
    let answer = raw_exchange(t.addr, &head, b"{", false, Duration::from_secs(5)).await;
    assert_eq!(raw_status(&answer), 408, "{answer:?}");
    // 50 half-sent 1 MB bodies without a token: 401 each, at once.
    let (answers, held) = partial_bodies(
        t.addr,
        "/announce",
        50,
        1 << 20,
        256 << 10,
        Duration::from_secs(5),
    )
    .await;
    for a in &answers {
        assert_eq!(raw_status(a), 401, "{a:?}");
    }
    let (status, _) = get_json(&t.url("/healthz")).await;
    assert_eq!(status, 200);
    for w in held {
        w.abort();
    }
}

/// The tracker as its own process: 100 connections each sending 512 KB of a
/// declared 1 MB announce without a token leave its RSS small.
#[tokio::test]
async fn unauthenticated_partial_bodies_leave_the_tracker_small() {
    let redis = Redis::start().await;
    let url = redis.url();
    let t = Spawned::start(
        env!("CARGO_BIN_EXE_tracker"),
        "TRACKER_ADDR",
        &[
            ("MESH_TOKEN", SECRET),
            ("REDIS_ADDR", &url),
            ("TOPOLOGY_URL", ""),
        ],
    )
    .await;
    let at_rest = t.rss_kib();
    let (answers, held) = partial_bodies(
        t.addr,
        "/announce",
        100,
        1 << 20,
        512 << 10,
        Duration::from_secs(5),
    )
    .await;
    let under = t.rss_kib();
    for a in &answers {
        assert_eq!(raw_status(a), 401, "{a:?}");
    }
    let (status, _) = get_json(&t.url("/healthz")).await;
    assert_eq!(status, 200);
    for w in held {
        w.abort();
    }
    println!(
        "tracker RSS: at rest {at_rest} KiB, under 100 unauthenticated 512 KB bodies {under} KiB"
    );
    assert!(under < 40 << 10, "RSS under load {under} KiB");
}

/// Peers whose inventories together pass the reaper's per-call budget are
/// all reaped (over several calls), keys and holder sets included.
#[tokio::test]
async fn big_inventories_are_reaped_in_bounded_calls() {
    let redis = Redis::start().await;
    let mut cfg = tracker_config(&redis, None, Duration::from_secs(1));
    cfg.reap_interval = Some(Duration::from_millis(100));
    let t = tracker(cfg).await;
    t.wait_healthy().await;
    for p in 0..4 {
        let inv: Vec<String> = (p * 800..p * 800 + 1024).map(seg).collect();
        let (status, resp) = post(&t.url("/announce"), &announce(&format!("p{p}"), &inv)).await;
        assert_eq!(status, 200, "{resp}");
    }
    let mut conn = redis.conn().await;
    eventually("all four peers and their keys reaped", || {
        let mut conn = conn.clone();
        async move {
            let seen: u64 = redis::cmd("ZCARD")
                .arg("mesh:seen")
                .query_async(&mut conn)
                .await
                .unwrap_or(1);
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("mesh:*s:*")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            seen == 0 && keys.is_empty()
        }
    })
    .await;
    let text = get_text(&t.url("/metrics")).await;
    assert!(text.contains("tracker_reaped_peers_total 4"), "{text}");
    let _: () = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .unwrap_or(());
}
