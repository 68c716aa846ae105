//! `meshctl bench churn` against the real Docker daemon: a paced swarm
//! while peers are killed and the tracker restarts; the report names every
//! fault, splits listeners by whether their peer stayed up, and the same
//! seed does the same things twice. Needs the release binaries.

mod support;

use std::time::Duration;

use meshctl::context::LABEL_TEST;
use support::{meshctl, meshctl_fails, run_id, tone, Guard, DOCKER_LOCK};

const PEERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_bench_reports_faults_phases_and_the_split() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("bc");
    let _guard = Guard { name: name.clone() };
    let label = format!("{LABEL_TEST}={name}");
    let t = Duration::from_secs(300);
    let n = PEERS.to_string();
    meshctl(
        &[
            "--name",
            &name,
            "up",
            "--count",
            &n,
            "--degree",
            "3",
            "--edge1-peers",
            "peer-1",
            "--edge2-peers",
            "peer-5",
            "--heartbeat-interval",
            "2",
            "--tracker-ttl",
            "6",
            "--label",
            &label,
        ],
        Duration::from_secs(900),
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let wav = tone(dir.path(), 60, 330).await?;
    let wav = wav.to_string_lossy().to_string();
    meshctl(&["--name", &name, "publish", &wav, "--song", "churny"], t).await?;

    // Bad input names the flag; nothing runs.
    let err = meshctl_fails(
        &[
            "--name",
            &name,
            "bench",
            "churn",
            "--song",
            "churny",
            "--restart",
            "trackr",
        ],
        t,
    )
    .await?;
    assert!(err.contains("--restart trackr"), "{err}");
    let err = meshctl_fails(
        &[
            "--name", &name, "bench", "churn", "--song", "churny", "--speed", "0",
        ],
        t,
    )
    .await?;
    assert!(err.contains("--speed"), "{err}");

    let args = [
        "--name",
        &name,
        "bench",
        "churn",
        "--song",
        "churny",
        "--listeners",
        &n,
        "--spread",
        "1",
        "--speed",
        "4",
        "--kill",
        "1",
        "--every",
        "6s",
        "--kill-from",
        "2s",
        "--except",
        "edge-peers",
        "--restart",
        "tracker",
        "--restart-at",
        "4s",
        "--seed",
        "7",
        "--format",
        "json",
    ];
    let bench = || meshctl(&args, t);
    let first: serde_json::Value = serde_json::from_str(&bench().await?)?;
    let second: serde_json::Value = serde_json::from_str(&bench().await?)?;
    let kills = |r: &serde_json::Value| -> Vec<String> {
        r["faults"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["action"] == "kill")
            .filter_map(|f| f["target"].as_str().map(String::from))
            .collect()
    };
    let k1 = kills(&first);
    eprintln!("kills: {k1:?}; second run: {:?}", kills(&second));
    assert!(!k1.is_empty(), "no peer was killed: {first}");
    assert!(
        k1.iter().all(|p| p != "peer-1" && p != "peer-5"),
        "--except edge-peers: {k1:?}"
    );
    // The same seed picks the same first victims (later rounds depend on
    // how long the run lasts).
    assert_eq!(k1.first(), kills(&second).first());
    let faults = first["faults"].as_array().cloned().unwrap_or_default();
    assert!(
        faults
            .iter()
            .any(|f| f["action"] == "restart" && f["target"] == "tracker" && f["ok"] == true),
        "{faults:?}"
    );
    // Killed peers came back when the swarm ended.
    assert!(faults.iter().any(|f| f["action"] == "start"), "{faults:?}");
    let phases: Vec<&str> = first["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert_eq!(phases, ["before", "during", "after"]);
    let live = first["listeners_live"].as_u64().unwrap_or(0);
    let dead = first["listeners_dead"].as_u64().unwrap_or(0);
    assert_eq!(live + dead, PEERS as u64);
    assert!(dead >= 1, "a killed peer had a listener: {first}");
    let segs = first["swarm"]["segments_per_listener"]
        .as_u64()
        .unwrap_or(0);
    assert!(segs >= 5, "{segs}");
    eprintln!(
        "failed: live {} / dead {}, failovers {}",
        first["failed_segments_live"], first["failed_segments_dead"], first["failovers"]
    );
    // Each kill's tracker expiry was read from the tracker's feed (TTL 6 s).
    assert!(
        faults
            .iter()
            .filter(|f| f["action"] == "kill")
            .any(|f| f["tracker_dropped_ms"].as_f64().is_some()),
        "{faults:?}"
    );
    Ok(())
}
