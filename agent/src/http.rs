//! The agent's REST endpoints.
//!
//! ```text
//! GET|HEAD /segments/{id}                 a hit, or a miss fetched through the mesh
//! GET|HEAD /songs/{song}/playlist.m3u8    the playlist, stored under id <song>.m3u8
//! GET|HEAD /songs/{song}/{segment-id}     a segment, relative to the playlist
//! POST     /segments?id=<id>&sha256=<hex> raw bytes (or the JSON form of wire::agent::IngestJson)
//! GET      /inventory | /stats | /metrics | /healthz
//! OPTIONS  /segments/{id}, /songs/{song}/{file}   CORS preflight
//! ```
//!
//! The GET/HEAD media routes answer `Access-Control-Allow-Origin: *` and
//! expose the `X-Mesh-*` headers, so hls.js in any page can play from any peer.
//!
//! Relay requests carry `X-Mesh-Route` (this peer first) and `X-Mesh-From`;
//! answers carry `X-Mesh-Source`, `X-Mesh-Route`, `X-Mesh-Hops`,
//! `X-Mesh-Sha256`, `Content-Length` and `ETag`.

use crate::cache::Segment;
use crate::flight::{FetchError, Flight, Next};
use crate::mesh::{self, Joined, Plan};
use crate::state::Inner;
use crate::stats::Event;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wire::relay::{self, Source};
use wire::ErrorBody;

type AppState = Arc<Inner>;

/// The agent's routes.
pub fn router(inner: Arc<Inner>) -> Router {
    // Base64 makes a JSON ingest a third larger than the segment.
    let limit = (inner.config.max_segment_bytes() as usize) * 4 / 3 + 4096;
    // What players read is open to any web page: hls.js in a browser may be
    // pointed at any peer.
    let media = Router::new()
        .route("/segments/{id}", get(get_segment).options(preflight))
        .route(
            "/songs/{song}/{file}",
            get(get_song_file).options(preflight),
        )
        .layer(axum::middleware::map_response(allow_any_origin));
    Router::new()
        .merge(media)
        .route("/segments", axum::routing::post(ingest))
        .route("/inventory", get(inventory))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(|| async { error(StatusCode::NOT_FOUND, None, "no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(inner)
}

/// Response headers a page's script may read besides the CORS-safelisted ones.
const EXPOSED: &str =
    "X-Mesh-Source, X-Mesh-Route, X-Mesh-Hops, X-Mesh-Sha256, ETag, Content-Length";

/// CORS on the media routes: any origin, no credentials, the mesh's
/// headers readable by the page.
async fn allow_any_origin(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    r
}

/// A CORS preflight: GET and HEAD with whatever request headers the page
/// asked for (a player may add `Range` or its own), cached for a day.
async fn preflight(headers: HeaderMap) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

fn error(status: StatusCode, field: Option<&str>, msg: impl Into<String>) -> Response {
    let body = match field {
        Some(f) => ErrorBody::field(f, msg),
        None => ErrorBody::new(msg),
    };
    (status, Json(body)).into_response()
}

async fn healthz() -> Json<wire::Health> {
    Json(wire::Health {
        status: "ok".into(),
        service: "mesh-agent".into(),
    })
}

async fn inventory(State(inner): State<AppState>) -> Json<wire::agent::Inventory> {
    let c = inner.cache.lock().unwrap_or_else(|p| p.into_inner());
    Json(wire::agent::Inventory {
        peer_id: inner.config.peer_id.clone(),
        segments: c.ids(),
        entries: c.len(),
        bytes: c.bytes(),
    })
}

async fn stats(State(inner): State<AppState>) -> Json<wire::agent::AgentStats> {
    let (entries, bytes) = {
        let c = inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        (c.len(), c.bytes())
    };
    Json(inner.stats.snapshot(
        &inner.config.peer_id,
        inner.config.edge_name(),
        entries,
        bytes,
    ))
}

async fn metrics(State(inner): State<AppState>) -> Response {
    let (entries, bytes, ev) = {
        let c = inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        (c.len(), c.bytes(), c.evictions())
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        inner.stats.prometheus(entries, bytes, ev),
    )
        .into_response()
}

async fn get_song_file(
    State(inner): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path((song, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = wire::ids::validate_song(&song) {
        return error(StatusCode::BAD_REQUEST, Some("song"), e.0);
    }
    let id = if file == "playlist.m3u8" {
        wire::ids::playlist_id(&song)
    } else {
        file
    };
    serve(inner, remote, id, headers).await
}

async fn get_segment(
    State(inner): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(inner, remote, id, headers).await
}

/// Who asked: a client, or a neighbor relaying.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asker {
    Client,
    Relay,
}

async fn serve(inner: Arc<Inner>, remote: SocketAddr, id: String, headers: HeaderMap) -> Response {
    if let Err(e) = wire::ids::validate_segment_id(&id) {
        return error(StatusCode::BAD_REQUEST, Some("id"), e.0);
    }
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    let (asker, plan) = match text(relay::ROUTE) {
        None => (Asker::Client, Plan::Client),
        Some(r) => {
            let Some(route) = relay::parse_route(r) else {
                inner.stats.event(Some(&id), Event::RelayRefused);
                return error(
                    StatusCode::BAD_REQUEST,
                    Some(relay::ROUTE),
                    "a comma-separated list of peer ids",
                );
            };
            if let Err(refused) = mesh::check_relay(&inner, remote, &route, text(relay::FROM)).await
            {
                inner.stats.event(Some(&id), Event::RelayRefused);
                tracing::info!(%id, %remote, reason = %refused.message, "relay refused");
                let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::FORBIDDEN);
                return error(status, Some(refused.field), refused.message);
            }
            (Asker::Relay, Plan::Relay(route))
        }
    };
    let joined = {
        let hit = inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id);
        match hit {
            Some(seg) => Joined::Hit(seg),
            None => mesh::join_or_lead(&inner, &id, plan),
        }
    };
    match joined {
        Joined::Hit(seg) => {
            inner.stats.event(Some(&id), Event::Hit);
            respond_hit(&inner, asker, id, seg)
        }
        Joined::Flight(flight) => {
            inner.stats.event(Some(&id), Event::Miss);
            respond_flight(inner, asker, id, flight).await
        }
    }
}

fn content_type(id: &str) -> &'static str {
    if id.ends_with(".m3u8") {
        "application/vnd.apple.mpegurl"
    } else if id.ends_with(".ts") {
        "video/mp2t"
    } else {
        "application/octet-stream"
    }
}

struct Meta {
    source: Source,
    route: Vec<String>,
    hops: u32,
    sha256: Option<String>,
    len: u64,
    /// Seconds since the bytes left their source (ids without a hash only).
    age: Option<u64>,
}

fn head_response(id: &str, meta: &Meta, body: Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set("content-type", content_type(id).to_string());
    set("content-length", meta.len.to_string());
    set(relay::SOURCE, meta.source.as_str().to_string());
    set(relay::ROUTE, meta.route.join(","));
    set(relay::HOPS, meta.hops.to_string());
    if let Some(age) = meta.age {
        set("age", age.to_string());
    }
    if let Some(sha) = &meta.sha256 {
        set(relay::SHA256, sha.clone());
        set("etag", format!("\"{sha}\""));
    }
    r
}

/// Counts bytes handed to the asker, by asker and source.
fn counter(
    inner: &Arc<Inner>,
    asker: Asker,
    id: &str,
    source: Source,
) -> impl Fn(u64) + Send + 'static {
    let inner = inner.clone();
    let id = id.to_string();
    move |n| match asker {
        Asker::Client => inner.stats.client_bytes(&id, source, n),
        Asker::Relay => inner.stats.relay_bytes(&id, n),
    }
}

