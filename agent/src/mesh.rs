//! Where a miss is fetched from, and the relay contract's checks.
//!
//! A client miss asks the tracker for live holders (same region first, then
//! RTT), asks for a route to each in turn and requests the segment from the
//! route's next hop with the rest of the route; after the holders it tries
//! its own edge database (edge peers), then the edge peers. A relay miss
//! forwards to the next name on its route only, or, at the route's end,
//! reads the edge database. Every attempt streams into a shared
//! [`Flight`]; the finished, verified segment goes into the cache.

use crate::cache::Segment;
use crate::client;
use crate::control;
use crate::flight::{FetchError, Flight, Head};
use crate::sources::{self, SourcePlan};
use crate::state::Inner;
use crate::state::Reservation;
use crate::stats::Event;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::relay::{self, Source};

/// Longest route a relay request may carry.
pub const MAX_ROUTE: usize = 64;
/// Longest wait for the next bytes of a relay answer.
const RELAY_IDLE: Duration = Duration::from_secs(10);
/// How long a neighbor's resolved addresses are reused.
const RESOLVE_TTL: Duration = Duration::from_secs(5);

/// How a miss is to be fetched.
#[derive(Debug, Clone)]
pub enum Plan {
    /// A client request: find a source.
    Client,
    /// A relay request: the route, this peer first.
    Relay(Vec<String>),
}

/// A hit, or the fetch to read from.
pub enum Joined {
    Hit(Arc<Segment>),
    Flight(Arc<Flight>),
}

/// A cache hit, a fetch already in flight (singleflight), or a new fetch.
pub fn join_or_lead(inner: &Arc<Inner>, id: &str, plan: Plan) -> Joined {
    let mut flights = inner.flights.lock().unwrap_or_else(|p| p.into_inner());
    // The cache is checked under the flights lock: a finished fetch enters
    // the cache before it leaves the map, so one of the two has it.
    if let Some(seg) = inner
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
    {
        return Joined::Hit(seg);
    }
    if let Some(f) = flights.get(id) {
        inner.stats.event(Some(id), Event::SingleflightJoin);
        return Joined::Flight(f.clone());
    }
    let flight = Arc::new(Flight::new());
    flights.insert(id.to_string(), flight.clone());
    drop(flights);
    inner.stats.event(Some(id), Event::UpstreamFetch);
    tokio::spawn(lead(inner.clone(), id.to_string(), plan, flight.clone()));
    Joined::Flight(flight)
}

/// A failed attempt; `head_sent` when readers already got part of it.
/// `err.failed` names a peer of the route that could not be reached or did
/// not answer; `first_hand` when this peer saw that itself (its neighbor),
/// not from a relay's `X-Mesh-Failed`. `no_route` when no path to the
/// source could be had at all.
struct Failed {
    err: FetchError,
    head_sent: bool,
    first_hand: bool,
    no_route: bool,
}

impl Failed {
    fn before(status: u16, msg: impl Into<String>) -> Self {
        Failed {
            err: FetchError::new(status, msg),
            head_sent: false,
            first_hand: false,
            no_route: false,
        }
    }

    /// No path to the source could be had.
    fn no_route(status: u16, msg: impl Into<String>) -> Self {
        Failed {
            no_route: true,
            ..Failed::before(status, msg)
        }
    }

    /// The same failure, `peer` to blame (seen by this peer itself).
    fn blaming(mut self, peer: &str) -> Self {
        self.err.failed = Some(peer.to_string());
        self.first_hand = true;
        self
    }
}

