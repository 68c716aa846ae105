//! Topology against hostile and careless clients: bodies without a token,
//! slow, cut off, oversize or with trailing garbage; peer tokens; the caps
//! on its state; expiry; a `/graph` that cannot be forced large.

mod common;

use common::*;
use serde_json::json;
use services::topology::Config;
use std::time::{Duration, Instant};
use wire::topology::GraphSnapshot;

const SECRET: &str = "s3cret";

fn guarded() -> Config {
    Config {
        token: Some(SECRET.into()),
        ..Config::default()
    }
}

fn head(path: &str, len: usize, token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{auth}content-length: {len}\r\n\r\n"
    )
}

/// 100 connections each sending 512 KB of a declared 1 MB body without a
/// token: each gets its 401 at once, the process (its own, so its RSS is
/// its own) stays small and keeps answering.
#[tokio::test]
async fn unauthenticated_partial_bodies_get_401_at_once_and_memory_stays_bounded() {
    let t = Spawned::start(
        env!("CARGO_BIN_EXE_topology"),
        "TOPOLOGY_ADDR",
        &[("MESH_TOKEN", SECRET)],
    )
    .await;
    let at_rest = t.rss_kib();
    let started = Instant::now();
    let (answers, held) = partial_bodies(
        t.addr,
        "/peers",
        100,
        1 << 20,
        512 << 10,
        Duration::from_secs(5),
    )
    .await;
    let took = started.elapsed();
    let under = t.rss_kib();
    for a in &answers {
        assert_eq!(raw_status(a), 401, "answer: {a:?}");
        assert!(
            raw_json(a)["error"]
                .as_str()
                .is_some_and(|e| e.contains("missing token")),
            "{a}"
        );
    }
    assert!(took < Duration::from_secs(5), "401s took {took:?}");
    let (status, _) = get_json(&t.url("/healthz")).await;
    assert_eq!(status, 200);
    for w in held {
        w.abort();
    }
    let after = t.rss_kib();
    println!(
        "topology RSS: at rest {at_rest} KiB, under 100 unauthenticated 512 KB bodies {under} KiB, after {after} KiB; 100 answers in {took:?}"
    );
    // Buffering the bodies would take 50 MiB; generous for a debug build.
    assert!(under < 40 << 10, "RSS under load {under} KiB");
    assert!(after < 40 << 10, "RSS after {after} KiB");
}

