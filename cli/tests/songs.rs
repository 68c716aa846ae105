//! Songs through the mesh (issue 5): publish, play, stats and the swarm.
//!
//! `publish_replaces_and_refuses_garbage` needs only PostgreSQL
//! (MESH_TEST_PG_URL). `songs_through_the_mesh` stands up ONE real
//! deployment (Docker, PostgreSQL logical replication, the agents, ffmpeg)
//! of a few peers on a line-ish mesh and checks everything on it; a Drop
//! guard brings it down also when the test fails.

use std::time::Duration;

use anyhow::{bail, Context};
use meshctl::songs::{hls, store};

mod support;
use support::{run_id, tone, Guard, DOCKER_LOCK};

/// A throwaway database in MESH_TEST_PG_URL with the songs schema, dropped on drop.
struct TempDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDb {
    async fn new() -> anyhow::Result<Self> {
        let admin_url = std::env::var("MESH_TEST_PG_URL").context(
            "MESH_TEST_PG_URL must point at a PostgreSQL superuser (scripts/test.sh sets it)",
        )?;
        let name = run_id("songs_");
        let admin = meshctl::db::connect(&admin_url, Duration::from_secs(30)).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("create the test database")?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("MESH_TEST_PG_URL has no database part")?;
        let url = format!("{base}/{name}");
        let db = TempDb {
            admin_url,
            name,
            url,
        };
        let c = meshctl::db::connect(&db.url, Duration::from_secs(30)).await?;
        meshctl::db::init_origin(&c).await?;
        Ok(db)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let admin = meshctl::db::connect(&url, Duration::from_secs(10)).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

/// Every row of the database, for "nothing changed" comparisons.
async fn everything(c: &tokio_postgres::Client) -> anyhow::Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT 'seg ' || id || ' ' || song || ' ' || seq || ' ' || sha256 || ' ' || md5(data) FROM segments \
             UNION ALL SELECT 'song ' || song || ' ' || playlist_id || ' ' || segment_count || ' ' || published_at FROM songs \
             ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_replaces_and_refuses_garbage() -> anyhow::Result<()> {
    let _serial = DOCKER_LOCK.lock().await;
    let db = TempDb::new().await?;
    let mut origin = meshctl::db::connect(&db.url, Duration::from_secs(30)).await?;
    let dir = tempfile::tempdir()?;

    // 20 s of tone: four segments of about 6 s, each named by its SHA-256.
    let wav = tone(dir.path(), 20, 440).await?;
    let song = hls::prepare(&wav, "tone").await?;
    assert_eq!(
        song.segments.len(),
        4,
        "{:?}",
        song.segments
            .iter()
            .map(|s| s.duration_ms)
            .collect::<Vec<_>>()
    );
    assert!(
        (song.duration_ms() - 20_000).abs() < 300,
        "{}",
        song.duration_ms()
    );
    for s in &song.segments {
        assert_eq!(s.id, wire::ids::segment_id("tone", s.seq, &s.sha256));
        assert_eq!(meshctl::songs::sha256_hex(&s.data), s.sha256);
    }
    let text = String::from_utf8(song.playlist.clone())?;
    let named: Vec<String> = hls::parse_playlist(&text)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|e| e.uri)
        .collect();
    assert_eq!(
        named,
        song.segments
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()
    );

    let first = store::store(&mut origin, &song).await?;
    assert!(!first.replaced);
    let rows = store::rows(&origin, "tone").await?;
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].id, "tone.m3u8");
    assert_eq!(rows[0].seq, -1);
    assert_eq!(rows[0].data, song.playlist);
    for (row, s) in rows[1..].iter().zip(&song.segments) {
        assert_eq!((&row.id, &row.data), (&s.id, &s.data));
    }

    // Garbage is refused before anything is stored.
    let before = everything(&origin).await?;
    let junk = dir.path().join("junk.mp3");
    tokio::fs::write(&junk, b"this is not audio at all, just text\n".repeat(100)).await?;
    let err = hls::prepare(&junk, "tone").await.unwrap_err();
    assert!(matches!(err, hls::PrepareError::NotAudio { .. }), "{err}");
    assert!(err.to_string().contains("is not audio"), "{err}");
    let err = hls::prepare(&dir.path().join("absent.wav"), "tone")
        .await
        .unwrap_err();
    assert!(matches!(err, hls::PrepareError::Missing(_)), "{err}");
    let err = hls::prepare(&wav, "bad/name").await.unwrap_err();
    assert!(matches!(err, hls::PrepareError::BadSong(_)), "{err}");
    assert_eq!(everything(&origin).await?, before);

    // Re-publishing replaces the song cleanly: only the new rows remain.
    let wav2 = tone(dir.path(), 13, 880).await?;
    let song2 = hls::prepare(&wav2, "tone").await?;
    let second = store::store(&mut origin, &song2).await?;
    assert!(second.replaced);
    assert_eq!(second.removed_rows, 5);
    let rows = store::rows(&origin, "tone").await?;
    assert_eq!(rows.len(), song2.segments.len() + 1);
    assert!(rows
        .iter()
        .all(|r| r.id == "tone.m3u8" || song2.segments.iter().any(|s| s.id == r.id)));
    let n: i64 = origin
        .query_one("SELECT count(*) FROM songs", &[])
        .await?
        .get(0);
    assert_eq!(n, 1);

    // An HLS folder is taken as it is, renamed by content.
    let folder = dir.path().join("hls");
    tokio::fs::create_dir(&folder).await?;
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&wav2)
        .args([
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "6",
            "-hls_playlist_type",
            "vod",
        ])
        .arg(folder.join("index.m3u8"))
        .status()
        .await?;
    assert!(status.success());
    let from_folder = hls::prepare(&folder, "folder-song").await?;
    assert_eq!(from_folder.segments.len(), 3);
    store::store(&mut origin, &from_folder).await?;
    let sizes = store::song_sizes(&origin).await?;
    assert_eq!(sizes["folder-song"], (from_folder.segment_bytes(), 3));
    assert_eq!(sizes["tone"].1, song2.segments.len() as u64);
    // A folder of garbage with a playlist is refused too.
    let bad = dir.path().join("bad");
    tokio::fs::create_dir(&bad).await?;
    tokio::fs::write(
        bad.join("x.m3u8"),
        "#EXTM3U\n#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n",
    )
    .await?;
    tokio::fs::write(bad.join("a.ts"), b"garbage".repeat(500)).await?;
    let before = everything(&origin).await?;
    assert!(hls::prepare(&bad, "bad").await.is_err());
    assert_eq!(everything(&origin).await?, before);
    Ok(())
}

