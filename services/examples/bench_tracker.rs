//! Tracker throughput and latency against a real redis-server on loopback,
//! beside `redis-benchmark -t set,get` on the same server as the ceiling.
//!
//! ```text
//! cargo run --release -p services --example bench_tracker [-- REQUESTS CONCURRENCY]
//! ```
//!
//! The tracker runs as its binary does (current-thread runtime, own thread);
//! the load comes from keep-alive HTTP clients on another runtime. 160 peers
//! hold 100 segments each (10 songs x 10 segments, spread so each segment
//! has ~8 holders), and 2 of them are edge peers.

use std::process::Command;
use std::time::{Duration, Instant};
use wire::tracker::{Announce, Heartbeat};

const PEERS: usize = 160;
const SEGS_PER_PEER: usize = 100;
const SEGMENTS: usize = 2000;

fn seg(i: usize) -> String {
    format!("song{}-{:05}.ts", i / 10, i % SEGMENTS)
}

fn inventory(peer: usize) -> Vec<String> {
    (0..SEGS_PER_PEER)
        .map(|k| seg((peer * 13 + k * 20) % SEGMENTS))
        .collect()
}

fn heartbeat_body(peer_id: String, segments: Option<Vec<String>>) -> Heartbeat {
    Heartbeat {
        peer_id,
        segments,
        neighbors: None,
    }
}

struct Stats {
    name: &'static str,
    n: usize,
    secs: f64,
    lat_us: Vec<u64>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.n as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        self.lat_us[i] as f64 / 1000.0
    }
    fn print(&self) {
        println!(
            "{:<28} {:>9.0} req/s   p50 {:>6.3} ms   p99 {:>6.3} ms   ({} requests)",
            self.name,
            self.rps(),
            self.pct(0.50),
            self.pct(0.99),
            self.n
        );
    }
}

