//! A partition around the edges against the real Docker daemon: the mesh
//! cut in two halves that each keep an edge peer; a song plays through
//! each half, no byte crosses the cut, and `heal` joins the halves again.
//! Needs the release binaries (`cargo build --release --workspace --bins`).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use meshctl::context::LABEL_TEST;
use meshctl::songs::play;
use support::{meshctl, meshctl_fails, poll, run_id, tone, Guard, DOCKER_LOCK};

const T: Duration = Duration::from_secs(300);
const PEERS: usize = 8;

#[derive(serde::Deserialize)]
struct Partitioned {
    groups: Vec<Vec<String>>,
    rules: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_around_the_edges_plays_in_both_halves() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("np");
    let _guard = Guard { name: name.clone() };
    let label = format!("{LABEL_TEST}={name}");
    meshctl(
        &[
            "--name",
            &name,
            "up",
            "--count",
            &PEERS.to_string(),
            "--degree",
            "2",
            "--edge1-peers",
            "peer-1",
            "--edge2-peers",
            "peer-5",
            "--heartbeat-interval",
            "2",
            "--tracker-ttl",
            "8",
            "--label",
            &label,
        ],
        Duration::from_secs(900),
    )
    .await?;
    let cmd = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["--name".to_string(), name.clone()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| async move {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        meshctl(&a, T).await
    };
    // The whole mesh is in topology's graph before it is cut by it.
    poll("every peer linked in the graph", T, async || {
        let g: serde_json::Value =
            serde_json::from_str(&run(cmd(&["graph", "--format", "json"])).await?)?;
        let names = |key: &str| -> BTreeSet<String> {
            g[key]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|pair| pair.as_array().into_iter().flatten())
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        let linked = names("links");
        let edges = names("edge_links");
        Ok(
            (linked.len() == PEERS && edges.contains("peer-1") && edges.contains("peer-5"))
                .then_some(()),
        )
    })
    .await?;

    // Bad groups are named; nothing is cut.
    let a: Vec<String> = cmd(&["partition", "--around", "edge-db-z"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let err = meshctl_fails(&a, T).await?;
    assert!(err.contains("--around edge-db-z"), "{err}");

    let out: Partitioned = serde_json::from_str(
        &run(cmd(&[
            "partition",
            "--around",
            "edge-db-a",
            "--format",
            "json",
        ]))
        .await?,
    )?;
    assert_eq!(out.groups.len(), 2, "{:?}", out.groups);
    let (ga, gb) = (&out.groups[0], &out.groups[1]);
    assert!(ga.contains(&"peer-1".to_string()), "{ga:?}");
    assert!(gb.contains(&"peer-5".to_string()), "{gb:?}");
    assert_eq!(ga.len() + gb.len(), PEERS);
    assert_eq!(out.rules, 2 * 2 * ga.len() * gb.len());

    // A song plays through a peer of each half that is not its edge peer,
    // and every byte came from inside that half.
    let dir = tempfile::tempdir()?;
    let wav = tone(dir.path(), 12, 523).await?;
    let wav_s = wav.to_string_lossy().to_string();
    run(cmd(&["publish", &wav_s, "--song", "halves"])).await?;
    let rt = meshctl::runtime::connect().await?;
    let d = meshctl::context::discover(&rt, &name).await?;
    let peers = meshctl::songs::running_peers(&d);
    for (group, edge) in [(ga, "peer-1"), (gb, "peer-5")] {
        let via = group
            .iter()
            .find(|p| *p != edge)
            .context("a half with only its edge peer")?;
        let url = peers
            .iter()
            .find(|p| &p.name == via)
            .context("peer not running")?
            .url
            .clone();
        let played = play::play(
            &play::PlayOptions {
                song: "halves".into(),
                peer: via.clone(),
                peer_url: url,
                request_timeout: Duration::from_secs(30),
                timeout: Duration::from_secs(180),
            },
            meshctl::songs::http_client()?,
        )
        .await?;
        assert!(
            played.fetches.iter().all(|f| f.ok()),
            "a fetch failed through {via}: {:?}",
            played
                .fetches
                .iter()
                .filter(|f| !f.ok())
                .collect::<Vec<_>>()
        );
        assert!(played.fetches.len() >= 3, "{:?}", played.fetches.len());
        // The segments came over the mesh (the edge peer is another peer),
        // so their routes name the hops to check.
        assert!(
            played
                .fetches
                .iter()
                .any(|f| f.route.as_deref().is_some_and(|r| r.contains(','))),
            "no fetch through {via} carried a route"
        );
        for f in &played.fetches {
            let route = f.route.as_deref().unwrap_or(via.as_str());
            for hop in route.split(',').map(str::trim) {
                assert!(
                    group.iter().any(|p| p == hop),
                    "{} through {via} crossed the cut: route {route}",
                    f.id
                );
            }
        }
    }

    // heal: the halves are one mesh again. A segment only peer-1's half
    // holds reaches a peer of the other half.
    run(cmd(&["heal"])).await?;
    let active = meshctl::faults::net::active(&rt, &name).await?;
    assert!(active.is_empty(), "{active:?}");
    let far = gb.iter().find(|p| *p != "peer-5").context("far peer")?;
    let url = peers
        .iter()
        .find(|p| &p.name == far)
        .context("far peer not running")?
        .url
        .clone();
    let http = meshctl::songs::http_client()?;
    let near = ga.iter().find(|p| *p != "peer-1").context("near peer")?;
    let near_url = peers
        .iter()
        .find(|p| &p.name == near)
        .context("near peer not running")?
        .url
        .clone();
    let token = d.peer_token(near).context("peer token")?;
    let tries = std::sync::atomic::AtomicU32::new(0);
    poll(
        "a segment crosses after heal",
        Duration::from_secs(60),
        async || {
            let k = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 249) as u8).collect();
            bytes[..4].copy_from_slice(&k.to_be_bytes());
            let sha = meshctl::songs::sha256_hex(&bytes);
            let id = format!("{name}-healed-{sha}.ts");
            let r = http
                .post(format!("{near_url}/segments?id={id}&sha256={sha}"))
                .bearer_auth(&token)
                .body(bytes)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "ingest: {}", r.status());
            let r = http.get(format!("{url}/segments/{id}")).send().await?;
            Ok(r.status().is_success().then_some(()))
        },
    )
    .await?;
    Ok(())
}
