//! `POST /segments`: a segment (or playlist) given to this peer.
//!
//! The order is what keeps a peer within its memory whoever asks:
//!
//! 1. The token (`MESH_TOKEN`, this peer's own) is checked from the headers
//!    before any body byte is read: 401 at once.
//! 2. A declared `Content-Length` over the cap is a 413 (the body is read and
//!    dropped first, within `INGEST_BODY_TIMEOUT_SEC`, so a client writing
//!    it can read the answer; with `Expect: 100-continue` it is never sent).
//! 3. The body's bytes (`Content-Length`, or the cap when the body is
//!    chunked) are reserved against the cache's byte budget, which in-flight
//!    relays share; when the budget cannot hold them the answer is 503 at
//!    once, so no number of concurrent ingests exceeds it.
//! 4. The body streams into a buffer of exactly its length within
//!    `INGEST_BODY_TIMEOUT_SEC` (408 when slower); a body that ends early is
//!    a 400.

use super::{error, AppState};
use crate::cache::Segment;
use crate::state::Reservation;
use crate::stats::Event;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bytes::BytesMut;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// At most this many times the cap is read and dropped to answer a 413
/// that the client can read.
const DRAIN_FACTOR: u64 = 4;

pub(super) async fn ingest(
    State(inner): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Err(refused) =
        wire::auth::check_exact(inner.config.token.as_deref(), text(header::AUTHORIZATION))
    {
        return error(
            StatusCode::UNAUTHORIZED,
            Some("authorization"),
            refused.message(),
        );
    }
    let query = match Query::<HashMap<String, String>>::try_from_uri(&uri) {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, Some("query"), e.body_text()),
    };
    let is_json = text(header::CONTENT_TYPE).is_some_and(|v| v.starts_with("application/json"));
    let max_segment = inner.config.max_segment_bytes();
    // Base64 makes a JSON ingest a third larger than the segment.
    let limit = if is_json {
        max_segment * 4 / 3 + 4096
    } else {
        max_segment
    };
    let declared = match text(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("content-length"),
                    "not a number of bytes",
                )
            }
        },
    };
    let deadline = Instant::now() + inner.config.ingest_body_timeout;
    if let Some(n) = declared.filter(|n| *n > limit) {
        let expects = text(header::EXPECT).is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if !expects {
            drain(&mut body, limit * DRAIN_FACTOR, deadline).await;
        }
        return too_large(n, limit);
    }
    // What this ingest holds at most: the body, and for the JSON form the
    // decoded segment beside it.
    let want = declared.unwrap_or(limit);
    let reserve = if is_json { want + want * 3 / 4 } else { want };
    let Some(reservation) = Reservation::try_new(&inner, reserve) else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("body"),
            format!(
                "busy: transfers in flight fill this peer's {} byte budget; retry in a moment",
                inner.config.cache_max_bytes
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let mut buf = match declared {
        Some(n) => BytesMut::with_capacity(n as usize),
        None => BytesMut::new(),
    };
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return error(
                    StatusCode::REQUEST_TIMEOUT,
                    Some("body"),
                    format!(
                        "not received within {:?} ({} bytes arrived)",
                        inner.config.ingest_body_timeout,
                        buf.len()
                    ),
                )
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("body"),
                    format!("ended early after {} bytes: {e}", buf.len()),
                )
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let got = (buf.len() + chunk.len()) as u64;
        if got > limit || declared.is_some_and(|n| got > n) {
            drop(buf);
            if got <= limit * DRAIN_FACTOR {
                drain(&mut body, limit * DRAIN_FACTOR - got, deadline).await;
            }
            return too_large(got, limit);
        }
        buf.extend_from_slice(&chunk);
    }
    if let Some(n) = declared.filter(|n| *n != buf.len() as u64) {
        return error(
            StatusCode::BAD_REQUEST,
            Some("body"),
            format!("ended early after {} of {n} bytes", buf.len()),
        );
    }
    drop(body);
    let (id, data, sha) = if is_json {
        let j: wire::agent::IngestJson = match serde_json::from_slice(&buf) {
            Ok(j) => j,
            Err(e) => {
                let msg = e.to_string();
                let field = ["id", "data", "sha256"]
                    .into_iter()
                    .find(|f| msg.contains(&format!("`{f}`")))
                    .unwrap_or("body");
                return error(StatusCode::BAD_REQUEST, Some(field), msg);
            }
        };
        drop(buf);
        let data = match base64::engine::general_purpose::STANDARD.decode(j.data.as_bytes()) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("data"),
                    format!("not standard base64: {e}"),
                )
            }
        };
        (j.id, data, j.sha256)
    } else {
        let Some(id) = query.get("id").cloned() else {
            return error(
                StatusCode::BAD_REQUEST,
                Some("id"),
                "missing; use POST /segments?id=<segment-id>",
            );
        };
        // The cache holds exactly the segment's bytes: a buffer of the
        // declared length is kept as it is, a grown one is copied once.
        let data = if buf.capacity() == buf.len() {
            buf.freeze()
        } else {
            Bytes::copy_from_slice(&buf)
        };
        (id, data, query.get("sha256").cloned())
    };
    if let Err(e) = wire::ids::validate_segment_id(&id) {
        return error(StatusCode::BAD_REQUEST, Some("id"), e.0);
    }
    if data.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            Some("data"),
            "a segment must not be empty",
        );
    }
    if data.len() as u64 > max_segment {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("data"),
            format!("{} bytes; at most {max_segment} per segment", data.len()),
        );
    }
    let sha = match sha {
        None => None,
        Some(s) => {
            let s = s.trim().to_ascii_lowercase();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("sha256"),
                    "must be 64 hex digits",
                );
            }
            Some(s)
        }
    };
    let actual = hex::encode(Sha256::digest(&data));
    for (field, want) in [
        ("sha256", sha.as_deref()),
        ("id", wire::ids::sha256_of_id(&id)),
    ] {
        if let Some(want) = want {
            if want != actual {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some(field),
                    format!("the body hashes to {actual}, not {want}"),
                );
            }
        }
    }
    let len = data.len() as u64;
    let seg = Arc::new(Segment::from_bytes(data, actual.clone()));
    let stored = inner
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), seg, reservation.others());
    drop(reservation);
    if stored.is_err() {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("data"),
            "larger than the cache",
        );
    }
    inner.forget_miss(&id);
    inner.stats.event(Some(&id), Event::Ingested);
    inner.inventory_changed.notify_one();
    (
        StatusCode::CREATED,
        Json(wire::agent::Ingested {
            id,
            sha256: actual,
            bytes: len,
        }),
    )
        .into_response()
}

fn too_large(got: u64, limit: u64) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        Some("body"),
        format!("{got} bytes; at most {limit} bytes per segment body"),
    )
}

/// Reads and drops at most `budget` more bytes of `body` until `deadline`,
/// so that the client, still writing, reads the answer instead of a reset.
async fn drain(body: &mut Body, budget: u64, deadline: Instant) {
    let mut left = budget;
    let deadline = deadline.min(Instant::now() + Duration::from_secs(10));
    while left > 0 {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(f))) => {
                let n = f.data_ref().map_or(0, |d| d.len() as u64);
                left = left.saturating_sub(n.max(1));
            }
            _ => return,
        }
    }
}
