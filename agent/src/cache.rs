//! The LRU of segments, capped by entries and by bytes.
//!
//! A segment is kept as the pieces it arrived in; all pieces of one segment
//! share a single allocation of exactly its length, so the byte count is
//! what the segment really costs. Bytes of fetches still in flight are
//! reserved against the same byte cap: the cache shrinks to make room.
//!
//! A content-addressed segment never changes, so it is kept until evicted.
//! An entry whose id carries no SHA-256 (a song's playlist, `<song>.m3u8`)
//! may be replaced at its source by a new publish: a copy fetched from
//! elsewhere is fresh for the cache's TTL after it left its source (ingest
//! or an edge database), then it counts as absent and is dropped, so the
//! next request fetches it again and the inventory stops naming it.
//!
//! An expired copy is not forgotten at once: the last few small ones are
//! kept aside, stale, for a client request whose every source failed (the
//! peer is cut off from the mesh) to be answered with them, marked as stale
//! (HTTP's stale-if-error): a published song's playlist does not change
//! while the peer is cut off, and its segments are in the cache anyway.

use bytes::Bytes;
use lru::LruCache;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One cached segment.
#[derive(Debug)]
pub struct Segment {
    pub pieces: Vec<Bytes>,
    pub len: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// When the bytes left their source, for a copy that expires; `None`
    /// for a copy kept until evicted (content-addressed, or ingested here).
    pub fresh_since: Option<Instant>,
}

impl Segment {
    /// A copy kept until evicted.
    pub fn from_bytes(data: Bytes, sha256: String) -> Self {
        Self {
            len: data.len() as u64,
            pieces: vec![data],
            sha256,
            fresh_since: None,
        }
    }

    /// Seconds since the bytes left their source, for a copy that expires.
    pub fn age(&self) -> Option<u64> {
        self.fresh_since.map(|t| t.elapsed().as_secs())
    }
}

/// Entry- and byte-capped LRU.
pub struct Cache {
    lru: LruCache<String, Arc<Segment>>,
    bytes: u64,
    max_entries: usize,
    max_bytes: u64,
    evictions: u64,
    /// How long an expiring copy stays fresh.
    ttl: Duration,
    /// Expired copies kept for stale-if-error, at most [`STALE_ENTRIES`] of
    /// at most [`STALE_MAX_BYTES`] each.
    stale: LruCache<String, Arc<Segment>>,
}

/// Most expired copies kept aside for stale-if-error.
pub const STALE_ENTRIES: usize = 16;
/// Largest expired copy kept aside (a playlist of a few hundred segments).
pub const STALE_MAX_BYTES: u64 = 16 * 1024;

/// The segment does not fit even in an empty cache.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge;

