//! What hostile clients cost each process: resident memory at rest, under
//! 1,000 idle connections, under 100 unauthenticated 1 MB bodies, and after
//! they leave; signalling's memory per WebSocket; the tracker's lookup rate.
//! Every figure is taken for each directory of binaries given, in one run,
//! so builds can be compared side by side (for example the release binaries
//! of two commits):
//!
//! ```text
//! cargo run --release -p services --example bench_hostile -- before=DIR after=DIR
//! ```
//!
//! A directory holds `topology`, `tracker`, `signalling` and `mesh-agent`.
//! Needs `redis-server` on PATH. All traffic stays on loopback, and every
//! loop is bounded.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SECRET: &str = "bench-secret-0123456789";
const IDLE: usize = 1000;
const BODIES: usize = 100;
const BODY: usize = 1 << 20;
const SOCKETS: usize = 1000;
const LOOKUPS: usize = 20_000;
const LOOKUP_CLIENTS: usize = 16;

struct Proc {
    child: Child,
    port: u16,
}

impl Proc {
    fn start(bin: PathBuf, env: &[(&str, String)], port: u16) -> Proc {
        let child = Command::new(&bin)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        Proc { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn rss_kib(&self) -> u64 {
        testkit::status_kib(self.child.id(), "VmRSS:").unwrap_or(0)
    }

    async fn healthy(&self, http: &reqwest::Client, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < within {
            let r = http
                .get(self.url("/healthz"))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                return Some(t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// RSS under `IDLE` idle connections and how fast `/healthz` answers then.
async fn idle(p: &Proc, http: &reqwest::Client) -> (u64, String) {
    let mut conns = Vec::new();
    for _ in 0..IDLE {
        match TcpStream::connect(("127.0.0.1", p.port)).await {
            Ok(c) => conns.push(c),
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = p.rss_kib();
    let health = match p.healthy(http, Duration::from_secs(5)).await {
        Some(d) => format!("{} ms", d.as_millis()),
        None => "no answer in 5 s".into(),
    };
    drop(conns);
    (rss, health)
}

/// Peak RSS while `BODIES` connections each send a 1 MB body without a token.
async fn bodies(p: &Proc, head: &str) -> u64 {
    let mut tasks = Vec::new();
    for _ in 0..BODIES {
        let head = head.to_string();
        let port = p.port;
        tasks.push(tokio::spawn(async move {
            let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            let chunk = vec![b'x'; 64 * 1024];
            let send = async {
                c.write_all(head.as_bytes()).await?;
                for _ in 0..BODY / chunk.len() {
                    c.write_all(&chunk).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), send).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }));
    }
    let mut peak = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(7) && tasks.iter().any(|t| !t.is_finished()) {
        peak = peak.max(p.rss_kib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    peak
}

async fn process_figures(name: &str, p: &Proc, head: &str, http: &reqwest::Client) {
    if p.healthy(http, Duration::from_secs(10)).await.is_none() {
        println!("{name:<26} did not start");
        return;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rest = p.rss_kib();
    let (idle_rss, health) = idle(p, http).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let peak = bodies(p, head).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = p.rss_kib();
    println!(
        "{name:<26} {:>7} {:>9} {:>14} {:>9} {:>7}",
        mib(rest),
        mib(idle_rss),
        health,
        mib(peak),
        mib(after)
    );
}

async fn sockets(p: &Proc, http: &reqwest::Client) -> Option<(f64, f64)> {
    p.healthy(http, Duration::from_secs(10)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = p.rss_kib();
    let mut open = Vec::new();
    for i in 0..SOCKETS {
        let url = format!("ws://127.0.0.1:{}/ws?peer=s-{i}&room=bench", p.port);
        let Ok(mut req) =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
        else {
            break;
        };
        if let Ok(v) = format!("Bearer {SECRET}").parse() {
            req.headers_mut().insert("authorization", v);
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => open.push(ws),
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with = p.rss_kib();
    let n = open.len().max(1) as f64;
    drop(open);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = p.rss_kib();
    Some((
        (with.saturating_sub(before)) as f64 / n,
        after.saturating_sub(before) as f64 / 1024.0,
    ))
}

async fn lookups(p: &Proc, http: &reqwest::Client) -> Option<f64> {
    p.healthy(http, Duration::from_secs(10)).await?;
    for k in 0..160 {
        let segments: Vec<String> = (0..100)
            .map(|s| format!("song{}-{:05}.ts", s % 10, (k * 13 + s * 20) % 2000))
            .collect();
        let body = serde_json::json!({"peer_id": format!("peer-{k}"), "region": "eu", "rtt_ms": 5, "neighbors": [], "segments": segments});
        http.post(p.url("/announce"))
            .bearer_auth(SECRET)
            .json(&body)
            .send()
            .await
            .ok()?;
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..LOOKUP_CLIENTS {
        let http = http.clone();
        let url = p.url("");
        tasks.push(tokio::spawn(async move {
            for i in (c..LOOKUPS).step_by(LOOKUP_CLIENTS) {
                let id = format!("song{}-{:05}.ts", i % 10, i % 2000);
                let _ = http
                    .get(format!("{url}/segments/{id}?region=eu"))
                    .send()
                    .await
                    .map(|r| r.bytes());
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Some(LOOKUPS as f64 / t.elapsed().as_secs_f64())
}

fn main() {
    let dirs: Vec<(String, PathBuf)> = std::env::args()
        .skip(1)
        .map(|a| match a.split_once('=') {
            Some((label, dir)) => (label.to_string(), PathBuf::from(dir)),
            None => (a.clone(), PathBuf::from(a)),
        })
        .collect();
    if dirs.is_empty() {
        eprintln!("usage: bench_hostile LABEL=DIR [LABEL=DIR...]");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        let redis = testkit::RedisServer::start().await;
        let redis_addr = redis.url().trim_start_matches("redis://").to_string();
        println!("RSS in MiB; {IDLE} idle connections; {BODIES} unauthenticated {BODY}-byte bodies");
        println!(
            "{:<26} {:>7} {:>9} {:>14} {:>9} {:>7}",
            "process", "rest", "idle", "healthz (idle)", "bodies", "after"
        );
        for (label, dir) in &dirs {
            let port = testkit::free_port();
            let p = Proc::start(dir.join("topology"), &[("TOPOLOGY_ADDR", format!("127.0.0.1:{port}")), ("MESH_TOKEN", SECRET.into())], port);
            let head = format!("POST /peers HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {BODY}\r\n\r\n");
            process_figures(&format!("topology ({label})"), &p, &head, &http).await;
            drop(p);
            let port = testkit::free_port();
            let p = Proc::start(dir.join("tracker"), &[("TRACKER_ADDR", format!("127.0.0.1:{port}")), ("REDIS_ADDR", redis_addr.clone()), ("TOPOLOGY_URL", String::new()), ("MESH_TOKEN", SECRET.into())], port);
            let head = format!("POST /announce HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {BODY}\r\n\r\n");
            process_figures(&format!("tracker ({label})"), &p, &head, &http).await;
            drop(p);
            let port = testkit::free_port();
            let p = Proc::start(dir.join("mesh-agent"), &[("PEER_ID", "peer-1".into()), ("PEER_ADDR", format!("127.0.0.1:{port}")), ("TRACKER_URL", "http://127.0.0.1:9".into()), ("SIGNAL_URL", "ws://127.0.0.1:9/ws".into()), ("TOPOLOGY_URL", "http://127.0.0.1:9".into()), ("MESH_TOKEN", SECRET.into())], port);
            let head = format!("POST /segments?id=x.ts HTTP/1.1\r\nhost: x\r\ncontent-length: {BODY}\r\n\r\n");
            process_figures(&format!("mesh-agent ({label})"), &p, &head, &http).await;
            drop(p);
        }
        println!();
        println!("{:<26} {:>14} {:>22}", "signalling", "KiB per socket", "MiB kept after close");
        for (label, dir) in &dirs {
            let port = testkit::free_port();
            let p = Proc::start(dir.join("signalling"), &[("SIGNAL_ADDR", format!("127.0.0.1:{port}")), ("MESH_TOKEN", SECRET.into())], port);
            match sockets(&p, &http).await {
                Some((per, kept)) => println!("{:<26} {per:>14.1} {kept:>22.1}", format!("{SOCKETS} sockets ({label})")),
                None => println!("{label}: signalling did not start"),
            }
        }
        println!();
        println!("{:<26} {:>14}", "tracker", "lookups/s");
        let mut rates = Vec::new();
        for (label, dir) in &dirs {
            let port = testkit::free_port();
            let p = Proc::start(dir.join("tracker"), &[("TRACKER_ADDR", format!("127.0.0.1:{port}")), ("REDIS_ADDR", redis_addr.clone()), ("TOPOLOGY_URL", String::new()), ("MESH_TOKEN", SECRET.into())], port);
            if let Some(rate) = lookups(&p, &http).await {
                println!("{:<26} {rate:>14.0}", format!("{LOOKUPS} lookups ({label})"));
                rates.push(rate);
            }
        }
        if let [first, .., last] = rates.as_slice() {
            println!("ratio last/first: {:.3}", last / first);
        }
    });
}
