//! The topology manager over real HTTP.

mod common;

use common::*;
use serde_json::json;
use services::topology::Config;
use wire::topology::{GraphSnapshot, PathResponse};

fn edges(g: &GraphSnapshot) -> Vec<(String, String)> {
    g.edges
        .iter()
        .map(|[a, b]| (a.clone(), b.clone()))
        .collect()
}

fn e(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[tokio::test]
async fn upsert_graph_path_delete() {
    let t = topology(Config::default()).await;
    let up = |id: &str, n: &[&str]| json!({"peer_id": id, "neighbors": n});
    // p1 - p2 - p3 - p4, plus p1 - p5 - p4; an edge is listed by both ends.
    for body in [
        up("p1", &["p2", "p5"]),
        up("p2", &["p1", "p3"]),
        up("p3", &["p2", "p4"]),
        json!({"peer_id":"p4","neighbors":["p3","p5"],"region":"eu","rtt_ms":7,"metadata":{"edge":"edge-db-a"}}),
        up("p5", &["p1", "p4", "ghost"]),
    ] {
        let (status, node) = post(&t.url("/peers"), &body).await;
        assert_eq!(status, 200, "{node}");
        assert_eq!(node["peer_id"], body["peer_id"]);
    }
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    let ids: Vec<_> = g.nodes.iter().map(|n| n.peer_id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p3", "p4", "p5"]);
    let p4 = &g.nodes[3];
    assert_eq!(p4.region.as_deref(), Some("eu"));
    assert_eq!(p4.rtt_ms, Some(7));
    assert_eq!(p4.metadata["edge"], "edge-db-a");
    // "ghost" is listed but not a peer: no edge to it.
    assert_eq!(
        edges(&g),
        [
            e("p1", "p2"),
            e("p1", "p5"),
            e("p2", "p3"),
            e("p3", "p4"),
            e("p4", "p5")
        ]
    );

    let p: PathResponse = get_as(&t.url("/path?from=p1&to=p4")).await;
    assert_eq!(p.path, ["p1", "p5", "p4"]);
    assert_eq!(p.hops, 2);
    // Undirected: the other way round too.
    let p: PathResponse = get_as(&t.url("/path?from=p4&to=p1")).await;
    assert_eq!(p.path, ["p4", "p5", "p1"]);

    // Upsert replaces: p5 stops listing p4, so that edge goes although p4
    // still lists p5.
    let (status, _) = post(&t.url("/peers"), &up("p5", &["p1"])).await;
    assert_eq!(status, 200);
    let p: PathResponse = get_as(&t.url("/path?from=p1&to=p4")).await;
    assert_eq!(p.path, ["p1", "p2", "p3", "p4"]);

    // Delete removes the peer and every incident edge.
    let (status, body) = delete(&t.url("/peers/p3"), None).await;
    assert_eq!(status, 200, "{body}");
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    assert!(g.nodes.iter().all(|n| n.peer_id != "p3"));
    assert_eq!(edges(&g), [e("p1", "p2"), e("p1", "p5")]);
    // A node's neighbors are its edges: the deleted peer is in nobody's list,
    // and a one-sided listing (p4 still lists p5) is no neighbor.
    for n in &g.nodes {
        assert!(!n.neighbors.contains(&"p3".to_string()), "{n:?}");
    }
    let nbrs = |id: &str| {
        g.nodes
            .iter()
            .find(|n| n.peer_id == id)
            .map(|n| n.neighbors.clone())
            .unwrap_or_default()
    };
    assert_eq!(nbrs("p2"), ["p1"]);
    assert_eq!(nbrs("p4"), Vec::<String>::new());
    assert_eq!(nbrs("p1"), ["p2", "p5"]);
    let (status, body) = get_json(&t.url("/path?from=p1&to=p4")).await;
    assert_error(status, &body, 404, "no path");
    let (status, body) = delete(&t.url("/peers/p3"), None).await;
    assert_error(status, &body, 404, "unknown peer");

    // A peer coming back gets the edges others still list to it, when it
    // lists them back.
    post(&t.url("/peers"), &up("p3", &["p2"])).await;
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    assert!(edges(&g).contains(&e("p2", "p3")));
}

#[tokio::test]
async fn path_errors_name_the_unknown_end() {
    let t = topology(Config::default()).await;
    post(&t.url("/peers"), &json!({"peer_id":"a","neighbors":[]})).await;
    let (status, body) = get_json(&t.url("/path?from=x&to=a")).await;
    assert_error(status, &body, 404, "(from)");
    assert_eq!(body["field"], "from");
    let (status, body) = get_json(&t.url("/path?from=a&to=y")).await;
    assert_error(status, &body, 404, "(to)");
    assert_eq!(body["field"], "to");
    let (status, body) = get_json(&t.url("/path?from=a")).await;
    assert_error(status, &body, 400, "to");
    let (status, body) = get_json(&t.url("/path?from=a&to=b%2Fc")).await;
    assert_error(status, &body, 400, "to");
    let p: PathResponse = get_as(&t.url("/path?from=a&to=a")).await;
    assert_eq!((p.path.len(), p.hops), (1, 0));
}

#[tokio::test]
async fn bad_input_gets_4xx_and_nothing_is_lost() {
    let t = topology(Config::default()).await;
    let url = t.url("/peers");
    post(&url, &json!({"peer_id":"keep","neighbors":[]})).await;

    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "malformed"),
        (r#"{"neighbors":[]}"#.into(), 400, "peer_id"),
        (r#"{"peer_id":"a"}"#.into(), 400, "neighbors"),
        (r#"{"peer_id":7,"neighbors":[]}"#.into(), 400, "peer_id"),
        (
            r#"{"peer_id":"a","neighbors":[1]}"#.into(),
            400,
            "neighbors[0]",
        ),
        (
            r#"{"peer_id":"a","neighbors":[],"rtt_ms":-1}"#.into(),
            400,
            "rtt_ms",
        ),
        (r#"{"peer_id":"a/b","neighbors":[]}"#.into(), 400, "peer_id"),
        (r#"{"peer_id":"","neighbors":[]}"#.into(), 400, "peer_id"),
        (
            r#"{"peer_id":"a","neighbors":["ok","b c"]}"#.into(),
            400,
            "neighbors[1]",
        ),
        (
            r#"{"peer_id":"a","neighbors":[],"region":"e u"}"#.into(),
            400,
            "region",
        ),
        (
            format!(
                r#"{{"peer_id":"a","neighbors":[],"metadata":{{"k":"{}"}}}}"#,
                "x".repeat(2000)
            ),
            400,
            "metadata",
        ),
        (
            format!(
                r#"{{"peer_id":"a","neighbors":["{}"]}}"#,
                "n".repeat(2 << 20)
            ),
            413,
            "larger than",
        ),
    ];
    for (body, want, needle) in cases {
        let (status, resp) = post_raw(&url, body.clone(), None).await;
        assert_error(status, &resp, want, needle);
    }
    let (status, body) = delete(&t.url("/peers/bad%2Fid"), None).await;
    assert_error(status, &body, 400, "peer_id");
    let (status, body) = get_json(&t.url("/nope")).await;
    assert_error(status, &body, 404, "no such endpoint");
    let r = client().put(&url).send().await.expect("PUT");
    assert_eq!(r.status(), 405);

    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    let ids: Vec<_> = g.nodes.iter().map(|n| n.peer_id.as_str()).collect();
    assert_eq!(ids, ["keep"], "a refused write changed nothing");
}

#[tokio::test]
async fn token_guards_writes_only() {
    let t = topology(Config {
        token: Some("s3cret".into()),
        ..Config::default()
    })
    .await;
    let body = json!({"peer_id":"a","neighbors":[]}).to_string();
    let (status, resp) = post_raw(&t.url("/peers"), body.clone(), None).await;
    assert_error(status, &resp, 401, "missing token");
    let (status, resp) = post_raw(&t.url("/peers"), body.clone(), Some("wrong")).await;
    assert_error(status, &resp, 401, "wrong token");
    let (status, _) = post_raw(&t.url("/peers"), body, Some("s3cret")).await;
    assert_eq!(status, 200);
    let (status, resp) = delete(&t.url("/peers/a"), None).await;
    assert_error(status, &resp, 401, "token");
    // Reads stay open.
    let g: GraphSnapshot = get_as(&t.url("/graph")).await;
    assert_eq!(g.nodes.len(), 1);
    let (status, _) = delete(&t.url("/peers/a"), Some("s3cret")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn health_metrics_and_graceful_shutdown() {
    let t = topology(Config::default()).await;
    post(&t.url("/peers"), &json!({"peer_id":"a","neighbors":["b"]})).await;
    post(&t.url("/peers"), &json!({"peer_id":"b","neighbors":["a"]})).await;
    get_json(&t.url("/path?from=a&to=b")).await;
    let (status, h) = get_json(&t.url("/healthz")).await;
    assert_eq!(status, 200);
    assert_eq!(h["service"], "topology");
    let text = get_text(&t.url("/metrics")).await;
    assert!(
        text.contains(r#"topology_http_requests_total{route="/peers",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains("topology_paths_computed_total 1"), "{text}");
    assert!(text.contains("topology_peers 2"), "{text}");
    assert!(text.contains("topology_edges 1"), "{text}");
    t.shutdown().await.expect("clean shutdown");
}
