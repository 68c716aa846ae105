//! Surviving restarts (issue 11) on ONE real deployment of 8 peers (Docker,
//! PostgreSQL logical replication, the agents, ffmpeg), reused by every
//! case, one after another:
//!
//! (a) Redis restarts (empty: it runs without persistence) while a play
//!     runs, and a song is played at once through a peer that does not
//!     hold it; the time until the tracker lists every peer again is
//!     printed.
//! (b) the tracker, signalling and topology restart one by one, each
//!     during or right before a play through a peer that does not hold
//!     the song.
//! (c) edge-db-a is stopped: a fresh song plays through a peer without an
//!     edge database, from edge-db-b.
//!
//! Every play must end with every fetch answered and every segment's bytes
//! matching the SHA-256 its id carries. The heartbeat is 30 s and the TTL
//! 120 s, so the peers' return after the Redis restart cannot come from the
//! heartbeat. Needs the release binaries (`cargo build --release
//! --workspace --bins`) and ffmpeg. A Drop guard brings the deployment down
//! also when a check fails.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use meshctl::context::{self, Deployment};
use meshctl::songs::play;

mod support;
use support::{meshctl, poll, run_id, tone, Guard, DOCKER_LOCK};

const PEERS: usize = 8;
const HEARTBEAT_SECS: u64 = 30;
const T: Duration = Duration::from_secs(120);

async fn discover(name: &str) -> anyhow::Result<Deployment> {
    let docker = meshctl::runtime::connect().await?;
    context::discover(&docker, name).await
}

