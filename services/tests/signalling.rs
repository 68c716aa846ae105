//! Signalling over real WebSockets (tokio-tungstenite).

mod common;

use common::*;
use services::signalling::Config;
use std::time::Duration;

fn cfg() -> Config {
    Config::default()
}

async fn room_json(s: &Service) -> serde_json::Value {
    let (status, body) = get_json(&s.url("/rooms")).await;
    assert_eq!(status, 200);
    body["rooms"].clone()
}

#[tokio::test]
async fn path_reaches_every_peer_on_it_and_nobody_else() {
    let s = signalling(cfg()).await;
    // A line p1 - p2 - p3 - p4 plus a bystander p5 linked to p1; an edge
    // needs both ends to list each other.
    let mut p: Vec<Ws> = Vec::new();
    for i in 1..=5 {
        p.push(ws_connect(&s, &format!("p{i}"), "rock", None).await);
    }
    // Announces in the spec's own shape (peer and room given) and bare.
    p[0].send(
        serde_json::json!({"type":"announce","peer":"p1","room":"rock","neighbors":["p2","p5"]}),
    )
    .await;
    p[1].announce(&["p1", "p3"]).await;
    p[2].announce(&["p2", "p4"]).await;
    p[3].announce(&["p3"]).await;
    p[4].announce(&["p1"]).await;
    eventually("room has its 4 edges", || async {
        room_json(&s).await["rock"]["edges"]
            .as_array()
            .map(|a| a.len())
            == Some(4)
    })
    .await;

    p[0].request_path("p4").await;
    let want = ["p1", "p2", "p3", "p4"];
    for ws in p.iter_mut().take(4) {
        assert_eq!(ws.recv_path().await, want);
    }
    // The bystander got nothing: its next message is the answer to its own request.
    p[4].request_path("p1").await;
    assert_eq!(p[4].recv_path().await, ["p5", "p1"]);
    assert_eq!(p[0].recv_path().await, ["p5", "p1"]);

    // Undirected: p4 reaches p1 the other way along the same edges.
    p[3].request_path("p1").await;
    for ws in p.iter_mut().take(4).rev() {
        assert_eq!(ws.recv_path().await, ["p4", "p3", "p2", "p1"]);
    }
}

#[tokio::test]
async fn rooms_are_kept_apart() {
    let s = signalling(cfg()).await;
    let mut a1 = ws_connect(&s, "a1", "rock", None).await;
    let mut a2 = ws_connect(&s, "a2", "jazz", None).await;
    // Same name in two rooms is two distinct members.
    let mut a2_rock = ws_connect(&s, "a2", "rock", None).await;
    a1.announce(&["a2"]).await;
    a2.announce(&["a1"]).await;
    a2_rock.announce(&["a1"]).await;
    eventually("a1 - a2 in rock", || async {
        room_json(&s).await["rock"]["edges"] == serde_json::json!([["a1", "a2"]])
    })
    .await;
    // Announcing the same edge in jazz does not make it exist there: a1 is not in jazz.
    a2.request_path("a1").await;
    let err = a2.recv_error().await;
    assert!(
        err.contains("unknown target") && err.contains("jazz"),
        "{err}"
    );
    a1.request_path("a2").await;
    assert_eq!(a1.recv_path().await, ["a1", "a2"]);
    assert_eq!(a2_rock.recv_path().await, ["a1", "a2"]);
    let rooms = room_json(&s).await;
    assert_eq!(rooms["jazz"]["peers"], serde_json::json!(["a2"]));
    assert_eq!(rooms["jazz"]["edges"], serde_json::json!([]));
    assert_eq!(rooms["rock"]["peers"], serde_json::json!(["a1", "a2"]));
}

