//! Signalling WebSocket messages on `/ws?peer=<name>&room=<interest>`, and
//! the `GET /rooms` answer.
//!
//! ```text
//! peer → server  {"type":"announce","peer":"peer-1","room":"rock","neighbors":["peer-2","peer-5"]}
//! peer → server  {"type":"request_path","target":"peer-30"}
//! server → peers {"type":"path","path":["peer-1","peer-6","peer-18","peer-30"]}
//! server → peer  {"type":"error","error":"no path from peer-1 to peer-30 in room rock","target":"peer-30"}
//! GET /rooms     {"rooms":{"rock":{"edges":[["peer-1","peer-2"]],"peers":["peer-1","peer-2"]}}}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a peer sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The peer's neighbor list in its room. `peer` and `room`, when given,
    /// must match the connection's own query parameters.
    Announce {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        neighbors: Vec<String>,
    },
    /// Ask for the shortest path from this peer to `target` in its room.
    /// `avoid` names peers the requester found failing (a relay that could
    /// not be reached, refused or cut the stream): the path passes through
    /// none of them, or there is none. The requester and the target are
    /// never avoided.
    RequestPath {
        target: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        avoid: Vec<String>,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent to every peer on the path, the requester included.
    Path { path: Vec<String> },
    /// A refused message; the connection stays usable.
    Error {
        error: String,
        /// The `request_path` target this error answers, when it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
}

/// `GET /rooms`: every room with a connected peer, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsResponse {
    pub rooms: BTreeMap<String, Room>,
}

/// One room of [`RoomsResponse`]: its connected peers and the edges between
/// them. `edges` comes first because the answer has always listed its keys
/// in that (sorted) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Undirected edges `[a, b]` with `a < b`, sorted.
    pub edges: Vec<[String; 2]>,
    /// Connected peers, sorted.
    pub peers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn spec_messages_parse_exactly() {
        roundtrip(
            &ClientMessage::Announce {
                peer: Some("peer-1".into()),
                room: Some("rock".into()),
                neighbors: vec!["peer-2".into(), "peer-5".into()],
            },
            r#"{"type":"announce","peer":"peer-1","room":"rock","neighbors":["peer-2","peer-5"]}"#,
        );
        roundtrip(
            &ClientMessage::RequestPath {
                target: "peer-30".into(),
                avoid: vec![],
            },
            r#"{"type":"request_path","target":"peer-30"}"#,
        );
        roundtrip(
            &ClientMessage::RequestPath {
                target: "peer-30".into(),
                avoid: vec!["peer-6".into()],
            },
            r#"{"type":"request_path","target":"peer-30","avoid":["peer-6"]}"#,
        );
        roundtrip(
            &ServerMessage::Path {
                path: vec![
                    "peer-1".into(),
                    "peer-6".into(),
                    "peer-18".into(),
                    "peer-30".into(),
                ],
            },
            r#"{"type":"path","path":["peer-1","peer-6","peer-18","peer-30"]}"#,
        );
        roundtrip(
            &ServerMessage::Error {
                error: "no path".into(),
                target: Some("peer-30".into()),
            },
            r#"{"type":"error","error":"no path","target":"peer-30"}"#,
        );
    }

    #[test]
    fn rooms_roundtrip_in_the_served_key_order() {
        let json = r#"{"rooms":{"pop":{"edges":[],"peers":["peer-9"]},"rock":{"edges":[["peer-1","peer-2"]],"peers":["peer-1","peer-2"]}}}"#;
        let rooms = RoomsResponse {
            rooms: BTreeMap::from([
                (
                    "rock".to_string(),
                    Room {
                        edges: vec![["peer-1".into(), "peer-2".into()]],
                        peers: vec!["peer-1".into(), "peer-2".into()],
                    },
                ),
                (
                    "pop".to_string(),
                    Room {
                        edges: vec![],
                        peers: vec!["peer-9".into()],
                    },
                ),
            ]),
        };
        roundtrip(&rooms, json);
        assert_eq!(serde_json::to_string(&rooms).unwrap(), json);
        roundtrip(&RoomsResponse::default(), r#"{"rooms":{}}"#);
    }

    #[test]
    fn unknown_type_is_refused() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"request_path"}"#).is_err());
    }
}
