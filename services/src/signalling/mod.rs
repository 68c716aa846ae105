//! Signalling: peers connect per room over WebSocket, announce their
//! neighbors, and ask for shortest paths, which reach every peer on them.
//!
//! ```text
//! GET /ws?peer=<name>&room=<interest>     (Authorization: Bearer <token> when MESH_TOKEN is set)
//!   → {"type":"announce","peer":"peer-1","room":"rock","neighbors":["peer-2","peer-5"]}
//!   → {"type":"request_path","target":"peer-30"}
//!   → {"type":"request_path","target":"peer-30","avoid":["peer-6"]}   (a path through none of them)
//!   ← {"type":"path","path":["peer-1","peer-6","peer-18","peer-30"]}   to every peer on it
//!   ← {"type":"error","error":"no path from \"peer-1\" to \"peer-30\" in room \"rock\"","target":"peer-30"}
//!   ← {"type":"error","error":"no path from \"peer-1\" to \"peer-30\" in room \"rock\" avoiding [\"peer-6\"]","target":"peer-30"}
//! GET /rooms    {"rooms":{"rock":{"edges":[["peer-1","peer-2"]],"peers":["peer-1","peer-2"]}}}
//! GET /events?after=<seq>&limit=<n>   paths pushed, sockets opened and closed (see crate::events)
//! GET /healthz, /metrics
//! ```
//!
//! Each room is its own [`MeshGraph`](crate::graph::MeshGraph) over the peers connected in it: an
//! edge counts when both ends list each other and both are connected, so a
//! room member's one-sided claims change nobody's routes. A disconnect
//! removes the peer, its edges and (when it was the last) the room at once.
//!
//! **Routing around failing peers.** A `request_path` may name peers to
//! `avoid` (relays the requester found failing): the answer is the shortest
//! path through none of them, or an error naming the `target` and the peers
//! that were avoided. The requester and the target are never avoided and
//! names not connected in the room are ignored; each name must be a valid
//! peer id and at most [`MAX_AVOID`] may be given (an error naming `avoid`
//! otherwise). Avoiding changes nothing for anyone else: it is one search
//! with those peers left out, the graph stays as announced.
//! The server pings every `ping_interval`; a socket silent for two intervals
//! is dropped.
//!
//! Opening a socket is decided before the upgrade, in this order, each
//! refusal a JSON [`wire::ErrorBody`]:
//!
//! ```text
//! 401  no token / wrong token (when MESH_TOKEN is set)
//! 400  peer or room missing or invalid                        field "peer" / "room"
//! 403  a peer's token used for another name                   field "peer"
//! 4xx  not a WebSocket upgrade (405 not GET, 400 headers, 426)
//! 503  max_sockets open in all, or max_room_peers in the room ("room")
//! 429  this peer already has max_rooms_per_peer sockets       field "peer"
//! 409  the name is connected in the room and its socket answers a ping  field "peer"
//! ```
//!
//! **A name is not taken over.** When a second socket asks for a name that
//! is connected in the room, the server pings the old socket at once and
//! waits up to `takeover_wait` for any frame from it. If one arrives, the old
//! socket is alive and the newcomer gets 409; the old one is untouched. If
//! none does, the old socket is closed ("did not answer a ping") and the
//! newcomer is accepted in its place. So two live processes under one name
//! do not fight (the second is refused for as long as the first answers),
//! and a restarted peer whose old connection is half-open is back after at
//! most `takeover_wait` on its first try, not after the two ping intervals
//! the silent-socket rule would take. One check runs per name at a time; a
//! third socket asking meanwhile gets 409 at once.
//!
//! **Small sockets.** Each socket starts with a [`READ_BUFFER`] read buffer
//! and an empty write buffer that is written out at once; the largest
//! message taken is [`Config::max_message`] (an announce of `max_neighbors`
//! longest names). Each socket has a token bucket of `msg_burst` messages
//! refilled at `msg_rate` per second; a message beyond it is answered with an
//! error (naming the `target` of a `request_path`) and not acted on, and
//! `flood_close` such messages in a row close the socket with a 1008 close
//! frame that says why. Freed memory goes back to the kernel when the number
//! of open sockets halves.

