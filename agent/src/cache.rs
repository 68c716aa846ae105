//! The LRU of segments, capped by entries and by bytes.
//!
//! A segment is kept as the pieces it arrived in; all pieces of one segment
//! share a single allocation of exactly its length, so the byte count is
//! what the segment really costs. Bytes of fetches still in flight are
//! reserved against the same byte cap: the cache shrinks to make room.

use bytes::Bytes;
use lru::LruCache;
use std::sync::Arc;

/// One cached segment.
#[derive(Debug)]
pub struct Segment {
    pub pieces: Vec<Bytes>,
    pub len: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

impl Segment {
    pub fn from_bytes(data: Bytes, sha256: String) -> Self {
        Self {
            len: data.len() as u64,
            pieces: vec![data],
            sha256,
        }
    }
}

/// Entry- and byte-capped LRU.
pub struct Cache {
    lru: LruCache<String, Arc<Segment>>,
    bytes: u64,
    max_entries: usize,
    max_bytes: u64,
    evictions: u64,
}

/// The segment does not fit even in an empty cache.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge;

impl Cache {
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        Self {
            lru: LruCache::unbounded(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
            evictions: 0,
        }
    }

    /// A hit, marked as most recently used.
    pub fn get(&mut self, id: &str) -> Option<Arc<Segment>> {
        self.lru.get(id).cloned()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lru.contains(id)
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

    pub fn remove(&mut self, id: &str) -> bool {
        match self.lru.pop(id) {
            Some(seg) => {
                self.bytes -= seg.len;
                true
            }
            None => false,
        }
    }

    /// Cached ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lru.iter().map(|(k, _)| k.clone()).collect();
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
    fn evicts_least_recent_at_entry_cap() {
        let mut c = Cache::new(2, 1 << 20);
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
        let mut c = Cache::new(100, 100);
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
}
