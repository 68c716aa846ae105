//! The topology manager: peer metadata and the undirected connection graph.
//!
//! ```text
//! POST   /peers        {"peer_id":"peer-1","neighbors":["peer-2"],"region":"eu","rtt_ms":12,"metadata":{}}  → 200 GraphNode
//! DELETE /peers/<id>   → 200 {"peer_id":"peer-1","removed":true}   (404 when unknown)
//! GET    /graph        → GraphSnapshot
//! GET    /path?from=A&to=B → PathResponse, or 404 naming the unknown end or "no path"
//! GET    /events?after=<seq>&limit=<n> → EventsResponse (see crate::events)
//! GET    /healthz, /metrics
//! ```
//!
//! State lives in memory: the tracker upserts every live peer again, so a
//! restarted topology fills up within one tracker resync.
//!
//! Writes need the deployment secret (the tracker and meshctl make them; a
//! peer's own token gets 403), checked from the headers before the body is
//! read. State is bounded: at most `max_peers` peers, `max_neighbors`
//! neighbors and `max_metadata` metadata entries each, and a peer not
//! upserted again within `peer_expiry` is dropped (the tracker re-upserts
//! every live peer once per its TTL). `GET /graph` is serialized once per
//! change and shared by every reader; its largest size follows from the
//! caps ([`Config::graph_bound`]).

use crate::events::EventLog;
use crate::graph::{MeshGraph, PathError};
use crate::http::{self, ApiError, JsonBody};
use crate::metrics::Metrics;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wire::auth::Identity;
use wire::events::EventKind;
use wire::topology::{GraphNode, GraphSnapshot, PathResponse, PeerUpsert, RemovedResponse};

/// Topology manager settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The deployment secret (`MESH_TOKEN`), required on `POST /peers` and
    /// `DELETE /peers/<id>`. Default: none, writes are open.
    pub token: Option<String>,
    /// Most peers held (`TOPOLOGY_MAX_PEERS`); an upsert of a new peer
    /// beyond it gets 503 until some expire. Default 2048 (issue-sized: a 1,000-peer mesh with room).
    pub max_peers: usize,
    /// Most neighbors one peer may list (`TOPOLOGY_MAX_NEIGHBORS`).
    /// Default 32.
    pub max_neighbors: usize,
    /// Most metadata entries per peer (`TOPOLOGY_MAX_METADATA`). Default 8.
    pub max_metadata: usize,
    /// Longest metadata key, bytes (`TOPOLOGY_MAX_METADATA_KEY`). Default 32.
    pub max_metadata_key: usize,
    /// Longest metadata value, bytes (`TOPOLOGY_MAX_METADATA_VALUE`).
    /// Default 256 (the tracker's `addr` may be 255).
    pub max_metadata_value: usize,
    /// A peer not upserted for this long is dropped
    /// (`TOPOLOGY_PEER_EXPIRY_SECONDS`). The tracker upserts every live peer
    /// once per `TRACKER_TTL_SECONDS` (120 s), so keep this well above it.
    /// Default 600 s.
    pub peer_expiry: Duration,
    /// Largest `POST /peers` body, bytes (`TOPOLOGY_MAX_BODY_BYTES`).
    /// Default 32 KiB: an upsert at the caps above with 200-byte ids is
    /// under 10 KiB.
    pub max_body: usize,
    /// Time allowed to send a request body (`TOPOLOGY_BODY_TIMEOUT_SECONDS`);
    /// later gets 408 and the connection closed. Default 10 s.
    pub body_timeout: Duration,
    /// Connection limits (`HTTP_*`, see the gate crate).
    pub http: gate::Limits,
    /// Recent events kept for `GET /events` (`TOPOLOGY_EVENTS`): peers
    /// added, removed, expired; edges added and removed. Default 4,096.
    pub events: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token: None,
            max_peers: 2048,
            max_neighbors: wire::contract::limits::MAX_NEIGHBORS,
            max_metadata: 8,
            max_metadata_key: 32,
            max_metadata_value: 256,
            peer_expiry: Duration::from_secs(600),
            max_body: 32 << 10,
            body_timeout: Duration::from_secs(10),
            http: gate::Limits::service(),
            events: crate::events::DEFAULT_CAPACITY,
        }
    }
}

