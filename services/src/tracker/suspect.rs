//! Which live peers a lookup lists last, marked `suspect`: those a quorum
//! of distinct peers reported failing, and those that missed their
//! heartbeats. Soft state in the tracker's memory, bounded.
//!
//! ```text
//! POST /suspect {"peer_id":"peer-1","suspect":"peer-7","reason":"connect refused"}  → 202
//! GET  /segments/s1  {"holders":[{"peer_id":"peer-3",...},{"peer_id":"peer-7",...,"suspect":true}],...}
//! GET  /events       {"kind":"peer_suspected","peer":"peer-7","reporters":["peer-1","peer-2"],"reason":"connect refused"}
//! ```
//!
//! **Reports.** A report names its reporter (`peer_id`, whose token it must
//! be when `MESH_TOKEN` is set) and a suspect; both must be live peers and
//! a peer cannot report itself. The tracker keeps, per suspect, the distinct
//! reporters of the last `TRACKER_SUSPECT_WINDOW_SECONDS` (default 30 s);
//! a reporter reporting again only renews its own report. When
//! `TRACKER_SUSPECT_QUORUM` distinct reporters (default 2) are counted, the
//! suspect is demoted until one window after the last report that kept the
//! quorum, or until it announces again (a restarted peer starts clean); a
//! heartbeat does not end it, since it shows only that the tracker reaches
//! the peer, not that other peers do. Reports never take a peer out of the
//! live set: one lying reporter changes nothing, two can only move a peer to
//! the back of the lists.
//!
//! **Missed heartbeats.** A live peer whose last announce or heartbeat is
//! older than `TRACKER_SUSPECT_AFTER_SECONDS` (default half the TTL: 60 s
//! with the defaults, two of the agent's 30 s heartbeat intervals) is
//! demoted too, before its TTL ends it. This is decided on every read from
//! the last-seen times in Redis, like liveness itself (the lookup script
//! marks such rows), so it costs a lookup one comparison per candidate.
//!
//! **Events.** Each demotion is recorded once as `peer_suspected`: by
//! reports, with the reporters; for missed heartbeats, with reason
//! [`wire::events::MISSED_HEARTBEATS`], once per peer until it is heard from
//! again (noticed by the lookups that list it and by a sweep every quarter
//! of `TRACKER_SUSPECT_AFTER_SECONDS`).
//!
//! **Bounds.** At most [`MAX_SUSPECTS`] suspects are kept (when full, one
//! whose reports and demotion are over is dropped, else the one reported
//! least recently), each with at most [`MAX_REPORTERS`] reporters (the
//! oldest report is dropped), and at most [`MAX_LATE`] peers marked late.
//! A reason is at most [`MAX_REASON`] characters (the agent cuts its error
//! text to that); control characters in it are shown as spaces.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Most suspects kept at once.
pub const MAX_SUSPECTS: usize = 4096;
/// Most reporters kept per suspect; the quorum is at most this.
pub const MAX_REPORTERS: usize = 64;
/// Most peers marked late (their missed-heartbeat event recorded) at once;
/// beyond it a late peer is still demoted, its event is not recorded.
pub const MAX_LATE: usize = 65_536;
/// Longest `reason` of a report, characters.
pub const MAX_REASON: usize = 200;
/// Default quorum (`TRACKER_SUSPECT_QUORUM`).
pub const DEFAULT_QUORUM: usize = 2;
/// Default window (`TRACKER_SUSPECT_WINDOW_SECONDS`).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// `reason` of a `peer_suspected` event whose last report gave none.
pub const REPORTED: &str = "reported failing";

/// `reason` as kept and shown: refused past [`MAX_REASON`] characters;
/// control characters (a line break in an error text) become spaces.
pub fn clean_reason(reason: &str) -> Result<String, String> {
    let n = reason.chars().count();
    if n > MAX_REASON {
        return Err(format!("{n} characters, at most {MAX_REASON}"));
    }
    Ok(reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect())
}

struct Entry {
    /// Distinct reporters with the time of their last report.
    reporters: Vec<(String, Instant)>,
    last_report: Instant,
    /// Demoted before this instant.
    demoted_until: Option<Instant>,
}

impl Entry {
    fn demoted(&self, now: Instant) -> bool {
        self.demoted_until.is_some_and(|u| now < u)
    }

    /// Nothing left to count or show.
    fn over(&self, now: Instant, window: Duration) -> bool {
        !self.demoted(now) && now.saturating_duration_since(self.last_report) >= window
    }
}

