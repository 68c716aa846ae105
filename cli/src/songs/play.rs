//! Playing a song through one peer with an unmodified HLS client (ffmpeg),
//! behind a recording proxy.
//!
//! ```text
//! ffmpeg -i http://127.0.0.1:<proxy>/songs/<song>/playlist.m3u8 -f null -
//!          │  every request
//!          ▼
//!   recording proxy (127.0.0.1:0) ──GET same path──▶ peer (127.0.0.1:<published port>)
//!   notes: id, bytes, X-Mesh-Source, X-Mesh-Hops, X-Mesh-Route, latency, SHA-256
//! ```

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use wire::relay::{self, Source};

use super::figures::{p2p_ratio, percentile};
use super::sha256_hex;

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
    /// From the request to the last byte from the peer.
    pub latency_ms: f64,
    /// When the request came, from the start of the play.
    pub at_ms: f64,
    pub sha256: Option<String>,
    /// Whether the bytes match the SHA-256 their id carries (content-addressed ids only).
    pub verified: Option<bool>,
    pub error: Option<String>,
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

struct ProxyState {
    peer: String,
    http: reqwest::Client,
    timeout: Duration,
    started: Instant,
    // std Mutex: one push per request, never held across an await.
    log: Mutex<Vec<Fetch>>,
}

/// A local HTTP proxy in front of one peer that records every request.
pub struct RecordingProxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RecordingProxy {
    /// Starts the proxy on 127.0.0.1 on a free port, forwarding to `peer_url`.
    pub async fn start(
        peer_url: &str,
        http: reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the recording proxy")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            peer: peer_url.trim_end_matches('/').to_string(),
            http,
            timeout,
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
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
    };
    if method != Method::GET && method != Method::HEAD {
        fetch.status = 405;
        fetch.error = Some(format!("{method} is not proxied"));
        st.log.lock().unwrap_or_else(|p| p.into_inner()).push(fetch);
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let url = format!(
        "{}{}",
        st.peer,
        uri.path_and_query().map_or(path.as_str(), |p| p.as_str())
    );
    let result = async {
        let resp = st.http.get(&url).timeout(st.timeout).send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    }
    .await;
    fetch.latency_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let response = match result {
        Err(e) => {
            fetch.status = 502;
            fetch.error = Some(format!("{e:#}"));
            (StatusCode::BAD_GATEWAY, format!("peer: {e}")).into_response()
        }
        Ok((status, headers, body)) => {
            fetch.status = status.as_u16();
            fetch.bytes = body.len() as u64;
            fetch.source = header(&headers, relay::SOURCE).and_then(Source::parse);
            fetch.hops = header(&headers, relay::HOPS).and_then(|h| h.trim().parse().ok());
            fetch.route = header(&headers, relay::ROUTE).map(str::to_string);
            if status.is_success() {
                let sha = sha256_hex(&body);
                fetch.verified = wire::ids::sha256_of_id(&id).map(|want| want == sha);
                fetch.sha256 = Some(sha);
            } else {
                fetch.error = Some(
                    String::from_utf8_lossy(&body)
                        .trim()
                        .chars()
                        .take(200)
                        .collect(),
                );
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
    };
    st.log.lock().unwrap_or_else(|p| p.into_inner()).push(fetch);
    response
}

/// Options of [`play`].
#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub song: String,
    /// The peer's name, for the report.
    pub peer: String,
    /// The peer's base URL as reached from here.
    pub peer_url: String,
    /// Per request through the proxy.
    pub request_timeout: Duration,
    /// For the whole play.
    pub timeout: Duration,
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
/// behind a [`RecordingProxy`].
pub async fn play(opts: &PlayOptions, http: reqwest::Client) -> anyhow::Result<PlayReport> {
    wire::ids::validate_song(&opts.song)?;
    let started = Instant::now();
    let proxy = RecordingProxy::start(&opts.peer_url, http, opts.request_timeout).await?;
    let path = format!("/songs/{}/playlist.m3u8", opts.song);
    let url = proxy.url(&path);
    let child = tokio::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-v",
            "warning",
            "-nostats",
            "-progress",
            "pipe:1",
            "-i",
            &url,
            "-f",
            "null",
            "-",
        ])
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
    }
}
