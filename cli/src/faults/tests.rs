//! Targets, selectors, node actions, the fault list and restore on the
//! in-memory engine.

use std::time::Duration;

use super::node::{self, Action};
use super::select::{self, Amount, Elsewhere, Except, Selection, Target};
use super::*;
use crate::deploy::testing::{config, engine, up};
use crate::runtime::fake::FakeRuntime;
use crate::runtime::{Container, ContainerState};

async fn deployment(name: &str, count: usize) -> FakeRuntime {
    let (rt, ids) = engine();
    let mut c = config(name, count);
    c.edge1_peers = Some(vec!["peer-1".into()]);
    c.edge2_peers = Some(vec!["peer-2".into()]);
    up(&rt, &ids, &c).await;
    rt
}

async fn containers(rt: &FakeRuntime, name: &str) -> Vec<Container> {
    context::list_containers(rt, name).await.unwrap()
}

fn nowhere(_: &str) -> Elsewhere {
    Elsewhere::Nowhere
}

fn random(amount: &str, seed: u64) -> Selection {
    Selection {
        random: Some(Amount::parse("--random", amount).unwrap()),
        seed,
        ..Default::default()
    }
}

fn names(t: &[Target]) -> Vec<String> {
    t.iter().map(|t| t.component.clone()).collect()
}

#[test]
fn amounts_parse_and_bad_ones_name_the_flag() {
    assert_eq!(Amount::parse("--random", "3").unwrap(), Amount::Count(3));
    assert_eq!(
        Amount::parse("--random", "12.5%").unwrap(),
        Amount::Percent(12.5)
    );
    for bad in ["0", "0%", "101%", "-3", "x", "%", "ten%", "-5%", "NaN%", ""] {
        let e = format!("{:#}", Amount::parse("--random", bad).unwrap_err());
        assert!(e.contains("--random"), "{bad}: {e}");
    }
    assert!(format!("{:#}", Amount::parse("--random", "150%").unwrap_err()).contains("100"));
    assert_eq!(Amount::Percent(10.0).of(160), 16);
    assert_eq!(Amount::Percent(25.0).of(6), 2);
    assert_eq!(Amount::Percent(1.0).of(6), 1, "at least one");
    assert_eq!(Amount::Percent(100.0).of(6), 6);
    assert_eq!(Except::parse("edge-peers"), Except::EdgePeers);
    assert_eq!(Except::parse("peer-3"), Except::Target("peer-3".into()));
}

