//! Network faults against the real Docker daemon: shaping, loss, partition,
//! isolation and heal on a small deployment, each checked by fetching
//! segments through the mesh. Needs the release binaries (`cargo build
//! --release --workspace --bins`).

mod support;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use meshctl::context::{Deployment, LABEL_ROLE, LABEL_TEST};
use meshctl::offline::{ensure, BaseImage};
use meshctl::progress::Step;
use meshctl::runtime::{Filter, Runtime};
use support::{meshctl, meshctl_fails, poll, run_id, Guard, DOCKER_LOCK};

const T: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_image_is_built_offline() -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let image = ensure(&rt, BaseImage::Tools, &Step::hidden()).await?;
    assert_eq!(image, "meshctl/tools:1");
    Ok(())
}

/// Bad values and unknown peers fail with the flag or the name, before
/// any engine call (no deployment by that name exists).
#[tokio::test]
async fn bad_input_names_the_flag() -> anyhow::Result<()> {
    let t = Duration::from_secs(30);
    for (args, says) in [
        (vec!["netem", "set", "peer-1", "--delay", "-5ms"], "--delay"),
        (
            vec!["netem", "set", "peer-1", "--delay", "80"],
            "give a unit",
        ),
        (
            vec!["netem", "set", "peer-1", "--loss", "120%"],
            "over 100%",
        ),
        (
            vec!["netem", "set", "peer-1", "--rate", "3furlongs"],
            "unknown unit",
        ),
        (
            vec!["netem", "set", "peer-1", "--jitter", "5ms"],
            "--jitter: needs --delay",
        ),
        (vec!["netem", "set", "peer-1"], "give at least one"),
    ] {
        let err = meshctl_fails(&args, t).await?;
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let name = run_id("nx");
    let err = meshctl_fails(
        &["--name", &name, "netem", "set", "peer-1", "--loss", "5%"],
        t,
    )
    .await?;
    assert!(
        err.contains(&format!("no deployment named {name:?}")),
        "{err}"
    );
    Ok(())
}

struct Mesh {
    dep: Deployment,
    http: reqwest::Client,
    run: String,
    n: std::sync::atomic::AtomicUsize,
}

impl Mesh {
    fn url(&self, peer: &str) -> anyhow::Result<&str> {
        let p = self
            .dep
            .peers
            .iter()
            .find(|p| p.name == peer)
            .context(peer.to_string())?;
        Ok(&p.url)
    }

    /// Ingests a new 100 kB segment on `holder` and waits for the tracker
    /// to list it.
    async fn ingest(&self, holder: &str) -> anyhow::Result<String> {
        let k = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        bytes[..8].copy_from_slice(&(k as u64).to_be_bytes());
        let sha = meshctl::songs::sha256_hex(&bytes);
        let id = format!("{}-{k:05}-{sha}.ts", self.run);
        let r = self
            .http
            .post(format!(
                "{}/segments?id={id}&sha256={sha}",
                self.url(holder)?
            ))
            .bearer_auth(self.dep.peer_token(holder).unwrap_or_default())
            .body(bytes)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("ingest on {holder}: {}", r.status());
        }
        let tracker = self.dep.tracker_url.clone().context("tracker url")?;
        poll(
            "tracker lists the holder",
            Duration::from_secs(30),
            async || {
                let l: wire::tracker::SegmentLookup = self
                    .http
                    .get(format!("{tracker}/segments/{id}"))
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok((!l.holders.is_empty()).then_some(()))
            },
        )
        .await?;
        Ok(id)
    }

    /// Fetches `id` through `via`: how long it took, or the failure.
    async fn fetch(&self, via: &str, id: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let r = self
            .http
            .get(format!("{}/segments/{id}", self.url(via)?))
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        if !status.is_success() || body.len() != 100_000 {
            bail!("GET {id} via {via}: {status}, {} bytes", body.len());
        }
        Ok(started.elapsed())
    }
}

