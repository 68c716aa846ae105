//! What a socket's messages do: announces update the room's graph, path
//! requests run BFS and reach every peer on the path; bad messages get an
//! error naming what was wrong.

use super::members::Outbound;
use super::{count, Inner, MAX_AVOID};
use crate::graph::PathError;
use crate::http;
use axum::extract::ws::Utf8Bytes;
use wire::signalling::{ClientMessage, ServerMessage};

pub(super) fn error(text: impl Into<String>, target: Option<String>) -> ServerMessage {
    ServerMessage::Error {
        error: text.into(),
        target,
    }
}

/// A server message as text, once, to be shared by every recipient.
pub(super) fn encode(m: &ServerMessage) -> Option<Utf8Bytes> {
    serde_json::to_string(m).ok().map(Utf8Bytes::from)
}

/// The `target` of a `request_path`, so that a refusal can name it (the
/// requester's waiter for that target then gives up at once).
pub(super) fn request_target(text: &str) -> Option<String> {
    match serde_json::from_str(text) {
        Ok(ClientMessage::RequestPath { target, .. }) => Some(target),
        _ => None,
    }
}

/// Handles one text message of `me` in `room`; returns the reply for the
/// sender, if any (paths go to every peer on them directly).
pub(super) fn handle(inner: &Inner, me: &str, room: &str, text: &str) -> Option<ServerMessage> {
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
            let max = inner.config.max_neighbors;
            if neighbors.len() > max {
                return Some(error(
                    format!("neighbors: {} listed, at most {max}", neighbors.len()),
                    None,
                ));
            }
            for (i, n) in neighbors.iter().enumerate() {
                if let Err(e) = wire::ids::validate_peer_id(n) {
                    return Some(error(format!("neighbors[{i}]: {e}"), None));
                }
            }
            let mut rooms = inner.rooms();
            if let Some(r) = rooms.rooms.get_mut(room) {
                r.graph.upsert(me, &neighbors);
            }
            None
        }
        ClientMessage::RequestPath { target, avoid } => {
            if let Err(e) = wire::ids::validate_peer_id(&target) {
                return Some(error(format!("target: {e}"), Some(target)));
            }
            if avoid.len() > MAX_AVOID {
                return Some(error(
                    format!("avoid: {} listed, at most {MAX_AVOID}", avoid.len()),
                    Some(target),
                ));
            }
            for (i, a) in avoid.iter().enumerate() {
                if let Err(e) = wire::ids::validate_peer_id(a) {
                    return Some(error(format!("avoid[{i}]: {e}"), Some(target)));
                }
            }
            let rooms = inner.rooms();
            let Some(r) = rooms.rooms.get(room) else {
                return Some(error("connection is closing", Some(target)));
            };
            if !avoid.is_empty() {
                count(&inner.metrics, "avoiding_requests_total", 1);
            }
            match r.graph.shortest_path_avoiding(me, &target, &avoid) {
                Ok(path) => {
                    count(&inner.metrics, "paths_computed_total", 1);
                    inner
                        .events
                        .record(wire::events::EventKind::path_pushed(room, &path));
                    let text = encode(&ServerMessage::Path { path: path.clone() })?;
                    for p in &path {
                        if let Some(m) = r.members.get(p) {
                            if m.tx.try_send(Outbound::Text(text.clone())).is_err() {
                                count(&inner.metrics, "dropped_messages_total", 1);
                            }
                        }
                    }
                    None
                }
                Err(e) => {
                    count(&inner.metrics, "path_failures_total", 1);
                    let text = match e {
                        PathError::UnknownTo(t) => {
                            format!("unknown target {t:?}: not connected in room {room:?}")
                        }
                        PathError::UnknownFrom(f) => format!("unknown peer {f:?} in room {room:?}"),
                        PathError::NoPath { from, to } => {
                            let avoided = r.graph.avoided(&from, &to, &avoid);
                            if avoided.is_empty() {
                                format!("no path from {from:?} to {to:?} in room {room:?}")
                            } else {
                                format!(
                                    "no path from {from:?} to {to:?} in room {room:?} avoiding {avoided:?}"
                                )
                            }
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
        avoid: Option<Vec<String>>,
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