// ---------------------------------------------------------------------------
// The whole stack: one deployment for everything below.

use meshctl::context::{self, Deployment};
use meshctl::songs::{play, stats, swarm, PeerRef};

/// Runs `meshctl <args>` with a deadline; its output goes to the test's log.
async fn meshctl(args: &[&str], deadline: Duration) -> anyhow::Result<()> {
    eprintln!("$ meshctl {}", args.join(" "));
    eprint!("{}", support::meshctl(args, deadline).await?);
    Ok(())
}

fn peer_refs(d: &Deployment) -> Vec<PeerRef> {
    meshctl::songs::running_peers(d)
}

/// The peer without an edge database farthest (in mesh hops) from every
/// edge peer, with that distance, from topology's graph.
async fn farthest_from_edges(d: &Deployment) -> anyhow::Result<(String, usize)> {
    let url = d.topology_url.clone().context("topology is not running")?;
    let graph: wire::topology::GraphSnapshot = meshctl::songs::http_client()?
        .get(format!("{url}/graph"))
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .json()
        .await?;
    let mut adj: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for [a, b] in &graph.edges {
        adj.entry(a).or_default().push(b);
        adj.entry(b).or_default().push(a);
    }
    let mut dist: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut queue = std::collections::VecDeque::new();
    for p in d.peers.iter().filter(|p| p.edge.is_some()) {
        dist.insert(&p.name, 0);
        queue.push_back(p.name.as_str());
    }
    while let Some(n) = queue.pop_front() {
        let dn = dist[n];
        for &m in adj.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            if !dist.contains_key(m) {
                dist.insert(m, dn + 1);
                queue.push_back(m);
            }
        }
    }
    dist.into_iter()
        .max_by_key(|&(n, k)| (k, std::cmp::Reverse(n.to_string())))
        .map(|(n, k)| (n.to_string(), k))
        .context("the graph has no peer")
}