impl Config {
    /// The largest `GET /graph` body these caps allow, in bytes, counting
    /// every id, region and metadata at its longest (200-byte ids), every
    /// peer at `max_neighbors` mutual edges and JSON punctuation generously.
    pub fn graph_bound(&self) -> usize {
        let id = wire::ids::MAX_ID_LEN + 3; // quotes and comma
        let node = 2 * id
            + 80 // field names, rtt_ms, braces
            + self.max_metadata * (self.max_metadata_key + self.max_metadata_value + 6)
            + self.max_neighbors * id;
        let edges = self.max_peers * self.max_neighbors / 2 * (2 * id + 3);
        self.max_peers * node + edges + 32
    }
}

#[derive(Clone)]
struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    metrics: Metrics,
    // std Mutex: every operation is a short in-memory update, BFS or
    // serialization, never held across an await.
    mesh: Mutex<Mesh>,
}

struct Mesh {
    graph: MeshGraph,
    info: HashMap<String, Entry>,
    /// Bumped on every change; the cached answers below carry the version
    /// they were made from.
    version: u64,
    graph_json: Option<(u64, Bytes)>,
    nodes_json: Option<(u64, Bytes)>,
    last_sweep: Instant,
    events: EventLog,
}

struct Entry {
    up: PeerUpsert,
    seen: Instant,
}

/// Serves the topology manager on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let watcher = http::cancel_on(shutdown, &token);
    let limits = config.http.clone();
    let result = http::serve(listener, router(config), limits, token.clone()).await;
    token.cancel();
    let _ = watcher.await;
    result
}

/// The topology routes, for embedding or tests that bring their own server.
pub fn router(mut config: Config) -> Router {
    let metrics = Metrics::new("topology");
    metrics.inc("paths_computed_total", "GET /path answers with a path.", 0);
    metrics.inc(
        "expired_peers_total",
        "Peers dropped after no upsert within the expiry.",
        0,
    );
    config.token = config.token.filter(|t| !t.is_empty());
    let guard = http::Guard::new(
        config.token.as_deref(),
        config.max_body,
        config.body_timeout,
    );
    let events = EventLog::new("topology", config.events);
    let state = AppState {
        inner: Arc::new(Inner {
            config,
            metrics: metrics.clone(),
            mesh: Mutex::new(Mesh {
                graph: MeshGraph::default(),
                info: HashMap::new(),
                version: 0,
                graph_json: None,
                nodes_json: None,
                last_sweep: Instant::now(),
                events: events.clone(),
            }),
        }),
    };
    let r = Router::new()
        .route(
            "/peers",
            http::guarded(post(upsert_peer), guard.clone()).get(list_peers),
        )
        .route("/peers/{id}", http::guarded(delete(delete_peer), guard))
        .route("/graph", get(graph))
        .route("/path", get(path))
        .route("/events", events.route())
        .route("/healthz", get(|| async { http::health("topology") }))
        .route("/metrics", get(metrics_text))
        .with_state(state);
    http::finish(r, metrics)
}

impl Inner {
    /// The state, with peers past their expiry dropped first (checked at
    /// most every eighth of the expiry).
    fn mesh(&self) -> std::sync::MutexGuard<'_, Mesh> {
        let mut mesh = self.mesh.lock().unwrap_or_else(|e| e.into_inner());
        let expiry = self.config.peer_expiry;
        let every = (expiry / 8).clamp(Duration::from_millis(20), Duration::from_secs(30));
        if mesh.last_sweep.elapsed() >= every {
            let gone = mesh.sweep(expiry);
            if gone > 0 {
                self.metrics.inc(
                    "expired_peers_total",
                    "Peers dropped after no upsert within the expiry.",
                    gone as u64,
                );
            }
        }
        mesh
    }
}

impl Mesh {
    /// Drops every peer not upserted within `expiry`; returns how many.
    fn sweep(&mut self, expiry: Duration) -> usize {
        self.last_sweep = Instant::now();
        let old: Vec<String> = self
            .info
            .iter()
            .filter(|(_, e)| e.seen.elapsed() >= expiry)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &old {
            tracing::info!(peer = %id, "peer not refreshed within the expiry; dropped");
            self.remove(id, |peer| EventKind::PeerExpired { peer });
        }
        old.len()
    }

