//! The few Docker Engine calls meshctl makes, in the project's terms.
//!
//! Every call has a timeout; streams (builds, loads, logs) are drained with
//! their errors propagated; a 404 on removal counts as done, so `down` is
//! idempotent. Callers bound their own fan-out.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig, Network,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum, Volume, VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, ImportImageOptionsBuilder,
    InspectContainerOptions, InspectNetworkOptions, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
    StartContainerOptions, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::context::LABEL_DEPLOYMENT;
use crate::plan::ContainerSpec;

/// Time for a quick call (inspect, list, create, connect, remove).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to start a container (the daemon sets up its network namespace).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Time for an image build from an in-memory context.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Time for an image export or load.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1800);

/// Runs one Engine call under `limit`, naming it in errors.
pub async fn call<T>(
    what: impl std::fmt::Display,
    limit: Duration,
    fut: impl Future<Output = Result<T, DockerError>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| anyhow!(e).context(format!("{what}"))),
        Err(_) => bail!("{what}: no answer from the Docker daemon within {limit:?}"),
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<DockerError>(),
        Some(DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        })
    )
}

/// Fails unless the daemon enforces memory limits and memory+swap limits:
/// a 15 MiB limit that is silently ignored would make every figure a lie.
pub async fn check_memory_limits(docker: &Docker) -> anyhow::Result<()> {
    let info = call("read docker info", CALL_TIMEOUT, docker.info()).await?;
    if info.memory_limit != Some(true) {
        bail!("the Docker daemon does not enforce memory limits (docker info: MemoryLimit=false); enable the memory cgroup (e.g. cgroup_enable=memory on the kernel command line)");
    }
    if info.swap_limit != Some(true) {
        bail!("the Docker daemon cannot limit swap (docker info: SwapLimit=false), so a peer's 15 MiB limit would spill into swap; enable swap accounting (swapaccount=1 on the kernel command line)");
    }
    Ok(())
}

/// The kernel's neighbour (ARP) table is one table for all network
/// namespaces, capped at `net.ipv4.neigh.default.gc_thresh3` entries (1024
/// by default). Every container keeps entries for the containers it talks
/// to, so a mesh of 160 peers holds well over 1024 of them at once: past the
/// cap the kernel drops packets to new destinations ("neighbor table
/// overflow") and connections between containers time out.
const NEIGH_SYSCTL: &str = "/proc/sys/net/ipv4/neigh/default";

/// ARP entries a deployment may hold at once over all namespaces: per peer,
/// one for each mesh neighbor, plus about nine around it (its gateway, the
/// tracker, topology, signalling and an edge database in its namespace; its
/// own entry in the host's namespace, behind the published port, and in the
/// tracker's, topology's and signalling's).
pub fn neighbour_entries(neighbors: &std::collections::BTreeMap<String, Vec<String>>) -> u64 {
    neighbors.values().map(|n| n.len() as u64 + 9).sum()
}

/// New `[gc_thresh1, gc_thresh2, gc_thresh3]` so the table holds twice what
/// a deployment needs (other deployments share it), or `None` when the
/// current thresholds already do. Never lowers a threshold.
pub fn raised_neighbour_thresholds(current: [u64; 3], needed: u64) -> Option<[u64; 3]> {
    let want = needed.saturating_mul(2);
    if current[2] >= want {
        return None;
    }
    let hard = want.next_power_of_two().max(current[1]);
    let soft = current[1].max(hard / 2);
    Some([current[0].min(soft), soft, hard])
}

