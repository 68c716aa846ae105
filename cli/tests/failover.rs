//! A listener whose peer dies goes on through another peer, on ONE real
//! deployment of 8 peers (Docker, PostgreSQL logical replication, the
//! agents, ffmpeg):
//!
//! (6) `meshctl play` through peer-8, paced at real time; peer-8 is killed
//!     (`docker kill`) once the proxy fetched segment 2 (of 6). The song plays
//!     to its end through peer-8's neighbours: no failed segment, every
//!     segment's bytes match the SHA-256 its id carries.
//! (7) peer-7's master playlist: this peer first, then its neighbours, the
//!     same attributes on every entry (AAC-LC codec and the peak rate once
//!     the peer holds the song); a song nobody holds is a 404. ffmpeg plays
//!     it through the proxy (`meshctl play --master`), and again while
//!     peer-7 is killed mid-play, to the end.
//!
//! The deployment's images carry tags unique to the run (other runs may
//! build `peer-node:latest` from other sources at the same time); a Drop
//! guard brings the deployment down and removes those images also when a
//! check fails. Needs the release binaries (`cargo build --release
//! --workspace --bins`) and ffmpeg.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

mod support;
use support::{command, meshctl, poll, run_id, tone, Guard, DOCKER_LOCK};

const PEERS: usize = 8;
const SONG_SECS: u32 = 30;
const T: Duration = Duration::from_secs(180);

/// Removes the images this run tagged, after the deployment is down.
struct ImagesGuard(Vec<String>);

impl Drop for ImagesGuard {
    fn drop(&mut self) {
        for image in &self.0 {
            let out = std::process::Command::new("docker")
                .args(["image", "rm", image])
                .stdin(Stdio::null())
                .output();
            if !matches!(&out, Ok(o) if o.status.success()) {
                eprintln!("docker image rm {image}: {out:?}");
            }
        }
    }
}

/// `meshctl --name <name> <args>`, its output in the test's log.
async fn run(name: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["--name", name];
    all.extend_from_slice(args);
    eprintln!("$ meshctl {}", all.join(" "));
    let out = meshctl(&all, T).await?;
    eprint!("{out}");
    Ok(out)
}

/// Each peer's mesh neighbours, from topology's live graph.
async fn neighbours(name: &str) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let docker = meshctl::runtime::connect().await?;
    let g = meshctl::graph::graph(&docker, name).await?;
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for [a, b] in g.links {
        map.entry(a.clone()).or_default().insert(b.clone());
        map.entry(b).or_default().insert(a);
    }
    Ok(map)
}

async fn peer_url(name: &str, peer: &str) -> anyhow::Result<String> {
    let docker = meshctl::runtime::connect().await?;
    let d = meshctl::context::discover(&docker, name).await?;
    meshctl::songs::running_peers(&d)
        .into_iter()
        .find(|p| p.name == peer)
        .map(|p| p.url)
        .with_context(|| format!("{peer} is not running"))
}

/// The sequence number in a segment id (`song-00003-<sha>.ts` → 3).
fn seq(id: &str) -> Option<u32> {
    id.split('-').nth(1)?.parse().ok()
}

/// What one `meshctl play` run gave.
struct Played {
    report: Value,
    /// When `victim` was dead for sure, in the proxy's clock (ms from the
    /// play's start).
    killed_at_ms: Option<f64>,
}

