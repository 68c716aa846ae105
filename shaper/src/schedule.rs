//! What happens to each packet, decided without I/O: when it leaves,
//! whether a bit of it is flipped, whether it is sent twice.
//!
//! Times are microseconds on a monotonic clock the caller reads. Delays are
//! uniform in `delay ± jitter` (clamped at zero), and packets keep their
//! order: a packet never leaves before the one queued ahead of it,
//!
//! ```text
//! release = max(previous release, now + sampled delay)
//! ```
//!
//! so a jitter larger than the gap between packets bunches them up instead
//! of reordering them (netem reorders; TCP over this shaper sees no
//! reordering, only delay variation).

use rand::Rng;

/// The impairment of one direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Added delay, microseconds.
    pub delay_us: u64,
    /// Delay variation, microseconds: the delay is uniform in
    /// `delay_us ± jitter_us`.
    pub jitter_us: u64,
    /// Packets corrupted (one bit flipped beyond the IP header), percent.
    pub corrupt: f64,
    /// Packets sent twice, percent.
    pub duplicate: f64,
}

/// The fate of one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// When to pass it on, microseconds.
    pub release_us: u64,
    /// The bit to flip (an index into the packet's bits), if any.
    pub flip_bit: Option<usize>,
    /// Send a copy right after it.
    pub duplicate: bool,
}

/// Decides each packet's fate in arrival order.
#[derive(Debug)]
pub struct Scheduler<R> {
    settings: Settings,
    rng: R,
    last_release_us: u64,
}

impl<R: Rng> Scheduler<R> {
    pub fn new(settings: Settings, rng: R) -> Self {
        Scheduler {
            settings,
            rng,
            last_release_us: 0,
        }
    }

    /// One sampled delay, microseconds.
    pub fn sample_delay(&mut self) -> u64 {
        let Settings {
            delay_us: d,
            jitter_us: j,
            ..
        } = self.settings;
        if j == 0 {
            return d;
        }
        let low = d.saturating_sub(j);
        let high = d.saturating_add(j);
        self.rng.random_range(low..=high)
    }

    fn chance(&mut self, percent: f64) -> bool {
        percent >= 100.0 || (percent > 0.0 && self.rng.random::<f64>() * 100.0 < percent)
    }

    /// The fate of a packet of `len` bytes whose IP header takes
    /// `header_len` bytes, arriving at `now_us`.
    pub fn decide(&mut self, now_us: u64, len: usize, header_len: usize) -> Decision {
        let wanted = now_us.saturating_add(self.sample_delay());
        let release_us = wanted.max(self.last_release_us);
        self.last_release_us = release_us;
        let flip_bit = if len > header_len && self.chance(self.settings.corrupt) {
            Some(self.rng.random_range(header_len * 8..len * 8))
        } else {
            None
        };
        let duplicate = self.chance(self.settings.duplicate);
        Decision {
            release_us,
            flip_bit,
            duplicate,
        }
    }
}

/// The length of the IPv4 header of `packet` (IHL), when it is a
/// well-formed IPv4 packet.
pub fn ipv4_header_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let len = usize::from(first & 0x0f) * 4;
    (len >= 20 && len <= packet.len()).then_some(len)
}

