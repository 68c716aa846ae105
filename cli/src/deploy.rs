//! Applying a plan: `up` converges the daemon's state to a [`Plan`].
//!
//! Every container is compared with its spec by the hash in its
//! `meshctl.spec` label: an equal one is kept (started if stopped), a
//! different one recreated, a missing one created. So running `up` twice
//! leaves every container as it was. Ctrl-C during `up` removes the objects
//! this run created (all of them on a fresh deployment) and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bollard::Docker;
use futures::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::context::{self, label, Role, LABEL_COMPONENT, LABEL_DEPLOYMENT, LABEL_ROLE};
use crate::docker;
use crate::images::{self, OwnImage};
use crate::offline::{self, BaseImage};
use crate::plan::{self, Config, ContainerSpec, ImageRef, Plan, LABEL_SPEC};
use crate::probe;

pub use crate::context::{connect_docker, discover, Deployment, PeerEndpoint};

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

/// What happened to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Recreated,
    Started,
    Kept,
}

/// What `up` did.
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
}

/// A password or token: 32 characters of [A-Za-z0-9].
pub fn generate_secret() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Fills in the database password and `MESH_TOKEN` when the config leaves
/// them empty: from the running deployment when it has them (so a second
/// `up` keeps them), else freshly generated. A password that differs from
/// the one the databases were initialised with is refused.
pub async fn resolve_secrets(docker: &Docker, config: &mut Config) -> anyhow::Result<()> {
    let existing = context::list_containers(docker, &config.name).await?;
    let mut old_password = None;
    let mut old_token = None;
    for c in &existing {
        let Some(id) = c.id.as_deref() else { continue };
        let role = label(c, LABEL_ROLE);
        if role == Some(Role::Db.as_str()) && old_password.is_none() {
            if let Some(i) = docker::inspect_container(docker, id).await? {
                old_password = env_of(&i, "POSTGRES_PASSWORD");
            }
        }
        if matches!(role, Some("peer") | Some("control"))
            && label(c, LABEL_COMPONENT) != Some("redis")
            && old_token.is_none()
        {
            if let Some(i) = docker::inspect_container(docker, id).await? {
                old_token = Some(env_of(&i, "MESH_TOKEN").unwrap_or_default());
            }
        }
    }
    match (&old_password, config.postgres_password.is_empty()) {
        (Some(old), true) => config.postgres_password = old.clone(),
        (Some(old), false) if *old != config.postgres_password => bail!(
            "POSTGRES_PASSWORD differs from the one deployment {:?} was created with; its databases keep the old one (run `meshctl down --name {}` first to start over)",
            config.name,
            config.name
        ),
        (None, true) => config.postgres_password = generate_secret(),
        _ => {}
    }
    if config.token.is_empty() {
        config.token = old_token.unwrap_or_else(generate_secret);
    }
    Ok(())
}

fn env_of(c: &bollard::models::ContainerInspectResponse, key: &str) -> Option<String> {
    c.config.as_ref()?.env.as_ref()?.iter().find_map(|kv| {
        kv.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(str::to_string)
    })
}

/// Every object of the deployment now: container ids, network and volume names.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    containers: BTreeSet<String>,
    networks: BTreeSet<String>,
    volumes: BTreeSet<String>,
}

impl Snapshot {
    async fn take(docker: &Docker, name: &str) -> anyhow::Result<Snapshot> {
        let sel = [format!("{LABEL_DEPLOYMENT}={name}")];
        Ok(Snapshot {
            containers: context::list_containers(docker, name)
                .await?
                .into_iter()
                .filter_map(|c| c.id)
                .collect(),
            networks: docker::list_networks(docker, &sel)
                .await?
                .into_iter()
                .filter_map(|n| n.name)
                .collect(),
            volumes: docker::list_volumes(docker, &sel)
                .await?
                .into_iter()
                .map(|v| v.name)
                .collect(),
        })
    }
}

/// Removes every object of the deployment that is not in `before`.
async fn rollback(docker: &Docker, name: &str, before: &Snapshot) -> anyhow::Result<usize> {
    let mut removed = 0;
    // A create the daemon was still working on when we stopped waiting shows
    // up a moment later: look twice.
    for round in 0..2 {
        if round > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let now = Snapshot::take(docker, name).await?;
        let extra: Vec<&String> = now.containers.difference(&before.containers).collect();
        futures::stream::iter(extra)
            .map(|id| docker::remove_container(docker, id))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        removed += now.containers.len() - before.containers.len().min(now.containers.len());
        for v in now.volumes.difference(&before.volumes) {
            docker::remove_volume(docker, v).await?;
        }
        for n in now.networks.difference(&before.networks) {
            docker::remove_network(docker, n).await?;
        }
    }
    Ok(removed)
}

