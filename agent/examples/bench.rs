//! Footprint and relay benchmarks of the release `mesh-agent` binary.
//!
//! ```text
//! cargo build --release -p agent --bins
//! cargo run --release -p agent --example bench
//! ```
//!
//! Starts redis-server and the control plane (in this process), then agents
//! as separate processes on 127.0.0.N, and prints:
//! - RSS of one agent idle, with a full cache (64 × 100 KB), and its peak
//!   under 50 concurrent relays on top of the full cache;
//! - time to first byte and throughput of a fresh (uncached) segment over
//!   1, 3 and 6 hops beside a direct fetch from the holder, in one run.
//!
//! To compare builds or settings side by side in one run, name them:
//!
//! ```text
//! MESH_AGENT_VARIANTS='base=/tmp/a/mesh-agent;small=/tmp/b/mesh-agent CACHE_MAX_BYTES=6291456' \
//!   cargo run --release -p agent --example bench
//! ```
//!
//! Each variant is `label=binary` followed by environment settings for the
//! agents; the footprint is measured for each, the hops for the first and
//! the last.
//! `MESH_BENCH_HOPS=0` skips the hops; `MESH_BENCH_SIZE` (bytes, default
//! 1000000) and `MESH_BENCH_TRIALS` (default 15) set the hops' segment and
//! how many fetches per hop count; the hops are also given as p50 / p99 /
//! max with the number of fetches over 40 ms (a delayed ACK's signature).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wire::contract::env;

const BIN: &str = "target/x86_64-unknown-linux-gnu/release/mesh-agent";

/// One build or setting to measure.
struct Variant {
    label: String,
    bin: String,
    env: Vec<(String, String)>,
}

fn variants() -> anyhow::Result<Vec<Variant>> {
    let spec = std::env::var("MESH_AGENT_VARIANTS").unwrap_or_else(|_| format!("release={BIN}"));
    let mut out = Vec::new();
    for v in spec.split(';').map(str::trim).filter(|v| !v.is_empty()) {
        let mut words = v.split_whitespace();
        let first = words.next().unwrap_or_default();
        let (label, bin) = first
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("variant {v:?}: want label=binary [KEY=VALUE...]"))?;
        anyhow::ensure!(
            std::path::Path::new(bin).exists(),
            "{bin} does not exist; build first: cargo build --release -p agent --bins"
        );
        let env = words
            .map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| anyhow::anyhow!("variant {label}: {w:?} is not KEY=VALUE"))
            })
            .collect::<anyhow::Result<_>>()?;
        out.push(Variant {
            label: label.to_string(),
            bin: bin.to_string(),
            env,
        });
    }
    anyhow::ensure!(!out.is_empty(), "MESH_AGENT_VARIANTS names no variant");
    Ok(out)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn status_kib(pid: u32, key: &str) -> u64 {
    testkit::status_kib(pid, key).unwrap_or(0)
}

fn seg(song: &str, seq: u32, n: usize) -> (String, Vec<u8>) {
    use sha2::Digest;
    let d = testkit::bytes(seq as u64 * 7919 + song.len() as u64, n);
    let sha = hex::encode(sha2::Sha256::digest(&d));
    (wire::ids::segment_id(song, seq, &sha), d)
}

struct Control {
    tracker: String,
    topology: String,
    signal: String,
    _redis: testkit::RedisServer,
}

async fn control() -> anyhow::Result<Control> {
    let redis = testkit::RedisServer::start().await;
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let (t, k, s) = (bind().await?, bind().await?, bind().await?);
    let (ta, ka, sa) = (t.local_addr()?, k.local_addr()?, s.local_addr()?);
    let never = std::future::pending::<()>;
    tokio::spawn(services::topology::run(
        services::topology::Config::default(),
        t,
        never(),
    ));
    let tc = services::tracker::Config {
        redis_url: redis.url(),
        topology_url: Some(format!("http://{ta}")),
        ttl: Duration::from_secs(60),
        reap_interval: None,
        token: None,
        ..Default::default()
    };
    tokio::spawn(services::tracker::run(tc, k, never()));
    let sc = services::signalling::Config::default();
    tokio::spawn(services::signalling::run(sc, s, never()));
    Ok(Control {
        tracker: format!("http://{ka}"),
        topology: format!("http://{ta}"),
        signal: format!("ws://{sa}/ws"),
        _redis: redis,
    })
}

struct Agent {
    addr: SocketAddr,
    proc: Proc,
}

