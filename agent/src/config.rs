//! The agent's configuration, read from the environment once at start-up.
//!
//! Precedence is simple: a set variable wins over the default; there are no
//! flags. A missing required or malformed value is a [`ConfigError`] naming
//! the variable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use wire::contract::{env, ports, urls};

/// Everything the agent needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PEER_ID` (required): this peer's name on the mesh, e.g. `peer-7`.
    pub peer_id: String,
    /// `PEER_ADDR`: listen address. Default `0.0.0.0:8080`. When its IP is
    /// not the unspecified address, outgoing connections are bound to it too.
    pub listen: SocketAddr,
    /// `TRACKER_URL`: tracker base URL. Default `http://tracker:7070`; empty disables.
    pub tracker_url: Option<String>,
    /// `SIGNAL_URL`: signalling WebSocket URL. Default `ws://signalling:7080/ws`;
    /// the client appends `?peer=<id>&room=<room>`. Empty disables.
    pub signal_url: Option<String>,
    /// `TOPOLOGY_URL`: topology base URL, for `GET /path` while signalling is
    /// down. Default `http://topology:8090`; empty disables.
    pub topology_url: Option<String>,
    /// `PEER_ROOM`: signalling room. Default `default`.
    pub room: String,
    /// `PEER_REGION`: region told to the tracker. Default `default`.
    pub region: String,
    /// `PEER_RTT_MS`: RTT estimate told to the tracker, milliseconds. Default 0.
    pub rtt_ms: u32,
    /// `CACHE_CAPACITY`: most cached segments (entries). Default 64.
    pub cache_capacity: usize,
    /// `CACHE_MAX_BYTES`: most cached bytes, in-flight fetches included.
    /// Default 7 MiB: 64 segments of 6 s of 128 kb/s audio (~100 KB) and
    /// fetches in flight, within a 12 MiB process. One segment may be at most
    /// a quarter of it.
    pub cache_max_bytes: u64,
    /// `HEARTBEAT_INTERVAL_SEC`: seconds between tracker heartbeats. Default 30.
    pub heartbeat_interval: Duration,
    /// `PLAYLIST_TTL_SEC`: how long a copy of an id without a SHA-256 (a
    /// playlist, `<song>.m3u8`) fetched from elsewhere stays fresh, counted
    /// from when it left its source. Default 5 s (1..86400).
    pub playlist_ttl: Duration,
    /// `NEIGHBORS`: comma-separated; `peer-2` (host `peer-2`, port 8080) or
    /// `peer-2=127.0.0.1:9002` (explicit address). Default none.
    pub neighbors: Vec<Neighbor>,
    /// `EDGE_DB_URL`: edge PostgreSQL URL, edge peers only.
    pub edge_db_url: Option<String>,
    /// `MESH_TOKEN`: this peer's own token (`<peer-id>:<hex HMAC>`, see
    /// `wire::auth`): required as `Authorization: Bearer` on ingest, sent to
    /// the tracker and signalling.
    pub token: Option<String>,
    /// `INGEST_BODY_TIMEOUT_SEC`: longest time to receive one ingest body;
    /// a slower body is answered 408. Default 30 s (1..3600).
    pub ingest_body_timeout: Duration,
    /// `STATS_MAX_SONGS`: most songs with their own counters in `/stats`
    /// (least recently counted dropped first). Default 256 (1..100000).
    pub stats_max_songs: usize,
    /// `MISS_TTL_MS`: how long a client miss that no holder and no edge
    /// could serve is answered 404 at once, without asking again. Default
    /// 1500 ms; 0 disables; never longer than `PLAYLIST_TTL_SEC`.
    pub miss_ttl: Duration,
    /// `MISS_CACHE_ENTRIES`: most ids remembered as misses. Default 1024 (1..1000000).
    pub miss_cache_entries: usize,
    /// `TRACKER_CONNECTIONS`: kept-alive connections that candidate lookups
    /// share. Default 2 (1..64).
    pub tracker_connections: usize,
    /// `TRACKER_LOOKUPS_MAX`: lookups running or waiting for a connection;
    /// a miss beyond it is answered 503. Default 64 (1..100000).
    pub tracker_lookups_max: usize,
    /// `LOOKUP_CANDIDATES`: holders asked of the tracker per lookup; when
    /// every one of them failed, asked once more with four times as many.
    /// Default 16 (1..250).
    pub lookup_candidates: usize,
    /// `FETCH_DEADLINE_SEC`: how long a miss may spend finding a source that
    /// answers (holders, then edges); bytes that flow are not cut by it.
    /// Default 20 s (1..600).
    pub fetch_deadline: Duration,
    /// `HOLDER_PENALTY_SEC`: a holder that failed to serve is tried after
    /// the others for this long. Default 10 s (0 disables, ..3600).
    pub holder_penalty: Duration,
    /// `SIGNAL_BACKOFF_MAX_MS`: longest pause between signalling reconnects
    /// (jittered, doubling from 200 ms). Default 5000 ms (200..60000).
    pub signal_backoff_max: Duration,
    /// `HTTP_MAX_CONNECTIONS`, `HTTP_HEADER_TIMEOUT_SEC`,
    /// `HTTP_MAX_REQUESTS_PER_CONNECTION`, `HTTP_MAX_HEADER_BYTES`: the
    /// connection limits of the agent's server (see the gate crate).
    /// Defaults: [`gate::Limits::peer`].
    pub http: gate::Limits,
}