fn started(inner: &Inner, asker: Asker, id: &str) {
    match asker {
        Asker::Client => inner.stats.event(Some(id), Event::ClientRequest),
        Asker::Relay => inner.stats.event(Some(id), Event::RelayForwarded),
    }
}

fn respond_hit(inner: &Arc<Inner>, asker: Asker, id: String, seg: Arc<Segment>) -> Response {
    let meta = Meta {
        source: Source::Cache,
        route: vec![inner.config.peer_id.clone()],
        hops: 0,
        sha256: Some(seg.sha256.clone()),
        len: seg.len,
        age: wire::ids::sha256_of_id(&id)
            .is_none()
            .then(|| seg.age().unwrap_or(0)),
    };
    started(inner, asker, &id);
    let count = counter(inner, asker, &id, Source::Cache);
    let pieces = seg.pieces.clone();
    let body = futures::stream::iter(pieces.into_iter().map(move |p| {
        count(p.len() as u64);
        Ok::<Bytes, std::io::Error>(p)
    }));
    head_response(&id, &meta, Body::from_stream(body))
}

async fn respond_flight(
    inner: Arc<Inner>,
    asker: Asker,
    id: String,
    flight: Arc<Flight>,
) -> Response {
    let head = match tokio::time::timeout(Duration::from_secs(120), flight.head()).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return failed(&inner, asker, &id, e),
        Err(_) => return failed(&inner, asker, &id, FetchError::new(504, "fetch timed out")),
    };
    // A client hears where the bytes really came from: another peer's
    // cache ("peer") or an edge database ("edge"). Hops pass the original
    // source on, so the client-facing peer can tell.
    let source = match (asker, head.source) {
        (Asker::Client, Source::Cache) => Source::Peer,
        (_, s) => s,
    };
    let meta = Meta {
        source,
        route: head.route.clone(),
        hops: head.hops,
        sha256: head.sha256.clone(),
        len: head.len,
        age: head.fresh_since.map(|t| t.elapsed().as_secs()),
    };
    started(&inner, asker, &id);
    let count = counter(&inner, asker, &id, source);
    let fail_inner = inner.clone();
    let fail_id = id.clone();
    // The stream holds a Busy: when the last relay ends, memory is trimmed.
    let busy = crate::state::Busy::new(&inner);
    let stream = futures::stream::unfold((flight, 0usize, false, busy), move |(f, i, done, b)| {
        let fail_inner = fail_inner.clone();
        let fail_id = fail_id.clone();
        async move {
            if done {
                return None;
            }
            match f.next(i).await {
                Next::Piece(p) => Some((Ok(p), (f, i + 1, false, b))),
                Next::Done => None,
                Next::Failed(e) => {
                    if asker == Asker::Client {
                        fail_inner.stats.event(Some(&fail_id), Event::ClientFailure);
                    }
                    Some((Err(std::io::Error::other(e.message)), (f, i, true, b)))
                }
            }
        }
    });
    use futures::StreamExt;
    let stream = stream.inspect(move |r| {
        if let Ok(p) = r {
            count(p.len() as u64);
        }
    });
    head_response(&id, &meta, Body::from_stream(stream))
}