/// A line of `n` agent processes on 127.0.0.<base+i>.
fn line(c: &Control, v: &Variant, prefix: &str, base: u8, n: usize) -> anyhow::Result<Vec<Agent>> {
    let addrs: Vec<SocketAddr> = (0..n)
        .map(|i| {
            let ip = format!("127.0.0.{}", base as usize + i);
            format!("{ip}:{}", free_port(&ip)).parse().unwrap()
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        let mut nb = Vec::new();
        if i > 0 {
            nb.push(format!("{prefix}{}={}", i - 1, addrs[i - 1]));
        }
        if i + 1 < n {
            nb.push(format!("{prefix}{}={}", i + 1, addrs[i + 1]));
        }
        let child = Command::new(&v.bin)
            .env_clear()
            .envs(v.env.iter().map(|(k, v)| (k, v)))
            .env(env::PEER_ID, format!("{prefix}{i}"))
            .env(env::PEER_ADDR, addrs[i].to_string())
            .env(env::NEIGHBORS, nb.join(","))
            .env(env::TRACKER_URL, &c.tracker)
            .env(env::TOPOLOGY_URL, &c.topology)
            .env(env::SIGNAL_URL, &c.signal)
            .env(env::HEARTBEAT_INTERVAL_SEC, "5")
            .env(env::RUST_LOG, "warn")
            .stdout(Stdio::null())
            .spawn()?;
        out.push(Agent {
            addr: addrs[i],
            proc: Proc(child),
        });
    }
    Ok(out)
}

async fn wait_until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(f: F) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out");
}

async fn holders(http: &reqwest::Client, c: &Control, id: &str) -> Vec<String> {
    match http
        .get(format!("{}/segments/{id}", c.tracker))
        .send()
        .await
    {
        Ok(r) => r
            .json::<wire::tracker::SegmentLookup>()
            .await
            .map(|l| l.holders.into_iter().map(|h| h.peer_id).collect())
            .unwrap_or_default(),
        Err(_) => vec![],
    }
}

async fn ingest(http: &reqwest::Client, a: &Agent, id: &str, d: &[u8]) -> anyhow::Result<()> {
    let r = http
        .post(format!("http://{}/segments", a.addr))
        .query(&[("id", id)])
        .body(d.to_vec())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "ingest: {}", r.status());
    Ok(())
}

/// (time to first byte, total time) of one GET.
async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    want: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut r = http.get(url).send().await?;
    anyhow::ensure!(r.status() == 200, "GET {url}: {}", r.status());
    let mut got = 0;
    let mut ttfb = None;
    while let Some(c) = r.chunk().await? {
        ttfb.get_or_insert_with(|| t0.elapsed());
        got += c.len();
    }
    anyhow::ensure!(got == want, "short body");
    Ok((ttfb.unwrap_or_default(), t0.elapsed()))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (RSS, anonymous, file-backed) in KiB.
type Kinds = (u64, u64, u64);

struct Footprint {
    idle: Kinds,
    full: Kinds,
    after: Kinds,
    settled: Kinds,
    peak: u64,
    relay_time: Duration,
}

