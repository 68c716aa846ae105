//! Converge, rollback, down and secrets against the in-memory runtime: no
//! daemon, each test well under a second.

use std::collections::BTreeMap;
use std::time::Instant;

use super::converge::{self, Action};
use super::testing::{config, engine, opts, up, AtOnce};
use super::{apply, discover, resolve_secrets};
use crate::down::{down, DownOptions};
use crate::labels::Role;
use crate::plan::{self, PeerOverride};
use crate::progress::Progress;
use crate::runtime::{ContainerState, Labels, Runtime};

fn count(r: &super::UpReport, a: Action) -> usize {
    r.actions.get(&a).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_second_up_changes_nothing() {
    let (rt, ids) = engine();
    let c = config("t1", 6);
    let first = up(&rt, &ids, &c).await;
    // 3 databases, 4 control services, 6 peers.
    assert_eq!(count(&first, Action::Created), 13);
    assert_eq!(rt.container_names().len(), 13);
    assert_eq!(rt.network_names().len(), 4);
    assert_eq!(rt.volume_names().len(), 3);
    rt.clear_calls();
    let second = up(&rt, &ids, &c).await;
    assert_eq!(count(&second, Action::Kept), 13);
    assert_eq!(rt.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_changed_spec_recreates_only_what_changed() {
    let (rt, ids) = engine();
    let mut c = config("t1", 6);
    up(&rt, &ids, &c).await;
    rt.clear_calls();
    c.peers.insert(
        "peer-3".into(),
        PeerOverride {
            rtt_ms: Some(7),
            ..Default::default()
        },
    );
    let r = up(&rt, &ids, &c).await;
    assert_eq!(count(&r, Action::Recreated), 1);
    assert_eq!(count(&r, Action::Kept), 12);
    assert_eq!(
        rt.calls(),
        ["remove t1-peer-3", "create t1-peer-3", "start t1-peer-3"]
    );
    assert_eq!(rt.env_of("t1-peer-3").unwrap()["PEER_RTT_MS"], "7");

    // A stopped container with an unchanged spec is started, not recreated.
    rt.clear_calls();
    rt.set_state("t1-peer-5", ContainerState::Exited, false);
    let r = up(&rt, &ids, &c).await;
    assert_eq!(count(&r, Action::Started), 1);
    assert_eq!(rt.calls(), ["start t1-peer-5"]);

    // A new image recreates every container that runs it, and only those.
    rt.clear_calls();
    let mut ids2 = ids.clone();
    ids2.peer.1 = "sha256:peer-v2".into();
    let r = up(&rt, &ids2, &c).await;
    assert_eq!(count(&r, Action::Recreated), 6);
    assert_eq!(count(&r, Action::Kept), 7);
}

#[tokio::test]
async fn surplus_peers_of_a_larger_up_are_removed() {
    let (rt, ids) = engine();
    up(&rt, &ids, &config("t1", 6)).await;
    let r = up(&rt, &ids, &config("t1", 4)).await;
    assert_eq!(r.removed, 2);
    let names = rt.container_names();
    assert!(names.contains(&"t1-peer-4".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n == "t1-peer-5" || n == "t1-peer-6"));
    assert_eq!(names.len(), 11);
}

#[tokio::test]
async fn an_interrupted_fresh_up_removes_everything_it_created() {
    let (rt, ids) = engine();
    let c = config("t1", 6);
    let p = plan::plan(&c).unwrap();
    let held = rt.hold_start("t1-peer-4");
    let o = opts(c.clone());
    let progress = Progress::hidden();
    let work = apply(&rt, &o, &p, &ids, &AtOnce, &progress, Instant::now());
    let err = converge::undo_on_interrupt(&rt, "t1", held.notified(), || {}, work)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert_eq!(rt.container_names(), Vec::<String>::new());
    assert_eq!(rt.network_names(), Vec::<String>::new());
    assert_eq!(rt.volume_names(), Vec::<String>::new());
}

#[tokio::test]
async fn an_interrupted_up_of_a_running_deployment_keeps_what_was_there() {
    let (rt, ids) = engine();
    up(&rt, &ids, &config("other", 2)).await;
    let c = config("t1", 4);
    up(&rt, &ids, &c).await;
    // A peer lost by hand; the next `up` recreates it and is interrupted.
    rt.remove_container("t1-peer-4").await.unwrap();
    let before = rt.container_names();
    let (nets, vols) = (rt.network_names(), rt.volume_names());
    let p = plan::plan(&c).unwrap();
    let held = rt.hold_start("t1-peer-4");
    let o = opts(c.clone());
    let progress = Progress::hidden();
    let work = apply(&rt, &o, &p, &ids, &AtOnce, &progress, Instant::now());
    converge::undo_on_interrupt(&rt, "t1", held.notified(), || {}, work)
        .await
        .unwrap_err();
    // Only what this run created is gone; the deployment's other objects
    // and the other deployment are untouched.
    assert_eq!(rt.container_names(), before);
    assert_eq!((rt.network_names(), rt.volume_names()), (nets, vols));
}

#[tokio::test]
async fn down_touches_only_its_own_deployment() {
    let (rt, ids) = engine();
    up(&rt, &ids, &config("t1", 3)).await;
    up(&rt, &ids, &config("t2", 3)).await;
    let theirs: Vec<String> = rt
        .container_names()
        .into_iter()
        .filter(|n| n.starts_with("t2-"))
        .collect();
    let o = |keep_control| DownOptions {
        name: "t1".into(),
        keep_control,
        only_role: None,
        max_workers: 4,
        network_retry: std::time::Duration::from_millis(1),
    };
    let r = down(&rt, &o(true)).await.unwrap();
    assert_eq!((r.containers, r.networks, r.volumes), (3 + 3, 3, 3));
    // The kept control plane still sits on its network.
    let left: Vec<String> = rt
        .container_names()
        .into_iter()
        .filter(|n| n.starts_with("t1-"))
        .collect();
    assert_eq!(
        left,
        ["t1-redis", "t1-signalling", "t1-topology", "t1-tracker"]
    );
    assert!(rt.network_names().contains(&"t1-micro-net".to_string()));
    let r = down(&rt, &o(false)).await.unwrap();
    assert_eq!((r.containers, r.networks, r.volumes), (4, 1, 0));
    assert_eq!(rt.container_names(), theirs);
    assert_eq!(rt.network_names().len(), 4);
    assert_eq!(rt.volume_names().len(), 3);
    // Idempotent.
    assert_eq!(down(&rt, &o(false)).await.unwrap(), Default::default());
    let legacy_only = DownOptions {
        only_role: Some(Role::Legacy),
        ..o(false)
    };
    assert_eq!(down(&rt, &legacy_only).await.unwrap(), Default::default());
}

#[tokio::test]
async fn down_goes_on_past_a_network_the_engine_keeps_and_says_so() {
    let (rt, ids) = engine();
    up(&rt, &ids, &config("t1", 2)).await;
    rt.leak_endpoint("t1-micro-net");
    let o = DownOptions {
        name: "t1".into(),
        keep_control: false,
        only_role: None,
        max_workers: 4,
        network_retry: std::time::Duration::from_millis(1),
    };
    let err = format!("{:#}", down(&rt, &o).await.unwrap_err());
    assert!(err.contains("t1-micro-net"), "{err}");
    assert!(err.contains("no container is attached"), "{err}");
    assert!(err.contains("3 networks and 3 volumes"), "{err}");
    // Everything else is gone, the volumes (and their password) included.
    assert!(rt.container_names().is_empty());
    assert_eq!(rt.network_names(), ["t1-micro-net"]);
    assert!(rt.volume_names().is_empty());
}

#[tokio::test]
async fn another_deployments_network_or_volume_is_refused() {
    let (rt, ids) = engine();
    up(&rt, &ids, &config("t1", 2)).await;
    let mut labels = Labels::new();
    labels.insert(crate::labels::LABEL_DEPLOYMENT.into(), "t2".into());
    let err = converge::ensure_volume(&rt, "t1-origin-db-data", &labels)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"t1\""), "{err}");
    let err = converge::ensure_network(&rt, "t1-micro-net", &labels)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"t1\""), "{err}");
    // Unlabelled objects belong to no deployment: refused too.
    rt.create_volume("stray", &Labels::new()).await.unwrap();
    let err = converge::ensure_volume(&rt, "stray", &labels)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no meshctl deployment"), "{err}");
}

