//! `meshctl events` against the real Docker daemon: a small deployment, a
//! peer killed and another paused through the runtime seam, and the
//! tracker's expiry of the killed peer, each seen in `meshctl events
//! --format json` with the right target and in order, both from the past
//! (`--since`) and while following (`-f`, ended with Ctrl-C). Needs the
//! release binaries (`cargo build --release --workspace --bins`).

use std::time::Duration;

use anyhow::{bail, Context};
use meshctl::context::{self, LABEL_TEST};
use meshctl::runtime::Runtime;
use tokio::io::{AsyncBufReadExt, BufReader};

mod support;
use support::{command, meshctl, meshctl_fails, poll, run_id, Guard, DOCKER_LOCK};

type Line = serde_json::Value;

fn parse(out: &str) -> anyhow::Result<Vec<Line>> {
    out.lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

/// Index of the first line of `source`/`kind` about `target`.
fn find(lines: &[Line], source: &str, kind: &str, target: &str) -> Option<usize> {
    lines
        .iter()
        .position(|l| l["source"] == source && l["kind"] == kind && l["target"] == target)
}

fn must(lines: &[Line], source: &str, kind: &str, target: &str) -> anyhow::Result<usize> {
    match find(lines, source, kind, target) {
        Some(i) => Ok(i),
        None => bail!("no {source} {kind} of {target} in:\n{lines:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_pause_and_expiry_appear_in_order() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("ev");
    let _guard = Guard { name: name.clone() };
    let rt = meshctl::runtime::connect().await?;
    let test_label = format!("{LABEL_TEST}={name}");
    meshctl(
        &[
            "--name",
            &name,
            "up",
            "--count",
            "3",
            "--degree",
            "2",
            "--tracker-ttl",
            "4",
            "--heartbeat-interval",
            "1",
            "--label",
            &test_label,
        ],
        Duration::from_secs(900),
    )
    .await?;

    // Bad input names the flag; a deployment that does not exist is named.
    let err = meshctl_fails(
        &["--name", &name, "events", "--since", "5x"],
        Duration::from_secs(30),
    )
    .await?;
    assert!(err.contains("--since"), "{err}");
    let missing = format!("{name}-none");
    let err = meshctl_fails(&["--name", &missing, "events"], Duration::from_secs(30)).await?;
    assert!(err.contains(&missing), "{err}");

    // Follow from now on, in JSON, while the faults happen.
    let mut follower = command(&[
        "--name", &name, "events", "-f", "--since", "1s", "--format", "json",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .context("spawn meshctl events -f")?;
    let stdout = follower.stdout.take().context("follower stdout")?;
    let mut followed = BufReader::new(stdout).lines();

    // Every container of this deployment only: found by its labels.
    let peer3 = context::find_container(&rt, &name, "peer-3").await?;
    let peer2 = context::find_container(&rt, &name, "peer-2").await?;
    rt.kill_container(&peer3.id, "SIGKILL").await?;
    // peer-3 stays down (no restart policy) and misses its TTL.
    let past = [
        "--name", &name, "events", "--since", "10m", "--format", "json",
    ];
    poll(
        "the tracker expires peer-3",
        Duration::from_secs(60),
        async || {
            let lines = parse(&meshctl(&past, Duration::from_secs(60)).await?)?;
            Ok(find(&lines, "tracker", "peer_expired", "peer-3").map(|_| ()))
        },
    )
    .await?;
    rt.pause_container(&peer2.id).await?;
    rt.unpause_container(&peer2.id).await?;

    let lines = parse(&meshctl(&past, Duration::from_secs(60)).await?)?;
    for p in ["peer-1", "peer-2", "peer-3"] {
        must(&lines, "engine", "start", p)?;
        must(&lines, "tracker", "peer_announced", p)?;
    }
    let kill = must(&lines, "engine", "kill", "peer-3")?;
    let die = must(&lines, "engine", "die", "peer-3")?;
    let expired = must(&lines, "tracker", "peer_expired", "peer-3")?;
    let pause = must(&lines, "engine", "pause", "peer-2")?;
    let unpause = must(&lines, "engine", "unpause", "peer-2")?;
    assert!(
        kill < die && die < expired && expired < pause && pause < unpause,
        "order: {lines:#?}"
    );
    assert_eq!(lines[die]["exit_code"], 137, "{}", lines[die]);
    assert_eq!(lines[die]["oom"], false);
    assert_eq!(lines[kill]["signal"], "9");
    // Topology drops peer-3 (and any edge it had) after the tracker's expiry.
    let removed = must(&lines, "topology", "peer_removed", "peer-3")?;
    assert!(expired < removed, "topology before the tracker? {lines:#?}");
    // Whole lines are in time order, each with an RFC 3339 time.
    let times: Vec<i64> = lines.iter().filter_map(|l| l["at_ms"].as_i64()).collect();
    assert_eq!(times.len(), lines.len());
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    assert!(lines
        .iter()
        .all(|l| l["at"].as_str().is_some_and(|a| a.ends_with('Z'))));
    // Nothing of another deployment: every engine line is one of ours.
    let ours = context::list_containers(&rt, &name).await?;
    for l in lines.iter().filter(|l| l["source"] == "engine") {
        let c = l["container"].as_str().unwrap_or("");
        assert!(ours.iter().any(|o| o.name == c), "foreign container {c}");
    }

    // The follower saw the same, in order, then ends cleanly on Ctrl-C.
    let mut seen: Vec<Line> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while find(&seen, "engine", "unpause", "peer-2").is_none() {
        let next = tokio::time::timeout_at(deadline, followed.next_line())
            .await
            .context("follower: no unpause within 30 s")??;
        let Some(text) = next else {
            bail!("follower ended early: {seen:#?}");
        };
        seen.push(serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?);
    }
    let k = must(&seen, "engine", "kill", "peer-3")?;
    let x = must(&seen, "tracker", "peer_expired", "peer-3")?;
    let p = must(&seen, "engine", "pause", "peer-2")?;
    assert!(k < x && x < p, "follow order: {seen:#?}");
    let pid = follower.id().context("follower pid")?;
    // SAFETY: kill(2) on the child this test spawned.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = tokio::time::timeout(Duration::from_secs(10), follower.wait())
        .await
        .context("follower did not stop on Ctrl-C")??;
    assert!(status.success(), "follower: {status}");
    Ok(())
}