#[tokio::test]
async fn disconnect_drops_the_peers_edges_at_once() {
    let s = signalling(cfg()).await;
    let mut a = ws_connect(&s, "a", "r", None).await;
    let mut b = ws_connect(&s, "b", "r", None).await;
    let mut c = ws_connect(&s, "c", "r", None).await;
    a.announce(&["b", "c"]).await;
    b.announce(&["a", "c"]).await;
    c.announce(&["a", "b"]).await;
    eventually("3 edges", || async {
        room_json(&s).await["r"]["edges"]
            .as_array()
            .map(|e| e.len())
            == Some(3)
    })
    .await;
    a.request_path("c").await;
    assert_eq!(a.recv_path().await, ["a", "c"]);
    assert_eq!(c.recv_path().await, ["a", "c"]);

    drop(c);
    eventually("c left the room", || async {
        room_json(&s).await["r"]["peers"] == serde_json::json!(["a", "b"])
    })
    .await;
    assert_eq!(
        room_json(&s).await["r"]["edges"],
        serde_json::json!([["a", "b"]])
    );
    a.request_path("c").await;
    let err = a.recv_error().await;
    assert!(err.contains("unknown target \"c\""), "{err}");

    // c comes back: a's and b's standing announcements link it again once
    // it lists them back.
    let mut c = ws_connect(&s, "c", "r", None).await;
    c.announce(&["a", "b"]).await;
    eventually("c is back", || async {
        room_json(&s).await["r"]["edges"]
            .as_array()
            .map(|e| e.len())
            == Some(3)
    })
    .await;
    c.request_path("a").await;
    assert_eq!(c.recv_path().await, ["c", "a"]);
    // The room disappears with its last peer.
    drop((a, b, c));
    eventually("room gone", || async {
        room_json(&s).await == serde_json::json!({})
    })
    .await;
}

#[tokio::test]
async fn errors_come_back_as_messages_and_the_socket_stays_usable() {
    let s = signalling(cfg()).await;
    let mut a = ws_connect(&s, "a", "r", None).await;
    let mut lone = ws_connect(&s, "lone", "r", None).await;
    let cases: Vec<(String, &str)> = vec![
        ("{nope".into(), "malformed"),
        (r#"{"type":"dance"}"#.into(), "malformed"),
        (r#"{"type":"request_path"}"#.into(), "target"),
        (r#"{"type":"request_path","target":5}"#.into(), "target"),
        (r#"{"type":"announce"}"#.into(), "neighbors"),
        (r#"{"type":"announce","neighbors":"b"}"#.into(), "neighbors"),
        (
            r#"{"type":"announce","neighbors":["b/c"]}"#.into(),
            "neighbors[0]",
        ),
        (
            r#"{"type":"announce","peer":"mallory","neighbors":[]}"#.into(),
            "not this connection's name",
        ),
        (
            r#"{"type":"announce","room":"other","neighbors":[]}"#.into(),
            "not this connection's room",
        ),
        (
            r#"{"type":"request_path","target":"ghost"}"#.into(),
            "unknown target",
        ),
        (
            r#"{"type":"request_path","target":"lone"}"#.into(),
            "no path",
        ),
        (
            r#"{"type":"request_path","target":"../x"}"#.into(),
            "target",
        ),
    ];
    for (text, needle) in cases {
        a.send_text(&text).await;
        let err = a.recv_error().await;
        assert!(
            err.contains(needle),
            "{text}: {err:?} should mention {needle:?}"
        );
    }
    a.stream
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1, 2, 3].into(),
        ))
        .await
        .expect("send binary");
    assert!(a.recv_error().await.contains("binary"));
    // The error for a target names it.
    a.request_path("ghost").await;
    let m = a.recv().await;
    assert_eq!(m["target"], "ghost");
    // Still usable: a real (mutual) announce and path work.
    lone.announce(&["a"]).await;
    a.announce(&["lone"]).await;
    eventually("a - lone", || async {
        room_json(&s).await["r"]["edges"] == serde_json::json!([["a", "lone"]])
    })
    .await;
    a.request_path("lone").await;
    assert_eq!(a.recv_path().await, ["a", "lone"]);
    // The server is still serving others.
    let mut b = ws_connect(&s, "b", "r", None).await;
    b.request_path("a").await;
    assert!(b.recv_error().await.contains("no path"));
}

use futures::{SinkExt, StreamExt};

#[tokio::test]
async fn bad_connections_are_refused_with_json() {
    let s = signalling(cfg()).await;
    for (query, needle) in [
        ("room=r", "peer"),
        ("peer=a", "room"),
        ("peer=a%20b&room=r", "peer"),
        ("peer=a&room=r%2Fx", "room"),
    ] {
        let (status, body) = ws_try(&s, query, None).await.err().expect("refused");
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(needle), "{query}: {body}");
    }
    // A plain GET (no upgrade) on /ws gets a JSON error too.
    let (status, body) = get_json(&s.url("/ws?peer=a&room=r")).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("WebSocket"),
        "{body}"
    );
    // An oversize message closes that socket; the server keeps serving.
    let mut big = ws_connect(&s, "big", "r", None).await;
    let huge = format!(
        r#"{{"type":"announce","neighbors":["{}"]}}"#,
        "n".repeat(cfg().max_message() + 1)
    );
    let _ = big
        .stream
        .send(tokio_tungstenite::tungstenite::Message::Text(huge.into()))
        .await;
    assert!(big.closed().await, "oversize message closes the socket");
    let mut ok = ws_connect(&s, "ok", "r", None).await;
    ok.request_path("ok").await;
    assert_eq!(ok.recv_path().await, ["ok"]);
}

