//! Waiting for a deployment to work: published ports, Redis answering, the
//! databases replicating, every peer announced and the graph connected.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::context;
use crate::labels::{Role, LABEL_COMPONENT, LABEL_ROLE};
use crate::plan::{self, Config, ContainerSpec, ControlService, Plan};
use crate::probe;
use crate::progress::Step;
use crate::runtime::{Filter, Runtime};
use wire::contract::ports;

/// The control container of `plan` that runs `service`.
pub fn control(plan: &Plan, service: ControlService) -> anyhow::Result<&ContainerSpec> {
    plan.control_spec(service)
        .with_context(|| format!("the plan has no {} service", service.name()))
}

/// Published 127.0.0.1 port of `private` on container `name`, waiting for it
/// to appear.
pub async fn published(rt: &impl Runtime, name: &str, private: u16) -> anyhow::Result<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = rt
            .inspect_container(name)
            .await?
            .and_then(|c| c.published(private))
        {
            return Ok(port);
        }
        if Instant::now() > deadline {
            bail!("container {name} publishes no port for {private}/tcp");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Schema and publication on origin; on each edge the schema and its
/// subscription, dropping origin's stale replication slot of an edge that
/// lost its data (a recreated container and volume), so it resubscribes.
pub async fn init_databases(rt: &impl Runtime, plan: &Plan, config: &Config) -> anyhow::Result<()> {
    let url = |port| {
        context::postgres_url(
            &config.postgres_user,
            &config.postgres_password,
            port,
            &config.postgres_db,
        )
    };
    let wait = Duration::from_secs(180);
    let origin_spec = plan.origin().context("the plan has no origin database")?;
    let origin_port = published(rt, &origin_spec.name, ports::POSTGRES).await?;
    let origin = crate::db::connect(&url(origin_port), wait)
        .await
        .context("connect to origin-db")?;
    crate::db::init_origin(&origin).await?;
    let conninfo = plan::origin_conninfo(config);
    for edge in plan.edge_databases() {
        let port = published(rt, &edge.name, ports::POSTGRES).await?;
        let client = crate::db::connect(&url(port), wait)
            .await
            .with_context(|| format!("connect to {}", edge.component))?;
        crate::db::subscribe_edge(
            &origin,
            &client,
            &plan::subscription_name(&edge.component),
            &conninfo,
        )
        .await
        .with_context(|| format!("set up {}", edge.component))?;
    }
    Ok(())
}

pub async fn wait_redis(rt: &impl Runtime, name: &str) -> anyhow::Result<()> {
    let port = published(rt, name, ports::REDIS).await?;
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
pub async fn wait_ready(
    rt: &impl Runtime,
    plan: &Plan,
    timeout: Duration,
    progress: &Step,
) -> anyhow::Result<()> {
    let tracker = control(plan, ControlService::Tracker)?;
    let tracker = published(rt, &tracker.name, ControlService::Tracker.port()).await?;
    let topology = control(plan, ControlService::Topology)?;
    let topology = published(rt, &topology.name, ControlService::Topology.port()).await?;
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
            progress.set_position((want.len() - missing.len()) as u64);
            if missing.is_empty() {
                progress.set_message("announced; waiting for a connected graph");
                let graph: anyhow::Result<wire::topology::GraphSnapshot> =
                    probe::get_json(&client, &format!("http://127.0.0.1:{topology}/graph")).await;
                if graph.is_ok_and(|g| graph_connects(&g, &want)) {
                    progress.finish_with_message("all announced, graph connected");
                    return Ok(());
                }
            }
        }
        // A peer that died will never announce: say so at once.
        if polls.is_multiple_of(10) {
            let peers = Filter::deployment(&plan.deployment).and(LABEL_ROLE, Role::Peer.as_str());
            for c in rt.list_containers(&peers).await? {
                if !c.running() {
                    let name = c.label(LABEL_COMPONENT).unwrap_or("?");
                    bail!(
                        "peer {name} exited ({}); see `meshctl logs {name} --name {}`",
                        c.status,
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
