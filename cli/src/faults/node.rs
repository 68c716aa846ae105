//! Node faults: kill, stop, start, pause, unpause and restart containers of
//! a deployment through the [`Runtime`], and [`restore`] what they took
//! down. Each action looks at the container's state first: one already in
//! the wanted state is reported (`already paused`), not an error; one in a
//! state the action cannot leave (pausing a stopped container) is an error
//! for that target alone.

use std::time::Duration;

use futures::StreamExt;

use super::select::Target;
use super::{Fault, FaultKind};
use crate::context;
use crate::labels::{natural_key, Role, LABEL_COMPONENT, LABEL_ROLE};
use crate::runtime::{Container, ContainerDetails, ContainerState, Runtime};

/// `docker stop`'s default grace before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Containers acted on at once.
pub const MAX_WORKERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// SIGKILL.
    Kill,
    /// SIGTERM, SIGKILL after the grace.
    Stop,
    Start,
    Pause,
    Unpause,
    /// Stop (if up), then start.
    Restart,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Restart => "restart",
        }
    }
}

/// What an action did to one target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub target: String,
    pub container: String,
    pub action: Action,
    /// `killed`, `already stopped`, ...; the error when `ok` is false.
    pub result: String,
    /// Whether the target changed state.
    pub changed: bool,
    pub ok: bool,
}

/// Applies `action` to every target, [`MAX_WORKERS`] at a time, calling
/// `on_done` as each finishes. Outcomes come back sorted by target.
pub async fn apply(
    rt: &impl Runtime,
    targets: &[Target],
    action: Action,
    grace: Duration,
    on_done: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = futures::stream::iter(targets)
        .map(|t| async move {
            let o = act(rt, t, action, grace).await;
            on_done(&o);
            o
        })
        .buffer_unordered(MAX_WORKERS)
        .collect()
        .await;
    out.sort_by_key(|o| natural_key(&o.target));
    out
}

/// One action on one target, after reading its state again.
pub async fn act(rt: &impl Runtime, t: &Target, action: Action, grace: Duration) -> Outcome {
    let outcome = |result: String, changed: bool, ok: bool| Outcome {
        target: t.component.clone(),
        container: t.container.clone(),
        action,
        result,
        changed,
        ok,
    };
    let state = match rt.inspect_container(&t.id).await {
        Ok(Some(d)) => d.state,
        Ok(None) => return outcome("the container is gone".into(), false, false),
        Err(e) => return outcome(format!("{e}"), false, false),
    };
    match step(rt, t, action, state, grace).await {
        Ok(Done::Changed(r)) => outcome(r.into(), true, true),
        Ok(Done::Already(r)) => outcome(format!("already {r}"), false, true),
        Err(e) => outcome(e, false, false),
    }
}