/// Runs `meshctl play <args> --format json`; with `victim`, kills it with
/// `meshctl kill` as soon as the proxy has fetched segment 2 (a third into
/// the song). Fails when meshctl fails (a play that is not clean).
async fn play(name: &str, args: &[&str], victim: Option<&str>) -> anyhow::Result<Played> {
    let mut all = vec!["--name", name, "play"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    eprintln!("$ meshctl {}", all.join(" "));
    let mut child = command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start meshctl play")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    let out = tokio::spawn(async move {
        let mut s = String::new();
        stdout.read_to_string(&mut s).await.map(|_| s)
    });
    let watch = async {
        let mut lines = BufReader::new(stderr).lines();
        let mut killed_at_ms = None;
        let mut log = String::new();
        while let Some(line) = lines.next_line().await? {
            eprintln!("  | {line}");
            log.push_str(&line);
            log.push('\n');
            let (Some(victim), None) = (victim, killed_at_ms) else {
                continue;
            };
            // "   6.1 s  segment <id> 200 from peer-8"
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [at, "s", "segment", id, "200", "from", _, ..] = words.as_slice() {
                if seq(id) == Some(2) {
                    let at: f64 = at.parse().context("progress time")?;
                    let t0 = Instant::now();
                    run(name, &["kill", victim]).await?;
                    killed_at_ms = Some(at * 1000.0 + t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        anyhow::Ok((killed_at_ms, log))
    };
    let (watched, status) = tokio::time::timeout(T, async {
        let w = watch.await;
        (w, child.wait().await)
    })
    .await
    .context("meshctl play: timed out")?;
    let (killed_at_ms, log) = watched?;
    let stdout = out.await??;
    if !status?.success() {
        bail!("meshctl {all:?} failed:\n{log}\n{stdout}");
    }
    if victim.is_some() && killed_at_ms.is_none() {
        bail!("segment 2 was never fetched, so nothing was killed:\n{log}");
    }
    let report: Value = serde_json::from_str(&stdout).context("play report JSON")?;
    Ok(Played {
        report,
        killed_at_ms,
    })
}

/// The song played to its end: every segment fetched once, answered, its
/// bytes verified; the whole duration decoded.
fn check_whole(r: &Value, segments: usize) -> anyhow::Result<Vec<Value>> {
    assert_eq!(r["totals"]["failed"], 0, "failed fetches: {r:#}");
    assert_eq!(r["totals"]["corrupt"], 0);
    assert_eq!(r["ffmpeg_exit"], 0);
    let decoded = r["decoded_secs"].as_f64().context("decoded_secs")?;
    assert!(
        (decoded - f64::from(SONG_SECS)).abs() < 0.5,
        "decoded {decoded} s"
    );
    let fetches = r["fetches"].as_array().context("fetches")?.clone();
    let segs: Vec<Value> = fetches
        .into_iter()
        .filter(|f| f["playlist"] == false)
        .collect();
    let ids: BTreeSet<&str> = segs.iter().filter_map(|f| f["id"].as_str()).collect();
    assert_eq!(ids.len(), segments, "segments fetched: {ids:?}");
    for f in &segs {
        assert_eq!(f["status"], 200, "{f:#}");
        assert_eq!(f["verified"], true, "{f:#}");
    }
    Ok(segs)
}

/// After the kill every segment came from another peer, among the
/// victim's neighbours, and at least one did.
fn check_moved(
    segs: &[Value],
    victim: &str,
    killed_at_ms: f64,
    theirs: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let after: Vec<&Value> = segs
        .iter()
        .filter(|f| f["at_ms"].as_f64().unwrap_or(0.0) > killed_at_ms)
        .collect();
    assert!(!after.is_empty(), "no segment was fetched after the kill");
    for f in after {
        let peer = f["peer"].as_str().context("peer")?;
        assert_ne!(peer, victim, "{f:#}");
        assert!(
            theirs.contains(peer),
            "{peer} is not a neighbour of {victim}"
        );
    }
    Ok(())
}

/// `(status, body)` of a GET.
async fn get(url: &str) -> anyhow::Result<(u16, String)> {
    let r = meshctl::songs::http_client()?
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_finishes_the_song_through_another_peer_when_its_peer_dies() -> anyhow::Result<()>
{
    let _serial = DOCKER_LOCK.lock().await;
    let name = run_id("mtfo");
    let peer_image = format!("peer-node:{name}");
    let control_image = format!("meshctl-control:{name}");
    // Dropped last: the deployment is down before its images go.
    let _images = ImagesGuard(vec![peer_image.clone(), control_image.clone()]);
    let _down = Guard { name: name.clone() };
    let test_label = format!("meshctl.test={name}");
    run(
        &name,
        &[
            "up",
            "--label",
            &test_label,
            "--count",
            &PEERS.to_string(),
            "--degree",
            "3",
            "--edge1-peers",
            "peer-1",
            "--edge2-peers",
            "peer-2",
            "--image",
            &peer_image,
            "--control-image",
            &control_image,
        ],
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let wav = tone(dir.path(), SONG_SECS, 523).await?;
    let wav = wav.to_str().context("temp path is not UTF-8")?;
    run(&name, &["publish", wav, "--song", "fo"]).await?;
    let graph = neighbours(&name).await?;
    let (_, playlist) = get(&format!(
        "{}/songs/fo/playlist.m3u8",
        peer_url(&name, "peer-1").await?
    ))
    .await?;
    let durations: BTreeMap<String, f64> = meshctl::songs::hls::parse_playlist(&playlist)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|e| (e.uri, e.duration))
        .collect();
    let segments = durations.len();
    assert!(segments >= 5, "{playlist}");

    // (6) peer-8 dies a third into the song.
    let victim = "peer-8";
    let theirs = graph.get(victim).cloned().unwrap_or_default();
    assert!(!theirs.is_empty(), "{victim} has no neighbours: {graph:?}");
    let played = play(
        &name,
        &[
            "fo",
            "--peer",
            victim,
            "--speed",
            "1",
            "--request-timeout",
            "10",
        ],
        Some(victim),
    )
    .await
    .context("(6) play through peer-8 while it is killed")?;
    let r = &played.report;
    assert_eq!(r["failover"], true);
    let segs = check_whole(r, segments)?;
    let killed_at = played.killed_at_ms.context("kill time")?;
    check_moved(&segs, victim, killed_at, &theirs)?;
    assert!(
        r["totals"]["failovers"].as_u64() >= Some(1),
        "no failover counted: {r:#}"
    );
    run(&name, &["start", victim]).await?;

    // (7) The master playlist of peer-7.
    let host = "peer-7";
    let theirs = graph.get(host).cloned().unwrap_or_default();
    let url = peer_url(&name, host).await?;
    // A neighbour that failed peer-7 in the last HOLDER_PENALTY_SEC (10 s;
    // a relay through the dead peer-8 may have) is left out for that long:
    // then every neighbour is back.
    let text = poll("peer-7's master lists every neighbour", T, async || {
        let (status, text) = get(&format!("{url}/songs/fo/master.m3u8")).await?;
        if status != 200 {
            bail!("{status}: {text}");
        }
        let listed = theirs
            .iter()
            .all(|p| text.contains(&format!("http://{p}:8080/")));
        Ok(listed.then_some(text))
    })
    .await?;
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#EXTM3U"), "{text}");
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 2 * (1 + theirs.len()), "{text}");
    let attrs: BTreeSet<&str> = rest.iter().step_by(2).copied().collect();
    assert_eq!(attrs.len(), 1, "attributes differ: {text}");
    let attrs = attrs.into_iter().next().unwrap_or_default();
    assert!(attrs.starts_with("#EXT-X-STREAM-INF:BANDWIDTH="), "{text}");
    let located: Vec<String> = rest
        .iter()
        .skip(1)
        .step_by(2)
        .map(|l| {
            l.strip_prefix("http://")
                .and_then(|l| l.strip_suffix(":8080/songs/fo/playlist.m3u8"))
                .map(str::to_string)
                .with_context(|| format!("not a mesh address of fo's playlist: {l}"))
        })
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(located[0], host, "{text}");
    let others: BTreeSet<String> = located[1..].iter().cloned().collect();
    assert_eq!(&others, &theirs, "{text}");

    // ffmpeg plays it through the proxy, every variant's peer by its mesh
    // address.
    let played = play(&name, &["fo", "--peer", host, "--master"], None)
        .await
        .context("(7) play the master playlist")?;
    assert_eq!(played.report["master"], true);
    let segs = check_whole(&played.report, segments)?;
    let asked: BTreeSet<&str> = played.report["fetches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["asked"].as_str())
        .collect();
    assert!(asked.len() > 1, "only {asked:?} were asked");
    // peer-7 holds the song now: the exact peak rate and the AAC-LC codec.
    let peak = segs
        .iter()
        .filter_map(|f| {
            let secs = *durations.get(f["id"].as_str()?)?;
            let bytes = f["bytes"].as_u64()?;
            (secs > 0.0).then(|| (bytes as f64 * 8.0 / secs).ceil() as u64)
        })
        .max()
        .context("no segment sizes")?;
    let (_, text) = get(&format!("{url}/songs/fo/master.m3u8")).await?;
    assert!(
        text.contains(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},CODECS=\"mp4a.40.2\"\n"
        )),
        "{text}"
    );

    // peer-7 dies a third into the song: still to the end.
    let played = play(
        &name,
        &[
            "fo",
            "--peer",
            host,
            "--master",
            "--speed",
            "1",
            "--request-timeout",
            "10",
        ],
        Some(host),
    )
    .await
    .context("(7) play the master playlist while peer-7 is killed")?;
    let r = &played.report;
    let segs = check_whole(r, segments)?;
    let killed_at = played.killed_at_ms.context("kill time")?;
    check_moved(&segs, host, killed_at, &theirs)?;
    // Whether ffmpeg itself moved to another variant, or the proxy did.
    let later: Vec<(&str, &str)> = segs
        .iter()
        .filter(|f| f["at_ms"].as_f64().unwrap_or(0.0) > killed_at)
        .filter_map(|f| Some((f["asked"].as_str()?, f["peer"].as_str()?)))
        .collect();
    eprintln!(
        "after the kill, (asked, answered): {later:?}; failovers by the proxy: {}",
        r["totals"]["failovers"]
    );

    // A song nobody holds: a 404 that says so (asked last: the misses
    // behind it may make the peer set its edge neighbours aside for a while).
    let url = peer_url(&name, "peer-3").await?;
    let (status, text) = get(&format!("{url}/songs/nosuchsong/master.m3u8")).await?;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("no song"), "{text}");
    let (_, text) = get(&format!("{url}/songs/fo/master.m3u8")).await?;
    eprintln!("peer-3's master of fo right after that 404:\n{text}");
    Ok(())
}
