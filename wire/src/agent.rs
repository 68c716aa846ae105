//! The mesh agent's own endpoints besides the segment relay.
//!
//! ```text
//! POST /segments?id=<segment-id>&sha256=<hex>     raw bytes in the body
//! POST /segments  {"id":"...","data":"<base64>","sha256":"<hex>"}   (JSON form)
//!      → 201 {"id":"...","sha256":"...","bytes":104000}
//! GET  /inventory → {"peer_id":"peer-1","segments":["..."],"entries":2,"bytes":208000}
//! GET  /stats     → AgentStats (counters since start, per song; meshctl stats adds them up)
//! POST /announce-again → 202: announce to the tracker now (the tracker lost its state);
//!      with MESH_TOKEN, only with this peer's own token
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The agent's endpoint the tracker calls after it lost its state, so the
/// peer announces at once (body ignored; answered 202).
pub const ANNOUNCE_AGAIN_PATH: &str = "/announce-again";

/// JSON form of `POST /segments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestJson {
    pub id: String,
    /// The segment bytes, standard base64.
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Answer of a successful ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingested {
    pub id: String,
    pub sha256: String,
    pub bytes: u64,
}

/// `GET /inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub peer_id: String,
    /// Cached segment ids, sorted.
    pub segments: Vec<String>,
    pub entries: usize,
    pub bytes: u64,
}

/// Counters of one song at one agent. "Client" means a request without a
/// route (a listener); its bytes are counted once, by where they came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SongCounters {
    /// Bytes served to clients from this agent's own cache.
    pub client_bytes_cache: u64,
    /// Bytes served to clients that came from another peer's cache via the mesh.
    pub client_bytes_peer: u64,
    /// Bytes served to clients whose route ended in an edge database read.
    pub client_bytes_edge: u64,
    /// Client requests answered (segments and playlists).
    pub client_requests: u64,
    /// Client requests that failed (no source answered, hash mismatch, ...).
    pub client_failures: u64,
    /// Bytes this agent forwarded to a neighbor on relay requests.
    pub relay_bytes: u64,
    /// Reads this agent made from its edge database.
    pub edge_reads: u64,
    /// Bytes read from its edge database.
    pub edge_read_bytes: u64,
}

/// `GET /stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStats {
    pub peer_id: String,
    /// Edge database name for edge peers.
    #[serde(default)]
    pub edge: Option<String>,
    pub cache_entries: usize,
    pub cache_bytes: u64,
    pub rss_bytes: u64,
    pub relays_forwarded: u64,
    pub relays_refused: u64,
    pub singleflight_joins: u64,
    /// Keyed by song name (the segment id's prefix before `-<seq>-<sha>.ts`,
    /// or before `.m3u8`).
    pub songs: BTreeMap<String, SongCounters>,
}

/// The song a segment or playlist id belongs to, if it is a published id.
pub fn song_of_id(id: &str) -> Option<&str> {
    if let Some(song) = id.strip_suffix(".m3u8") {
        return Some(song);
    }
    crate::ids::sha256_of_id(id)?;
    let stem = id.strip_suffix(".ts")?;
    let (rest, _sha) = stem.rsplit_once('-')?;
    let (song, seq) = rest.rsplit_once('-')?;
    (!song.is_empty() && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit())).then_some(song)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn song_is_read_from_ids() {
        let sha = "a".repeat(64);
        assert_eq!(
            song_of_id(&crate::ids::segment_id("my-song", 7, &sha)),
            Some("my-song")
        );
        assert_eq!(song_of_id("my-song.m3u8"), Some("my-song"));
        assert_eq!(song_of_id("raw-segment"), None);
    }

    #[test]
    fn ingest_and_stats_roundtrip() {
        roundtrip(
            &IngestJson {
                id: "s".into(),
                data: "AAE=".into(),
                sha256: None,
            },
            r#"{"id":"s","data":"AAE="}"#,
        );
        let mut s = AgentStats {
            peer_id: "peer-1".into(),
            ..Default::default()
        };
        s.songs.insert(
            "tone".into(),
            SongCounters {
                client_bytes_cache: 5,
                ..Default::default()
            },
        );
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<AgentStats>(&text).unwrap(), s);
    }
}
