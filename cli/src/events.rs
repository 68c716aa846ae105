//! What happened to a deployment, as one ordered stream of lines: the
//! Engine's events for its containers (through [`Runtime::events`]) merged
//! with the control plane's own feeds (`GET /events` on the tracker,
//! topology and signalling, see [`wire::events`]).
//!
//! ```text
//! 2024-06-01T12:00:03.120Z  engine      kill            peer-3         signal=9
//! 2024-06-01T12:00:03.190Z  engine      die             peer-3         exit_code=137 oom=false
//! 2024-06-01T12:00:09.004Z  tracker     peer_expired    peer-3         seq=41
//! 2024-06-01T12:00:09.010Z  topology    edge_removed    peer-2<->peer-3  a=peer-2 b=peer-3 seq=88
//! ```
//!
//! The feeds are polled (every `poll_every`, each request with a timeout)
//! through the services' published ports; a service that does not answer is
//! reported once on stderr and tried again (its port is read back from the
//! Engine again, since a restarted container may publish another one). A
//! feed that lost events between two polls (its ring turned over) gives an
//! `events_missed` line. Lines are held for [`HOLD`] before they are printed
//! so that a polled event is not printed after a later Engine event.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Map, Value};

use crate::context::{self, LABEL_COMPONENT, LABEL_ROLE};
use crate::runtime::{EngineEvent, Filter, Runtime};
use wire::events::{EventsResponse, MAX_LIMIT};

use crate::labels::{Role, LABEL_FAULT, LABEL_SHAPER, LABEL_TARGET};
/// How long a line waits before it is printed while following, so that the
/// polled feeds (up to one poll period late) fall into place.
pub const HOLD: Duration = Duration::from_millis(1500);
/// Time allowed for one `GET /events`.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed to read the Engine's past events when not following.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(30);
/// Container actions shown (the Engine reports more: exec, attach, ...).
const ACTIONS: &[&str] = &[
    "create", "start", "restart", "stop", "kill", "die", "oom", "pause", "unpause", "destroy",
];

/// One event, from the Engine or a service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Line {
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// `engine`, `tracker`, `topology` or `signalling`.
    pub source: &'static str,
    /// `start`, `die`, `fault`, `peer_expired`, `edge_removed`, ...
    pub kind: String,
    /// The node (`peer-3`, `tracker`), edge (`peer-1<->peer-2`) or path
    /// (`peer-1->peer-9`) it is about.
    pub target: String,
    /// The rest: `exit_code`, `oom`, `signal`, `description`, `hops`, `seq`, ...
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl Line {
    fn new(at_ms: i64, source: &'static str, kind: &str, target: String) -> Line {
        Line {
            at: rfc3339_ms(at_ms),
            at_ms,
            source,
            kind: kind.to_string(),
            target,
            details: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Line {
        self.details.insert(key.to_string(), value.into());
        self
    }

    /// The line for people: time, source, kind, target, `key=value`s.
    pub fn text(&self) -> String {
        // What the target already says is left out for people (not in JSON).
        let said = ["peer", "a", "b", "from", "to", "container"];
        let details: Vec<String> = self
            .details
            .iter()
            .filter(|(k, _)| !said.contains(&k.as_str()))
            .map(|(k, v)| match v {
                Value::String(s) if k == "description" => format!("{k}={s:?}"),
                Value::String(s) => format!("{k}={s}"),
                Value::Array(a) => {
                    let parts: Vec<String> = a
                        .iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                        .collect();
                    format!("{k}={}", parts.join(","))
                }
                other => format!("{k}={other}"),
            })
            .collect();
        format!(
            "{}  {:<10}  {:<14}  {:<14}  {}",
            self.at,
            self.source,
            self.kind,
            self.target,
            details.join(" ")
        )
        .trim_end()
        .to_string()
    }
}

/// Time order; the Engine first within one millisecond (a kill causes the
/// tracker's view, not the other way round), then each source's own order.
fn order(a: &Line, b: &Line) -> std::cmp::Ordering {
    let rank = |l: &Line| match l.source {
        "engine" => 0,
        "tracker" => 1,
        "topology" => 2,
        _ => 3,
    };
    let seq = |l: &Line| l.details.get("seq").and_then(Value::as_u64).unwrap_or(0);
    (a.at_ms, rank(a), seq(a)).cmp(&(b.at_ms, rank(b), seq(b)))
}

/// `2024-06-01T12:00:03.120Z` for milliseconds since the epoch.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A span like `10m`, `90s`, `1h30m`, `500ms`, `2d`; a bare number is seconds.
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty; expected a span like 30s, 5m, 1h".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?} is not a span like 30s, 5m, 1h30m"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            u => return Err(format!("{text:?}: unknown unit {u:?} (ms, s, m, h, d)")),
        };
        rest = &rest[unit_len..];
        let ms = n
            .checked_mul(unit_ms)
            .ok_or_else(|| format!("{text:?}: too long"))?;
        total = total
            .checked_add(Duration::from_millis(ms))
            .ok_or_else(|| format!("{text:?}: too long"))?;
    }
    Ok(total)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One Engine event as a line, or `None` for what is not shown. `oom`
