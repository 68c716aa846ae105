//! Routing around failure (issue 11) on one real deployment of 10 peers
//! (Docker, PostgreSQL logical replication, the agents):
//!
//! (1) a listener far from both edge peers plays a song segment by segment,
//!     as a player does; after the first segment the peer its route passed
//!     through is killed (`docker kill`); every later segment still arrives,
//!     byte-identical, by a path around the dead peer. The heartbeat is
//!     30 s and the TTL 120 s, so nothing of this waits for the tracker to
//!     forget the dead peer.
//! (2) the listener is then cut off from the rest (`meshctl partition`, a
//!     half with no edge peer): what its cache holds still plays (the
//!     expired playlist as a stale copy); a song published after the cut
//!     fails at once with 503 naming the cause, not at the fetch deadline
//!     (504).
//!
//! Needs the release binaries (`cargo build --release --workspace --bins`)
//! and ffmpeg (to make the songs). A Drop guard brings the deployment down
//! also when a check fails.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use meshctl::context::LABEL_TEST;
use support::{meshctl, poll, run_id, tone, Guard, DOCKER_LOCK};

const PEERS: usize = 10;
const T: Duration = Duration::from_secs(300);
const EDGE_PEERS: [&str; 2] = ["peer-1", "peer-2"];

/// Hops from the nearest edge peer to every peer, over the mesh links.
fn hops_from_edges(links: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in links {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default().push(a);
    }
    let mut dist: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for e in EDGE_PEERS {
        dist.insert(e.to_string(), 0);
        queue.push_back(e);
    }
    while let Some(p) = queue.pop_front() {
        let d = dist[p];
        for n in next.get(p).into_iter().flatten() {
            if !dist.contains_key(*n) {
                dist.insert(n.to_string(), d + 1);
                queue.push_back(n);
            }
        }
    }
    dist
}

