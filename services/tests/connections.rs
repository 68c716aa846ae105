//! Connection limits of the real service binaries: idle and half-sent
//! connections cannot lock a client out, even when the process has few
//! descriptors. Each service runs as its binary, under `ulimit -n 256`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` with at most 256 open descriptors.
fn spawn_limited(bin: &str, env: &[(&str, String)]) -> Spawned {
    let child = Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\"", bin])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the service under sh");
    Spawned(child)
}

async fn healthz(http: &reqwest::Client, port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// 300 idle connections (half of them slowloris heads) against a process
/// with 256 descriptors; `/healthz` must still answer, within 3 s each time.
async fn survives_idle_connections(port: u16) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    assert!(
        testkit::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            healthz(&http, port)
        })
        .await,
        "service did not start"
    );
    let mut idle = Vec::new();
    for i in 0..300 {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)).await else {
            continue;
        };
        if i % 2 == 0 {
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ").await;
        }
        idle.push(c);
    }
    assert!(idle.len() >= 256, "only {} connections opened", idle.len());
    // A new connection has half a second to send its head before it counts
    // as idle and may be closed for room.
    tokio::time::sleep(Duration::from_millis(700)).await;
    for round in 0..3 {
        let t = Instant::now();
        assert!(
            healthz(&http, port).await,
            "round {round}: /healthz did not answer with 300 idle connections open"
        );
        assert!(t.elapsed() < Duration::from_secs(3));
    }
    drop(idle);
}

#[tokio::test]
async fn topology_answers_beside_300_idle_connections_with_256_descriptors() {
    let port = testkit::free_port();
    let _p = spawn_limited(
        env!("CARGO_BIN_EXE_topology"),
        &[("TOPOLOGY_ADDR", format!("127.0.0.1:{port}"))],
    );
    survives_idle_connections(port).await;
}

#[tokio::test]
async fn tracker_answers_beside_300_idle_connections_with_256_descriptors() {
    let redis = testkit::RedisServer::start().await;
    let port = testkit::free_port();
    let _p = spawn_limited(
        env!("CARGO_BIN_EXE_tracker"),
        &[
            ("TRACKER_ADDR", format!("127.0.0.1:{port}")),
            (
                "REDIS_ADDR",
                redis.url().trim_start_matches("redis://").to_string(),
            ),
            ("TOPOLOGY_URL", String::new()),
        ],
    );
    survives_idle_connections(port).await;
}

#[tokio::test]
async fn signalling_answers_beside_300_idle_connections_with_256_descriptors() {
    let port = testkit::free_port();
    let _p = spawn_limited(
        env!("CARGO_BIN_EXE_signalling"),
        &[("SIGNAL_ADDR", format!("127.0.0.1:{port}"))],
    );
    survives_idle_connections(port).await;
}
