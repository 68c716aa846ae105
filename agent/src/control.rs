//! The agent's side of the control plane: tracker announce/heartbeat and
//! candidate lookup, the signalling client, and topology's `GET /path` as the
//! route source while signalling is down.

use crate::client;
use crate::flight::FetchError;
use crate::state::Inner;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use wire::signalling::{ClientMessage, ServerMessage};
use wire::tracker::{Ack, Announce, Heartbeat, SegmentLookup};
use wire::url::encode_component;

/// How long a route from signalling or topology is reused.
const PATH_TTL: Duration = Duration::from_secs(5);
/// How long to wait for signalling to answer a `request_path`.
const SIGNAL_ANSWER: Duration = Duration::from_secs(2);
/// Control-plane HTTP requests.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// New inventory is batched this long before it is sent.
const INVENTORY_DEBOUNCE: Duration = Duration::from_millis(150);
/// Shortest time between two announces asked for by the tracker (a burst
/// of lookups answered "announce again" makes one announce).
const ANNOUNCE_GAP: Duration = Duration::from_secs(1);
/// Reading topology's graph for edge peers when nothing else names one.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(2);

/// The route from this peer to `target`: `[me, ..., target]`, through none
/// of the peers this agent suspects (see [`Inner::suspect`]): signalling is
/// asked to avoid them; a cached or topology path through one is not used.
/// When no path avoids them the answer is an error at once: the requester
/// goes on to its next source instead of waiting on a dead hop again.
pub async fn path_to(inner: &Arc<Inner>, target: &str) -> Result<Vec<String>, String> {
    let me = &inner.config.peer_id;
    let avoid = inner.avoid(target);
    let clear = |path: &[String]| crossing(path, &avoid).map(str::to_string);
    if let Some((at, path)) = inner
        .paths
        .cached
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(target)
    {
        if at.elapsed() < PATH_TTL && clear(path).is_none() {
            return Ok(path.clone());
        }
    }
    let mut why = String::new();
    let sender = inner
        .paths
        .outgoing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let sender = match sender {
        Some(_) if !inner.paths.may_ask() => {
            why = "over this peer's rate of path requests".into();
            None
        }
        s => s,
    };
    if let Some(tx) = sender {
        let (wtx, wrx) = oneshot::channel();
        inner
            .paths
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(target.to_string())
            .or_default()
            .push(wtx);
        let msg = ClientMessage::RequestPath {
            target: target.to_string(),
            avoid: avoid.clone(),
        };
        let text = serde_json::to_string(&msg).unwrap_or_default();
        if tx.send(text).is_ok() {
            match tokio::time::timeout(SIGNAL_ANSWER, wrx).await {
                // A concurrent request's answer (with another avoid list)
                // may have woken this one: checked like any other path.
                Ok(Ok(Ok(path))) => match clear(&path) {
                    None => return Ok(path),
                    Some(p) => why = format!("signalling's path passes through {p}, which failed"),
                },
                // Signalling knows this peer's graph: when it finds no path
                // around the failed peers, topology would not either.
                Ok(Ok(Err(e))) if !avoid.is_empty() => {
                    return Err(format!(
                        "signalling: {e} (avoiding {}, which failed)",
                        avoid.join(", ")
                    ))
                }
                Ok(Ok(Err(e))) => why = format!("signalling: {e}"),
                _ => why = "signalling did not answer".into(),
            }
        }
    } else if why.is_empty() {
        why = "signalling not connected".into();
    }
    let from_topology = match &inner.config.topology_url {
        None => Err(why),
        Some(topology) => match path_from_topology(inner, topology, target).await {
            Ok(path) => match clear(&path) {
                None => Ok(path),
                Some(p) => Err(format!(
                    "{why}; topology's path passes through {p}, which failed"
                )),
            },
            Err(e) => Err(format!("{why}; topology: {e}")),
        },
    };
    match from_topology {
        Ok(path) => {
            inner.paths.answer(target, Ok(path.clone()));
            Ok(path)
        }
        // Neither signalling nor topology: a neighbor is one hop away.
        Err(_) if inner.config.neighbor(target).is_some() => {
            Ok(vec![me.clone(), target.to_string()])
        }
        Err(e) => Err(e),
    }
}

/// The first peer strictly inside `path` (neither end) that is in `avoid`.
fn crossing<'a>(path: &'a [String], avoid: &[String]) -> Option<&'a str> {
    let inside = path
        .get(1..path.len().saturating_sub(1))
        .unwrap_or_default();
    inside
        .iter()
        .find(|p| avoid.contains(p))
        .map(String::as_str)
}

