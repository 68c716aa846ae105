//! Headers of the hop-by-hop relay between agents (`GET /segments/<id>`).
//!
//! A request without [`ROUTE`] is a client request. A relay request carries
//! the rest of the route and the name of the hop that sent it:
//!
//! ```text
//! GET /segments/tone-00003-<sha>.ts
//! X-Mesh-Route: peer-6,peer-18,peer-30     (the receiver first, the holder last)
//! X-Mesh-From: peer-1
//! ```
//!
//! Responses say where the bytes came from and the way they took:
//!
//! ```text
//! X-Mesh-Source: cache | peer | edge
//! X-Mesh-Route: peer-1,peer-6,peer-18,peer-30   (serving peer first, the source last)
//! X-Mesh-Hops: 3
//! ```
//!
//! An error answer of a relay whose next hop failed names that hop:
//!
//! ```text
//! 502  X-Mesh-Failed: peer-18
//! ```

/// The remaining route of a relay request; the full route on responses.
pub const ROUTE: &str = "x-mesh-route";
/// The peer id of the hop that sent a relay request.
pub const FROM: &str = "x-mesh-from";
/// `cache`, `peer` or `edge` on responses.
pub const SOURCE: &str = "x-mesh-source";
/// Number of mesh links the bytes crossed to reach the answering peer.
pub const HOPS: &str = "x-mesh-hops";
/// SHA-256 (hex) of the body, sent by the holder for ids that do not carry one.
pub const SHA256: &str = "x-mesh-sha256";
/// On a relay's error answer: the peer further down the route that could
/// not be reached or did not answer in time, so the requester asks for a
/// path around it (`X-Mesh-Failed: peer-18`). Only a peer on the route the
/// requester sent is believed.
pub const FAILED: &str = "x-mesh-failed";

/// Where a response's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The answering peer's own cache.
    Cache,
    /// Another peer, relayed hop by hop.
    Peer,
    /// An edge PostgreSQL database.
    Edge,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Peer => "peer",
            Source::Edge => "edge",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cache" => Some(Source::Cache),
            "peer" => Some(Source::Peer),
            "edge" => Some(Source::Edge),
            _ => None,
        }
    }
}

/// Parse a comma-separated route header; empty names are refused.
pub fn parse_route(value: &str) -> Option<Vec<String>> {
    let hops: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    hops.iter().all(|h| !h.is_empty()).then_some(hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_sources() {
        assert_eq!(
            parse_route("peer-6, peer-18,peer-30"),
            Some(vec!["peer-6".into(), "peer-18".into(), "peer-30".into()])
        );
        assert_eq!(parse_route("a,,b"), None);
        assert_eq!(parse_route(""), None);
        for s in [Source::Cache, Source::Peer, Source::Edge] {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        assert_eq!(Source::parse("origin"), None);
    }
}