impl Mesh {
    /// Fetches `id` through `via` and checks the bytes against the SHA-256
    /// in its name.
    async fn fetch_verified(&self, via: &str, id: &str) -> anyhow::Result<()> {
        let r = self
            .http
            .get(format!("{}/segments/{id}", self.url(via)?))
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        let want = id
            .trim_end_matches(".ts")
            .rsplit('-')
            .next()
            .unwrap_or_default();
        if !status.is_success() || meshctl::songs::sha256_hex(&body) != want {
            bail!(
                "GET {id} via {via}: {status}, {} bytes, not the bytes ingested",
                body.len()
            );
        }
        Ok(())
    }
}

/// What is left of meshctl's changes: helper containers and rule rows.
async fn leftovers(
    rt: &meshctl::runtime::DockerRuntime,
    name: &str,
) -> anyhow::Result<(usize, usize)> {
    let helpers = rt
        .list_containers(&Filter::deployment(name).and(LABEL_ROLE, "helper"))
        .await?
        .len();
    let active: Vec<meshctl::faults::net::ActiveFault> =
        meshctl::faults::net::active(rt, name).await?;
    if !active.is_empty() {
        eprintln!("left: {active:?}");
    }
    Ok((helpers, active.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaping_partition_isolate_and_heal() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("nf");
    let _guard = Guard { name: name.clone() };
    let label = format!("{LABEL_TEST}={name}");
    meshctl(
        &[
            "--name", &name, "up", "--count", "3", "--degree", "2", "--label", &label, "--format",
            "json",
        ],
        Duration::from_secs(900),
    )
    .await?;
    let rt = meshctl::runtime::connect().await?;
    let dep = meshctl::context::discover(&rt, &name).await?;
    let m = Mesh {
        dep,
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()?,
        run: name.clone(),
        n: Default::default(),
    };
    let cmd = |rest: &[&'static str]| -> Vec<&str> {
        let mut v = vec!["--name", name.as_str()];
        v.extend_from_slice(rest);
        v
    };

    // Unknown peers are named; nothing changes.
    let err = meshctl_fails(&cmd(&["netem", "set", "peer-9", "--loss", "5%"]), T).await?;
    assert!(err.contains("no peer \"peer-9\""), "{err}");
    let err = meshctl_fails(
        &cmd(&["netem", "set", "peer-1", "--to", "peer-7", "--loss", "5%"]),
        T,
    )
    .await?;
    assert!(err.contains("--to peer-7"), "{err}");

    // Baseline: peer-1 fetches from its neighbour peer-2.
    let mut base = Duration::MAX;
    for _ in 0..2 {
        let id = m.ingest("peer-2").await?;
        base = base.min(m.fetch("peer-1", &id).await?);
    }
    eprintln!("baseline fetch over peer-1 - peer-2: {base:?}");

    // A rate of 400 kbit on the link (both directions): 100 kB take about
    // 2 s to cross it (at least 1 s, whatever the bursts).
    meshctl(
        &cmd(&[
            "netem", "set", "peer-1", "--to", "peer-2", "--rate", "400kbit",
        ]),
        T,
    )
    .await?;
    let id = m.ingest("peer-2").await?;
    let shaped = m.fetch("peer-1", &id).await?;
    eprintln!("fetch over the 400 kbit link: {shaped:?}");
    assert!(
        shaped >= base + Duration::from_millis(1000),
        "{shaped:?} vs {base:?}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&meshctl(&cmd(&["netem", "show", "--format", "json"]), T).await?)?;
    let rows = shown.as_array().context("rows")?;
    assert_eq!(rows.len(), 2, "both ends: {shown}");
    // The change is in the deployment's events, once per end, with its target.
    let events = meshctl(&cmd(&["events", "--since", "10m", "--format", "json"]), T).await?;
    let applied: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "fault")
        .collect();
    for (peer, other) in [("peer-1", "peer-2"), ("peer-2", "peer-1")] {
        let want = format!("netem {peer} rate=400kbit to={other}");
        assert!(
            applied
                .iter()
                .any(|e| e["target"] == peer && e["description"] == want.as_str()),
            "no fault event {want:?} for {peer}: {events}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r["peer"] == "peer-1" && r["to"] == "peer-2" && r["rate_bps"] == 400_000),
        "{shown}"
    );
    assert!(
        rows.iter()
            .any(|r| r["peer"] == "peer-2" && r["to"] == "peer-1"),
        "{shown}"
    );

    // A delay of 200 ms on the link, both ways: netem where the kernel has
    // it, else a shaper container per direction (NFQUEUE). A relay over the
    // link is at least 200 ms slower (one round trip is 400 ms).
    meshctl(
        &cmd(&[
            "netem", "set", "peer-1", "--to", "peer-2", "--delay", "200ms",
        ]),
        T,
    )
    .await?;
    let id = m.ingest("peer-2").await?;
    let delayed = m.fetch("peer-1", &id).await?;
    eprintln!("fetch over the 200 ms link: {delayed:?} (baseline {base:?})");
    assert!(
        delayed >= base + Duration::from_millis(200),
        "{delayed:?} vs {base:?}"
    );
    let table = meshctl(&cmd(&["netem", "show", "peer-1"]), T).await?;
    assert!(table.contains("200ms") && table.contains("VIA"), "{table}");
    let shown: serde_json::Value =
        serde_json::from_str(&meshctl(&cmd(&["netem", "show", "--format", "json"]), T).await?)?;
    let row = |peer: &str, to: &str| {
        shown
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["peer"] == peer && r["to"] == to))
            .cloned()
            .unwrap_or_default()
    };
    let via = row("peer-1", "peer-2")["via"]
        .as_str()
        .unwrap_or("")
        .to_string();
    eprintln!("delay applied via {via}");
    for (a, b) in [("peer-1", "peer-2"), ("peer-2", "peer-1")] {
        let r = row(a, b);
        assert_eq!(r["delay_us"], 200_000, "{shown}");
        assert_eq!(r["via"], via.as_str(), "{shown}");
        if via == "shaper" {
            assert_eq!(r["shaper"], "running", "{shown}");
        } else {
            assert_eq!(via, "kernel", "{shown}");
        }
    }
    let shaper_count = || async {
        Ok::<_, anyhow::Error>(
            rt.list_containers(&Filter::deployment(&name).and(LABEL_ROLE, "helper"))
                .await?
                .iter()
                .filter(|c| c.labels.contains_key("meshctl.shaper"))
                .count(),
        )
    };
    if via == "shaper" {
        assert_eq!(shaper_count().await?, 2, "one shaper per direction");
        // Its start is a fault in the events.
        let events = meshctl(&cmd(&["events", "--since", "10m", "--format", "json"]), T).await?;
        assert!(
            events.contains("shaper peer-1 delay=200ms to=peer-2"),
            "{events}"
        );
    }

    // Every packet corrupted on peer-1 - peer-3: relays over it fail (the
    // receiver's checksum drops them), within a bounded wait; the other
    // links still carry them.
    meshctl(
        &cmd(&[
            "netem",
            "set",
            "peer-1",
            "--to",
            "peer-3",
            "--corrupt",
            "100%",
        ]),
        T,
    )
    .await?;
    let id = m.ingest("peer-3").await?;
    let broken = tokio::time::timeout(Duration::from_secs(25), m.fetch("peer-1", &id)).await;
    assert!(
        !matches!(broken, Ok(Ok(_))),
        "a relay over the corrupted link succeeded"
    );
    m.fetch("peer-2", &id)
        .await
        .context("peer-2 - peer-3 is not corrupted")?;

    // Duplicates: half the packets of peer-2 - peer-3 sent twice; relays
    // still deliver the exact bytes (the SHA-256 in the id is checked at
    // every hop and here).
    meshctl(
        &cmd(&[
            "netem",
            "set",
            "peer-2",
            "--to",
            "peer-3",
            "--duplicate",
            "50%",
        ]),
        T,
    )
    .await?;
    for _ in 0..3 {
        let id = m.ingest("peer-3").await?;
        m.fetch_verified("peer-2", &id).await?;
    }
    let shown: serde_json::Value = serde_json::from_str(
        &meshctl(&cmd(&["netem", "show", "peer-2", "--format", "json"]), T).await?,
    )?;
    assert!(
        shown.as_array().is_some_and(|rows| rows
            .iter()
            .any(|r| r["to"] == "peer-3" && r["duplicate"] == 50.0 && r["via"] == via.as_str())),
        "{shown}"
    );

    // reset restores.
    meshctl(&cmd(&["netem", "reset", "--all"]), T).await?;
    let id = m.ingest("peer-2").await?;
    let after = m.fetch("peer-1", &id).await?;
    eprintln!("fetch after reset: {after:?} (baseline {base:?})");
    assert!(
        after < base + Duration::from_millis(1000),
        "{after:?} vs {base:?}"
    );
    let shown = meshctl(&cmd(&["netem", "show", "--format", "json"]), T).await?;
    assert_eq!(shown.trim(), "[]");
    assert_eq!(shaper_count().await?, 0, "reset stops the shapers");

    // Loss of 100 % on all of peer-1's egress: its fetches fail, others work.
    meshctl(&cmd(&["netem", "set", "peer-1", "--loss", "100%"]), T).await?;
    let id = m.ingest("peer-2").await?;
    assert!(
        m.fetch("peer-1", &id).await.is_err(),
        "peer-1 cannot reach anyone"
    );
    m.fetch("peer-3", &id)
        .await
        .context("peer-3 - peer-2 still works")?;
    meshctl(&cmd(&["netem", "reset", "peer-1"]), T).await?;

    // Partition {peer-1} | {peer-2, peer-3}: nothing crosses the cut.
    meshctl(&cmd(&["partition", "peer-1", "peer-2,peer-3"]), T).await?;
    let faults = meshctl::faults::net::active(&rt, &name).await?;
    assert_eq!(
        faults.iter().filter(|f| f.kind == "partition").count(),
        3,
        "{faults:?}"
    );
    let id = m.ingest("peer-2").await?;
    m.fetch("peer-3", &id).await.context("inside a group")?;
    let id = m.ingest("peer-2").await?;
    assert!(m.fetch("peer-1", &id).await.is_err(), "across the cut");
    meshctl(&cmd(&["heal"]), T).await?;
    // heal leaves no rule and no helper, and paths cross again.
    assert_eq!(leftovers(&rt, &name).await?, (0, 0));
    poll(
        "a fetch across after heal",
        Duration::from_secs(60),
        async || {
            let id = m.ingest("peer-2").await?;
            Ok(m.fetch("peer-1", &id).await.ok())
        },
    )
    .await?;

    // isolate: peer-2's segment is out of reach for everyone.
    let id = m.ingest("peer-2").await?;
    meshctl(&cmd(&["isolate", "peer-2"]), T).await?;
    let faults = meshctl::faults::net::active(&rt, &name).await?;
    assert!(
        faults
            .iter()
            .any(|f| f.kind == "isolate" && f.target == "peer-2"),
        "{faults:?}"
    );
    assert!(m.fetch("peer-3", &id).await.is_err(), "peer-2 is isolated");

    // A shaping left in place, then heal: nothing of meshctl remains.
    meshctl(
        &cmd(&[
            "netem", "set", "peer-3", "--to", "peer-1", "--rate", "1mbit", "--loss", "5%",
        ]),
        T,
    )
    .await?;
    meshctl(
        &cmd(&[
            "netem", "set", "peer-3", "--delay", "20ms", "--jitter", "5ms",
        ]),
        T,
    )
    .await?;
    meshctl(&cmd(&["heal", "--all"]), T).await?;
    assert_eq!(leftovers(&rt, &name).await?, (0, 0));
    assert_eq!(shaper_count().await?, 0, "heal --all leaves no shaper");
    poll("peer-2 serves again", Duration::from_secs(30), async || {
        Ok(m.fetch("peer-3", &id).await.ok())
    })
    .await?;
    Ok(())
}
