//! The tracker's HTTP endpoints: request checks, announce, heartbeat,
//! failure reports, lookup, the live peer list, health and metrics, over
//! [`super::Inner`].

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use std::collections::BTreeMap;

use wire::contract::ports;
use wire::tracker::{Ack, Announce, Candidate, Heartbeat, PeersResponse, SegmentLookup, Suspect};

use super::{
    inventory_hash, now_ms, redis_down, scripts, suspect, topology_upsert, AppState, Inner,
    DEFAULT_LIMIT, MAX_LIMIT, REDIS_DEADLINE,
};
use crate::http::{self, ApiError, Caller, JsonBody};
use crate::metrics::Metrics;
use wire::auth::Identity;

pub(super) fn router(state: AppState, metrics: Metrics, guard: http::Guard) -> Router {
    let r = Router::new()
        .route("/announce", http::guarded(post(announce), guard.clone()))
        .route("/heartbeat", http::guarded(post(heartbeat), guard.clone()))
        .route("/suspect", http::guarded(post(report_suspect), guard))
        .route("/segments/{segment}", get(lookup))
        .route("/peers", get(peers))
        .route("/events", state.inner.events.route())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(state);
    http::finish(r, metrics)
}

/// A peer's token acts for that peer only; the secret for anyone.
fn may_act_as(who: &Identity, peer_id: &str) -> Result<(), ApiError> {
    if who.may_act_as(peer_id) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "peer_id",
        format!(
            "this token may not act as peer {peer_id:?}: a peer token is for its own peer only"
        ),
    ))
}

fn validate_neighbors(inner: &Inner, neighbors: &[String]) -> Result<(), ApiError> {
    if neighbors.len() > inner.max_neighbors {
        return Err(ApiError::field(
            "neighbors",
            format!(
                "{} listed, at most {} (TRACKER_MAX_NEIGHBORS)",
                neighbors.len(),
                inner.max_neighbors
            ),
        ));
    }
    for (i, n) in neighbors.iter().enumerate() {
        http::valid(&format!("neighbors[{i}]"), n, wire::ids::validate_peer_id)?;
    }
    Ok(())
}

fn validate_segments(inner: &Inner, segments: &[String]) -> Result<(), ApiError> {
    if segments.len() > inner.max_segments {
        return Err(ApiError::status_field(
            StatusCode::PAYLOAD_TOO_LARGE,
            "segments",
            format!(
                "{} segment ids, at most {} in one inventory (TRACKER_MAX_SEGMENTS)",
                segments.len(),
                inner.max_segments
            ),
        ));
    }
    for (i, s) in segments.iter().enumerate() {
        http::valid(&format!("segments[{i}]"), s, wire::ids::validate_segment_id)?;
    }
    Ok(())
}

fn validate_addr(addr: &str) -> Result<(), ApiError> {
    let ok = !addr.is_empty()
        && addr.len() <= 255
        && addr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "addr",
            format!("{addr:?} is not host:port (letters, digits, '-', '_', '.', ':', '[]')"),
        ))
    }
}

async fn announce(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(a): JsonBody<Announce>,
) -> Result<Json<Ack>, ApiError> {
    let inner = &s.inner;
    http::valid("peer_id", &a.peer_id, wire::ids::validate_peer_id)?;
    may_act_as(&who, &a.peer_id)?;
    wire::ids::validate_name("region", &a.region).map_err(|e| ApiError::field("region", e.0))?;
    validate_neighbors(inner, &a.neighbors)?;
    validate_segments(inner, &a.segments)?;
    let addr = a
        .addr
        .clone()
        .unwrap_or_else(|| format!("{}:{}", a.peer_id, ports::PEER));
    validate_addr(&addr)?;
    if let Some(edge) = &a.edge {
        wire::ids::validate_name("edge", edge).map_err(|e| ApiError::field("edge", e.0))?;
    }
    let neighbors_json = serde_json::to_string(&a.neighbors).unwrap_or_else(|_| "[]".into());
    let mut inv = inner.scripts.announce.prepare_invoke();
    inv.arg(&a.peer_id)
        .arg(now_ms())
        .arg(scripts::pack_info(
            &a.region,
            a.rtt_ms,
            &addr,
            a.edge.as_deref(),
        ))
        .arg(a.edge.as_deref().unwrap_or(""))
        .arg(&neighbors_json)
        .arg(inventory_hash(&a.segments));
    for seg in &a.segments {
        inv.arg(seg);
    }
    let _: i64 = inner.invoke(&inv).await?;
    // A new start: whatever was suspected of the old process goes.
    inner.suspicions().forget(&a.peer_id);
    inner.remember_inventory(&a.peer_id, inventory_hash(&a.segments));
    inner.remember_peer(&a.peer_id, &addr);
    inner
        .metrics
        .inc("announces_total", "Accepted announces.", 1);
    inner.events.record(wire::events::EventKind::PeerAnnounced {
        peer: a.peer_id.clone(),
        region: a.region.clone(),
        edge: a.edge.clone(),
    });
    inner.topology.push(
        &a.peer_id,
        topology_upsert(
            &a.peer_id,
            &a.region,
            a.rtt_ms,
            &addr,
            a.edge.as_deref(),
            a.neighbors,
        ),
    );
    Ok(Json(Ack {
        peer_id: a.peer_id,
        ttl_seconds: inner.ttl.as_secs().max(1),
    }))
}

