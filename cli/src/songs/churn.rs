//! `bench churn`: the swarm while faults run on a schedule, and what the
//! listeners saw before, during and after them.
//!
//! The swarm ([`super::swarm`]) runs with failover to each peer's mesh
//! neighbours. Beside it, from the same start: a share of the live peers
//! taken down every interval ([`crate::faults::churn`]; brought back when
//! the swarm ends, or after `restart_after`), control services and
//! databases restarted one after another, and a partition held for a
//! window then healed. Every random choice comes from one seed, so two runs
//! with the same seed on the same deployment do the same things.
//!
//! The report splits the timeline into phases (before the first fault,
//! until the last fault action, after), splits failed segments between
//! listeners whose own peer stayed up and those whose peer was taken down,
//! and for each fault reads the tracker's and topology's event feeds for
//! when they dropped the peer, and the listeners' timeline for when that
//! peer's listeners got their next segment.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;

use super::figures::{p2p_ratio, percentile};
use super::swarm::{swarm_from, SegmentRecord, SwarmOptions, SwarmReport};
use super::PeerRef;
use crate::faults::churn::{self, ChurnOptions};
use crate::faults::net;
use crate::faults::node::{self, Action};
use crate::faults::select::{self, Amount, Except, SplitMix64, Target};
use crate::faults::split::{self, GroupSpec, MeshView};
use crate::runtime::{Images, Runtime};
use wire::relay::Source;

/// Peers taken down every interval.
#[derive(Debug, Clone)]
pub struct ChurnPlan {
    pub rate: Amount,
    pub every: Duration,
    /// First round, from the swarm's start.
    pub start: Duration,
    /// Kill, Stop or Pause.
    pub mode: Action,
    pub restart_after: Option<Duration>,
    pub except: Vec<Except>,
}

/// A partition held for a while, then healed.
#[derive(Debug, Clone)]
pub struct PartitionPlan {
    pub groups: GroupSpec,
    pub at: Duration,
    pub hold: Duration,
}

/// What [`run`] does.
#[derive(Debug, Clone)]
pub struct ChurnBenchOptions {
    pub swarm: SwarmOptions,
    pub churn: Option<ChurnPlan>,
    /// Control services or databases restarted in this order.
    pub restarts: Vec<String>,
    pub restart_at: Duration,
    pub restart_gap: Duration,
    pub partition: Option<PartitionPlan>,
    pub seed: u64,
}

/// One fault action, and how the mesh answered it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultRecord {
    /// From the swarm's start.
    pub at_ms: f64,
    /// `kill`, `restart`, `partition`, `heal`, `start`, ...
    pub action: String,
    pub target: String,
    pub ok: bool,
    pub result: String,
    /// Until the tracker demoted the peer as suspect (reports of several
    /// peers, or missed heartbeats; peer faults).
    pub tracker_suspected_ms: Option<f64>,
    /// Until the tracker expired the peer (peer faults).
    pub tracker_dropped_ms: Option<f64>,
    /// Until topology removed the peer or one of its edges (peer faults).
    pub topology_dropped_ms: Option<f64>,
    /// Until every listener of the peer had its next good segment (peer
    /// faults): the failover time.
    pub listeners_resumed_ms: Option<f64>,
}

impl FaultRecord {
    /// An action as it was taken; the mesh's answer is filled in later.
    fn taken(at_ms: f64, action: &str, target: String, ok: bool, result: String) -> FaultRecord {
        FaultRecord {
            at_ms,
            action: action.to_string(),
            target,
            ok,
            result,
            tracker_suspected_ms: None,
            tracker_dropped_ms: None,
            topology_dropped_ms: None,
            listeners_resumed_ms: None,
        }
    }
}

/// The listeners' view over one span of the run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Phase {
    /// `before`, `during`, `after` (or `no faults`).
    pub phase: String,
    pub from_ms: f64,
    pub to_ms: f64,
    pub segments: usize,
    pub failed_segments: usize,
    pub p2p_ratio: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Further attempts, and moves to another peer, of the items (playlists
    /// and segments) that started in the phase.
    pub retries: u64,
    pub failovers: u64,
}

