//! Percentiles and ratios, kept pure so they are tested without a mesh.

/// The `p`-th percentile (0 < p ≤ 100) of `values` by the nearest-rank
/// method: the smallest value with at least p % of the values at or below
/// it. `None` when there are no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Share of client bytes served peer to peer: `(cache + peer) / (cache +
/// peer + edge)`. `None` when no byte was served.
pub fn p2p_ratio(cache: u64, peer: u64, edge: u64) -> Option<f64> {
    let all = cache as u128 + peer as u128 + edge as u128;
    (all > 0).then(|| (cache as u128 + peer as u128) as f64 / all as f64)
}

/// The best peer-to-peer ratio `n` listeners of the same song can reach:
/// every segment has to come out of a database once, so `(n − 1) / n`.
pub fn p2p_ceiling(listeners: usize) -> Option<f64> {
    (listeners > 0).then(|| (listeners - 1) as f64 / listeners as f64)
}

/// `part / whole`, `None` when `whole` is 0.
pub fn per(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Formats an optional ratio as a percentage for tables.
pub fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// Formats a byte count for tables (`104.2 kB`, `1.6 MB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.1), Some(1.0));
        // Order of the input does not matter.
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        // p99 of ten values is the largest.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 99.0), Some(10.0));
        assert_eq!(percentile(&ten, 50.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&v, 0.0), None);
        assert_eq!(percentile(&v, 101.0), None);
    }

    #[test]
    fn ratios() {
        assert_eq!(p2p_ratio(0, 0, 0), None);
        assert_eq!(p2p_ratio(0, 0, 10), Some(0.0));
        assert_eq!(p2p_ratio(30, 60, 10), Some(0.9));
        assert_eq!(p2p_ratio(u64::MAX, u64::MAX, 0), Some(1.0));
        assert_eq!(p2p_ceiling(0), None);
        assert_eq!(p2p_ceiling(1), Some(0.0));
        assert_eq!(p2p_ceiling(160), Some(159.0 / 160.0));
        assert_eq!(per(20, 10), Some(2.0));
        assert_eq!(per(1, 0), None);
        assert_eq!(pct(Some(0.95)), "95.0%");
        assert_eq!(pct(None), "-");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(104_200), "104.2 kB");
        assert_eq!(human_bytes(1_600_000), "1.6 MB");
    }
}