/// Tells the tracker that `suspect` could not be reached or did not answer
/// on a route (`POST /suspect`), in the background. The tracker demotes a
/// holder only when several distinct peers report it.
pub fn report_suspect(inner: &Arc<Inner>, suspect: &str, reason: &str) {
    let Some(tracker) = inner.config.tracker_url.clone() else {
        return;
    };
    let body = wire::tracker::Suspect {
        peer_id: inner.config.peer_id.clone(),
        suspect: suspect.to_string(),
        reason: Some(reason.chars().take(200).collect()),
    };
    let inner = inner.clone();
    tokio::spawn(async move {
        match post_raw(&inner, &tracker, "/suspect", &body).await {
            Ok(a) if (200..300).contains(&a.status) => {}
            Ok(a) => {
                tracing::debug!(suspect = %body.suspect, status = a.status, "the tracker did not take a report")
            }
            Err(e) => {
                tracing::debug!(suspect = %body.suspect, error = %e, "cannot report a suspect")
            }
        }
    });
}

async fn path_from_topology(
    inner: &Inner,
    topology: &str,
    target: &str,
) -> Result<Vec<String>, String> {
    let query = format!(
        "/path?from={}&to={}",
        encode_component(&inner.config.peer_id),
        encode_component(target)
    );
    let resp = get(inner, topology, &query).await?;
    if !(200..300).contains(&resp.status) {
        return Err(format!("answered {}", resp.status));
    }
    let p: wire::topology::PathResponse = resp.json()?;
    Ok(p.path)
}