async fn heartbeat(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(h): JsonBody<Heartbeat>,
) -> Result<Json<Ack>, ApiError> {
    let inner = &s.inner;
    http::valid("peer_id", &h.peer_id, wire::ids::validate_peer_id)?;
    may_act_as(&who, &h.peer_id)?;
    if let Some(n) = &h.neighbors {
        validate_neighbors(inner, n)?;
    }
    if let Some(segs) = &h.segments {
        validate_segments(inner, segs)?;
    }
    let neighbors_json = h
        .neighbors
        .as_ref()
        .map(|n| serde_json::to_string(n).unwrap_or_else(|_| "[]".into()));
    let inv_hash = h.segments.as_deref().map(inventory_hash);
    // The inventory goes to Redis only when it differs from the one this
    // tracker last wrote; the script checks the hash, so a stale cache costs
    // one extra round trip, never a wrong inventory.
    let mut send_inventory = inv_hash.is_some() && inv_hash != inner.cached_inventory(&h.peer_id);
    let answer = loop {
        let now = now_ms();
        let mut inv = inner.scripts.heartbeat.prepare_invoke();
        inv.arg(&h.peer_id).arg(now).arg(inner.cutoff(now));
        match &neighbors_json {
            Some(n) => inv.arg("1").arg(n),
            None => inv.arg("0").arg(""),
        };
        match (&h.segments, &inv_hash) {
            (Some(segs), Some(hash)) if send_inventory => {
                inv.arg("1").arg(hash);
                for seg in segs {
                    inv.arg(seg);
                }
            }
            (Some(_), Some(hash)) => {
                inv.arg("2").arg(hash);
            }
            _ => {
                inv.arg("0").arg("");
            }
        }
        let answer: Vec<String> = inner.invoke(&inv).await?;
        if answer.first().map(String::as_str) == Some("resend") && !send_inventory {
            send_inventory = true;
            continue;
        }
        break answer;
    };
    match answer.first().map(String::as_str) {
        Some("gone") => inner.forget_inventory(&h.peer_id),
        _ => {
            inner.suspicions().heard_from(&h.peer_id);
            if let (Some(hash), true) = (inv_hash, send_inventory) {
                inner.remember_inventory(&h.peer_id, hash);
            }
        }
    }
    match answer.first().map(String::as_str) {
        Some("gone") => {
            return Err(ApiError::not_found(format!(
                "peer {:?} is unknown or expired: announce again",
                h.peer_id
            )))
        }
        Some("changed") if answer.len() >= 2 => {
            let (region, rtt, addr, edge) = scripts::unpack_info(&answer[1]);
            let neighbors = h.neighbors.clone().unwrap_or_default();
            let change =
                topology_upsert(&h.peer_id, &region, rtt, &addr, edge.as_deref(), neighbors);
            inner.topology.push(&h.peer_id, change);
        }
        _ => {}
    }
    inner
        .metrics
        .inc("heartbeats_total", "Accepted heartbeats.", 1);
    Ok(Json(Ack {
        peer_id: h.peer_id,
        ttl_seconds: inner.ttl.as_secs().max(1),
    }))
}

