//! Signalling: peers connect per room over WebSocket, announce their
//! neighbors, and ask for shortest paths, which reach every peer on them.
//!
//! ```text
//! GET /ws?peer=<name>&room=<interest>     (Authorization: Bearer <token> when MESH_TOKEN is set)
//!   → {"type":"announce","peer":"peer-1","room":"rock","neighbors":["peer-2","peer-5"]}
//!   → {"type":"request_path","target":"peer-30"}
//!   ← {"type":"path","path":["peer-1","peer-6","peer-18","peer-30"]}   to every peer on it
//!   ← {"type":"error","error":"no path from \"peer-1\" to \"peer-30\" in room \"rock\"","target":"peer-30"}
//! GET /rooms    {"rooms":{"rock":{"edges":[["peer-1","peer-2"]],"peers":["peer-1","peer-2"]}}}
//! GET /healthz, /metrics
//! ```
//!
//! Each room is its own [`MeshGraph`] over the peers connected in it: an
//! edge counts when either end announced it and both ends are connected.
//! A disconnect removes the peer at once. A second connection with the same
//! name in a room replaces the first. The server pings every
//! `ping_interval`; a socket silent for two intervals is dropped.

use crate::graph::{MeshGraph, PathError};
use crate::http::{self, ApiError};
use crate::metrics::Metrics;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wire::signalling::{ClientMessage, RoomsResponse, ServerMessage};

/// Signalling settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bearer token required to open `/ws` (`MESH_TOKEN`). Default: none.
    pub token: Option<String>,
    /// How often the server pings each socket; a socket silent for two
    /// intervals is dropped. Default 15 s.
    pub ping_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token: None,
            ping_interval: Duration::from_secs(15),
        }
    }
}

/// Largest WebSocket message accepted (bytes); larger ones close the socket.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// The most neighbors one announce may list.
pub const MAX_NEIGHBORS: usize = 1024;
/// Messages queued for one slow socket before further ones are dropped.
const OUTBOX: usize = 256;

enum Outbound {
    Msg(ServerMessage),
    Close(&'static str),
}

struct Member {
    conn: u64,
    tx: mpsc::Sender<Outbound>,
}

#[derive(Default)]
struct Room {
    graph: MeshGraph,
    members: HashMap<String, Member>,
}

#[derive(Clone)]
struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    token: Option<String>,
    ping_interval: Duration,
    metrics: Metrics,
    // std Mutex: room updates and BFS are short and synchronous; sends go
    // through try_send, so nothing awaits while it is held.
    rooms: Mutex<HashMap<String, Room>>,
    next_conn: AtomicU64,
    stop: CancellationToken,
    /// Dropped with the last handle; `run` waits for that to let sockets close.
    _alive: mpsc::Sender<()>,
}

impl Inner {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves signalling on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let watcher = http::cancel_on(shutdown, &stop);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let metrics = Metrics::new("signalling");
    for (name, help) in [
        ("paths_computed_total", "Paths computed and sent."),
        (
            "path_failures_total",
            "request_path answered with an error.",
        ),
        (
            "message_errors_total",
            "Messages refused with an error message.",
        ),
        (
            "dropped_messages_total",
            "Messages dropped for a slow socket.",
        ),
        ("connections_total", "WebSocket connections accepted."),
    ] {
        metrics.inc(name, help, 0);
    }
    let inner = Arc::new(Inner {
        token: config.token.filter(|t| !t.is_empty()),
        ping_interval: config.ping_interval.max(Duration::from_millis(10)),
        metrics: metrics.clone(),
        rooms: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(1),
        stop: stop.clone(),
        _alive: alive_tx,
    });
    let r = Router::new()
        .route("/ws", get(ws))
        .route("/rooms", get(rooms))
        .route("/healthz", get(|| async { http::health("signalling") }))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { inner });
    let result = http::serve(
        listener,
        http::finish(r, metrics),
        gate::Limits::service(),
        stop.clone(),
    )
    .await;
    stop.cancel();
    // Sockets see `stop`, send a close frame and drop their handles.
    let _ = tokio::time::timeout(Duration::from_secs(2), alive_rx.recv()).await;
    let _ = watcher.await;
    result
}

