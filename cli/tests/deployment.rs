//! One small deployment against the real Docker daemon, brought up once and
//! checked for everything issue 4 lists: limits, networks and members,
//! labels, replication, status, graph, converge, TTL expiry, load without
//! OOM kills, and a `down` that leaves nothing of it and touches nothing
//! else. Needs the release binaries (`cargo build --release --workspace`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use meshctl::context::{self, LABEL_COMPONENT, LABEL_DEPLOYMENT, LABEL_ROLE, LABEL_TEST};
use meshctl::deploy::converge::ensure_network;
use meshctl::runtime::{Filter, Runtime};

mod support;
use support::{meshctl, poll, run_id, Guard, DOCKER_LOCK};

const TTL: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_end_to_end() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("t");
    let other = format!("{name}o");
    let test_label = format!("{LABEL_TEST}={name}");
    let d = meshctl::runtime::connect().await?;

    // Something of another deployment that `down` must not touch.
    let other_labels = BTreeMap::from([
        (LABEL_DEPLOYMENT.to_string(), other.clone()),
        (LABEL_TEST.to_string(), name.clone()),
    ]);
    let other_net = format!("{other}-keep");
    ensure_network(&d, &other_net, &other_labels).await?;
    struct NetGuard(String);
    impl Drop for NetGuard {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["network", "rm", &self.0])
                .output();
        }
    }
    let _net_guard = NetGuard(other_net.clone());

    let _guard = Guard { name: name.clone() };
    let ttl = TTL.to_string();
    let up_args = [
        "--name",
        &name,
        "up",
        "--count",
        "6",
        "--degree",
        "3",
        "--seed",
        "5",
        "--edge1-peers",
        "peer-1,peer-2",
        "--edge2-peers",
        "peer-5",
        "--tracker-ttl",
        &ttl,
        "--heartbeat-interval",
        "1",
        "--label",
        &test_label,
        "--format",
        "json",
    ];
    let out = meshctl(&up_args, Duration::from_secs(900)).await?;
    let report: serde_json::Value = serde_json::from_str(&out).context("up --format json")?;
    assert_eq!(report["peers"], 6);

    // The Engine shows the limits, networks, members and labels.
    let containers = context::list_containers(&d, &name).await?;
    assert_eq!(
        containers.len(),
        6 + 3 + 4,
        "6 peers, 3 databases, 4 services"
    );
    let mut ids_before = BTreeSet::new();
    for c in &containers {
        let id = c.id.clone();
        ids_before.insert(id.clone());
        assert_eq!(c.label(LABEL_TEST), Some(name.as_str()));
        assert!(c.label(LABEL_ROLE).is_some() && c.label(LABEL_COMPONENT).is_some());
        if c.label(LABEL_ROLE) == Some("peer") {
            let i = d.inspect_container(&id).await?.context("peer vanished")?;
            assert_eq!(
                i.memory_limit,
                Some(15 * 1024 * 1024),
                "memory limit of {id}"
            );
            assert_eq!(
                i.memory_swap_limit,
                Some(15 * 1024 * 1024),
                "no swap for {id}"
            );
        }
    }
    let members = |net: String| {
        let d = d.clone();
        let expect = name.clone();
        async move {
            let n = d.inspect_network(&net).await?.context("network missing")?;
            assert_eq!(n.labels.get(LABEL_TEST), Some(&expect));
            let mut m: Vec<String> = n.members;
            m.sort();
            Ok::<_, anyhow::Error>(m)
        }
    };
    let p = |s: &str| format!("{name}-{s}");
    let mut micro = vec![];
    for i in 1..=6 {
        micro.push(p(&format!("peer-{i}")));
    }
    for s in ["redis", "signalling", "topology", "tracker"] {
        micro.push(p(s));
    }
    micro.sort();
    assert_eq!(members(p("micro-net")).await?, micro);
    assert_eq!(
        members(p("edge-a-net")).await?,
        [p("edge-db-a"), p("peer-1"), p("peer-2")]
    );
    assert_eq!(
        members(p("edge-b-net")).await?,
        [p("edge-db-b"), p("peer-5")]
    );
    assert_eq!(
        members(p("origin-net")).await?,
        [p("edge-db-a"), p("edge-db-b"), p("origin-db")]
    );
    let vols = d.list_volumes(&Filter::deployment(&name)).await?;
    assert_eq!(vols.len(), 3);
    assert!(vols.iter().all(|v| v.labels.get(LABEL_TEST) == Some(&name)));

    // Discovery finds everything from Docker's state alone.
    let dep = context::discover(&d, &name).await?;
    assert_eq!(dep.peers.len(), 6);
    assert!(dep
        .peers
        .iter()
        .all(|p| p.running && p.url.starts_with("http://127.0.0.1:")));
    assert_eq!(dep.peers[0].edge.as_deref(), Some("edge-db-a"));
    assert!(dep.token.as_ref().is_some_and(|t| t.len() >= 16));
    assert!(dep.postgres_password.len() >= 16);
    let origin_url = dep.origin_url.clone().context("origin url")?;
    assert_eq!(dep.edge_urls.len(), 2);

    // The DB image refuses a wrong password.
    let wrong = origin_url.replace(&dep.postgres_password, "wrong-password");
    assert!(meshctl::db::connect(&wrong, Duration::from_secs(10))
        .await
        .is_err());

    // A row inserted on origin only appears on both edges.
    let origin = meshctl::db::connect(&origin_url, Duration::from_secs(30)).await?;
    origin
        .execute(
            "INSERT INTO songs (song, playlist_id, segment_count, duration_ms, total_bytes) VALUES ($1, 'p', 0, 0, 0)",
            &[&name],
        )
        .await?;
    for (edge, url) in &dep.edge_urls {
        let client = meshctl::db::connect(url, Duration::from_secs(30)).await?;
        let subs = meshctl::db::subscriptions(&client).await?;
        assert_eq!(subs.len(), 1, "{edge} has its subscription");
        assert!(subs[0].enabled);
        poll(
            &format!("row on {edge}"),
            Duration::from_secs(60),
            async || {
                let n: i64 = client
                    .query_one("SELECT count(*) FROM songs WHERE song = $1", &[&name])
                    .await?
                    .get(0);
                Ok((n == 1).then_some(()))
            },
        )
        .await?;
    }

    // Load: segments ingested and fetched through the mesh from every peer.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut ids = Vec::new();
    for (k, holder) in dep.peers.iter().enumerate().take(3) {
        let mut bytes = data.clone();
        bytes[0] = k as u8;
        let sha = meshctl::songs::sha256_hex(&bytes);
        let id = format!("{name}-{k:05}-{sha}.ts");
        let r = http
            .post(format!("{}/segments?id={id}&sha256={sha}", holder.url))
            .bearer_auth(dep.peer_token(&holder.name).unwrap_or_default())
            .body(bytes)
            .send()
            .await?;
        assert!(
            r.status().is_success(),
            "ingest on {}: {}",
            holder.name,
            r.status()
        );
        ids.push(id);
    }
    // Each new segment reaches the tracker within a second or so.
    let tracker = dep.tracker_url.clone().context("tracker url")?;
    for id in &ids {
        poll(
            "tracker knows the holder",
            Duration::from_secs(30),
            async || {
                let l: wire::tracker::SegmentLookup = http
                    .get(format!("{tracker}/segments/{id}"))
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok((!l.holders.is_empty()).then_some(()))
            },
        )
        .await?;
    }
    let mut fetches = Vec::new();
    for _round in 0..3 {
        for peer in &dep.peers {
            for id in &ids {
                let http = http.clone();
                let url = format!("{}/segments/{id}", peer.url);
                fetches.push(tokio::spawn(async move {
                    let r = http.get(&url).send().await?;
                    let status = r.status();
                    let body = r.bytes().await?;
                    if !status.is_success() {
                        bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
                    }
                    Ok::<_, anyhow::Error>((status, body.len()))
                }));
            }
        }
    }
    for f in fetches {
        let (status, len) = f.await??;
        assert!(status.is_success(), "fetch through the mesh: {status}");
        assert_eq!(len, 100_000);
    }

    // status: every peer with its heartbeat age, none OOM-killed or restarted.
    let status: serde_json::Value = serde_json::from_str(
        &meshctl(
            &["--name", &name, "status", "--format", "json"],
            Duration::from_secs(120),
        )
        .await?,
    )?;
    let peers = status["peers"].as_array().context("peers")?;
    assert_eq!(peers.len(), 6);
    for peer in peers {
        assert_eq!(peer["state"], "running", "{peer}");
        assert_eq!(peer["oom_killed"], false, "{peer}");
        assert_eq!(peer["restarts"], 0, "{peer}");
        assert!(
            peer["heartbeat_age_secs"]
                .as_f64()
                .is_some_and(|a| a < TTL as f64),
            "{peer}"
        );
        assert_eq!(peer["memory_limit"], 15 * 1024 * 1024);
    }
    assert_eq!(status["live_peers"], 6);
    assert!(status["control"]
        .as_array()
        .context("control")?
        .iter()
        .all(|s| s["healthy"] == true));

    // graph: accepted by dot.
    let dot = meshctl(&["--name", &name, "graph"], Duration::from_secs(60)).await?;
    let mut child = tokio::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("run dot")?;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().context("dot stdin")?;
        stdin.write_all(dot.as_bytes()).await?;
    }
    let st = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    assert!(st.success(), "dot refused:\n{dot}");
    assert!(dot.contains("\"peer-6\"") && dot.contains("edge-db-a"));

    // A second up leaves every container as it was.
    meshctl(&up_args, Duration::from_secs(600)).await?;
    let ids_after: BTreeSet<String> = context::list_containers(&d, &name)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids_before, ids_after);

    // A peer stopped by hand leaves the graph within the TTL.
    let victim = dep.peers[3].name.clone();
    d.stop_container(&p(&victim), Duration::from_secs(1))
        .await?;
    let stopped = Instant::now();
    poll(
        "stopped peer leaves the graph",
        Duration::from_secs(TTL * 3 + 10),
        async || {
            let g: serde_json::Value = serde_json::from_str(
                &meshctl(
                    &["--name", &name, "graph", "--format", "json"],
                    Duration::from_secs(60),
                )
                .await?,
            )?;
            let peers: Vec<&str> = g["peers"]
                .as_array()
                .context("peers")?
                .iter()
                .filter_map(|p| p.as_str())
                .collect();
            Ok((!peers.contains(&victim.as_str())).then_some(()))
        },
    )
    .await?;
    assert!(stopped.elapsed() < Duration::from_secs(TTL * 3 + 10));

    // down leaves nothing of the deployment and nothing else is touched.
    meshctl(&["--name", &name, "down"], Duration::from_secs(300)).await?;
    assert!(context::list_containers(&d, &name).await?.is_empty());
    let sel = Filter::deployment(&name);
    assert!(d.list_networks(&sel).await?.is_empty());
    assert!(d.list_volumes(&sel).await?.is_empty());
    assert!(d.inspect_network(&other_net).await?.is_some());
    // Idempotent.
    meshctl(&["--name", &name, "down"], Duration::from_secs(60)).await?;
    Ok(())
}
