//! Test harness: a real `redis-server`, the real control plane (topology,
//! tracker, signalling) in-process, and agents in-process, each on its own
//! loopback address 127.0.0.N with outgoing connections bound to it, so the
//! relay's neighbor check compares real source addresses.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use wire::agent::{AgentStats, Inventory};
use wire::contract::env;

/// Deadline of every single network read in the tests.
pub const READ: Duration = Duration::from_secs(10);

/// Polls `check` every 50 ms until it holds, for at most 20 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !testkit::wait_until(Duration::from_secs(20), Duration::from_millis(50), check).await {
        panic!("timed out waiting until {what}");
    }
}

/// A distinct block of 127.0.0.N addresses per test, so tests in one
/// binary can run in parallel without sharing agent addresses.
pub fn ip_block(size: u8) -> u8 {
    static NEXT: AtomicU32 = AtomicU32::new(20);
    let start = NEXT.fetch_add(size as u32, Ordering::SeqCst);
    assert!(start + size as u32 <= 250, "out of loopback addresses");
    start as u8
}

/// A server task started in-process; its shutdown future resolves on drop.
pub use testkit::Service;

/// A real `redis-server` on a free loopback port, without persistence.
pub use testkit::RedisServer as Redis;

/// Redis, topology, tracker and signalling.
pub struct ControlPlane {
    pub redis: Redis,
    pub topology: Service,
    pub tracker: Service,
    pub signalling: Service,
}

async fn start_tracker(addr: SocketAddr, redis_url: String, topology: String) -> Service {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind tracker");
    let config = services::tracker::Config {
        redis_url,
        topology_url: Some(topology),
        ttl: Duration::from_secs(20),
        reap_interval: Some(Duration::from_secs(1)),
        token: None,
        ..Default::default()
    };
    Service::spawn(listener, |l, stop| services::tracker::run(config, l, stop))
}

impl ControlPlane {
    pub async fn start() -> ControlPlane {
        let redis = Redis::start().await;
        let topology = Service::start(|l, stop| {
            services::topology::run(services::topology::Config::default(), l, stop)
        })
        .await;
        let any: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        let tracker = start_tracker(any, redis.url(), topology.url("")).await;
        let config = services::signalling::Config {
            ping_interval: Duration::from_secs(5),
            ..Default::default()
        };
        let signalling = Service::start(|l, stop| services::signalling::run(config, l, stop)).await;
        for s in [&topology, &tracker, &signalling] {
            s.wait_healthy().await;
        }
        ControlPlane {
            redis,
            topology,
            tracker,
            signalling,
        }
    }

    pub fn signal_url(&self) -> String {
        format!("ws://{}/ws", self.signalling.addr)
    }

    /// Stops the tracker, empties Redis (a fresh start), starts the tracker
    /// again on the same address.
    pub async fn restart_tracker_empty(&mut self) {
        self.tracker
            .stop()
            .await
            .expect("tracker ran without error");
        self.redis.restart().await;
        let addr = self.tracker.addr;
        self.tracker = start_tracker(addr, self.redis.url(), self.topology.url("")).await;
    }

    pub async fn stop_signalling(&mut self) {
        self.signalling
            .stop()
            .await
            .expect("signalling ran without error");
    }

    /// The tracker's live peers.
    pub async fn live_peers(&self) -> Vec<String> {
        let Ok(r) = http().get(self.tracker.url("/peers")).send().await else {
            return vec![];
        };
        let Ok(p) = r.json::<wire::tracker::PeersResponse>().await else {
            return vec![];
        };
        p.peers.into_iter().map(|p| p.peer_id).collect()
    }

    /// Live holders of `id` according to the tracker.
    pub async fn holders(&self, id: &str) -> Vec<String> {
        let Ok(r) = http()
            .get(self.tracker.url(&format!("/segments/{id}")))
            .send()
            .await
        else {
            return vec![];
        };
        match r.json::<wire::tracker::SegmentLookup>().await {
            Ok(l) => l.holders.into_iter().map(|c| c.peer_id).collect(),
            Err(_) => vec![],
        }
    }
}

/// A plain client with deadlines.
pub fn http() -> reqwest::Client {
    client_from(None)
}