/// The fetching task of one flight: tries sources until one delivers, all
/// within `FETCH_DEADLINE_SEC` of the miss.
///
/// A client miss tries the tracker's holders (those that failed a moment
/// ago last), then this peer's own edge database, then the edge peers; when
/// every holder of a full page failed, it asks the tracker once more for
/// four times as many and tries the new ones. A holder that cannot be
/// routed to, refuses, times out or sends the wrong bytes costs time, never
/// the segment: the next source is tried. When every source answered that
/// it does not hold the id, the miss is remembered for `MISS_TTL_MS`.
async fn lead(inner: Arc<Inner>, id: String, plan: Plan, first: Arc<Flight>) {
    // Declared first, so dropped last: after the fetch's connections.
    let _busy = crate::state::Busy::new(&inner);
    let deadline = Instant::now() + inner.config.fetch_deadline;
    let mut flight = first;
    let me = inner.config.peer_id.clone();
    let mut last: Option<FetchError> = None;
    let mut tried = 0usize;
    // Whether every source said it does not hold the id (no holder, no edge copy).
    let mut nobody_has = true;
    let mut expand: Option<usize> = None;
    let mut tried_peers: HashSet<String> = HashSet::new();
    // Sources tried again on a path around a failed relay.
    let mut rerouted: HashSet<String> = HashSet::new();
    // Whether every failure so far was a route that could not be had or a
    // peer on it that did not answer, and which peers did not.
    let mut only_unreachable = true;
    let mut not_answering: Vec<String> = Vec::new();

    let mut sources: VecDeque<SourcePlan> = match &plan {
        Plan::Relay(route) if route.len() > 1 => {
            VecDeque::from([SourcePlan::Route(route[1..].to_vec())])
        }
        Plan::Relay(_) => {
            if inner.edge.is_some() {
                VecDeque::from([SourcePlan::OwnEdge])
            } else {
                last = Some(FetchError::new(404, format!("{me} does not hold {id}")));
                VecDeque::new()
            }
        }
        Plan::Client => {
            let limit = inner.config.lookup_candidates;
            let looked = lookup_patiently(&inner, &id, limit, deadline).await;
            let (holders, edges) = match &looked {
                Ok(l) => (l.lookup.holders.as_slice(), l.lookup.edges.as_slice()),
                Err(_) => (&[][..], &[][..]),
            };
            match &looked {
                Ok(l) => {
                    if l.lookup.holders.len() >= limit {
                        expand = Some((limit * 4).min(1000));
                    }
                    // A tracker that just lost its state knows nobody: its
                    // empty answer is no proof that nobody holds the id.
                    if l.tracker_forgot {
                        nobody_has = false;
                    }
                }
                Err(e) => {
                    nobody_has = false;
                    last = Some(FetchError::new(
                        e.status,
                        format!("cannot look up {id}: {}", e.message),
                    ));
                }
            }
            let mut remembered = inner.remembered_edges();
            if edges.is_empty() && remembered.is_empty() {
                control::edges_from_topology(&inner).await;
                remembered = inner.remembered_edges();
            }
            let v = sources::client_sources(
                &sources::Known {
                    me: &me,
                    own_edge: inner.edge.is_some(),
                    holders,
                    edges,
                    remembered: &remembered,
                },
                |p| inner.penalized(p),
            );
            if v.is_empty() && last.is_none() {
                last = Some(FetchError::new(
                    404,
                    format!("no live peer or edge holds {id}"),
                ));
            }
            v.into()
        }
    };

    loop {
        let Some(source) = sources.pop_front() else {
            // Every holder of a full page failed: ask once for more.
            let Some(more) = expand.take() else { break };
            if Instant::now() >= deadline {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ok(l) = control::lookup(&inner, &id, more, left).await {
                let fresh: Vec<_> = l
                    .lookup
                    .holders
                    .into_iter()
                    .filter(|c| !tried_peers.contains(&c.peer_id))
                    .collect();
                let none = Default::default();
                sources.extend(sources::client_sources(
                    &sources::Known {
                        me: &me,
                        own_edge: false,
                        holders: &fresh,
                        edges: &[],
                        remembered: &none,
                    },
                    |p| inner.penalized(p),
                ));
            }
            continue;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            nobody_has = false;
            last = Some(FetchError::new(
                504,
                format!(
                    "no source delivered {id} within {:?}",
                    inner.config.fetch_deadline
                ),
            ));
            break;
        }
        tried += 1;
        let result = match &source {
            SourcePlan::OwnEdge => {
                match tokio::time::timeout(left, read_edge(&inner, &flight, &id)).await {
                    Ok(r) => r,
                    Err(_) => Err(Failed::before(
                        504,
                        "the edge database did not answer in time",
                    )),
                }
            }
            SourcePlan::Route(route) => attempt(&inner, &flight, &id, route, deadline).await,
            SourcePlan::Peer(target) => {
                tried_peers.insert(target.clone());
                let r = match tokio::time::timeout(left, control::path_to(&inner, target)).await {
                    Err(_) => Err(Failed::no_route(
                        504,
                        format!("no route to {target} in time"),
                    )),
                    Ok(Err(e)) => Err(Failed::no_route(502, format!("no route to {target}: {e}"))),
                    Ok(Ok(path)) => match check_path(&inner, &path, target) {
                        Ok(()) => attempt(&inner, &flight, &id, &path[1..], deadline).await,
                        Err(e) => Err(Failed::before(502, e)),
                    },
                };
                if let Err(f) = &r {
                    // A failed or refused route is not reused. A relay on
                    // the way that failed is avoided and the same source is
                    // tried once more around it; a source that failed itself
                    // goes last for a while.
                    inner.paths.forget(target);
                    let around = f.err.failed.as_deref().is_some_and(|b| b != target)
                        && !f.head_sent
                        && rerouted.insert(target.clone());
                    if around {
                        sources.push_front(source.clone());
                    } else if f.err.status != 404 {
                        // One that only lacked the id answered: it is not
                        // put last for other ids (an edge peer asked for a
                        // song that does not exist stays first for the rest).
                        inner.penalize(target);
                    }
                }
                r
            }
        };
        match result {
            Ok((sha256, last_piece)) => {
                // The piece that completes the segment reaches readers only
                // once the segment is in the cache, so a reader's next
                // request is a hit, not a late join of this flight.
                let mut pieces = flight.pieces();
                if !last_piece.is_empty() {
                    pieces.push(last_piece.clone());
                }
                let len = pieces.iter().map(|p| p.len() as u64).sum();
                let fresh_since = flight.current_head().and_then(|h| h.fresh_since);
                let seg = Arc::new(Segment {
                    pieces,
                    len,
                    sha256,
                    fresh_since,
                });
                let reserved = inner.inflight_bytes.load(Ordering::SeqCst);
                let stored = inner
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), seg, reserved)
                    .is_ok();
                remove_flight(&inner, &id, &flight);
                if !last_piece.is_empty() {
                    flight.push(last_piece);
                }
                flight.finish(Ok(()));
                if stored {
                    inner.forget_miss(&id);
                    inner.inventory_changed.notify_one();
                    if fresh_since.is_some() {
                        inner.expiring_added.notify_one();
                    }
                }
                return;
            }
            Err(f) => {
                tracing::info!(%id, source = ?source, error = %f.err.message, "fetch attempt failed");
                inner.stats.event(Some(&id), Event::UpstreamFailure);
                let unreachable = f.no_route || f.err.failed.is_some();
                only_unreachable &= unreachable && f.err.status != 404;
                if let Some(b) = &f.err.failed {
                    // Paths avoid it for a while; the tracker hears of it
                    // only from the peer that saw it (and demotes it only
                    // when several did).
                    if inner.suspect(b) && f.first_hand {
                        control::report_suspect(&inner, b, &f.err.message);
                    }
                    if !not_answering.contains(b) {
                        not_answering.push(b.clone());
                    }
                }
                if f.err.status != 404 {
                    nobody_has = false;
                }
                if f.head_sent {
                    // Readers got part of a bad answer: cut them, and let
                    // newcomers wait for the next source on a fresh flight.
                    flight.finish(Err(f.err.clone()));
                    let fresh = Arc::new(Flight::new());
                    {
                        let mut flights = inner.flights.lock().unwrap_or_else(|p| p.into_inner());
                        if flights.get(&id).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                            flights.insert(id.clone(), fresh.clone());
                        }
                    }
                    flight = fresh;
                }
                let local = f.err.status == 503;
                last = Some(f.err);
                if local {
                    // This peer's own budget is full: another source would
                    // be refused the same way.
                    break;
                }
            }
        }
    }
    let err = last.unwrap_or_else(|| FetchError::new(502, format!("no source for {id}")));
    let err = if matches!(plan, Plan::Client) && tried > 0 && only_unreachable && !nobody_has {
        // Every route failed on the way, none at a source: this peer is cut
        // off from every holder and edge (a partition, or its neighbors are
        // gone). Said at once, not after the deadline.
        let who = if not_answering.is_empty() {
            String::new()
        } else {
            format!(" ({} did not answer)", not_answering.join(", "))
        };
        FetchError::new(
            503,
            format!(
                "cannot reach any source of {id}: {tried} routes failed on the way{who}; \
                 {me} may be cut off from every holder and edge peer; last: {}",
                err.message
            ),
        )
    } else if tried > 1 && !nobody_has && !matches!(err.status, 503 | 504) {
        FetchError::new(
            502,
            format!("{tried} sources failed; last: {}", err.message),
        )
    } else if nobody_has && err.status != 404 {
        FetchError::new(404, err.message)
    } else {
        err
    };
    if matches!(plan, Plan::Client) {
        if nobody_has {
            inner.remember_miss(&id);
        } else if tried > 0 {
            // A source claimed the id and failed: a song of the mesh, whose
            // failures are counted per song. An id nobody holds counts only
            // in the totals.
            inner.stats.keep_song(&id);
        }
    }
    remove_flight(&inner, &id, &flight);
    flight.finish(Err(err));
}

