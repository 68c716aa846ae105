//! Noticing that Redis lost the tracker's state, and asking the peers to
//! announce again at once instead of at their next heartbeat.
//!
//! The tracker keeps an epoch in Redis (`mesh:epoch`, a random value written
//! when absent) and reads it every [`CHECK_EVERY`]. Redis runs without
//! persistence, so after a restart (or a `FLUSHALL`) the key is gone: the
//! check writes a new one, and the tracker knows every peer record was lost.
//! It then calls `POST /announce-again` on every peer it can name: those it
//! heard from since it started (kept in memory with their address) and
//! those topology's graph still lists (topology keeps its graph through a
//! Redis restart, and a tracker that restarted at the same time has nothing
//! in memory). Each call carries that peer's own token, so a peer only
//! obeys its tracker. Calls run at most [`FAN_OUT`] at a time, each within
//! [`CALL_TIMEOUT`].
//!
//! The lookup handler adds `X-Mesh-Announce: again` for a peer it does not
//! know, and a heartbeat from one is answered 404 as before: a peer the
//! push missed still comes back on its next request.

use std::collections::BTreeMap;
use std::time::Duration;

/// How often the epoch is read (one Redis round trip).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Peers asked at once after a loss.
pub const FAN_OUT: usize = 16;
/// One `POST /announce-again`.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Most peers remembered in memory (the least recent are not dropped; new
/// ones are simply not added past it).
pub const MAX_KNOWN: usize = 65_536;

/// Returns `{epoch, created}`: the stored epoch, or ARGV[1] stored now
/// (created = '1') when the key was missing.
pub const CHECK: &str = r#"
local e = redis.call('GET', 'mesh:epoch')
if e then return {e, '0'} end
redis.call('SET', 'mesh:epoch', ARGV[1])
return {ARGV[1], '1'}
"#;

/// What one reading of the epoch means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First reading since this tracker started, Redis had an epoch: its
    /// state is intact.
    Adopted,
    /// First reading, and Redis had none: a fresh deployment, or Redis lost
    /// its state while this tracker was away.
    StartedEmpty,
    /// The epoch this tracker knew.
    Same,
    /// Another epoch than the one this tracker knew: the state was lost.
    Lost,
}

impl Seen {
    /// Whether the peers should be asked to announce again.
    pub fn ask_peers(self) -> bool {
        matches!(self, Seen::StartedEmpty | Seen::Lost)
    }
}

/// What reading `seen` (just `created` when the key was missing) means to a
/// tracker that knew `known`.
pub fn judge(known: Option<&str>, seen: &str, created: bool) -> Seen {
    match known {
        None if created => Seen::StartedEmpty,
        None => Seen::Adopted,
        Some(k) if k == seen && !created => Seen::Same,
        Some(_) => Seen::Lost,
    }
}

/// A new epoch value: time and process id, unique enough to tell two apart.
pub fn fresh_epoch() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{:x}", std::process::id())
}

/// The peers topology's graph names with the address they announced
/// (`metadata.addr`, else `<peer>:8080`).
pub fn peers_of_graph(graph: &wire::topology::GraphSnapshot) -> BTreeMap<String, String> {
    graph
        .nodes
        .iter()
        .map(|n| {
            let addr = n
                .metadata
                .get("addr")
                .cloned()
                .unwrap_or_else(|| format!("{}:{}", n.peer_id, wire::contract::ports::PEER));
            (n.peer_id.clone(), addr)
        })
        .collect()
}

/// Asks each of `peers` (id → `host:port`) to announce again; returns how
/// many answered 2xx.
pub async fn ask_to_announce(
    client: &reqwest::Client,
    peers: BTreeMap<String, String>,
    secret: Option<&str>,
) -> usize {
    use futures::StreamExt;
    futures::stream::iter(peers)
        .map(|(peer, addr)| async move {
            let url = format!("http://{addr}{}", wire::agent::ANNOUNCE_AGAIN_PATH);
            let mut req = client.post(url).timeout(CALL_TIMEOUT);
            if let Some(s) = secret {
                req = req.bearer_auth(wire::auth::peer_token(s, &peer));
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => true,
                Ok(r) => {
                    tracing::debug!(peer, status = %r.status(), "announce-again refused");
                    false
                }
                Err(e) => {
                    tracing::debug!(peer, error = %e, "announce-again failed");
                    false
                }
            }
        })
        .buffer_unordered(FAN_OUT)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_other_epoch_is_a_loss() {
        assert_eq!(judge(None, "a", false), Seen::Adopted);
        assert_eq!(judge(None, "a", true), Seen::StartedEmpty);
        assert_eq!(judge(Some("a"), "a", false), Seen::Same);
        assert_eq!(judge(Some("a"), "b", true), Seen::Lost);
        assert_eq!(judge(Some("a"), "b", false), Seen::Lost);
        // Our own value written again after a loss is still a loss.
        assert_eq!(judge(Some("a"), "a", true), Seen::Lost);
        assert!(!Seen::Same.ask_peers() && !Seen::Adopted.ask_peers());
        assert!(Seen::Lost.ask_peers() && Seen::StartedEmpty.ask_peers());
        assert_ne!(fresh_epoch(), "");
    }

    #[test]
    fn graph_peers_with_their_addresses() {
        let g: wire::topology::GraphSnapshot = serde_json::from_str(
            r#"{"nodes":[{"peer_id":"peer-1","neighbors":[],"metadata":{"addr":"10.0.0.2:8080"}},
                         {"peer_id":"peer-2","neighbors":[]}],"edges":[]}"#,
        )
        .expect("graph");
        let p = peers_of_graph(&g);
        assert_eq!(p["peer-1"], "10.0.0.2:8080");
        assert_eq!(p["peer-2"], "peer-2:8080");
    }
}
