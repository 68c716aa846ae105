//! Songs through the mesh: publish, play, stats, swarm benchmark.
//!
//! Nothing here knows of the command line; `cmd::{publish,play,stats,bench}`
//! turn flags into the options below.
//!
//! - [`hls`]: audio file or HLS folder → content-addressed HLS ([`hls::prepare`]),
//!   and the playlist parsing/rewriting it rests on.
//! - [`store`]: the one-transaction write into origin-db and the wait until
//!   both edge databases hold the song.
//! - [`play`]: an unmodified ffmpeg plays a song through a peer, behind a
//!   recording proxy that notes each segment's source, hops and latency.
//! - [`stats`]: every peer's `GET /stats` added up per song.
//! - [`swarm`]: many listeners play one song at once through their peers.
//! - [`churn`]: the swarm while faults run on a schedule, by phase.
//! - [`figures`]: percentiles and ratios (pure).
//! - [`tables`]: the tables the commands print for people.

pub mod churn;
pub mod figures;
pub mod hls;
pub mod play;
pub mod stats;
pub mod store;
pub mod swarm;
pub mod tables;

/// A peer as the songs commands need it: its name and its HTTP base URL as
/// reached from the host (`http://127.0.0.1:<published port>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerRef {
    pub name: String,
    pub url: String,
    /// The edge database it reads, for edge peers.
    pub edge: Option<String>,
}

/// The HTTP client the songs commands use towards peers: no proxy from the
/// environment (peers are on loopback), bounded connect time.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_max_idle_per_host(8)
        .tcp_nodelay(true)
        .build()?)
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The running peers of a deployment, as the songs commands reach them.
pub fn running_peers(d: &crate::context::Deployment) -> Vec<PeerRef> {
    d.peers
        .iter()
        .filter(|p| p.running && !p.url.is_empty())
        .map(|p| PeerRef {
            name: p.name.clone(),
            url: p.url.clone(),
            edge: p.edge.clone(),
        })
        .collect()
}
