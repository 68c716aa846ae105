//! Applying a plan: `up` converges the engine's state to a [`Plan`].
//!
//! - [`converge`]: one container, networks and volumes to their specs;
//!   surplus peers; the snapshot and rollback of an interrupted run.
//! - [`ready`]: published ports, Redis, database replication, announces.
//! - [`secrets`]: the deployment's password and token, kept across runs.
//!
//! Order: images, networks and volumes, databases, Redis (the tracker needs
//! it at start), the other control services, then the peers while the
//! databases are set up, then the wait for every peer to announce. Running
//! `up` twice leaves every container as it was. Ctrl-C during `up` removes
//! the objects this run created (all of them on a fresh deployment) and
//! nothing else.

pub mod converge;
pub mod ready;
pub mod secrets;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::images::{self, OwnImage};
use crate::offline::{self, BaseImage};
use crate::plan::{self, Config, ControlService, Plan};
use crate::progress::{Progress, Step};
use crate::runtime::{Images, Runtime};

pub use crate::context::{discover, Deployment, PeerEndpoint};
pub use converge::{Action, ImageIds};
pub use ready::graph_connects;
pub use secrets::{generate_secret, resolve_secrets};

/// How `up` runs, beside the deployment's [`Config`].
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub config: Config,
    /// Containers created or started at once.
    pub max_workers: usize,
    /// Time for every peer to announce and the graph to connect.
    pub wait_timeout: Duration,
    /// Return once started, without waiting for announces.
    pub no_wait: bool,
}

/// What `up` did. Serialized without secrets (see [`Deployment`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpReport {
    pub deployment: String,
    pub peers: usize,
    /// `edge-db-a` → its peers.
    pub edges: BTreeMap<String, Vec<String>>,
    pub networks: Vec<String>,
    /// Containers per action.
    pub actions: BTreeMap<Action, usize>,
    /// Peers of an earlier, larger `up` that were removed.
    pub removed: usize,
    /// Seconds from the start of `up` to every container started.
    pub started_secs: f64,
    /// Seconds from the start of `up` to every peer announced and the graph
    /// connected (absent with `no_wait`).
    pub ready_secs: Option<f64>,
    /// How the host reaches it.
    pub endpoints: Deployment,
    /// The mesh file's impairments, applied after the peers were up.
    pub impairments: Vec<plan::Impairment>,
}

/// What `up` waits for between converge steps. The real one probes the
/// services and databases ([`Probed`]); unit tests of converge pass one
/// that answers at once.
pub trait Readiness {
    /// Redis answers (the tracker needs it at start).
    fn redis(&self, plan: &Plan) -> impl Future<Output = anyhow::Result<()>>;
    /// Origin publishes and every edge subscribes.
    fn databases(&self, plan: &Plan, config: &Config) -> impl Future<Output = anyhow::Result<()>>;
    /// Every peer announced and the graph connected.
    fn mesh(
        &self,
        plan: &Plan,
        timeout: Duration,
        progress: &Step,
    ) -> impl Future<Output = anyhow::Result<()>>;
}

/// [`Readiness`] by asking Redis, PostgreSQL, the tracker and topology
/// through their published ports.
pub struct Probed<'a, R>(pub &'a R);

impl<R: Runtime> Readiness for Probed<'_, R> {
    async fn redis(&self, plan: &Plan) -> anyhow::Result<()> {
        ready::wait_redis(self.0, &ready::control(plan, ControlService::Redis)?.name).await
    }

    async fn databases(&self, plan: &Plan, config: &Config) -> anyhow::Result<()> {
        ready::init_databases(self.0, plan, config).await
    }

    async fn mesh(&self, plan: &Plan, timeout: Duration, progress: &Step) -> anyhow::Result<()> {
        ready::wait_ready(self.0, plan, timeout, progress).await
    }
}

async fn base_image(
    rt: &impl Images,
    which: BaseImage,
    step: &Step,
) -> anyhow::Result<(String, String)> {
    let reference = offline::ensure(rt, which, step).await?;
    let id = rt
        .inspect_image(&reference)
        .await?
        .with_context(|| format!("image {reference} vanished"))?
        .id;
    step.finish_with_message(reference.clone());
    Ok((reference, id))
}

/// Builds or finds every image the plan runs.
pub async fn build_images(
    rt: &impl Images,
    config: &Config,
    progress: &Progress,
) -> anyhow::Result<ImageIds> {
    let own = |image: OwnImage, tag: String, prefix: &'static str| {
        let step = progress.step(None, prefix);
        async move {
            let id = images::ensure_own_image(rt, image, &tag, &step).await?;
            step.finish_with_message(tag.clone());
            Ok::<_, anyhow::Error>((tag, id))
        }
    };
    let pg_step = progress.step(None, "postgres");
    let redis_step = progress.step(None, "redis");
    let (peer, control, postgres, redis) = tokio::try_join!(
        own(OwnImage::Peer, config.image.clone(), "peer image"),
        own(OwnImage::Control, config.control_image.clone(), "control"),
        base_image(rt, BaseImage::Postgres, &pg_step),
        base_image(rt, BaseImage::Redis, &redis_step),
    )?;
    Ok(ImageIds {
        peer,
        control,
        postgres,
        redis,
    })
}