/// What [`run`] measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ChurnBenchReport {
    pub seed: u64,
    pub phases: Vec<Phase>,
    /// Listeners whose own peer was never taken down, and their failures.
    pub listeners_live: usize,
    pub failed_segments_live: usize,
    /// Listeners whose own peer was killed, stopped or paused.
    pub listeners_dead: usize,
    pub failed_segments_dead: usize,
    pub failovers: usize,
    pub faults: Vec<FaultRecord>,
    pub swarm: SwarmReport,
}

/// The deployment as the bench sees it when it starts.
#[derive(Debug, Clone, Default)]
pub struct BenchMesh {
    pub deployment: String,
    /// The running peers the listeners play through.
    pub peers: Vec<PeerRef>,
    /// The live graph, for partition groups.
    pub view: MeshView,
    pub feeds: Feeds,
}

/// Where the event feeds are.
#[derive(Debug, Clone, Default)]
pub struct Feeds {
    pub tracker: Option<String>,
    pub topology: Option<String>,
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

async fn sleep_until_or(started: Instant, at: Duration, done: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until((started + at).into()) => true,
        _ = done.cancelled() => false,
    }
}

/// Runs the swarm over the mesh's peers with the faults of `opts`. Every target and group is resolved before the swarm
/// starts; a bad one is an error naming it.
pub async fn run<R: Runtime + Images>(
    rt: &R,
    mesh: &BenchMesh,
    opts: &ChurnBenchOptions,
    http: &reqwest::Client,
    on_fault: &(dyn Fn(&FaultRecord) + Sync),
) -> anyhow::Result<ChurnBenchReport> {
    let (deployment, peers, view, feeds) = (
        mesh.deployment.as_str(),
        mesh.peers.as_slice(),
        &mesh.view,
        &mesh.feeds,
    );
    let containers = crate::context::list_containers(rt, deployment).await?;
    let mut restart_targets: Vec<Target> = Vec::new();
    for name in &opts.restarts {
        let t = containers
            .iter()
            .filter_map(Target::of)
            .find(|t| t.component == *name)
            .with_context(|| {
                format!("--restart {name}: deployment {deployment:?} has no such service, database or peer")
            })?;
        restart_targets.push(t);
    }
    let groups = match &opts.partition {
        Some(p) => Some(split::groups(&p.groups, view).context("--partition")?),
        None => None,
    };
    if let Some(c) = &opts.churn {
        if c.every.is_zero() {
            bail!("--every must be above 0");
        }
        if !matches!(c.mode, Action::Kill | Action::Stop | Action::Pause) {
            bail!("--mode: use kill, stop or pause");
        }
    }
    let mut rng = SplitMix64(opts.seed);
    let churn_seed = rng.next_u64();

    let started = Instant::now();
    let wall0 = now_ms();
    let done = CancellationToken::new();
    let records = std::sync::Mutex::new(Vec::<FaultRecord>::new());
    let record = |r: FaultRecord| {
        on_fault(&r);
        records.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    };

    let swarm = async {
        let r = swarm_from(peers, &opts.swarm, http, started).await;
        done.cancel();
        r
    };
    let churning = async {
        let Some(c) = &opts.churn else {
            return Ok::<_, anyhow::Error>(());
        };
        if !sleep_until_or(started, c.start, &done).await {
            return Ok(());
        }
        let offset = elapsed_ms(started);
        let copts = ChurnOptions {
            rate: c.rate,
            interval: c.every,
            duration: Duration::from_secs(24 * 3600),
            seed: churn_seed,
            restart_after: c.restart_after,
            mode: c.mode,
            grace: Duration::from_secs(5),
            except: c.except.clone(),
        };
        let on_event = |e: &churn::ChurnEvent| {
            record(FaultRecord::taken(
                offset + e.at_ms as f64,
                e.action.as_str(),
                e.target.clone(),
                e.ok,
                e.result.clone(),
            ))
        };
        churn::churn(rt, deployment, &copts, &on_event, done.cancelled()).await?;
        Ok(())
    };
    let restarting = async {
        for (i, t) in restart_targets.iter().enumerate() {
            let at = opts.restart_at + opts.restart_gap * i as u32;
            if !sleep_until_or(started, at, &done).await {
                break;
            }
            let at_ms = elapsed_ms(started);
            let o = node::act(rt, t, Action::Restart, Duration::from_secs(5)).await;
            record(FaultRecord::taken(
                at_ms,
                o.action.as_str(),
                o.target,
                o.ok,
                o.result,
            ));
        }
        Ok::<_, anyhow::Error>(())
    };
    let partitioning = async {
        let (Some(p), Some(groups)) = (&opts.partition, &groups) else {
            return Ok::<_, anyhow::Error>(());
        };
        if !sleep_until_or(started, p.at, &done).await {
            return Ok(());
        }
        let at_ms = elapsed_ms(started);
        let desc = groups
            .iter()
            .map(|g| g.join(","))
            .collect::<Vec<_>>()
            .join(" | ");
        let r = net::partition(rt, deployment, groups, &crate::progress::Step::hidden()).await;
        let result = match &r {
            Ok(n) => format!("{n} rules"),
            Err(e) => format!("{e:#}"),
        };
        record(FaultRecord::taken(
            at_ms,
            "partition",
            desc,
            r.is_ok(),
            result,
        ));
        // Healed after the hold, or when the swarm ends first.
        let _ = sleep_until_or(started, p.at + p.hold, &done).await;
        let at_ms = elapsed_ms(started);
        let h = net::heal(rt, deployment).await;
        let result = match &h {
            Ok(h) => format!("{} peers", h.peers.len()),
            Err(e) => format!("{e:#}"),
        };
        record(FaultRecord::taken(
            at_ms,
            "heal",
            "partition".into(),
            h.is_ok(),
            result,
        ));
        Ok(())
    };
    let (swarm, c, r, p) = tokio::join!(swarm, churning, restarting, partitioning);
    let swarm = swarm?;
    for (what, res) in [("churn", c), ("restarts", r), ("partition", p)] {
        if let Err(e) = res {
            eprintln!("{what}: {e:#}");
        }
    }
    let mut faults = records.into_inner().unwrap_or_else(|p| p.into_inner());
    faults.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));

    // A restarted service may have a new published port: ask the engine
    // again where the feeds are.
    let feeds = match crate::context::discover(rt, deployment).await {
        Ok(d) => Feeds {
            tracker: d.tracker_url.or_else(|| feeds.tracker.clone()),
            topology: d.topology_url.or_else(|| feeds.topology.clone()),
        },
        Err(_) => feeds.clone(),
    };
    let events = read_feeds(http, &feeds).await;
    let mut report = analyse(opts.seed, swarm, faults, &events, wall0);
    report.failovers = report.swarm.failovers;
    Ok(report)
}