mod members;
mod messages;
mod socket;

use crate::http::{self, ApiError};
use crate::metrics::Metrics;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wire::signalling::RoomsResponse;
use wire::ErrorBody;

/// Signalling settings; the env variable of each is in `bin/signalling.rs`
/// and the README.
#[derive(Debug, Clone)]
pub struct Config {
    /// The deployment secret (`MESH_TOKEN`): with it set, a socket needs the
    /// secret or the peer's own token. Default: none (open).
    pub token: Option<String>,
    /// How often the server pings each socket; a socket silent for two
    /// intervals is dropped. Default 15 s.
    pub ping_interval: Duration,
    /// Sockets open at once over all rooms. Default 2,048.
    pub max_sockets: usize,
    /// Sockets open at once in one room. Default 2,048 (one room may hold
    /// the whole deployment, as meshctl's single default room does).
    pub max_room_peers: usize,
    /// Rooms one peer name may be connected in at once. Default 4.
    pub max_rooms_per_peer: usize,
    /// Names one announce may list. Default 1,024 (as topology and tracker).
    pub max_neighbors: usize,
    /// Messages per second a socket may send, sustained. Default 10.
    pub msg_rate: u32,
    /// Messages a socket may send at once before the rate applies. Default 100.
    pub msg_burst: u32,
    /// Messages over the rate in a row that close the socket. Default 50.
    pub flood_close: u32,
    /// How long a socket already holding a name has to answer a ping before
    /// a newcomer under that name replaces it. Default 2 s.
    pub takeover_wait: Duration,
    /// Connection limits (`HTTP_*`, see the gate crate).
    pub http: gate::Limits,
    /// Recent events kept for `GET /events` (`SIGNAL_EVENTS`): paths
    /// pushed, sockets opened and closed. Default 4,096.
    pub events: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token: None,
            ping_interval: Duration::from_secs(15),
            max_sockets: 2048,
            max_room_peers: 2048,
            max_rooms_per_peer: 4,
            max_neighbors: 1024,
            msg_rate: 10,
            msg_burst: 100,
            flood_close: 50,
            takeover_wait: Duration::from_secs(2),
            http: gate::Limits::service(),
            events: crate::events::DEFAULT_CAPACITY,
        }
    }
}

impl Config {
    /// The largest message taken (bytes): an announce of `max_neighbors`
    /// names of the longest allowed length, with room for `peer`, `room` and
    /// some whitespace (212 KiB by default). A larger one closes the socket.
    pub fn max_message(&self) -> usize {
        self.max_neighbors * (wire::ids::MAX_ID_LEN + 8) + 4096
    }

    /// The largest message sent: a path through every peer a room may hold.
    fn max_outgoing(&self) -> usize {
        let path = self.max_room_peers * (wire::ids::MAX_ID_LEN + 3) + 64;
        path.max(self.max_message())
    }
}

/// Initial read buffer of each socket (bytes); it grows only for a message
/// larger than itself. Real messages (a request, an announce of a few
/// names) fit.
pub const READ_BUFFER: usize = 1024;
/// Most names one `request_path` may `avoid`: a requester names the
/// relays it saw fail, a handful; more is refused with an error.
pub const MAX_AVOID: usize = 64;
/// Messages queued for one slow socket before further ones are dropped.
const OUTBOX: usize = 64;

#[derive(Clone)]
struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    metrics: Metrics,
    events: crate::events::EventLog,
    // std Mutex: room updates and BFS are short and synchronous; sends go
    // through try_send, so nothing awaits while it is held.
    rooms: Mutex<members::Rooms>,
    next_conn: AtomicU64,
    /// A trim of freed memory is scheduled (see `members::trim_soon`).
    trim_pending: AtomicBool,
    stop: CancellationToken,
    /// Dropped with the last handle; `run` waits for that to let sockets close.
    _alive: mpsc::Sender<()>,
}