/// Runs `n` requests over `conc` workers; `make(i)` builds request i.
async fn load<F>(name: &'static str, n: usize, conc: usize, make: F) -> Stats
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = std::sync::Arc::new(make);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return lat;
                }
                let t = Instant::now();
                let resp = make(&client, i).send().await.expect("request");
                let status = resp.status();
                let _ = resp.bytes().await.expect("body");
                assert!(status.is_success(), "{name}: {status}");
                lat.push(t.elapsed().as_micros() as u64);
            }
        }));
    }
    let mut lat_us = Vec::with_capacity(n);
    for t in tasks {
        lat_us.extend(t.await.expect("worker"));
    }
    let secs = start.elapsed().as_secs_f64();
    lat_us.sort_unstable();
    Stats {
        name,
        n,
        secs,
        lat_us,
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(20_000);
    let conc = args.get(1).copied().unwrap_or(32);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let redis = rt.block_on(testkit::RedisServer::start());

    // The tracker, as its binary runs it.
    let config = services::tracker::Config {
        redis_url: redis.url(),
        topology_url: None,
        ttl: Duration::from_secs(120),
        reap_interval: None,
        token: None,
        ..Default::default()
    };
    let addr = testkit::serve_on_own_thread("tracker", move |l| {
        services::tracker::run(config, l, std::future::pending())
    });

    let base = format!("http://{addr}");
    println!("tracker bench: {PEERS} peers x {SEGS_PER_PEER} segments, {n} requests per phase, {conc} connections");
    let results = rt.block_on(async move {
        let b = base.clone();
        let announce_body = move |i: usize| {
            let p = i % PEERS;
            Announce {
                peer_id: format!("peer-{p}"),
                region: if p.is_multiple_of(2) { "eu" } else { "us" }.into(),
                rtt_ms: ((p * 7) % 90) as u32,
                neighbors: vec![
                    format!("peer-{}", (p + 1) % PEERS),
                    format!("peer-{}", (p + PEERS - 1) % PEERS),
                ],
                segments: inventory(p),
                addr: None,
                edge: (p < 2).then(|| format!("edge-db-{p}")),
            }
        };
        let bodies: Vec<Announce> = (0..PEERS).map(announce_body).collect();
        let bodies = std::sync::Arc::new(bodies);
        let bb = bodies.clone();
        let announce = load("announce (100 segments)", n, conc, move |c, i| {
            c.post(format!("{b}/announce")).json(&bb[i % PEERS])
        })
        .await;
        let b = base.clone();
        let heartbeat = load("heartbeat (no changes)", n, conc, move |c, i| {
            c.post(format!("{b}/heartbeat"))
                .json(&heartbeat_body(format!("peer-{}", i % PEERS), None))
        })
        .await;
        let b = base.clone();
        let heartbeat_inv = load("heartbeat (100 segments)", n, conc, move |c, i| {
            let p = i % PEERS;
            c.post(format!("{b}/heartbeat"))
                .json(&heartbeat_body(format!("peer-{p}"), Some(inventory(p))))
        })
        .await;
        let b = base.clone();
        let heartbeat_changed = load("heartbeat (100 segs, 1 new)", n, conc, move |c, i| {
            let p = i % PEERS;
            let mut segs = inventory(p);
            // One segment differs on every request, so the inventory is rewritten.
            segs[0] = format!("fresh-{i}.ts");
            c.post(format!("{b}/heartbeat"))
                .json(&heartbeat_body(format!("peer-{p}"), Some(segs)))
        })
        .await;
        let b = base.clone();
        let lookup = load("lookup (GET /segments)", n, conc, move |c, i| {
            c.get(format!(
                "{b}/segments/{}?region=eu&limit=5",
                seg((i * 7) % SEGMENTS)
            ))
        })
        .await;
        let b = base.clone();
        let peers = load("GET /peers (160 live)", n / 10, conc, move |c, _| {
            c.get(format!("{b}/peers"))
        })
        .await;
        // One sample lookup, to show what is answered.
        let sample: wire::tracker::SegmentLookup =
            reqwest::get(format!("{base}/segments/{}?region=eu", seg(0)))
                .await
                .expect("lookup")
                .json()
                .await
                .expect("json");
        println!(
            "sample lookup: {} holders, {} edge peers",
            sample.holders.len(),
            sample.edges.len()
        );
        vec![
            announce,
            heartbeat,
            heartbeat_inv,
            heartbeat_changed,
            lookup,
            peers,
        ]
    });
    for r in &results {
        r.print();
    }

    // The ceiling: raw Redis SET/GET on the same server, same concurrency.
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &redis.port.to_string(),
            "-t",
            "set,get",
            "-n",
            &(n * 5).to_string(),
            "-c",
            &conc.to_string(),
            "-q",
        ])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let mut ceiling = Vec::new();
    for line in text.lines().filter(|l| l.contains("requests per second")) {
        let line = line.trim();
        println!("redis-benchmark {line}");
        let name = line.split(':').next().unwrap_or("").trim().to_string();
        let rps: f64 = line
            .split(':')
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|r| r.parse().ok())
            .unwrap_or(0.0);
        ceiling.push((name, rps));
    }
    let get = ceiling
        .iter()
        .find(|(n, _)| n == "GET")
        .map(|c| c.1)
        .unwrap_or(0.0);
    let set = ceiling
        .iter()
        .find(|(n, _)| n == "SET")
        .map(|c| c.1)
        .unwrap_or(0.0);
    if get > 0.0 && set > 0.0 {
        println!(
            "ratios: announce/SET {:.3}, heartbeat/SET {:.3}, heartbeat+inventory/SET {:.3}, heartbeat+changed inventory/SET {:.3}, lookup/GET {:.3}",
            results[0].rps() / set,
            results[1].rps() / set,
            results[2].rps() / set,
            results[3].rps() / set,
            results[4].rps() / get
        );
    }
}
