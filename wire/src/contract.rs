//! The constants of the contract: default ports, the control plane's host
//! names inside a deployment's networks, and the environment variable names
//! every binary reads. meshctl writes these names into containers and the
//! agent and services read them back, so each is spelled once, here.
//!
//! ```text
//! tracker    http://tracker:7070       TRACKER_ADDR, REDIS_ADDR, TOPOLOGY_URL, TRACKER_TTL_SECONDS,
//!                                      TRACKER_SUSPECT_QUORUM, TRACKER_SUSPECT_WINDOW_SECONDS,
//!                                      TRACKER_SUSPECT_AFTER_SECONDS
//! topology   http://topology:8090      TOPOLOGY_ADDR
//! signalling ws://signalling:7080/ws   SIGNAL_ADDR, SIGNAL_PING_SECONDS
//! peer       http://peer-N:8080        PEER_ID, NEIGHBORS, TRACKER_URL, SIGNAL_URL, ...
//! all                                  MESH_TOKEN, RUST_LOG
//! ```

/// Default ports.
/// Defaults that several parts must agree on.
pub mod limits {
    /// Most neighbors one peer may have: the tracker's and topology's
    /// default cap (`TRACKER_MAX_NEIGHBORS`, `TOPOLOGY_MAX_NEIGHBORS`), so
    /// meshctl plans no peer with more.
    pub const MAX_NEIGHBORS: usize = 32;
    /// Most segment ids in one announce or heartbeat: the tracker's default
    /// cap (`TRACKER_MAX_SEGMENTS`). A peer announces its whole cache, so
    /// meshctl plans no `CACHE_CAPACITY` above it.
    pub const MAX_SEGMENTS: usize = 1024;
}

pub mod ports {
    /// Every peer agent (`PEER_ADDR`).
    pub const PEER: u16 = 8080;
    pub const TRACKER: u16 = 7070;
    pub const SIGNALLING: u16 = 7080;
    pub const TOPOLOGY: u16 = 8090;
    pub const REDIS: u16 = 6379;
    pub const POSTGRES: u16 = 5432;
}

/// Host names of the control plane inside a deployment's networks (network
/// aliases, the same in every deployment).
pub mod hosts {
    pub const REDIS: &str = "redis";
    pub const TOPOLOGY: &str = "topology";
    pub const TRACKER: &str = "tracker";
    pub const SIGNALLING: &str = "signalling";
}

/// Default URLs as a peer or a service sees them inside the deployment.
pub mod urls {
    /// `TRACKER_URL`.
    pub const TRACKER: &str = "http://tracker:7070";
    /// `SIGNAL_URL`.
    pub const SIGNAL: &str = "ws://signalling:7080/ws";
    /// `TOPOLOGY_URL`.
    pub const TOPOLOGY: &str = "http://topology:8090";
    /// `REDIS_ADDR`.
    pub const REDIS_ADDR: &str = "redis:6379";
}

/// Environment variable names.
pub mod env {
    /// Bearer token for control-plane writes and peer ingest (all binaries).
    pub const MESH_TOKEN: &str = "MESH_TOKEN";
    /// Log level of the agent (`error|warn|info|debug|trace`), log filter of
    /// the services (all binaries).
    pub const RUST_LOG: &str = "RUST_LOG";

    // The agent.
    pub const PEER_ID: &str = "PEER_ID";
    pub const PEER_ADDR: &str = "PEER_ADDR";
    pub const NEIGHBORS: &str = "NEIGHBORS";
    pub const TRACKER_URL: &str = "TRACKER_URL";
    pub const SIGNAL_URL: &str = "SIGNAL_URL";
    pub const TOPOLOGY_URL: &str = "TOPOLOGY_URL";
    pub const PEER_ROOM: &str = "PEER_ROOM";
    pub const PEER_REGION: &str = "PEER_REGION";
    pub const PEER_RTT_MS: &str = "PEER_RTT_MS";
    pub const CACHE_CAPACITY: &str = "CACHE_CAPACITY";
    pub const CACHE_MAX_BYTES: &str = "CACHE_MAX_BYTES";
    pub const HEARTBEAT_INTERVAL_SEC: &str = "HEARTBEAT_INTERVAL_SEC";
    pub const PLAYLIST_TTL_SEC: &str = "PLAYLIST_TTL_SEC";
    pub const EDGE_DB_URL: &str = "EDGE_DB_URL";

    // The services.
    pub const TOPOLOGY_ADDR: &str = "TOPOLOGY_ADDR";
    pub const TRACKER_ADDR: &str = "TRACKER_ADDR";
    pub const SIGNAL_ADDR: &str = "SIGNAL_ADDR";
    pub const SIGNAL_PING_SECONDS: &str = "SIGNAL_PING_SECONDS";
    pub const REDIS_ADDR: &str = "REDIS_ADDR";
    pub const TRACKER_TTL_SECONDS: &str = "TRACKER_TTL_SECONDS";
    /// Distinct peers that must report a peer failing (`POST /suspect`)
    /// within the window before the tracker demotes it in lookups.
    pub const TRACKER_SUSPECT_QUORUM: &str = "TRACKER_SUSPECT_QUORUM";
    /// How long a failure report counts, and how long a demotion by reports
    /// lasts after the last one, in seconds.
    pub const TRACKER_SUSPECT_WINDOW_SECONDS: &str = "TRACKER_SUSPECT_WINDOW_SECONDS";
    /// Seconds without a heartbeat after which a live peer is demoted in
    /// lookups (before its TTL ends it); about two heartbeat intervals.
    pub const TRACKER_SUSPECT_AFTER_SECONDS: &str = "TRACKER_SUSPECT_AFTER_SECONDS";

    // The databases (the official PostgreSQL image's contract).
    pub const POSTGRES_DB: &str = "POSTGRES_DB";
    pub const POSTGRES_USER: &str = "POSTGRES_USER";
    pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_agree_with_hosts_and_ports() {
        assert_eq!(
            urls::TRACKER,
            format!("http://{}:{}", hosts::TRACKER, ports::TRACKER)
        );
        assert_eq!(
            urls::SIGNAL,
            format!("ws://{}:{}/ws", hosts::SIGNALLING, ports::SIGNALLING)
        );
        assert_eq!(
            urls::TOPOLOGY,
            format!("http://{}:{}", hosts::TOPOLOGY, ports::TOPOLOGY)
        );
        assert_eq!(
            urls::REDIS_ADDR,
            format!("{}:{}", hosts::REDIS, ports::REDIS)
        );
    }
}