/// `POST /suspect`: `peer_id` reports `suspect` failing. Counted towards a
/// demotion (see [`super::suspect`]); answered 202 with the report as taken.
async fn report_suspect(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(r): JsonBody<Suspect>,
) -> Result<(StatusCode, Json<Suspect>), ApiError> {
    let inner = &s.inner;
    http::valid("peer_id", &r.peer_id, wire::ids::validate_peer_id)?;
    may_act_as(&who, &r.peer_id)?;
    http::valid("suspect", &r.suspect, wire::ids::validate_peer_id)?;
    if r.suspect == r.peer_id {
        return Err(ApiError::field(
            "suspect",
            format!("peer {:?} cannot report itself", r.peer_id),
        ));
    }
    let reason = match &r.reason {
        Some(reason) => {
            Some(suspect::clean_reason(reason).map_err(|e| ApiError::field("reason", e))?)
        }
        None => None,
    };
    let mut inv = inner.scripts.suspect.prepare_invoke();
    inv.arg(inner.cutoff(now_ms()))
        .arg(&r.peer_id)
        .arg(&r.suspect);
    let (reporter_live, suspect_live): (i64, i64) = inner.invoke(&inv).await?;
    if reporter_live == 0 {
        return Err(ApiError::status_field(
            StatusCode::NOT_FOUND,
            "peer_id",
            format!("peer {:?} is unknown or expired: announce again", r.peer_id),
        ));
    }
    if suspect_live == 0 {
        return Err(ApiError::status_field(
            StatusCode::NOT_FOUND,
            "suspect",
            format!("peer {:?} is unknown or expired", r.suspect),
        ));
    }
    let demoted = inner
        .suspicions()
        .report(&r.peer_id, &r.suspect, std::time::Instant::now());
    inner.metrics.inc(
        "suspect_reports_total",
        "Accepted reports of a failing peer.",
        1,
    );
    if let Some(reporters) = demoted {
        let reason = reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| suspect::REPORTED.into());
        tracing::info!(
            peer = r.suspect,
            reporters = reporters.len(),
            reason,
            "peer reported failing by a quorum; demoted in lookups"
        );
        inner.metrics.inc(
            "peers_suspected_total",
            "Peers demoted in lookups after reports from a quorum of distinct peers.",
            1,
        );
        inner.events.record(wire::events::EventKind::PeerSuspected {
            peer: r.suspect.clone(),
            reporters,
            reason,
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Suspect {
            peer_id: r.peer_id,
            suspect: r.suspect,
            reason: None,
        }),
    ))
}

/// Candidates not suspected first, then the preferred region, then RTT,
/// then peer id.
pub(super) fn sort_candidates(v: &mut [Candidate], region: Option<&str>) {
    v.sort_by(|a, b| {
        let far = |c: &Candidate| region.is_some_and(|r| c.region != r);
        a.suspect
            .cmp(&b.suspect)
            .then(far(a).cmp(&far(b)))
            .then(a.rtt_ms.cmp(&b.rtt_ms))
            .then_with(|| a.peer_id.cmp(&b.peer_id))
    });
}

