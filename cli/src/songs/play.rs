//! Playing a song through a peer with an unmodified HLS client (ffmpeg),
//! behind a recording proxy that fails over to the peer's neighbours.
//!
//! ```text
//! ffmpeg -i http://127.0.0.1:<proxy>/songs/<song>/playlist.m3u8 -f null -
//!          │  every request
//!          ▼
//!   recording proxy (127.0.0.1:0) ──GET same path──▶ peer (127.0.0.1:<published port>)
//!   notes: id, bytes, X-Mesh-Source, X-Mesh-Hops, X-Mesh-Route, latency, SHA-256,
//!          the peer that answered, failovers
//! ```
//!
//! **Failover.** The proxy knows each peer's failover order: the peer, then
//! its mesh neighbours ([`failover_order`], the order the swarm's listeners
//! use). When an attempt fails (connect error, cut body, timeout, 5xx), the
//! proxy finds the peers' host ports again (a restarted container is
//! published on another port; at most once a second) and asks the next
//! peer of the order for the same path at once, within the request's
//! timeout: each attempt gets at most a third of it, so a peer that hangs
//! leaves time for the next. Later requests start at the peer that last
//! answered, as a player that switched to a backup stream stays there.
//!
//! **Mesh addresses.** The proxy is also a plain HTTP forward proxy for the
//! mesh's own addresses: an absolute-form request `GET
//! http://peer-7:8080/songs/...` (what a client sends to its `http_proxy`)
//! goes to peer-7's published host port, with peer-7's failover order. A
//! peer's master playlist (`/songs/<song>/master.m3u8`) names peers by
//! those addresses, so `ffmpeg` with `http_proxy` pointing here plays it
//! from the host. Any other host is refused: it is not an open proxy.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use wire::contract::ports;
use wire::relay::{self, Source};

use super::figures::{p2p_ratio, percentile};
use super::sha256_hex;
pub use super::swarm::failover_order;

/// What one request through the proxy brought.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fetch {
    /// The path asked for, e.g. `/songs/tone/tone-00003-<sha>.ts`.
    pub path: String,
    /// The stored id it names (`<song>.m3u8` for the playlist).
    pub id: String,
    pub playlist: bool,
    pub status: u16,
    pub bytes: u64,
    pub source: Option<Source>,
    pub hops: Option<u32>,
    pub route: Option<String>,
    /// From the request to the last byte from the peer, failovers included.
    pub latency_ms: f64,
    /// When the request came, from the start of the play.
    pub at_ms: f64,
    pub sha256: Option<String>,
    /// Whether the bytes match the SHA-256 their id carries (content-addressed ids only).
    pub verified: Option<bool>,
    pub error: Option<String>,
    /// The peer the request was for: the played peer, or the host of a mesh
    /// address (`GET http://peer-7:8080/...`).
    pub asked: String,
    /// The peer that answered (the last one asked when none did).
    pub peer: Option<String>,
    /// Moves to the next peer after a failed attempt, in this request.
    pub failovers: u32,
    /// `peer: reason` of each failed attempt, in order.
    pub failed_attempts: Vec<String>,
}

impl Fetch {
    pub fn ok(&self) -> bool {
        self.error.is_none() && (200..300).contains(&self.status) && self.verified != Some(false)
    }
}

