//! Tracker bodies.
//!
//! ```text
//! POST /announce  {"peer_id":"peer-1","region":"eu","rtt_ms":12,"neighbors":["peer-2"],"segments":["s1"],"addr":"peer-1:8080","edge":"edge-db-a"}
//! POST /heartbeat {"peer_id":"peer-1","segments":["s1","s2"]}        (neighbors optional too)
//! GET  /segments/s1?region=eu&limit=5
//!      {"segment":"s1","holders":[{"peer_id":"peer-1",...}],"edges":[{"peer_id":"peer-3",...,"edge":"edge-db-a"}]}
//! POST /suspect   {"peer_id":"peer-1","suspect":"peer-7","reason":"connect refused"}
//! GET  /peers     {"peers":[{"peer_id":"peer-1","region":"eu","rtt_ms":12,"edge":null,"segments":2,"last_seen_secs":3.5,...}]}
//! ```

use serde::{Deserialize, Serialize};

/// Response header the tracker adds to a segment lookup from a peer it does
/// not know (its state was lost, or the peer expired): the peer should
/// announce at once instead of at its next heartbeat. A heartbeat from such
/// a peer is answered 404 as before.
///
/// ```text
/// GET /segments/s1?region=eu&peer=peer-4      (the token names the peer, if any)
/// 200 X-Mesh-Announce: again
/// ```
pub const ANNOUNCE_HEADER: &str = "x-mesh-announce";
/// The value of [`ANNOUNCE_HEADER`].
pub const ANNOUNCE_AGAIN: &str = "again";

/// `POST /announce`: a peer's full state; replaces what the tracker knew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    pub peer_id: String,
    pub region: String,
    pub rtt_ms: u32,
    pub neighbors: Vec<String>,
    pub segments: Vec<String>,
    /// Where other peers reach this one (`host:port`); defaults to `<peer_id>:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// The edge database this peer reads (edge peers only), e.g. `edge-db-a`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
}

/// `POST /heartbeat`: refreshes the TTL; present fields replace the stored ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub peer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbors: Option<Vec<String>>,
}

/// `POST /suspect`: `peer_id` (the reporter, whose token it must be) could
/// not get a segment through or from `suspect`. Both must be live peers, and
/// a peer cannot report itself; the tracker answers 202 with the report
/// (without `reason`). One report changes nothing for anyone else; a peer
/// reported by `TRACKER_SUSPECT_QUORUM` distinct peers (default 2) within
/// `TRACKER_SUSPECT_WINDOW_SECONDS` (default 30) is demoted (listed after
/// the others, marked `suspect`) until one window after the last report
/// that kept the quorum, or until it announces again; a heartbeat does not
/// end it. No report evicts a peer. `reason`: at most 200 characters
/// (control characters are shown as spaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect {
    pub peer_id: String,
    pub suspect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Answer of a successful announce or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub peer_id: String,
    /// Seconds until the peer expires unless it heartbeats again.
    pub ttl_seconds: u64,
}

/// A live peer as a candidate source for a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub peer_id: String,
    pub region: String,
    pub rtt_ms: u32,
    pub addr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// Demoted: reported failing by several distinct peers, or not heard
    /// from for `TRACKER_SUSPECT_AFTER_SECONDS` (about two heartbeat
    /// intervals) though still live; listed after every candidate that is not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
}

/// `GET /segments/<segment>?region=<preferred>&limit=N`.
///
/// Both lists hold live peers only, same region first, then RTT ascending,
/// then peer id. `edges` is the fallback when no holder answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentLookup {
    pub segment: String,
    pub holders: Vec<Candidate>,
    pub edges: Vec<Candidate>,
}

/// One row of `GET /peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub peer_id: String,
    pub region: String,
    pub rtt_ms: u32,
    pub addr: String,
    #[serde(default)]
    pub edge: Option<String>,
    pub neighbors: Vec<String>,
    /// How many segments the peer holds.
    pub segments: usize,
    /// Seconds since the peer's last announce or heartbeat.
    pub last_seen_secs: f64,
}

/// `GET /peers`: live peers sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeersResponse {
    pub peers: Vec<PeerStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn announce_roundtrip() {
        let a = Announce {
            peer_id: "peer-1".into(),
            region: "eu".into(),
            rtt_ms: 12,
            neighbors: vec!["peer-2".into()],
            segments: vec!["s1".into()],
            addr: Some("peer-1:8080".into()),
            edge: Some("edge-db-a".into()),
        };
        roundtrip(
            &a,
            r#"{"peer_id":"peer-1","region":"eu","rtt_ms":12,"neighbors":["peer-2"],"segments":["s1"],"addr":"peer-1:8080","edge":"edge-db-a"}"#,
        );
    }

    #[test]
    fn heartbeat_fields_are_optional() {
        let h = Heartbeat {
            peer_id: "peer-1".into(),
            segments: None,
            neighbors: None,
        };
        roundtrip(&h, r#"{"peer_id":"peer-1"}"#);
        assert!(serde_json::from_str::<Heartbeat>(r#"{"segments":[]}"#).is_err());
    }

    #[test]
    fn suspect_report_and_demoted_candidate() {
        roundtrip(
            &Suspect {
                peer_id: "peer-1".into(),
                suspect: "peer-7".into(),
                reason: None,
            },
            r#"{"peer_id":"peer-1","suspect":"peer-7"}"#,
        );
        let c = Candidate {
            peer_id: "peer-7".into(),
            region: "eu".into(),
            rtt_ms: 5,
            addr: "peer-7:8080".into(),
            edge: None,
            suspect: true,
        };
        roundtrip(
            &c,
            r#"{"peer_id":"peer-7","region":"eu","rtt_ms":5,"addr":"peer-7:8080","suspect":true}"#,
        );
    }

    #[test]
    fn lookup_and_peers_roundtrip() {
        let c = Candidate {
            peer_id: "peer-3".into(),
            region: "eu".into(),
            rtt_ms: 5,
            addr: "peer-3:8080".into(),
            edge: None,
            suspect: false,
        };
        let l = SegmentLookup {
            segment: "s1".into(),
            holders: vec![c.clone()],
            edges: vec![],
        };
        roundtrip(
            &l,
            r#"{"segment":"s1","holders":[{"peer_id":"peer-3","region":"eu","rtt_ms":5,"addr":"peer-3:8080"}],"edges":[]}"#,
        );
        let p = PeersResponse {
            peers: vec![PeerStatus {
                peer_id: "peer-3".into(),
                region: "eu".into(),
                rtt_ms: 5,
                addr: "peer-3:8080".into(),
                edge: None,
                neighbors: vec![],
                segments: 2,
                last_seen_secs: 1.5,
            }],
        };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PeersResponse>(&text).unwrap(), p);
    }
}