/// Learns the edge peers from topology's graph (when no lookup named any
/// yet and the tracker cannot be asked). Errors are only logged: the miss
/// goes on with what it has.
pub async fn edges_from_topology(inner: &Inner) {
    let Some(topology) = &inner.config.topology_url else {
        return;
    };
    let answer = client::call(
        topology,
        "/graph",
        None,
        None,
        inner.config.bind_ip(),
        GRAPH_TIMEOUT,
    )
    .await;
    match answer.and_then(|a| a.json::<wire::topology::GraphSnapshot>()) {
        Ok(g) => {
            let edges = crate::sources::edges_of_graph(&g, &inner.config.peer_id);
            if !edges.is_empty() {
                inner.learn_edges(edges);
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read edge peers from topology"),
    }
}

/// A lookup's answer, and whether the tracker said it does not know this
/// peer (it lost its state: its lists may be empty for a moment).
pub struct Looked {
    pub lookup: SegmentLookup,
    pub tracker_forgot: bool,
}

/// Live holders (at most `limit`) and edge peers of `id`, from the tracker,
/// on one of the kept-alive tracker connections, within `deadline`. A
/// lookup beyond `TRACKER_LOOKUPS_MAX` is refused at once with 503. An
/// answer saying the tracker does not know this peer wakes the tracker
/// loop to announce; edge peers it names are remembered.
pub async fn lookup(
    inner: &Inner,
    id: &str,
    limit: usize,
    deadline: Duration,
) -> Result<Looked, FetchError> {
    let Some(tracker) = &inner.config.tracker_url else {
        return Err(FetchError::new(502, "no tracker configured"));
    };
    let query = format!(
        "/segments/{}?region={}&limit={limit}&peer={}",
        encode_component(id),
        encode_component(&inner.config.region),
        encode_component(&inner.config.peer_id)
    );
    let resp = inner
        .tracker
        .get(
            tracker,
            &query,
            inner.config.token.as_deref(),
            inner.config.bind_ip(),
            deadline.min(CONTROL_TIMEOUT),
        )
        .await
        .map_err(|e| match e {
            client::PoolError::Busy => {
                FetchError::new(503, format!("busy: {e}; retry in a moment"))
            }
            client::PoolError::Failed(e) => FetchError::new(502, format!("tracker: {e}")),
        })?;
    if resp.announce_again {
        inner.announce_again.notify_one();
    }
    let lookup = if resp.status == 404 {
        SegmentLookup {
            segment: id.to_string(),
            holders: vec![],
            edges: vec![],
        }
    } else if !(200..300).contains(&resp.status) {
        return Err(FetchError::new(
            502,
            format!("tracker answered {}", resp.status),
        ));
    } else {
        resp.json::<SegmentLookup>()
            .map_err(|e| FetchError::new(502, format!("tracker: {e}")))?
    };
    if !lookup.edges.is_empty() {
        let before = inner.remembered_edges();
        inner.learn_edges(crate::sources::remember_edges(
            &before,
            &lookup.edges,
            &inner.config.peer_id,
        ));
    }
    Ok(Looked {
        lookup,
        tracker_forgot: resp.announce_again,
    })
}

/// A control-plane read: `GET base + path_and_query`, no token.
async fn get(inner: &Inner, base: &str, path_and_query: &str) -> Result<client::Answer, String> {
    client::call(
        base,
        path_and_query,
        None,
        None,
        inner.config.bind_ip(),
        CONTROL_TIMEOUT,
    )
    .await
}

/// POSTs `body` to the tracker with this peer's token.
async fn post_raw<T: serde::Serialize>(
    inner: &Inner,
    tracker: &str,
    path: &str,
    body: &T,
) -> Result<client::Answer, String> {
    let json = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    client::call(
        tracker,
        path,
        Some(json),
        inner.config.token.as_deref(),
        inner.config.bind_ip(),
        CONTROL_TIMEOUT,
    )
    .await
}

enum Sent {
    Ok,
    Unknown,
    Failed(String),
}

async fn post<T: serde::Serialize>(inner: &Inner, path: &str, body: &T) -> Sent {
    let Some(tracker) = &inner.config.tracker_url else {
        return Sent::Ok;
    };
    match post_raw(inner, tracker, path, body).await {
        Ok(r) if (200..300).contains(&r.status) => match r.json::<Ack>() {
            Ok(_) => Sent::Ok,
            Err(e) => Sent::Failed(format!("bad answer: {e}")),
        },
        Ok(r) if r.status == 404 => Sent::Unknown,
        Ok(r) => Sent::Failed(format!("{}: {}", r.status, r.text())),
        Err(e) => Sent::Failed(e),
    }
}

/// Announces, then heartbeats every interval and whenever the inventory
/// changed (batched), announcing afresh when the tracker forgot this peer.
pub async fn tracker_loop(inner: Arc<Inner>, cancel: CancellationToken) {
    if inner.config.tracker_url.is_none() {
        return;
    }
    let neighbors: Vec<String> = inner
        .config
        .neighbors
        .iter()
        .map(|n| n.id.clone())
        .collect();
    let mut backoff = Duration::from_millis(100);
    let mut announced = false;
    let mut last_announce: Option<Instant> = None;
    loop {
        if !announced {
            if let Some(gap) = last_announce.and_then(|t| ANNOUNCE_GAP.checked_sub(t.elapsed())) {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(gap) => {}
                }
            }
            let body = Announce {
                peer_id: inner.config.peer_id.clone(),
                region: inner.config.region.clone(),
                rtt_ms: inner.config.rtt_ms,
                neighbors: neighbors.clone(),
                segments: inner.inventory(),
                addr: Some(inner.config.advertised_addr()),
                edge: inner.config.edge_name(),
            };
            match post(&inner, "/announce", &body).await {
                Sent::Ok => {
                    tracing::info!(segments = body.segments.len(), "announced to the tracker");
                    announced = true;
                    last_announce = Some(Instant::now());
                    backoff = Duration::from_millis(100);
                }
                Sent::Unknown | Sent::Failed(_) => {
                    tracing::debug!("announce failed; retrying in {backoff:?}");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        // Wait for the next beat or a change of inventory.
        let wait = if backoff > Duration::from_millis(100) {
            backoff.min(inner.config.heartbeat_interval)
        } else {
            inner.config.heartbeat_interval
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = inner.announce_again.notified() => {
                tracing::info!("the tracker lost this peer; announcing again");
                announced = false;
                continue;
            }
            _ = inner.inventory_changed.notified() => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(INVENTORY_DEBOUNCE) => {}
                }
            }
        }
        let body = Heartbeat {
            peer_id: inner.config.peer_id.clone(),
            segments: Some(inner.inventory()),
            neighbors: Some(neighbors.clone()),
        };
        let sent = post(&inner, "/heartbeat", &body).await;
        gate::trim();
        match sent {
            Sent::Ok => backoff = Duration::from_millis(100),
            Sent::Unknown => {
                tracing::info!("the tracker does not know this peer; announcing again");
                announced = false;
            }
            Sent::Failed(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                // A failing tracker may come back empty: announce, not heartbeat.
                announced = false;
            }
        }
    }
}

/// Keeps a signalling connection open: announces the neighbors, sends path
/// requests, hands `path` answers to their waiters. Reconnects with a
/// jittered backoff, doubling from 200 ms up to `SIGNAL_BACKOFF_MAX_MS`; a
/// refusal (409: the name is connected already; 401/403: the token) is
/// retried the same way. Why it cannot connect is logged once per change,
/// not once per attempt.
pub async fn signalling_loop(inner: Arc<Inner>, cancel: CancellationToken) {
    let Some(base) = inner.config.signal_url.clone() else {
        return;
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!(
        "{base}{sep}peer={}&room={}",
        inner.config.peer_id, inner.config.room
    );
    let first = Duration::from_millis(200);
    let mut backoff = first;
    let mut logged: Option<String> = None;
    let mut attempt = 0u64;
    loop {
        let started = Instant::now();
        match signalling_session(&inner, &url, &cancel, &mut logged).await {
            Ok(()) => return,
            Err(e) => {
                let why = e.to_string();
                if logged.as_deref() != Some(why.as_str()) {
                    match &e {
                        SessionError::Refused { .. } => {
                            tracing::warn!(reason = %why, "signalling refused this peer; retrying with backoff")
                        }
                        _ => {
                            tracing::info!(reason = %why, "signalling unavailable; retrying with backoff")
                        }
                    }
                    logged = Some(why);
                } else {
                    tracing::debug!(reason = %why, "signalling still unavailable");
                }
            }
        }
        *inner
            .paths
            .outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        if started.elapsed() > Duration::from_secs(10) {
            backoff = first;
        }
        attempt += 1;
        let pause = jittered(backoff, attempt);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        backoff = (backoff * 2).min(inner.config.signal_backoff_max);
    }
}

/// Between half of `backoff` and all of it, so peers refused together do
/// not come back together.
fn jittered(backoff: Duration, attempt: u64) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(attempt);
    let half = backoff / 2;
    let spread = half.as_millis().max(1) as u64;
    half + Duration::from_millis(h.finish() % spread)
}

/// Why a signalling session ended.
#[derive(Debug)]
enum SessionError {
    /// Refused before the upgrade, with the service's reason.
    Refused { status: u16, reason: String },
    /// Anything else: unreachable, closed, timed out.
    Other(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Refused { status, reason } => {
                let what = match status {
                    409 => "this peer's name is connected already",
                    401 | 403 => "the token was refused",
                    _ => "refused",
                };
                write!(f, "{status} ({what}): {reason}")
            }
            SessionError::Other(e) => f.write_str(e),
        }
    }
}

impl From<String> for SessionError {
    fn from(e: String) -> Self {
        SessionError::Other(e)
    }
}

/// The refusal in an HTTP answer to the upgrade: status and the `error` of
/// its JSON body (or its text, shortened).
fn refusal(e: tokio_tungstenite::tungstenite::Error) -> SessionError {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp.body().as_deref().unwrap_or_default();
            let reason = serde_json::from_slice::<wire::ErrorBody>(body)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect());
            SessionError::Refused { status, reason }
        }
        e => SessionError::Other(e.to_string()),
    }
}