/// The tracker's suspicions; guarded by one short lock.
pub struct Suspicions {
    quorum: usize,
    window: Duration,
    by_peer: HashMap<String, Entry>,
    /// Live peers found late whose event was recorded, until heard from.
    late: HashSet<String>,
}

impl Suspicions {
    /// `quorum` is clamped to 1..=[`MAX_REPORTERS`], `window` to at least 1 ms.
    pub fn new(quorum: usize, window: Duration) -> Self {
        Self {
            quorum: quorum.clamp(1, MAX_REPORTERS),
            window: window.max(Duration::from_millis(1)),
            by_peer: HashMap::new(),
            late: HashSet::new(),
        }
    }

    /// Counts `reporter`'s report of `suspect` at `now`. Returns the
    /// distinct reporters of the window, sorted, when this report demoted
    /// the suspect (it was not demoted before); `None` otherwise.
    pub fn report(&mut self, reporter: &str, suspect: &str, now: Instant) -> Option<Vec<String>> {
        if !self.by_peer.contains_key(suspect) && self.by_peer.len() >= MAX_SUSPECTS {
            self.make_room(now);
        }
        let window = self.window;
        let e = self
            .by_peer
            .entry(suspect.to_string())
            .or_insert_with(|| Entry {
                reporters: Vec::new(),
                last_report: now,
                demoted_until: None,
            });
        e.reporters
            .retain(|(_, at)| now.saturating_duration_since(*at) < window);
        match e.reporters.iter_mut().find(|(r, _)| r == reporter) {
            Some(r) => r.1 = now,
            None => {
                if e.reporters.len() >= MAX_REPORTERS {
                    if let Some(oldest) = (0..e.reporters.len()).min_by_key(|&i| e.reporters[i].1) {
                        e.reporters.swap_remove(oldest);
                    }
                }
                e.reporters.push((reporter.to_string(), now));
            }
        }
        e.last_report = now;
        if e.reporters.len() < self.quorum {
            return None;
        }
        let was = e.demoted(now);
        e.demoted_until = Some(now + window);
        if was {
            return None;
        }
        let mut names: Vec<String> = e.reporters.iter().map(|(r, _)| r.clone()).collect();
        names.sort_unstable();
        Some(names)
    }