/// remembers containers the kernel OOM-killed, so their `die` says so.
pub fn from_engine(e: &EngineEvent, oom: &mut HashSet<String>) -> Option<Line> {
    if e.kind != "container" || !ACTIONS.contains(&e.action.as_str()) {
        return None;
    }
    let at_ms = e.time_nanos / 1_000_000;
    let attr = |k: &str| e.attributes.get(k).map(String::as_str);
    let name = attr("name").unwrap_or("").to_string();
    if attr(LABEL_ROLE) == Some(Role::Helper.as_str()) {
        // A helper starting with a fault label is a fault being applied (or
        // removed); the rest of its life (it exits once its rule is in the
        // kernel) says nothing more, and helpers that only read the kernel
        // carry no fault label.
        //
        // A shaper (`meshctl.shaper`) lives as long as its fault: its `die`
        // is the fault removed (by `netem reset`, `heal`, a new `netem set`
        // or a crash, which its exit code tells apart: 0 after SIGTERM).
        let description = attr(LABEL_FAULT)?;
        let kind = match e.action.as_str() {
            "start" => "fault",
            "die" if attr(LABEL_SHAPER).is_some() => "fault_removed",
            _ => return None,
        };
        let target = attr(LABEL_TARGET)
            .or(attr(LABEL_COMPONENT))
            .unwrap_or(&name)
            .to_string();
        let mut line = Line::new(at_ms, "engine", kind, target)
            .with("description", description)
            .with("container", name);
        if kind == "fault_removed" {
            let code = attr("exitCode").and_then(|c| c.parse::<i64>().ok());
            line = line.with("exit_code", code.map_or(Value::Null, Value::from));
        }
        return Some(line);
    }
    let target = attr(LABEL_COMPONENT).unwrap_or(&name).to_string();
    let mut line = Line::new(at_ms, "engine", &e.action, target).with("container", name);
    match e.action.as_str() {
        "oom" => {
            oom.insert(e.id.clone());
        }
        "die" => {
            let code = attr("exitCode").and_then(|c| c.parse::<i64>().ok());
            let killed = oom.remove(&e.id) || attr("oomKilled") == Some("true");
            line = line
                .with("exit_code", code.map_or(Value::Null, Value::from))
                .with("oom", killed);
        }
        "kill" => {
            if let Some(s) = attr("signal") {
                line = line.with("signal", s);
            }
        }
        _ => {}
    }
    Some(line)
}