enum Done {
    Changed(&'static str),
    Already(&'static str),
}

fn down(s: ContainerState) -> bool {
    matches!(
        s,
        ContainerState::Exited | ContainerState::Created | ContainerState::Dead
    )
}

async fn step(
    rt: &impl Runtime,
    t: &Target,
    action: Action,
    state: ContainerState,
    grace: Duration,
) -> Result<Done, String> {
    use ContainerState::{Paused, Removing, Running};
    let err = |e: crate::runtime::RuntimeError| format!("{e}");
    if state == Removing {
        return Err("the container is being removed".into());
    }
    match action {
        Action::Kill => {
            if down(state) {
                return Ok(Done::Already("stopped"));
            }
            // Docker kills a paused container too.
            rt.kill_container(&t.id, "SIGKILL").await.map_err(err)?;
            Ok(Done::Changed("killed"))
        }
        Action::Stop => {
            if down(state) {
                return Ok(Done::Already("stopped"));
            }
            if state == Paused {
                // A frozen process cannot take SIGTERM: thaw it first so
                // the stop is graceful.
                rt.unpause_container(&t.id).await.map_err(err)?;
            }
            rt.stop_container(&t.id, grace).await.map_err(err)?;
            Ok(Done::Changed("stopped"))
        }
        Action::Start => match state {
            Running => Ok(Done::Already("running")),
            Paused => Err(format!(
                "{} is paused, not stopped (use `meshctl unpause {}`)",
                t.component, t.component
            )),
            _ => {
                rt.start_container(&t.id).await.map_err(err)?;
                Ok(Done::Changed("started"))
            }
        },
        Action::Pause => match state {
            Paused => Ok(Done::Already("paused")),
            Running => {
                rt.pause_container(&t.id).await.map_err(err)?;
                Ok(Done::Changed("paused"))
            }
            s => Err(format!(
                "{} is {s}, not running: cannot pause it (use `meshctl start {}`)",
                t.component, t.component
            )),
        },
        Action::Unpause => match state {
            Running => Ok(Done::Already("running")),
            Paused => {
                rt.unpause_container(&t.id).await.map_err(err)?;
                Ok(Done::Changed("unpaused"))
            }
            s => Err(format!(
                "{} is {s}, not paused (use `meshctl start {}`)",
                t.component, t.component
            )),
        },
        Action::Restart => {
            if state == Paused {
                rt.unpause_container(&t.id).await.map_err(err)?;
            }
            if !down(state) {
                rt.stop_container(&t.id, grace).await.map_err(err)?;
            }
            rt.start_container(&t.id).await.map_err(err)?;
            Ok(Done::Changed("restarted"))
        }
    }
}

/// The order things come back in: databases and the control plane before
/// the peers that need them.
fn restore_order(c: &Container) -> (u8, (String, u64, String)) {
    let rank = match c.label(LABEL_ROLE).and_then(Role::parse) {
        Some(Role::Db) => 0,
        Some(Role::Control) if c.label(LABEL_COMPONENT) == Some("redis") => 1,
        Some(Role::Control) => 2,
        _ => 3,
    };
    (
        rank,
        natural_key(c.label(LABEL_COMPONENT).unwrap_or(&c.name)),
    )
}

/// Brings the node faults of `deployment` back: unpauses paused containers
/// and starts stopped or killed ones (peers, control services, databases),
/// databases and Redis first. Answers `(component, "unpaused" | "started")`
/// for each container it changed; fails after trying all when any failed.
pub async fn restore(
    rt: &impl Runtime,
    deployment: &str,
) -> anyhow::Result<Vec<(String, &'static str)>> {
    let mut containers: Vec<Container> = context::list_containers(rt, deployment)
        .await?
        .into_iter()
        .filter(|c| Target::of(c).is_some())
        .collect();
    containers.sort_by_key(restore_order);
    let mut done = Vec::new();
    let mut failed = Vec::new();
    // Rank by rank: what a rank needs is up before it starts.
    for rank in 0..=3 {
        let batch: Vec<&Container> = containers
            .iter()
            .filter(|c| restore_order(c).0 == rank)
            .collect();
        let results: Vec<_> = futures::stream::iter(batch)
            .map(|c| async move {
                let t = Target::of(c)?;
                let r = match c.state {
                    ContainerState::Paused => {
                        Some(rt.unpause_container(&c.id).await.map(|_| "unpaused"))
                    }
                    s if down(s) => Some(rt.start_container(&c.id).await.map(|_| "started")),
                    _ => None,
                }?;
                Some((t.component, r))
            })
            .buffer_unordered(MAX_WORKERS)
            .collect()
            .await;
        for (component, r) in results.into_iter().flatten() {
            match r {
                Ok(what) => done.push((component, what)),
                Err(e) => failed.push(format!("{component}: {e}")),
            }
        }
    }
    done.sort_by_key(|(c, _)| natural_key(c));
    if !failed.is_empty() {
        anyhow::bail!(
            "restore {deployment}: {} (restored {} others)",
            failed.join("; "),
            done.len()
        );
    }
    Ok(done)
}

/// The node faults of `containers` (a deployment's): every peer, control
/// service or database that is not running, inspected for how it ended.
pub async fn faults(rt: &impl Runtime, containers: &[Container]) -> anyhow::Result<Vec<Fault>> {
    let down: Vec<Target> = containers
        .iter()
        .filter_map(Target::of)
        .filter(|t| t.state != ContainerState::Running)
        .collect();
    let rows: Vec<anyhow::Result<Option<Fault>>> = futures::stream::iter(down)
        .map(|t| async move {
            let Some(d) = rt.inspect_container(&t.id).await? else {
                return Ok(None); // removed meanwhile
            };
            Ok(node_fault(&t, &d))
        })
        .buffer_unordered(MAX_WORKERS)
        .collect()
        .await;
    let mut out = Vec::new();
    for r in rows {
        out.extend(r?);
    }
    Ok(out)
}

/// The fault `d` shows, if any. Pure.
pub fn node_fault(t: &Target, d: &ContainerDetails) -> Option<Fault> {
    let (kind, detail) = match d.state {
        ContainerState::Running => return None,
        ContainerState::Paused => (FaultKind::Paused, "paused (frozen)".to_string()),
        ContainerState::Created => (FaultKind::Stopped, "created, never started".to_string()),
        s => {
            let code = d.exit_code.unwrap_or(0);
            let kind = if d.oom_killed {
                FaultKind::OomKilled
            } else {
                match code {
                    137 => FaultKind::Killed,
                    0 | 143 => FaultKind::Stopped,
                    _ => FaultKind::Exited,
                }
            };
            let oom = if d.oom_killed { ", OOM-killed" } else { "" };
            (kind, format!("{s}, exit code {code}{oom}"))
        }
    };
    Some(Fault {
        kind,
        target: t.component.clone(),
        role: Some(t.role),
        detail,
        since: if d.state == ContainerState::Paused {
            None
        } else {
            d.finished_at.clone()
        },
        exit_code: (!d.running() && d.state != ContainerState::Paused)
            .then_some(d.exit_code)
            .flatten(),
        oom_killed: d.oom_killed,
    })
}
