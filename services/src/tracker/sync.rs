//! Keeps topology's graph following the tracker's view, and keeps trying
//! while topology is down.
//!
//! Changes are queued per peer (the newest change of a peer replaces an
//! older one still queued) and sent by one task; a change that fails to
//! reach topology stays queued and is retried with backoff. After topology
//! has been unreachable, and every `resync` period anyway, the tracker
//! queues every live peer again, so a restarted (empty) topology catches up.

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use wire::topology::PeerUpsert;

/// One change for topology.
#[derive(Debug, Clone)]
pub enum Change {
    Upsert(PeerUpsert),
    Delete,
}

/// A cheap handle to the queue of changes for topology.
#[derive(Clone)]
pub struct TopologySync(Arc<Inner>);

struct Inner {
    base: Option<String>,
    token: Option<String>,
    client: reqwest::Client,
    // std Mutex: only map inserts and drains, never across an await.
    pending: Mutex<HashMap<String, Change>>,
    wake: Notify,
    /// Set when topology could not be reached; the reaper then resyncs.
    lost_contact: std::sync::atomic::AtomicBool,
    metrics: Metrics,
}

impl TopologySync {
    /// `base`: topology's URL (`None` disables every call).
    pub fn new(base: Option<String>, token: Option<String>, metrics: Metrics) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Self(Arc::new(Inner {
            base: base.map(|b| b.trim_end_matches('/').to_string()),
            token,
            client,
            pending: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            lost_contact: std::sync::atomic::AtomicBool::new(false),
            metrics,
        }))
    }

    pub fn enabled(&self) -> bool {
        self.0.base.is_some()
    }

    /// Queues a change for `peer`, replacing one still queued.
    pub fn push(&self, peer: &str, change: Change) {
        if !self.enabled() {
            return;
        }
        self.0
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.to_string(), change);
        self.0.wake.notify_one();
    }

    /// True once after topology was unreachable: the caller should resync.
    pub fn take_lost_contact(&self) -> bool {
        self.0
            .lost_contact
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes not yet delivered.
    pub fn backlog(&self) -> usize {
        self.0
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Sends queued changes until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let Some(base) = self.0.base.clone() else {
            return;
        };
        let mut backoff = Duration::from_millis(200);
        loop {
            let batch: Vec<(String, Change)> = self
                .0
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .collect();
            let mut failed = Vec::new();
            if !batch.is_empty() {
                use futures::StreamExt;
                let results: Vec<_> = futures::stream::iter(batch)
                    .map(|(peer, change)| {
                        let (base, this) = (&base, &self);
                        async move {
                            let ok = this.send(base, &peer, &change).await;
                            (peer, change, ok)
                        }
                    })
                    .buffer_unordered(8)
                    .collect()
                    .await;
                for (peer, change, ok) in results {
                    if !ok {
                        failed.push((peer, change));
                    }
                }
            }
            let wait = if failed.is_empty() {
                backoff = Duration::from_millis(200);
                None
            } else {
                self.0
                    .lost_contact
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                let mut pending = self.0.pending.lock().unwrap_or_else(|e| e.into_inner());
                for (peer, change) in failed {
                    // A newer change queued meanwhile wins.
                    pending.entry(peer).or_insert(change);
                }
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                Some(w)
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.0.wake.notified(), if wait.is_none() => {}
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
    }

    /// One call; true when done (or pointless to retry).
    async fn send(&self, base: &str, peer: &str, change: &Change) -> bool {
        let req = match change {
            Change::Upsert(up) => self.0.client.post(format!("{base}/peers")).json(up),
            Change::Delete => self.0.client.delete(format!("{base}/peers/{peer}")),
        };
        let req = match &self.0.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        match req.send().await {
            Ok(resp) if resp.status().is_success() => true,
            Ok(resp) if matches!(change, Change::Delete) && resp.status() == 404 => true,
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                tracing::error!(peer, %status, body, "topology refused a change; dropping it");
                self.0
                    .metrics
                    .inc("topology_errors_total", "Calls to topology that failed.", 1);
                true
            }
            Ok(resp) => {
                tracing::warn!(peer, status = %resp.status(), "topology failed; will retry");
                self.0
                    .metrics
                    .inc("topology_errors_total", "Calls to topology that failed.", 1);
                false
            }
            Err(e) => {
                tracing::warn!(peer, "topology unreachable ({e}); will retry");
                self.0
                    .metrics
                    .inc("topology_errors_total", "Calls to topology that failed.", 1);
                false
            }
        }
    }
}