/// Flips bit `bit` of `packet` (bit 0 is the high bit of byte 0).
pub fn flip(packet: &mut [u8], bit: usize) {
    if let Some(b) = packet.get_mut(bit / 8) {
        *b ^= 0x80 >> (bit % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn sched(s: Settings) -> Scheduler<StdRng> {
        Scheduler::new(s, StdRng::seed_from_u64(7))
    }

    #[test]
    fn fixed_delay_is_exact() {
        let mut s = sched(Settings {
            delay_us: 200_000,
            ..Default::default()
        });
        for now in [0, 10, 5_000, 1_000_000] {
            let d = s.decide(now, 100, 20);
            assert_eq!(d.release_us, now + 200_000);
            assert_eq!(d.flip_bit, None);
            assert!(!d.duplicate);
        }
    }

    #[test]
    fn jitter_is_uniform_within_bounds() {
        let mut s = sched(Settings {
            delay_us: 80_000,
            jitter_us: 10_000,
            ..Default::default()
        });
        let n = 20_000;
        let samples: Vec<u64> = (0..n).map(|_| s.sample_delay()).collect();
        assert!(samples.iter().all(|d| (70_000..=90_000).contains(d)));
        let mean = samples.iter().sum::<u64>() as f64 / n as f64;
        assert!((mean - 80_000.0).abs() < 300.0, "mean {mean}");
        // Each quarter of the range holds about a quarter of the samples.
        for q in 0..4u64 {
            let lo = 70_000 + q * 5_000;
            let c = samples
                .iter()
                .filter(|d| (lo..lo + 5_000).contains(*d))
                .count();
            assert!((4_500..5_500).contains(&c), "quarter {q}: {c}");
        }
    }

    #[test]
    fn jitter_larger_than_delay_clamps_at_zero() {
        let mut s = sched(Settings {
            delay_us: 1_000,
            jitter_us: 5_000,
            ..Default::default()
        });
        assert!((0..1000).all(|_| s.sample_delay() <= 6_000));
    }

    #[test]
    fn packets_keep_their_order() {
        let mut s = sched(Settings {
            delay_us: 50_000,
            jitter_us: 40_000,
            ..Default::default()
        });
        let mut last = 0;
        let mut bunched = 0;
        for i in 0..5_000u64 {
            let now = i * 100;
            let d = s.decide(now, 1500, 20);
            assert!(d.release_us >= last, "packet {i} overtook");
            assert!(d.release_us >= now + 10_000);
            if d.release_us == last {
                bunched += 1;
            }
            last = d.release_us;
        }
        // Packets 0.1 ms apart with 80 ms of spread: most wait for the one ahead.
        assert!(bunched > 1000, "{bunched}");
    }

    #[test]
    fn corruption_and_duplication_follow_their_share() {
        let mut s = sched(Settings {
            corrupt: 10.0,
            duplicate: 2.0,
            ..Default::default()
        });
        let n = 50_000;
        let (mut c, mut d) = (0, 0);
        for _ in 0..n {
            let x = s.decide(0, 1500, 20);
            if let Some(bit) = x.flip_bit {
                assert!((160..12_000).contains(&bit), "{bit}");
                c += 1;
            }
            d += usize::from(x.duplicate);
        }
        assert!((4_600..5_400).contains(&c), "corrupted {c}");
        assert!((850..1_150).contains(&d), "duplicated {d}");
    }

    #[test]
    fn all_or_nothing_shares() {
        let mut s = sched(Settings {
            corrupt: 100.0,
            duplicate: 100.0,
            ..Default::default()
        });
        assert!((0..100).all(|_| {
            let x = s.decide(0, 60, 20);
            x.flip_bit.is_some() && x.duplicate
        }));
        // A packet that is all header has no bit to flip.
        assert_eq!(s.decide(0, 20, 20).flip_bit, None);
        let mut s = sched(Settings::default());
        assert!((0..1000).all(|_| s.decide(0, 60, 20)
            == Decision {
                release_us: 0,
                flip_bit: None,
                duplicate: false
            }));
    }

    #[test]
    fn same_seed_same_fates() {
        let settings = Settings {
            delay_us: 1_000,
            jitter_us: 900,
            corrupt: 30.0,
            duplicate: 30.0,
        };
        let run = || {
            let mut s = sched(settings.clone());
            (0..100).map(|i| s.decide(i, 100, 20)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn header_and_flip() {
        let mut p = vec![0x45, 0, 0, 40];
        p.resize(40, 0);
        assert_eq!(ipv4_header_len(&p), Some(20));
        assert_eq!(ipv4_header_len(&[0x46, 0, 0]), None);
        assert_eq!(ipv4_header_len(&[0x60; 40]), None);
        assert_eq!(ipv4_header_len(&[]), None);
        flip(&mut p, 20 * 8 + 1);
        assert_eq!(p[20], 0x40);
        flip(&mut p, 20 * 8 + 1);
        assert_eq!(p[20], 0);
        flip(&mut p, 10_000);
    }
}