/// How many live peers the tracker lists (0 when it does not answer).
async fn tracker_lists(http: &reqwest::Client, tracker: &str) -> usize {
    let answer = http
        .get(format!("{tracker}/peers"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => r
            .json::<wire::tracker::PeersResponse>()
            .await
            .map(|p| p.peers.len())
            .unwrap_or(0),
        _ => 0,
    }
}

/// Every peer answers /healthz and the tracker lists them all.
async fn wait_mesh_ready(d: &Deployment) -> anyhow::Result<()> {
    let http = meshctl::songs::http_client()?;
    let tracker = d.tracker_url.clone().context("tracker is not running")?;
    poll("every peer healthy and listed", T, async || {
        let mut ok = 0;
        for p in meshctl::songs::running_peers(d) {
            let r = http
                .get(format!("{}/healthz", p.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            ok += usize::from(r.is_ok_and(|r| r.status().is_success()));
        }
        Ok((ok == PEERS && tracker_lists(&http, &tracker).await == PEERS).then_some(()))
    })
    .await
}

/// `meshctl --name <name> <args>`, its output in the test's log.
async fn run(name: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["--name", name];
    all.extend_from_slice(args);
    eprintln!("$ meshctl {}", all.join(" "));
    eprint!("{}", meshctl(&all, T).await?);
    Ok(())
}

/// Plays `song` through `peer` with ffmpeg and checks the outcome: every
/// request answered, every segment verified against its id, the whole
/// duration decoded.
async fn play_clean(
    d: &Deployment,
    peer: &str,
    song: &str,
    seconds: f64,
) -> anyhow::Result<play::PlayReport> {
    let p = meshctl::songs::running_peers(d)
        .into_iter()
        .find(|p| p.name == peer)
        .with_context(|| format!("{peer} is not running"))?;
    let report = play::play(
        &play::PlayOptions {
            song: song.into(),
            peer: peer.into(),
            peer_url: p.url.clone(),
            request_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(120),
        },
        meshctl::songs::http_client()?,
    )
    .await?;
    eprint!("{}", meshctl::songs::tables::play(&report));
    let failed: Vec<_> = report
        .fetches
        .iter()
        .filter(|f| !f.ok())
        .map(|f| (f.path.clone(), f.status, f.error.clone()))
        .collect();
    if !failed.is_empty() || !report.clean() {
        bail!(
            "{song} through {peer}: {} failed fetches {failed:?}; ffmpeg {:?} {:?}",
            failed.len(),
            report.ffmpeg_exit,
            report.ffmpeg_messages
        );
    }
    assert_eq!(report.totals.corrupt, 0);
    for f in report.fetches.iter().filter(|f| !f.playlist) {
        assert_eq!(f.verified, Some(true), "{song} {}: not verified", f.id);
    }
    let decoded = report.decoded_secs.context("ffmpeg reported no duration")?;
    assert!((decoded - seconds).abs() < 0.5, "decoded {decoded} s");
    Ok(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plays_survive_restarts_of_the_control_plane_and_an_edge_database() -> anyhow::Result<()> {
    let _serial = DOCKER_LOCK.lock().await;
    let name = run_id("mtsurv");
    let _down = Guard { name: name.clone() };
    let test_label = format!("meshctl.test={name}");
    let hb = HEARTBEAT_SECS.to_string();
    run(
        &name,
        &[
            "up",
            "--label",
            &test_label,
            "--count",
            &PEERS.to_string(),
            "--degree",
            "2",
            "--edge1-peers",
            "peer-1",
            "--edge2-peers",
            "peer-2",
            "--heartbeat-interval",
            &hb,
            "--tracker-ttl",
            "120",
        ],
    )
    .await?;
    let d = discover(&name).await?;
    assert_eq!(d.edge_urls.len(), 2, "{:?}", d.edge_urls);
    wait_mesh_ready(&d).await?;

    // Four short songs, one per case, so every play misses at its peer.
    let dir = tempfile::tempdir()?;
    const SECS: u32 = 30;
    let songs = ["redis", "tracker", "topology", "edge"];
    for (i, song) in songs.iter().enumerate() {
        let wav = tone(dir.path(), SECS, 440 + 110 * i as u32).await?;
        let wav = wav.to_str().context("temp path is not UTF-8")?;
        run(&name, &["publish", wav, "--song", song]).await?;
    }
    let secs = f64::from(SECS);
    let http = meshctl::songs::http_client()?;

    // A play that starts a moment after a restart was asked for, so its
    // requests meet the service going down and coming back.
    let soon = |peer: &'static str, song: &'static str| {
        let d = &d;
        async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            play_clean(d, peer, song, secs).await
        }
    };

    // (a) Redis restarts during a play through peer-3; right after, peer-4
    //     plays the same song, which it does not hold, while the tracker
    //     knows nothing yet.
    let restart_redis = async {
        let asked = Instant::now();
        run(&name, &["restart", "redis", "--timeout", "2"]).await?;
        anyhow::Ok((asked, Instant::now()))
    };
    let (during, restarted) = tokio::join!(soon("peer-3", "redis"), restart_redis);
    let (asked, redis_back) = restarted?;
    during.context("play during the Redis restart")?;
    let tracker = d.tracker_url.clone().context("tracker is not running")?;
    let relisted = async {
        poll("the tracker lists every peer again", T, async || {
            Ok((tracker_lists(&http, &tracker).await == PEERS).then(Instant::now))
        })
        .await
    };
    let (after, relisted) = tokio::join!(play_clean(&d, "peer-4", "redis", secs), relisted);
    after.context("play right after the Redis restart")?;
    let relisted = relisted?;
    let from_restart = relisted.duration_since(asked);
    let from_back = relisted.duration_since(redis_back);
    eprintln!(
        "FIGURE redis restart → tracker lists all {PEERS} peers again: {:.1} s from \
         `meshctl restart redis`, {:.1} s after it returned (heartbeat {HEARTBEAT_SECS} s)",
        from_restart.as_secs_f64(),
        from_back.as_secs_f64()
    );
    // The peers came back because they were asked to, not at a heartbeat:
    // all eight heartbeats are not due within half the interval.
    assert!(
        from_back < Duration::from_secs(HEARTBEAT_SECS / 2),
        "peers re-announced only after {from_back:?}"
    );

    // (b) The tracker restarts during a play through peer-5.
    let restart = |what: &'static str| {
        let name = name.clone();
        async move { run(&name, &["restart", what, "--timeout", "2"]).await }
    };
    let (played, restarted) = tokio::join!(soon("peer-5", "tracker"), restart("tracker"));
    restarted?;
    played.context("play during the tracker restart")?;
    // Signalling restarts right before a play through peer-6 (peer-5 holds
    // the song now: it comes over the mesh, by topology's paths while
    // signalling is away).
    run(&name, &["restart", "signalling", "--timeout", "2"]).await?;
    play_clean(&d, "peer-6", "tracker", secs)
        .await
        .context("play right after the signalling restart")?;
    // The agents reconnect to signalling and announce their neighbors.
    // A restarted service may be published on another host port.
    let fresh = discover(&name).await?;
    let signalling = fresh
        .signalling_url
        .clone()
        .context("signalling not running")?;
    poll("every peer back in signalling's room", T, async || {
        let rooms: serde_json::Value = http
            .get(format!("{signalling}/rooms"))
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .json()
            .await?;
        let n: usize = rooms["rooms"]
            .as_object()
            .map(|r| {
                r.values()
                    .map(|room| room["peers"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0);
        Ok((n == PEERS).then_some(()))
    })
    .await?;
    // Topology restarts during a play through peer-7; the tracker refills it.
    let (played, restarted) = tokio::join!(soon("peer-7", "topology"), restart("topology"));
    restarted?;
    played.context("play during the topology restart")?;
    let fresh = discover(&name).await?;
    let topology = fresh.topology_url.clone().context("topology not running")?;
    poll("topology lists every peer again", T, async || {
        let g: wire::topology::GraphSnapshot = http
            .get(format!("{topology}/graph"))
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .json()
            .await?;
        Ok((g.nodes.len() == PEERS && !g.edges.is_empty()).then_some(()))
    })
    .await?;

    // (c) edge-db-a stops: a song nobody caches plays through peer-8 from
    //     edge-db-b (peer-2), whichever edge peer is nearer.
    run(&name, &["stop", "edge-db-a", "--timeout", "5"]).await?;
    let played = play_clean(&d, "peer-8", "edge", secs)
        .await
        .context("play with edge-db-a stopped")?;
    for f in played.fetches.iter() {
        let route = f.route.as_deref().unwrap_or("");
        assert!(
            !route.ends_with("peer-1"),
            "{} came from peer-1, whose edge database is stopped: {route}",
            f.id
        );
    }
    run(&name, &["start", "edge-db-a"]).await?;
    Ok(())
}
