//! Progress on long work: bars on a terminal, plain lines elsewhere.
//!
//! On a terminal each step is an indicatif bar or spinner. When stderr is
//! not a terminal (CI, `2> up.log`, a pipe) bars draw nothing, so each step
//! prints plain lines instead, as docker compose does: one when it starts,
//! one per 10 % of its length, its messages (at most one per
//! [`PLAIN_MESSAGE_EVERY`]), and one when it finishes.
//!
//! ```text
//!        peers 0/160
//!        peers 16/160
//!        ...
//!        peers 160/160 started (41.2 s)
//! ```

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Least time between two plain message lines of one step.
pub const PLAIN_MESSAGE_EVERY: Duration = Duration::from_secs(5);

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bars,
    Plain,
    Hidden,
}

/// The progress display of one command.
#[derive(Debug, Clone)]
pub struct Progress {
    mp: MultiProgress,
    mode: Mode,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let mode = if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        };
        Progress {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            mode,
        }
    }

    /// Plain lines on stderr, terminal or not.
    pub fn plain() -> Progress {
        Progress {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            mode: Mode::Plain,
        }
    }

    /// Nothing at all (tests).
    pub fn hidden() -> Progress {
        Progress {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            mode: Mode::Hidden,
        }
    }

    /// A step: a bar of `len` units, or a spinner when `len` is `None`.
    pub fn step(&self, len: Option<u64>, prefix: &str) -> Step {
        let pb = match (self.mode, len) {
            (Mode::Bars, Some(n)) => self.mp.add(ProgressBar::new(n)),
            (Mode::Bars, None) => self.mp.add(ProgressBar::new_spinner()),
            _ => ProgressBar::hidden(),
        };
        if self.mode == Mode::Bars {
            let style = if len.is_some() {
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
                )
            } else {
                ProgressStyle::with_template("{prefix:>12} {spinner} {msg} ({elapsed})")
            };
            if let Ok(style) = style {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.enable_steady_tick(Duration::from_millis(200));
        }
        pb.set_prefix(prefix.to_string());
        if let Some(n) = len {
            pb.set_length(n);
        }
        let step = Step {
            pb,
            plain: (self.mode == Mode::Plain).then(|| {
                Arc::new(Mutex::new(Plain {
                    prefix: prefix.to_string(),
                    start: Instant::now(),
                    decile: 0,
                    last_message: None,
                }))
            }),
        };
        if let (Some(_), Some(n)) = (&step.plain, len) {
            step.line(&format!("0/{n}"));
        }
        step
    }

    /// A line of its own above the bars.
    pub fn note(&self, line: &str) {
        match self.mode {
            Mode::Bars => self.mp.suspend(|| eprintln!("{line}")),
            Mode::Plain => eprintln!("{line}"),
            Mode::Hidden => {}
        }
    }

    /// Removes the bars (before printing a result).
    pub fn clear(&self) {
        self.mp.clear().ok();
    }
}

#[derive(Debug)]
struct Plain {
    prefix: String,
    start: Instant,
    /// The last tenth of the length printed.
    decile: u64,
    last_message: Option<Instant>,
}

/// One step of a [`Progress`].
#[derive(Debug, Clone)]
pub struct Step {
    pb: ProgressBar,
    plain: Option<Arc<Mutex<Plain>>>,
}

impl Step {
    /// A step that shows nothing (for library callers without a display).
    pub fn hidden() -> Step {
        Step {
            pb: ProgressBar::hidden(),
            plain: None,
        }
    }

    fn plain(&self) -> Option<std::sync::MutexGuard<'_, Plain>> {
        self.plain
            .as_ref()
            .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn line(&self, text: &str) {
        if let Some(p) = self.plain() {
            eprintln!("{:>12} {text}", p.prefix);
        }
    }

    fn counted(&self) {
        let (Some(len), pos) = (self.pb.length(), self.pb.position()) else {
            return;
        };
        let decile = (pos * 10).checked_div(len).unwrap_or(10);
        let print = match self.plain() {
            Some(mut p) if decile > p.decile && pos < len => {
                p.decile = decile;
                true
            }
            _ => false,
        };
        if print {
            self.line(&format!("{pos}/{len}"));
        }
    }

    pub fn inc(&self, n: u64) {
        self.pb.inc(n);
        self.counted();
    }

    pub fn set_position(&self, pos: u64) {
        self.pb.set_position(pos);
        self.counted();
    }

    pub fn set_length(&self, len: u64) {
        self.pb.set_length(len);
    }

    pub fn tick(&self) {
        self.pb.tick();
    }

    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let print = match self.plain() {
            Some(mut p) => {
                let due = p
                    .last_message
                    .is_none_or(|t| t.elapsed() >= PLAIN_MESSAGE_EVERY);
                if due {
                    p.last_message = Some(Instant::now());
                }
                due
            }
            None => false,
        };
        if print {
            self.line(&msg);
        }
        self.pb.set_message(msg);
    }

    pub fn finish_with_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let elapsed = self.plain().map(|p| p.start.elapsed());
        if let Some(elapsed) = elapsed {
            let count = match self.pb.length() {
                Some(len) => format!("{}/{len} ", self.pb.position()),
                None => String::new(),
            };
            self.line(&format!("{count}{msg} ({:.1} s)", elapsed.as_secs_f64()));
        }
        self.pb.finish_with_message(msg);
    }
}
