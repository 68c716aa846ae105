//! `down`: removes a deployment's containers, networks and volumes, found by
//! the `meshctl.deployment` label alone. Idempotent; touches nothing else.

use futures::{StreamExt, TryStreamExt};

use bollard::Docker;

use crate::context::{self, label, Role, LABEL_DEPLOYMENT, LABEL_ROLE};
use crate::docker;

#[derive(Debug, Clone)]
pub struct DownOptions {
    pub name: String,
    /// Leave the control plane (and the network it sits on) running.
    pub keep_control: bool,
    /// Only containers of this role (legacy down); `None` = all.
    pub only_role: Option<Role>,
    /// Containers removed at once.
    pub max_workers: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DownReport {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

pub async fn down(docker: &Docker, opts: &DownOptions) -> anyhow::Result<DownReport> {
    let containers = context::list_containers(docker, &opts.name).await?;
    let doomed: Vec<String> = containers
        .iter()
        .filter(|c| {
            let role = label(c, LABEL_ROLE);
            !(opts.keep_control && role == Some(Role::Control.as_str()))
                && opts.only_role.is_none_or(|r| role == Some(r.as_str()))
        })
        .filter_map(|c| c.id.clone())
        .collect();
    futures::stream::iter(&doomed)
        .map(|id| docker::remove_container(docker, id))
        .buffer_unordered(opts.max_workers.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let mut report = DownReport {
        containers: doomed.len(),
        ..Default::default()
    };
    let sel = [format!("{LABEL_DEPLOYMENT}={}", opts.name)];
    for n in docker::list_networks(docker, &sel).await? {
        let Some(name) = n.name else { continue };
        let role = n
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_ROLE))
            .map(String::as_str);
        if opts.only_role.is_some_and(|r| role != Some(r.as_str())) {
            continue;
        }
        if opts.keep_control {
            // The kept control plane still sits on its network.
            let members = docker::inspect_network(docker, &name)
                .await?
                .and_then(|n| n.containers)
                .map_or(0, |c| c.len());
            if members > 0 {
                continue;
            }
        }
        docker::remove_network(docker, &name).await?;
        report.networks += 1;
    }
    if opts.only_role.is_none() {
        for v in docker::list_volumes(docker, &sel).await? {
            docker::remove_volume(docker, &v.name).await?;
            report.volumes += 1;
        }
    }
    Ok(report)
}