/// Converges every object of `plan` with `images`, waiting on `ready`
/// between steps. Returns the report without endpoints.
pub async fn apply(
    rt: &impl Runtime,
    opts: &UpOptions,
    plan: &Plan,
    images: &ImageIds,
    ready: &impl Readiness,
    progress: &Progress,
    start: Instant,
) -> anyhow::Result<UpReport> {
    use converge::{converge_all, tally};
    for n in &plan.networks {
        converge::ensure_network(rt, &n.name, &n.labels).await?;
    }
    for v in &plan.volumes {
        converge::ensure_volume(rt, &v.name, &v.labels).await?;
    }
    let mut actions = BTreeMap::new();

    let step = progress.step(Some(plan.databases.len() as u64), "databases");
    tally(
        &mut actions,
        converge_all(rt, &plan.databases, images, 3, &step).await?,
    );
    step.finish_with_message("started");

    let step = progress.step(Some(plan.control.len() as u64), "control");
    let (redis, others): (Vec<_>, Vec<_>) = plan
        .control
        .iter()
        .cloned()
        .partition(|c| ControlService::from_name(&c.component) == Some(ControlService::Redis));
    tally(
        &mut actions,
        converge_all(rt, &redis, images, 1, &step).await?,
    );
    ready.redis(plan).await?;
    tally(
        &mut actions,
        converge_all(rt, &others, images, 3, &step).await?,
    );
    step.finish_with_message("started");

    let removed =
        converge::remove_surplus_peers(rt, &plan.deployment, &plan.peers, opts.max_workers).await?;

    let peer_step = progress.step(Some(plan.peers.len() as u64), "peers");
    let db_init = async {
        let step = progress.step(None, "replication");
        step.set_message("schema, publication, subscriptions");
        let r = ready.databases(plan, &opts.config).await;
        step.finish_with_message(if r.is_ok() {
            "origin published, edges subscribed"
        } else {
            "failed"
        });
        r
    };
    let (peer_actions, ()) = tokio::try_join!(
        converge_all(rt, &plan.peers, images, opts.max_workers, &peer_step),
        db_init
    )?;
    tally(&mut actions, peer_actions);
    peer_step.finish_with_message("started");
    let started_secs = start.elapsed().as_secs_f64();

    let ready_secs = if opts.no_wait {
        None
    } else {
        let step = progress.step(Some(plan.peers.len() as u64), "announced");
        ready.mesh(plan, opts.wait_timeout, &step).await?;
        Some(start.elapsed().as_secs_f64())
    };
    let mut networks: Vec<String> = plan.networks.iter().map(|n| n.name.clone()).collect();
    networks.sort();
    Ok(UpReport {
        deployment: plan.deployment.clone(),
        peers: plan.peers.len(),
        edges: plan.edges.clone(),
        networks,
        actions,
        removed,
        started_secs,
        ready_secs,
        endpoints: Deployment::default(),
        impairments: Vec::new(),
    })
}

/// Applies the plan's impairments through [`crate::faults::net::netem_set`]:
/// a link's both directions, a peer's whole egress. One after the other,
/// since two helpers changing one peer's qdiscs at once could race. Each
/// replaces what was set for the same direction, so a second run changes
/// nothing.
pub async fn impair<R: Runtime + Images>(
    rt: &R,
    plan: &Plan,
    progress: &Progress,
) -> anyhow::Result<()> {
    use crate::faults::net::{netem_set, NetemSet};
    if plan.impairments.is_empty() {
        return Ok(());
    }
    let step = progress.step(Some(plan.impairments.len() as u64), "impair");
    for i in &plan.impairments {
        step.set_message(i.describe());
        let set = NetemSet {
            peer: i.peer.clone(),
            to: i.to.iter().cloned().collect(),
            shaping: i.shaping.clone(),
            one_way: false,
        };
        netem_set(rt, &plan.deployment, &set, &step)
            .await
            .with_context(|| format!("impair {}", i.describe()))?;
        step.inc(1);
    }
    step.finish_with_message(format!("{} applied", plan.impairments.len()));
    Ok(())
}

/// Fails unless the engine enforces memory limits and memory+swap limits:
/// a 15 MiB limit that is silently ignored would make every figure a lie.
pub async fn check_memory_limits(rt: &impl Runtime) -> anyhow::Result<()> {
    let info = rt.info().await?;
    if !info.memory_limit {
        anyhow::bail!("the Docker daemon does not enforce memory limits (docker info: MemoryLimit=false); enable the memory cgroup (e.g. cgroup_enable=memory on the kernel command line)");
    }
    if !info.swap_limit {
        anyhow::bail!("the Docker daemon cannot limit swap (docker info: SwapLimit=false), so a peer's 15 MiB limit would spill into swap; enable swap accounting (swapaccount=1 on the kernel command line)");
    }
    Ok(())
}

/// `meshctl up`: checks the engine, builds images, then converges networks,
/// databases, control plane and peers to the plan and waits for the mesh.
/// The config's secrets must be resolved ([`resolve_secrets`]). When
/// `interrupt` fires first, what this run created is removed.
pub async fn up<R: Runtime + Images>(
    rt: &R,
    opts: &UpOptions,
    progress: &Progress,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<UpReport> {
    let start = Instant::now();
    check_memory_limits(rt).await?;
    let plan = plan::plan(&opts.config)?;
    if let Some(note) = crate::host::ensure_neighbour_table(&plan.neighbors)? {
        progress.note(&note);
    }
    let work = async {
        let images = build_images(rt, &opts.config, progress).await?;
        let mut report = apply(rt, opts, &plan, &images, &Probed(rt), progress, start).await?;
        impair(rt, &plan, progress).await?;
        report.impairments = plan.impairments.clone();
        Ok(report)
    };
    let mut report = converge::undo_on_interrupt(
        rt,
        &plan.deployment,
        interrupt,
        || progress.note("interrupted: removing what this run created"),
        work,
    )
    .await?;
    report.endpoints = discover(rt, &plan.deployment).await?;
    Ok(report)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
