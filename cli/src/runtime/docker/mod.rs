//! [`Runtime`] over the Docker Engine API (bollard): the only module in the
//! workspace that imports bollard.
//!
//! Every call runs under a timeout ([`call`]); streams (builds, imports,
//! loads, logs) are drained with their errors propagated; a 404 on removal
//! counts as done.

mod calls;
mod images;

use calls::{bounded, call, call_gone_ok, call_opt, classify, drain, label_filters, labels_of};

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, InspectContainerOptions,
    InspectNetworkOptions, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptions, StartContainerOptions, StatsOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::{
    ByteStream, Container, ContainerDetails, ContainerSpec, EngineEvent, EngineInfo, ExecOutput,
    Filter, HelperSpec, Labels, NetworkInfo, Result, Runtime, RuntimeError, Usage, VolumeInfo,
};

/// Time for a quick call (inspect, list, create, connect, remove).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to start, stop, pause or remove a container (the daemon sets up or
/// tears down its network namespace).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Time for an image build from an in-memory context.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Time for an image export, load or root filesystem import.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1800);
/// Time for a command run with `exec`.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

/// The Docker Engine behind a [`Runtime`].
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
}

/// Connects to the local Docker daemon (`DOCKER_HOST` or the default
/// socket) and agrees on an API version (the Engine here speaks 1.41).
pub async fn connect() -> anyhow::Result<DockerRuntime> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| RuntimeError::Unavailable {
        what: "connect to the Docker daemon".into(),
        message: e.to_string(),
    })?;
    let docker = call(
        "negotiate the Docker API version (is dockerd running?)",
        CALL_TIMEOUT,
        docker.negotiate_version(),
    )
    .await?;
    Ok(DockerRuntime { docker })
}

impl DockerRuntime {
    /// Creates (does not start) helper `spec`: in the target's network
    /// namespace, `NET_ADMIN` (plus its extra capabilities, then without the
    /// engine's default set), no restart.
    async fn create_helper(&self, what: &str, spec: &HelperSpec) -> Result<String> {
        let mut caps = vec!["NET_ADMIN".to_string()];
        if spec.host_pids {
            caps.push("SYS_ADMIN".to_string());
        }
        caps.extend(spec.extra_caps.iter().cloned());
        let network_mode = if spec.host_pids {
            "none".to_string()
        } else {
            format!("container:{}", spec.target)
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.cmd.clone()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            host_config: Some(HostConfig {
                network_mode: Some(network_mode),
                pid_mode: spec.host_pids.then(|| "host".to_string()),
                cap_add: Some(caps),
                cap_drop: (!spec.extra_caps.is_empty()).then(|| vec!["ALL".into()]),
                memory: spec.memory_limit,
                memory_swap: spec.memory_limit,
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = call(
            what,
            CALL_TIMEOUT,
            self.docker.create_container(Some(opts), body),
        )
        .await?;
        Ok(created.id)
    }

    /// Starts container `id`, waits for it to exit and reads its output.
    async fn start_wait_collect(&self, what: &str, id: &str) -> Result<ExecOutput> {
        call(
            what,
            START_TIMEOUT,
            self.docker
                .start_container(id, None::<StartContainerOptions>),
        )
        .await?;
        let opts = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let waited = async {
            let stream = self.docker.wait_container(id, Some(opts));
            futures::pin_mut!(stream);
            let mut code = None;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(r) => code = Some(r.status_code),
                    Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => {
                        code = Some(c)
                    }
                    Err(e) => return Err(classify(what.to_string(), e)),
                }
            }
            Ok(code)
        };
        let code = match tokio::time::timeout(EXEC_TIMEOUT, waited).await {
            Err(_) => {
                return Err(RuntimeError::Timeout {
                    what: what.to_string(),
                    limit: EXEC_TIMEOUT,
                })
            }
            Ok(r) => r?,
        };
        let mut output = Vec::new();
        let mut logs = self.logs(id, false, None);
        while let Some(chunk) = logs.next().await {
            output.extend_from_slice(&chunk?);
        }
        Ok(ExecOutput {
            exit_code: code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output).into_owned(),
        })
    }
}

impl Runtime for DockerRuntime {
    async fn info(&self) -> Result<EngineInfo> {
        let info = call("read docker info", CALL_TIMEOUT, self.docker.info()).await?;
        Ok(EngineInfo {
            memory_limit: info.memory_limit == Some(true),
            swap_limit: info.swap_limit == Some(true),
            server_version: info.server_version.unwrap_or_default(),
        })
    }