impl Inner {
    fn rooms(&self) -> std::sync::MutexGuard<'_, members::Rooms> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

const COUNTERS: [(&str, &str); 9] = [
    ("paths_computed_total", "Paths computed and sent."),
    (
        "avoiding_requests_total",
        "request_path messages that named peers to avoid.",
    ),
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
    (
        "rate_limited_total",
        "Messages refused for exceeding the socket's rate.",
    ),
    (
        "flood_closed_total",
        "Sockets closed for flooding past their rate.",
    ),
    (
        "takeovers_total",
        "Sockets replaced after failing to answer a ping when their name was asked for again.",
    ),
];

/// Adds to one of [`COUNTERS`].
fn count(metrics: &Metrics, name: &'static str, by: u64) {
    let help = COUNTERS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| *h);
    metrics.inc(name, help, by);
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
    for (name, help) in COUNTERS {
        metrics.inc(name, help, 0);
    }
    let config_http = config.http.clone();
    let config = Config {
        token: config.token.filter(|t| !t.is_empty()),
        ping_interval: config.ping_interval.max(Duration::from_millis(10)),
        msg_burst: config.msg_burst.max(1),
        flood_close: config.flood_close.max(1),
        ..config
    };
    let events = crate::events::EventLog::new("signalling", config.events);
    let inner = Arc::new(Inner {
        events: events.clone(),
        config,
        metrics: metrics.clone(),
        rooms: Mutex::new(members::Rooms::default()),
        next_conn: AtomicU64::new(1),
        trim_pending: AtomicBool::new(false),
        stop: stop.clone(),
        _alive: alive_tx,
    });
    let r = Router::new()
        .route("/ws", get(ws))
        .route("/rooms", get(rooms))
        .route("/events", events.route())
        .route("/healthz", get(|| async { http::health("signalling") }))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { inner });
    let result = http::serve(
        listener,
        http::finish(r, metrics),
        config_http,
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
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match open(&s.inner, &headers, query, upgrade).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Every check of a new socket, before the upgrade (see the module docs for
/// the order).
async fn open(
    inner: &Arc<Inner>,
    headers: &HeaderMap,
    query: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let identity = http::identify(headers, inner.config.token.as_deref())?;
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let get = |k: &str| {
        q.get(k)
            .cloned()
            .ok_or_else(|| ApiError::field(k, "missing query parameter"))
    };
    let (peer, room) = (get("peer")?, get("room")?);
    http::valid("peer", &peer, wire::ids::validate_peer_id)?;
    wire::ids::validate_name("room", &room).map_err(|e| ApiError::field("room", e.0))?;
    if !identity.may_act_as(&peer) {
        let owner = match &identity {
            wire::auth::Identity::Peer(p) => format!("peer {p:?}"),
            _ => "another peer".into(),
        };
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            body: ErrorBody::field(
                "peer",
                format!("this token is {owner}'s; it cannot open a socket as {peer:?}"),
            ),
        });
    }
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            e.status(),
            format!("not a WebSocket upgrade: {}", e.body_text()),
        )
    })?;
    let slot = members::claim(inner, &peer, &room).await?;
    let c = &inner.config;
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(c.max_outgoing() + 1024)
        .max_message_size(c.max_message())
        .max_frame_size(c.max_message())
        .on_upgrade(move |socket| socket::run(slot, socket))
        .into_response())
}

async fn rooms(State(s): State<AppState>) -> Json<RoomsResponse> {
    let rooms = s.inner.rooms();
    Json(RoomsResponse {
        rooms: rooms
            .rooms
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
        (rooms.rooms.len(), rooms.sockets())
    };
    http::prometheus(s.inner.metrics.render(&[
        (
            "rooms",
            "Rooms with at least one connected peer.",
            rooms as f64,
        ),
        (
            "connected_peers",
            "Sockets open (or being opened), over all rooms.",
            peers as f64,
        ),
    ]))
}