async fn ws(
    State(s): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let checked = (|| {
        http::check_token(&headers, s.inner.token.as_deref())?;
        let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let get = |k: &str| {
            q.get(k)
                .cloned()
                .ok_or_else(|| ApiError::field(k, "missing query parameter"))
        };
        let (peer, room) = (get("peer")?, get("room")?);
        http::valid("peer", &peer, wire::ids::validate_peer_id)?;
        wire::ids::validate_name("room", &room).map_err(|e| ApiError::field("room", e.0))?;
        let upgrade = upgrade.map_err(|e| {
            ApiError::new(
                e.status(),
                format!("not a WebSocket upgrade: {}", e.body_text()),
            )
        })?;
        Ok::<_, ApiError>((peer, room, upgrade))
    })();
    match checked {
        Ok((peer, room, upgrade)) => upgrade
            .max_message_size(MAX_MESSAGE)
            .on_upgrade(move |socket| connection(s.inner, peer, room, socket))
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn connection(inner: Arc<Inner>, peer: String, room: String, socket: WebSocket) {
    let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Outbound>(OUTBOX);
    {
        let mut rooms = inner.rooms();
        let r = rooms.entry(room.clone()).or_default();
        if let Some(old) = r.members.insert(
            peer.clone(),
            Member {
                conn,
                tx: tx.clone(),
            },
        ) {
            let _ = old
                .tx
                .try_send(Outbound::Close("replaced by a newer connection"));
        }
        r.graph.upsert(&peer, &[]);
    }
    inner
        .metrics
        .inc("connections_total", "WebSocket connections accepted.", 1);
    tracing::debug!(peer, room, "connected");

    let (mut sink, mut stream) = socket.split();
    let ping_every = inner.ping_interval;
    let stop = inner.stop.clone();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        loop {
            let out = tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => return,
                },
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                    continue;
                }
                _ = stop.cancelled() => Outbound::Close("server shutting down"),
            };
            let frame = match out {
                Outbound::Msg(m) => match serde_json::to_string(&m) {
                    Ok(text) => Message::Text(text.into()),
                    Err(_) => continue,
                },
                Outbound::Close(reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: axum::extract::ws::close_code::AWAY,
                            reason: reason.into(),
                        })))
                        .await;
                    return;
                }
            };
            if sink.send(frame).await.is_err() {
                return;
            }
        }
    });

    let silence = ping_every * 2;
    loop {
        let next = tokio::select! {
            _ = inner.stop.cancelled() => break,
            n = tokio::time::timeout(silence, stream.next()) => n,
        };
        let msg = match next {
            Err(_) => {
                tracing::info!(peer, room, "no answer to pings; dropping");
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(m))) => m,
        };
        let reply = match msg {
            Message::Text(text) => handle(&inner, &peer, &room, text.as_str()),
            Message::Binary(_) => Some(error(
                "binary messages are not supported; send JSON text",
                None,
            )),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => None,
        };
        if let Some(reply) = reply {
            if matches!(reply, ServerMessage::Error { .. }) {
                inner.metrics.inc(
                    "message_errors_total",
                    "Messages refused with an error message.",
                    1,
                );
            }
            if tx.try_send(Outbound::Msg(reply)).is_err() {
                break;
            }
        }
        if writer.is_finished() {
            break;
        }
    }

    {
        let mut rooms = inner.rooms();
        if let Some(r) = rooms.get_mut(&room) {
            if r.members.get(&peer).is_some_and(|m| m.conn == conn) {
                r.members.remove(&peer);
                r.graph.remove(&peer);
            }
            if r.members.is_empty() {
                rooms.remove(&room);
            }
        }
    }
    tracing::debug!(peer, room, "disconnected");
    // Let the writer flush a close frame (shutdown) or end with the channel.
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

fn error(text: impl Into<String>, target: Option<String>) -> ServerMessage {
    ServerMessage::Error {
        error: text.into(),
        target,
    }
}

