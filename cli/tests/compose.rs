//! docker-compose.control.yml brings the control plane up (built from the
//! release binaries, nothing pulled) and down again. Uses Debian's
//! `docker-compose` (v1) or `docker compose` (v2), whichever exists.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn compose_cmd() -> Vec<String> {
    let v1 = Command::new("docker-compose").arg("version").output();
    if v1.is_ok_and(|o| o.status.success()) {
        vec!["docker-compose".into()]
    } else {
        vec!["docker".into(), "compose".into()]
    }
}

struct Project {
    name: String,
}

impl Project {
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let cmd = compose_cmd();
        let out = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["-p", &self.name, "-f", "docker-compose.control.yml"])
            .args(args)
            .current_dir(ROOT)
            .env("MESHCTL_TEST", &self.name)
            .env("PEER_NETWORK", format!("{}-net", self.name))
            .env("REDIS_IMAGE", self.redis_image())
            .env("TOPOLOGY_PORT", "")
            .env("TRACKER_PORT", "")
            .env("SIGNALLING_PORT", "")
            .output()
            .context("run compose")?;
        if !out.status.success() {
            bail!("compose {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    fn redis_image(&self) -> String {
        std::env::var("REDIS_IMAGE").unwrap_or_else(|_| "meshctl/redis:7".into())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_brings_the_control_plane_up_and_down() -> anyhow::Result<()> {
    // The Redis image: the local official one or the offline equivalent.
    let rt = meshctl::runtime::connect().await?;
    let redis = meshctl::offline::ensure(
        &rt,
        meshctl::offline::BaseImage::Redis,
        &meshctl::progress::Step::hidden(),
    )
    .await?;
    std::env::set_var("REDIS_IMAGE", &redis);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .subsec_nanos();
    let p = Project {
        name: format!("ctest{}x{nanos}", std::process::id()),
    };
    p.run(&["up", "-d", "--build"])?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    for (service, port) in [("topology", 8090), ("tracker", 7070), ("signalling", 7080)] {
        let addr = p.run(&["port", service, &port.to_string()])?;
        let url = format!("http://{}/healthz", addr.trim());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => break,
                other if Instant::now() > deadline => bail!("{service} not healthy: {other:?}"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    // The tracker reaches redis: an empty peer list, not an error.
    let addr = p.run(&["port", "tracker", "7070"])?;
    let peers: wire::tracker::PeersResponse = http
        .get(format!("http://{}/peers", addr.trim()))
        .send()
        .await?
        .json()
        .await?;
    assert!(peers.peers.is_empty());
    p.run(&["down", "-v"])?;
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=meshctl.test={}", p.name),
        ])
        .output()?;
    assert!(left.stdout.is_empty(), "containers left after down");
    Ok(())
}