/// One service event as a line.
pub fn from_service(source: &'static str, e: &wire::events::Event) -> Line {
    let mut line = Line::new(e.at_ms as i64, source, e.kind.name(), e.kind.target());
    if let Ok(Value::Object(fields)) = serde_json::to_value(&e.kind) {
        for (k, v) in fields {
            if k != "kind" {
                line.details.insert(k, v);
            }
        }
    }
    line.with("seq", e.seq)
}

/// One service's feed, read on from the last `seq` seen.
struct Feed {
    source: &'static str,
    url: Option<String>,
    after: u64,
    /// The service did not answer last time (reported once per outage).
    down: bool,
}

impl Feed {
    /// Every event after `self.after` (older than `since_ms` left out),
    /// page by page, with an `events_missed` line for a gap.
    async fn poll(&mut self, http: &reqwest::Client, since_ms: i64) -> anyhow::Result<Vec<Line>> {
        let Some(base) = self.url.clone() else {
            anyhow::bail!("not running");
        };
        let mut lines = Vec::new();
        let mut restarted = false;
        loop {
            let url = format!("{base}/events?after={}&limit={MAX_LIMIT}", self.after);
            let page: EventsResponse = http
                .get(&url)
                .timeout(POLL_TIMEOUT)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            if page.next_seq <= self.after && !restarted {
                // The service restarted: its numbers began again.
                restarted = true;
                self.after = 0;
                continue;
            }
            if page.first_seq > self.after + 1 {
                let at = page.events.first().map_or_else(now_ms, |e| e.at_ms as i64);
                // On the first read, events that fell out before --since do not count.
                if self.after > 0 || at > since_ms {
                    let missed = page.first_seq - self.after - 1;
                    lines.push(
                        Line::new(at, self.source, "events_missed", self.source.to_string())
                            .with("missed", missed)
                            .with("first_seq", page.first_seq),
                    );
                }
            }
            let full = page.events.len() >= MAX_LIMIT;
            for e in &page.events {
                self.after = e.seq;
                if e.at_ms as i64 >= since_ms {
                    lines.push(from_service(self.source, e));
                }
            }
            if page.events.is_empty() {
                self.after = self.after.max(page.next_seq.saturating_sub(1));
            }
            if !full {
                return Ok(lines);
            }
        }
    }
}

/// What [`stream`] reads.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deployment name.
    pub name: String,
    /// Show what happened since this long ago.
    pub since: Duration,
    /// Keep streaming until `stop` resolves; otherwise print the past and end.
    pub follow: bool,
    /// How often the services' feeds are polled.
    pub poll_every: Duration,
}

