//! `GET /events` on the tracker, topology and signalling: the last events
//! each service saw, kept in a bounded ring with increasing sequence numbers.
//!
//! ```text
//! GET /events?after=<seq>&limit=<n>
//! → {"service":"tracker","first_seq":12,"next_seq":15,"events":[
//!      {"seq":13,"at_ms":1717000000123,"kind":"peer_announced","peer":"peer-3","region":"eu"},
//!      {"seq":14,"at_ms":1717000004000,"kind":"peer_expired","peer":"peer-7"}]}
//! ```
//!
//! `after` (default 0) returns events with `seq > after`, oldest first, at
//! most `limit` (default [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`]). Sequence
//! numbers start at 1 when the service starts. To read on, ask again with
//! `after` = the last `seq` returned, or `next_seq - 1` when none was.
//!
//! A reader that fell behind sees a gap: `first_seq > after + 1` means the
//! events from `after + 1` to `first_seq - 1` were pushed out of the ring.
//! `next_seq <= after` means the service restarted (its numbers began
//! again): read from `after=0`.
//!
//! Kinds, by service:
//!
//! ```text
//! tracker     peer_announced {peer, region, edge?}   an announce was accepted
//!             peer_expired   {peer}                  the reaper removed a peer past its TTL
//!             peer_suspected {peer, reporters, reason}  a peer was demoted in lookups: distinct
//!                                                    peers reported it failing (reporters), or it
//!                                                    missed its heartbeats (reporters empty)
//! topology    peer_added     {peer}                  a peer new to the graph
//!             edge_added     {a, b}                  both ends list each other now (a < b)
//!             edge_removed   {a, b}                  a listing or an end went away
//!             peer_removed   {peer}                  DELETE /peers/<id> (the tracker's expiry)
//!             peer_expired   {peer}                  not upserted within TOPOLOGY_PEER_EXPIRY_SECONDS
//! signalling  path_pushed    {room, from, to, hops, path}  a route sent to every peer on it
//!             socket_opened  {peer, room}
//!             socket_closed  {peer, room}
//! ```

use serde::{Deserialize, Serialize};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: usize = 1000;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 4096;
/// Ring size of each service when none is configured (`TRACKER_EVENTS`,
/// `TOPOLOGY_EVENTS`, `SIGNAL_EVENTS`).
pub const DEFAULT_CAPACITY: usize = 4096;
/// Most peer names a `path_pushed` event keeps (the first ones and the
/// target); `hops` counts the whole path. Bounds one event's size.
pub const MAX_PATH_SHOWN: usize = 16;

/// `reason` of a `peer_suspected` event for a peer that was not heard from
/// for longer than the tracker's `TRACKER_SUSPECT_AFTER_SECONDS`.
pub const MISSED_HEARTBEATS: &str = "missed heartbeats";

/// Answer of `GET /events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsResponse {
    /// `tracker`, `topology` or `signalling`.
    pub service: String,
    /// `seq` of the oldest event still held (`next_seq` when none is).
    pub first_seq: u64,
    /// `seq` the next event will get.
    pub next_seq: u64,
    /// Events with `seq > after`, oldest first.
    pub events: Vec<Event>,
}