/// Names of the agent's own limits in the environment (the contract's
/// variables are in `wire::contract::env`).
pub mod vars {
    pub const INGEST_BODY_TIMEOUT_SEC: &str = "INGEST_BODY_TIMEOUT_SEC";
    pub const STATS_MAX_SONGS: &str = "STATS_MAX_SONGS";
    pub const MISS_TTL_MS: &str = "MISS_TTL_MS";
    pub const MISS_CACHE_ENTRIES: &str = "MISS_CACHE_ENTRIES";
    pub const TRACKER_CONNECTIONS: &str = "TRACKER_CONNECTIONS";
    pub const TRACKER_LOOKUPS_MAX: &str = "TRACKER_LOOKUPS_MAX";
    pub const LOOKUP_CANDIDATES: &str = "LOOKUP_CANDIDATES";
    pub const FETCH_DEADLINE_SEC: &str = "FETCH_DEADLINE_SEC";
    pub const HOLDER_PENALTY_SEC: &str = "HOLDER_PENALTY_SEC";
    pub const SIGNAL_BACKOFF_MAX_MS: &str = "SIGNAL_BACKOFF_MAX_MS";
}

/// One neighbor: its peer id and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    pub id: String,
    pub host: String,
    pub port: u16,
}

impl Neighbor {
    /// `http://host:port` (IPv6 hosts bracketed).
    pub fn base_url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

/// A missing or malformed environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_env_map(&std::env::vars().collect())
    }

    /// Reads a map of environment variables (tests pass their own).
    pub fn from_env_map(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim().to_string());
        let peer_id = get(env::PEER_ID).ok_or_else(|| err(env::PEER_ID, "must be set"))?;
        wire::ids::validate_peer_id(&peer_id).map_err(|e| err(env::PEER_ID, e.0))?;

        let listen = match get(env::PEER_ADDR) {
            None => SocketAddr::from(([0, 0, 0, 0], ports::PEER)),
            Some(v) => v.parse().map_err(|_| {
                err(
                    env::PEER_ADDR,
                    format!(
                        "{v:?} is not an IP:port address such as 0.0.0.0:{}",
                        ports::PEER
                    ),
                )
            })?,
        };

        let url = |var: &'static str, default: &str, schemes: &[&str]| {
            let v = get(var).unwrap_or_else(|| default.to_string());
            if v.is_empty() {
                return Ok(None);
            }
            let ok = schemes.iter().any(|s| {
                v.strip_prefix(s)
                    .and_then(|r| r.strip_prefix("://"))
                    .is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
            });
            if !ok {
                return Err(err(
                    var,
                    format!("{v:?} is not a {} URL", schemes.join("/")),
                ));
            }
            Ok(Some(v.trim_end_matches('/').to_string()))
        };
        let tracker_url = url(env::TRACKER_URL, urls::TRACKER, &["http"])?;
        let signal_url = url(env::SIGNAL_URL, urls::SIGNAL, &["ws"])?;
        let topology_url = url(env::TOPOLOGY_URL, urls::TOPOLOGY, &["http"])?;

        let name = |var: &'static str, kind: &str| -> Result<String, ConfigError> {
            let v = get(var).unwrap_or_else(|| "default".into());
            wire::ids::validate_name(kind, &v).map_err(|e| err(var, e.0))?;
            Ok(v)
        };
        let room = name(env::PEER_ROOM, "room")?;
        let region = name(env::PEER_REGION, "region")?;

        fn number<T: std::str::FromStr>(
            var: &'static str,
            v: Option<String>,
            default: T,
        ) -> Result<T, ConfigError> {
            match v {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| err(var, format!("{v:?} is not a non-negative whole number"))),
            }
        }
        let rtt_ms: u32 = number(env::PEER_RTT_MS, get(env::PEER_RTT_MS), 0)?;
        let cache_capacity: usize = number(env::CACHE_CAPACITY, get(env::CACHE_CAPACITY), 64)?;
        if cache_capacity == 0 {
            return Err(err(env::CACHE_CAPACITY, "must be at least 1"));
        }
        let cache_max_bytes: u64 =
            number(env::CACHE_MAX_BYTES, get(env::CACHE_MAX_BYTES), 7 << 20)?;
        if cache_max_bytes < 4096 {
            return Err(err(env::CACHE_MAX_BYTES, "must be at least 4096"));
        }
        let hb: u64 = number(
            env::HEARTBEAT_INTERVAL_SEC,
            get(env::HEARTBEAT_INTERVAL_SEC),
            30,
        )?;
        if hb == 0 || hb > 86_400 {
            return Err(err(
                env::HEARTBEAT_INTERVAL_SEC,
                "must be between 1 and 86400",
            ));
        }

        let ttl: u64 = number(env::PLAYLIST_TTL_SEC, get(env::PLAYLIST_TTL_SEC), 5)?;
        if ttl == 0 || ttl > 86_400 {
            return Err(err(env::PLAYLIST_TTL_SEC, "must be between 1 and 86400"));
        }

        let neighbors = parse_neighbors(&peer_id, &get(env::NEIGHBORS).unwrap_or_default())?;

        let edge_db_url = get(env::EDGE_DB_URL).filter(|v| !v.is_empty());
        if let Some(u) = &edge_db_url {
            u.parse::<tokio_postgres::Config>().map_err(|e| {
                err(
                    env::EDGE_DB_URL,
                    format!(
                        "not a PostgreSQL URL (postgres://user:pass@host:{}/db): {e}",
                        ports::POSTGRES
                    ),
                )
            })?;
        }
        let token = get(env::MESH_TOKEN).filter(|v| !v.is_empty());

        // A whole number within `lo..=hi`, or the default.
        let ranged = |var: &'static str, default: u64, lo: u64, hi: u64| {
            let n: u64 = number(var, get(var), default)?;
            if n < lo || n > hi {
                return Err(err(var, format!("must be between {lo} and {hi}")));
            }
            Ok::<u64, ConfigError>(n)
        };
        let ingest_body_timeout = ranged(vars::INGEST_BODY_TIMEOUT_SEC, 30, 1, 3600)?;
        let stats_max_songs = ranged(vars::STATS_MAX_SONGS, 256, 1, 100_000)? as usize;
        let miss_ttl = ranged(vars::MISS_TTL_MS, 1500, 0, 86_400_000)?;
        let miss_ttl = Duration::from_millis(miss_ttl).min(Duration::from_secs(ttl));
        let miss_cache_entries = ranged(vars::MISS_CACHE_ENTRIES, 1024, 1, 1_000_000)? as usize;
        let tracker_connections = ranged(vars::TRACKER_CONNECTIONS, 2, 1, 64)? as usize;
        let tracker_lookups_max = ranged(vars::TRACKER_LOOKUPS_MAX, 64, 1, 100_000)? as usize;
        let lookup_candidates = ranged(vars::LOOKUP_CANDIDATES, 16, 1, 250)? as usize;
        let fetch_deadline = ranged(vars::FETCH_DEADLINE_SEC, 20, 1, 600)?;
        let holder_penalty = ranged(vars::HOLDER_PENALTY_SEC, 10, 0, 3600)?;
        let signal_backoff_max = ranged(vars::SIGNAL_BACKOFF_MAX_MS, 5000, 200, 60_000)?;
        let http = gate::Limits::from_env(gate::Limits::peer(), get).map_err(|e| ConfigError {
            var: e.name,
            message: format!("{:?} is not a positive whole number", e.value),
        })?;

        Ok(Config {
            peer_id,
            listen,
            tracker_url,
            signal_url,
            topology_url,
            room,
            region,
            rtt_ms,
            cache_capacity,
            cache_max_bytes,
            heartbeat_interval: Duration::from_secs(hb),
            playlist_ttl: Duration::from_secs(ttl),
            neighbors,
            edge_db_url,
            token,
            ingest_body_timeout: Duration::from_secs(ingest_body_timeout),
            stats_max_songs,
            miss_ttl,
            miss_cache_entries,
            tracker_connections,
            tracker_lookups_max,
            lookup_candidates,
            fetch_deadline: Duration::from_secs(fetch_deadline),
            holder_penalty: Duration::from_secs(holder_penalty),
            signal_backoff_max: Duration::from_millis(signal_backoff_max),
            http,
        })
    }

    /// Where other peers reach this one, told to the tracker: `PEER_ADDR`
    /// when it names an IP, else `<peer_id>:<port>`.
    pub fn advertised_addr(&self) -> String {
        if self.listen.ip().is_unspecified() {
            format!("{}:{}", self.peer_id, self.listen.port())
        } else {
            self.listen.to_string()
        }
    }

    /// The IP outgoing connections are bound to, if any.
    pub fn bind_ip(&self) -> Option<IpAddr> {
        (!self.listen.ip().is_unspecified()).then(|| self.listen.ip())
    }

    /// The edge database's name told to the tracker: the host of `EDGE_DB_URL`.
    pub fn edge_name(&self) -> Option<String> {
        let url = self.edge_db_url.as_ref()?;
        let cfg: tokio_postgres::Config = url.parse().ok()?;
        let host = match cfg.get_hosts().first()? {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[allow(unreachable_patterns)]
            _ => "local".to_string(),
        };
        Some(host)
    }

    /// Largest single segment accepted (a quarter of the byte cap, at most 16 MiB).
    pub fn max_segment_bytes(&self) -> u64 {
        (self.cache_max_bytes / 4).min(16 << 20)
    }

    pub fn neighbor(&self, id: &str) -> Option<&Neighbor> {
        self.neighbors.iter().find(|n| n.id == id)
    }
}