/// A - M - H of variant `v`; M is measured.
async fn footprint(
    c: &Control,
    http: &reqwest::Client,
    v: &Variant,
    base: u8,
) -> anyhow::Result<Footprint> {
    // --- Footprint: A - M - H; M is measured.
    // Ids and peer names of their own per variant, so the tracker offers no
    // agent of an earlier variant.
    let prefix = format!("m{base}-");
    let agents = line(c, v, &prefix, base, 3)?;
    let (a, m, h) = (&agents[0], &agents[1], &agents[2]);
    for x in &agents {
        let url = format!("http://{}/healthz", x.addr);
        wait_until(|| async { http.get(&url).send().await.is_ok() }).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = m.proc.0.id();
    let kinds = |pid| {
        (
            status_kib(pid, "VmRSS:"),
            status_kib(pid, "RssAnon:"),
            status_kib(pid, "RssFile:"),
        )
    };
    let idle = kinds(pid);
    for i in 0..64 {
        let (id, d) = seg(&format!("full{base}"), i, 100_000);
        ingest(http, m, &id, &d).await?;
    }
    let full = kinds(pid);
    let mut ids = Vec::new();
    for i in 0..50 {
        let (id, d) = seg(&format!("relay{base}"), i, 100_000);
        ingest(http, h, &id, &d).await?;
        ids.push(id);
    }
    let last = ids[49].clone();
    wait_until(|| async { !holders(http, c, &last).await.is_empty() }).await;
    let t = Instant::now();
    let gets: Vec<_> = ids
        .iter()
        .map(|id| {
            let http = http.clone();
            let url = format!("http://{}/segments/{id}", a.addr);
            tokio::spawn(async move { timed_get(&http, &url, 100_000).await })
        })
        .collect();
    for g in gets {
        g.await??;
    }
    let relay_time = t.elapsed();
    let after = kinds(pid);
    // Settled: the heartbeat that follows the last cache change (~150 ms)
    // hands freed buffers back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = kinds(pid);
    let peak = status_kib(pid, "VmHWM:");
    let stats: wire::agent::AgentStats = http
        .get(format!("http://{}/stats", m.addr))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        stats.relays_forwarded == 50,
        "{} relays forwarded",
        stats.relays_forwarded
    );
    drop(agents);
    Ok(Footprint {
        idle,
        full,
        after,
        settled,
        peak,
        relay_time,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let variants = variants()?;
    let c = control().await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;

    let mut rows = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        rows.push(footprint(&c, &http, v, 40 + 4 * i as u8).await?);
    }
    let mib = |k: u64| k as f64 / 1024.0;
    println!("## RSS of one agent (release, static): RSS (anonymous + file-backed)");
    println!("| variant | binary | idle | full cache: 64 × 100 KB | right after 50 concurrent relays of 100 KB | 1 s later | peak (VmHWM) | 50 relays took |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (v, f) in variants.iter().zip(&rows) {
        let cell = |(r, a, fb): (u64, u64, u64)| {
            format!("{:.2} MiB ({:.2} + {:.2})", mib(r), mib(a), mib(fb))
        };
        let size = std::fs::metadata(&v.bin).map(|m| m.len()).unwrap_or(0);
        let env: Vec<String> = v.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "| {}{} | {:.2} MB | {} | {} | {} | {} | {:.2} MiB | {} ms |",
            v.label,
            if env.is_empty() {
                String::new()
            } else {
                format!(" ({})", env.join(" "))
            },
            size as f64 / 1e6,
            cell(f.idle),
            cell(f.full),
            cell(f.after),
            cell(f.settled),
            mib(f.peak),
            f.relay_time.as_millis()
        );
    }
    println!();
    if std::env::var("MESH_BENCH_HOPS").is_ok_and(|v| v == "0") {
        return Ok(());
    }
    // Hops for the first and the last variant (before / after), interleaved
    // per trial so both see the same machine.
    let mut picked = vec![&variants[0]];
    if variants.len() > 1 {
        picked.push(&variants[variants.len() - 1]);
    }
    let num = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let size = num("MESH_BENCH_SIZE", 1_000_000);
    let trials = num("MESH_BENCH_TRIALS", 15);
    let mut lines = Vec::new();
    for (i, v) in picked.iter().enumerate() {
        let agents = line(&c, v, &format!("p{i}-"), 80 + 8 * i as u8, 7)?;
        for x in &agents {
            let url = format!("http://{}/healthz", x.addr);
            wait_until(|| async { http.get(&url).send().await.is_ok() }).await;
        }
        lines.push(agents);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // samples[variant][hop index] = (ttfb, total) per trial
    let hop_counts = [0usize, 1, 3, 6];
    let mut samples = vec![vec![(Vec::new(), Vec::new()); hop_counts.len()]; picked.len()];
    let mut seq = 0u32;
    for _ in 0..trials {
        for (h, &hops) in hop_counts.iter().enumerate() {
            for (i, agents) in lines.iter().enumerate() {
                seq += 1;
                let (id, d) = seg(&format!("hops{i}"), seq, size);
                ingest(&http, &agents[6], &id, &d).await?;
                wait_until(|| async { !holders(&http, &c, &id).await.is_empty() }).await;
                let url = format!("http://{}/segments/{id}", agents[6 - hops].addr);
                let (f, t) = timed_get(&http, &url, size).await?;
                samples[i][h].0.push(f);
                samples[i][h].1.push(t);
            }
        }
    }
    println!(
        "## A fresh {} kB segment over k hops (median of {trials}; k = 0 is a direct fetch from the holder's cache)",
        size / 1000
    );
    println!("| variant | hops | time to first byte | total | throughput | TTFB ratio | throughput ratio |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let tails: Vec<Vec<Vec<Duration>>> = samples
        .iter()
        .map(|rows| rows.iter().map(|(_, t)| t.clone()).collect())
        .collect();
    for (v, rows) in picked.iter().zip(samples) {
        let rows: Vec<(Duration, Duration)> = rows
            .into_iter()
            .map(|(f, t)| (median(f), median(t)))
            .collect();
        let (f0, t0) = rows[0];
        for (&hops, (f, t)) in hop_counts.iter().zip(rows) {
            let mbps = size as f64 / t.as_secs_f64() / 1e6;
            let mbps0 = size as f64 / t0.as_secs_f64() / 1e6;
            println!(
                "| {} | {hops} | {:.2} ms | {:.2} ms | {:.0} MB/s | {:.1}× | {:.2} |",
                v.label,
                f.as_secs_f64() * 1e3,
                t.as_secs_f64() * 1e3,
                mbps,
                f.as_secs_f64() / f0.as_secs_f64(),
                mbps / mbps0
            );
        }
    }
    println!();
    println!("## The same fetches' total time: p50 / p99 / max of {trials}");
    println!("| variant | hops | p50 | p99 | max | fetches over 40 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (v, rows) in picked.iter().zip(tails) {
        for (&hops, mut t) in hop_counts.iter().zip(rows) {
            t.sort();
            let at = |q: f64| t[((t.len() as f64 - 1.0) * q).round() as usize];
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "| {} | {hops} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
                v.label,
                ms(at(0.5)),
                ms(at(0.99)),
                ms(at(1.0)),
                t.iter().filter(|d| **d > Duration::from_millis(40)).count()
            );
        }
    }
    Ok(())
}
