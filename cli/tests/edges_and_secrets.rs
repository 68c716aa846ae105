//! One small real deployment (Docker, PostgreSQL replication, agents):
//!
//! - an edge database whose container AND volume were lost is recreated by
//!   the next `up`, resubscribes, and receives a song published afterwards;
//! - `up --format json`, `status --format json` and every log line are free
//!   of the database password and the token;
//! - a peer's `docker logs` (through `meshctl logs`) has no ANSI escapes.
//!
//! A Drop guard brings the deployment down also when the test fails.

use std::time::Duration;

use meshctl::runtime::Runtime;

mod support;
use support::{meshctl, meshctl_output, run_id, tone, Guard, DOCKER_LOCK};

const PASSWORD: &str = "pwEdgeSecret4711";
const TOKEN: &str = "tokEdgeSecret0815";

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD) && !text.contains(TOKEN),
        "{what} shows a secret:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_edge_database_comes_back_and_secrets_stay_hidden() -> anyhow::Result<()> {
    let _serial = DOCKER_LOCK.lock().await;
    let name = run_id("mtedge");
    let _down = Guard { name: name.clone() };
    let test_label = format!("meshctl.test={name}");
    let up_args = [
        "up",
        "--label",
        &test_label,
        "--name",
        &name,
        "--count",
        "3",
        "--degree",
        "2",
        "--heartbeat-interval",
        "2",
        "--tracker-ttl",
        "8",
        "--postgres-password",
        PASSWORD,
        "--token",
        TOKEN,
        "--format",
        "json",
    ];
    let (ok, up, progress) = meshctl_output(&up_args, Duration::from_secs(900)).await?;
    assert!(ok, "up failed:\n{progress}");
    // stderr is a pipe here: plain progress lines, one per step.
    for done in [
        "databases 3/3 started",
        "control 4/4 started",
        "peers 3/3 started",
        "announced 3/3 all announced, graph connected",
    ] {
        assert!(
            progress.lines().any(|l| l.trim_start().starts_with(done)),
            "no line {done:?} in:\n{progress}"
        );
    }
    assert!(
        !progress.contains('\r'),
        "terminal redraws on a pipe:\n{progress}"
    );
    assert_no_secret("up's progress", &progress);
    assert_no_secret("up --format json", &up);
    let report: serde_json::Value = serde_json::from_str(&up)?;
    assert_eq!(report["deployment"], name.as_str());
    assert!(
        report["endpoints"]["origin_url"]
            .as_str()
            .is_some_and(|u| u.contains(":***@")),
        "{up}"
    );

    let status = meshctl(
        &["--name", &name, "status", "--format", "json"],
        Duration::from_secs(120),
    )
    .await?;
    assert_no_secret("status --format json", &status);

    // Plain lines in a peer's log: no colour codes, no secrets.
    let logs = meshctl(
        &["--name", &name, "logs", "peer-1"],
        Duration::from_secs(60),
    )
    .await?;
    assert!(!logs.trim().is_empty(), "peer-1 logged nothing");
    assert!(
        !logs.contains("\x1b["),
        "ANSI escapes in peer logs:\n{logs}"
    );
    assert_no_secret("logs peer-1", &logs);
    for service in ["tracker", "topology", "signalling"] {
        let logs = meshctl(&["--name", &name, "logs", service], Duration::from_secs(60)).await?;
        assert_no_secret(service, &logs);
    }

    // Lose edge-db-b entirely: its container and its data volume.
    let rt = meshctl::runtime::connect().await?;
    let edge = format!("{name}-edge-db-b");
    rt.remove_container(&edge).await?;
    rt.remove_volume(&format!("{edge}-data")).await?;
    assert!(rt.inspect_container(&edge).await?.is_none());

    // The next `up` recreates it and subscribes it again.
    let again = meshctl(&up_args, Duration::from_secs(900)).await?;
    let report: serde_json::Value = serde_json::from_str(&again)?;
    assert!(
        report["actions"]["created"].as_u64().unwrap_or(0) >= 1,
        "{again}"
    );
    assert!(rt
        .inspect_container(&edge)
        .await?
        .is_some_and(|c| c.running()));

    // A song published afterwards reaches the new edge database.
    let dir = tempfile::tempdir()?;
    let wav = tone(dir.path(), 12, 330).await?;
    let wav = wav.to_string_lossy().to_string();
    let published = meshctl(
        &["--name", &name, "publish", &wav, "--song", "after"],
        Duration::from_secs(300),
    )
    .await?;
    assert!(published.contains("edge-db-b: holds after"), "{published}");
    assert_no_secret("publish", &published);
    Ok(())
}