#[tokio::test]
async fn token_is_needed_to_open_a_socket() {
    let s = signalling(Config {
        token: Some("tok".into()),
        ..cfg()
    })
    .await;
    let (status, body) = ws_try(&s, "peer=a&room=r", None)
        .await
        .err()
        .expect("refused");
    assert_eq!(status, 401);
    assert!(body.contains("missing token"), "{body}");
    let (status, body) = ws_try(&s, "peer=a&room=r", Some("bad"))
        .await
        .err()
        .expect("refused");
    assert_eq!(status, 401);
    assert!(body.contains("wrong token"), "{body}");
    let mut a = ws_connect(&s, "a", "r", Some("tok")).await;
    a.request_path("a").await;
    assert_eq!(a.recv_path().await, ["a"]);
    // Reads stay open.
    let (status, _) = get_json(&s.url("/rooms")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn silent_socket_is_dropped_after_missed_pings() {
    let s = signalling(Config {
        ping_interval: Duration::from_millis(100),
        ..cfg()
    })
    .await;
    // An answering client stays: tungstenite answers pings while we read.
    let mut live = ws_connect(&s, "live", "r", None).await;
    // A client that never reads never answers pings.
    let _dead = ws_connect(&s, "dead", "r", None).await;
    eventually("both connected", || async {
        room_json(&s).await["r"]["peers"] == serde_json::json!(["dead", "live"])
    })
    .await;
    let (stop_reading, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        // Keep reading (tungstenite answers pings while we read) until told.
        loop {
            tokio::select! {
                _ = &mut stopped => return live,
                frame = live.stream.next() => {
                    assert!(matches!(frame, Some(Ok(_))), "live socket ended: {frame:?}");
                }
            }
        }
    });
    eventually("dead socket dropped", || async {
        room_json(&s).await["r"]["peers"] == serde_json::json!(["live"])
    })
    .await;
    // Several ping periods later the answering socket is still there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        room_json(&s).await["r"]["peers"],
        serde_json::json!(["live"])
    );
    let _ = stop_reading.send(());
    let mut live = reader.await.expect("reader");
    live.request_path("live").await;
    assert_eq!(live.recv_path().await, ["live"]);
}

#[tokio::test]
async fn reconnect_replaces_an_old_socket_that_does_not_answer() {
    let s = signalling(Config {
        takeover_wait: Duration::from_millis(300),
        ..cfg()
    })
    .await;
    // Nobody reads `old`, so it does not answer the ping the server sends
    // when its name is asked for again: it is replaced, as a restarted
    // peer's half-open socket would be.
    let mut old = ws_connect(&s, "a", "r", None).await;
    let mut b = ws_connect(&s, "b", "r", None).await;
    b.announce(&["a"]).await;
    let mut new = ws_connect(&s, "a", "r", None).await;
    assert!(old.closed().await, "old socket closed");
    new.announce(&["b"]).await;
    new.request_path("b").await;
    assert_eq!(new.recv_path().await, ["a", "b"]);
    assert_eq!(b.recv_path().await, ["a", "b"]);
    // The old socket's end did not remove the new member.
    assert_eq!(
        room_json(&s).await["r"]["peers"],
        serde_json::json!(["a", "b"])
    );
}