/// The tracker's answer for a client miss. A tracker that cannot be
/// reached or answers an error (restarting, Redis restarting), or that lost
/// its state and knows nothing yet, is asked again with a short backoff
/// for up to a quarter of the fetch deadline; then the miss goes on with
/// what it has (its own edge, remembered edge peers).
async fn lookup_patiently(
    inner: &Inner,
    id: &str,
    limit: usize,
    deadline: Instant,
) -> Result<control::Looked, FetchError> {
    let until = Instant::now() + inner.config.fetch_deadline / 4;
    let until = until.min(deadline);
    let mut pause = LOOKUP_RETRY_FIRST;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let answer = control::lookup(inner, id, limit, left.max(LOOKUP_RETRY_FIRST)).await;
        let again = match &answer {
            _ if inner.config.tracker_url.is_none() => false,
            // This peer's own limit of lookups: asking again adds to it.
            Err(e) if e.status == 503 => false,
            Err(_) => true,
            Ok(l) => l.tracker_forgot && l.lookup.holders.is_empty() && l.lookup.edges.is_empty(),
        };
        if !again || Instant::now() + pause >= until {
            return answer;
        }
        tracing::debug!(%id, "the tracker cannot answer yet; asking again in {pause:?}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LOOKUP_RETRY_MAX);
    }
}

