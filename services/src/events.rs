//! The ring of recent events each service keeps for `GET /events`
//! ([`wire::events`] has the format and the kinds).
//!
//! Pull-based, so it scales with peers and readers alike: recording an event
//! is one short lock and a push into a ring of at most `capacity` entries
//! (the oldest falls out); a reader asks for what came after the last `seq`
//! it saw. Nothing is kept per reader and nothing is sent per event, so
//! 1,000 peers churning cost the same memory as 10, and a slow or vanished
//! reader costs nothing (it sees a gap when it comes back). A Redis stream
//! would survive a service restart but puts a write on the tracker's Redis
//! for every event and does nothing for topology and signalling, which have
//! no Redis; restarts show as `next_seq` falling below a reader's `after`.
//!
//! Memory: at most `capacity` events; each is a few peer names (a
//! `path_pushed` keeps at most [`wire::events::MAX_PATH_SHOWN`]), about
//! 100 to 300 bytes with ids like `peer-123`, so the default 4,096 hold
//! about 1 MiB at most.
//!
//! Reads are open like the other `GET` routes: events name peers and links,
//! which `/graph`, `/peers` and `/rooms` show already.

use crate::http::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, MethodRouter};
use axum::Json;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use wire::events::{Event, EventKind, EventsResponse, DEFAULT_LIMIT, MAX_LIMIT};

pub use wire::events::DEFAULT_CAPACITY;

/// A service's recent events; cheap to clone (one shared ring).
#[derive(Clone)]
pub struct EventLog {
    service: &'static str,
    // std Mutex: a push or a copy of at most MAX_LIMIT events, never held
    // across an await.
    ring: Arc<Mutex<Ring>>,
}

struct Ring {
    capacity: usize,
    events: VecDeque<Event>,
    next_seq: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventLog {
    /// A ring of at most `capacity` events (at least 1) for `service`.
    pub fn new(service: &'static str, capacity: usize) -> Self {
        Self {
            service,
            ring: Arc::new(Mutex::new(Ring {
                capacity: capacity.max(1),
                events: VecDeque::new(),
                next_seq: 1,
            })),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one event now.
    pub fn record(&self, kind: EventKind) {
        self.record_all([kind]);
    }

    /// Records several events now, under one lock, in order.
    pub fn record_all(&self, kinds: impl IntoIterator<Item = EventKind>) {
        let at_ms = now_ms();
        let mut ring = self.ring();
        for kind in kinds {
            if ring.events.len() >= ring.capacity {
                ring.events.pop_front();
            }
            let seq = ring.next_seq;
            ring.next_seq += 1;
            ring.events.push_back(Event { seq, at_ms, kind });
        }
    }

    /// Events with `seq > after`, oldest first, at most `limit`.
    pub fn page(&self, after: u64, limit: usize) -> EventsResponse {
        let ring = self.ring();
        let first_seq = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        // Sequence numbers are contiguous in the ring, so the start is an index.
        let skip = after.saturating_add(1).saturating_sub(first_seq) as usize;
        let events = ring.events.iter().skip(skip).take(limit).cloned().collect();
        EventsResponse {
            service: self.service.to_string(),
            first_seq,
            next_seq: ring.next_seq,
            events,
        }
    }

    /// Events held and the ring's allocated slots (for tests of the bound).
    pub fn held(&self) -> (usize, usize) {
        let ring = self.ring();
        (ring.events.len(), ring.events.capacity())
    }

    /// `GET /events?after=<seq>&limit=<n>`, for any router.
    pub fn route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let log = self.clone();
        get(
            move |query: Result<Query<BTreeMap<String, String>>, QueryRejection>| {
                let log = log.clone();
                async move { answer(&log, query) }
            },
        )
    }
}

fn answer(
    log: &EventLog,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let after = match q.get("after") {
        None => 0,
        Some(a) => a.parse::<u64>().map_err(|_| {
            ApiError::field(
                "after",
                format!("{a:?} is not a sequence number (0 or more)"),
            )
        })?,
    };
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!("{l:?} is not a number from 1 to {MAX_LIMIT}"),
                ))
            }
        },
    };
    Ok(Json(log.page(after, limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u64) -> EventKind {
        EventKind::PeerExpired {
            peer: format!("peer-{i}"),
        }
    }

    #[test]
    fn pages_after_a_seq_and_drops_the_oldest() {
        let log = EventLog::new("tracker", 5);
        log.record_all((1..=3).map(peer));
        let p = log.page(0, 10);
        assert_eq!((p.first_seq, p.next_seq, p.events.len()), (1, 4, 3));
        let p = log.page(2, 10);
        assert_eq!(p.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
        log.record_all((4..=8).map(peer));
        let p = log.page(0, 2);
        assert_eq!((p.first_seq, p.next_seq), (4, 9));
        assert_eq!(p.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
        assert!(log.page(8, 10).events.is_empty());
        assert!(log.page(100, 10).events.is_empty());
    }
}