/// One thing a service saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Wall clock, milliseconds since the Unix epoch.
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened; serialized with its `kind` beside `seq` and `at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    PeerAnnounced {
        peer: String,
        region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edge: Option<String>,
    },
    PeerExpired {
        peer: String,
    },
    /// The tracker demoted `peer` in its lookups (listed last, marked
    /// `suspect`): `reporters` are the distinct peers that reported it
    /// failing within the window (sorted), or none when it missed its
    /// heartbeats; `reason` is the last report's reason or
    /// [`MISSED_HEARTBEATS`]. Recorded once per demotion.
    PeerSuspected {
        peer: String,
        #[serde(default)]
        reporters: Vec<String>,
        reason: String,
    },
    PeerAdded {
        peer: String,
    },
    PeerRemoved {
        peer: String,
    },
    EdgeAdded {
        a: String,
        b: String,
    },
    EdgeRemoved {
        a: String,
        b: String,
    },
    PathPushed {
        room: String,
        from: String,
        to: String,
        /// Links on the path (`path` has one name more, unless cut short).
        hops: usize,
        /// The peers on it, from `from` to `to`; at most [`MAX_PATH_SHOWN`]
        /// names (the first ones, then `to`) for a longer path.
        path: Vec<String>,
    },
    SocketOpened {
        peer: String,
        room: String,
    },
    SocketClosed {
        peer: String,
        room: String,
    },
    /// A kind this build does not know (a newer service).
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// An edge event with its ends in order (`a < b`).
    pub fn edge(added: bool, x: &str, y: &str) -> EventKind {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        let (a, b) = (a.to_string(), b.to_string());
        if added {
            EventKind::EdgeAdded { a, b }
        } else {
            EventKind::EdgeRemoved { a, b }
        }
    }

    /// A `path_pushed` event, keeping at most [`MAX_PATH_SHOWN`] names.
    pub fn path_pushed(room: &str, path: &[String]) -> EventKind {
        let hops = path.len().saturating_sub(1);
        let shown = if path.len() > MAX_PATH_SHOWN {
            let mut v = path[..MAX_PATH_SHOWN - 1].to_vec();
            v.extend(path.last().cloned());
            v
        } else {
            path.to_vec()
        };
        EventKind::PathPushed {
            room: room.to_string(),
            from: path.first().cloned().unwrap_or_default(),
            to: path.last().cloned().unwrap_or_default(),
            hops,
            path: shown,
        }
    }

    /// The `kind` string as serialized.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PeerAnnounced { .. } => "peer_announced",
            EventKind::PeerExpired { .. } => "peer_expired",
            EventKind::PeerSuspected { .. } => "peer_suspected",
            EventKind::PeerAdded { .. } => "peer_added",
            EventKind::PeerRemoved { .. } => "peer_removed",
            EventKind::EdgeAdded { .. } => "edge_added",
            EventKind::EdgeRemoved { .. } => "edge_removed",
            EventKind::PathPushed { .. } => "path_pushed",
            EventKind::SocketOpened { .. } => "socket_opened",
            EventKind::SocketClosed { .. } => "socket_closed",
            EventKind::Unknown => "unknown",
        }
    }

    /// What the event is about: a peer, `a<->b` for an edge, `from->to` for
    /// a path.
    pub fn target(&self) -> String {
        match self {
            EventKind::PeerAnnounced { peer, .. }
            | EventKind::PeerExpired { peer }
            | EventKind::PeerSuspected { peer, .. }
            | EventKind::PeerAdded { peer }
            | EventKind::PeerRemoved { peer }
            | EventKind::SocketOpened { peer, .. }
            | EventKind::SocketClosed { peer, .. } => peer.clone(),
            EventKind::EdgeAdded { a, b } | EventKind::EdgeRemoved { a, b } => {
                format!("{a}<->{b}")
            }
            EventKind::PathPushed { from, to, .. } => format!("{from}->{to}"),
            EventKind::Unknown => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn events_roundtrip() {
        let r = EventsResponse {
            service: "tracker".into(),
            first_seq: 12,
            next_seq: 14,
            events: vec![
                Event {
                    seq: 12,
                    at_ms: 1_717_000_000_123,
                    kind: EventKind::PeerAnnounced {
                        peer: "peer-3".into(),
                        region: "eu".into(),
                        edge: None,
                    },
                },
                Event {
                    seq: 13,
                    at_ms: 1_717_000_004_000,
                    kind: EventKind::PeerExpired {
                        peer: "peer-7".into(),
                    },
                },
            ],
        };
        roundtrip(
            &r,
            r#"{"service":"tracker","first_seq":12,"next_seq":14,"events":[
              {"seq":12,"at_ms":1717000000123,"kind":"peer_announced","peer":"peer-3","region":"eu"},
              {"seq":13,"at_ms":1717000004000,"kind":"peer_expired","peer":"peer-7"}]}"#,
        );
    }

    #[test]
    fn path_and_edge_shapes() {
        let path: Vec<String> = ["peer-1", "peer-6", "peer-30"].map(String::from).to_vec();
        let e = Event {
            seq: 1,
            at_ms: 5,
            kind: EventKind::path_pushed("mesh", &path),
        };
        roundtrip(
            &e,
            r#"{"seq":1,"at_ms":5,"kind":"path_pushed","room":"mesh","from":"peer-1","to":"peer-30","hops":2,"path":["peer-1","peer-6","peer-30"]}"#,
        );
        assert_eq!(e.kind.target(), "peer-1->peer-30");
        let edge = EventKind::edge(false, "peer-9", "peer-10");
        assert_eq!(
            serde_json::to_string(&edge).unwrap(),
            r#"{"kind":"edge_removed","a":"peer-10","b":"peer-9"}"#
        );
    }

    #[test]
    fn long_paths_are_cut_but_counted() {
        let path: Vec<String> = (0..40).map(|i| format!("peer-{i}")).collect();
        let EventKind::PathPushed {
            hops, path: shown, ..
        } = EventKind::path_pushed("r", &path)
        else {
            panic!("not a path")
        };
        assert_eq!(hops, 39);
        assert_eq!(shown.len(), MAX_PATH_SHOWN);
        assert_eq!(shown.last().map(String::as_str), Some("peer-39"));
    }

    #[test]
    fn peer_suspected_shape() {
        let e = Event {
            seq: 4,
            at_ms: 7,
            kind: EventKind::PeerSuspected {
                peer: "peer-7".into(),
                reporters: vec!["peer-1".into(), "peer-2".into()],
                reason: "connect refused".into(),
            },
        };
        roundtrip(
            &e,
            r#"{"seq":4,"at_ms":7,"kind":"peer_suspected","peer":"peer-7","reporters":["peer-1","peer-2"],"reason":"connect refused"}"#,
        );
        assert_eq!(
            (e.kind.name(), e.kind.target()),
            ("peer_suspected", "peer-7".into())
        );
        let late: Event = serde_json::from_str(
            r#"{"seq":5,"at_ms":8,"kind":"peer_suspected","peer":"peer-3","reason":"missed heartbeats"}"#,
        )
        .unwrap();
        assert_eq!(
            late.kind,
            EventKind::PeerSuspected {
                peer: "peer-3".into(),
                reporters: vec![],
                reason: MISSED_HEARTBEATS.into(),
            }
        );
    }

    #[test]
    fn unknown_kind_is_kept_apart() {
        let e: Event =
            serde_json::from_str(r#"{"seq":3,"at_ms":9,"kind":"meteor_strike","peer":"x"}"#)
                .unwrap();
        assert_eq!(e.kind, EventKind::Unknown);
        assert_eq!(e.seq, 3);
    }
}
