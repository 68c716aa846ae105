//! Topology manager bodies.
//!
//! ```text
//! POST /peers   {"peer_id":"peer-1","neighbors":["peer-2"],"region":"eu","rtt_ms":12,"metadata":{"edge":"edge-db-a"}}
//! DELETE /peers/peer-1   {"peer_id":"peer-1","removed":true}
//! GET  /graph   {"nodes":[{"peer_id":"peer-1",...}],"edges":[["peer-1","peer-2"]]}
//! GET  /path?from=peer-1&to=peer-3   {"from":"peer-1","to":"peer-3","path":["peer-1","peer-2","peer-3"],"hops":2}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /peers`: insert or replace one peer and its neighbor list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerUpsert {
    pub peer_id: String,
    pub neighbors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// One node of `GET /graph`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    pub peer_id: String,
    /// The peers this one has an edge with: both ends listed each other.
    #[serde(default)]
    pub neighbors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// `GET /graph`: nodes sorted by id; undirected edges `[a, b]` with `a < b`, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSnapshot {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<[String; 2]>,
}

/// `GET /path?from=A&to=B` on success (404 with an `ErrorBody` otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathResponse {
    pub from: String,
    pub to: String,
    /// Every peer from `from` to `to`, both included.
    pub path: Vec<String>,
    /// `path.len() - 1`.
    pub hops: usize,
}

/// `DELETE /peers/<id>` on success (404 with an `ErrorBody` for an unknown peer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedResponse {
    pub peer_id: String,
    pub removed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn upsert_roundtrip_and_optional_fields() {
        let u = PeerUpsert {
            peer_id: "peer-1".into(),
            neighbors: vec!["peer-2".into(), "peer-5".into()],
            region: Some("eu".into()),
            rtt_ms: Some(12),
            metadata: BTreeMap::from([("edge".to_string(), "edge-db-a".to_string())]),
        };
        roundtrip(
            &u,
            r#"{"peer_id":"peer-1","neighbors":["peer-2","peer-5"],"region":"eu","rtt_ms":12,"metadata":{"edge":"edge-db-a"}}"#,
        );
        let bare: PeerUpsert = serde_json::from_str(r#"{"peer_id":"p","neighbors":[]}"#).unwrap();
        assert_eq!(bare.region, None);
        assert!(bare.metadata.is_empty());
    }

    #[test]
    fn graph_and_path_roundtrip() {
        let g = GraphSnapshot {
            nodes: vec![GraphNode {
                peer_id: "a".into(),
                neighbors: vec!["b".into()],
                region: None,
                rtt_ms: None,
                metadata: BTreeMap::new(),
            }],
            edges: vec![["a".into(), "b".into()]],
        };
        roundtrip(
            &g,
            r#"{"nodes":[{"peer_id":"a","neighbors":["b"]}],"edges":[["a","b"]]}"#,
        );
        let p = PathResponse {
            from: "a".into(),
            to: "c".into(),
            path: vec!["a".into(), "b".into(), "c".into()],
            hops: 2,
        };
        roundtrip(&p, r#"{"from":"a","to":"c","path":["a","b","c"],"hops":2}"#);
    }

    #[test]
    fn removed_roundtrip() {
        let json = r#"{"peer_id":"peer-1","removed":true}"#;
        let r = RemovedResponse {
            peer_id: "peer-1".into(),
            removed: true,
        };
        roundtrip(&r, json);
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
    }
}
