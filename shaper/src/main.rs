//! `mesh-shaper`: shapes the packets of one NFQUEUE queue until SIGTERM.
//! See `shaper/README.md`.

use anyhow::bail;
use clap::Parser;
use shaper::schedule::Settings;
use shaper::{run, Config, DEFAULT_LIMIT, DEFAULT_MARK};

/// Hold, corrupt and duplicate the packets an iptables NFQUEUE rule sends
/// to one queue (a userspace netem for kernels without sch_netem).
#[derive(Debug, Parser)]
#[command(name = "mesh-shaper", version)]
struct Args {
    /// The NFQUEUE queue number to bind (the rule's --queue-num).
    #[arg(long)]
    queue: u16,
    /// Added delay (`200ms`, `1s`, `500us`).
    #[arg(long, default_value = "0us")]
    delay: String,
    /// Delay variation: the delay is uniform in delay ± jitter, packet order kept.
    #[arg(long, default_value = "0us")]
    jitter: String,
    /// Packets with one bit flipped beyond the IP header, percent (`0.1`).
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Packets sent twice, percent (`1`).
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Packets held at once; the kernel drops packets beyond it.
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    limit: u32,
    /// Firewall mark of the duplicates (the queueing rule must skip it).
    #[arg(long, default_value_t = DEFAULT_MARK)]
    mark: u32,
    /// Seed of the random choices (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

fn duration_us(flag: &str, v: &str) -> anyhow::Result<u64> {
    let at = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(at);
    let Ok(n) = n.parse::<u64>() else {
        bail!("{flag} {v:?}: not a whole number with a unit (200ms)");
    };
    let scale = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        _ => bail!("{flag} {v:?}: give a unit (us, ms, s)"),
    };
    match n.checked_mul(scale) {
        Some(us) if us <= 3_600_000_000 => Ok(us),
        _ => bail!("{flag} {v:?}: more than an hour"),
    }
}

fn percent(flag: &str, v: f64) -> anyhow::Result<f64> {
    if !(0.0..=100.0).contains(&v) {
        bail!("{flag} {v}: a percentage from 0 to 100");
    }
    Ok(v)
}

fn config(a: Args) -> anyhow::Result<Config> {
    if a.limit == 0 {
        bail!("--limit 0: hold at least one packet");
    }
    Ok(Config {
        queue: a.queue,
        settings: Settings {
            delay_us: duration_us("--delay", &a.delay)?,
            jitter_us: duration_us("--jitter", &a.jitter)?,
            corrupt: percent("--corrupt", a.corrupt)?,
            duplicate: percent("--duplicate", a.duplicate)?,
        },
        limit: a.limit,
        mark: a.mark,
        seed: a.seed,
    })
}

fn main() -> std::process::ExitCode {
    match config(Args::parse()).and_then(|c| run(&c)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-shaper: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
