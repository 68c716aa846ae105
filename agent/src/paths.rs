//! Routes from this peer to others as the control plane gave them: the
//! signalling connection's outgoing queue, the requests waiting for a
//! `path` answer, and recent answers. Filled by [`crate::control`], read by
//! the relay; part of the shared state ([`crate::state::Inner`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

pub(crate) type PathAnswer = Result<Vec<String>, String>;

/// Routes from this peer to others: signalling first, topology as fallback.
pub struct Paths {
    // std Mutexes: short map updates, never held across an await.
    /// Path requests this peer may send to signalling: below the server's
    /// per-socket limit (10/s, burst 100, then it closes the socket), so a
    /// peer whose misses all fail at once (cut off, or its neighbors gone)
    /// does not get its socket closed and drop out of everyone's paths.
    pub(crate) budget: Mutex<gate::Bucket>,
    pub(crate) outgoing: Mutex<Option<mpsc::UnboundedSender<String>>>,
    pub(crate) waiters: Mutex<HashMap<String, Vec<oneshot::Sender<PathAnswer>>>>,
    pub(crate) cached: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

/// Path requests per second, and at once, a peer sends to signalling.
pub const PATH_REQUEST_RATE: u32 = 8;
pub const PATH_REQUEST_BURST: u32 = 50;

impl Default for Paths {
    fn default() -> Self {
        Paths {
            budget: Mutex::new(gate::Bucket::new(PATH_REQUEST_RATE, PATH_REQUEST_BURST)),
            outgoing: Mutex::default(),
            waiters: Mutex::default(),
            cached: Mutex::default(),
        }
    }
}

impl Paths {
    /// Whether a path request may be sent to signalling now.
    pub fn may_ask(&self) -> bool {
        self.budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(Instant::now())
    }

    pub fn signalling_connected(&self) -> bool {
        self.outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Forgets a cached route (after it failed).
    pub fn forget(&self, target: &str) {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(target);
    }

    pub(crate) fn answer(&self, target: &str, answer: PathAnswer) {
        let waiters = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(target);
        if let Ok(path) = &answer {
            self.cached
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(target.to_string(), (Instant::now(), path.clone()));
        }
        for w in waiters.into_iter().flatten() {
            let _ = w.send(answer.clone());
        }
    }
}