async fn signalling_session(
    inner: &Arc<Inner>,
    url: &str,
    cancel: &CancellationToken,
    logged: &mut Option<String>,
) -> Result<(), SessionError> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(t) = &inner.config.token {
        let v = format!("Bearer {t}")
            .parse()
            .map_err(|_| "MESH_TOKEN is not a valid header value".to_string())?;
        request.headers_mut().insert("authorization", v);
    }
    let (ws, _) = tokio::time::timeout(
        CONTROL_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, None, false),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(refusal)?;
    let (mut sink, mut stream) = ws.split();
    let hello = ClientMessage::Announce {
        peer: Some(inner.config.peer_id.clone()),
        room: Some(inner.config.room.clone()),
        neighbors: inner
            .config
            .neighbors
            .iter()
            .map(|n| n.id.clone())
            .collect(),
    };
    let text = serde_json::to_string(&hello).map_err(|e| e.to_string())?;
    sink.send(Message::text(text))
        .await
        .map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    *inner
        .paths
        .outgoing
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(tx);
    tracing::info!("connected to signalling");
    *logged = None;
    let me = inner.config.peer_id.as_str();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(());
            }
            out = rx.recv() => {
                let Some(text) = out else { return Err("sender gone".to_string().into()) };
                sink.send(Message::text(text)).await.map_err(|e| e.to_string())?;
            }
            msg = stream.next() => {
                let msg = match msg {
                    None => return Err("closed by server".to_string().into()),
                    Some(Err(e)) => return Err(e.to_string().into()),
                    Some(Ok(m)) => m,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => return Err("closed by server".to_string().into()),
                    _ => continue,
                };
                match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Path { path }) => {
                        if path.first().map(String::as_str) == Some(me) {
                            if let Some(target) = path.last().cloned() {
                                inner.paths.answer(&target, Ok(path));
                            }
                        }
                    }
                    Ok(ServerMessage::Error { error, target }) => match target {
                        Some(t) => inner.paths.answer(&t, Err(error)),
                        None => tracing::warn!(%error, "signalling refused a message"),
                    },
                    Err(e) => tracing::debug!(error = %e, "unknown signalling message"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::crossing;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_path_crosses_only_through_its_inner_peers() {
        let path = v(&["a", "b", "c", "d"]);
        assert_eq!(crossing(&path, &v(&["c"])), Some("c"));
        assert_eq!(crossing(&path, &v(&["x", "b"])), Some("b"));
        assert_eq!(
            crossing(&path, &v(&["a", "d"])),
            None,
            "ends are not crossed"
        );
        assert_eq!(crossing(&path, &[]), None);
        assert_eq!(crossing(&v(&["a", "d"]), &v(&["a", "d"])), None);
        assert_eq!(crossing(&v(&["a"]), &v(&["a"])), None);
    }
}