#[tokio::test]
async fn secrets_are_kept_across_runs_and_never_serialized() {
    let (rt, ids) = engine();
    let mut fresh = config("t1", 3);
    fresh.postgres_password.clear();
    fresh.token.clear();
    resolve_secrets(&rt, &mut fresh).await.unwrap();
    assert_eq!((fresh.postgres_password.len(), fresh.token.len()), (32, 32));
    let report = up(&rt, &ids, &fresh).await;
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&fresh.postgres_password), "{json}");
    assert!(!json.contains(&fresh.token), "{json}");
    // The running deployment's secrets are reused by the next `up`.
    let mut again = config("t1", 3);
    again.postgres_password.clear();
    again.token.clear();
    resolve_secrets(&rt, &mut again).await.unwrap();
    assert_eq!(again.postgres_password, fresh.postgres_password);
    assert_eq!(again.token, fresh.token);
    // A different password for existing databases is refused.
    let mut other = config("t1", 3);
    other.postgres_password = "another".into();
    assert!(resolve_secrets(&rt, &mut other).await.is_err());
    // discover reads them back for the song commands.
    let d = discover(&rt, "t1").await.unwrap();
    assert_eq!(d.token.as_deref(), Some(fresh.token.as_str()));
    assert_eq!(d.postgres_password, fresh.postgres_password);
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &d.peers {
        if let Some(e) = &p.edge {
            edges.entry(e.clone()).or_default().push(p.name.clone());
        }
    }
    assert_eq!(edges, report.edges);
}
