//! `down`: removes a deployment's containers, networks and volumes, found by
//! the `meshctl.deployment` label alone. Idempotent; touches nothing else.

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
        rt.remove_network(&n.id).await?;
        report.networks += 1;
    }
    if opts.only_role.is_none() {
        for v in rt.list_volumes(&mine).await? {
            rt.remove_volume(&v.name).await?;
            report.volumes += 1;
        }
    }
    Ok(report)
}