/// Handles one text message; returns the reply for the sender, if any
/// (paths go to every peer on them directly).
fn handle(inner: &Inner, me: &str, room: &str, text: &str) -> Option<ServerMessage> {
    let msg: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(_) => return Some(error(explain_bad_message(text), None)),
    };
    match msg {
        ClientMessage::Announce {
            peer,
            room: r,
            neighbors,
        } => {
            if let Some(p) = peer.filter(|p| p != me) {
                return Some(error(
                    format!("peer {p:?} is not this connection's name {me:?}"),
                    None,
                ));
            }
            if let Some(r) = r.filter(|r| r != room) {
                return Some(error(
                    format!("room {r:?} is not this connection's room {room:?}"),
                    None,
                ));
            }
            if neighbors.len() > MAX_NEIGHBORS {
                return Some(error(
                    format!(
                        "neighbors: {} listed, at most {MAX_NEIGHBORS}",
                        neighbors.len()
                    ),
                    None,
                ));
            }
            for (i, n) in neighbors.iter().enumerate() {
                if let Err(e) = wire::ids::validate_peer_id(n) {
                    return Some(error(format!("neighbors[{i}]: {e}"), None));
                }
            }
            let mut rooms = inner.rooms();
            if let Some(r) = rooms.get_mut(room) {
                r.graph.upsert(me, &neighbors);
            }
            None
        }
        ClientMessage::RequestPath { target } => {
            if let Err(e) = wire::ids::validate_peer_id(&target) {
                return Some(error(format!("target: {e}"), Some(target)));
            }
            let rooms = inner.rooms();
            let Some(r) = rooms.get(room) else {
                return Some(error("connection is closing", Some(target)));
            };
            match r.graph.shortest_path(me, &target) {
                Ok(path) => {
                    inner
                        .metrics
                        .inc("paths_computed_total", "Paths computed and sent.", 1);
                    for p in &path {
                        if let Some(m) = r.members.get(p) {
                            let out = Outbound::Msg(ServerMessage::Path { path: path.clone() });
                            if m.tx.try_send(out).is_err() {
                                inner.metrics.inc(
                                    "dropped_messages_total",
                                    "Messages dropped for a slow socket.",
                                    1,
                                );
                            }
                        }
                    }
                    None
                }
                Err(e) => {
                    inner.metrics.inc(
                        "path_failures_total",
                        "request_path answered with an error.",
                        1,
                    );
                    let text = match e {
                        PathError::UnknownTo(t) => {
                            format!("unknown target {t:?}: not connected in room {room:?}")
                        }
                        PathError::UnknownFrom(f) => format!("unknown peer {f:?} in room {room:?}"),
                        PathError::NoPath { from, to } => {
                            format!("no path from {from:?} to {to:?} in room {room:?}")
                        }
                    };
                    Some(error(text, Some(target)))
                }
            }
        }
    }
}

/// Why a message did not parse, naming the field: serde's tagged enums lose
/// the path, so the fields are checked again per message type.
fn explain_bad_message(text: &str) -> String {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct AnnounceFields {
        peer: Option<String>,
        room: Option<String>,
        neighbors: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct RequestFields {
        target: String,
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return format!("malformed message: {e}"),
    };
    let bytes = text.as_bytes();
    let refused = match value.get("type").and_then(|t| t.as_str()) {
        Some("announce") => http::parse_json::<AnnounceFields>(bytes).err(),
        Some("request_path") => http::parse_json::<RequestFields>(bytes).err(),
        Some(other) => {
            return format!(
            "malformed message: unknown type {other:?}; expected \"announce\" or \"request_path\""
        )
        }
        None => {
            return "malformed message: a JSON object with a string \"type\" is expected".into()
        }
    };
    match refused {
        Some(e) => format!("malformed message: {}", e.body.error),
        None => "malformed message".into(),
    }
}

async fn rooms(State(s): State<AppState>) -> Json<RoomsResponse> {
    let rooms = s.inner.rooms();
    Json(RoomsResponse {
        rooms: rooms
            .iter()
            .map(|(name, r)| {
                let room = wire::signalling::Room {
                    edges: r.graph.edges(),
                    peers: r.graph.peers().into_iter().map(String::from).collect(),
                };
                (name.clone(), room)
            })
            .collect(),
    })
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    let (rooms, peers) = {
        let rooms = s.inner.rooms();
        (
            rooms.len(),
            rooms.values().map(|r| r.members.len()).sum::<usize>(),
        )
    };
    http::prometheus(s.inner.metrics.render(&[
        (
            "rooms",
            "Rooms with at least one connected peer.",
            rooms as f64,
        ),
        (
            "connected_peers",
            "Peers connected, over all rooms.",
            peers as f64,
        ),
    ]))
}
