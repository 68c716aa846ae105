//! ffmpeg playing a song through the mesh, a corrupting peer, bad input on
//! every endpoint and every environment variable.

mod common;

use axum::http::HeaderMap;
use common::*;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_a_song_ingested_at_the_far_end_of_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seconds = 12.0;
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "hls", "-hls_time", "2"])
        .args(["-hls_playlist_type", "vod", "-hls_segment_filename"])
        .arg(dir.path().join("seg%d.ts"))
        .arg(dir.path().join("out.m3u8"))
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(60), status)
        .await
        .expect("ffmpeg segments in time")
        .expect("run ffmpeg");
    assert!(status.success());

    // Content-addressed ids, and a playlist that names them.
    let song = "tone";
    let playlist = std::fs::read_to_string(dir.path().join("out.m3u8")).unwrap();
    let mut segments = Vec::new();
    let mut rewritten = String::new();
    for line in playlist.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            rewritten.push_str(line);
        } else {
            let data = std::fs::read(dir.path().join(line.trim())).unwrap();
            let id = wire::ids::segment_id(song, segments.len() as u32, &sha256_hex(&data));
            rewritten.push_str(&id);
            segments.push((id, data));
        }
        rewritten.push('\n');
    }
    assert!(segments.len() >= 5, "{playlist}");

    let cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("h", 5)).await;
    for (id, data) in &segments {
        agents[4].ingest(id, data).await;
    }
    agents[4]
        .ingest(&wire::ids::playlist_id(song), rewritten.as_bytes())
        .await;

    let playlist_id = wire::ids::playlist_id(song);
    eventually("the tracker knows the far end holds the song", || async {
        cp.holders(&playlist_id).await == vec!["h5".to_string()]
            && cp.holders(&segments[segments.len() - 1].0).await == vec!["h5".to_string()]
    })
    .await;
    let out = dir.path().join("decoded.raw");
    let url = format!("{}/songs/{song}/playlist.m3u8", agents[0].url());
    let run = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", &url])
        .args(["-f", "s16le", "-ac", "1", "-ar", "8000", "-y"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("ffmpeg plays in time")
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
    let decoded = std::fs::metadata(&out).unwrap().len() as f64 / (8000.0 * 2.0);
    assert!(
        (decoded - seconds).abs() < 0.5,
        "decoded {decoded} s of {seconds} s"
    );
    // Everything the near end served came through the mesh, once per request.
    let s = agents[0].stats().await;
    let tone = &s.songs[song];
    let total: u64 =
        segments.iter().map(|(_, d)| d.len() as u64).sum::<u64>() + rewritten.len() as u64;
    assert!(tone.client_bytes_peer >= total, "{tone:?} vs {total}");
    assert_eq!(tone.client_failures, 0);
    for a in &agents[1..4] {
        assert!(a.stats().await.songs[song].relay_bytes >= total);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupting_peer_is_caught_at_the_first_honest_hop_and_the_segment_fetched_elsewhere() {
    let cp = ControlPlane::start().await;
    let (id, data) = segment("corrupt", 1, 120_000);

    // A fake peer that claims the segment and serves it with one byte flipped.
    let bad_ip = ip_block(1);
    let bad_listener = tokio::net::TcpListener::bind(format!("127.0.0.{bad_ip}:0"))
        .await
        .unwrap();
    let bad_addr = bad_listener.local_addr().unwrap();
    let mut wrong = data.clone();
    wrong[60_000] ^= 0xff;
    let app = axum::Router::new().route(
        "/segments/{id}",
        axum::routing::get(move |_h: HeaderMap| {
            let wrong = wrong.clone();
            async move { ([("x-mesh-source", "cache"), ("x-mesh-route", "bad")], wrong) }
        }),
    );
    let bad = tokio::spawn(async move { axum::serve(bad_listener, app).await });

    // c1 - c2 - bad, and c1 - c3, the honest holder, farther by RTT.
    let spec = MeshSpec {
        ids: vec!["c1".into(), "c2".into(), "c3".into()],
        links: vec![(0, 1), (0, 2)],
        env: Default::default(),
    }
    .set(1, "NEIGHBORS+", format!("bad={bad_addr}"))
    .set(2, "PEER_RTT_MS", "50");
    let agents = start_mesh(&cp, spec).await;
    agents[2].ingest(&id, &data).await;
    let announce = wire::tracker::Announce {
        peer_id: "bad".into(),
        region: "lab".into(),
        rtt_ms: 0,
        neighbors: vec!["c2".into()],
        segments: vec![id.clone()],
        addr: Some(bad_addr.to_string()),
        edge: None,
    };
    let r = http()
        .post(cp.tracker.url("/announce"))
        .json(&announce)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    eventually("the tracker ranks the bad peer first", || async {
        cp.holders(&id).await == vec!["bad".to_string(), "c3".to_string()]
    })
    .await;

    // The first answer may be cut (it was streaming from the bad peer), but
    // it never delivers the wrong bytes whole.
    let (_, _, first) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
    if let Ok(body) = first {
        assert_eq!(body, data, "a complete answer must be the right bytes");
    }
    let a0 = &agents[0];
    eventually("c1 holds the segment", || async {
        a0.inventory().await.segments.contains(&id)
    })
    .await;
    let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap(), data);
    assert_eq!(header(&h, "x-mesh-source"), "cache");
    // c2, the first honest hop, caught it and did not keep it.
    assert_eq!(agents[1].metric("hash_mismatches_total").await, 1);
    assert!(!agents[1].inventory().await.segments.contains(&id));
    // c1 got it from c3.
    assert_eq!(agents[2].stats().await.relays_forwarded, 1);
    bad.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_every_endpoint_gets_a_clear_error_and_the_agent_keeps_serving() {
    let cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("b", 2).set(0, "MESH_TOKEN", "s3cret")).await;
    let a = &agents[0];
    let c = http();
    let seg = format!("{}/segments", a.url());
    let field = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let e: wire::ErrorBody = r.json().await.expect("JSON error body");
        (status, e.field.unwrap_or_default(), e.error)
    };
    let (id, data) = segment("bad", 1, 1000);

    // Ingest.
    let r = c
        .post(&seg)
        .query(&[("id", &id)])
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(field(r).await.0, 401);
    let auth = |b: reqwest::RequestBuilder| b.bearer_auth("s3cret");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (auth(c.post(&seg)).body(data.clone()), 400, "id"),
        (
            auth(c.post(&seg))
                .query(&[("id", "no spaces")])
                .body(data.clone()),
            400,
            "id",
        ),
        (
            auth(c.post(&seg))
                .query(&[("id", "raw"), ("sha256", "xyz")])
                .body(data.clone()),
            400,
            "sha256",
        ),
        (
            auth(c.post(&seg))
                .query(&[("id", "raw"), ("sha256", &"0".repeat(64))])
                .body(data.clone()),
            400,
            "sha256",
        ),
        (
            auth(c.post(&seg))
                .query(&[("id", &id)])
                .body(b"other bytes".to_vec()),
            400,
            "id",
        ),
        (auth(c.post(&seg)).query(&[("id", "raw")]), 400, "data"),
        (
            auth(c.post(&seg))
                .header("content-type", "application/json")
                .body("{\"id\":\"x\",\"data\":\"!!\"}"),
            400,
            "data",
        ),
        (
            auth(c.post(&seg))
                .header("content-type", "application/json")
                .body("{\"id\":\"x\"}"),
            400,
            "data",
        ),
        (
            auth(c.post(&seg))
                .header("content-type", "application/json")
                .body("not json"),
            400,
            "body",
        ),
        (
            auth(c.post(&seg))
                .query(&[("id", "huge")])
                .body(vec![0u8; 3 << 20]),
            413,
            "body",
        ),
    ];
    for (req, want_status, want_field) in cases {
        let (status, f, error) = field(req.send().await.unwrap()).await;
        assert_eq!((status, f.as_str()), (want_status, want_field), "{error}");
        assert!(error.starts_with(want_field), "{error}");
    }
    // The JSON form works.
    use base64::Engine;
    let body = wire::agent::IngestJson {
        id: id.clone(),
        data: base64::engine::general_purpose::STANDARD.encode(&data),
        sha256: Some(sha256_hex(&data)),
    };
    let r = auth(c.post(&seg)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let ing: wire::agent::Ingested = r.json().await.unwrap();
    assert_eq!((ing.bytes, ing.sha256), (1000, sha256_hex(&data)));

    // Reads and relays.
    let get = |path: &str| c.get(format!("{}{path}", a.url()));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (get("/segments/no%20spaces"), 400, "id"),
        (get("/segments/.hidden"), 400, "id"),
        (
            get(&format!("/segments/{id}")).header("x-mesh-route", "b1,,b2"),
            400,
            "x-mesh-route",
        ),
        (
            get(&format!("/segments/{id}")).header("x-mesh-route", "b1"),
            400,
            "x-mesh-from",
        ),
        (get("/songs/bad.song/playlist.m3u8"), 400, "song"),
    ];
    for (req, want_status, want_field) in cases {
        let (status, f, error) = field(req.send().await.unwrap()).await;
        assert_eq!((status, f.as_str()), (want_status, want_field), "{error}");
    }
    let r = get("/nowhere").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<wire::ErrorBody>().await.is_ok());
    // A segment nobody has: a clean 404, not a hang.
    let (status, _, _) = fetch(&c, &format!("{}/segments/unknown-segment", a.url())).await;
    assert_eq!(status, 404);

    // Still serving, everything kept.
    let r = get("/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, _, body) = fetch(&c, &format!("{}/segments/{id}", a.url())).await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap(), data);
    assert_eq!(a.inventory().await.segments, vec![id]);
}

