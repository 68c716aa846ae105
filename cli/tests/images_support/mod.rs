//! Shared by the offline-image and replication tests: a Docker client, run
//! ids, a guard that removes what a test created (also when it fails), and a
//! few container helpers. Images are kept: they are the cache other tests
//! reuse.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;

/// Docker tests of one binary run one at a time: the daemon is shared.
pub static DOCKER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const TEST_LABEL: &str = "meshctl.test";
const CALL: Duration = Duration::from_secs(60);

pub async fn docker() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults().context("connect to docker")?;
    tokio::time::timeout(CALL, docker.negotiate_version())
        .await
        .context("negotiate the API version: timed out")?
        .context("negotiate the API version")
}

/// A name prefix unique to this run and test.
pub fn run_id(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("mt{}{:x}{}", std::process::id(), nanos, test)
}

/// Removes every container and network labelled `meshctl.test=<run id>` when
/// dropped, on a runtime of its own so that it also runs after a panic.
pub struct Guard {
    pub run: String,
}

impl Guard {
    pub fn new(run: &str) -> Self {
        Guard {
            run: run.to_string(),
        }
    }

    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(TEST_LABEL.to_string(), self.run.clone())])
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let run = self.run.clone();
        let cleaned = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cleanup runtime")?;
            rt.block_on(cleanup(&run))
        })
        .join();
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of test run {}: {e:#}", self.run),
            Err(_) => eprintln!("cleanup of test run {} panicked", self.run),
        }
    }
}

async fn cleanup(run: &str) -> anyhow::Result<()> {
    let docker = docker().await?;
    let filter = HashMap::from([("label", vec![format!("{TEST_LABEL}={run}")])]);
    let containers = tokio::time::timeout(
        CALL,
        docker.list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filter)
                .build(),
        )),
    )
    .await
    .context("list containers: timed out")??;
    for c in containers {
        let Some(id) = c.id else { continue };
        tokio::time::timeout(
            CALL,
            docker.remove_container(
                &id,
                Some(
                    RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            ),
        )
        .await
        .context("remove container: timed out")?
        .with_context(|| format!("remove container {id}"))?;
    }
    let networks = tokio::time::timeout(
        CALL,
        docker.list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filter)
                .build(),
        )),
    )
    .await
    .context("list networks: timed out")??;
    for n in networks {
        let Some(id) = n.id else { continue };
        tokio::time::timeout(CALL, docker.remove_network(&id))
            .await
            .context("remove network: timed out")?
            .with_context(|| format!("remove network {id}"))?;
    }
    Ok(())
}

pub async fn create_network(docker: &Docker, guard: &Guard, name: &str) -> anyhow::Result<()> {
    tokio::time::timeout(
        CALL,
        docker.create_network(NetworkCreateRequest {
            name: name.to_string(),
            labels: Some(guard.labels()),
            ..Default::default()
        }),
    )
    .await
    .context("create network: timed out")?
    .with_context(|| format!("create network {name}"))?;
    Ok(())
}

/// What a test container runs.
#[derive(Default)]
pub struct Spec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// Container ports ("5432/tcp") published on an ephemeral 127.0.0.1 port.
    pub publish: Vec<&'a str>,
    /// Network and aliases on it.
    pub network: Option<(&'a str, Vec<String>)>,
}

/// Creates and starts a container labelled for the guard.
pub async fn run(docker: &Docker, guard: &Guard, spec: Spec<'_>) -> anyhow::Result<()> {
    let port_bindings = spec
        .publish
        .iter()
        .map(|p| {
            (
                p.to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect();
    let networking_config = spec
        .network
        .as_ref()
        .map(|(net, aliases)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                net.to_string(),
                EndpointSettings {
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                },
            )])),
        });
    let body = ContainerCreateBody {
        image: Some(spec.image.to_string()),
        env: Some(spec.env),
        cmd: spec.cmd,
        labels: Some(guard.labels()),
        exposed_ports: Some(spec.publish.iter().map(|p| p.to_string()).collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            network_mode: spec.network.as_ref().map(|(n, _)| n.to_string()),
            ..Default::default()
        }),
        networking_config,
        ..Default::default()
    };
    tokio::time::timeout(
        CALL,
        docker.create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name(spec.name)
                    .build(),
            ),
            body,
        ),
    )
    .await
    .context("create container: timed out")?
    .with_context(|| format!("create container {}", spec.name))?;
    tokio::time::timeout(CALL, docker.start_container(spec.name, None))
        .await
        .context("start container: timed out")?
        .with_context(|| format!("start container {}", spec.name))?;
    Ok(())
}

/// The 127.0.0.1 port the Engine published for `port` ("5432/tcp").
pub async fn host_port(docker: &Docker, name: &str, port: &str) -> anyhow::Result<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = tokio::time::timeout(CALL, docker.inspect_container(name, None))
            .await
            .context("inspect container: timed out")?
            .with_context(|| format!("inspect container {name}"))?;
        let found = info
            .network_settings
            .and_then(|s| s.ports)
            .and_then(|p| p.get(port).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse().ok());
        if let Some(p) = found {
            return Ok(p);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{name} has no host port for {port}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The container's output so far (stdout and stderr), for failure messages.
pub async fn logs(docker: &Docker, name: &str) -> String {
    let mut out = String::new();
    let mut stream = docker.logs(
        name,
        Some(
            LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let drain = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
                Err(e) => {
                    out.push_str(&format!("\n(log stream error: {e})"));
                    break;
                }
            }
        }
    };
    if tokio::time::timeout(CALL, drain).await.is_err() {
        out.push_str("\n(log stream timed out)");
    }
    out
}

/// A random password of letters and digits.
pub fn password() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}
