//! Status assembly from the in-memory runtime: a dead peer, a peer without
//! stats, a missing control service, and what the services said.

use std::collections::HashMap;

use super::*;
use crate::deploy::testing::{config, engine, up};
use crate::runtime::fake::FakeRuntime;
use crate::runtime::ContainerState;

async fn deployment(name: &str, count: usize) -> FakeRuntime {
    let (rt, ids) = engine();
    up(&rt, &ids, &config(name, count)).await;
    rt
}

fn options(name: &str) -> StatusOptions {
    StatusOptions {
        name: name.into(),
        stats: true,
        networks: true,
        max_workers: 4,
    }
}

#[tokio::test]
async fn dead_peers_peers_without_stats_and_missing_services_are_shown() {
    let rt = deployment("t1", 4).await;
    rt.set_usage(
        "t1-peer-1",
        Usage {
            memory: 4 << 20,
            memory_limit: 15 << 20,
            cpu_percent: 1.5,
            ..Default::default()
        },
    );
    rt.set_state("t1-peer-2", ContainerState::Exited, true);
    rt.remove_container("t1-tracker").await.unwrap();
    let engine = EngineView::gather(&rt, &options("t1")).await.unwrap();
    let mut services = ServiceView {
        healthy: vec!["redis".into(), "topology".into()],
        ..Default::default()
    };
    services.degrees.insert("peer-1".into(), 3);
    services.tracker_peers = Some(HashMap::from([(
        "peer-1".to_string(),
        wire::tracker::PeerStatus {
            peer_id: "peer-1".into(),
            region: "default".into(),
            rtt_ms: 50,
            addr: "peer-1:8080".into(),
            edge: None,
            neighbors: vec![],
            segments: 12,
            last_seen_secs: 2.5,
        },
    )]));
    let r = assemble("t1", &engine, &services);

    let control: Vec<(&str, &str, bool)> = r
        .control
        .iter()
        .map(|s| (s.name.as_str(), s.state.as_str(), s.healthy))
        .collect();
    assert_eq!(
        control,
        [
            ("redis", "running", true),
            ("signalling", "running", false),
            ("topology", "running", true),
            ("tracker", "missing", false),
        ]
    );
    assert_eq!(r.live_peers, Some(1));
    let names: Vec<&str> = r.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["peer-1", "peer-2", "peer-3", "peer-4"]);

    let p1 = &r.peers[0];
    assert_eq!(p1.state, "running");
    assert_eq!(p1.memory, Some(4 << 20));
    assert_eq!(p1.memory_limit, Some(15 << 20));
    assert_eq!((p1.segments, p1.degree), (Some(12), Some(3)));
    assert_eq!(p1.heartbeat_age_secs, Some(2.5));
    assert!(p1
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("http://127.0.0.1:")));

    let p2 = &r.peers[1];
    assert_eq!((p2.state.as_str(), p2.oom_killed), ("exited", true));
    assert_eq!((p2.memory, p2.url.as_deref()), (None, None));

    // Running, but the engine had no sample for it: shown without numbers.
    let p3 = &r.peers[2];
    assert_eq!(p3.state, "running");
    assert_eq!((p3.memory, p3.cpu_percent, p3.segments), (None, None, None));

    let dbs: Vec<&str> = r.databases.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(dbs, ["edge-db-a", "edge-db-b", "origin-db"]);
    let nets = r.networks.as_ref().unwrap();
    let mesh = nets.iter().find(|n| n.name == "t1-micro-net").unwrap();
    assert!(mesh.members.contains(&"t1-peer-4".to_string()));
    assert!(!mesh.members.contains(&"t1-tracker".to_string()));
}

#[tokio::test]
async fn an_unknown_deployment_is_empty_not_an_error() {
    let rt = deployment("t1", 2).await;
    let r = status(&rt, &options("nope")).await.unwrap();
    assert!(r.control.is_empty() && r.peers.is_empty() && r.databases.is_empty());
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"deployment\":\"nope\""), "{json}");
}

fn kinds(f: &[NodeFault]) -> Vec<&str> {
    f.iter().map(|f| f.kind.as_str()).collect()
}

