//! The shaping flags' values: parsed strictly, printed back the same way.

use anyhow::bail;

/// How one direction of a link (or all of a peer's egress) is impaired.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Shaping {
    /// Added delay, microseconds.
    pub delay_us: Option<u64>,
    /// Delay variation, microseconds (needs a delay).
    pub jitter_us: Option<u64>,
    /// Packets dropped, percent.
    pub loss: Option<f64>,
    /// Bandwidth, bits per second.
    pub rate_bps: Option<u64>,
    /// Packets corrupted, percent.
    pub corrupt: Option<f64>,
    /// Packets duplicated, percent.
    pub duplicate: Option<f64>,
}

impl Shaping {
    /// Refuses a shaping that says nothing or a jitter without a delay.
    pub fn check(&self) -> anyhow::Result<()> {
        if *self == Shaping::default() {
            bail!("give at least one of --delay, --loss, --rate, --corrupt, --duplicate");
        }
        if self.jitter_us.is_some() && self.delay_us.is_none() {
            bail!("--jitter: needs --delay");
        }
        Ok(())
    }

    /// The `tc qdisc ... netem` arguments, when netem is needed at all.
    pub fn netem_args(&self) -> Option<String> {
        let mut a = Vec::new();
        if let Some(d) = self.delay_us {
            a.push(format!("delay {d}us"));
            if let Some(j) = self.jitter_us {
                a.push(format!("{j}us"));
            }
        }
        if let Some(c) = self.corrupt.filter(|c| *c > 0.0) {
            a.push(format!("corrupt {c}%"));
        }
        if let Some(d) = self.duplicate.filter(|d| *d > 0.0) {
            a.push(format!("duplicate {d}%"));
        }
        (!a.is_empty()).then(|| a.join(" "))
    }

    /// The part the userspace shaper applies (delay, jitter, corruption,
    /// duplication), when there is one.
    pub fn shaper_part(&self) -> Option<Shaping> {
        self.netem_args()?;
        Some(Shaping {
            delay_us: self.delay_us,
            jitter_us: self.jitter_us,
            corrupt: self.corrupt.filter(|c| *c > 0.0),
            duplicate: self.duplicate.filter(|d| *d > 0.0),
            ..Default::default()
        })
    }

    /// The shaper's settings as a rule comment's tail, read back by
    /// [`Shaping::from_shaper_tag`]: `d200000_j10000_c0.1_u1` (what is set;
    /// microseconds and percents; only `[a-z0-9._]`, so iptables prints it
    /// unquoted).
    pub fn shaper_tag(&self) -> String {
        let mut a = Vec::new();
        if let Some(d) = self.delay_us {
            a.push(format!("d{d}"));
        }
        if let Some(j) = self.jitter_us {
            a.push(format!("j{j}"));
        }
        if let Some(c) = self.corrupt.filter(|c| *c > 0.0) {
            a.push(format!("c{c}"));
        }
        if let Some(d) = self.duplicate.filter(|d| *d > 0.0) {
            a.push(format!("u{d}"));
        }
        a.join("_")
    }

