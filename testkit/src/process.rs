//! Service binaries run as processes of their own: killed on drop, started
//! with few descriptors, their resident memory read from `/proc`, and the
//! check that idle connections cannot lock a client out.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A child process, killed and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` with `env` (and `RUST_LOG=warn`) under `ulimit -n
/// descriptors`, its output discarded.
pub fn spawn_with_descriptors(bin: &str, descriptors: u32, env: &[(&str, String)]) -> KillOnDrop {
    let child = Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -n {descriptors} && exec \"$0\""),
            bin,
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the binary under sh");
    KillOnDrop(child)
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:").expect("VmRSS in /proc/<pid>/status")
}

async fn healthz(http: &reqwest::Client, port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Waits for `/healthz` on `port`, opens 300 idle connections (half of them
/// a started, never finished request head) and requires `/healthz` to keep
/// answering within 3 s, three times.
pub async fn answers_beside_idle_connections(port: u16) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    assert!(
        crate::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            healthz(&http, port)
        })
        .await,
        "the process did not start"
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