#[tokio::test]
async fn targets_are_peers_services_and_databases_of_the_deployment() {
    let rt = deployment("f1", 4).await;
    let cs = containers(&rt, "f1").await;
    let sel = Selection {
        targets: [
            "peer-3",
            "redis",
            "tracker",
            "topology",
            "signalling",
            "origin-db",
            "edge-db-a",
            "edge-db-b",
            "f1-peer-4",
            "peer-3",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    let t = select::resolve("f1", &cs, &sel, &nowhere).unwrap();
    assert_eq!(
        names(&t),
        [
            "edge-db-a",
            "edge-db-b",
            "origin-db",
            "peer-3",
            "peer-4",
            "redis",
            "signalling",
            "topology",
            "tracker"
        ]
    );
    assert_eq!(t[3].container, "f1-peer-3");
}

#[tokio::test]
async fn unknown_foreign_and_other_deployments_targets_are_named_and_nothing_changes() {
    let rt = deployment("f2", 3).await;
    let cs = containers(&rt, "f2").await;
    rt.clear_calls();
    let sel = Selection {
        targets: ["peer-1", "peer-9", "o-peer-1", "postgres-by-hand"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    let elsewhere = |n: &str| match n {
        "o-peer-1" => Elsewhere::Deployment("o".into()),
        "postgres-by-hand" => Elsewhere::Foreign,
        _ => Elsewhere::Nowhere,
    };
    let e = format!(
        "{:#}",
        select::resolve("f2", &cs, &sel, &elsewhere).unwrap_err()
    );
    assert!(e.contains("\"peer-9\""), "{e}");
    assert!(e.contains("peer-1..peer-3"), "lists what exists: {e}");
    assert!(
        e.contains("\"o-peer-1\" belongs to deployment \"o\""),
        "{e}"
    );
    assert!(
        e.contains("\"postgres-by-hand\" is a container meshctl did not make"),
        "{e}"
    );
    assert!(e.contains("nothing was changed"), "{e}");
    assert!(!e.contains("\"peer-1\""), "peer-1 exists: {e}");
    assert!(rt.calls().is_empty());
    // No target at all, and --except without --random.
    assert!(select::resolve("f2", &cs, &Selection::default(), &nowhere).is_err());
    let e = select::resolve(
        "f2",
        &cs,
        &Selection {
            targets: vec!["peer-1".into()],
            except: vec![Except::EdgePeers],
            ..Default::default()
        },
        &nowhere,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("--random"));
}

#[tokio::test]
async fn a_seed_picks_the_same_peers_again_and_another_seed_others() {
    let rt = deployment("f3", 12).await;
    let cs = containers(&rt, "f3").await;
    let a = select::resolve("f3", &cs, &random("25%", 7), &nowhere).unwrap();
    let b = select::resolve("f3", &cs, &random("25%", 7), &nowhere).unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "same seed, same pick");
    assert!(a.iter().all(|t| t.role == Role::Peer));
    // The order the engine lists containers in does not matter.
    let mut reversed = cs.clone();
    reversed.reverse();
    assert_eq!(
        select::resolve("f3", &reversed, &random("25%", 7), &nowhere).unwrap(),
        a
    );
    let others: Vec<Vec<String>> = (8..12)
        .map(|seed| names(&select::resolve("f3", &cs, &random("25%", seed), &nowhere).unwrap()))
        .collect();
    assert!(
        others.iter().any(|o| *o != names(&a)),
        "other seeds pick others: {:?} vs {others:?}",
        names(&a)
    );
    // A count, over databases, and --except.
    let mut sel = random("2", 1);
    sel.role = Some(Role::Db);
    let dbs = select::resolve("f3", &cs, &sel, &nowhere).unwrap();
    assert_eq!(dbs.len(), 2);
    assert!(dbs.iter().all(|t| t.role == Role::Db));
    let mut sel = random("100%", 3);
    sel.except = vec![Except::EdgePeers, Except::Target("peer-12".into())];
    let picked = names(&select::resolve("f3", &cs, &sel, &nowhere).unwrap());
    assert_eq!(picked.len(), 9);
    for gone in ["peer-1", "peer-2", "peer-12"] {
        assert!(!picked.contains(&gone.to_string()), "{picked:?}");
    }
}

#[tokio::test]
async fn random_over_an_empty_set_or_too_many_names_the_flag() {
    let rt = deployment("f4", 2).await;
    let cs = containers(&rt, "f4").await;
    let mut sel = random("50%", 1);
    sel.except = vec![Except::EdgePeers];
    let e = format!(
        "{:#}",
        select::resolve("f4", &cs, &sel, &nowhere).unwrap_err()
    );
    assert!(e.contains("--random") && e.contains("no peers"), "{e}");
    let e = format!(
        "{:#}",
        select::resolve("f4", &cs, &random("3", 1), &nowhere).unwrap_err()
    );
    assert!(e.contains("--random") && e.contains("only 2 peers"), "{e}");
}

fn target(rt_cs: &[Container], component: &str) -> Target {
    rt_cs
        .iter()
        .filter_map(Target::of)
        .find(|t| t.component == component)
        .unwrap()
}

#[tokio::test]
async fn actions_change_state_report_already_and_refuse_what_cannot_be() {
    let rt = deployment("f5", 3).await;
    let cs = containers(&rt, "f5").await;
    let (p1, p2, redis) = (
        target(&cs, "peer-1"),
        target(&cs, "peer-2"),
        target(&cs, "redis"),
    );
    let g = Duration::from_secs(1);
    let res = |o: node::Outcome| (o.result, o.changed, o.ok);
    assert_eq!(
        res(node::act(&rt, &p1, Action::Pause, g).await),
        ("paused".into(), true, true)
    );
    assert_eq!(
        res(node::act(&rt, &p1, Action::Pause, g).await),
        ("already paused".into(), false, true)
    );
    let start = node::act(&rt, &p1, Action::Start, g).await;
    assert!(!start.ok && start.result.contains("unpause"), "{start:?}");
    assert_eq!(
        res(node::act(&rt, &p2, Action::Kill, g).await),
        ("killed".into(), true, true)
    );
    assert_eq!(
        res(node::act(&rt, &p2, Action::Stop, g).await),
        ("already stopped".into(), false, true)
    );
    let pause = node::act(&rt, &p2, Action::Pause, g).await;
    assert!(!pause.ok && pause.result.contains("exited"), "{pause:?}");
    let unpause = node::act(&rt, &p2, Action::Unpause, g).await;
    assert!(!unpause.ok, "{unpause:?}");
    assert_eq!(
        res(node::act(&rt, &redis, Action::Stop, g).await),
        ("stopped".into(), true, true)
    );

    let list = list(&rt, "f5").await.unwrap();
    let rows: Vec<(FaultKind, &str)> = list.iter().map(|f| (f.kind, f.target.as_str())).collect();
    assert_eq!(
        rows,
        [
            (FaultKind::Paused, "peer-1"),
            (FaultKind::Killed, "peer-2"),
            (FaultKind::Stopped, "redis"),
        ]
    );
    assert_eq!(list[1].exit_code, Some(137));
    assert!(list[1].since.is_some() && list[0].since.is_none());
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(json[1]["kind"], "killed");

    rt.clear_calls();
    let restored = node::restore(&rt, "f5").await.unwrap();
    assert_eq!(
        restored,
        [
            ("peer-1".to_string(), "unpaused"),
            ("peer-2".to_string(), "started"),
            ("redis".to_string(), "started"),
        ]
    );
    assert_eq!(
        rt.calls().first().map(String::as_str),
        Some("start f5-redis"),
        "redis before the peers: {:?}",
        rt.calls()
    );
    assert!(super::list(&rt, "f5").await.unwrap().is_empty());
    assert!(node::restore(&rt, "f5").await.unwrap().is_empty());
    // Restart of a running and of a stopped container.
    assert_eq!(
        res(node::act(&rt, &p1, Action::Restart, g).await),
        ("restarted".into(), true, true)
    );
    node::act(&rt, &p1, Action::Kill, g).await;
    assert_eq!(
        res(node::act(&rt, &p1, Action::Restart, g).await),
        ("restarted".into(), true, true)
    );
    let d = rt.inspect_container(&p1.id).await.unwrap().unwrap();
    assert_eq!(d.state, ContainerState::Running);
}

#[tokio::test]
async fn apply_sorts_outcomes_and_the_list_needs_a_deployment() {
    let rt = deployment("f6", 4).await;
    let cs = containers(&rt, "f6").await;
    let t = select::resolve("f6", &cs, &random("100%", 1), &nowhere).unwrap();
    let out = node::apply(&rt, &t, Action::Kill, Duration::from_secs(1), &|_| {}).await;
    assert_eq!(
        out.iter().map(|o| o.target.as_str()).collect::<Vec<_>>(),
        ["peer-1", "peer-2", "peer-3", "peer-4"]
    );
    assert!(out.iter().all(|o| o.ok && o.changed));
    assert_eq!(list(&rt, "f6").await.unwrap().len(), 4);
    assert!(list(&rt, "nope").await.is_err());
}

#[test]
fn durations_parse_and_bad_ones_name_the_flag() {
    let d = |s| select::parse_duration("--interval", s).unwrap();
    assert_eq!(d("5s"), Duration::from_secs(5));
    assert_eq!(d("500ms"), Duration::from_millis(500));
    assert_eq!(d("2m"), Duration::from_secs(120));
    assert_eq!(d("3"), Duration::from_secs(3));
    for bad in ["", "-1s", "5x", "s", "1e400s"] {
        let e = format!(
            "{:#}",
            select::parse_duration("--interval", bad).unwrap_err()
        );
        assert!(e.contains("--interval"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn churn_takes_peers_down_each_round_and_brings_them_back() {
    use super::churn::{churn, ChurnOptions};
    let rt = deployment("f7", 6).await;
    let opts = ChurnOptions {
        rate: Amount::Count(2),
        interval: Duration::from_millis(100),
        duration: Duration::from_millis(250),
        seed: 7,
        restart_after: Some(Duration::from_millis(50)),
        mode: Action::Kill,
        grace: Duration::from_secs(1),
        except: vec![Except::EdgePeers],
    };
    let seen = std::sync::Mutex::new(0);
    let events = churn(
        &rt,
        "f7",
        &opts,
        &|_| *seen.lock().unwrap() += 1,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), events.len());
    let kills: Vec<&str> = events
        .iter()
        .filter(|e| e.action == Action::Kill)
        .map(|e| e.target.as_str())
        .collect();
    let starts = events.iter().filter(|e| e.action == Action::Start).count();
    // Rounds at 0, 100 and 200 ms; a loaded machine may miss the last.
    assert!(
        kills.len() >= 4 && kills.len().is_multiple_of(2),
        "rounds of 2: {events:?}"
    );
    assert_eq!(starts, kills.len(), "each brought back: {events:?}");
    assert!(!kills.contains(&"peer-1") && !kills.contains(&"peer-2"));
    assert!(events.iter().all(|e| e.ok), "{events:?}");
    assert!(list(&rt, "f7").await.unwrap().is_empty());

    // Without --restart-after the victims stay down, unless stopped early.
    let opts = ChurnOptions {
        restart_after: None,
        duration: Duration::from_secs(30),
        ..opts
    };
    let stop = tokio::time::sleep(Duration::from_millis(150));
    let events = churn(&rt, "f7", &opts, &|_| {}, stop).await.unwrap();
    assert!(events.iter().any(|e| e.action == Action::Kill));
    assert!(list(&rt, "f7").await.unwrap().is_empty(), "stop restores");
}