#[tokio::test]
async fn bad_environment_stops_the_binary_with_a_message_naming_the_variable() {
    let bin = env!("CARGO_BIN_EXE_mesh-agent");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "PEER_ID"),
        (&[("PEER_ID", "a b")], "PEER_ID"),
        (&[("PEER_ID", "p"), ("PEER_ADDR", "localhost")], "PEER_ADDR"),
        (
            &[("PEER_ID", "p"), ("TRACKER_URL", "tracker:7070")],
            "TRACKER_URL",
        ),
        (
            &[("PEER_ID", "p"), ("SIGNAL_URL", "signalling:7080")],
            "SIGNAL_URL",
        ),
        (
            &[("PEER_ID", "p"), ("TOPOLOGY_URL", "ftp://x")],
            "TOPOLOGY_URL",
        ),
        (&[("PEER_ID", "p"), ("PEER_ROOM", "r/1")], "PEER_ROOM"),
        (
            &[("PEER_ID", "p"), ("PEER_REGION", "eu west")],
            "PEER_REGION",
        ),
        (&[("PEER_ID", "p"), ("PEER_RTT_MS", "fast")], "PEER_RTT_MS"),
        (
            &[("PEER_ID", "p"), ("CACHE_CAPACITY", "-1")],
            "CACHE_CAPACITY",
        ),
        (
            &[("PEER_ID", "p"), ("CACHE_MAX_BYTES", "1k")],
            "CACHE_MAX_BYTES",
        ),
        (
            &[("PEER_ID", "p"), ("HEARTBEAT_INTERVAL_SEC", "0")],
            "HEARTBEAT_INTERVAL_SEC",
        ),
        (&[("PEER_ID", "p"), ("NEIGHBORS", "q=nowhere")], "NEIGHBORS"),
        (
            &[("PEER_ID", "p"), ("EDGE_DB_URL", "postgres://h:port/db")],
            "EDGE_DB_URL",
        ),
        (
            &[("PEER_ID", "p"), ("PEER_ADDR", "192.0.2.1:1")],
            "bind 192.0.2.1:1",
        ),
    ];
    for (env, needle) in cases {
        let child = tokio::process::Command::new(bin)
            .env_clear()
            .envs(env.iter().copied())
            .env(
                "TRACKER_URL",
                env.iter()
                    .find(|(k, _)| *k == "TRACKER_URL")
                    .map_or("", |(_, v)| v),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(10), child)
            .await
            .expect("exits in time")
            .expect("run mesh-agent");
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{env:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_player_on_another_origin_may_read_songs_and_segments_from_any_peer() {
    let cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("w", 2)).await;
    let (id, data) = segment("cors", 0, 20_000);
    let playlist =
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n{id}\n#EXT-X-ENDLIST\n");
    agents[1].ingest(&id, &data).await;
    agents[1]
        .ingest(&wire::ids::playlist_id("cors"), playlist.as_bytes())
        .await;
    eventually("the tracker knows w2 holds the song", || async {
        cp.holders(&id).await == vec!["w2".to_string()]
            && cp.holders("cors.m3u8").await == vec!["w2".to_string()]
    })
    .await;

    let origin = "http://player.example";
    let c = http();
    let near = agents[0].url();
    let cors = |h: &reqwest::header::HeaderMap, what: &str| {
        assert_eq!(header(h, "access-control-allow-origin"), "*", "{what}");
        let exposed = header(h, "access-control-expose-headers").to_ascii_lowercase();
        for name in [
            "x-mesh-source",
            "x-mesh-route",
            "x-mesh-hops",
            "x-mesh-sha256",
            "etag",
        ] {
            assert!(exposed.contains(name), "{what} exposes {name}: {exposed}");
        }
    };
    let get = |url: String| {
        let c = c.clone();
        async move {
            let r = tokio::time::timeout(READ, c.get(&url).header("origin", origin).send())
                .await
                .expect("answer in time")
                .expect("request sent");
            let h = r.headers().clone();
            (
                r.status().as_u16(),
                h,
                r.bytes().await.expect("body").to_vec(),
            )
        }
    };

    // A miss relayed through the mesh, then a hit, on both media routes.
    let (s, h, body) = get(format!("{near}/songs/cors/playlist.m3u8")).await;
    assert_eq!((s, body.as_slice()), (200, playlist.as_bytes()));
    cors(&h, "playlist");
    assert_eq!(header(&h, "x-mesh-source"), "peer");
    let (s, h, body) = get(format!("{near}/songs/cors/{id}")).await;
    assert_eq!((s, body), (200, data.clone()));
    cors(&h, "segment under the song");
    let (s, h, _) = get(format!("{near}/segments/{id}")).await;
    assert_eq!(s, 200);
    cors(&h, "segment hit");
    assert_eq!(header(&h, "x-mesh-source"), "cache");
    let r = c
        .head(format!("{near}/segments/{id}"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    cors(r.headers(), "HEAD");
    // Errors are readable by the page too.
    let (s, h, _) = get(format!("{near}/songs/cors/nothing-here.ts")).await;
    assert!(s == 404 || s == 502, "{s}");
    cors(&h, "error");

    // Preflight, as a browser sends it when a player adds a header.
    for path in [
        "/songs/cors/playlist.m3u8".to_string(),
        format!("/segments/{id}"),
    ] {
        let r = c
            .request(reqwest::Method::OPTIONS, format!("{near}{path}"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "range")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let h = r.headers();
        assert_eq!(header(h, "access-control-allow-origin"), "*", "{path}");
        assert!(
            header(h, "access-control-allow-methods").contains("GET"),
            "{path}"
        );
        assert!(
            header(h, "access-control-allow-headers")
                .to_ascii_lowercase()
                .contains("range"),
            "{path}"
        );
    }
    // Only what players read is opened: ingest stays as it was.
    let r = c
        .post(format!("{near}/segments"))
        .header("origin", origin)
        .query(&[("id", "x.m3u8")])
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(header(r.headers(), "access-control-allow-origin"), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_playlist_reaches_the_near_end_once_its_copies_expire() {
    let cp = ControlPlane::start().await;
    let ttl = Duration::from_secs(2);
    let mut spec = MeshSpec::line("f", 3);
    for i in 0..3 {
        spec = spec.set(i, "PLAYLIST_TTL_SEC", ttl.as_secs().to_string());
    }
    let agents = start_mesh(&cp, spec).await;
    let (near, mid, far) = (&agents[0], &agents[1], &agents[2]);
    let song = "fresh";
    let pid = wire::ids::playlist_id(song);
    let playlist = |seg: &str| {
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n{seg}\n#EXT-X-ENDLIST\n")
    };
    let (s1, d1) = segment(song, 0, 10_000);
    let (s2, d2) = segment(song, 1, 12_000);
    let (v1, v2) = (playlist(&s1), playlist(&s2));
    far.ingest(&s1, &d1).await;
    far.ingest(&pid, v1.as_bytes()).await;
    eventually("the tracker knows f3 holds v1", || async {
        cp.holders(&pid).await == vec!["f3".to_string()]
            && cp.holders(&s1).await == vec!["f3".to_string()]
    })
    .await;
    let url = format!("{}/songs/{song}/playlist.m3u8", near.url());
    let seg_url = format!("{}/segments/{s1}", near.url());

    let (status, h, body) = fetch(&http(), &url).await;
    let fetched = std::time::Instant::now();
    assert_eq!((status, body.unwrap()), (200, v1.clone().into_bytes()));
    assert_eq!(header(&h, "x-mesh-route"), "f1,f2,f3");
    assert_eq!(header(&h, "age"), "0", "fresh from its source");
    let (status, _, body) = fetch(&http(), &seg_url).await;
    assert_eq!((status, body.unwrap()), (200, d1.clone()));

    // Republish at the source: v2 replaces v1 there.
    far.ingest(&s2, &d2).await;
    far.ingest(&pid, v2.as_bytes()).await;
    let (_, h, body) = fetch(&http(), &url).await;
    if fetched.elapsed() < ttl - Duration::from_millis(500) {
        assert_eq!(
            body.unwrap(),
            v1.as_bytes(),
            "within the TTL the copy is served"
        );
        assert_eq!(header(&h, "x-mesh-source"), "cache");
    }

    // Once expired, the copies leave the inventories: only the source is
    // offered, not a peer that holds an outdated copy.
    eventually("the TTL passed and only f3 is offered", || async {
        fetched.elapsed() >= ttl && cp.holders(&pid).await == vec!["f3".to_string()]
    })
    .await;
    assert!(!mid.inventory().await.segments.contains(&pid));
    let (status, h, body) = fetch(&http(), &url).await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap(), v2.as_bytes(), "the near end serves v2");
    assert_eq!(header(&h, "x-mesh-source"), "peer");
    assert_eq!(header(&h, "x-mesh-route"), "f1,f2,f3");
    // The hops that re-fetched it hold v2 and are offered again.
    eventually("f1 and f2 are offered again", || async {
        cp.holders(&pid).await.len() == 3
    })
    .await;
    let (_, h, body) = fetch(
        &http(),
        &format!("{}/songs/{song}/playlist.m3u8", mid.url()),
    )
    .await;
    assert_eq!(body.unwrap(), v2.as_bytes());
    assert_eq!(header(&h, "x-mesh-source"), "cache");
    let age: u64 = header(&h, "age").parse().expect("Age in seconds");
    assert!(age <= ttl.as_secs(), "{age}");

    // A content-addressed segment does not expire: still a hit.
    let (status, h, body) = fetch(&http(), &seg_url).await;
    assert_eq!((status, body.unwrap()), (200, d1));
    assert_eq!(header(&h, "x-mesh-source"), "cache");
    assert_eq!(header(&h, "age"), "");
}