    /// Removes `id` and its edges; records the edges lost, then `why`.
    fn remove(&mut self, id: &str, why: fn(String) -> EventKind) -> bool {
        let mut lost: Vec<EventKind> = (self.graph.neighbors_of(id).into_iter())
            .map(|n| EventKind::edge(false, id, n))
            .collect();
        lost.push(why(id.to_string()));
        self.events.record_all(lost);
        self.info.remove(id);
        let was = self.graph.remove(id);
        self.version += 1;
        was
    }

    /// A peer as `/graph` shows it: its neighbors are its edges, the peers
    /// that list it back.
    fn node(&self, id: &str) -> Option<GraphNode> {
        let info = &self.info.get(id)?.up;
        Some(GraphNode {
            peer_id: info.peer_id.clone(),
            neighbors: self
                .graph
                .neighbors_of(id)
                .into_iter()
                .map(str::to_string)
                .collect(),
            region: info.region.clone(),
            rtt_ms: info.rtt_ms,
            metadata: info.metadata.clone(),
        })
    }

    fn snapshot(&self) -> GraphSnapshot {
        GraphSnapshot {
            nodes: self
                .graph
                .peers()
                .into_iter()
                .filter_map(|p| self.node(p))
                .collect(),
            edges: self.graph.edges(),
        }
    }

    /// `/graph` as JSON, made once per change and shared by every reader.
    fn graph_json(&mut self) -> Bytes {
        match &self.graph_json {
            Some((v, b)) if *v == self.version => b.clone(),
            _ => {
                let b = Bytes::from(serde_json::to_vec(&self.snapshot()).unwrap_or_default());
                self.graph_json = Some((self.version, b.clone()));
                b
            }
        }
    }

    /// `GET /peers` (the nodes alone) as JSON, cached like [`Self::graph_json`].
    fn nodes_json(&mut self) -> Bytes {
        match &self.nodes_json {
            Some((v, b)) if *v == self.version => b.clone(),
            _ => {
                let b = Bytes::from(serde_json::to_vec(&self.snapshot().nodes).unwrap_or_default());
                self.nodes_json = Some((self.version, b.clone()));
                b
            }
        }
    }
}

fn validate(c: &Config, up: &PeerUpsert) -> Result<(), ApiError> {
    http::valid("peer_id", &up.peer_id, wire::ids::validate_peer_id)?;
    if up.neighbors.len() > c.max_neighbors {
        return Err(ApiError::field(
            "neighbors",
            format!(
                "{} listed, at most {} (TOPOLOGY_MAX_NEIGHBORS)",
                up.neighbors.len(),
                c.max_neighbors
            ),
        ));
    }
    for (i, n) in up.neighbors.iter().enumerate() {
        http::valid(&format!("neighbors[{i}]"), n, wire::ids::validate_peer_id)?;
    }
    if let Some(region) = &up.region {
        wire::ids::validate_name("region", region).map_err(|e| ApiError::field("region", e.0))?;
    }
    if up.metadata.len() > c.max_metadata {
        return Err(ApiError::field(
            "metadata",
            format!(
                "{} entries, at most {} (TOPOLOGY_MAX_METADATA)",
                up.metadata.len(),
                c.max_metadata
            ),
        ));
    }
    for (k, v) in &up.metadata {
        if k.is_empty() || k.len() > c.max_metadata_key || v.len() > c.max_metadata_value {
            let shown: String = k.chars().take(c.max_metadata_key.max(1)).collect();
            return Err(ApiError::field(
                format!("metadata.{shown}"),
                format!(
                    "metadata keys are 1 to {} bytes, values at most {}",
                    c.max_metadata_key, c.max_metadata_value
                ),
            ));
        }
    }
    Ok(())
}

/// Topology writes come from the tracker and meshctl: the secret only.
fn admin_only(who: &Identity, peer_id: &str) -> Result<(), ApiError> {
    if who.is_admin() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "peer_id",
        format!(
            "a peer token may not write topology (peer {peer_id:?}): the tracker writes it from announces"
        ),
    ))
}

