//! Shared by the offline-image and replication tests: the runtime, run ids,
//! a guard that removes what a test created (also when it fails), and a few
//! container helpers. Images are kept: they are the cache other tests
//! reuse.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use meshctl::labels::Role;
use meshctl::plan::{Attachment, ContainerSpec, ImageRef};
use meshctl::runtime::{ContainerState, DockerRuntime, Filter, Labels, Runtime};

/// Docker tests of one binary run one at a time: the daemon is shared.
pub static DOCKER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const TEST_LABEL: &str = meshctl::labels::LABEL_TEST;
const CALL: Duration = Duration::from_secs(60);

/// The local Docker daemon behind the runtime seam.
pub async fn runtime() -> anyhow::Result<DockerRuntime> {
    meshctl::runtime::connect().await
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

    pub fn labels(&self) -> Labels {
        Labels::from([(TEST_LABEL.to_string(), self.run.clone())])
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
    let rt = runtime().await?;
    let mine = Filter::label(TEST_LABEL, run);
    for c in rt.list_containers(&mine).await? {
        rt.remove_container(&c.id)
            .await
            .with_context(|| format!("remove container {}", c.name))?;
    }
    for n in rt.list_networks(&mine).await? {
        rt.remove_network(&n.id)
            .await
            .with_context(|| format!("remove network {}", n.name))?;
    }
    Ok(())
}

pub async fn create_network(rt: &DockerRuntime, guard: &Guard, name: &str) -> anyhow::Result<()> {
    rt.create_network(name, &guard.labels())
        .await
        .with_context(|| format!("create network {name}"))?;
    Ok(())
}

/// What a test container runs.
#[derive(Default)]
pub struct Spec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// Container ports (tcp) published on an ephemeral 127.0.0.1 port.
    pub publish: Vec<u16>,
    /// Network and aliases on it; without one the container gets a network
    /// of its own (`<name>-net`), labelled for the guard.
    pub network: Option<(&'a str, Vec<String>)>,
}

/// Creates and starts a container labelled for the guard.
pub async fn run(rt: &DockerRuntime, guard: &Guard, spec: Spec<'_>) -> anyhow::Result<()> {
    let labels = guard.labels();
    let attachment = match &spec.network {
        Some((net, aliases)) => Attachment {
            network: net.to_string(),
            aliases: aliases.clone(),
        },
        None => {
            // The runtime joins every container to a network of its spec.
            let net = format!("{}-net", spec.name);
            create_network(rt, guard, &net).await?;
            Attachment {
                network: net,
                aliases: Vec::new(),
            }
        }
    };
    let env: BTreeMap<String, String> = spec
        .env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("env entry {kv:?} is not KEY=value"))
        })
        .collect::<anyhow::Result<_>>()?;
    let container = ContainerSpec {
        name: spec.name.to_string(),
        component: spec.name.to_string(),
        role: Role::Db,
        // Only deploy looks at it: the image run is `spec.image`.
        image: ImageRef::Postgres,
        cmd: spec.cmd.unwrap_or_default(),
        env,
        labels: labels.clone(),
        networks: vec![attachment],
        publish: spec.publish,
        memory: None,
        nano_cpus: None,
        volumes: Vec::new(),
    };
    let id = rt
        .create_container(&container, spec.image, &labels)
        .await
        .with_context(|| format!("create container {}", spec.name))?;
    rt.start_container(&id)
        .await
        .with_context(|| format!("start container {}", spec.name))?;
    Ok(())
}

/// The 127.0.0.1 port the Engine published for container port `port` (tcp).
pub async fn host_port(rt: &DockerRuntime, name: &str, port: u16) -> anyhow::Result<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = rt
            .inspect_container(name)
            .await
            .with_context(|| format!("inspect container {name}"))?
            .with_context(|| format!("container {name} is gone"))?
            .published(port);
        if let Some(p) = found {
            return Ok(p);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{name} has no host port for {port}/tcp");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to `limit` for container `name` to exit; returns its exit code.
/// (The runtime has no `wait`: its state is polled.)
pub async fn wait_exit(rt: &DockerRuntime, name: &str, limit: Duration) -> anyhow::Result<i64> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let c = rt
            .inspect_container(name)
            .await
            .with_context(|| format!("inspect container {name}"))?
            .with_context(|| format!("container {name} is gone"))?;
        if matches!(c.state, ContainerState::Exited | ContainerState::Dead) {
            return c
                .exit_code
                .with_context(|| format!("{name} exited without an exit code"));
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{name} did not exit within {limit:?} (state {})", c.state);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The container's output so far (stdout and stderr), for failure messages.
pub async fn logs(rt: &DockerRuntime, name: &str) -> String {
    let mut out = String::new();
    let mut stream = rt.logs(name, false, None);
    let drain = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.push_str(&String::from_utf8_lossy(&chunk)),
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