impl Cache {
    /// `ttl`: how long a copy with `fresh_since` set stays fresh.
    pub fn new(max_entries: usize, max_bytes: u64, ttl: Duration) -> Self {
        Self {
            lru: LruCache::unbounded(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
            evictions: 0,
            ttl,
            stale: LruCache::new(
                std::num::NonZeroUsize::new(STALE_ENTRIES).unwrap_or(std::num::NonZeroUsize::MIN),
            ),
        }
    }

    fn expires(&self, seg: &Segment) -> Option<Instant> {
        seg.fresh_since.map(|t| t + self.ttl)
    }

    fn expired(&self, seg: &Segment, now: Instant) -> bool {
        self.expires(seg).is_some_and(|at| at <= now)
    }

    /// A fresh hit, marked as most recently used; an expired copy is a miss.
    pub fn get(&mut self, id: &str) -> Option<Arc<Segment>> {
        let now = Instant::now();
        if self.lru.peek(id).is_some_and(|s| self.expired(s, now)) {
            return None;
        }
        self.lru.get(id).cloned()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lru
            .peek(id)
            .is_some_and(|s| !self.expired(s, Instant::now()))
    }

    /// Drops the copies expired at `now`; answers how many were dropped and
    /// when the next remaining one expires.
    pub fn purge_expired(&mut self, now: Instant) -> (usize, Option<Instant>) {
        let dead: Vec<String> = self
            .lru
            .iter()
            .filter(|(_, s)| self.expired(s, now))
            .map(|(k, _)| k.clone())
            .collect();
        for id in &dead {
            if let Some(seg) = self.lru.pop(id) {
                self.bytes -= seg.len;
                if seg.len <= STALE_MAX_BYTES {
                    self.stale.put(id.clone(), seg);
                }
            }
        }
        let next = self.lru.iter().filter_map(|(_, s)| self.expires(s)).min();
        (dead.len(), next)
    }

    /// Inserts (or replaces) `id`, evicting least recently used entries until
    /// both caps hold with `reserved` in-flight bytes counted in.
    pub fn insert(&mut self, id: String, seg: Arc<Segment>, reserved: u64) -> Result<(), TooLarge> {
        if seg.len > self.max_bytes {
            return Err(TooLarge);
        }
        if let Some(old) = self.lru.pop(&id) {
            self.bytes -= old.len;
        }
        let budget = self.max_bytes.saturating_sub(reserved).max(seg.len);
        self.shrink(budget - seg.len, self.max_entries - 1);
        self.bytes += seg.len;
        self.lru.put(id, seg);
        Ok(())
    }

    /// Evicts until the cache holds at most `max_bytes - reserved` bytes.
    pub fn make_room(&mut self, reserved: u64) {
        self.shrink(self.max_bytes.saturating_sub(reserved), self.max_entries);
    }

    fn shrink(&mut self, bytes: u64, entries: usize) {
        while self.bytes > bytes || self.lru.len() > entries {
            match self.lru.pop_lru() {
                Some((_, seg)) => {
                    self.bytes -= seg.len;
                    self.evictions += 1;
                }
                None => break,
            }
        }
    }

    /// An expired copy of `id` (still in the cache, or kept aside), for a
    /// request nothing else can answer.
    pub fn stale(&mut self, id: &str) -> Option<Arc<Segment>> {
        let now = Instant::now();
        match self.lru.peek(id) {
            Some(s) if self.expired(s, now) => Some(s.clone()),
            Some(_) => None,
            None => self.stale.get(id).cloned(),
        }
    }

    pub fn remove(&mut self, id: &str) -> bool {
        self.stale.pop(id);
        match self.lru.pop(id) {
            Some(seg) => {
                self.bytes -= seg.len;
                true
            }
            None => false,
        }
    }

    /// Ids of the fresh copies, sorted.
    pub fn ids(&self) -> Vec<String> {
        let now = Instant::now();
        let mut ids: Vec<String> = self
            .lru
            .iter()
            .filter(|(_, s)| !self.expired(s, now))
            .map(|(k, _)| k.clone())
            .collect();
        ids.sort();
        ids
    }

    pub fn len(&self) -> usize {
        self.lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: usize) -> Arc<Segment> {
        Arc::new(Segment::from_bytes(
            Bytes::from(vec![0u8; n]),
            String::new(),
        ))
    }

    #[test]
    fn an_expired_copy_is_kept_aside_as_stale() {
        let ttl = Duration::from_millis(10);
        let mut c = Cache::new(10, 1 << 20, ttl);
        let old = Instant::now() - Duration::from_secs(1);
        let fresh_copy = |n: usize| {
            Arc::new(Segment {
                pieces: vec![Bytes::from(vec![1u8; n])],
                len: n as u64,
                sha256: String::new(),
                fresh_since: Some(old),
            })
        };
        c.insert("a.m3u8".into(), fresh_copy(100), 0).unwrap();
        c.insert(
            "big.m3u8".into(),
            fresh_copy(STALE_MAX_BYTES as usize + 1),
            0,
        )
        .unwrap();
        assert!(c.get("a.m3u8").is_none(), "expired is a miss");
        assert_eq!(
            c.stale("a.m3u8").map(|s| s.len),
            Some(100),
            "before the purge"
        );
        let (dropped, _) = c.purge_expired(Instant::now());
        assert_eq!(dropped, 2);
        assert_eq!(c.bytes(), 0, "stale copies are not in the cache");
        assert!(c.get("a.m3u8").is_none());
        assert_eq!(
            c.stale("a.m3u8").map(|s| s.len),
            Some(100),
            "after the purge"
        );
        assert!(c.stale("big.m3u8").is_none(), "too large to keep aside");
        assert!(c.stale("other.m3u8").is_none());
        c.remove("a.m3u8");
        assert!(c.stale("a.m3u8").is_none(), "a removed id is gone for good");
    }

    #[test]
    fn evicts_least_recent_at_entry_cap() {
        let mut c = Cache::new(2, 1 << 20, Duration::from_secs(5));
        c.insert("a".into(), seg(10), 0).unwrap();
        c.insert("b".into(), seg(10), 0).unwrap();
        assert!(c.get("a").is_some()); // b is now least recent
        c.insert("c".into(), seg(10), 0).unwrap();
        assert_eq!(c.ids(), vec!["a", "c"]);
        assert_eq!(c.bytes(), 20);
        assert_eq!(c.evictions(), 1);
    }

    #[test]
    fn evicts_at_byte_cap_and_for_reservations() {
        let mut c = Cache::new(100, 100, Duration::from_secs(5));
        c.insert("a".into(), seg(40), 0).unwrap();
        c.insert("b".into(), seg(40), 0).unwrap();
        c.insert("c".into(), seg(40), 0).unwrap();
        assert_eq!(c.ids(), vec!["b", "c"]);
        assert_eq!(c.insert("huge".into(), seg(101), 0), Err(TooLarge));
        c.make_room(50);
        assert_eq!(c.ids(), vec!["c"]);
        // Replacing an entry does not count it twice.
        c.insert("c".into(), seg(60), 0).unwrap();
        assert_eq!(c.bytes(), 60);
        assert!(c.remove("c"));
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn expiring_copies_turn_into_misses_and_leave_the_inventory() {
        let ttl = Duration::from_secs(5);
        let mut c = Cache::new(10, 1 << 20, ttl);
        let born = Instant::now();
        let copy = |since: Instant| {
            let mut s = Segment::from_bytes(Bytes::from_static(b"#EXTM3U\n"), String::new());
            s.fresh_since = Some(since);
            Arc::new(s)
        };
        c.insert("old.m3u8".into(), copy(born - ttl), 0).unwrap();
        c.insert("new.m3u8".into(), copy(born), 0).unwrap();
        c.insert("kept.ts".into(), seg(3), 0).unwrap();
        assert!(c.get("old.m3u8").is_none());
        assert!(!c.contains("old.m3u8"));
        assert!(c.get("new.m3u8").is_some());
        assert_eq!(c.ids(), vec!["kept.ts", "new.m3u8"]);
        assert_eq!(c.len(), 3, "an expired copy stays until purged or replaced");
        assert_eq!(c.purge_expired(born), (1, Some(born + ttl)));
        assert_eq!(c.len(), 2);
        assert_eq!(c.purge_expired(born + ttl), (1, None));
        assert_eq!(c.ids(), vec!["kept.ts"]);
        assert_eq!(c.bytes(), 3);
        // A fresh copy replaces an expired one.
        c.insert("new.m3u8".into(), copy(born), 0).unwrap();
        c.insert("new.m3u8".into(), copy(Instant::now()), 0)
            .unwrap();
        assert!(c.get("new.m3u8").is_some());
    }
}