/// Makes sure the host's neighbour table can hold a deployment with these
/// symmetric `neighbors`: raises the thresholds when needed (as root) and
/// answers what it did; fails when the table is too small and cannot be
/// raised. Skipped when the daemon is not on this host (`DOCKER_HOST`).
pub fn ensure_neighbour_table(
    neighbors: &std::collections::BTreeMap<String, Vec<String>>,
) -> anyhow::Result<Option<String>> {
    if std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty() && !h.starts_with("unix://")) {
        return Ok(None);
    }
    let read = |i: usize| -> Option<u64> {
        std::fs::read_to_string(format!("{NEIGH_SYSCTL}/gc_thresh{i}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let (Some(t1), Some(t2), Some(t3)) = (read(1), read(2), read(3)) else {
        return Ok(None);
    };
    let needed = neighbour_entries(neighbors);
    let Some(new) = raised_neighbour_thresholds([t1, t2, t3], needed) else {
        return Ok(None);
    };
    // The hard cap first, so gc_thresh2 never exceeds gc_thresh3.
    let written = [(3, t3, new[2]), (2, t2, new[1]), (1, t1, new[0])]
        .iter()
        .filter(|(_, was, v)| was != v)
        .map(|(i, _, v)| (i, v))
        .try_for_each(|(i, v)| {
            std::fs::write(format!("{NEIGH_SYSCTL}/gc_thresh{i}"), v.to_string())
        });
    match written {
        Ok(()) => Ok(Some(format!(
            "raised the host's neighbour (ARP) table from {t3} to {} entries \
             (net.ipv4.neigh.default.gc_thresh3; gc_thresh2 {t2} -> {}): \
             {} peers need about {needed}",
            new[2],
            new[1],
            neighbors.len()
        ))),
        Err(_) if t3 >= needed => Ok(None),
        Err(e) => bail!(
            "the host's neighbour (ARP) table, shared by all containers, holds at most {t3} \
             entries (net.ipv4.neigh.default.gc_thresh3) and {} peers need about {needed}: \
             past it connections between containers time out. Raising it failed ({e}); as root: \
             sysctl -w net.ipv4.neigh.default.gc_thresh3={} net.ipv4.neigh.default.gc_thresh2={}",
            neighbors.len(),
            new[2],
            new[1]
        ),
    }
}

fn label_filter(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), labels.to_vec())])
}

/// Networks carrying every label in `labels` (`key=value`).
pub async fn list_networks(docker: &Docker, labels: &[String]) -> anyhow::Result<Vec<Network>> {
    let opts = ListNetworksOptionsBuilder::default()
        .filters(&label_filter(labels))
        .build();
    call(
        "list networks",
        CALL_TIMEOUT,
        docker.list_networks(Some(opts)),
    )
    .await
}

/// Volumes carrying every label in `labels`.
pub async fn list_volumes(docker: &Docker, labels: &[String]) -> anyhow::Result<Vec<Volume>> {
    let opts = ListVolumesOptionsBuilder::default()
        .filters(&label_filter(labels))
        .build();
    let r = call(
        "list volumes",
        CALL_TIMEOUT,
        docker.list_volumes(Some(opts)),
    )
    .await?;
    Ok(r.volumes.unwrap_or_default())
}