    /// Drops one suspect: one whose reports and demotion are over, else
    /// the one reported least recently.
    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        let victim = self
            .by_peer
            .iter()
            .find(|(_, e)| e.over(now, window))
            .or_else(|| self.by_peer.iter().min_by_key(|(_, e)| e.last_report))
            .map(|(p, _)| p.clone());
        if let Some(p) = victim {
            self.by_peer.remove(&p);
        }
    }

    /// Whether reports demoted `peer` (still, at `now`).
    pub fn is_demoted(&self, peer: &str, now: Instant) -> bool {
        self.by_peer.get(peer).is_some_and(|e| e.demoted(now))
    }

    /// Whether any peer is demoted by reports: lookups skip the per-candidate
    /// check when none is.
    pub fn any_reported(&self) -> bool {
        !self.by_peer.is_empty()
    }

    /// Peers demoted by reports at `now`.
    pub fn demoted_count(&self, now: Instant) -> usize {
        self.by_peer.values().filter(|e| e.demoted(now)).count()
    }

    /// Peers marked late.
    pub fn late_count(&self) -> usize {
        self.late.len()
    }

    /// Marks `peer` late; true when it was not (its event is due).
    pub fn note_late(&mut self, peer: &str) -> bool {
        if self.late.contains(peer) || self.late.len() >= MAX_LATE {
            return false;
        }
        self.late.insert(peer.to_string())
    }

    /// `peer` heartbeated: no longer late (a demotion by reports stays).
    pub fn heard_from(&mut self, peer: &str) {
        if !self.late.is_empty() {
            self.late.remove(peer);
        }
    }

    /// `peer` announced (a new start) or expired: everything about it goes.
    pub fn forget(&mut self, peer: &str) {
        self.heard_from(peer);
        self.by_peer.remove(peer);
    }

    /// Everything forgotten (Redis lost the tracker's state).
    pub fn clear(&mut self) {
        self.by_peer.clear();
        self.late.clear();
    }

    /// Drops suspects whose reports and demotion are over.
    pub fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.by_peer.retain(|_, e| !e.over(now, window));
        if self.by_peer.capacity() > 64 && self.by_peer.len() < self.by_peer.capacity() / 4 {
            self.by_peer.shrink_to_fit();
        }
    }

    /// Suspects held (for tests of the bound).
    pub fn held(&self) -> usize {
        self.by_peer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(30);

    #[test]
    fn a_quorum_of_distinct_reporters_demotes_once() {
        let t0 = Instant::now();
        let mut s = Suspicions::new(2, W);
        assert_eq!(s.report("a", "x", t0), None);
        assert!(!s.is_demoted("x", t0));
        // The same reporter again does not count twice.
        assert_eq!(s.report("a", "x", t0 + Duration::from_secs(1)), None);
        assert!(!s.is_demoted("x", t0 + Duration::from_secs(1)));
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(s.report("b", "x", t1), Some(vec!["a".into(), "b".into()]));
        assert!(s.is_demoted("x", t1));
        assert!(!s.is_demoted("a", t1));
        // Demoted already: a third reporter records nothing new, but keeps
        // the demotion one window past its report.
        let t2 = t0 + Duration::from_secs(20);
        assert_eq!(s.report("c", "x", t2), None);
        assert!(s.is_demoted("x", t2 + W - Duration::from_millis(1)));
        assert!(!s.is_demoted("x", t2 + W));
        assert_eq!(s.demoted_count(t2), 1);
    }

    #[test]
    fn reports_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let mut s = Suspicions::new(2, W);
        s.report("a", "x", t0);
        assert_eq!(s.report("b", "x", t0 + W), None, "a's report is stale");
        assert!(!s.is_demoted("x", t0 + W));
        // And after the demotion's window, a new quorum records again.
        let t1 = t0 + W + Duration::from_secs(1);
        assert!(s.report("a", "x", t1).is_some());
        let t2 = t1 + W + Duration::from_secs(1);
        assert!(!s.is_demoted("x", t2));
        s.report("a", "x", t2);
        assert_eq!(s.report("c", "x", t2), Some(vec!["a".into(), "c".into()]));
    }

    #[test]
    fn announce_forgets_and_late_marks_are_once_until_heard_from() {
        let t0 = Instant::now();
        let mut s = Suspicions::new(1, W);
        assert!(s.report("a", "x", t0).is_some());
        s.heard_from("x");
        assert!(s.is_demoted("x", t0), "a heartbeat does not end a demotion");
        s.forget("x");
        assert!(!s.is_demoted("x", t0));
        assert!(s.note_late("y"));
        assert!(!s.note_late("y"));
        assert_eq!(s.late_count(), 1);
        s.heard_from("y");
        assert!(s.note_late("y"));
        s.clear();
        assert_eq!((s.late_count(), s.held()), (0, 0));
    }

    #[test]
    fn bounded_suspects_and_reporters() {
        let t0 = Instant::now();
        let mut s = Suspicions::new(MAX_REPORTERS + 10, W);
        for i in 0..MAX_REPORTERS + 5 {
            s.report(&format!("r{i}"), "x", t0 + Duration::from_millis(i as u64));
        }
        let e = &s.by_peer["x"];
        assert_eq!(e.reporters.len(), MAX_REPORTERS);
        assert!(e.reporters.iter().all(|(r, _)| r != "r0"), "oldest dropped");
        // The quorum was clamped to MAX_REPORTERS, so x is demoted.
        assert!(s.is_demoted("x", t0 + Duration::from_secs(1)));

        let mut s = Suspicions::new(2, W);
        for i in 0..MAX_SUSPECTS + 100 {
            s.report("a", &format!("p{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(s.held(), MAX_SUSPECTS);
        assert!(
            !s.by_peer.contains_key("p0"),
            "least recently reported dropped"
        );
        assert!(s.by_peer.contains_key(&format!("p{}", MAX_SUSPECTS + 99)));
        s.prune(t0 + W * 2);
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn reasons_are_short_text() {
        assert_eq!(
            clean_reason("connect refused").as_deref(),
            Ok("connect refused")
        );
        // Characters, not bytes: 200 two-byte characters pass.
        assert!(clean_reason(&"é".repeat(MAX_REASON)).is_ok());
        assert!(clean_reason(&"x".repeat(MAX_REASON + 1)).is_err());
        assert_eq!(clean_reason("a\nb\u{1b}c").as_deref(), Ok("a b c"));
    }
}
