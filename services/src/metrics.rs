//! Counters in Prometheus text format, written by hand: the services need a
//! handful of counters and gauges, not a metrics framework.
//!
//! ```text
//! tracker_http_requests_total{route="/announce",status="200"} 42
//! tracker_reaped_peers_total 3
//! tracker_live_peers 160
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// A cheap handle to one service's counters.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    prefix: &'static str,
    // std Mutex: held only for a map update, never across an await.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    counters: Mutex<BTreeMap<&'static str, (&'static str, u64)>>,
}

impl Metrics {
    /// `prefix` names the service, e.g. `tracker`.
    pub fn new(prefix: &'static str) -> Self {
        Self(Arc::new(Inner {
            prefix,
            requests: Mutex::new(BTreeMap::new()),
            counters: Mutex::new(BTreeMap::new()),
        }))
    }

    pub fn count_request(&self, route: &str, status: u16) {
        let mut map = self.0.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((route.to_string(), status)).or_default() += 1;
    }

    /// Adds `by` to counter `<prefix>_<name>`.
    pub fn inc(&self, name: &'static str, help: &'static str, by: u64) {
        let mut map = self.0.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name).or_insert((help, 0)).1 += by;
    }

    /// The current value of a counter (0 when never incremented).
    pub fn get(&self, name: &str) -> u64 {
        let map = self.0.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name).map(|c| c.1).unwrap_or(0)
    }

    /// Renders every counter plus the `gauges` (name, help, value) sampled by
    /// the caller.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let p = self.0.prefix;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP {p}_http_requests_total HTTP requests answered, by route and status.\n# TYPE {p}_http_requests_total counter"
        );
        for ((route, status), n) in self
            .0
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "{p}_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                route.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        for (name, (help, n)) in self
            .0
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "# HELP {p}_{name} {help}\n# TYPE {p}_{name} counter\n{p}_{name} {n}"
            );
        }
        for (name, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {p}_{name} {help}\n# TYPE {p}_{name} gauge\n{p}_{name} {v}"
            );
        }
        out
    }
}
