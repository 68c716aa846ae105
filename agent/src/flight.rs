//! One upstream fetch shared by every request that misses the same segment
//! (singleflight), streamed: readers get each verified piece as it arrives.
//!
//! The fetching task publishes a [`Head`] once the upstream answered, then
//! pieces. It holds back the piece that completes the segment until the
//! SHA-256 matched, so a corrupted segment never reaches any reader whole:
//! on a mismatch every reader's stream ends in an error and the downstream
//! connection is cut.

use bytes::Bytes;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::watch;
use wire::relay::Source;

/// What a successful upstream answer tells about the bytes to come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Where the bytes originally came from: `Cache` (a holder's cache) or `Edge`.
    pub source: Source,
    /// This peer first, the source last.
    pub route: Vec<String>,
    /// Links crossed to reach this peer.
    pub hops: u32,
    /// Expected SHA-256 (hex), when known before the bytes.
    pub sha256: Option<String>,
    pub len: u64,
    /// When the bytes left their source, for an id without a SHA-256 (a
    /// playlist), whose copies expire; `None` for content-addressed ids.
    pub fresh_since: Option<Instant>,
}

/// Why a fetch failed, as an HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub status: u16,
    pub message: String,
    /// The peer on the route that could not be reached or did not answer
    /// (sent back as `X-Mesh-Failed`), when one is to blame.
    pub failed: Option<String>,
}

impl FetchError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            failed: None,
        }
    }

    /// The same error, blaming `peer`.
    pub fn blaming(mut self, peer: Option<String>) -> Self {
        self.failed = peer;
        self
    }
}

#[derive(Default)]
struct State {
    head: Option<Head>,
    pieces: Vec<Bytes>,
    end: Option<Result<(), FetchError>>,
}

/// A fetch in flight.
pub struct Flight {
    // std Mutex: short updates; readers wait on the watch channel, not the lock.
    state: Mutex<State>,
    tx: watch::Sender<u64>,
}

/// What a reader sees next.
pub enum Next {
    Piece(Bytes),
    Done,
    Failed(FetchError),
}

impl Default for Flight {
    fn default() -> Self {
        Self::new()
    }
}

impl Flight {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            tx: watch::channel(0).0,
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut s);
        }
        self.tx.send_modify(|v| *v += 1);
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&s)
    }

    pub fn set_head(&self, head: Head) {
        self.update(|s| s.head = Some(head));
    }

    pub fn has_head(&self) -> bool {
        self.read(|s| s.head.is_some())
    }

    /// The head, once the upstream answered.
    pub fn current_head(&self) -> Option<Head> {
        self.read(|s| s.head.clone())
    }

    pub fn push(&self, piece: Bytes) {
        self.update(|s| s.pieces.push(piece));
    }

    pub fn finish(&self, result: Result<(), FetchError>) {
        self.update(|s| {
            if s.end.is_none() {
                s.end = Some(result);
            }
        });
    }

    /// The pieces published so far (the whole segment once finished).
    pub fn pieces(&self) -> Vec<Bytes> {
        self.read(|s| s.pieces.clone())
    }

    /// Waits for the head, or for the fetch to fail before it.
    pub async fn head(&self) -> Result<Head, FetchError> {
        let mut rx = self.tx.subscribe();
        loop {
            let r = self.read(|s| match (&s.head, &s.end) {
                (Some(h), _) => Some(Ok(h.clone())),
                (None, Some(Err(e))) => Some(Err(e.clone())),
                (None, Some(Ok(()))) => {
                    Some(Err(FetchError::new(502, "fetch ended without an answer")))
                }
                (None, None) => None,
            });
            if let Some(r) = r {
                return r;
            }
            if rx.changed().await.is_err() {
                return Err(FetchError::new(502, "fetch abandoned"));
            }
        }
    }

    /// Waits for piece `i`, the end, or a failure.
    pub async fn next(&self, i: usize) -> Next {
        let mut rx = self.tx.subscribe();
        loop {
            let r = self.read(|s| {
                if let Some(Err(e)) = &s.end {
                    return Some(Next::Failed(e.clone()));
                }
                if let Some(p) = s.pieces.get(i) {
                    return Some(Next::Piece(p.clone()));
                }
                matches!(s.end, Some(Ok(()))).then_some(Next::Done)
            });
            if let Some(r) = r {
                return r;
            }
            if rx.changed().await.is_err() {
                return Next::Failed(FetchError::new(502, "fetch abandoned"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn readers_follow_the_writer_and_see_failures() {
        let f = Arc::new(Flight::new());
        let r = {
            let f = f.clone();
            tokio::spawn(async move {
                let head = f.head().await.unwrap();
                let mut got = Vec::new();
                let mut i = 0;
                loop {
                    match f.next(i).await {
                        Next::Piece(p) => got.extend_from_slice(&p),
                        Next::Done => return (head, got, None),
                        Next::Failed(e) => return (head, got, Some(e)),
                    }
                    i += 1;
                }
            })
        };
        f.set_head(Head {
            source: Source::Cache,
            route: vec!["a".into()],
            hops: 0,
            sha256: None,
            len: 4,
            fresh_since: None,
        });
        f.push(Bytes::from_static(b"ab"));
        f.finish(Err(FetchError::new(502, "sha256 mismatch")));
        let (head, got, err) = r.await.unwrap();
        assert_eq!(head.len, 4);
        assert!(got.len() <= 2);
        assert_eq!(err.unwrap().status, 502);

        let g = Flight::new();
        g.finish(Err(FetchError::new(404, "nobody holds it")));
        assert_eq!(g.head().await.unwrap_err().status, 404);
    }
}