#[tokio::test]
async fn validation_comes_after_the_401_and_padded_bearer_is_refused() {
    let t = topology(guarded()).await;
    let url = t.url("/peers");
    // An unauthenticated client learns nothing about the schema.
    for body in ["{not json", r#"{"peer_id":"a/b","neighbors":[]}"#, "[]"] {
        let (status, resp) = post_raw(&url, body, None).await;
        assert_error(status, &resp, 401, "missing token");
    }
    let r = client()
        .post(&url)
        .header("authorization", format!("Bearer  {SECRET}  "))
        .body(r#"{"peer_id":"a","neighbors":[]}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 401);
    let (status, resp) = post_raw(&url, "{not json", Some(SECRET)).await;
    assert_error(status, &resp, 400, "malformed");
}

#[tokio::test]
async fn trailing_garbage_is_400() {
    let t = topology(guarded()).await;
    for body in [
        r#"{"peer_id":"a","neighbors":[]} junk"#,
        r#"{"peer_id":"a","neighbors":[]}{}"#,
    ] {
        let (status, resp) = post_raw(&t.url("/peers"), body, Some(SECRET)).await;
        assert_error(status, &resp, 400, "trailing");
    }
    // Whitespace after the value is fine.
    let (status, resp) = post_raw(
        &t.url("/peers"),
        "{\"peer_id\":\"a\",\"neighbors\":[]}\r\n  ",
        Some(SECRET),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
}

#[tokio::test]
async fn slow_body_gets_408_and_the_connection_closed_and_cut_off_body_gets_400() {
    let t = topology(Config {
        body_timeout: Duration::from_millis(400),
        ..guarded()
    })
    .await;
    // Slowloris: a valid token, then 10 of 100 bytes, then nothing.
    let started = Instant::now();
    let answer = raw_exchange(
        t.addr,
        &head("/peers", 100, Some(SECRET)),
        b"{\"peer_id\"",
        false,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(raw_status(&answer), 408, "{answer:?}");
    assert!(raw_json(&answer)["error"].is_string(), "{answer}");
    // raw_exchange read until the server closed: well before its 5 s.
    assert!(started.elapsed() < Duration::from_secs(3), "{answer}");

    // A body cut off before its declared end is a bad request, not 413.
    let answer = raw_exchange(
        t.addr,
        &head("/peers", 100, Some(SECRET)),
        b"{\"peer_id\"",
        true,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(raw_status(&answer), 400, "{answer:?}");
    assert!(
        raw_json(&answer)["error"]
            .as_str()
            .is_some_and(|e| e.contains("cut off")),
        "{answer}"
    );
    let (status, _) = get_json(&t.url("/healthz")).await;
    assert_eq!(status, 200);
}

/// An oversize body gets a 413 that a client writing the whole body can
/// read: a naive client that writes everything before reading, reqwest,
/// and curl with and without `Expect: 100-continue`; bodies under and over
/// what is drained before answering.
#[tokio::test]
async fn oversize_body_gets_a_readable_413() {
    let t = topology(guarded()).await;
    let file = std::env::temp_dir().join(format!("topology-413-{}.json", std::process::id()));
    let mut curl = true;
    for size in [64 << 10, 1 << 20, 3 << 20, 16 << 20] {
        let big = format!(r#"{{"peer_id":"a","neighbors":["{}"]}}"#, "n".repeat(size));
        let answer = raw_exchange(
            t.addr,
            &head("/peers", big.len(), Some(SECRET)),
            big.as_bytes(),
            false,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(raw_status(&answer), 413, "{size}: {answer:?}");
        let (status, resp) = post_raw(&t.url("/peers"), big.clone(), Some(SECRET)).await;
        assert_error(status, &resp, 413, "larger than");
        if !curl {
            continue;
        }
        std::fs::write(&file, &big).expect("write body file");
        for expect in ["Expect: 100-continue", "Expect:"] {
            let out = tokio::time::timeout(
                Duration::from_secs(20),
                tokio::process::Command::new("curl")
                    .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-H"])
                    .arg(format!("authorization: Bearer {SECRET}"))
                    .args(["-H", "content-type: application/json", "-H", expect])
                    .arg("--data-binary")
                    .arg(format!("@{}", file.display()))
                    .arg(t.url("/peers"))
                    .output(),
            )
            .await
            .expect("curl in time");
            let Ok(out) = out else {
                eprintln!("curl not installed; skipped");
                curl = false;
                break;
            };
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.ends_with("413") && text.contains("larger than"),
                "curl {expect:?} {size}: {text} / {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_file(&file);
    // Streamed without a length: the cap is found while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 64 << 10])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (status, resp) = post_raw(&t.url("/peers"), body, Some(SECRET)).await;
    assert_error(status, &resp, 413, "larger than");
}

#[tokio::test]
async fn peer_tokens_may_not_write_topology() {
    let t = topology(guarded()).await;
    let peer = wire::auth::peer_token(SECRET, "a");
    let body = json!({"peer_id":"a","neighbors":[]}).to_string();
    let (status, resp) = post_raw(&t.url("/peers"), body.clone(), Some(&peer)).await;
    assert_error(status, &resp, 403, "peer token");
    assert_eq!(resp["field"], "peer_id");
    let (status, _) = post_raw(&t.url("/peers"), body, Some(SECRET)).await;
    assert_eq!(status, 200);
    let (status, resp) = delete(&t.url("/peers/a"), Some(&peer)).await;
    assert_error(status, &resp, 403, "peer token");
    // Reads stay open.
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    assert_eq!(g.nodes.len(), 1);
    let (status, _) = get_json(&t.url("/path?from=a&to=a")).await;
    assert_eq!(status, 200);
    let (status, _) = delete(&t.url("/peers/a"), Some(SECRET)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn caps_on_peers_neighbors_and_metadata() {
    let t = topology(Config {
        max_peers: 3,
        max_neighbors: 2,
        max_metadata: 2,
        max_metadata_key: 4,
        max_metadata_value: 8,
        ..Config::default()
    })
    .await;
    let url = t.url("/peers");
    for id in ["a", "b", "c"] {
        let (status, body) = post(&url, &json!({"peer_id": id, "neighbors": []})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = post(&url, &json!({"peer_id":"d","neighbors":[]})).await;
    assert_error(status, &body, 503, "TOPOLOGY_MAX_PEERS");
    assert_eq!(body["field"], "peer_id");
    // A known peer may still change.
    let (status, _) = post(&url, &json!({"peer_id":"a","neighbors":["b"]})).await;
    assert_eq!(status, 200);
    let cases = [
        (
            json!({"peer_id":"a","neighbors":["b","c","x"]}),
            "neighbors",
        ),
        (
            json!({"peer_id":"a","neighbors":[],"metadata":{"k1":"v","k2":"v","k3":"v"}}),
            "metadata",
        ),
        (
            json!({"peer_id":"a","neighbors":[],"metadata":{"long-key":"v"}}),
            "metadata.",
        ),
        (
            json!({"peer_id":"a","neighbors":[],"metadata":{"k":"123456789"}}),
            "metadata.k",
        ),
    ];
    for (body, field) in cases {
        let (status, resp) = post(&url, &body).await;
        assert_eq!(status, 400, "{body}: {resp}");
        assert!(
            resp["field"].as_str().is_some_and(|f| f.starts_with(field)),
            "{body}: {resp}"
        );
    }
    let (status, _) = delete(&t.url("/peers/c"), None).await;
    assert_eq!(status, 200);
    let (status, body) = post(&url, &json!({"peer_id":"d","neighbors":[]})).await;
    assert_eq!(status, 200, "a freed place is taken: {body}");
}

#[tokio::test]
async fn peers_not_refreshed_expire() {
    let t = topology(Config {
        peer_expiry: Duration::from_millis(800),
        ..Config::default()
    })
    .await;
    let url = t.url("/peers");
    post(&url, &json!({"peer_id":"a","neighbors":["b"]})).await;
    post(&url, &json!({"peer_id":"b","neighbors":["a"]})).await;
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    assert_eq!(g.edges.len(), 1);
    // a is refreshed (as the tracker does for live peers), b is not.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        post(&url, &json!({"peer_id":"a","neighbors":["b"]})).await;
        let g: GraphSnapshot = get_as(&t.url("/graph")).await;
        if g.nodes.len() == 1 {
            assert_eq!(g.nodes[0].peer_id, "a");
            assert!(g.nodes[0].neighbors.is_empty(), "{g:?}");
            assert!(g.edges.is_empty());
            break;
        }
        assert!(Instant::now() < deadline, "b never expired: {g:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = get_text(&t.url("/metrics")).await;
    assert!(text.contains("topology_expired_peers_total 1"), "{text}");
}

/// At its caps, with every id, key and value at its longest, `/graph` stays
/// under [`Config::graph_bound`]; more peers are refused; many readers get
/// the same bytes.
#[tokio::test]
async fn graph_cannot_be_forced_large() {
    let config = Config {
        max_peers: 40,
        max_neighbors: 6,
        ..Config::default()
    };
    let bound = config.graph_bound();
    println!(
        "GET /graph bound at the default caps: {} bytes",
        Config::default().graph_bound()
    );
    let t = topology(config.clone()).await;
    let url = t.url("/peers");
    let id = |i: usize| format!("{i:03}{}", "p".repeat(wire::ids::MAX_ID_LEN - 3));
    let metadata: serde_json::Map<String, serde_json::Value> = (0..config.max_metadata)
        .map(|k| {
            (
                format!("{k}{}", "k".repeat(config.max_metadata_key - 1)),
                json!("v".repeat(config.max_metadata_value)),
            )
        })
        .collect();
    let mut refused = 0;
    for i in 0..60 {
        // A ring where each lists its 6 nearest: every listing is mutual.
        let n: Vec<String> = [1, 2, 3, 37, 38, 39]
            .iter()
            .map(|d| id((i + d) % 40))
            .collect();
        let body = json!({"peer_id": id(i), "neighbors": n, "region": "r".repeat(200),
                          "rtt_ms": u32::MAX, "metadata": metadata});
        let (status, resp) = post_raw(&url, body.to_string(), None).await;
        match status {
            200 => {}
            503 => refused += 1,
            _ => panic!("{status}: {resp}"),
        }
    }
    assert_eq!(refused, 20);
    let readers: Vec<_> = (0..10)
        .map(|_| {
            let u = t.url("/graph");
            tokio::spawn(async move {
                client()
                    .get(&u)
                    .send()
                    .await
                    .expect("GET")
                    .bytes()
                    .await
                    .expect("body")
            })
        })
        .collect();
    let mut sizes = Vec::new();
    for r in readers {
        sizes.push(r.await.expect("reader").len());
    }
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    assert_eq!(g.nodes.len(), 40);
    assert_eq!(g.edges.len(), 40 * 6 / 2);
    println!(
        "GET /graph at caps of 40 peers x 6 neighbors: {} bytes, bound {bound}",
        sizes[0]
    );
    assert!(sizes[0] <= bound, "{} > {bound}", sizes[0]);
    assert!(
        sizes[0] > bound / 2,
        "the bound is not far off: {} vs {bound}",
        sizes[0]
    );
}

#[tokio::test]
async fn every_error_is_json() {
    let t = topology(guarded()).await;
    // A path segment that is not UTF-8 is refused by axum itself.
    let (status, body) = delete(&t.url("/peers/%FF"), Some(SECRET)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let r = client().put(t.url("/graph")).send().await.expect("PUT");
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.expect("json 405");
    assert!(body["error"].is_string());
}