fn failed(inner: &Inner, asker: Asker, id: &str, e: FetchError) -> Response {
    if asker == Asker::Client {
        inner.stats.event(Some(id), Event::ClientFailure);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    error(status, None, e.message)
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let Some(want) = &inner.config.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|got| got.trim() == want)
}

async fn ingest(
    State(inner): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    if !authorized(&inner, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            Some("authorization"),
            "a valid Bearer token is required",
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("body"),
                format!(
                    "{}; at most {} bytes per segment",
                    e.body_text(),
                    inner.config.max_segment_bytes()
                ),
            )
        }
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (id, data, sha) = if is_json {
        let j: wire::agent::IngestJson = match serde_json::from_slice(&body) {
            Ok(j) => j,
            Err(e) => {
                let msg = e.to_string();
                let field = ["id", "data", "sha256"]
                    .into_iter()
                    .find(|f| msg.contains(&format!("`{f}`")))
                    .unwrap_or("body");
                return error(StatusCode::BAD_REQUEST, Some(field), msg);
            }
        };
        let data = match base64::engine::general_purpose::STANDARD.decode(j.data.as_bytes()) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("data"),
                    format!("not standard base64: {e}"),
                )
            }
        };
        (j.id, data, j.sha256)
    } else {
        let Some(id) = query.get("id").cloned() else {
            return error(
                StatusCode::BAD_REQUEST,
                Some("id"),
                "missing; use POST /segments?id=<segment-id>",
            );
        };
        // Copy out of whatever buffer the body arrived in, so the cache
        // holds exactly the segment's bytes.
        (
            id,
            Bytes::copy_from_slice(&body),
            query.get("sha256").cloned(),
        )
    };
    drop(body);
    if let Err(e) = wire::ids::validate_segment_id(&id) {
        return error(StatusCode::BAD_REQUEST, Some("id"), e.0);
    }
    if data.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            Some("data"),
            "a segment must not be empty",
        );
    }
    if data.len() as u64 > inner.config.max_segment_bytes() {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("data"),
            format!(
                "{} bytes; at most {} per segment",
                data.len(),
                inner.config.max_segment_bytes()
            ),
        );
    }
    let sha = match sha {
        None => None,
        Some(s) => {
            let s = s.trim().to_ascii_lowercase();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("sha256"),
                    "must be 64 hex digits",
                );
            }
            Some(s)
        }
    };
    let actual = hex::encode(Sha256::digest(&data));
    for (field, want) in [
        ("sha256", sha.as_deref()),
        ("id", wire::ids::sha256_of_id(&id)),
    ] {
        if let Some(want) = want {
            if want != actual {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some(field),
                    format!("the body hashes to {actual}, not {want}"),
                );
            }
        }
    }
    let len = data.len() as u64;
    let seg = Arc::new(Segment::from_bytes(data, actual.clone()));
    let reserved = inner
        .inflight_bytes
        .load(std::sync::atomic::Ordering::SeqCst);
    let stored = inner
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), seg, reserved);
    if stored.is_err() {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("data"),
            "larger than the cache",
        );
    }
    inner.stats.event(Some(&id), Event::Ingested);
    inner.inventory_changed.notify_one();
    (
        StatusCode::CREATED,
        Json(wire::agent::Ingested {
            id,
            sha256: actual,
            bytes: len,
        }),
    )
        .into_response()
}