/// A client whose connections leave from `ip`.
pub fn client_from(ip: Option<std::net::IpAddr>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(READ)
        .timeout(Duration::from_secs(30));
    if let Some(ip) = ip {
        b = b.local_address(ip);
    }
    b.build().expect("client")
}

/// One agent running in-process.
pub struct Agent {
    pub id: String,
    pub addr: SocketAddr,
    pub service: Service,
}

impl Agent {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stats(&self) -> AgentStats {
        let r = http()
            .get(format!("{}/stats", self.url()))
            .send()
            .await
            .expect("GET /stats");
        r.json().await.expect("stats body")
    }

    pub async fn inventory(&self) -> Inventory {
        let r = http()
            .get(format!("{}/inventory", self.url()))
            .send()
            .await
            .expect("GET /inventory");
        r.json().await.expect("inventory body")
    }

    pub async fn metrics(&self) -> String {
        http()
            .get(format!("{}/metrics", self.url()))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// A counter from `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("mesh_agent_{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    pub async fn ingest(&self, id: &str, data: &[u8]) {
        let r = http()
            .post(format!("{}/segments", self.url()))
            .query(&[("id", id)])
            .body(data.to_vec())
            .send()
            .await
            .expect("POST /segments");
        assert_eq!(
            r.status(),
            201,
            "ingest {id}: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

/// Agents wired as a graph; ids `<prefix>1..N`, addresses 127.0.0.<base+i>.
pub struct MeshSpec<'a> {
    pub ids: Vec<String>,
    pub links: Vec<(usize, usize)>,
    pub env: HashMap<usize, Vec<(&'a str, String)>>,
}

impl<'a> MeshSpec<'a> {
    /// A line: 0 - 1 - 2 - ... - (n-1).
    pub fn line(prefix: &str, n: usize) -> Self {
        MeshSpec {
            ids: (1..=n).map(|i| format!("{prefix}{i}")).collect(),
            links: (0..n.saturating_sub(1)).map(|i| (i, i + 1)).collect(),
            env: HashMap::new(),
        }
    }

    pub fn set(mut self, agent: usize, key: &'a str, value: impl Into<String>) -> Self {
        self.env.entry(agent).or_default().push((key, value.into()));
        self
    }
}

/// Starts the agents of `spec` against `cp` and waits until the tracker
/// lists each of them.
pub async fn start_mesh(cp: &ControlPlane, spec: MeshSpec<'_>) -> Vec<Agent> {
    let base = ip_block(spec.ids.len() as u8);
    let mut listeners = Vec::new();
    for i in 0..spec.ids.len() {
        let addr: SocketAddr = format!("127.0.0.{}:0", base as usize + i).parse().unwrap();
        listeners.push(
            tokio::net::TcpListener::bind(addr)
                .await
                .expect("bind agent"),
        );
    }
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut agents = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let neighbors: Vec<String> = spec
            .links
            .iter()
            .filter_map(|&(a, b)| match (a == i, b == i) {
                (true, _) => Some(b),
                (_, true) => Some(a),
                _ => None,
            })
            .map(|j| format!("{}={}", spec.ids[j], addrs[j]))
            .collect();
        let mut vars: HashMap<String, String> = [
            (env::PEER_ID, spec.ids[i].clone()),
            (env::PEER_ADDR, addrs[i].to_string()),
            (env::NEIGHBORS, neighbors.join(",")),
            (env::TRACKER_URL, cp.tracker.url("")),
            (env::TOPOLOGY_URL, cp.topology.url("")),
            (env::SIGNAL_URL, cp.signal_url()),
            (env::PEER_ROOM, "test".into()),
            (env::PEER_REGION, "lab".into()),
            (env::HEARTBEAT_INTERVAL_SEC, "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in spec.env.get(&i).into_iter().flatten() {
            // `KEY+` appends to the list in KEY.
            match k.strip_suffix('+') {
                Some(k) => {
                    let e = vars.entry(k.to_string()).or_default();
                    if !e.is_empty() {
                        e.push(',');
                    }
                    e.push_str(v);
                }
                None => {
                    vars.insert(k.to_string(), v.clone());
                }
            }
        }
        let config = agent::Config::from_env_map(&vars).expect("agent config");
        let service = Service::spawn(listener, |l, stop| agent::run(config, l, stop));
        agents.push(Agent {
            id: spec.ids[i].clone(),
            addr: addrs[i],
            service,
        });
    }
    for a in &agents {
        eventually(&format!("the tracker lists {}", a.id), || async {
            cp.live_peers().await.contains(&a.id)
        })
        .await;
    }
    agents
}

/// `GET` a URL; returns status, headers and the body (or the body error).
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> (u16, reqwest::header::HeaderMap, Result<Vec<u8>, String>) {
    let r = tokio::time::timeout(Duration::from_secs(30), client.get(url).send())
        .await
        .expect("answer in time")
        .expect("request sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| format!("{e:?}"));
    (status, headers, body)
}

pub fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Deterministic pseudo-random bytes.
pub use testkit::bytes;

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A content-addressed segment: (id, bytes).
pub fn segment(song: &str, seq: u32, n: usize) -> (String, Vec<u8>) {
    let data = bytes(seq as u64 + song.len() as u64 * 1000, n);
    (wire::ids::segment_id(song, seq, &sha256_hex(&data)), data)
}

/// A throwaway PostgreSQL database in MESH_TEST_PG_URL, dropped on drop.
pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

impl TestDb {
    pub async fn create(tag: &str) -> TestDb {
        let admin = std::env::var("MESH_TEST_PG_URL")
            .expect("MESH_TEST_PG_URL must point at a PostgreSQL (scripts/test.sh sets it)");
        let name = format!("agent_{tag}_{}_{}", std::process::id(), ip_block(1));
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .expect("connect to MESH_TEST_PG_URL");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("MESH_TEST_PG_URL has no database part"),
        };
        let db = TestDb { url, admin, name };
        let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connect test db");
        tokio::spawn(conn);
        c.batch_execute(include_str!("../../../templates/sql/schema.sql"))
            .await
            .expect("schema");
        db
    }

    pub async fn insert(&self, id: &str, song: &str, seq: i32, data: &[u8]) {
        let (c, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect test db");
        tokio::spawn(conn);
        c.execute(
            "INSERT INTO segments (id, song, seq, sha256, data) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &song, &seq, &sha256_hex(data), &data],
        )
        .await
        .expect("insert segment");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((c, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The `mesh-agent` binary, started with `vars` on 127.0.0.1 at a free
/// port, killed on drop. For what only a separate process can show: its
/// resident memory and descriptors, its log lines.
pub struct Spawned {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl Spawned {
    /// Starts the binary with `vars` (besides PEER_ADDR) and waits until
    /// `/healthz` answers. `stderr` is piped when `logs` (else dropped).
    pub async fn start(vars: &[(&str, String)], logs: bool) -> Spawned {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("port").port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mesh-agent"));
        cmd.env_clear()
            .env(env::PEER_ADDR, addr.to_string())
            .env(env::RUST_LOG, "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(if logs {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            });
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start mesh-agent");
        let s = Spawned { child, addr };
        let url = format!("{}/healthz", s.url());
        eventually("the spawned agent answers /healthz", || {
            let url = url.clone();
            async move {
                http()
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await;
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resident memory from `/proc/<pid>/status` (`VmRSS`), in bytes.
    pub fn rss(&self) -> u64 {
        testkit::rss_kib(self.child.id()) * 1024
    }

    /// Open descriptors, from `/proc/<pid>/fd`.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .expect("read /proc/<pid>/fd")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 connection: the request head, then part of a body.
pub async fn send_partial(addr: SocketAddr, head: &str, body: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::time::timeout(READ, tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    // The peer may answer and close before all of it is written.
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    s
}

/// Reads one HTTP answer (head and a `Content-Length` body) within `wait`:
/// its status and body, or `None` when nothing complete came in time.
pub async fn read_answer(s: &mut tokio::net::TcpStream, wait: Duration) -> Option<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                    return Some((status, body));
                }
            }
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// The `field` of a JSON error body (panics when it is not one).
pub fn error_field(body: &str) -> String {
    let e: wire::ErrorBody = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("not a JSON error body ({e}): {body:?}"));
    e.field.unwrap_or_default()
}