    /// Reads [`Shaping::shaper_tag`] back; unknown parts are an error.
    pub fn from_shaper_tag(tag: &str) -> Option<Shaping> {
        let mut s = Shaping::default();
        for part in tag.split('_').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_at(1);
            match key {
                "d" => s.delay_us = Some(value.parse().ok()?),
                "j" => s.jitter_us = Some(value.parse().ok()?),
                "c" => s.corrupt = Some(value.parse().ok()?),
                "u" => s.duplicate = Some(value.parse().ok()?),
                _ => return None,
            }
        }
        Some(s)
    }

    /// The shaper's command line for these settings on queue `queue`.
    pub fn shaper_args(&self, queue: u16) -> Vec<String> {
        let mut a = vec!["--queue".to_string(), queue.to_string()];
        if let Some(d) = self.delay_us {
            a.extend(["--delay".into(), format!("{d}us")]);
        }
        if let Some(j) = self.jitter_us {
            a.extend(["--jitter".into(), format!("{j}us")]);
        }
        if let Some(c) = self.corrupt.filter(|c| *c > 0.0) {
            a.extend(["--corrupt".into(), c.to_string()]);
        }
        if let Some(d) = self.duplicate.filter(|d| *d > 0.0) {
            a.extend(["--duplicate".into(), d.to_string()]);
        }
        a
    }

    /// `delay=200ms jitter=10ms loss=2% rate=1mbit corrupt=0.1% duplicate=1%`
    /// (what is set, in that order).
    pub fn describe(&self) -> String {
        let mut a = Vec::new();
        if let Some(d) = self.delay_us {
            a.push(format!("delay={}", fmt_duration(d)));
        }
        if let Some(j) = self.jitter_us {
            a.push(format!("jitter={}", fmt_duration(j)));
        }
        if let Some(l) = self.loss {
            a.push(format!("loss={l}%"));
        }
        if let Some(r) = self.rate_bps {
            a.push(format!("rate={}", fmt_rate(r)));
        }
        if let Some(c) = self.corrupt {
            a.push(format!("corrupt={c}%"));
        }
        if let Some(d) = self.duplicate {
            a.push(format!("duplicate={d}%"));
        }
        a.join(" ")
    }
}

/// `200ms`, `1500us`, `2s`.
pub fn fmt_duration(us: u64) -> String {
    if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

/// `1mbit`, `500kbit`, `1234bit`.
pub fn fmt_rate(bps: u64) -> String {
    for (unit, n) in [("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1000)] {
        if bps >= n && bps.is_multiple_of(n) {
            return format!("{}{unit}", bps / n);
        }
    }
    format!("{bps}bit")
}

/// A number and a unit: `"80ms"` → (80.0, "ms").
fn split(flag: &str, s: &str) -> anyhow::Result<(f64, String)> {
    let s = s.trim();
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(at);
    let Ok(v) = num.parse::<f64>() else {
        bail!("{flag} {s:?}: not a number with a unit");
    };
    if !v.is_finite() {
        bail!("{flag} {s:?}: not a number");
    }
    if v < 0.0 {
        bail!("{flag} {s:?}: must not be negative");
    }
    Ok((v, unit.trim().to_ascii_lowercase()))
}

/// A duration (`80ms`, `1.5s`, `500us`) in microseconds; a unit is required.
pub fn parse_duration(flag: &str, s: &str) -> anyhow::Result<u64> {
    let (v, unit) = split(flag, s)?;
    let scale = match unit.as_str() {
        "s" | "sec" => 1e6,
        "ms" | "msec" => 1e3,
        "us" | "usec" => 1.0,
        "" => bail!("{flag} {s:?}: give a unit (s, ms, us), for example 80ms"),
        u => bail!("{flag} {s:?}: unknown unit {u:?} (use s, ms or us)"),
    };
    let us = v * scale;
    if us > 3_600e6 {
        bail!("{flag} {s:?}: more than an hour");
    }
    Ok(us.round() as u64)
}

/// A share in percent (`2%`, `0.1%`, `2`), from 0 to 100.
pub fn parse_percent(flag: &str, s: &str) -> anyhow::Result<f64> {
    let (v, unit) = split(flag, s)?;
    if !(unit.is_empty() || unit == "%") {
        bail!("{flag} {s:?}: unknown unit {unit:?} (a percentage, for example 2%)");
    }
    if v > 100.0 {
        bail!("{flag} {s:?}: over 100%");
    }
    Ok(v)
}

/// A rate (`1mbit`, `500kbit`, `1gbit`, `100kbps` = bytes) in bits per second.
pub fn parse_rate(flag: &str, s: &str) -> anyhow::Result<u64> {
    let (v, unit) = split(flag, s)?;
    let scale = match unit.as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        "" => bail!("{flag} {s:?}: give a unit (bit, kbit, mbit, gbit, or bps... for bytes), for example 1mbit"),
        u => bail!("{flag} {s:?}: unknown unit {u:?} (use bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)"),
    };
    let bps = (v * scale).round();
    if bps < 8.0 {
        bail!("{flag} {s:?}: at least 8bit");
    }
    if bps > 100e9 {
        bail!("{flag} {s:?}: over 100gbit");
    }
    Ok(bps as u64)
}
