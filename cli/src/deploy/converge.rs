//! Converging the engine's objects to a plan, and undoing an interrupted run.
//!
//! Every container is compared with its spec by the hash in its
//! `meshctl.spec` label: an equal one is kept (started if stopped), a
//! different one recreated, a missing one created. Networks and volumes are
//! created when missing; one of another deployment (or of none) is refused.
//! Everything here speaks only to the [`Runtime`], so it is unit tested
//! against the fake.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use anyhow::bail;
use futures::{StreamExt, TryStreamExt};

use crate::labels::{Role, LABEL_DEPLOYMENT, LABEL_ROLE};
use crate::plan::{ContainerSpec, ImageRef, LABEL_SPEC};
use crate::progress::Step;
use crate::runtime::{Filter, Labels, Runtime};

/// What happened to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Recreated,
    Started,
    Kept,
}

/// The image (reference, id) each kind of container runs.
#[derive(Debug, Clone)]
pub struct ImageIds {
    pub peer: (String, String),
    pub control: (String, String),
    pub postgres: (String, String),
    pub redis: (String, String),
}

impl ImageIds {
    pub fn of(&self, r: &ImageRef) -> &(String, String) {
        match r {
            ImageRef::Peer(_) => &self.peer,
            ImageRef::Control(_) => &self.control,
            ImageRef::Postgres => &self.postgres,
            ImageRef::Redis => &self.redis,
        }
    }
}

fn owner_of(what: &str, name: &str, theirs: Option<&String>, ours: &Labels) -> anyhow::Result<()> {
    let ours = ours.get(LABEL_DEPLOYMENT);
    if theirs != ours {
        bail!(
            "{what} {name} exists and does not belong to deployment {:?} (it belongs to {}); pick another --name or {what} name",
            ours.cloned().unwrap_or_default(),
            theirs.map_or("no meshctl deployment".to_string(), |t| format!("{t:?}"))
        );
    }
    Ok(())
}

/// Creates a bridge network unless it exists. Returns whether it was
/// created now. An existing network of another deployment is an error.
pub async fn ensure_network(
    rt: &impl Runtime,
    name: &str,
    labels: &Labels,
) -> anyhow::Result<bool> {
    if let Some(existing) = rt.inspect_network(name).await? {
        owner_of(
            "network",
            name,
            existing.labels.get(LABEL_DEPLOYMENT),
            labels,
        )?;
        return Ok(false);
    }
    rt.create_network(name, labels).await?;
    Ok(true)
}

/// Creates a named volume unless it exists. Returns whether it was created
/// now. An existing volume of another deployment is an error: adopting it
/// would hand one deployment's database files to another.
pub async fn ensure_volume(rt: &impl Runtime, name: &str, labels: &Labels) -> anyhow::Result<bool> {
    if let Some(existing) = rt.inspect_volume(name).await? {
        owner_of(
            "volume",
            name,
            existing.labels.get(LABEL_DEPLOYMENT),
            labels,
        )?;
        return Ok(false);
    }
    rt.create_volume(name, labels).await?;
    Ok(true)
}

/// Brings one container to its spec. Returns its id and what was done.
pub async fn converge(
    rt: &impl Runtime,
    spec: &ContainerSpec,
    images: &ImageIds,
) -> anyhow::Result<(String, Action)> {
    let (reference, image_id) = images.of(&spec.image);
    let hash = spec.spec_hash(image_id);
    let mut action = Action::Created;
    if let Some(c) = rt.inspect_container(&spec.name).await? {
        if c.labels.get(LABEL_DEPLOYMENT) != spec.labels.get(LABEL_DEPLOYMENT) {
            bail!(
                "container {} exists and does not belong to deployment {:?}; remove it or pick another --name",
                spec.name,
                spec.labels.get(LABEL_DEPLOYMENT).cloned().unwrap_or_default()
            );
        }
        if c.labels.get(LABEL_SPEC) == Some(&hash) {
            if c.running() {
                return Ok((c.id, Action::Kept));
            }
            rt.start_container(&c.id).await?;
            return Ok((c.id, Action::Started));
        }
        rt.remove_container(&c.id).await?;
        action = Action::Recreated;
    }
    let mut labels = spec.labels.clone();
    labels.insert(LABEL_SPEC.into(), hash);
    let id = rt.create_container(spec, reference, &labels).await?;
    rt.start_container(&id).await?;
    Ok((id, action))
}