fn bar(mp: &MultiProgress, len: Option<u64>, prefix: &str) -> ProgressBar {
    let pb = match len {
        Some(n) => mp.add(ProgressBar::new(n)),
        None => mp.add(ProgressBar::new_spinner()),
    };
    let style = if len.is_some() {
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
    } else {
        ProgressStyle::with_template("{prefix:>12} {spinner} {msg} ({elapsed})")
    };
    if let Ok(style) = style {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(prefix.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// The image ids and references a plan runs.
#[derive(Debug, Clone)]
struct Images {
    peer: (String, String),
    control: (String, String),
    postgres: (String, String),
    redis: (String, String),
}

impl Images {
    fn of(&self, r: &ImageRef) -> &(String, String) {
        match r {
            ImageRef::Peer(_) => &self.peer,
            ImageRef::Control(_) => &self.control,
            ImageRef::Postgres => &self.postgres,
            ImageRef::Redis => &self.redis,
        }
    }
}

async fn base_image(
    docker: &Docker,
    which: BaseImage,
    pb: &ProgressBar,
) -> anyhow::Result<(String, String)> {
    let reference = offline::ensure(docker, which, pb).await?;
    let id = docker::image_id(docker, &reference)
        .await?
        .with_context(|| format!("image {reference} vanished"))?;
    pb.finish_with_message(reference.clone());
    Ok((reference, id))
}

async fn build_images(
    docker: &Docker,
    config: &Config,
    mp: &MultiProgress,
) -> anyhow::Result<Images> {
    let own = |image: OwnImage, tag: String, prefix: &'static str| {
        let pb = bar(mp, None, prefix);
        async move {
            let id = images::ensure_own_image(docker, image, &tag, &pb).await?;
            pb.finish_with_message(tag.clone());
            Ok::<_, anyhow::Error>((tag, id))
        }
    };
    let pg_bar = bar(mp, None, "postgres");
    let redis_bar = bar(mp, None, "redis");
    let (peer, control, postgres, redis) = tokio::try_join!(
        own(OwnImage::Peer, config.image.clone(), "peer image"),
        own(OwnImage::Control, config.control_image.clone(), "control"),
        base_image(docker, BaseImage::Postgres, &pg_bar),
        base_image(docker, BaseImage::Redis, &redis_bar),
    )?;
    Ok(Images {
        peer,
        control,
        postgres,
        redis,
    })
}

/// Brings one container to its spec. Returns its id and what was done.
async fn converge(
    docker: &Docker,
    spec: &ContainerSpec,
    images: &Images,
) -> anyhow::Result<(String, Action)> {
    let (reference, image_id) = images.of(&spec.image);
    let hash = spec.spec_hash(image_id);
    let existing = docker::inspect_container(docker, &spec.name).await?;
    let mut action = Action::Created;
    if let Some(c) = existing {
        let labels = c
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let id = c.id.clone().unwrap_or_default();
        if labels.get(LABEL_DEPLOYMENT) != spec.labels.get(LABEL_DEPLOYMENT) {
            bail!(
                "container {} exists and does not belong to deployment {:?}; remove it or pick another --name",
                spec.name,
                spec.labels.get(LABEL_DEPLOYMENT).cloned().unwrap_or_default()
            );
        }
        if labels.get(LABEL_SPEC) == Some(&hash) {
            let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
            if running {
                return Ok((id, Action::Kept));
            }
            docker::start_container(docker, &id).await?;
            return Ok((id, Action::Started));
        }
        docker::remove_container(docker, &id).await?;
        action = Action::Recreated;
    }
    let id = docker::create_container(docker, spec, reference, &hash).await?;
    docker::start_container(docker, &id).await?;
    Ok((id, action))
}

/// Converges `specs` with at most `workers` at once, ticking `pb`.
async fn converge_all(
    docker: &Docker,
    specs: &[ContainerSpec],
    images: &Images,
    workers: usize,
    pb: &ProgressBar,
) -> anyhow::Result<Vec<Action>> {
    futures::stream::iter(specs)
        .map(|spec| async move {
            let r = converge(docker, spec, images).await;
            pb.inc(1);
            r.map(|(_, a)| a)
        })
        .buffer_unordered(workers.max(1))
        .try_collect()
        .await
}

/// Published 127.0.0.1 port of `private` on container `name`, waiting for it
/// to appear.
async fn published(docker: &Docker, name: &str, private: u16) -> anyhow::Result<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = docker::inspect_container(docker, name).await? {
            let port = c
                .network_settings
                .and_then(|n| n.ports)
                .and_then(|p| p.get(&format!("{private}/tcp")).cloned().flatten())
                .and_then(|b| b.into_iter().find_map(|b| b.host_port?.parse::<u16>().ok()));
            if let Some(port) = port {
                return Ok(port);
            }
        }
        if Instant::now() > deadline {
            bail!("container {name} publishes no port for {private}/tcp");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Schema and publication on origin, subscriptions on both edges.
async fn init_databases(docker: &Docker, plan: &Plan, config: &Config) -> anyhow::Result<()> {
    let url = |port| {
        context::postgres_url(
            &config.postgres_user,
            &config.postgres_password,
            port,
            &config.postgres_db,
        )
    };
    let wait = Duration::from_secs(180);
    let origin_spec = &plan.databases[0];
    let origin_port = published(docker, &origin_spec.name, context::POSTGRES_PORT).await?;
    let origin = crate::db::connect(&url(origin_port), wait)
        .await
        .context("connect to origin-db")?;
    crate::db::init_origin(&origin).await?;
    let conninfo = plan::origin_conninfo(config);
    for edge in &plan.databases[1..] {
        let port = published(docker, &edge.name, context::POSTGRES_PORT).await?;
        let client = crate::db::connect(&url(port), wait)
            .await
            .with_context(|| format!("connect to {}", edge.component))?;
        crate::db::init_edge(
            &client,
            &plan::subscription_name(&edge.component),
            &conninfo,
        )
        .await
        .with_context(|| format!("set up {}", edge.component))?;
    }
    Ok(())
}

async fn wait_redis(docker: &Docker, name: &str) -> anyhow::Result<()> {
    let port = published(docker, name, context::REDIS_PORT).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match probe::redis_ping(port).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.context("redis did not come up")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Whether the peers in `want` form one connected component of `graph`.
pub fn graph_connects(graph: &wire::topology::GraphSnapshot, want: &BTreeSet<String>) -> bool {
    use petgraph::graphmap::UnGraphMap;
    let mut g: UnGraphMap<&str, ()> = UnGraphMap::new();
    for p in want {
        g.add_node(p.as_str());
    }
    for [a, b] in &graph.edges {
        if want.contains(a) && want.contains(b) {
            g.add_edge(a.as_str(), b.as_str(), ());
        }
    }
    for n in &graph.nodes {
        if want.contains(&n.peer_id) {
            for m in &n.neighbors {
                if want.contains(m) && graph.nodes.iter().any(|x| &x.peer_id == m) {
                    g.add_edge(n.peer_id.as_str(), m.as_str(), ());
                }
            }
        }
    }
    want.is_empty() || petgraph::algo::connected_components(&g) == 1
}

/// Waits until the tracker lists every planned peer and topology's graph of
/// them is connected.
async fn wait_ready(
    docker: &Docker,
    plan: &Plan,
    timeout: Duration,
    pb: &ProgressBar,
) -> anyhow::Result<()> {
    let tracker = published(docker, &plan.control[2].name, context::TRACKER_PORT).await?;
    let topology = published(docker, &plan.control[1].name, context::TOPOLOGY_PORT).await?;
    let client = probe::client()?;
    let want: BTreeSet<String> = plan.peers.iter().map(|p| p.component.clone()).collect();
    let deadline = Instant::now() + timeout;
    let mut missing: Vec<String> = want.iter().cloned().collect();
    let mut polls = 0u32;
    loop {
        polls += 1;
        let peers: anyhow::Result<wire::tracker::PeersResponse> =
            probe::get_json(&client, &format!("http://127.0.0.1:{tracker}/peers")).await;
        if let Ok(peers) = peers {
            let live: BTreeSet<&String> = peers.peers.iter().map(|p| &p.peer_id).collect();
            missing = want.iter().filter(|p| !live.contains(p)).cloned().collect();
            pb.set_position((want.len() - missing.len()) as u64);
            if missing.is_empty() {
                pb.set_message("announced; waiting for a connected graph");
                let graph: anyhow::Result<wire::topology::GraphSnapshot> =
                    probe::get_json(&client, &format!("http://127.0.0.1:{topology}/graph")).await;
                if graph.is_ok_and(|g| graph_connects(&g, &want)) {
                    pb.finish_with_message("all announced, graph connected");
                    return Ok(());
                }
            }
        }
        // A peer that died will never announce: say so at once.
        if polls.is_multiple_of(10) {
            let containers = context::list_containers(docker, &plan.deployment).await?;
            for c in &containers {
                if label(c, LABEL_ROLE) == Some(Role::Peer.as_str()) && !context::is_running(c) {
                    let name = label(c, LABEL_COMPONENT).unwrap_or("?");
                    bail!(
                        "peer {name} exited ({}); see `meshctl logs {name} --name {}`",
                        c.status.clone().unwrap_or_default(),
                        plan.deployment
                    );
                }
            }
        }
        if Instant::now() > deadline {
            missing.truncate(10);
            bail!(
                "not every peer announced within {timeout:?} (missing: {}); see `meshctl status --name {}` and `meshctl logs <peer>`",
                missing.join(", "),
                plan.deployment
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn apply(
    docker: &Docker,
    opts: &UpOptions,
    plan: &Plan,
    mp: &MultiProgress,
    start: Instant,
) -> anyhow::Result<UpReport> {
    let config = &opts.config;
    let images = build_images(docker, config, mp).await?;
    for n in &plan.networks {
        docker::ensure_network(docker, &n.name, &n.labels).await?;
    }
    for v in &plan.volumes {
        docker::ensure_volume(docker, &v.name, &v.labels).await?;
    }
    let mut actions: BTreeMap<Action, usize> = BTreeMap::new();
    let mut count = |list: Vec<Action>| {
        for a in list {
            *actions.entry(a).or_default() += 1;
        }
    };

    let db_bar = bar(mp, Some(plan.databases.len() as u64), "databases");
    count(converge_all(docker, &plan.databases, &images, 3, &db_bar).await?);
    db_bar.finish_with_message("started");

    let control_bar = bar(mp, Some(plan.control.len() as u64), "control");
    // Redis first: the tracker needs it at start.
    count(converge_all(docker, &plan.control[..1], &images, 1, &control_bar).await?);
    wait_redis(docker, &plan.control[0].name).await?;
    count(converge_all(docker, &plan.control[1..], &images, 3, &control_bar).await?);
    control_bar.finish_with_message("started");

    // Peers of an earlier, larger deployment.
    let wanted: BTreeSet<&String> = plan.peers.iter().map(|p| &p.name).collect();
    let existing = context::list_containers(docker, &plan.deployment).await?;
    let extra: Vec<String> = existing
        .iter()
        .filter(|c| label(c, LABEL_ROLE) == Some(Role::Peer.as_str()))
        .filter(|c| {
            !c.names
                .iter()
                .flatten()
                .any(|n| wanted.contains(&n.trim_start_matches('/').to_string()))
        })
        .filter_map(|c| c.id.clone())
        .collect();
    futures::stream::iter(&extra)
        .map(|id| docker::remove_container(docker, id))
        .buffer_unordered(opts.max_workers.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    let peer_bar = bar(mp, Some(plan.peers.len() as u64), "peers");
    let db_init = async {
        let pb = bar(mp, None, "replication");
        pb.set_message("schema, publication, subscriptions");
        let r = init_databases(docker, plan, config).await;
        pb.finish_with_message(if r.is_ok() {
            "origin published, edges subscribed"
        } else {
            "failed"
        });
        r
    };
    let (peer_actions, ()) = tokio::try_join!(
        converge_all(docker, &plan.peers, &images, opts.max_workers, &peer_bar),
        db_init
    )?;
    count(peer_actions);
    peer_bar.finish_with_message("started");
    let started_secs = start.elapsed().as_secs_f64();

    let ready_secs = if opts.no_wait {
        None
    } else {
        let pb = bar(mp, Some(plan.peers.len() as u64), "announced");
        wait_ready(docker, plan, opts.wait_timeout, &pb).await?;
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
        removed: extra.len(),
        started_secs,
        ready_secs,
        endpoints: discover(docker, &plan.deployment).await?,
    })
}

/// `meshctl up`: checks the daemon, builds images, then converges networks,
/// databases, control plane and peers to the plan and waits for the mesh.
/// The config's secrets must be resolved ([`resolve_secrets`]).
pub async fn up(docker: &Docker, opts: &UpOptions, mp: &MultiProgress) -> anyhow::Result<UpReport> {
    let start = Instant::now();
    docker::check_memory_limits(docker).await?;
    let plan = plan::plan(&opts.config)?;
    if let Some(note) = docker::ensure_neighbour_table(&plan.neighbors)? {
        mp.suspend(|| eprintln!("{note}"));
    }
    let before = Arc::new(Snapshot::take(docker, &plan.deployment).await?);
    tokio::select! {
        r = apply(docker, opts, &plan, mp, start) => r,
        _ = tokio::signal::ctrl_c() => {
            mp.suspend(|| eprintln!("interrupted: removing what this run created"));
            let removed = rollback(docker, &plan.deployment, &before).await?;
            bail!("interrupted; removed {removed} containers this run had created")
        }
    }
}
