//! The agent's REST endpoints.
//!
//! ```text
//! GET|HEAD /segments/{id}                 a hit, or a miss fetched through the mesh
//! GET|HEAD /songs/{song}/playlist.m3u8    the playlist, stored under id <song>.m3u8
//! GET|HEAD /songs/{song}/master.m3u8      redundant streams: this peer, then live neighbours (master)
//! GET|HEAD /songs/{song}/{segment-id}     a segment, relative to the playlist
//! POST     /segments?id=<id>&sha256=<hex> raw bytes (or the JSON form of wire::agent::IngestJson)
//! GET      /inventory | /stats | /metrics | /healthz
//! POST     /announce-again                 202: announce to the tracker now (its token only)
//! OPTIONS  /segments/{id}, /songs/{song}/{file}   CORS preflight
//! ```
//!
//! The GET/HEAD media routes answer `Access-Control-Allow-Origin: *` and
//! expose the `X-Mesh-*` headers, so hls.js in any page can play from any peer.
//!
//! Relay requests carry `X-Mesh-Route` (this peer first) and `X-Mesh-From`;
//! answers carry `X-Mesh-Source`, `X-Mesh-Route`, `X-Mesh-Hops`,
//! `X-Mesh-Sha256`, `Content-Length` and `ETag`.
//!
//! Every error, a wrong method or an unreadable path included, is a
//! `wire::ErrorBody` JSON. Ingest lives in [`ingest`].

mod ingest;
mod master;

use crate::cache::Segment;
use crate::flight::{FetchError, Flight, Next};
use crate::mesh::{self, Joined, Plan};
use crate::state::Inner;
use crate::stats::Event;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wire::relay::{self, Source};
use wire::ErrorBody;

type AppState = Arc<Inner>;

/// The agent's routes.
pub fn router(inner: Arc<Inner>) -> Router {
    // What players read is open to any web page: hls.js in a browser may be
    // pointed at any peer.
    let media = Router::new()
        .route("/segments/{id}", get(get_segment).options(preflight))
        .route(
            "/songs/{song}/master.m3u8",
            get(master::get_master).options(preflight),
        )
        .route(
            "/songs/{song}/{file}",
            get(get_song_file).options(preflight),
        )
        .layer(axum::middleware::map_response(allow_any_origin));
    Router::new()
        .merge(media)
        .route("/segments", axum::routing::post(ingest::ingest))
        .route(
            wire::agent::ANNOUNCE_AGAIN_PATH,
            axum::routing::post(announce_again),
        )
        .route("/inventory", get(inventory))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(|| async { error(StatusCode::NOT_FOUND, None, "no such endpoint") })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                Some("method"),
                format!("{method} is not allowed here"),
            )
        })
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

/// The tracker lost its state and asks this peer to announce now. With
/// `MESH_TOKEN`, only this peer's own token (which the tracker derives from
/// the secret) is accepted; the body is not read.
async fn announce_again(State(inner): State<AppState>, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Err(refused) = wire::auth::check_exact(inner.config.token.as_deref(), auth) {
        return error(
            StatusCode::UNAUTHORIZED,
            Some("authorization"),
            refused.message(),
        );
    }
    inner.announce_again.notify_one();
    StatusCode::ACCEPTED.into_response()
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

/// A path that is not UTF-8 or cannot be split as the route says.
fn bad_path(field: &str, e: PathRejection) -> Response {
    error(StatusCode::BAD_REQUEST, Some(field), e.body_text())
}

async fn get_song_file(
    State(inner): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Path((song, file)) = match path {
        Ok(p) => p,
        Err(e) => return bad_path("path", e),
    };
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
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Path(id) = match path {
        Ok(p) => p,
        Err(e) => return bad_path("id", e),
    };
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
            // Nobody could serve it a moment ago: answered at once, no new
            // lookup (MISS_TTL_MS).
            None if asker == Asker::Client && inner.recent_miss(&id) => {
                inner.stats.event(Some(&id), Event::Miss);
                return failed(
                    &inner,
                    asker,
                    &id,
                    FetchError::new(404, format!("no live peer or edge holds {id}")),
                );
            }
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
    // Finding a source is bounded by FETCH_DEADLINE_SEC; a little more
    // lets the fetch answer with its own reason.
    let wait = inner.config.fetch_deadline + Duration::from_secs(5);
    let head = match tokio::time::timeout(wait, flight.head()).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return stale_or_failed(&inner, asker, id, e),
        Err(_) => {
            return stale_or_failed(&inner, asker, id, FetchError::new(504, "fetch timed out"))
        }
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

/// A client whose fetch failed with no source reachable (not a 404) gets
/// an expired copy if this peer kept one, marked stale (`Warning: 110`,
/// RFC 9111 §5.5; `Age` says how old); else the error.
fn stale_or_failed(inner: &Arc<Inner>, asker: Asker, id: String, e: FetchError) -> Response {
    if asker == Asker::Client && e.status != 404 {
        let stale = inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stale(&id);
        if let Some(seg) = stale {
            tracing::info!(%id, error = %e.message, "no source reachable: serving a stale copy");
            let mut r = respond_hit(inner, asker, id, seg);
            r.headers_mut().insert(
                "warning",
                HeaderValue::from_static("110 - \"Response is Stale\""),
            );
            return r;
        }
    }
    failed(inner, asker, &id, e)
}

fn failed(inner: &Inner, asker: Asker, id: &str, e: FetchError) -> Response {
    if asker == Asker::Client {
        inner.stats.event(Some(id), Event::ClientFailure);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = error(status, None, e.message);
    if let Some(v) = e
        .failed
        .and_then(|p| axum::http::HeaderValue::from_str(&p).ok())
    {
        resp.headers_mut().insert(relay::FAILED, v);
    }
    resp
}