/// The peer asking for a lookup: the one its token names; with the secret
/// or no token configured, the optional `peer` query parameter. Lookups are
/// open reads, so a wrong or missing token only makes the caller anonymous.
fn lookup_caller(
    headers: &axum::http::HeaderMap,
    secret: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Option<String> {
    match http::identify(headers, secret) {
        Ok(Identity::Peer(p)) => Some(p),
        Ok(Identity::Open | Identity::Admin) => query
            .get("peer")
            .filter(|p| wire::ids::validate_peer_id(p).is_ok())
            .cloned(),
        Err(_) => None,
    }
}

async fn lookup(
    State(s): State<AppState>,
    segment: Result<Path<String>, PathRejection>,
    query: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let inner = &s.inner;
    let Path(segment) = segment.map_err(|e| ApiError::field("segment", e.body_text()))?;
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    http::valid("segment", &segment, wire::ids::validate_segment_id)?;
    let region = q.get("region").filter(|r| !r.is_empty());
    if let Some(r) = region {
        wire::ids::validate_name("region", r).map_err(|e| ApiError::field("region", e.0))?;
    }
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!("{l:?} is not a number from 1 to {MAX_LIMIT}"),
                ))
            }
        },
    };
    let caller = lookup_caller(&headers, inner.secret.as_deref(), &q);
    let now = now_ms();
    let mut inv = inner.scripts.lookup.prepare_invoke();
    inv.arg(&segment)
        .arg(inner.cutoff(now))
        .arg(caller.as_deref().unwrap_or(""))
        .arg(inner.late_cutoff(now));
    let flat: Vec<String> = inner.invoke(&inv).await?;
    let unknown_caller = flat.first().map(String::as_str) == Some("0");
    let (mut holders, mut edges) = (Vec::new(), Vec::new());
    let mut late: Vec<&str> = Vec::new();
    for r in flat.get(1..).unwrap_or_default().chunks_exact(3) {
        let (region, rtt_ms, addr, edge) = scripts::unpack_info(&r[2]);
        // Upper case: live but missed its heartbeats.
        let missed = r[0] == "H" || r[0] == "E";
        if missed && !late.contains(&r[1].as_str()) {
            late.push(&r[1]);
        }
        let c = Candidate {
            peer_id: r[1].clone(),
            region,
            rtt_ms,
            addr,
            edge,
            suspect: missed,
        };
        if r[0].eq_ignore_ascii_case("h") {
            holders.push(c);
        } else {
            edges.push(c);
        }
    }
    {
        let suspicions = inner.suspicions();
        if suspicions.any_reported() {
            let at = std::time::Instant::now();
            for c in holders.iter_mut().chain(edges.iter_mut()) {
                c.suspect = c.suspect || suspicions.is_demoted(&c.peer_id, at);
            }
        }
    }
    if !late.is_empty() {
        inner.note_late(late);
    }
    sort_candidates(&mut holders, region.map(String::as_str));
    sort_candidates(&mut edges, region.map(String::as_str));
    holders.truncate(limit);
    edges.truncate(limit);
    inner
        .metrics
        .inc("lookups_total", "Segment lookups answered.", 1);
    let mut resp = Json(SegmentLookup {
        segment,
        holders,
        edges,
    })
    .into_response();
    if unknown_caller {
        resp.headers_mut().insert(
            wire::tracker::ANNOUNCE_HEADER,
            axum::http::HeaderValue::from_static(wire::tracker::ANNOUNCE_AGAIN),
        );
    }
    Ok(resp)
}

async fn peers(State(s): State<AppState>) -> Result<Json<PeersResponse>, ApiError> {
    Ok(Json(PeersResponse {
        peers: s.inner.live_peers().await?,
    }))
}

async fn healthz(State(s): State<AppState>) -> Response {
    let mut conn = s.inner.redis.clone();
    let ping = tokio::time::timeout(
        REDIS_DEADLINE,
        redis::cmd("PING").query_async::<String>(&mut conn),
    )
    .await;
    match ping {
        Ok(Ok(_)) => http::health("tracker").into_response(),
        Ok(Err(e)) => redis_down(e).into_response(),
        Err(_) => redis_down("no answer within 3 s").into_response(),
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    let inner = &s.inner;
    let (reported, late) = {
        let s = inner.suspicions();
        (s.demoted_count(std::time::Instant::now()), s.late_count())
    };
    let mut gauges = vec![
        (
            "topology_backlog",
            "Changes waiting to reach topology.",
            inner.topology.backlog() as f64,
        ),
        (
            "suspected_peers",
            "Peers demoted in lookups by a quorum of reports now.",
            reported as f64,
        ),
        (
            "late_peers",
            "Live peers marked late (missed heartbeats) and not heard from since.",
            late as f64,
        ),
    ];
    let mut conn = inner.redis.clone();
    let live = tokio::time::timeout(
        REDIS_DEADLINE,
        redis::cmd("ZCOUNT")
            .arg("mesh:seen")
            .arg(inner.cutoff(now_ms()))
            .arg("+inf")
            .query_async::<u64>(&mut conn),
    )
    .await;
    if let Ok(Ok(n)) = live {
        gauges.push(("live_peers", "Peers heard from within the TTL.", n as f64));
    }
    http::prometheus(inner.metrics.render(&gauges))
}
