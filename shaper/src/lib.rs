//! `mesh-shaper`: a userspace link shaper for kernels without `sch_netem`.
//!
//! An iptables rule in the peer's namespace sends its egress to an NFQUEUE
//! queue (`-j NFQUEUE --queue-num N --queue-bypass`, so traffic passes
//! unshaped whenever no shaper is bound); this process binds the queue,
//! holds each packet for its delay, flips a bit of some and sends some
//! twice. meshctl starts one per shaped direction in a container that joins
//! the peer's network namespace (see `cli/src/faults/net.rs`).
//!
//! - [`schedule`]: the pure part: delays (uniform `delay ± jitter`, order
//!   kept), which packets are corrupted or duplicated (seeded, tested).
//! - [`nfqueue`]: the netlink queue client and the raw socket that sends
//!   duplicates.
//! - [`run`]: the loop between them, until SIGTERM.

pub mod nfqueue;
pub mod schedule;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;

use nfqueue::{Queue, RawSender, Verdict};
use schedule::{flip, ipv4_header_len, Scheduler, Settings};

/// What the shaper is told on its command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The NFQUEUE queue number to bind.
    pub queue: u16,
    pub settings: Settings,
    /// Packets held at once (the kernel's queue length); packets beyond it
    /// are dropped by the kernel, as netem's `limit` drops them.
    pub limit: u32,
    /// The firewall mark of duplicates, which the queueing rule skips.
    pub mark: u32,
    /// Seed of the random choices (`None`: from the clock).
    pub seed: Option<u64>,
}

/// Default of [`Config::limit`]: netem's default `limit`.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Default of [`Config::mark`] (`mesh` in ASCII).
pub const DEFAULT_MARK: u32 = 0x6d65_7368;

/// A packet waiting for its release.
struct Held {
    id: u32,
    release_us: u64,
    /// The replaced bytes of a corrupted packet.
    corrupted: Option<Vec<u8>>,
    /// The bytes of a packet to send twice.
    copy: Option<Vec<u8>>,
}

/// What happened, printed at exit.
#[derive(Debug, Default)]
struct Counts {
    packets: u64,
    corrupted: u64,
    duplicated: u64,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Makes SIGTERM and SIGINT interrupt `ppoll` and end the loop (as PID 1
/// in a container, the default action would ignore them).
fn handle_signals() -> anyhow::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_signal as *const () as usize;
        // No SA_RESTART: ppoll returns EINTR.
        act.sa_flags = 0;
        if unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error()).context("install a signal handler");
        }
    }
    Ok(())
}

/// Binds the queue and shapes until SIGTERM or SIGINT; then passes every
/// held packet at once and unbinds.
pub fn run(config: &Config) -> anyhow::Result<()> {
    handle_signals()?;
    let seed = config.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ u64::from(std::process::id()).rotate_left(32)
    });
    let mut sched = Scheduler::new(
        config.settings.clone(),
        rand::rngs::StdRng::seed_from_u64(seed),
    );
    let mut queue = Queue::bind(config.queue, config.limit)
        .with_context(|| format!("bind NFQUEUE queue {}", config.queue))?;
    let raw = if config.settings.duplicate > 0.0 {
        Some(RawSender::open(config.mark).context("open a raw socket for duplicates")?)
    } else {
        None
    };
    let s = &config.settings;
    eprintln!(
        "mesh-shaper: queue {} delay {}us jitter {}us corrupt {}% duplicate {}% limit {} (more are dropped) mark {:#x}",
        config.queue, s.delay_us, s.jitter_us, s.corrupt, s.duplicate, config.limit, config.mark
    );
    let start = Instant::now();
    let now_us = || start.elapsed().as_micros() as u64;
    let mut held: VecDeque<Held> = VecDeque::new();
    let mut counts = Counts::default();
    let release = |queue: &mut Queue, h: Held, counts: &mut Counts| -> anyhow::Result<()> {
        queue
            .verdict(h.id, Verdict::Accept, h.corrupted.as_deref())
            .context("pass a packet")?;
        if let (Some(copy), Some(raw)) = (h.copy, &raw) {
            // A copy that cannot be sent is a duplicate lost, not an error.
            if raw.send(&copy).is_ok() {
                counts.duplicated += 1;
            }
        }
        Ok(())
    };
    while !STOP.load(Ordering::Relaxed) {
        let timeout = held.front().map(|h| {
            let wait = h.release_us.saturating_sub(now_us());
            libc::timespec {
                tv_sec: (wait / 1_000_000) as libc::time_t,
                tv_nsec: ((wait % 1_000_000) * 1000) as libc::c_long,
            }
        });
        let mut pfd = libc::pollfd {
            fd: queue.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd and the timeout live across the call.
        let r = unsafe {
            libc::ppoll(
                &mut pfd,
                1,
                timeout
                    .as_ref()
                    .map_or(std::ptr::null(), |t| t as *const libc::timespec),
                std::ptr::null(),
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("wait for packets");
        }
        if pfd.revents & libc::POLLIN != 0 {
            // Up to a burst at a time, so releases are not starved.
            for _ in 0..256 {
                let got = queue
                    .drain(|id, bytes| {
                        counts.packets += 1;
                        let header = ipv4_header_len(bytes).unwrap_or(bytes.len());
                        let d = sched.decide(now_us(), bytes.len(), header);
                        let corrupted = d.flip_bit.map(|bit| {
                            let mut b = bytes.to_vec();
                            flip(&mut b, bit);
                            b
                        });
                        counts.corrupted += u64::from(corrupted.is_some());
                        held.push_back(Held {
                            id,
                            release_us: d.release_us,
                            corrupted,
                            copy: d.duplicate.then(|| bytes.to_vec()),
                        });
                    })
                    .context("read packets")?;
                if !got {
                    break;
                }
            }
        }
        let now = now_us();
        while held.front().is_some_and(|h| h.release_us <= now) {
            if let Some(h) = held.pop_front() {
                release(&mut queue, h, &mut counts)?;
            }
        }
    }
    // Stopping: nothing held is lost.
    while let Some(h) = held.pop_front() {
        release(&mut queue, h, &mut counts)?;
    }
    queue.unbind().context("unbind the queue")?;
    eprintln!(
        "mesh-shaper: stopped after {} packets ({} corrupted, {} duplicated)",
        counts.packets, counts.corrupted, counts.duplicated
    );
    Ok(())
}