async fn upsert_peer(
    State(s): State<AppState>,
    http::Caller(who): http::Caller,
    JsonBody(up): JsonBody<PeerUpsert>,
) -> Result<Json<GraphNode>, ApiError> {
    admin_only(&who, &up.peer_id)?;
    let c = &s.inner.config;
    validate(c, &up)?;
    let mut mesh = s.inner.mesh();
    if !mesh.info.contains_key(&up.peer_id) && mesh.info.len() >= c.max_peers {
        // Make room from expired peers before refusing.
        mesh.sweep(c.peer_expiry);
        if mesh.info.len() >= c.max_peers {
            return Err(ApiError::status_field(
                StatusCode::SERVICE_UNAVAILABLE,
                "peer_id",
                format!(
                    "topology holds {} peers, at most {} (TOPOLOGY_MAX_PEERS); peers not refreshed expire",
                    mesh.info.len(),
                    c.max_peers
                ),
            ));
        }
    }
    let before: Vec<String> = (mesh.graph.neighbors_of(&up.peer_id).into_iter())
        .map(String::from)
        .collect();
    let new = mesh.graph.upsert(&up.peer_id, &up.neighbors);
    let id = up.peer_id.clone();
    let after = mesh.graph.neighbors_of(&id);
    let mut changes = Vec::new();
    if new {
        changes.push(EventKind::PeerAdded { peer: id.clone() });
    }
    changes.extend(
        before
            .iter()
            .filter(|n| !after.contains(&n.as_str()))
            .map(|n| EventKind::edge(false, &id, n)),
    );
    changes.extend(
        after
            .iter()
            .filter(|n| !before.iter().any(|b| b == *n))
            .map(|n| EventKind::edge(true, &id, n)),
    );
    mesh.events.record_all(changes);
    mesh.info.insert(
        id.clone(),
        Entry {
            up,
            seen: Instant::now(),
        },
    );
    mesh.version += 1;
    let node = mesh
        .node(&id)
        .ok_or_else(|| ApiError::not_found("peer vanished"))?;
    Ok(Json(node))
}

async fn delete_peer(
    State(s): State<AppState>,
    http::Caller(who): http::Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<RemovedResponse>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::field("peer_id", e.body_text()))?;
    admin_only(&who, &id)?;
    http::valid("peer_id", &id, wire::ids::validate_peer_id)?;
    let mut mesh = s.inner.mesh();
    if !mesh.info.contains_key(&id) {
        return Err(ApiError::not_found(format!("unknown peer {id:?}")));
    }
    mesh.remove(&id, |peer| EventKind::PeerRemoved { peer });
    Ok(Json(RemovedResponse {
        peer_id: id,
        removed: true,
    }))
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn graph(State(s): State<AppState>) -> Response {
    let body = s.inner.mesh().graph_json();
    json_bytes(body)
}

async fn list_peers(State(s): State<AppState>) -> Response {
    let body = s.inner.mesh().nodes_json();
    json_bytes(body)
}

async fn path(
    State(s): State<AppState>,
    query: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PathResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let get = |k: &str| {
        q.get(k)
            .cloned()
            .ok_or_else(|| ApiError::field(k, "missing query parameter"))
    };
    let (from, to) = (get("from")?, get("to")?);
    http::valid("from", &from, wire::ids::validate_peer_id)?;
    http::valid("to", &to, wire::ids::validate_peer_id)?;
    let found = s.inner.mesh().graph.shortest_path(&from, &to);
    match found {
        Ok(path) => {
            s.inner
                .metrics
                .inc("paths_computed_total", "GET /path answers with a path.", 1);
            let hops = path.len() - 1;
            Ok(Json(PathResponse {
                from,
                to,
                path,
                hops,
            }))
        }
        Err(e @ PathError::UnknownFrom(_)) => Err(ApiError::status_field(
            StatusCode::NOT_FOUND,
            "from",
            e.to_string(),
        )),
        Err(e @ PathError::UnknownTo(_)) => Err(ApiError::status_field(
            StatusCode::NOT_FOUND,
            "to",
            e.to_string(),
        )),
        Err(e) => Err(ApiError::not_found(e.to_string())),
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    let (peers, edges) = {
        let mesh = s.inner.mesh();
        (mesh.graph.len(), mesh.graph.edge_count())
    };
    http::prometheus(s.inner.metrics.render(&[
        ("peers", "Peers in the graph.", peers as f64),
        ("edges", "Undirected edges in the graph.", edges as f64),
    ]))
}