/// The id a request path names: the last path segment; `playlist.m3u8`
/// under `/songs/<song>/` is the song's playlist id.
pub fn id_of_path(path: &str) -> (String, bool) {
    let mut parts = path.trim_start_matches('/').split('/');
    if let (Some("songs"), Some(song), Some("playlist.m3u8"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        return (wire::ids::playlist_id(song), true);
    }
    let last = path.rsplit('/').next().unwrap_or(path).to_string();
    let playlist = last.ends_with(".m3u8");
    (last, playlist)
}

/// Finds the running peers' host URLs again (name → `http://127.0.0.1:<port>`).
pub type Rediscover = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<BTreeMap<String, String>>> + Send>>
        + Send
        + Sync,
>;

/// Called with each fetch as it is recorded.
pub type OnFetch = Arc<dyn Fn(&Fetch) + Send + Sync>;

/// Where the proxy sends requests.
#[derive(Clone, Default)]
pub struct Routes {
    /// The peer that origin-form requests (`GET /songs/...`) are for.
    pub peer: String,
    /// Name → host URL of each peer the proxy may use.
    pub urls: BTreeMap<String, String>,
    /// Peer → the peers to move to after a failure (its mesh neighbours),
    /// as [`super::swarm::SwarmOptions::fallbacks`]. Empty: no failover.
    pub fallbacks: BTreeMap<String, Vec<String>>,
    pub rediscover: Option<Rediscover>,
    pub on_fetch: Option<OnFetch>,
}

/// Rediscovery at most this often.
const REDISCOVER_EVERY: Duration = Duration::from_secs(1);
/// Longest one rediscovery may take.
const REDISCOVER_TIMEOUT: Duration = Duration::from_secs(5);

struct ProxyState {
    routes: Routes,
    // std Mutexes: read or replaced, never held across an await.
    urls: Mutex<BTreeMap<String, String>>,
    /// Every peer name the proxy has known: a mesh address of a peer that
    /// died stays a peer of the deployment (answered 502, not 403).
    known: Mutex<BTreeSet<String>>,
    /// Per asked peer: the position in its failover order that last answered.
    current: Mutex<HashMap<String, usize>>,
    last_discovery: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
    timeout: Duration,
    started: Instant,
    log: Mutex<Vec<Fetch>>,
}

/// A local HTTP proxy in front of a peer that records every request and
/// fails over to the peer's neighbours.
pub struct RecordingProxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RecordingProxy {
    /// Starts the proxy on 127.0.0.1 on a free port. `timeout` bounds each
    /// request, failovers included.
    pub async fn start(
        routes: Routes,
        http: reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the recording proxy")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            urls: Mutex::new(routes.urls.clone()),
            known: Mutex::new(
                routes
                    .urls
                    .keys()
                    .chain(routes.fallbacks.keys())
                    .chain(routes.fallbacks.values().flatten())
                    .cloned()
                    .collect(),
            ),
            routes,
            current: Mutex::new(HashMap::new()),
            last_discovery: tokio::sync::Mutex::new(None),
            http,
            timeout,
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // The player's side answers as written too (no Nagle delay on a
        // response head or a short last piece).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            addr,
            state,
            stop: Some(tx),
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the proxy and returns what it recorded, in request order.
    pub async fn finish(mut self) -> Vec<Fetch> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // Connections ffmpeg left open keep graceful shutdown waiting; what
        // matters here is the log, so do not wait long.
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
        let mut log =
            std::mem::take(&mut *self.state.log.lock().unwrap_or_else(|p| p.into_inner()));
        log.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        log
    }
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The peer an absolute-form request names (`http://peer-7:8080/...`), if
/// it is a mesh address of this deployment's peers.
fn mesh_peer(uri: &Uri, known: impl Fn(&str) -> bool) -> Result<String, String> {
    let host = uri.host().unwrap_or("");
    let port = uri.port_u16().unwrap_or(80);
    if uri.scheme_str() == Some("http")
        && port == ports::PEER
        && wire::ids::validate_peer_id(host).is_ok()
        && known(host)
    {
        Ok(host.to_string())
    } else {
        Err(format!(
            "{uri}: only the deployment's peers are proxied (http://<peer-id>:{})",
            ports::PEER
        ))
    }
}

/// Asks the deployment for the peers' host URLs again, unless that was done
/// a moment ago.
async fn refresh(st: &ProxyState) {
    let Some(rediscover) = &st.routes.rediscover else {
        return;
    };
    let mut last = st.last_discovery.lock().await;
    if last.is_some_and(|t| t.elapsed() < REDISCOVER_EVERY) {
        return;
    }
    if let Ok(Ok(urls)) = tokio::time::timeout(REDISCOVER_TIMEOUT, rediscover()).await {
        st.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(urls.keys().cloned());
        *st.urls.lock().unwrap_or_else(|p| p.into_inner()) = urls;
    }
    *last = Some(Instant::now());
}

/// One answer from a peer, read whole.
struct Answer {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

async fn attempt(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Answer, reqwest::Error> {
    let resp = http.get(url).timeout(timeout).send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn short(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(200)
        .collect()
}

async fn forward(State(st): State<Arc<ProxyState>>, method: Method, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let (id, playlist) = id_of_path(&path);
    let at_ms = st.started.elapsed().as_secs_f64() * 1000.0;
    let t0 = Instant::now();
    let mut fetch = Fetch {
        path: path.clone(),
        id: id.clone(),
        playlist,
        status: 0,
        bytes: 0,
        source: None,
        hops: None,
        route: None,
        latency_ms: 0.0,
        at_ms,
        sha256: None,
        verified: None,
        error: None,
        asked: st.routes.peer.clone(),
        peer: None,
        failovers: 0,
        failed_attempts: Vec::new(),
    };
    let record = |fetch: Fetch| {
        if let Some(f) = &st.routes.on_fetch {
            f(&fetch);
        }
        st.log.lock().unwrap_or_else(|p| p.into_inner()).push(fetch);
    };
    if method != Method::GET && method != Method::HEAD {
        fetch.status = 405;
        fetch.error = Some(format!("{method} is not proxied"));
        record(fetch);
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if uri.authority().is_some() {
        let known = |p: &str| {
            st.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(p)
        };
        match mesh_peer(&uri, known) {
            Ok(peer) => fetch.asked = peer,
            Err(e) => {
                fetch.status = 403;
                fetch.error = Some(e.clone());
                record(fetch);
                return (StatusCode::FORBIDDEN, e).into_response();
            }
        }
    }
    let target = uri.path_and_query().map_or(path.as_str(), |p| p.as_str());
    let order = failover_order(&fetch.asked, &st.routes.fallbacks, |_| true);
    let first = st
        .current
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&fetch.asked)
        .copied()
        .unwrap_or(0);
    let deadline = t0 + st.timeout;
    let per_attempt = (st.timeout / 3).max(Duration::from_secs(1));
    let mut answered: Option<(usize, Answer)> = None;
    let mut last_failed: Option<Answer> = None;
    for k in 0..order.len() {
        let at = (first + k) % order.len();
        let name = &order[at];
        if k > 0 {
            fetch.failovers += 1;
        }
        fetch.peer = Some(name.clone());
        let url = |st: &ProxyState| {
            st.urls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(name)
                .filter(|u| !u.is_empty())
                .cloned()
        };
        let base = match url(&st) {
            Some(u) => u,
            None => {
                refresh(&st).await;
                match url(&st) {
                    Some(u) => u,
                    None => {
                        fetch.failed_attempts.push(format!("{name}: not running"));
                        continue;
                    }
                }
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            fetch
                .failed_attempts
                .push(format!("{name}: no time left of {:?}", st.timeout));
            break;
        }
        let full = format!("{}{target}", base.trim_end_matches('/'));
        match attempt(&st.http, &full, per_attempt.min(left)).await {
            Ok(a) if !a.status.is_server_error() => {
                answered = Some((at, a));
                break;
            }
            Ok(a) => {
                fetch.failed_attempts.push(format!(
                    "{name}: {} {}",
                    a.status.as_u16(),
                    short(&a.body)
                ));
                last_failed = Some(a);
            }
            Err(e) => {
                fetch.failed_attempts.push(format!("{name}: {e:#}"));
            }
        }
        // A dead peer's port is gone; a restarted one has a new port.
        refresh(&st).await;
    }
    fetch.latency_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let response = match (answered, last_failed) {
        (Some((at, a)), _) => {
            st.current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(fetch.asked.clone(), at);
            respond(&mut fetch, &id, a)
        }
        (None, Some(a)) => respond(&mut fetch, &id, a),
        (None, None) => {
            fetch.status = 502;
            let why = fetch
                .failed_attempts
                .last()
                .cloned()
                .unwrap_or_else(|| "no peer to ask".into());
            fetch.error = Some(why.clone());
            (StatusCode::BAD_GATEWAY, format!("peer: {why}")).into_response()
        }
    };
    record(fetch);
    response
}

/// Notes what an answer brought and hands it on.
fn respond(fetch: &mut Fetch, id: &str, a: Answer) -> Response {
    let Answer {
        status,
        headers,
        body,
    } = a;
    fetch.status = status.as_u16();
    fetch.bytes = body.len() as u64;
    fetch.source = header(&headers, relay::SOURCE).and_then(Source::parse);
    fetch.hops = header(&headers, relay::HOPS).and_then(|h| h.trim().parse().ok());
    fetch.route = header(&headers, relay::ROUTE).map(str::to_string);
    if status.is_success() {
        let sha = sha256_hex(&body);
        fetch.verified = wire::ids::sha256_of_id(id).map(|want| want == sha);
        fetch.sha256 = Some(sha);
    } else {
        fetch.error = Some(short(&body));
    }
    let mut out = HeaderMap::new();
    for name in [
        reqwest::header::CONTENT_TYPE.as_str(),
        relay::SOURCE,
        relay::HOPS,
        relay::ROUTE,
    ] {
        if let Some(v) = headers
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            out.insert(name, v);
        }
    }
    let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    (code, out, Body::from(body)).into_response()
}

/// Options of [`play`].
#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub song: String,
    /// The peer's name, for the report.
    pub peer: String,
    /// The peer's base URL as reached from here.
    pub peer_url: String,
    /// Per request through the proxy, failovers included.
    pub request_timeout: Duration,
    /// For the whole play.
    pub timeout: Duration,
}

/// What [`play_with`] adds to [`PlayOptions`]: failover, the master
/// playlist, pacing, progress.
#[derive(Clone, Default)]
pub struct PlayExtras {
    /// Name → host URL of the deployment's running peers (the played peer
    /// is added from [`PlayOptions`]).
    pub urls: BTreeMap<String, String>,
    /// Peer → its mesh neighbours, the peers to move to after a failure.
    /// Empty: every request goes to its one peer.
    pub fallbacks: BTreeMap<String, Vec<String>>,
    pub rediscover: Option<Rediscover>,
    /// Play `/songs/<song>/master.m3u8` of the peer by its mesh address,
    /// with ffmpeg's `http_proxy` set to the recording proxy.
    pub master: bool,
    /// ffmpeg reads at this many times real time (`-readrate`); `None`: as
    /// fast as it can.
    pub speed: Option<f64>,
    pub on_fetch: Option<OnFetch>,
}

/// Sums over a play.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PlayTotals {
    pub requests: usize,
    pub segments: usize,
    pub bytes: u64,
    pub cache_bytes: u64,
    pub peer_bytes: u64,
    pub edge_bytes: u64,
    pub failed: usize,
    /// Responses whose bytes did not match their id's SHA-256.
    pub corrupt: usize,
    /// Moves to the next peer after a failed attempt.
    pub failovers: usize,
    /// Answers per peer that gave them.
    pub by_peer: BTreeMap<String, usize>,
    pub p2p_ratio: Option<f64>,
    pub max_hops: Option<u32>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl PlayTotals {
    pub fn of(fetches: &[Fetch]) -> Self {
        let mut t = PlayTotals {
            requests: fetches.len(),
            ..Default::default()
        };
        let mut lat = Vec::new();
        for f in fetches {
            t.segments += usize::from(!f.playlist);
            t.bytes += f.bytes;
            match f.source {
                Some(Source::Cache) => t.cache_bytes += f.bytes,
                Some(Source::Peer) => t.peer_bytes += f.bytes,
                Some(Source::Edge) => t.edge_bytes += f.bytes,
                None => {}
            }
            t.failed += usize::from(!f.ok());
            t.corrupt += usize::from(f.verified == Some(false));
            t.failovers += f.failovers as usize;
            if let (Some(p), true) = (&f.peer, f.ok()) {
                *t.by_peer.entry(p.clone()).or_default() += 1;
            }
            t.max_hops = t.max_hops.max(f.hops);
            if !f.playlist && f.ok() {
                lat.push(f.latency_ms);
            }
        }
        t.p2p_ratio = p2p_ratio(t.cache_bytes, t.peer_bytes, t.edge_bytes);
        t.latency_p50_ms = percentile(&lat, 50.0);
        t.latency_p99_ms = percentile(&lat, 99.0);
        t
    }
}

/// What [`play`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlayReport {
    pub song: String,
    pub peer: String,
    /// The URL a user points their own player at.
    pub url: String,
    /// Whether ffmpeg played the peer's master playlist.
    pub master: bool,
    /// Whether the proxy failed over to neighbours.
    pub failover: bool,
    pub fetches: Vec<Fetch>,
    pub totals: PlayTotals,
    /// Seconds of audio ffmpeg decoded.
    pub decoded_secs: Option<f64>,
    pub ffmpeg_exit: Option<i32>,
    /// What ffmpeg printed at warning level or above.
    pub ffmpeg_messages: Vec<String>,
    pub wall_secs: f64,
}

impl PlayReport {
    /// Played through without a failed request or a word from ffmpeg.
    pub fn clean(&self) -> bool {
        self.ffmpeg_exit == Some(0)
            && self.ffmpeg_messages.is_empty()
            && self.totals.failed == 0
            && self.totals.segments > 0
    }
}

/// Plays `song` through the peer with `ffmpeg -i <playlist URL> -f null -`
/// behind a [`RecordingProxy`], without failover.
pub async fn play(opts: &PlayOptions, http: reqwest::Client) -> anyhow::Result<PlayReport> {
    play_with(opts, &PlayExtras::default(), http).await
}

/// [`play`] with failover to the peers' neighbours, the master playlist,
/// pacing and progress as `extras` say.
pub async fn play_with(
    opts: &PlayOptions,
    extras: &PlayExtras,
    http: reqwest::Client,
) -> anyhow::Result<PlayReport> {
    wire::ids::validate_song(&opts.song)?;
    wire::ids::validate_peer_id(&opts.peer)?;
    let started = Instant::now();
    let mut urls = extras.urls.clone();
    urls.insert(opts.peer.clone(), opts.peer_url.clone());
    let routes = Routes {
        peer: opts.peer.clone(),
        urls,
        fallbacks: extras.fallbacks.clone(),
        rediscover: extras.rediscover.clone(),
        on_fetch: extras.on_fetch.clone(),
    };
    let proxy = RecordingProxy::start(routes, http, opts.request_timeout).await?;
    let file = if extras.master {
        "master.m3u8"
    } else {
        "playlist.m3u8"
    };
    let path = format!("/songs/{}/{file}", opts.song);
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "warning", "-nostats"])
        .args(["-progress", "pipe:1"]);
    if let Some(speed) = extras.speed.filter(|s| s.is_finite() && *s > 0.0) {
        cmd.arg("-readrate").arg(speed.to_string());
    }
    // ffmpeg reads only the lower-case variables.
    cmd.env_remove("no_proxy");
    if extras.master {
        // The master playlist names peers by their mesh addresses; the
        // proxy maps them to their published ports.
        cmd.env("http_proxy", format!("http://{}", proxy.addr));
        // Through a proxy, ffmpeg's HLS keep-alive tries to reuse one
        // connection for every variant's host and warns when it cannot.
        cmd.args(["-http_persistent", "0"]);
        cmd.arg("-i")
            .arg(format!("http://{}:{}{path}", opts.peer, ports::PEER));
    } else {
        cmd.env_remove("http_proxy");
        cmd.arg("-i").arg(proxy.url(&path));
    }
    let child = cmd
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("start ffmpeg (is it installed?)")?;
    let out = tokio::time::timeout(opts.timeout, child.wait_with_output()).await;
    let fetches = proxy.finish().await;
    let out = out
        .with_context(|| format!("ffmpeg did not finish within {:?}", opts.timeout))?
        .context("run ffmpeg")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let decoded_secs = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("out_time_us="))
        .filter_map(|v| v.trim().parse::<i64>().ok())
        .next_back()
        .map(|us| us.max(0) as f64 / 1e6);
    let ffmpeg_messages = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    Ok(PlayReport {
        song: opts.song.clone(),
        peer: opts.peer.clone(),
        url: format!("{}{path}", opts.peer_url.trim_end_matches('/')),
        master: extras.master,
        failover: !extras.fallbacks.is_empty(),
        totals: PlayTotals::of(&fetches),
        fetches,
        decoded_secs,
        ffmpeg_exit: out.status.code(),
        ffmpeg_messages,
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_paths() {
        assert_eq!(
            id_of_path("/songs/tone/playlist.m3u8"),
            ("tone.m3u8".to_string(), true)
        );
        let sha = "a".repeat(64);
        let seg = format!("tone-00001-{sha}.ts");
        assert_eq!(
            id_of_path(&format!("/songs/tone/{seg}")),
            (seg.clone(), false)
        );
        assert_eq!(id_of_path(&format!("/segments/{seg}")), (seg, false));
    }

    #[test]
    fn totals_count_sources_and_failures() {
        let f = |bytes, source, verified: Option<bool>, status| Fetch {
            path: "/songs/t/x.ts".into(),
            id: "x.ts".into(),
            playlist: false,
            status,
            bytes,
            source,
            hops: Some(2),
            route: None,
            latency_ms: bytes as f64,
            at_ms: 0.0,
            sha256: None,
            verified,
            error: None,
            asked: "p1".into(),
            peer: Some(if status == 502 { "p2" } else { "p1" }.into()),
            failovers: u32::from(status == 502),
            failed_attempts: Vec::new(),
        };
        let t = PlayTotals::of(&[
            f(10, Some(Source::Cache), Some(true), 200),
            f(30, Some(Source::Peer), Some(true), 200),
            f(60, Some(Source::Edge), Some(true), 200),
            f(5, Some(Source::Peer), Some(false), 200),
            f(0, None, None, 502),
        ]);
        assert_eq!(t.segments, 5);
        assert_eq!(t.bytes, 105);
        assert_eq!(t.failed, 2);
        assert_eq!(t.corrupt, 1);
        assert_eq!(t.p2p_ratio, Some(45.0 / 105.0));
        assert_eq!(t.latency_p50_ms, Some(30.0));
        assert_eq!(t.max_hops, Some(2));
        assert_eq!(t.failovers, 1);
        // Only good answers count for their peer.
        assert_eq!(t.by_peer, BTreeMap::from([("p1".to_string(), 3)]));
    }

    /// A stand-in peer on loopback: answers every GET with `status` and
    /// `X-Mesh-Source: cache`, its name as the body; counts requests.
    async fn fake_peer(
        name: &'static str,
        status: u16,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                (code, [(relay::SOURCE, "cache")], name).into_response()
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (format!("http://{addr}"), hits)
    }

    /// A loopback URL that refuses connections: a bound socket that does
    /// not listen, so no other test can take its port while it lives.
    struct Dead(#[allow(dead_code)] tokio::net::TcpSocket, String);

    async fn dead_url() -> Dead {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = s.local_addr().unwrap();
        Dead(s, format!("http://{addr}"))
    }

    fn routes(peer: &str, urls: &[(&str, &str)], fallbacks: &[(&str, &[&str])]) -> Routes {
        Routes {
            peer: peer.into(),
            urls: urls
                .iter()
                .map(|(n, u)| (n.to_string(), u.to_string()))
                .collect(),
            fallbacks: fallbacks
                .iter()
                .map(|(p, fs)| (p.to_string(), fs.iter().map(|f| f.to_string()).collect()))
                .collect(),
            ..Default::default()
        }
    }

    async fn get(url: &str) -> (u16, String) {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    #[test]
    fn failover_order_is_the_peer_then_its_neighbours_once() {
        let fb = BTreeMap::from([(
            "peer-1".to_string(),
            vec![
                "peer-3".into(),
                "peer-1".into(),
                "peer-2".into(),
                "peer-3".into(),
            ],
        )]);
        assert_eq!(
            failover_order("peer-1", &fb, |_| true),
            ["peer-1", "peer-3", "peer-2"]
        );
        assert_eq!(
            failover_order("peer-1", &fb, |p| p != "peer-3"),
            ["peer-1", "peer-2"]
        );
        assert_eq!(failover_order("peer-9", &fb, |_| true), ["peer-9"]);
    }

    #[tokio::test]
    async fn the_proxy_moves_along_the_order_and_stays_where_it_got_an_answer() {
        let dead = dead_url().await;
        let (sick, sick_hits) = fake_peer("p2", 503).await;
        let (good, good_hits) = fake_peer("p3", 200).await;
        let (spare, spare_hits) = fake_peer("p4", 200).await;
        let r = routes(
            "p1",
            &[
                ("p1", &dead.1),
                ("p2", &sick),
                ("p3", &good),
                ("p4", &spare),
            ],
            &[("p1", &["p2", "p3", "p4"])],
        );
        let proxy = RecordingProxy::start(
            r,
            crate::songs::http_client().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        // p1 refuses, p2 answers 503, p3 answers.
        assert_eq!(get(&proxy.url("/songs/t/a.ts")).await, (200, "p3".into()));
        // The next request starts at p3.
        assert_eq!(get(&proxy.url("/songs/t/b.ts")).await, (200, "p3".into()));
        let log = proxy.finish().await;
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].peer.as_deref(), Some("p3"));
        assert_eq!(log[0].asked, "p1");
        assert_eq!(log[0].failovers, 2);
        assert_eq!(
            log[0].failed_attempts.len(),
            2,
            "{:?}",
            log[0].failed_attempts
        );
        assert!(log[0].failed_attempts[0].starts_with("p1: "));
        assert!(log[0].failed_attempts[1].starts_with("p2: 503"));
        assert!(log[0].ok());
        assert_eq!((log[1].peer.as_deref(), log[1].failovers), (Some("p3"), 0));
        use std::sync::atomic::Ordering::SeqCst;
        assert_eq!(
            (
                sick_hits.load(SeqCst),
                good_hits.load(SeqCst),
                spare_hits.load(SeqCst)
            ),
            (1, 2, 0)
        );
        let t = PlayTotals::of(&log);
        assert_eq!((t.failovers, t.failed), (2, 0));
    }

    #[tokio::test]
    async fn without_fallbacks_a_failure_is_handed_to_the_player() {
        let (sick, _) = fake_peer("p2", 503).await;
        let proxy = RecordingProxy::start(
            routes("p2", &[("p2", &sick)], &[]),
            crate::songs::http_client().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(get(&proxy.url("/songs/t/a.ts")).await.0, 503);
        let log = proxy.finish().await;
        assert_eq!((log[0].failovers, log[0].ok()), (0, false));
        assert_eq!(PlayTotals::of(&log).failed, 1);
    }

    #[tokio::test]
    async fn a_dead_peer_is_found_again_at_its_new_port() {
        let dead = dead_url().await;
        let (moved, _) = fake_peer("p1", 200).await;
        let mut r = routes("p1", &[("p1", &dead.1)], &[]);
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = asked.clone();
        r.rediscover = Some(Arc::new(move || {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let urls = BTreeMap::from([("p1".to_string(), moved.clone())]);
            Box::pin(async move { Ok(urls) })
        }));
        let proxy = RecordingProxy::start(
            r,
            crate::songs::http_client().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        // The first attempt fails; the rediscovered port answers the next
        // request (the order has one peer, so no failover within it).
        assert_eq!(get(&proxy.url("/x.ts")).await.0, 502);
        assert_eq!(get(&proxy.url("/x.ts")).await, (200, "p1".into()));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        proxy.finish().await;
    }

    #[tokio::test]
    async fn a_peer_gone_from_the_deployment_is_still_a_peer_that_does_not_answer() {
        let dead = dead_url().await;
        let mut r = routes("peer-1", &[("peer-1", &dead.1)], &[]);
        r.rediscover = Some(Arc::new(|| Box::pin(async { Ok(BTreeMap::new()) })));
        let proxy = RecordingProxy::start(
            r,
            crate::songs::http_client().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let ask = "GET http://peer-1:8080/x.ts HTTP/1.1\r\nHost: peer-1:8080\r\nConnection: close\r\n\r\n";
        for _ in 0..2 {
            let a = raw(proxy.addr, ask).await;
            assert!(a.starts_with("HTTP/1.1 502"), "{a}");
        }
        let log = proxy.finish().await;
        assert_eq!(log[1].failed_attempts, ["peer-1: not running"]);
    }

    /// Sends `request` as raw HTTP/1.1 to `addr`; returns the status line.
    async fn raw(addr: SocketAddr, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn mesh_addresses_are_proxied_to_their_peer_and_nothing_else_is() {
        let dead = dead_url().await;
        let (p2, _) = fake_peer("p2", 200).await;
        let (p3, _) = fake_peer("p3", 200).await;
        let proxy = RecordingProxy::start(
            routes(
                "peer-1",
                &[("peer-1", &dead.1), ("peer-2", &p2), ("peer-3", &p3)],
                &[("peer-2", &["peer-1", "peer-3"]), ("peer-1", &["peer-2"])],
            ),
            crate::songs::http_client().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let ask = |host: &str, path: &str| {
            format!("GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        };
        let a = raw(proxy.addr, &ask("peer-2:8080", "/songs/t/playlist.m3u8")).await;
        assert!(a.starts_with("HTTP/1.1 200") && a.ends_with("p2"), "{a}");
        // peer-1 is dead: its mesh address fails over to peer-2.
        let a = raw(proxy.addr, &ask("peer-1:8080", "/songs/t/a.ts")).await;
        assert!(a.starts_with("HTTP/1.1 200") && a.ends_with("p2"), "{a}");
        for host in [
            "example.com",
            "peer-9:8080",
            "peer-2:9999",
            "127.0.0.1:8080",
        ] {
            let a = raw(proxy.addr, &ask(host, "/songs/t/a.ts")).await;
            assert!(a.starts_with("HTTP/1.1 403"), "{host}: {a}");
        }
        let log = proxy.finish().await;
        assert_eq!(log.len(), 6, "{log:#?}");
        assert_eq!(log[0].asked, "peer-2");
        assert_eq!(log[0].id, "t.m3u8");
        assert_eq!(
            (log[1].asked.as_str(), log[1].peer.as_deref()),
            ("peer-1", Some("peer-2"))
        );
        assert_eq!(log[1].failovers, 1);
        assert!(log[2..].iter().all(|f| f.status == 403));
    }
}
