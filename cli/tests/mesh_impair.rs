//! Impairments declared in the mesh file, against the real Docker daemon:
//! `up -f` applies a shaped link and a shaped peer (rate and loss, which
//! need no `sch_netem`), `netem show` reads them back on both ends of the
//! link, `status` shows each node's faults (shaped, then paused), a second
//! `up` changes nothing, and `down` leaves nothing. Needs the release
//! binaries (`cargo build --release --workspace --bins`).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use meshctl::context::{self, LABEL_TEST};
use meshctl::runtime::{Filter, Runtime};
use serde_json::Value;
use support::{meshctl, run_id, Guard, DOCKER_LOCK};

const T: Duration = Duration::from_secs(300);

/// `(peer, to, rate_bps, loss)` of every shaped direction, sorted.
fn shown(rows: &Value) -> anyhow::Result<BTreeSet<(String, String, u64, String)>> {
    rows.as_array()
        .context("netem show: not an array")?
        .iter()
        .map(|r| {
            Ok((
                r["peer"].as_str().context("peer")?.to_string(),
                r["to"].as_str().context("to")?.to_string(),
                r["rate_bps"].as_u64().context("rate_bps")?,
                r["loss"].to_string(),
            ))
        })
        .collect()
}

/// Each peer's fault kinds in `status --format json`.
fn faults(status: &Value) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    status["peers"]
        .as_array()
        .context("status: no peers")?
        .iter()
        .map(|p| {
            let kinds = p["faults"]
                .as_array()
                .context("peer without faults array")?
                .iter()
                .map(|f| f["kind"].as_str().unwrap_or("?").to_string())
                .collect();
            Ok((p["name"].as_str().unwrap_or("?").to_string(), kinds))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_file_impairments_are_applied_shown_and_removed() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("mi");
    let _guard = Guard { name: name.clone() };
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("mesh.yaml");
    // A line peer-1 - peer-2 - peer-3; the second link shaped both ways,
    // peer-1's whole egress shaped too.
    std::fs::write(
        &file,
        format!(
            "name: {name}\n\
             count: 3\n\
             degree: 0\n\
             heartbeat_interval_sec: 1\n\
             tracker_ttl: 6\n\
             links:\n  \
               - [peer-1, peer-2]\n  \
               - {{a: peer-3, b: peer-2, rate: 400kbit, loss: 5%}}\n\
             peers:\n  \
               peer-1: {{rate: 2mbit, loss: 1%}}\n\
             labels: {{{LABEL_TEST}: {name}}}\n"
        ),
    )?;
    let file = file.to_str().context("temp path")?;
    let cmd = |rest: &[&'static str]| -> Vec<&str> {
        let mut v = vec!["--name", name.as_str()];
        v.extend_from_slice(rest);
        v
    };

    let started = Instant::now();
    let up: Value = serde_json::from_str(
        &meshctl(
            &["up", "-f", file, "--format", "json"],
            Duration::from_secs(1200),
        )
        .await?,
    )?;
    eprintln!("up -f with 2 impairments: {:?}", started.elapsed());
    let applied: Vec<(&str, &str)> = up["impairments"]
        .as_array()
        .context("up reports its impairments")?
        .iter()
        .map(|i| {
            (
                i["peer"].as_str().unwrap_or("?"),
                i["to"].as_str().unwrap_or("all"),
            )
        })
        .collect();
    assert_eq!(applied, [("peer-1", "all"), ("peer-2", "peer-3")], "{up}");

    // Read back from the kernels: both ends of the link, and peer-1.
    let want: BTreeSet<(String, String, u64, String)> = [
        ("peer-1", "all", 2_000_000, "1.0"),
        ("peer-2", "peer-3", 400_000, "5.0"),
        ("peer-3", "peer-2", 400_000, "5.0"),
    ]
    .into_iter()
    .map(|(p, t, r, l)| (p.into(), t.into(), r, l.into()))
    .collect();
    let rows: Value =
        serde_json::from_str(&meshctl(&cmd(&["netem", "show", "--format", "json"]), T).await?)?;
    assert_eq!(shown(&rows)?, want, "{rows}");

    // status: each node's faults, from the kernels and the engine.
    let started = Instant::now();
    let status: Value = serde_json::from_str(
        &meshctl(&cmd(&["status", "--no-stats", "--format", "json"]), T).await?,
    )?;
    eprintln!(
        "status with network faults, 3 peers: {:?}",
        started.elapsed()
    );
    assert_eq!(status["warnings"], serde_json::json!([]), "{status}");
    let shaped = |kinds: &[String]| kinds.iter().any(|k| k == "shaped");
    let f = faults(&status)?;
    assert_eq!(f.len(), 3, "{status}");
    assert!(f.iter().all(|(_, k)| shaped(k)), "{f:?}");
    let table = meshctl(&cmd(&["status", "--no-stats"]), T).await?;
    assert!(
        table.contains("faults") && table.contains("shaped"),
        "{table}"
    );

    meshctl(&cmd(&["pause", "peer-3"]), T).await?;
    let status: Value = serde_json::from_str(
        &meshctl(&cmd(&["status", "--no-stats", "--format", "json"]), T).await?,
    )?;
    let f = faults(&status)?;
    let of = |p: &str| f.iter().find(|(n, _)| n == p).map(|(_, k)| k.clone());
    assert_eq!(of("peer-3"), Some(vec!["paused".to_string()]), "{f:?}");
    assert!(of("peer-1").is_some_and(|k| shaped(&k)), "{f:?}");
    let controls_ok = status["control"]
        .as_array()
        .context("control")?
        .iter()
        .all(|s| s["faults"] == serde_json::json!([]));
    assert!(controls_ok, "{status}");
    meshctl(&cmd(&["unpause", "peer-3"]), T).await?;

    // The same file again: nothing changes, the shaping is the same.
    let started = Instant::now();
    let again: Value = serde_json::from_str(
        &meshctl(
            &["up", "-f", file, "--format", "json"],
            Duration::from_secs(900),
        )
        .await?,
    )?;
    eprintln!("up -f again: {:?}", started.elapsed());
    assert_eq!(again["actions"], serde_json::json!({"kept": 10}), "{again}");
    let rows: Value =
        serde_json::from_str(&meshctl(&cmd(&["netem", "show", "--format", "json"]), T).await?)?;
    assert_eq!(shown(&rows)?, want, "after a second up: {rows}");

    // down: no container (helpers included), network or volume is left.
    meshctl(&cmd(&["down"]), T).await?;
    let rt = meshctl::runtime::connect().await?;
    let sel = Filter::deployment(&name);
    let containers = context::list_containers(&rt, &name).await?;
    let helpers = rt
        .list_containers(&sel.clone().and(context::LABEL_ROLE, "helper"))
        .await?;
    assert!(
        containers.is_empty() && helpers.is_empty(),
        "{containers:?}"
    );
    assert!(rt.list_networks(&sel).await?.is_empty());
    assert!(rt.list_volumes(&sel).await?.is_empty());
    Ok(())
}
