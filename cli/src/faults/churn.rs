//! Churn over time: at each interval a random share of the live peers is
//! killed (or stopped, or paused), and optionally brought back after a
//! while; every action is reported as it happens. The loop ends after its
//! duration, or when `stop` resolves (Ctrl-C), and then brings back what
//! it took down and has not yet brought back (on a normal end only with
//! `restart_after`: without it, a churn leaves its victims down).

use std::future::Future;
use std::time::{Duration, Instant};

use super::node::{self, Action};
use super::select::{self, Amount, Except, SplitMix64, Target};
use crate::context;
use crate::labels::Role;
use crate::runtime::Runtime;

#[derive(Debug, Clone)]
pub struct ChurnOptions {
    /// How many live peers each round takes down.
    pub rate: Amount,
    pub interval: Duration,
    pub duration: Duration,
    pub seed: u64,
    /// Bring each victim back this long after it was taken down.
    pub restart_after: Option<Duration>,
    /// Kill, Stop or Pause.
    pub mode: Action,
    /// Grace of a stop.
    pub grace: Duration,
    pub except: Vec<Except>,
}

/// One thing churn did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChurnEvent {
    /// Milliseconds since the churn began.
    pub at_ms: u64,
    pub round: u64,
    pub target: String,
    pub action: Action,
    pub result: String,
    pub ok: bool,
}

/// The action that undoes `mode`.
pub fn undo(mode: Action) -> Action {
    match mode {
        Action::Pause => Action::Unpause,
        _ => Action::Start,
    }
}

/// Runs the churn; answers every event, also those reported to `on_event`.
pub async fn churn(
    rt: &impl Runtime,
    deployment: &str,
    opts: &ChurnOptions,
    on_event: &(dyn Fn(&ChurnEvent) + Sync),
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Vec<ChurnEvent>> {
    if !matches!(opts.mode, Action::Kill | Action::Stop | Action::Pause) {
        anyhow::bail!("--mode: use kill, stop or pause");
    }
    if opts.interval.is_zero() {
        anyhow::bail!("--interval must be above 0");
    }
    let began = Instant::now();
    let mut events = Vec::new();
    let record = |round: u64, o: node::Outcome, events: &mut Vec<ChurnEvent>| {
        let e = ChurnEvent {
            at_ms: began.elapsed().as_millis() as u64,
            round,
            target: o.target,
            action: o.action,
            result: o.result,
            ok: o.ok,
        };
        on_event(&e);
        events.push(e);
    };
    // Taken down by this churn and not yet back: (target, when).
    let mut down: Vec<(Target, Instant)> = Vec::new();
    let mut rng = SplitMix64(opts.seed);
    let mut stopped = false;
    let mut round = 0u64;
    tokio::pin!(stop);
    let end = began + opts.duration;
    let mut next = began;
    while Instant::now() < end {
        // Bring back what is due.
        if let Some(after) = opts.restart_after {
            let due: Vec<Target> = down
                .iter()
                .filter(|(_, at)| at.elapsed() >= after)
                .map(|(t, _)| t.clone())
                .collect();
            down.retain(|(_, at)| at.elapsed() < after);
            for o in node::apply(rt, &due, undo(opts.mode), opts.grace, &|_| {}).await {
                record(round, o, &mut events);
            }
        }
        if Instant::now() >= next {
            round += 1;
            next += opts.interval;
            let containers = context::list_containers(rt, deployment).await?;
            let live: Vec<Target> = containers
                .iter()
                .filter(|c| c.running() && !opts.except.iter().any(|e| e.excludes(c)))
                .filter_map(Target::of)
                .filter(|t| t.role == Role::Peer)
                .collect();
            let n = opts.rate.of(live.len());
            let victims = select::pick(live, n, rng.next_u64());
            for o in node::apply(rt, &victims, opts.mode, opts.grace, &|_| {}).await {
                if o.changed {
                    if let Some(t) = victims.iter().find(|t| t.component == o.target) {
                        down.push((t.clone(), Instant::now()));
                    }
                }
                record(round, o, &mut events);
            }
        }
        // Sleep until the next round or the next return, bounded by the end.
        let mut wake = next.min(end);
        if let Some(after) = opts.restart_after {
            if let Some(first) = down.iter().map(|(_, at)| *at + after).min() {
                wake = wake.min(first);
            }
        }
        let sleep = tokio::time::sleep_until(wake.max(Instant::now()).into());
        tokio::select! {
            _ = sleep => {}
            _ = &mut stop => { stopped = true; break; }
        }
    }
    if stopped || opts.restart_after.is_some() {
        let back: Vec<Target> = down.into_iter().map(|(t, _)| t).collect();
        for o in node::apply(rt, &back, undo(opts.mode), opts.grace, &|_| {}).await {
            record(round, o, &mut events);
        }
    }
    Ok(events)
}