async fn wait_mesh_ready(d: &Deployment, peers: usize) -> anyhow::Result<()> {
    // Readiness polled: every peer answers /healthz and the tracker lists them all.
    let http = meshctl::songs::http_client()?;
    let tracker = d.tracker_url.clone().context("tracker is not running")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut ok = 0;
        for p in peer_refs(d) {
            if let Ok(r) = http
                .get(format!("{}/healthz", p.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                ok += usize::from(r.status().is_success());
            }
        }
        let live = match http
            .get(format!("{tracker}/peers"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("peers").and_then(|p| p.as_array()).map(Vec::len))
                .unwrap_or(0),
            Err(_) => 0,
        };
        if ok == peers && live >= peers {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("mesh not ready: {ok}/{peers} peers healthy, tracker lists {live}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn songs_through_the_mesh() -> anyhow::Result<()> {
    let _serial = DOCKER_LOCK.lock().await;
    const PEERS: usize = 8;
    let name = run_id("mtsongs");
    let _down = Guard { name: name.clone() };
    let test_label = format!("meshctl.test={name}");
    meshctl(
        &[
            "up",
            "--label",
            &test_label,
            "--name",
            &name,
            "--count",
            &PEERS.to_string(),
            "--degree",
            "2",
            "--edge1-peers",
            "peer-1",
            "--edge2-peers",
            "peer-2",
            "--heartbeat-interval",
            "2",
            "--tracker-ttl",
            "8",
        ],
        Duration::from_secs(900),
    )
    .await?;
    let docker = meshctl::runtime::connect().await?;
    let d = context::discover(&docker, &name).await?;
    assert_eq!(d.edge_urls.len(), 2, "{:?}", d.edge_urls);
    wait_mesh_ready(&d, PEERS).await?;
    let origin_url = d.origin_url.clone().context("origin-db is not running")?;
    let origin = meshctl::db::connect(&origin_url, Duration::from_secs(60)).await?;
    let mut edges = Vec::new();
    for (n, url) in &d.edge_urls {
        edges.push((
            n.clone(),
            meshctl::db::connect(url, Duration::from_secs(60)).await?,
        ));
    }
    let dir = tempfile::tempdir()?;

    // 1. Publish a generated 60 s tone; both edges hold it, row for row.
    let wav = tone(dir.path(), 60, 440).await?;
    let said = std::sync::Mutex::new(Vec::<String>::new());
    let say = |l: &str| said.lock().unwrap().push(l.to_string());
    let report = store::publish(
        &wav,
        "tone",
        &origin_url,
        &d.edge_urls,
        Duration::from_secs(120),
        &say,
    )
    .await?;
    // ffmpeg cuts 60 s into ten 6 s segments, plus a sliver for the AAC priming.
    assert!((10..=11).contains(&report.segments), "{report:?}");
    assert_eq!(report.edges.len(), 2);
    let published = store::rows(&origin, "tone").await?;
    assert_eq!(published.len(), report.segments + 1);
    for (n, e) in &edges {
        assert_eq!(store::rows(e, "tone").await?, published, "{n}");
    }
    let lines = said.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("edge-db-a: holds tone")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("edge-db-b: holds tone")),
        "{lines:?}"
    );

    // 2. ffmpeg plays it through the peer farthest from the edges, cleanly,
    //    the full duration, byte for byte what was published.
    let (far, far_hops) = farthest_from_edges(&d).await?;
    eprintln!("playing through {far}, {far_hops} hops from the nearest edge peer");
    assert!(
        far_hops >= 2,
        "the mesh has no peer two hops from an edge peer"
    );
    let far_peer = peer_refs(&d)
        .into_iter()
        .find(|p| p.name == far)
        .context("far peer not running")?;
    assert!(far_peer.edge.is_none());
    let played = play::play(
        &play::PlayOptions {
            song: "tone".into(),
            peer: far.clone(),
            peer_url: far_peer.url.clone(),
            request_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
        },
        meshctl::songs::http_client()?,
    )
    .await?;
    eprint!("{}", meshctl::songs::tables::play(&played));
    assert!(played.clean(), "{:?}", played.ffmpeg_messages);
    let decoded = played.decoded_secs.context("ffmpeg reported no duration")?;
    assert!((decoded - 60.0).abs() < 0.5, "decoded {decoded} s");
    let want: Vec<(&str, &str)> = published
        .iter()
        .map(|r| (r.id.as_str(), r.sha256.as_str()))
        .collect();
    let mut got: Vec<(&str, &str)> = played
        .fetches
        .iter()
        .map(|f| (f.id.as_str(), f.sha256.as_deref().unwrap_or("")))
        .collect();
    got.sort();
    got.dedup();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got, want_sorted, "what arrived is not what was published");
    assert!(played.fetches.iter().all(|f| f.source.is_some()));
    // Nothing was cached anywhere yet, so the far peer's bytes came over the mesh.
    assert!(played.totals.max_hops.unwrap_or(0) >= far_hops as u32);

    // 3. A swarm of a dozen listeners: the peers' counters agree with the
    //    bytes the listeners counted themselves; nothing failed.
    let peers = peer_refs(&d);
    let before = stats::collect(
        &peers,
        &meshctl::songs::http_client()?,
        Duration::from_secs(10),
    )
    .await;
    let s = swarm::swarm(
        &peers,
        &swarm::SwarmOptions {
            song: "tone".into(),
            listeners: Some(12),
            spread: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            retries: 2,
            retry_pause: Duration::ZERO,
            fallbacks: Default::default(),
            speed: None,
        },
        &meshctl::songs::http_client()?,
    )
    .await?;
    eprint!("{}", meshctl::songs::tables::swarm(&s));
    assert_eq!(s.failed_segments, 0);
    assert_eq!(s.corrupt_responses, 0);
    assert_eq!(s.segments_received, 12 * report.segments);
    let counted: u64 = s.per_listener.iter().map(|l| l.bytes).sum();
    assert_eq!(counted, s.bytes);
    let agents = s.agents.clone().context("no agent counters for the song")?;
    assert_eq!(agents.client_bytes, counted, "agents counted {agents:?}");
    assert_eq!(agents.client_failures, 0);
    // meshctl stats' totals over the same counters agree as well.
    let after = stats::collect(
        &peers,
        &meshctl::songs::http_client()?,
        Duration::from_secs(10),
    )
    .await;
    let ok = |v: Vec<(String, Result<wire::agent::AgentStats, String>)>| -> anyhow::Result<Vec<_>> {
        v.into_iter()
            .map(|(n, r)| r.map_err(|e| anyhow::anyhow!("{n}: {e}")))
            .collect()
    };
    let (before, after) = (ok(before)?, ok(after)?);
    let sizes = store::song_sizes(&origin).await?;
    let total = stats::summarize(&after, Some(&sizes), 2);
    let tone_row = total
        .songs
        .iter()
        .find(|r| r.song == "tone")
        .context("no tone row")?;
    assert_eq!(
        tone_row.client_bytes,
        stats::summarize(&before, None, 2).total.client_bytes + counted
    );
    assert_eq!(
        tone_row.origin_shipped_bytes,
        Some(2 * report.segment_bytes)
    );

    // 4. Garbage is refused and nothing stored changes, on origin or edges.
    let before_origin = everything(&origin).await?;
    let junk = dir.path().join("junk.flac");
    tokio::fs::write(&junk, b"\x00\x01garbage".repeat(4000)).await?;
    let err = store::publish(
        &junk,
        "tone",
        &origin_url,
        &d.edge_urls,
        Duration::from_secs(30),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("is not audio"), "{err:#}");
    assert_eq!(everything(&origin).await?, before_origin);
    for (n, e) in &edges {
        assert_eq!(everything(e).await?, before_origin, "{n}");
    }

    // 5. A peer serving corrupted bytes: edge-db-a's copy of a fresh song is
    //    damaged, so the edge peers on it read wrong bytes. No listener may
    //    ever receive a corrupted segment whole.
    let wav2 = tone(dir.path(), 30, 660).await?;
    store::publish(
        &wav2,
        "tone2",
        &origin_url,
        &d.edge_urls,
        Duration::from_secs(120),
        &|_| {},
    )
    .await?;
    let (edge_a_name, edge_a) = &edges[0];
    let damaged = edge_a
        .execute(
            "UPDATE segments SET data = overlay(data placing '\\xdeadbeef'::bytea from 100) \
             WHERE song = 'tone2' AND seq >= 0",
            &[],
        )
        .await?;
    assert!(damaged > 0, "nothing damaged on {edge_a_name}");
    let s2 = swarm::swarm(
        &peers,
        &swarm::SwarmOptions {
            song: "tone2".into(),
            listeners: Some(12),
            spread: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            retries: 3,
            retry_pause: Duration::ZERO,
            fallbacks: Default::default(),
            speed: None,
        },
        &meshctl::songs::http_client()?,
    )
    .await?;
    eprint!("{}", meshctl::songs::tables::swarm(&s2));
    assert_eq!(
        s2.corrupt_responses, 0,
        "a listener received corrupted bytes whole"
    );
    Ok(())
}