    async fn list_containers(&self, filter: &Filter) -> Result<Vec<Container>> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filters(filter))
            .build();
        let list = call(
            "list containers",
            CALL_TIMEOUT,
            self.docker.list_containers(Some(opts)),
        )
        .await?;
        Ok(list.into_iter().map(Self::summary).collect())
    }

    async fn inspect_container(&self, name_or_id: &str) -> Result<Option<ContainerDetails>> {
        let c = call_opt(
            format!("inspect container {name_or_id}"),
            CALL_TIMEOUT,
            self.docker
                .inspect_container(name_or_id, None::<InspectContainerOptions>),
        )
        .await?;
        Ok(c.map(Self::details))
    }

    async fn create_container(
        &self,
        spec: &ContainerSpec,
        image: &str,
        labels: &Labels,
    ) -> Result<String> {
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
        let Some(first) = spec.networks.first() else {
            return Err(RuntimeError::Refused {
                what: format!("create container {}", spec.name),
                message: "a container needs at least one network".into(),
            });
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            hostname: Some(spec.component.clone()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels.clone().into_iter().collect()),
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
            self.docker.create_container(Some(opts), body),
        )
        .await?;
        // API 1.41 takes one network at create; the rest join before start.
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
                self.docker.connect_network(&extra.network, req),
            )
            .await?;
        }
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        call(
            format!("start container {id}"),
            START_TIMEOUT,
            self.docker
                .start_container(id, None::<StartContainerOptions>),
        )
        .await
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        match call_gone_ok(
            format!("stop container {id}"),
            START_TIMEOUT + grace,
            self.docker.stop_container(id, Some(opts)),
        )
        .await
        {
            // 304: already stopped.
            Err(RuntimeError::Conflict { .. }) => Ok(()),
            r => r,
        }
    }

    async fn kill_container(&self, id: &str, signal: &str) -> Result<()> {
        let opts = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        call(
            format!("kill container {id}"),
            CALL_TIMEOUT,
            self.docker.kill_container(id, Some(opts)),
        )
        .await
    }

    async fn pause_container(&self, id: &str) -> Result<()> {
        call(
            format!("pause container {id}"),
            START_TIMEOUT,
            self.docker.pause_container(id),
        )
        .await
    }

    async fn unpause_container(&self, id: &str) -> Result<()> {
        call(
            format!("unpause container {id}"),
            START_TIMEOUT,
            self.docker.unpause_container(id),
        )
        .await
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        call_gone_ok(
            format!("remove container {id}"),
            START_TIMEOUT,
            self.docker.remove_container(id, Some(opts)),
        )
        .await
    }

    async fn exec(&self, id: &str, cmd: &[String]) -> Result<ExecOutput> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let what = format!("exec {} in {id}", cmd.join(" "));
        let created = call(
            &what,
            CALL_TIMEOUT,
            self.docker.create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            ),
        )
        .await?;
        let started = call(
            &what,
            CALL_TIMEOUT,
            self.docker.start_exec(&created.id, None),
        )
        .await?;
        let mut output = Vec::new();
        if let StartExecResults::Attached { output: stream, .. } = started {
            drain(&what, EXEC_TIMEOUT, stream, |chunk| {
                output.extend_from_slice(&chunk.into_bytes());
                Ok(())
            })
            .await?;
        }
        let inspected = call(&what, CALL_TIMEOUT, self.docker.inspect_exec(&created.id)).await?;
        Ok(ExecOutput {
            exit_code: inspected.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output).into_owned(),
        })
    }

    async fn run_helper(&self, spec: &HelperSpec) -> Result<ExecOutput> {
        let what = format!("run helper {} in the network of {}", spec.name, spec.target);
        let id = self.create_helper(&what, spec).await?;
        let ran = self.start_wait_collect(&what, &id).await;
        // Removed whatever happened: nothing of a helper outlives its call.
        let removed = self.remove_container(&id).await;
        let out = ran?;
        removed?;
        Ok(out)
    }

    async fn start_helper(&self, spec: &HelperSpec) -> Result<String> {
        let what = format!(
            "start helper {} in the network of {}",
            spec.name, spec.target
        );
        let id = self.create_helper(&what, spec).await?;
        if let Err(e) = self.start_container(&id).await {
            // A helper that cannot start is not left behind.
            let _ = self.remove_container(&id).await;
            return Err(e);
        }
        Ok(id)
    }

    async fn usage(&self, id: &str) -> Result<Usage> {
        let what = format!("stats of {id}");
        // One-shot: the Engine answers at once instead of waiting a second
        // for a second CPU reading; the caller takes two samples for CPU.
        let opts = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let stream = self.docker.stats(id, Some(opts));
        let first = async {
            futures::pin_mut!(stream);
            stream.next().await
        };
        let s = match tokio::time::timeout(CALL_TIMEOUT, first).await {
            Err(_) => {
                return Err(RuntimeError::Timeout {
                    what,
                    limit: CALL_TIMEOUT,
                })
            }
            Ok(None) => {
                return Err(RuntimeError::Unavailable {
                    what,
                    message: "no sample".into(),
                })
            }
            Ok(Some(r)) => r.map_err(|e| classify(what, e))?,
        };
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
            cpu_total_ns: total,
            system_ns: system,
            cpus,
        })
    }

    fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> ByteStream<'_> {
        let what = format!("logs of {id}");
        let tail = tail.map_or("all".to_string(), |n| n.to_string());
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail)
            .build();
        let stream = self
            .docker
            .logs(id, Some(opts))
            .map_ok(|chunk| chunk.into_bytes())
            .map_err(move |e| classify(what.clone(), e));
        if follow {
            return stream.boxed();
        }
        // Without follow the whole log must arrive in time; with follow each
        // line may take as long as the container stays quiet.
        bounded(stream.boxed(), format!("logs of {id}"), CALL_TIMEOUT)
    }

    fn events(
        &self,
        filter: &Filter,
        since: Option<i64>,
        until: Option<i64>,
    ) -> BoxStream<'_, Result<EngineEvent>> {
        let since = since.map(|s| s.to_string());
        let until = until.map(|s| s.to_string());
        let mut opts = EventsOptionsBuilder::default().filters(&label_filters(filter));
        if let Some(s) = &since {
            opts = opts.since(s);
        }
        if let Some(u) = &until {
            opts = opts.until(u);
        }
        self.docker
            .events(Some(opts.build()))
            .map(|item| {
                let e = item.map_err(|e| classify("read engine events".into(), e))?;
                let actor = e.actor.unwrap_or_default();
                Ok(EngineEvent {
                    time_nanos: e
                        .time_nano
                        .or(e.time.map(|t| t.saturating_mul(1_000_000_000)))
                        .unwrap_or(0),
                    kind: e.typ.map(|t| t.to_string()).unwrap_or_default(),
                    action: e.action.unwrap_or_default(),
                    id: actor.id.unwrap_or_default(),
                    attributes: labels_of(actor.attributes),
                })
            })
            .boxed()
    }

    async fn list_networks(&self, filter: &Filter) -> Result<Vec<NetworkInfo>> {
        let opts = ListNetworksOptionsBuilder::default()
            .filters(&label_filters(filter))
            .build();
        let list = call(
            "list networks",
            CALL_TIMEOUT,
            self.docker.list_networks(Some(opts)),
        )
        .await?;
        Ok(list
            .into_iter()
            .filter_map(|n| {
                Some(NetworkInfo {
                    id: n.id.unwrap_or_default(),
                    name: n.name?,
                    labels: labels_of(n.labels),
                    members: Vec::new(),
                })
            })
            .collect())
    }

    async fn inspect_network(&self, name: &str) -> Result<Option<NetworkInfo>> {
        let n = call_opt(
            format!("inspect network {name}"),
            CALL_TIMEOUT,
            self.docker
                .inspect_network(name, None::<InspectNetworkOptions>),
        )
        .await?;
        Ok(n.map(|n| {
            let mut members: Vec<String> = n
                .containers
                .unwrap_or_default()
                .into_values()
                .filter_map(|e| e.name)
                .collect();
            members.sort_by_key(|m| crate::labels::natural_key(m));
            NetworkInfo {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_else(|| name.to_string()),
                labels: labels_of(n.labels),
                members,
            }
        }))
    }

    async fn create_network(&self, name: &str, labels: &Labels) -> Result<()> {
        // Engine 20.10 creates a second network of the same name unless told
        // otherwise, and this API version's request has no CheckDuplicate:
        // look first (a concurrent create can still race).
        if self.inspect_network(name).await?.is_some() {
            return Err(RuntimeError::Conflict {
                what: format!("create network {name}"),
                message: "a network of that name exists".into(),
            });
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
            self.docker.create_network(req),
        )
        .await
        .map(|_| ())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        call_gone_ok(
            format!("remove network {name}"),
            CALL_TIMEOUT,
            self.docker.remove_network(name),
        )
        .await
    }

    async fn list_volumes(&self, filter: &Filter) -> Result<Vec<VolumeInfo>> {
        let opts = ListVolumesOptionsBuilder::default()
            .filters(&label_filters(filter))
            .build();
        let r = call(
            "list volumes",
            CALL_TIMEOUT,
            self.docker.list_volumes(Some(opts)),
        )
        .await?;
        Ok(r.volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect())
    }

    async fn inspect_volume(&self, name: &str) -> Result<Option<VolumeInfo>> {
        let v = call_opt(
            format!("inspect volume {name}"),
            CALL_TIMEOUT,
            self.docker.inspect_volume(name),
        )
        .await?;
        Ok(v.map(|v| VolumeInfo {
            name: v.name,
            labels: v.labels.into_iter().collect(),
        }))
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        call(
            format!("create volume {name}"),
            CALL_TIMEOUT,
            self.docker.create_volume(req),
        )
        .await
        .map(|_| ())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        call_gone_ok(
            format!("remove volume {name}"),
            CALL_TIMEOUT,
            self.docker.remove_volume(name, None::<RemoveVolumeOptions>),
        )
        .await
    }
}