fn parse_neighbors(me: &str, value: &str) -> Result<Vec<Neighbor>, ConfigError> {
    let mut out: Vec<Neighbor> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = match item.split_once('=') {
            Some((id, addr)) => (id.trim(), Some(addr.trim())),
            None => (item, None),
        };
        wire::ids::validate_peer_id(id).map_err(|e| err(env::NEIGHBORS, e.0))?;
        if id == me {
            return Err(err(env::NEIGHBORS, format!("{id:?} is this peer itself")));
        }
        if out.iter().any(|n| n.id == id) {
            return Err(err(env::NEIGHBORS, format!("{id:?} is listed twice")));
        }
        let (host, port) = match addr {
            // A neighbor named by host only listens on the default peer port.
            None => (id.to_string(), ports::PEER),
            Some(a) => parse_host_port(a).ok_or_else(|| {
                err(
                    env::NEIGHBORS,
                    format!("{item:?}: address must be host:port, e.g. peer-2=127.0.0.1:9002"),
                )
            })?,
        };
        out.push(Neighbor {
            id: id.to_string(),
            host,
            port,
        });
    }
    Ok(out)
}

fn parse_host_port(a: &str) -> Option<(String, u16)> {
    if let Ok(sa) = a.parse::<SocketAddr>() {
        return Some((sa.ip().to_string(), sa.port()));
    }
    let (host, port) = a.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    (host_ok && port != 0).then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::from_env_map(&env(&[("PEER_ID", "peer-1")])).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.tracker_url.as_deref(), Some("http://tracker:7070"));
        assert_eq!(c.signal_url.as_deref(), Some("ws://signalling:7080/ws"));
        assert_eq!(c.cache_capacity, 64);
        assert_eq!(c.cache_max_bytes, 7 << 20);
        assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
        assert_eq!(c.playlist_ttl, Duration::from_secs(5));
        assert_eq!(c.advertised_addr(), "peer-1:8080");
        assert_eq!(c.bind_ip(), None);
        assert!(c.neighbors.is_empty());
        assert_eq!(c.ingest_body_timeout, Duration::from_secs(30));
        assert_eq!(c.stats_max_songs, 256);
        assert_eq!(c.miss_ttl, Duration::from_millis(1500));
        assert_eq!(c.miss_cache_entries, 1024);
        assert_eq!((c.tracker_connections, c.tracker_lookups_max), (2, 64));
        assert_eq!(c.lookup_candidates, 16);
        assert_eq!(c.fetch_deadline, Duration::from_secs(20));
        assert_eq!(c.holder_penalty, Duration::from_secs(10));
        assert_eq!(c.signal_backoff_max, Duration::from_millis(5000));
    }

    #[test]
    fn a_miss_is_never_remembered_longer_than_a_playlist_copy() {
        let c = Config::from_env_map(&env(&[
            ("PEER_ID", "p"),
            ("PLAYLIST_TTL_SEC", "1"),
            ("MISS_TTL_MS", "5000"),
        ]))
        .unwrap();
        assert_eq!(c.miss_ttl, Duration::from_secs(1));
    }

    #[test]
    fn neighbors_by_name_or_address() {
        let c = Config::from_env_map(&env(&[
            ("PEER_ID", "peer-1"),
            ("PEER_ADDR", "127.0.0.1:9001"),
            (
                "NEIGHBORS",
                "peer-2, peer-3=127.0.0.3:9003,peer-4=peer-4.local:81",
            ),
        ]))
        .unwrap();
        assert_eq!(c.neighbors.len(), 3);
        assert_eq!(c.neighbors[0].base_url(), "http://peer-2:8080");
        assert_eq!(c.neighbors[1].base_url(), "http://127.0.0.3:9003");
        assert_eq!(c.neighbors[2].base_url(), "http://peer-4.local:81");
        assert_eq!(c.bind_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.advertised_addr(), "127.0.0.1:9001");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "PEER_ID"),
            (&[("PEER_ID", "peer/1")], "PEER_ID"),
            (&[("PEER_ID", "p"), ("PEER_ADDR", "nope")], "PEER_ADDR"),
            (
                &[("PEER_ID", "p"), ("TRACKER_URL", "tracker:7070")],
                "TRACKER_URL",
            ),
            (
                &[("PEER_ID", "p"), ("SIGNAL_URL", "http://x/ws")],
                "SIGNAL_URL",
            ),
            (&[("PEER_ID", "p"), ("PEER_RTT_MS", "-3")], "PEER_RTT_MS"),
            (
                &[("PEER_ID", "p"), ("CACHE_CAPACITY", "0")],
                "CACHE_CAPACITY",
            ),
            (
                &[("PEER_ID", "p"), ("CACHE_CAPACITY", "lots")],
                "CACHE_CAPACITY",
            ),
            (
                &[("PEER_ID", "p"), ("HEARTBEAT_INTERVAL_SEC", "0")],
                "HEARTBEAT_INTERVAL_SEC",
            ),
            (
                &[("PEER_ID", "p"), ("PLAYLIST_TTL_SEC", "0")],
                "PLAYLIST_TTL_SEC",
            ),
            (&[("PEER_ID", "p"), ("PEER_ROOM", "a room")], "PEER_ROOM"),
            (&[("PEER_ID", "p"), ("PEER_REGION", "")], "PEER_REGION"),
            (&[("PEER_ID", "p"), ("NEIGHBORS", "p")], "NEIGHBORS"),
            (&[("PEER_ID", "p"), ("NEIGHBORS", "a,a")], "NEIGHBORS"),
            (&[("PEER_ID", "p"), ("NEIGHBORS", "a=1.2.3.4")], "NEIGHBORS"),
            (
                &[
                    ("PEER_ID", "p"),
                    ("EDGE_DB_URL", "postgres://x:notaport/db"),
                ],
                "EDGE_DB_URL",
            ),
            (
                &[("PEER_ID", "p"), ("CACHE_MAX_BYTES", "12")],
                "CACHE_MAX_BYTES",
            ),
            (
                &[("PEER_ID", "p"), ("INGEST_BODY_TIMEOUT_SEC", "0")],
                "INGEST_BODY_TIMEOUT_SEC",
            ),
            (
                &[("PEER_ID", "p"), ("STATS_MAX_SONGS", "0")],
                "STATS_MAX_SONGS",
            ),
            (&[("PEER_ID", "p"), ("MISS_TTL_MS", "soon")], "MISS_TTL_MS"),
            (
                &[("PEER_ID", "p"), ("TRACKER_CONNECTIONS", "65")],
                "TRACKER_CONNECTIONS",
            ),
            (
                &[("PEER_ID", "p"), ("LOOKUP_CANDIDATES", "0")],
                "LOOKUP_CANDIDATES",
            ),
            (
                &[("PEER_ID", "p"), ("SIGNAL_BACKOFF_MAX_MS", "10")],
                "SIGNAL_BACKOFF_MAX_MS",
            ),
        ];
        for (pairs, var) in cases {
            let e = Config::from_env_map(&env(pairs)).unwrap_err();
            assert_eq!(e.var, *var, "{pairs:?} gave {e}");
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }

    #[test]
    fn edge_name_is_the_db_host() {
        let c = Config::from_env_map(&env(&[
            ("PEER_ID", "p"),
            ("EDGE_DB_URL", "postgres://mesh:pw@edge-db-a:5432/songs"),
            ("TRACKER_URL", ""),
        ]))
        .unwrap();
        assert_eq!(c.edge_name().as_deref(), Some("edge-db-a"));
        assert_eq!(c.tracker_url, None);
    }
}