/// Streams deployment `opts.name`'s events to `emit`, in time order: the
/// past `opts.since`, then (with `follow`) what happens until `stop`.
/// Warnings (a service not answering) go to `warn`.
pub async fn stream(
    rt: &impl Runtime,
    opts: &Options,
    stop: impl Future<Output = ()>,
    mut emit: impl FnMut(&Line) -> anyhow::Result<()>,
    warn: impl Fn(&str),
) -> anyhow::Result<()> {
    let deployment = context::discover(rt, &opts.name).await?;
    let start_ms = now_ms();
    let since_ms = start_ms - opts.since.as_millis().min(i64::MAX as u128) as i64;
    let http = reqwest::Client::builder()
        .timeout(POLL_TIMEOUT)
        .build()
        .map_err(|e| anyhow::anyhow!("make an HTTP client: {e}"))?;
    let mut feeds = [
        ("tracker", deployment.tracker_url),
        ("topology", deployment.topology_url),
        ("signalling", deployment.signalling_url),
    ]
    .map(|(source, url)| Feed {
        source,
        url,
        after: 0,
        down: false,
    });
    let filter = Filter::deployment(&opts.name);
    // The Engine takes whole seconds: ask from the second before, keep from the ms.
    let until = (!opts.follow).then_some(start_ms / 1000 + 1);
    let mut engine = rt.events(&filter, Some(since_ms.div_euclid(1000)), until);
    let mut engine_done = false;
    let mut oom = HashSet::new();
    let mut held: Vec<Line> = Vec::new();
    let mut tick = tokio::time::interval(opts.poll_every.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_rediscover: Option<tokio::time::Instant> = None;
    let history_deadline = tokio::time::Instant::now() + HISTORY_TIMEOUT;
    tokio::pin!(stop);

    let mut flush = |held: &mut Vec<Line>, upto: i64| -> anyhow::Result<()> {
        held.sort_by(order);
        let n = held.partition_point(|l| l.at_ms <= upto);
        for line in held.drain(..n) {
            emit(&line)?;
        }
        Ok(())
    };

    loop {
        tokio::select! {
            _ = &mut stop, if opts.follow => {
                flush(&mut held, i64::MAX)?;
                return Ok(());
            }
            _ = tokio::time::sleep_until(history_deadline), if !opts.follow && !engine_done => {
                warn("engine: past events not read within 30 s; showing what came");
                engine_done = true;
            }
            ev = engine.next(), if !engine_done => match ev {
                Some(Ok(e)) => {
                    if let Some(line) = from_engine(&e, &mut oom) {
                        if line.at_ms >= since_ms {
                            held.push(line);
                        }
                    }
                }
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("read the engine's events")),
                None => {
                    if opts.follow {
                        anyhow::bail!("the engine's event stream ended");
                    }
                    engine_done = true;
                }
            },
            _ = tick.tick() => {
                let mut any_down = false;
                for feed in feeds.iter_mut() {
                    match feed.poll(&http, since_ms).await {
                        Ok(lines) => {
                            if feed.down {
                                warn(&format!("{}: answering again", feed.source));
                                feed.down = false;
                            }
                            held.extend(lines);
                        }
                        Err(e) => {
                            any_down = true;
                            if !feed.down {
                                warn(&format!("{}: /events not read: {e:#}; trying again", feed.source));
                                feed.down = true;
                            }
                        }
                    }
                }
                // A restarted service may publish another port: read them again.
                if any_down && opts.follow
                    && last_rediscover.is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
                {
                    last_rediscover = Some(tokio::time::Instant::now());
                    if let Ok(d) = context::discover(rt, &opts.name).await {
                        for (feed, url) in feeds.iter_mut().zip([d.tracker_url, d.topology_url, d.signalling_url]) {
                            if feed.down {
                                feed.url = url;
                            }
                        }
                    }
                }
                if opts.follow {
                    flush(&mut held, now_ms() - HOLD.as_millis() as i64)?;
                }
            }
        }
        if !opts.follow && engine_done {
            // One more read of the feeds, then everything up to now.
            for feed in feeds.iter_mut() {
                match feed.poll(&http, since_ms).await {
                    Ok(lines) => held.extend(lines),
                    Err(e) => {
                        if !feed.down {
                            warn(&format!("{}: /events not read: {e:#}", feed.source));
                        }
                    }
                }
            }
            held.retain(|l| l.at_ms <= now_ms());
            return flush(&mut held, i64::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Labels;

    fn engine(action: &str, id: &str, attrs: &[(&str, &str)]) -> EngineEvent {
        let mut attributes = Labels::new();
        for (k, v) in attrs {
            attributes.insert(k.to_string(), v.to_string());
        }
        EngineEvent {
            time_nanos: 1_717_243_203_120_000_000,
            kind: "container".into(),
            action: action.into(),
            id: id.into(),
            attributes,
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_717_243_203_120), "2024-06-01T12:00:03.120Z");
        assert_eq!(rfc3339_ms(951_782_400_001), "2000-02-29T00:00:00.001Z");
    }

    #[test]
    fn spans_parse_or_say_why() {
        assert_eq!(parse_span("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_span("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_span("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_span("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "5x", "m", "-5m", "1.5h", "99999999999999999999d"] {
            assert!(parse_span(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn die_carries_exit_code_and_oom_kill() {
        let mut oom = HashSet::new();
        let peer = [("meshctl.component", "peer-3"), ("name", "m-peer-3")];
        let oomed = from_engine(&engine("oom", "c1", &peer), &mut oom).unwrap();
        assert_eq!(
            (oomed.kind.as_str(), oomed.target.as_str()),
            ("oom", "peer-3")
        );
        let mut attrs = peer.to_vec();
        attrs.push(("exitCode", "137"));
        let die = from_engine(&engine("die", "c1", &attrs), &mut oom).unwrap();
        assert_eq!(die.details["exit_code"], 137);
        assert_eq!(die.details["oom"], true);
        let again = from_engine(&engine("die", "c1", &attrs), &mut oom).unwrap();
        assert_eq!(again.details["oom"], false);
        assert!(from_engine(&engine("exec_start: sh", "c1", &peer), &mut oom).is_none());
        let json = serde_json::to_string(&die).unwrap();
        assert!(
            json.contains(r#""source":"engine","kind":"die","target":"peer-3""#),
            "{json}"
        );
        assert!(
            die.text().contains("exit_code=137 oom=true"),
            "{}",
            die.text()
        );
    }

    #[test]
    fn helpers_are_faults_with_their_description() {
        let mut oom = HashSet::new();
        let attrs = [
            ("meshctl.role", "helper"),
            ("meshctl.component", "netem-peer-2"),
            ("meshctl.fault", "netem peer-2: delay 80ms loss 2%"),
            ("name", "m-netem-peer-2"),
        ];
        let f = from_engine(&engine("start", "h1", &attrs), &mut oom).unwrap();
        assert_eq!(f.kind, "fault");
        assert_eq!(f.target, "netem-peer-2");
        assert_eq!(f.details["description"], "netem peer-2: delay 80ms loss 2%");
        assert!(from_engine(&engine("die", "h1", &attrs), &mut oom).is_none());
    }

    #[test]
    fn a_shaper_dying_is_its_fault_removed() {
        let mut oom = HashSet::new();
        let attrs = [
            ("meshctl.role", "helper"),
            ("meshctl.target", "peer-2"),
            ("meshctl.shaper", "peer-3"),
            ("meshctl.fault", "shaper peer-2 delay=200ms to=peer-3"),
            ("name", "m-shaper-peer-2-1"),
            ("exitCode", "0"),
        ];
        let start = from_engine(&engine("start", "s1", &attrs), &mut oom).unwrap();
        assert_eq!(
            (start.kind.as_str(), start.target.as_str()),
            ("fault", "peer-2")
        );
        let die = from_engine(&engine("die", "s1", &attrs), &mut oom).unwrap();
        assert_eq!(die.kind, "fault_removed");
        assert_eq!(
            die.details["description"],
            "shaper peer-2 delay=200ms to=peer-3"
        );
        assert_eq!(die.details["exit_code"], 0);
        assert!(from_engine(&engine("destroy", "s1", &attrs), &mut oom).is_none());
    }

    #[test]
    fn service_events_keep_their_fields_and_order_after_the_engine() {
        let e = wire::events::Event {
            seq: 7,
            at_ms: 1_717_243_203_120,
            kind: wire::events::EventKind::edge(false, "peer-3", "peer-2"),
        };
        let l = from_service("topology", &e);
        assert_eq!(l.target, "peer-2<->peer-3");
        assert_eq!(l.details["a"], "peer-2");
        assert_eq!(l.details["seq"], 7);
        let mut oom = HashSet::new();
        let k = from_engine(
            &engine(
                "kill",
                "c",
                &[("meshctl.component", "peer-3"), ("signal", "9")],
            ),
            &mut oom,
        )
        .unwrap();
        let mut v = vec![l.clone(), k.clone()];
        v.sort_by(order);
        assert_eq!(v, [k, l]);
    }
}