/// First and longest pause between lookups of one miss.
const LOOKUP_RETRY_FIRST: Duration = Duration::from_millis(200);
const LOOKUP_RETRY_MAX: Duration = Duration::from_secs(1);

fn remove_flight(inner: &Inner, id: &str, flight: &Arc<Flight>) {
    let mut flights = inner.flights.lock().unwrap_or_else(|p| p.into_inner());
    if flights.get(id).is_some_and(|f| Arc::ptr_eq(f, flight)) {
        flights.remove(id);
    }
}

fn check_path(inner: &Inner, path: &[String], target: &str) -> Result<(), String> {
    let me = &inner.config.peer_id;
    if path.len() < 2 || path.first() != Some(me) || path.last().map(String::as_str) != Some(target)
    {
        return Err(format!(
            "route {path:?} does not lead from {me} to {target}"
        ));
    }
    if path.len() > MAX_ROUTE {
        return Err(format!("route to {target} is longer than {MAX_ROUTE}"));
    }
    if inner.config.neighbor(&path[1]).is_none() {
        return Err(format!(
            "route to {target} starts with {}, not a neighbor",
            path[1]
        ));
    }
    Ok(())
}

/// Requests `id` from `route[0]` (a neighbor) with the rest of the route,
/// streaming verified pieces into `flight`. Returns the SHA-256 and the
/// piece that completes the segment, held back for [`lead`] to publish once
/// the segment is cached.
async fn attempt(
    inner: &Inner,
    flight: &Flight,
    id: &str,
    route: &[String],
    deadline: Instant,
) -> Result<(String, Bytes), Failed> {
    let me = &inner.config.peer_id;
    let next = inner
        .config
        .neighbor(&route[0])
        .ok_or_else(|| Failed::before(403, format!("{} is not a neighbor of {me}", route[0])))?;
    let head_deadline = Duration::from_secs(3 + 2 * route.len() as u64)
        .min(deadline.saturating_duration_since(Instant::now()));
    let open = open_relay(inner, next, id, route);
    let resp = match tokio::time::timeout(head_deadline, open).await {
        Err(_) => {
            return Err(
                Failed::before(504, format!("{} did not answer in time", next.id))
                    .blaming(&next.id),
            )
        }
        Ok(Err(e)) => {
            return Err(Failed::before(502, format!("{}: {e}", next.id)).blaming(&next.id))
        }
        Ok(Ok(r)) => r,
    };
    if resp.status() != hyper::StatusCode::OK {
        let status = if resp.status() == hyper::StatusCode::NOT_FOUND {
            404
        } else {
            502
        };
        let code = resp.status();
        // A relay names the hop after it that failed; believed only for a
        // peer further down this very route.
        let failed = resp
            .headers()
            .get(relay::FAILED)
            .and_then(|v| v.to_str().ok())
            .filter(|b| route[1..].iter().any(|r| r == b))
            .map(str::to_string);
        let body = tokio::time::timeout(
            RELAY_IDLE.min(deadline.saturating_duration_since(Instant::now())),
            http_body_util::Limited::new(resp.into_body(), 4096).collect(),
        )
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
        let mut f = Failed::before(status, format!("{} answered {code}: {body}", next.id));
        f.err.failed = failed;
        return Err(f);
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let source = header(relay::SOURCE)
        .and_then(|s| Source::parse(&s))
        .filter(|s| *s != Source::Peer)
        .ok_or_else(|| {
            Failed::before(502, format!("{} sent no valid {}", next.id, relay::SOURCE))
        })?;
    let mut full_route = vec![me.clone()];
    match header(relay::ROUTE).and_then(|r| relay::parse_route(&r)) {
        Some(r) if r.len() < MAX_ROUTE => full_route.extend(r),
        _ => full_route.push(next.id.clone()),
    }
    let hops = header(relay::HOPS)
        .and_then(|h| h.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let id_sha = wire::ids::sha256_of_id(id);
    let sent_sha = header(relay::SHA256).map(|s| s.to_ascii_lowercase());
    if let (Some(a), Some(b)) = (id_sha, &sent_sha) {
        if a != b {
            return Err(Failed::before(
                502,
                format!("{} sent {} {b} for {id}", next.id, relay::SHA256),
            ));
        }
    }
    let expected = id_sha.map(str::to_string).or(sent_sha);
    // A copy of an id without a hash is as old as the sender's (HTTP `Age`),
    // so a chain of caches never serves it longer than PLAYLIST_TTL_SEC.
    let fresh_since = id_sha.is_none().then(|| {
        let age = header("age")
            .and_then(|a| a.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or_default()
            .min(inner.config.playlist_ttl);
        let now = Instant::now();
        now.checked_sub(age).unwrap_or(now)
    });
    let len = header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| Failed::before(502, format!("{} sent no Content-Length", next.id)))?;
    if len > inner.config.max_segment_bytes() {
        return Err(Failed::before(
            502,
            format!(
                "{} offers {len} bytes, more than the {} allowed",
                next.id,
                inner.config.max_segment_bytes()
            ),
        ));
    }
    let Some(_reservation) = Reservation::try_new(inner, len) else {
        return Err(Failed::before(
            503,
            format!(
                "busy: transfers in flight fill this peer's {} byte budget; retry in a moment",
                inner.config.cache_max_bytes
            ),
        ));
    };
    flight.set_head(Head {
        source,
        route: full_route,
        hops,
        sha256: expected.clone(),
        len,
        fresh_since,
    });
    let fail = |msg: String| Failed {
        err: FetchError::new(502, msg),
        head_sent: true,
        first_hand: false,
        no_route: false,
    };
    let mut body = resp.into_body();
    let mut acc = BytesMut::with_capacity(len as usize);
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    let mut last_progress = Instant::now();
    while got < len {
        let frame = match tokio::time::timeout(RELAY_IDLE, body.frame()).await {
            Err(_) => {
                return Err(fail(format!(
                    "{} stalled after {got} of {len} bytes",
                    next.id
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(fail(format!(
                    "{} cut the stream after {got} of {len} bytes: {e}",
                    next.id
                )))
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        got += chunk.len() as u64;
        if got > len {
            return Err(fail(format!(
                "{} sent more than its Content-Length {len}",
                next.id
            )));
        }
        hasher.update(&chunk);
        acc.extend_from_slice(&chunk);
        drop(chunk);
        if got == len {
            break;
        }
        // Publish in pieces of at least 16 KiB (or every 50 ms) so readers
        // stream without a wake-up per tiny chunk.
        if acc.len() >= 16 * 1024 || last_progress.elapsed() > Duration::from_millis(50) {
            flight.push(acc.split().freeze());
            last_progress = Instant::now();
        }
    }
    if got != len {
        return Err(fail(format!(
            "{} ended after {got} of {len} bytes",
            next.id
        )));
    }
    let sha = hex::encode(hasher.finalize());
    if let Some(want) = &expected {
        if *want != sha {
            inner.stats.event(Some(id), Event::HashMismatch);
            tracing::warn!(%id, from = %next.id, got = %sha, "SHA-256 mismatch; cutting the stream");
            return Err(fail(format!(
                "bytes from {} hash to {sha}, expected {want}",
                next.id
            )));
        }
    }
    Ok((sha, acc.split().freeze()))
}

/// Opens one HTTP/1 connection to neighbor `next` (from this peer's own IP
/// when it has one) and sends the relay request.
async fn open_relay(
    inner: &Inner,
    next: &crate::config::Neighbor,
    id: &str,
    route: &[String],
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let addr = resolve(inner, next)
        .await
        .first()
        .map(|ip| SocketAddr::new(*ip, next.port))
        .ok_or_else(|| format!("cannot resolve {}", next.host))?;
    let req = hyper::Request::get(format!("/segments/{id}"))
        .header(hyper::header::HOST, format!("{}:{}", next.host, next.port))
        .header(relay::ROUTE, route.join(","))
        .header(relay::FROM, inner.config.peer_id.as_str())
        .body(http_body_util::Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    client::open(addr, inner.config.bind_ip(), req).await
}

/// Reads `id` from this peer's edge database: sets the head of `flight`
/// and returns the SHA-256 and the bytes, for [`lead`] to publish once cached.
async fn read_edge(inner: &Inner, flight: &Flight, id: &str) -> Result<(String, Bytes), Failed> {
    let Some(db) = &inner.edge else {
        return Err(Failed::before(404, "not an edge peer"));
    };
    let row = db
        .read(id)
        .await
        .map_err(|e| Failed::before(502, e))?
        .ok_or_else(|| Failed::before(404, format!("{id} is not in the edge database")))?;
    let len = row.data.len() as u64;
    if len > inner.config.max_segment_bytes() {
        return Err(Failed::before(
            502,
            format!("{id} in the edge database is {len} bytes, too large"),
        ));
    }
    let sha = hex::encode(Sha256::digest(&row.data));
    let want = wire::ids::sha256_of_id(id).unwrap_or(&row.sha256);
    if sha != want {
        inner.stats.event(Some(id), Event::HashMismatch);
        return Err(Failed::before(
            502,
            format!("{id} in the edge database hashes to {sha}, expected {want}"),
        ));
    }
    inner.stats.edge_read(id, len);
    let _reservation = Reservation::new(inner, len);
    flight.set_head(Head {
        source: Source::Edge,
        route: vec![inner.config.peer_id.clone()],
        hops: 0,
        sha256: Some(sha.clone()),
        len,
        fresh_since: wire::ids::sha256_of_id(id).is_none().then(Instant::now),
    });
    Ok((sha, Bytes::from(row.data)))
}

/// A refused relay request.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub field: &'static str,
    pub message: String,
}

/// The relay contract's checks on an incoming relay request.
pub async fn check_relay(
    inner: &Inner,
    remote: SocketAddr,
    route: &[String],
    from: Option<&str>,
) -> Result<(), Refused> {
    let me = &inner.config.peer_id;
    let refuse = |status, field, message: String| Refused {
        status,
        field,
        message,
    };
    if route.len() > MAX_ROUTE {
        return Err(refuse(
            400,
            relay::ROUTE,
            format!("longer than {MAX_ROUTE} hops"),
        ));
    }
    if let Some(bad) = route
        .iter()
        .find(|h| wire::ids::validate_peer_id(h).is_err())
    {
        return Err(refuse(
            400,
            relay::ROUTE,
            format!("{bad:?} is not a peer id"),
        ));
    }
    if route.first() != Some(me) {
        return Err(refuse(
            403,
            relay::ROUTE,
            format!("route starts at {}, not at {me}", route[0]),
        ));
    }
    if route.iter().filter(|h| *h == me).count() > 1 {
        return Err(refuse(
            403,
            relay::ROUTE,
            format!("route passes {me} twice"),
        ));
    }
    let Some(from) = from else {
        return Err(refuse(
            400,
            relay::FROM,
            "a relay request must name its sender".into(),
        ));
    };
    let Some(nb) = inner.config.neighbor(from) else {
        return Err(refuse(
            403,
            relay::FROM,
            format!("{from} is not a neighbor of {me}"),
        ));
    };
    let ips = resolve(inner, nb).await;
    let ip = remote.ip().to_canonical();
    if !ips.contains(&ip) {
        return Err(refuse(
            403,
            relay::FROM,
            format!("request came from {ip}, which is not {from}'s address"),
        ));
    }
    if let Some(next) = route.get(1) {
        if inner.config.neighbor(next).is_none() {
            return Err(refuse(
                403,
                relay::ROUTE,
                format!("next hop {next} is not a neighbor of {me}"),
            ));
        }
    }
    Ok(())
}

async fn resolve(inner: &Inner, nb: &crate::config::Neighbor) -> Vec<IpAddr> {
    if let Ok(ip) = nb.host.parse::<IpAddr>() {
        return vec![ip.to_canonical()];
    }
    if let Some((at, ips)) = inner
        .resolved
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&nb.id)
    {
        if at.elapsed() < RESOLVE_TTL {
            return ips.clone();
        }
    }
    let ips: Vec<IpAddr> = match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::lookup_host((nb.host.as_str(), nb.port)),
    )
    .await
    {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip().to_canonical()).collect(),
        _ => vec![],
    };
    if !ips.is_empty() {
        inner
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(nb.id.clone(), (Instant::now(), ips.clone()));
    }
    ips
}
