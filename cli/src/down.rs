//! `down`: removes a deployment's containers, networks and volumes, found by
//! the `meshctl.deployment` label alone. Idempotent; touches nothing else.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use crate::labels::{Role, LABEL_ROLE};
use crate::runtime::{Filter, Runtime};

#[derive(Debug, Clone)]
pub struct DownOptions {
    pub name: String,
    /// Leave the control plane (and the network it sits on) running.
    pub keep_control: bool,
    /// Only containers of this role (legacy down); `None` = all.
    pub only_role: Option<Role>,
    /// Containers removed at once.
    pub max_workers: usize,
    /// First pause before asking again to remove a network the Engine
    /// still counts endpoints on.
    pub network_retry: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DownReport {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

pub async fn down(rt: &impl Runtime, opts: &DownOptions) -> anyhow::Result<DownReport> {
    let mine = Filter::deployment(&opts.name);
    let wanted = |role: Option<&str>| opts.only_role.is_none_or(|r| role == Some(r.as_str()));
    let doomed: Vec<String> = rt
        .list_containers(&mine)
        .await?
        .into_iter()
        .filter(|c| {
            let role = c.label(LABEL_ROLE);
            !(opts.keep_control && role == Some(Role::Control.as_str())) && wanted(role)
        })
        .map(|c| c.id)
        .collect();
    futures::stream::iter(&doomed)
        .map(|id| rt.remove_container(id))
        .buffer_unordered(opts.max_workers.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let mut report = DownReport {
        containers: doomed.len(),
        ..Default::default()
    };
    let mut stuck: Vec<String> = Vec::new();
    for n in rt.list_networks(&mine).await? {
        if !wanted(n.labels.get(LABEL_ROLE).map(String::as_str)) {
            continue;
        }
        if opts.keep_control {
            // The kept control plane still sits on its network.
            let members = rt
                .inspect_network(&n.name)
                .await?
                .map_or(0, |n| n.members.len());
            if members > 0 {
                continue;
            }
        }
        match remove_network(rt, &n.id, opts.network_retry).await {
            Ok(()) => report.networks += 1,
            Err(e) => {
                // Say what holds it: containers still attached (another
                // deployment's, or one attached by hand), or none at all.
                let members = rt
                    .inspect_network(&n.name)
                    .await
                    .ok()
                    .flatten()
                    .map(|i| i.members)
                    .unwrap_or_default();
                let why = if members.is_empty() {
                    "no container is attached, yet the Engine still counts an endpoint on \
                     it, as it sometimes does after containers are killed in quick \
                     succession: run `meshctl down` again later, or restart the Docker \
                     daemon to clear it"
                        .to_string()
                } else {
                    format!(
                        "still attached: {}; detach them (`docker network disconnect`) and \
                         run `meshctl down` again",
                        members.join(", ")
                    )
                };
                stuck.push(format!("{} ({e:#}): {why}", n.name));
            }
        }
    }
    // Volumes go even when a network stays: a volume left behind would hold
    // the old deployment's database and password for the next `up`.
    if opts.only_role.is_none() {
        for v in rt.list_volumes(&mine).await? {
            rt.remove_volume(&v.name).await?;
            report.volumes += 1;
        }
    }
    if !stuck.is_empty() {
        anyhow::bail!(
            "removed {} containers, {} networks and {} volumes, but the Engine kept {}: {}",
            report.containers,
            report.networks,
            report.volumes,
            if stuck.len() == 1 {
                "a network"
            } else {
                "networks"
            },
            stuck.join("; ")
        );
    }
    Ok(report)
}

/// Removes a network, asking again twice (after `pause`, then twice
/// that) while the Engine still counts endpoints of containers just removed.
async fn remove_network(rt: &impl Runtime, id: &str, pause: Duration) -> anyhow::Result<()> {
    let mut wait = pause;
    for _ in 0..2 {
        match rt.remove_network(id).await {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("active endpoints") => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rt.remove_network(id).await?)
}