/// One segment (or playlist) fetched as a player would.
struct Got {
    status: u16,
    route: String,
    source: String,
    body: Vec<u8>,
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<Got> {
    let r = http
        .get(url)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (route, source) = (header(wire::relay::ROUTE), header(wire::relay::SOURCE));
    let status = r.status().as_u16();
    let body = r.bytes().await?.to_vec();
    Ok(Got {
        status,
        route,
        source,
        body,
    })
}

/// The segment ids of `song`'s playlist as served by `base`.
async fn segments(http: &reqwest::Client, base: &str, song: &str) -> anyhow::Result<Vec<String>> {
    let got = get(http, &format!("{base}/songs/{song}/playlist.m3u8")).await?;
    ensure!(
        got.status == 200,
        "playlist of {song}: {} {}",
        got.status,
        String::from_utf8_lossy(&got.body)
    );
    let text = String::from_utf8(got.body).context("playlist is not UTF-8")?;
    let entries = meshctl::songs::hls::parse_playlist(&text).map_err(anyhow::Error::msg)?;
    Ok(entries
        .into_iter()
        .map(|e| e.uri.rsplit('/').next().unwrap_or(&e.uri).to_string())
        .collect())
}

/// A segment whose bytes match the SHA-256 its id carries.
fn verified(id: &str, body: &[u8]) -> bool {
    wire::ids::sha256_of_id(id).is_some_and(|want| meshctl::songs::sha256_hex(body) == want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_relay_is_routed_around_and_a_cut_off_half_fails_fast() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("mtrr");
    let _guard = Guard { name: name.clone() };
    let label = format!("{LABEL_TEST}={name}");
    let run = |rest: &[&str]| {
        let mut v = vec!["--name".to_string(), name.clone()];
        v.extend(rest.iter().map(|s| s.to_string()));
        async move {
            let a: Vec<&str> = v.iter().map(String::as_str).collect();
            eprintln!("$ meshctl {}", a.join(" "));
            meshctl(&a, Duration::from_secs(900)).await
        }
    };
    run(&[
        "up",
        "--label",
        &label,
        "--count",
        &PEERS.to_string(),
        "--degree",
        "3",
        "--edge1-peers",
        EDGE_PEERS[0],
        "--edge2-peers",
        EDGE_PEERS[1],
        "--heartbeat-interval",
        "30",
        "--tracker-ttl",
        "120",
    ])
    .await?;

    // The mesh as topology sees it, once every peer is linked.
    let links: Vec<(String, String)> = poll("every peer linked in the graph", T, async || {
        let g: serde_json::Value =
            serde_json::from_str(&run(&["graph", "--format", "json"]).await?)?;
        let links: Vec<(String, String)> = g["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pair| {
                Some((
                    pair.get(0)?.as_str()?.to_string(),
                    pair.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect();
        let linked: BTreeSet<&String> = links.iter().flat_map(|(a, b)| [a, b]).collect();
        Ok((linked.len() == PEERS).then_some(links))
    })
    .await?;
    let dist = hops_from_edges(&links);
    let (listener, far) = dist
        .iter()
        .max_by_key(|(p, d)| (**d, std::cmp::Reverse((*p).clone())))
        .map(|(p, d)| (p.clone(), *d))
        .context("no peers in the graph")?;
    ensure!(
        far >= 2,
        "every peer is next to an edge peer ({dist:?}): no relay to kill"
    );
    eprintln!("listener {listener}, {far} hops from the nearest edge peer");

    let dir = tempfile::tempdir()?;
    for (song, hz) in [("around", 440), ("later", 660)] {
        let wav = tone(dir.path(), 24, hz).await?;
        let wav = wav.to_str().context("temp path is not UTF-8")?;
        run(&["publish", wav, "--song", song]).await?;
    }
    let rt = meshctl::runtime::connect().await?;
    let d = meshctl::context::discover(&rt, &name).await?;
    let base = meshctl::songs::running_peers(&d)
        .into_iter()
        .find(|p| p.name == listener)
        .context("listener not running")?
        .url;
    let http = meshctl::songs::http_client()?;

    // (1) The first segment comes over a route with a relay on it.
    let ids = segments(&http, &base, "around").await?;
    ensure!(ids.len() >= 4, "only {} segments", ids.len());
    let first = get(&http, &format!("{base}/songs/around/{}", ids[0])).await?;
    ensure!(first.status == 200, "first segment: {}", first.status);
    ensure!(verified(&ids[0], &first.body), "first segment corrupt");
    let hops: Vec<&str> = first.route.split(',').map(str::trim).collect();
    ensure!(
        hops.len() >= 3,
        "the first segment's route {:?} has no relay (source {})",
        first.route,
        first.source
    );
    let relay = hops[1].to_string();
    ensure!(
        !EDGE_PEERS.contains(&relay.as_str()),
        "the relay {relay} is an edge peer"
    );
    run(&["kill", &relay]).await?;
    let mut around = 0;
    for id in &ids[1..] {
        let got = get(&http, &format!("{base}/songs/around/{id}")).await?;
        if got.status != 200 {
            bail!(
                "{id} after {relay} was killed: {} {}",
                got.status,
                String::from_utf8_lossy(&got.body)
            );
        }
        ensure!(verified(id, &got.body), "{id}: bytes do not match its id");
        ensure!(
            !got.route.split(',').any(|h| h.trim() == relay),
            "{id} came through the dead {relay}: {}",
            got.route
        );
        around += usize::from(got.route.contains(','));
    }
    ensure!(around > 0, "no segment came over the mesh after the kill");

    // (2) The listener alone in its half, without an edge peer. Once its
    //     copy of the playlist expired (PLAYLIST_TTL_SEC, 5 s), the stale
    //     copy is what it can answer, marked as such.
    run(&["partition", &listener]).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = http
        .get(format!("{base}/songs/around/playlist.m3u8"))
        .timeout(Duration::from_secs(60))
        .send()
        .await?;
    ensure!(r.status() == 200, "stale playlist: {}", r.status());
    let warning = r
        .headers()
        .get("warning")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    ensure!(warning.starts_with("110"), "no stale warning: {warning:?}");
    let stale =
        meshctl::songs::hls::parse_playlist(&r.text().await?).map_err(anyhow::Error::msg)?;
    ensure!(
        stale.len() == ids.len(),
        "stale playlist names {} segments",
        stale.len()
    );
    for id in &ids {
        let got = get(&http, &format!("{base}/songs/around/{id}")).await?;
        ensure!(
            got.status == 200 && verified(id, &got.body),
            "{id} from the cache of the cut-off {listener}: {}",
            got.status
        );
        ensure!(got.source == "cache", "{id} source {}", got.source);
    }
    let cut = get(&http, &format!("{base}/songs/later/playlist.m3u8")).await?;
    let why = String::from_utf8_lossy(&cut.body).to_string();
    ensure!(
        cut.status == 503,
        "a song published after the cut, through the cut-off {listener}: {} {why}",
        cut.status
    );
    ensure!(why.contains("cut off"), "{why}");
    // The other half, with both edges, plays it.
    let other = meshctl::songs::running_peers(&d)
        .into_iter()
        .find(|p| p.name != listener && p.name != relay && !EDGE_PEERS.contains(&p.name.as_str()))
        .context("no other peer")?;
    let later = segments(&http, &other.url, "later").await?;
    ensure!(!later.is_empty());
    run(&["heal"]).await?;
    Ok(())
}
