//! Connection limits of the real `mesh-agent` binary: idle and half-sent
//! connections cannot lock a client out, even with few descriptors.

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

async fn healthz(http: &reqwest::Client, port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
async fn a_peer_answers_beside_300_idle_connections_with_256_descriptors() {
    let port = testkit::free_port();
    // Nothing listens on port 9: the control plane is unreachable, which
    // the agent tolerates; only its own HTTP side is under test.
    let child = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 256 && exec \"$0\"",
            env!("CARGO_BIN_EXE_mesh-agent"),
        ])
        .env("PEER_ID", "peer-1")
        .env("PEER_ADDR", format!("127.0.0.1:{port}"))
        .env("TRACKER_URL", "http://127.0.0.1:9")
        .env("TOPOLOGY_URL", "http://127.0.0.1:9")
        .env("SIGNAL_URL", "ws://127.0.0.1:9/ws")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mesh-agent under sh");
    let _p = Spawned(child);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    assert!(
        testkit::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            healthz(&http, port)
        })
        .await,
        "mesh-agent did not start"
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
}