/// Node faults from the engine and network faults from the kernels land on
/// their node; a node without any has none.
#[tokio::test]
async fn faults_from_the_engine_and_the_kernels_are_merged_per_node() {
    let rt = deployment("t1", 4).await;
    rt.set_state("t1-peer-2", ContainerState::Paused, false);
    rt.kill_container("t1-tracker", "SIGKILL").await.unwrap();
    rt.stop_container("t1-edge-db-b", std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let mut engine = EngineView::gather(&rt, &options("t1")).await.unwrap();
    let net = |kind: &str, target: &str, detail: &str| ActiveFault {
        kind: kind.into(),
        target: target.into(),
        detail: detail.into(),
    };
    engine.network_faults = vec![
        net("netem", "peer-1", "to=peer-3 rate=1mbit"),
        net("netem", "peer-1", "to=all loss=5%"),
        net("partition", "peer-2", "cut from peer-4"),
        net("netem", "peer-3", "to=peer-1 rate=1mbit"),
    ];
    let r = assemble("t1", &engine, &ServiceView::default());
    assert!(r.warnings.is_empty());
    let peers: Vec<(&str, Vec<&str>)> = r
        .peers
        .iter()
        .map(|p| (p.name.as_str(), kinds(&p.faults)))
        .collect();
    assert_eq!(
        peers,
        [
            ("peer-1", vec!["shaped", "shaped"]),
            ("peer-2", vec!["paused", "partitioned"]),
            ("peer-3", vec!["shaped"]),
            ("peer-4", vec![]),
        ]
    );
    assert_eq!(r.peers[0].faults[0].detail, "to=all loss=5%");
    let tracker = r.control.iter().find(|s| s.name == "tracker").unwrap();
    assert_eq!(kinds(&tracker.faults), ["killed"]);
    assert!(tracker.faults[0].detail.contains("137"), "{tracker:?}");
    let redis = r.control.iter().find(|s| s.name == "redis").unwrap();
    assert!(redis.faults.is_empty());
    let edge_b = r.databases.iter().find(|d| d.name == "edge-db-b").unwrap();
    assert_eq!(kinds(&edge_b.faults), ["stopped"]);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["peers"][1]["faults"][0]["kind"], "paused");
    assert_eq!(json["peers"][3]["faults"], serde_json::json!([]));
}

/// Kernels that cannot be read leave a warning and the node faults.
#[tokio::test]
async fn unreadable_network_faults_are_a_warning() {
    let rt = deployment("t1", 2).await;
    rt.set_state("t1-peer-1", ContainerState::Paused, false);
    let mut engine = EngineView::gather(&rt, &options("t1")).await.unwrap();
    engine.network_error = Some("helper failed".into());
    let r = assemble("t1", &engine, &ServiceView::default());
    assert_eq!(r.warnings, ["network faults unknown: helper failed"]);
    assert_eq!(kinds(&r.peers[0].faults), ["paused"]);
}

/// `status` reads the kernels through helpers only when the tools image is
/// on the daemon (nothing else makes network faults), and never builds it.
#[tokio::test]
async fn status_reads_the_kernels_only_where_faults_can_be() {
    let rt = deployment("t1", 3).await;
    // Nothing answers on the fake's ports: spare the databases' retries.
    for db in ["t1-edge-db-a", "t1-edge-db-b"] {
        rt.set_state(db, ContainerState::Exited, false);
    }
    rt.clear_calls();
    let r = status(&rt, &options("t1")).await.unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let helpers = |rt: &FakeRuntime| {
        rt.calls()
            .iter()
            .filter(|c| c.starts_with("helper "))
            .count()
    };
    assert_eq!(helpers(&rt), 0, "{:?}", rt.calls());
    assert!(
        !rt.calls().iter().any(|c| c.contains("build")),
        "{:?}",
        rt.calls()
    );
    let tools = crate::offline::BaseImage::Tools;
    // An older build is not rebuilt by `status`: a warning says so.
    rt.add_image(tools.offline(), "sha256:old-tools", Default::default());
    let r = status(&rt, &options("t1")).await.unwrap();
    assert!(r.warnings[0].contains("older meshctl"), "{:?}", r.warnings);
    assert_eq!(helpers(&rt), 0, "{:?}", rt.calls());
    rt.add_image(
        tools.offline(),
        "sha256:tools",
        crate::offline::current_labels(tools).await,
    );
    let r = status(&rt, &options("t1")).await.unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        helpers(&rt),
        3,
        "one read per running peer: {:?}",
        rt.calls()
    );
    assert!(r.peers.iter().all(|p| p.faults.is_empty()));
}

#[test]
fn cpu_use_comes_from_two_samples() {
    let at = |cpu: u64, system: u64| Usage {
        cpu_total_ns: cpu,
        system_ns: system,
        cpus: 2,
        ..Default::default()
    };
    // 50 ms of CPU while the host's two CPUs counted 1 s in all: 10 % of one.
    let cpu = at(1_050_000_000, 11_000_000_000).cpu_since(&at(1_000_000_000, 10_000_000_000));
    assert!((cpu.unwrap() - 10.0).abs() < 1e-9, "{cpu:?}");
    assert_eq!(at(5, 10).cpu_since(&at(1, 10)), None, "no time passed");
    assert_eq!(at(5, 9).cpu_since(&at(1, 10)), None, "clock went back");
}
