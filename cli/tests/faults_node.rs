//! Node faults against the real Docker daemon, on one small deployment
//! brought up once: kill, stop/start, pause/unpause and restart of peers, a
//! control service and a database, each seen through the Engine; `--random`
//! with a seed; targets that are not the deployment's; `faults` before and
//! after `restore`. Needs the release binaries (`cargo build --release
//! --workspace --bins`).
//!
//! Everything carries `meshctl.test=<run id>`; Drop guards remove it also
//! when a check fails.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use meshctl::runtime::{ContainerState, DockerRuntime, Filter, Runtime};

mod support;
use support::{meshctl, meshctl_fails, run_id, Guard, DOCKER_LOCK};

const T: Duration = Duration::from_secs(120);

/// Removes containers made by hand here when dropped.
struct ContainerGuard(Vec<String>);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", c])
                .output();
        }
    }
}

async fn state(
    d: &DockerRuntime,
    container: &str,
) -> anyhow::Result<(ContainerState, Option<i64>)> {
    let c = d
        .inspect_container(container)
        .await?
        .with_context(|| format!("{container} vanished"))?;
    Ok((c.state, c.exit_code))
}

/// `meshctl faults --format json` as (kind, target) pairs.
async fn faults(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = meshctl(&["--name", name, "faults", "--format", "json"], T).await?;
    let v: serde_json::Value = serde_json::from_str(&out).context("faults json")?;
    Ok(v.as_array()
        .context("faults: not a list")?
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("?").to_string(),
                f["target"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect())
}

/// Runs a node command with `--format json`; answers (target, result) rows.
async fn act(name: &str, args: &[&str]) -> anyhow::Result<(Option<u64>, Vec<(String, String)>)> {
    let mut all = vec!["--name", name];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = meshctl(&all, T).await?;
    let v: serde_json::Value = serde_json::from_str(&out).context("json report")?;
    let rows = v["outcomes"]
        .as_array()
        .context("outcomes")?
        .iter()
        .map(|o| {
            (
                o["target"].as_str().unwrap_or("?").to_string(),
                o["result"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    Ok((v["seed"].as_u64(), rows))
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_faults_on_a_real_deployment() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("nf");
    let test_label = format!("meshctl.test={name}");
    let d = meshctl::runtime::connect().await?;
    let _guard = Guard { name: name.clone() };
    meshctl(
        &[
            "--name",
            &name,
            "up",
            "--count",
            "4",
            "--label",
            &test_label,
        ],
        Duration::from_secs(900),
    )
    .await?;
    let c = |s: &str| format!("{name}-{s}");
    assert!(faults(&name).await?.is_empty(), "a fresh deployment");

    // A container of another deployment and one meshctl did not make, for
    // the errors; neither may change.
    let other = format!("{name}o-peer-1");
    let foreign = format!("{name}-byhand");
    let _hand = ContainerGuard(vec![other.clone(), foreign.clone()]);
    for (n, deployment_label) in [
        (&other, format!("meshctl.deployment={name}o")),
        (&foreign, "x-owner=someone".to_string()),
    ] {
        let out = std::process::Command::new("docker")
            .args(["create", "--name", n, "--label", &deployment_label])
            .args(["--label", &test_label, "peer-node:latest"])
            .output()?;
        anyhow::ensure!(out.status.success(), "docker create {n}: {out:?}");
    }

    // Bad targets: named, and nothing is changed (peer-1 stays up).
    let e = meshctl_fails(&["--name", &name, "kill", "peer-1", "peer-99"], T).await?;
    assert!(
        e.contains("\"peer-99\"") && e.contains("nothing was changed"),
        "{e}"
    );
    let e = meshctl_fails(&["--name", &name, "pause", "peer-1", &other], T).await?;
    assert!(e.contains(&format!("deployment \"{name}o\"")), "{e}");
    let e = meshctl_fails(&["--name", &name, "stop", &foreign], T).await?;
    assert!(e.contains("did not make"), "{e}");
    let e = meshctl_fails(&["--name", &name, "kill", "--random", "150%"], T).await?;
    assert!(e.contains("--random"), "{e}");
    assert_eq!(state(&d, &c("peer-1")).await?.0, ContainerState::Running);
    assert_eq!(state(&d, &other).await?.0, ContainerState::Created);
    assert_eq!(state(&d, &foreign).await?.0, ContainerState::Created);

    // kill → exited 137, listed, start → running.
    let (_, rows) = act(&name, &["kill", "peer-2"]).await?;
    assert_eq!(rows, pairs(&[("peer-2", "killed")]));
    assert_eq!(
        state(&d, &c("peer-2")).await?,
        (ContainerState::Exited, Some(137))
    );
    let (_, rows) = act(&name, &["kill", "peer-2"]).await?;
    assert_eq!(rows, pairs(&[("peer-2", "already stopped")]));
    assert_eq!(faults(&name).await?, pairs(&[("killed", "peer-2")]));
    let e = meshctl_fails(&["--name", &name, "pause", "peer-2"], T).await?;
    assert!(e.contains("peer-2") && e.contains("not running"), "{e}");
    let (_, rows) = act(&name, &["start", "peer-2"]).await?;
    assert_eq!(rows, pairs(&[("peer-2", "started")]));
    assert_eq!(state(&d, &c("peer-2")).await?.0, ContainerState::Running);

    // pause / unpause of a control service and a peer.
    let (_, rows) = act(&name, &["pause", "tracker", "peer-3"]).await?;
    assert_eq!(rows, pairs(&[("peer-3", "paused"), ("tracker", "paused")]));
    assert_eq!(state(&d, &c("tracker")).await?.0, ContainerState::Paused);
    let (_, rows) = act(&name, &["pause", "tracker"]).await?;
    assert_eq!(rows, pairs(&[("tracker", "already paused")]));
    assert_eq!(
        faults(&name).await?,
        pairs(&[("paused", "peer-3"), ("paused", "tracker")])
    );
    act(&name, &["unpause", "tracker", "peer-3"]).await?;
    assert_eq!(state(&d, &c("tracker")).await?.0, ContainerState::Running);
    assert_eq!(state(&d, &c("peer-3")).await?.0, ContainerState::Running);

    // stop / start of a database, gracefully (PostgreSQL exits 0 on SIGTERM).
    let (_, rows) = act(&name, &["stop", "origin-db", "--timeout", "20"]).await?;
    assert_eq!(rows, pairs(&[("origin-db", "stopped")]));
    let (st, code) = state(&d, &c("origin-db")).await?;
    assert_eq!(st, ContainerState::Exited);
    assert_ne!(code, Some(137), "stopped gracefully, not killed");
    assert_eq!(faults(&name).await?, pairs(&[("stopped", "origin-db")]));
    act(&name, &["start", "origin-db"]).await?;
    assert_eq!(state(&d, &c("origin-db")).await?.0, ContainerState::Running);

    // restart of redis: a die and a start in the Engine's events.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        - 1;
    let (_, rows) = act(&name, &["restart", "redis", "--timeout", "5"]).await?;
    assert_eq!(rows, pairs(&[("redis", "restarted")]));
    assert_eq!(state(&d, &c("redis")).await?.0, ContainerState::Running);
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        + 1;
    let filter = Filter::deployment(&name).and("meshctl.component", "redis");
    let mut events = d.events(&filter, Some(since), Some(until));
    let mut actions = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.next()).await {
        let e = e?;
        actions.push(e.action.clone());
        if e.action == "start" {
            break;
        }
    }
    assert!(
        actions.iter().any(|a| a == "die") && actions.iter().any(|a| a == "start"),
        "{actions:?}"
    );

    // --random with a seed: the same pick twice, another with another seed.
    let (seed, first) = act(&name, &["pause", "--random", "50%", "--seed", "7"]).await?;
    assert_eq!(seed, Some(7));
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|(_, r)| r == "paused"), "{first:?}");
    let (_, again) = act(&name, &["pause", "--random", "50%", "--seed", "7"]).await?;
    let targets = |rows: &[(String, String)]| rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    assert_eq!(targets(&again), targets(&first));
    assert!(
        again.iter().all(|(_, r)| r == "already paused"),
        "{again:?}"
    );
    let mut other_pick = false;
    for seed in 8..16 {
        let out = meshctl(
            &[
                "--name",
                &name,
                "unpause",
                "--random",
                "50%",
                "--seed",
                &seed.to_string(),
                "--format",
                "json",
            ],
            T,
        )
        .await?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        let picked: Vec<String> = v["outcomes"]
            .as_array()
            .context("outcomes")?
            .iter()
            .filter_map(|o| o["target"].as_str().map(String::from))
            .collect();
        if picked != targets(&first) {
            other_pick = true;
            break;
        }
    }
    assert!(other_pick, "another seed picks other peers");

    // A kill of a random peer, then restore brings everything back.
    act(
        &name,
        &[
            "kill",
            "--random",
            "1",
            "--seed",
            "3",
            "--except",
            "edge-peers",
        ],
    )
    .await?;
    let listed = faults(&name).await?;
    assert!(!listed.is_empty(), "faults listed before restore");
    let restored = meshctl::faults::node::restore(&d, &name).await?;
    assert!(!restored.is_empty());
    assert!(faults(&name).await?.is_empty(), "restored: {restored:?}");
    for cont in meshctl::context::list_containers(&d, &name).await? {
        assert!(cont.running(), "{} is {}", cont.name, cont.state);
    }
    assert_eq!(state(&d, &other).await?.0, ContainerState::Created);

    // Churn: a peer paused each round and brought back; nothing left after.
    let out = meshctl(
        &[
            "--name",
            &name,
            "churn",
            "--rate",
            "1",
            "--interval",
            "1s",
            "--duration",
            "2500ms",
            "--seed",
            "7",
            "--restart-after",
            "500ms",
            "--mode",
            "pause",
            "--format",
            "json",
        ],
        T,
    )
    .await?;
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("churn json lines")?;
    let count = |a: &str| lines.iter().filter(|l| l["action"] == a).count();
    assert!(count("pause") >= 2, "{out}");
    assert_eq!(count("pause"), count("unpause"), "{out}");
    assert!(lines.iter().all(|l| l["ok"] == true), "{out}");
    assert!(faults(&name).await?.is_empty());
    Ok(())
}
