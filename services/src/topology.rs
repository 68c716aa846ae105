//! The topology manager: peer metadata and the undirected connection graph.
//!
//! ```text
//! POST   /peers        {"peer_id":"peer-1","neighbors":["peer-2"],"region":"eu","rtt_ms":12,"metadata":{}}  → 200 GraphNode
//! DELETE /peers/<id>   → 200 {"peer_id":"peer-1","removed":true}   (404 when unknown)
//! GET    /graph        → GraphSnapshot
//! GET    /path?from=A&to=B → PathResponse, or 404 naming the unknown end or "no path"
//! GET    /healthz, /metrics
//! ```
//!
//! State lives in memory: the tracker upserts every live peer again, so a
//! restarted topology fills up within one tracker resync.

use crate::graph::{MeshGraph, PathError};
use crate::http::{self, ApiError, JsonBody};
use crate::metrics::Metrics;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use wire::topology::{GraphNode, GraphSnapshot, PathResponse, PeerUpsert, RemovedResponse};

/// Topology manager settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Bearer token required on `POST /peers` and `DELETE /peers/<id>`
    /// (`MESH_TOKEN`). Default: none, writes are open.
    pub token: Option<String>,
}

/// The most neighbors one peer may list.
pub const MAX_NEIGHBORS: usize = 1024;
/// The most metadata entries one peer may carry.
pub const MAX_METADATA: usize = 64;

#[derive(Clone)]
struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    token: Option<String>,
    metrics: Metrics,
    // std Mutex: every operation is a short in-memory update or BFS, never
    // held across an await.
    mesh: Mutex<Mesh>,
}

#[derive(Default)]
struct Mesh {
    graph: MeshGraph,
    info: HashMap<String, PeerUpsert>,
}

/// Serves the topology manager on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let watcher = http::cancel_on(shutdown, &token);
    let result = http::serve(
        listener,
        router(config),
        gate::Limits::service(),
        token.clone(),
    )
    .await;
    token.cancel();
    let _ = watcher.await;
    result
}

/// The topology routes, for embedding or tests that bring their own server.
pub fn router(config: Config) -> Router {
    let metrics = Metrics::new("topology");
    metrics.inc("paths_computed_total", "GET /path answers with a path.", 0);
    let state = AppState {
        inner: Arc::new(Inner {
            token: config.token.filter(|t| !t.is_empty()),
            metrics: metrics.clone(),
            mesh: Mutex::new(Mesh::default()),
        }),
    };
    let r = Router::new()
        .route("/peers", post(upsert_peer).get(list_peers))
        .route("/peers/{id}", delete(delete_peer))
        .route("/graph", get(graph))
        .route("/path", get(path))
        .route("/healthz", get(|| async { http::health("topology") }))
        .route("/metrics", get(metrics_text))
        .with_state(state);
    http::finish(r, metrics)
}

impl Inner {
    fn mesh(&self) -> std::sync::MutexGuard<'_, Mesh> {
        self.mesh.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn node(mesh: &Mesh, id: &str) -> Option<GraphNode> {
    let info = mesh.info.get(id)?;
    Some(GraphNode {
        peer_id: info.peer_id.clone(),
        neighbors: info.neighbors.clone(),
        region: info.region.clone(),
        rtt_ms: info.rtt_ms,
        metadata: info.metadata.clone(),
    })
}

fn validate(up: &PeerUpsert) -> Result<(), ApiError> {
    http::valid("peer_id", &up.peer_id, wire::ids::validate_peer_id)?;
    if up.neighbors.len() > MAX_NEIGHBORS {
        return Err(ApiError::field(
            "neighbors",
            format!("{} listed, at most {MAX_NEIGHBORS}", up.neighbors.len()),
        ));
    }
    for (i, n) in up.neighbors.iter().enumerate() {
        http::valid(&format!("neighbors[{i}]"), n, wire::ids::validate_peer_id)?;
    }
    if let Some(region) = &up.region {
        wire::ids::validate_name("region", region).map_err(|e| ApiError::field("region", e.0))?;
    }
    if up.metadata.len() > MAX_METADATA {
        return Err(ApiError::field(
            "metadata",
            format!("{} entries, at most {MAX_METADATA}", up.metadata.len()),
        ));
    }
    for (k, v) in &up.metadata {
        if k.is_empty() || k.len() > wire::ids::MAX_ID_LEN || v.len() > 1024 {
            return Err(ApiError::field(
                format!("metadata.{k}"),
                "keys are 1 to 200 bytes, values at most 1024",
            ));
        }
    }
    Ok(())
}

async fn upsert_peer(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(up): JsonBody<PeerUpsert>,
) -> Result<Json<GraphNode>, ApiError> {
    http::check_token(&headers, s.inner.token.as_deref())?;
    validate(&up)?;
    let mut mesh = s.inner.mesh();
    mesh.graph.upsert(&up.peer_id, &up.neighbors);
    let id = up.peer_id.clone();
    mesh.info.insert(id.clone(), up);
    let node = node(&mesh, &id).ok_or_else(|| ApiError::not_found("peer vanished"))?;
    Ok(Json(node))
}

async fn delete_peer(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RemovedResponse>, ApiError> {
    http::check_token(&headers, s.inner.token.as_deref())?;
    http::valid("peer_id", &id, wire::ids::validate_peer_id)?;
    let mut mesh = s.inner.mesh();
    if !mesh.graph.remove(&id) {
        return Err(ApiError::not_found(format!("unknown peer {id:?}")));
    }
    mesh.info.remove(&id);
    Ok(Json(RemovedResponse {
        peer_id: id,
        removed: true,
    }))
}

fn snapshot(mesh: &Mesh) -> GraphSnapshot {
    GraphSnapshot {
        nodes: mesh
            .graph
            .peers()
            .into_iter()
            .filter_map(|p| node(mesh, p))
            .collect(),
        edges: mesh.graph.edges(),
    }
}

async fn graph(State(s): State<AppState>) -> Json<GraphSnapshot> {
    Json(snapshot(&s.inner.mesh()))
}

async fn list_peers(State(s): State<AppState>) -> Json<Vec<GraphNode>> {
    Json(snapshot(&s.inner.mesh()).nodes)
}

async fn path(
    State(s): State<AppState>,
    query: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PathResponse>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))?;
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
        Err(e @ PathError::UnknownFrom(_)) => Err(ApiError {
            status: axum::http::StatusCode::NOT_FOUND,
            body: wire::ErrorBody::field("from", e.to_string()),
        }),
        Err(e @ PathError::UnknownTo(_)) => Err(ApiError {
            status: axum::http::StatusCode::NOT_FOUND,
            body: wire::ErrorBody::field("to", e.to_string()),
        }),
        Err(e) => Err(ApiError::not_found(e.to_string())),
    }
}

async fn metrics_text(State(s): State<AppState>) -> axum::response::Response {
    let (peers, edges) = {
        let mesh = s.inner.mesh();
        (mesh.graph.len(), mesh.graph.edge_count())
    };
    http::prometheus(s.inner.metrics.render(&[
        ("peers", "Peers in the graph.", peers as f64),
        ("edges", "Undirected edges in the graph.", edges as f64),
    ]))
}