/// A tracker or topology event that drops or demotes a peer: (wall ms,
/// `tracker` | `topology` | `suspect`, peer).
type Drop = (f64, &'static str, String);

async fn read_feeds(http: &reqwest::Client, feeds: &Feeds) -> Vec<Drop> {
    let mut out = Vec::new();
    for (service, url) in [("tracker", &feeds.tracker), ("topology", &feeds.topology)] {
        let Some(url) = url else { continue };
        let resp = http
            .get(format!(
                "{}/events?after=0&limit={}",
                url.trim_end_matches('/'),
                wire::events::MAX_LIMIT
            ))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let Ok(resp) = resp else { continue };
        let Ok(feed) = resp.json::<wire::events::EventsResponse>().await else {
            continue;
        };
        for e in feed.events {
            use wire::events::EventKind as K;
            let peers: Vec<String> = match e.kind {
                K::PeerSuspected { peer, .. } if service == "tracker" => {
                    out.push((e.at_ms as f64, "suspect", peer));
                    continue;
                }
                K::PeerExpired { peer } | K::PeerRemoved { peer } => vec![peer],
                K::EdgeRemoved { a, b } if service == "topology" => vec![a, b],
                _ => continue,
            };
            for p in peers {
                out.push((e.at_ms as f64, service, p));
            }
        }
    }
    out
}

/// Phases, the live/dead split and per-fault figures (pure).
pub fn analyse(
    seed: u64,
    swarm: SwarmReport,
    mut faults: Vec<FaultRecord>,
    drops: &[Drop],
    wall0_ms: f64,
) -> ChurnBenchReport {
    let down_actions = ["kill", "stop", "pause"];
    let victims: BTreeSet<String> = faults
        .iter()
        .filter(|f| f.ok && down_actions.contains(&f.action.as_str()))
        .map(|f| f.target.clone())
        .collect();
    let mut report = ChurnBenchReport {
        seed,
        ..Default::default()
    };
    for l in &swarm.per_listener {
        let failed = if l.segments == 0 && l.failed_segments == 0 {
            // Never got the playlist: every segment failed.
            swarm.segments_per_listener.max(1)
        } else {
            l.failed_segments
        };
        if victims.contains(&l.peer) {
            report.listeners_dead += 1;
            report.failed_segments_dead += failed;
        } else {
            report.listeners_live += 1;
            report.failed_segments_live += failed;
        }
    }
    // Per-fault figures for peers taken down.
    for f in faults.iter_mut() {
        if !f.ok || !down_actions.contains(&f.action.as_str()) {
            continue;
        }
        let wall = wall0_ms + f.at_ms;
        let first = |service: &str| {
            drops
                .iter()
                .filter(|(at, s, p)| *s == service && p == &f.target && *at >= wall)
                .map(|(at, _, _)| at - wall)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
        };
        f.tracker_suspected_ms = first("suspect");
        f.tracker_dropped_ms = first("tracker");
        f.topology_dropped_ms = first("topology");
        let listeners: BTreeSet<usize> = swarm
            .per_listener
            .iter()
            .filter(|l| l.peer == f.target)
            .map(|l| l.listener)
            .collect();
        let mut resumed: Option<f64> = None;
        for l in &listeners {
            let next = swarm
                .timeline
                .iter()
                .filter(|r| r.listener == *l && r.ok && !r.playlist)
                .map(|r| r.at_ms + r.latency_ms.unwrap_or(0.0))
                .find(|end| *end >= f.at_ms);
            if let Some(end) = next {
                let d = end - f.at_ms;
                resumed = Some(resumed.map_or(d, |m: f64| m.max(d)));
            }
        }
        f.listeners_resumed_ms = resumed;
    }
    let end_ms = swarm
        .timeline
        .iter()
        .map(|r| r.at_ms + r.latency_ms.unwrap_or(0.0))
        .fold(0.0, f64::max)
        .max(swarm.wall_secs * 1000.0);
    let first_fault = faults.first().map(|f| f.at_ms);
    let last_fault = faults.last().map(|f| f.at_ms);
    report.phases = match (first_fault, last_fault) {
        (Some(a), Some(b)) => vec![
            phase("before", 0.0, a, &swarm.timeline),
            phase("during", a, b.max(a), &swarm.timeline),
            phase("after", b.max(a), end_ms.max(b) + 1.0, &swarm.timeline),
        ],
        _ => vec![phase("no faults", 0.0, end_ms + 1.0, &swarm.timeline)],
    };
    report.faults = faults;
    report.swarm = swarm;
    report
}

fn phase(name: &str, from_ms: f64, to_ms: f64, timeline: &[SegmentRecord]) -> Phase {
    let items: Vec<&SegmentRecord> = timeline
        .iter()
        .filter(|r| r.at_ms >= from_ms && r.at_ms < to_ms)
        .collect();
    let (mut cache, mut peer, mut edge) = (0u64, 0u64, 0u64);
    let mut lat = Vec::new();
    let mut p = Phase {
        phase: name.to_string(),
        from_ms,
        to_ms,
        ..Default::default()
    };
    for r in items {
        p.retries += u64::from(r.retries);
        p.failovers += u64::from(r.failovers);
        match r.source {
            Some(Source::Cache) => cache += r.bytes,
            Some(Source::Peer) => peer += r.bytes,
            Some(Source::Edge) => edge += r.bytes,
            None => {}
        }
        if r.playlist {
            continue;
        }
        if r.ok {
            p.segments += 1;
            if let Some(l) = r.latency_ms {
                lat.push(l);
            }
        } else {
            p.failed_segments += 1;
        }
    }
    p.p2p_ratio = p2p_ratio(cache, peer, edge);
    p.latency_p50_ms = percentile(&lat, 50.0);
    p.latency_p99_ms = percentile(&lat, 99.0);
    p
}

/// The seed when none was given: printed, so the run can be repeated.
pub fn fresh_seed() -> u64 {
    select::fresh_seed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::songs::swarm::ListenerReport;

    fn seg(listener: usize, at_ms: f64, ok: bool, source: Source) -> SegmentRecord {
        SegmentRecord {
            listener,
            at_ms,
            playlist: false,
            ok,
            latency_ms: ok.then_some(10.0),
            source: ok.then_some(source),
            bytes: if ok { 1000 } else { 0 },
            peer: format!("peer-{}", listener + 1),
            retries: u32::from(!ok) * 2,
            failovers: u32::from(!ok),
        }
    }

    fn fault(at_ms: f64, action: &str, target: &str) -> FaultRecord {
        FaultRecord::taken(at_ms, action, target.into(), true, String::new())
    }

    #[test]
    fn phases_split_and_per_fault_figures() {
        let swarm = SwarmReport {
            segments_per_listener: 3,
            wall_secs: 10.0,
            per_listener: vec![
                ListenerReport {
                    listener: 0,
                    peer: "peer-1".into(),
                    segments: 3,
                    ..Default::default()
                },
                ListenerReport {
                    listener: 1,
                    peer: "peer-2".into(),
                    segments: 2,
                    failed_segments: 1,
                    ..Default::default()
                },
                ListenerReport {
                    listener: 2,
                    peer: "peer-3".into(),
                    ..Default::default()
                },
            ],
            timeline: vec![
                seg(0, 100.0, true, Source::Edge),
                seg(1, 200.0, true, Source::Peer),
                seg(0, 3000.0, true, Source::Peer),
                seg(1, 3100.0, false, Source::Peer),
                seg(1, 6000.0, true, Source::Cache),
                seg(0, 7000.0, true, Source::Peer),
            ],
            ..Default::default()
        };
        let faults = vec![
            fault(2000.0, "kill", "peer-2"),
            fault(4000.0, "restart", "tracker"),
            fault(5000.0, "start", "peer-2"),
        ];
        let drops = vec![
            (
                1_000_000.0 + 2000.0 + 2500.0,
                "tracker",
                "peer-2".to_string(),
            ),
            (
                1_000_000.0 + 2000.0 + 2600.0,
                "topology",
                "peer-2".to_string(),
            ),
            (1_000_000.0 + 1000.0, "tracker", "peer-2".to_string()),
            (
                1_000_000.0 + 2000.0 + 700.0,
                "suspect",
                "peer-2".to_string(),
            ),
        ];
        let r = analyse(7, swarm, faults, &drops, 1_000_000.0);
        assert_eq!(r.listeners_dead, 1);
        assert_eq!(r.failed_segments_dead, 1);
        assert_eq!(r.listeners_live, 2);
        // peer-3's listener never got the playlist: all 3 failed.
        assert_eq!(r.failed_segments_live, 3);
        let names: Vec<&str> = r.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(names, ["before", "during", "after"]);
        assert_eq!(r.phases[0].segments, 2);
        assert_eq!(r.phases[1].segments, 1);
        assert_eq!(r.phases[1].failed_segments, 1);
        // The failed one was asked three times, twice on another peer.
        assert_eq!((r.phases[1].retries, r.phases[1].failovers), (2, 1));
        assert_eq!((r.phases[0].retries, r.phases[2].failovers), (0, 0));
        assert_eq!(r.phases[2].segments, 2);
        assert_eq!(r.phases[0].p2p_ratio, Some(0.5));
        let kill = &r.faults[0];
        assert_eq!(kill.tracker_suspected_ms, Some(700.0));
        assert_eq!(kill.tracker_dropped_ms, Some(2500.0));
        assert_eq!(kill.topology_dropped_ms, Some(2600.0));
        // Listener 1's next good segment ended at 6010 ms.
        assert_eq!(kill.listeners_resumed_ms, Some(4010.0));
        assert_eq!(r.faults[1].tracker_dropped_ms, None);
    }

    #[test]
    fn no_faults_is_one_phase() {
        let swarm = SwarmReport {
            timeline: vec![seg(0, 1.0, true, Source::Edge)],
            per_listener: vec![ListenerReport {
                listener: 0,
                peer: "peer-1".into(),
                segments: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let r = analyse(1, swarm, Vec::new(), &[], 0.0);
        assert_eq!(r.phases.len(), 1);
        assert_eq!(r.phases[0].phase, "no faults");
        assert_eq!(r.phases[0].segments, 1);
        assert_eq!(r.listeners_live, 1);
    }
}
