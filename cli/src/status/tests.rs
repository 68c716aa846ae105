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