/// Converges `specs` with at most `workers` at once, ticking `progress`.
pub async fn converge_all(
    rt: &impl Runtime,
    specs: &[ContainerSpec],
    images: &ImageIds,
    workers: usize,
    progress: &Step,
) -> anyhow::Result<Vec<Action>> {
    futures::stream::iter(specs)
        .map(|spec| async move {
            let r = converge(rt, spec, images).await;
            progress.inc(1);
            r.map(|(_, a)| a)
        })
        .buffer_unordered(workers.max(1))
        .try_collect()
        .await
}

/// Removes the peers of deployment `name` that `wanted` does not name (an
/// earlier, larger `up`). Returns how many.
pub async fn remove_surplus_peers(
    rt: &impl Runtime,
    name: &str,
    wanted: &[ContainerSpec],
    workers: usize,
) -> anyhow::Result<usize> {
    let wanted: BTreeSet<&String> = wanted.iter().map(|p| &p.name).collect();
    let peers = Filter::deployment(name).and(LABEL_ROLE, Role::Peer.as_str());
    let extra: Vec<String> = rt
        .list_containers(&peers)
        .await?
        .into_iter()
        .filter(|c| !wanted.contains(&c.name))
        .map(|c| c.id)
        .collect();
    futures::stream::iter(&extra)
        .map(|id| rt.remove_container(id))
        .buffer_unordered(workers.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(extra.len())
}

/// Counts actions.
pub fn tally(into: &mut BTreeMap<Action, usize>, actions: Vec<Action>) {
    for a in actions {
        *into.entry(a).or_default() += 1;
    }
}

/// Every object of a deployment: container and network ids, volume names.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub containers: BTreeSet<String>,
    pub networks: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
}

impl Snapshot {
    pub async fn take(rt: &impl Runtime, name: &str) -> anyhow::Result<Snapshot> {
        let mine = Filter::deployment(name);
        Ok(Snapshot {
            containers: rt
                .list_containers(&mine)
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect(),
            networks: rt
                .list_networks(&mine)
                .await?
                .into_iter()
                .map(|n| n.id)
                .collect(),
            volumes: rt
                .list_volumes(&mine)
                .await?
                .into_iter()
                .map(|v| v.name)
                .collect(),
        })
    }
}

/// Removes every object of deployment `name` that is not in `before`.
/// Returns how many containers it removed.
pub async fn rollback(
    rt: &impl Runtime,
    name: &str,
    before: &Snapshot,
    settle: Duration,
) -> anyhow::Result<usize> {
    let mut removed = BTreeSet::new();
    // A create the engine was still working on when we stopped waiting
    // shows up a moment later: look twice.
    for round in 0..2 {
        if round > 0 {
            tokio::time::sleep(settle).await;
        }
        let now = Snapshot::take(rt, name).await?;
        let extra: Vec<&String> = now.containers.difference(&before.containers).collect();
        futures::stream::iter(&extra)
            .map(|id| rt.remove_container(id))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        removed.extend(extra.into_iter().cloned());
        for v in now.volumes.difference(&before.volumes) {
            rt.remove_volume(v).await?;
        }
        for n in now.networks.difference(&before.networks) {
            rt.remove_network(n).await?;
        }
    }
    Ok(removed.len())
}

/// Runs `work`; when `interrupt` fires first, removes what this run created
/// (everything, on a fresh deployment) and fails saying so.
pub async fn undo_on_interrupt<T>(
    rt: &impl Runtime,
    name: &str,
    interrupt: impl Future<Output = ()>,
    on_interrupt: impl FnOnce(),
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let before = Snapshot::take(rt, name).await?;
    tokio::select! {
        r = work => r,
        () = interrupt => {
            on_interrupt();
            let removed = rollback(rt, name, &before, Duration::from_secs(1)).await?;
            bail!("interrupted; removed {removed} containers this run had created")
        }
    }
}