#[tokio::test]
async fn metrics_and_shutdown_close_sockets() {
    let s = signalling(cfg()).await;
    let mut a = ws_connect(&s, "a", "r", None).await;
    let _b = ws_connect(&s, "b", "q", None).await;
    a.request_path("a").await;
    a.recv_path().await;
    let text = get_text(&s.url("/metrics")).await;
    assert!(text.contains("signalling_rooms 2"), "{text}");
    assert!(text.contains("signalling_connected_peers 2"), "{text}");
    assert!(text.contains("signalling_paths_computed_total 1"), "{text}");
    let stopping = tokio::spawn(s.shutdown());
    assert!(a.closed().await, "shutdown closes sockets");
    stopping.await.expect("join").expect("clean shutdown");
}

#[tokio::test]
async fn request_path_avoids_the_named_peers() {
    let s = signalling(cfg()).await;
    // A line a - b - c plus a second way a - d - c.
    let mut a = ws_connect(&s, "a", "r", None).await;
    let mut b = ws_connect(&s, "b", "r", None).await;
    let mut c = ws_connect(&s, "c", "r", None).await;
    let mut d = ws_connect(&s, "d", "r", None).await;
    a.announce(&["b", "d"]).await;
    b.announce(&["a", "c"]).await;
    c.announce(&["b", "d"]).await;
    d.announce(&["a", "c"]).await;
    eventually("room has its 4 edges", || async {
        room_json(&s).await["r"]["edges"]
            .as_array()
            .map(|a| a.len())
            == Some(4)
    })
    .await;
    let request =
        |avoid: &[&str]| serde_json::json!({"type": "request_path", "target": "c", "avoid": avoid});

    // Avoiding b: the way through d, pushed to a, d and c (not b).
    a.send(request(&["b"])).await;
    for ws in [&mut a, &mut d, &mut c] {
        assert_eq!(ws.recv_path().await, ["a", "d", "c"]);
    }
    // Avoiding d: through b. The ends and unknown names are never avoided.
    a.send(request(&["d", "a", "c", "ghost"])).await;
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(ws.recv_path().await, ["a", "b", "c"]);
    }
    // Avoiding both: the error names the target and the avoided peers.
    a.send(request(&["b", "d"])).await;
    let m = a.recv().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["target"], "c", "{m}");
    let err = m["error"].as_str().expect("error text");
    assert!(
        err.contains("no path") && err.contains(r#"avoiding ["b", "d"]"#),
        "{err}"
    );
    // Without avoid (an agent that never sends it): the shortest path as
    // before, and b was not pushed anything by the requests it was avoided in.
    a.request_path("c").await;
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(ws.recv_path().await, ["a", "b", "c"]);
    }
    // d's next message is the answer to its own request: it got nothing
    // from the request that avoided it or from the failed one.
    d.request_path("a").await;
    assert_eq!(d.recv_path().await, ["d", "a"]);
    assert_eq!(a.recv_path().await, ["d", "a"]);

    // Refused avoid lists name the field and the target; the socket stays usable.
    let too_many: Vec<String> = (0..=services::signalling::MAX_AVOID)
        .map(|i| format!("x{i}"))
        .collect();
    for (msg, needle) in [
        (
            serde_json::json!({"type": "request_path", "target": "c", "avoid": too_many}),
            "avoid: 65 listed, at most 64",
        ),
        (
            serde_json::json!({"type": "request_path", "target": "c", "avoid": ["b", "../x"]}),
            "avoid[1]",
        ),
        (
            serde_json::json!({"type": "request_path", "target": "c", "avoid": "b"}),
            "avoid",
        ),
    ] {
        a.send(msg.clone()).await;
        let m = a.recv().await;
        assert_eq!(m["type"], "error", "{msg}: {m}");
        let err = m["error"].as_str().expect("error text");
        assert!(
            err.contains(needle),
            "{msg}: {err:?} should name {needle:?}"
        );
    }
    a.send(request(&["b"])).await;
    assert_eq!(a.recv_path().await, ["a", "d", "c"]);
    let metrics = get_text(&s.url("/metrics")).await;
    assert!(
        metrics.contains("signalling_avoiding_requests_total 4"),
        "{metrics}"
    );
}