/// The network `name` with its members, or `None`.
pub async fn inspect_network(
    docker: &Docker,
    name: &str,
) -> anyhow::Result<Option<bollard::models::NetworkInspect>> {
    match call(
        format!("inspect network {name}"),
        CALL_TIMEOUT,
        docker.inspect_network(name, None::<InspectNetworkOptions>),
    )
    .await
    {
        Ok(n) => Ok(Some(n)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates a bridge network unless one of that name exists. Returns whether
/// it was created now. An existing network of another deployment is an error.
pub async fn ensure_network(
    docker: &Docker,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<bool> {
    if let Some(existing) = inspect_network(docker, name).await? {
        let theirs = existing
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_DEPLOYMENT))
            .cloned();
        let ours = labels.get(LABEL_DEPLOYMENT).cloned();
        if theirs != ours {
            bail!(
                "network {name} exists and does not belong to deployment {:?} (it belongs to {}); pick another --name or network name",
                ours.unwrap_or_default(),
                theirs.map_or("no meshctl deployment".to_string(), |t| format!("{t:?}"))
            );
        }
        return Ok(false);
    }
    let req = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        labels: Some(labels.clone().into_iter().collect()),
        ..Default::default()
    };
    call(
        format!("create network {name}"),
        CALL_TIMEOUT,
        docker.create_network(req),
    )
    .await?;
    Ok(true)
}

/// Creates a named volume (idempotent on the daemon's side).
pub async fn ensure_volume(
    docker: &Docker,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<bool> {
    let existing = list_volumes(docker, &[]).await?;
    if existing.iter().any(|v| v.name == name) {
        return Ok(false);
    }
    let req = VolumeCreateRequest {
        name: Some(name.to_string()),
        labels: Some(labels.clone().into_iter().collect()),
        ..Default::default()
    };
    call(
        format!("create volume {name}"),
        CALL_TIMEOUT,
        docker.create_volume(req),
    )
    .await?;
    Ok(true)
}

/// The container `name_or_id`, or `None`.
pub async fn inspect_container(
    docker: &Docker,
    name_or_id: &str,
) -> anyhow::Result<Option<ContainerInspectResponse>> {
    match call(
        format!("inspect container {name_or_id}"),
        CALL_TIMEOUT,
        docker.inspect_container(name_or_id, None::<InspectContainerOptions>),
    )
    .await
    {
        Ok(c) => Ok(Some(c)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The image id of `reference`, or `None` when the daemon lacks it.
pub async fn image_id(docker: &Docker, reference: &str) -> anyhow::Result<Option<String>> {
    match call(
        format!("inspect image {reference}"),
        CALL_TIMEOUT,
        docker.inspect_image(reference),
    )
    .await
    {
        Ok(i) => Ok(i.id),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The labels of image `reference`, or `None` when the daemon lacks it.
pub async fn image_labels(
    docker: &Docker,
    reference: &str,
) -> anyhow::Result<Option<HashMap<String, String>>> {
    match call(
        format!("inspect image {reference}"),
        CALL_TIMEOUT,
        docker.inspect_image(reference),
    )
    .await
    {
        Ok(i) => Ok(Some(i.config.and_then(|c| c.labels).unwrap_or_default())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates (not starts) a container from `spec` running `image`, labeled
/// with `spec_hash`, and joins it to its further networks. Returns its id.
pub async fn create_container(
    docker: &Docker,
    spec: &ContainerSpec,
    image: &str,
    spec_hash: &str,
) -> anyhow::Result<String> {
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.insert(crate::plan::LABEL_SPEC.into(), spec_hash.into());
    let port_bindings = spec
        .publish
        .iter()
        .map(|p| {
            (
                format!("{p}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect();
    let host_config = HostConfig {
        memory: spec.memory,
        // Equal to memory: no swap at all.
        memory_swap: spec.memory,
        nano_cpus: spec.nano_cpus,
        port_bindings: Some(port_bindings),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        binds: Some(
            spec.volumes
                .iter()
                .map(|(v, path)| format!("{v}:{path}"))
                .collect(),
        ),
        ..Default::default()
    };
    let first = spec
        .networks
        .first()
        .context("a container needs at least one network")?;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        hostname: Some(spec.component.clone()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: Some(spec.publish.iter().map(|p| format!("{p}/tcp")).collect()),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                first.network.clone(),
                EndpointSettings {
                    aliases: Some(first.aliases.clone()),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default()
        .name(&spec.name)
        .build();
    let created = call(
        format!("create container {}", spec.name),
        CALL_TIMEOUT,
        docker.create_container(Some(opts), body),
    )
    .await?;
    for extra in &spec.networks[1..] {
        let req = NetworkConnectRequest {
            container: created.id.clone(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(extra.aliases.clone()),
                ..Default::default()
            }),
        };
        call(
            format!("connect {} to {}", spec.name, extra.network),
            CALL_TIMEOUT,
            docker.connect_network(&extra.network, req),
        )
        .await?;
    }
    Ok(created.id)
}

pub async fn start_container(docker: &Docker, id: &str) -> anyhow::Result<()> {
    call(
        format!("start container {id}"),
        START_TIMEOUT,
        docker.start_container(id, None::<StartContainerOptions>),
    )
    .await
}

/// Stops a container (SIGTERM, then SIGKILL after `grace`).
pub async fn stop_container(docker: &Docker, id: &str, grace: Duration) -> anyhow::Result<()> {
    let opts = StopContainerOptionsBuilder::default()
        .t(grace.as_secs() as i32)
        .build();
    match call(
        format!("stop container {id}"),
        START_TIMEOUT + grace,
        docker.stop_container(id, Some(opts)),
    )
    .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        r => r,
    }
}

/// Removes a container by force with its anonymous volumes; gone is fine.
pub async fn remove_container(docker: &Docker, id: &str) -> anyhow::Result<()> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match call(
        format!("remove container {id}"),
        START_TIMEOUT,
        docker.remove_container(id, Some(opts)),
    )
    .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        r => r,
    }
}

/// Removes a network; gone is fine.
pub async fn remove_network(docker: &Docker, name: &str) -> anyhow::Result<()> {
    match call(
        format!("remove network {name}"),
        CALL_TIMEOUT,
        docker.remove_network(name),
    )
    .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        r => r,
    }
}

/// Removes a volume; gone is fine.
pub async fn remove_volume(docker: &Docker, name: &str) -> anyhow::Result<()> {
    match call(
        format!("remove volume {name}"),
        CALL_TIMEOUT,
        docker.remove_volume(name, None::<RemoveVolumeOptions>),
    )
    .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        r => r,
    }
}

/// Builds `tag` from an in-memory tar context (`Dockerfile` at its root),
/// reporting each output line to `on_line`.
pub async fn build_image(
    docker: &Docker,
    tag: &str,
    context_tar: Vec<u8>,
    labels: &HashMap<String, String>,
    mut on_line: impl FnMut(&str),
) -> anyhow::Result<()> {
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .labels(labels)
        .build();
    let stream = docker.build_image(
        opts,
        None,
        Some(bollard::body_full(Bytes::from(context_tar))),
    );
    let drained = async {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("build image {tag}"))?;
            if let Some(detail) = info.error_detail {
                bail!(
                    "build image {tag}: {}",
                    detail.message.unwrap_or_else(|| "unknown error".into())
                );
            }
            if let Some(line) = info
                .stream
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                on_line(line);
            }
        }
        Ok(())
    };
    tokio::time::timeout(BUILD_TIMEOUT, drained)
        .await
        .with_context(|| format!("build image {tag}: timed out after {BUILD_TIMEOUT:?}"))?
}

/// Streams `docker save` of `images` into `out`.
pub async fn export_images(
    docker: &Docker,
    images: &[&str],
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> anyhow::Result<u64> {
    use tokio::io::AsyncWriteExt;
    let stream = docker.export_images(images);
    let copy = async {
        futures::pin_mut!(stream);
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("export images")?;
            n += chunk.len() as u64;
            out.write_all(&chunk)
                .await
                .context("write the image archive")?;
        }
        out.flush().await.context("write the image archive")?;
        Ok::<u64, anyhow::Error>(n)
    };
    tokio::time::timeout(TRANSFER_TIMEOUT, copy)
        .await
        .context("export images: timed out")?
}

/// `docker load` of an archive made by [`export_images`]; returns the
/// daemon's messages (`Loaded image: ...`).
pub async fn load_images(
    docker: &Docker,
    body: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> anyhow::Result<Vec<String>> {
    let opts = ImportImageOptionsBuilder::default().quiet(true).build();
    let stream = docker.import_image(opts, bollard::body_try_stream(body), None);
    let drained = async {
        futures::pin_mut!(stream);
        let mut lines = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.context("load images")?;
            if let Some(detail) = info.error_detail {
                bail!(
                    "load images: {}",
                    detail.message.unwrap_or_else(|| "unknown error".into())
                );
            }
            if let Some(s) = info.stream.or(info.status) {
                let s = s.trim().to_string();
                if !s.is_empty() {
                    lines.push(s);
                }
            }
        }
        Ok(lines)
    };
    tokio::time::timeout(TRANSFER_TIMEOUT, drained)
        .await
        .context("load images: timed out")?
}

/// One sample of a container's resource use.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Bytes charged to the cgroup, page cache excluded (as `docker stats`).
    pub memory: u64,
    /// The enforced limit, bytes.
    pub memory_limit: u64,
    /// CPU use over the daemon's sampling interval, percent of one CPU.
    pub cpu_percent: f64,
}

/// `docker stats --no-stream` for one container.
pub async fn usage(docker: &Docker, id: &str) -> anyhow::Result<Usage> {
    let opts = StatsOptionsBuilder::default().stream(false).build();
    let stream = docker.stats(id, Some(opts));
    let first = async {
        futures::pin_mut!(stream);
        stream.next().await
    };
    let s = tokio::time::timeout(CALL_TIMEOUT, first)
        .await
        .with_context(|| format!("stats of {id}: timed out"))?
        .with_context(|| format!("stats of {id}: no sample"))?
        .with_context(|| format!("stats of {id}"))?;
    let mem = s.memory_stats.unwrap_or_default();
    let cache = mem
        .stats
        .as_ref()
        .and_then(|m| {
            m.get("total_inactive_file")
                .or(m.get("inactive_file"))
                .copied()
        })
        .unwrap_or(0);
    let memory = mem.usage.unwrap_or(0).saturating_sub(cache);
    let cpu = |c: Option<bollard::models::ContainerCpuStats>| {
        let c = c.unwrap_or_default();
        (
            c.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
            c.system_cpu_usage.unwrap_or(0),
            c.online_cpus.unwrap_or(1).max(1),
        )
    };
    let (total, system, cpus) = cpu(s.cpu_stats);
    let (pre_total, pre_system, _) = cpu(s.precpu_stats);
    let cpu_percent = if system > pre_system && pre_system > 0 {
        (total.saturating_sub(pre_total)) as f64 / (system - pre_system) as f64
            * cpus as f64
            * 100.0
    } else {
        0.0
    };
    Ok(Usage {
        memory,
        memory_limit: mem.limit.unwrap_or(0),
        cpu_percent,
    })
}

/// Writes a container's logs (stdout and stderr) to `out` until the end, or
/// forever with `follow`.
pub async fn logs(
    docker: &Docker,
    id: &str,
    follow: bool,
    tail: Option<u64>,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let tail = tail.map_or("all".to_string(), |n| n.to_string());
    let opts = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .tail(&tail)
        .build();
    let stream = docker.logs(id, Some(opts));
    futures::pin_mut!(stream);
    loop {
        // Without follow the whole log must arrive in time; with follow each
        // line may take as long as the container stays quiet.
        let next = if follow {
            stream.next().await
        } else {
            tokio::time::timeout(CALL_TIMEOUT, stream.next())
                .await
                .with_context(|| format!("logs of {id}: timed out"))?
        };
        let Some(item) = next else { break };
        let chunk = item.with_context(|| format!("logs of {id}"))?;
        out.write_all(&chunk.into_bytes())
            .await
            .context("write logs")?;
    }
    out.flush().await.context("write logs")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn neighbour_table_is_raised_only_when_a_deployment_needs_it() {
        // 160 peers of degree 4, as `meshctl up --count 160` plans them.
        let neighbors: BTreeMap<String, Vec<String>> = (1..=160)
            .map(|i| (format!("peer-{i}"), vec!["x".to_string(); 4]))
            .collect();
        let needed = neighbour_entries(&neighbors);
        assert_eq!(needed, 160 * 13);
        // The kernel's defaults overflow (seen as connect timeouts).
        assert_eq!(
            raised_neighbour_thresholds([128, 512, 1024], needed),
            Some([128, 4096, 8192])
        );
        // Enough already: nothing changes, nothing is lowered.
        assert_eq!(
            raised_neighbour_thresholds([1024, 4096, 8192], needed),
            None
        );
        assert_eq!(raised_neighbour_thresholds([128, 512, 1024], 100), None);
        // A soft threshold above the new hard cap's half is kept.
        assert_eq!(
            raised_neighbour_thresholds([128, 6000, 1024], needed),
            Some([128, 6000, 8192])
        );
    }
}
