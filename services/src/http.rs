//! What the three HTTP services share: JSON errors, the token guard that
//! identifies the caller before any body is read and then reads the body
//! under a size cap and a deadline, the JSON body extractor that names the
//! offending field, request metrics and the serve loop with graceful
//! shutdown.

use crate::metrics::Metrics;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wire::auth::Identity;
use wire::ErrorBody;

/// Largest request body a route without its own [`Guard`] accepts (bytes).
pub const BODY_LIMIT: usize = 1 << 20;

/// How much of an oversize body is read and thrown away before the 413, so
/// that a client still writing it reads the answer instead of a reset.
/// Bodies declared larger than this are refused without reading and the
/// connection is closed.
pub const DRAIN_LIMIT: usize = 4 << 20;

/// An error answer: a status and a [`wire::ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::new(error),
        }
    }

    /// A 400 naming the field that was wrong.
    pub fn field(field: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody::field(field, error),
        }
    }

    /// Any status, naming the field that was wrong.
    pub fn status_field(
        status: StatusCode,
        field: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody::field(field, error),
        }
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    pub fn unavailable(error: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }

    /// A 403: the caller's token does not allow this.
    pub fn forbidden(field: impl Into<String>, error: impl Into<String>) -> Self {
        Self::status_field(StatusCode::FORBIDDEN, field, error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Checks an id with `check` and turns a refusal into a 400 naming `field`.
pub fn valid(
    field: &str,
    value: &str,
    check: fn(&str) -> Result<(), wire::ids::InvalidId>,
) -> Result<(), ApiError> {
    check(value).map_err(|e| ApiError::field(field, e.0))
}

/// Who sent the request, from its `Authorization` header alone, checked
/// against the deployment `secret` (none configured: [`Identity::Open`]).
/// A refusal is a 401 JSON error.
pub fn identify(headers: &HeaderMap, secret: Option<&str>) -> Result<Identity, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        // A header that is not text can only be a wrong token.
        .map(|v| v.to_str().unwrap_or(""));
    wire::auth::check(secret, header)
        .map_err(|r| ApiError::new(StatusCode::UNAUTHORIZED, r.message()))
}

/// What a write route checks before its handler runs: the token, from the
/// headers, before a byte of the body is read; then the body, read whole
/// within `body_timeout` and at most `max_body` bytes.
#[derive(Clone)]
pub struct Guard {
    secret: Option<Arc<str>>,
    max_body: usize,
    body_timeout: Duration,
}

impl Guard {
    /// `secret`: the deployment secret (`MESH_TOKEN`); `None` or empty means
    /// every caller is [`Identity::Open`].
    pub fn new(secret: Option<&str>, max_body: usize, body_timeout: Duration) -> Self {
        Self {
            secret: secret.filter(|s| !s.is_empty()).map(Arc::from),
            max_body,
            body_timeout,
        }
    }
}

/// Puts `guard` in front of every method registered on `route` so far: a
/// request without a valid token gets its 401 before its body is read (and
/// before any validation, so the schema is not told to strangers); the
/// handler finds the [`Caller`] and the body read by the guard.
pub fn guarded<S>(route: MethodRouter<S>, guard: Guard) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route.route_layer(axum::middleware::from_fn_with_state(guard, guard_request))
}

/// The body a [`Guard`] read, for [`JsonBody`].
#[derive(Clone)]
struct ReadBody(axum::body::Bytes);

/// An answer after which the connection is closed: the body was not read
/// to its end, so the connection cannot carry another request.
fn closing(err: ApiError) -> Response {
    let mut resp = err.into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

async fn guard_request(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let who = match identify(req.headers(), g.secret.as_deref()) {
        Ok(who) => who,
        // The body is left unread; hyper closes the connection after the
        // answer unless the body had already arrived whole.
        Err(e) => return closing(e),
    };
    let (mut parts, body) = req.into_parts();
    let deadline = tokio::time::Instant::now() + g.body_timeout;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {} bytes, the most this endpoint accepts",
                g.max_body
            ),
        )
    };
    let mut stream = body.into_data_stream();
    if let Some(n) = declared.filter(|&n| n > g.max_body as u64) {
        // A client waiting for 100-continue has sent nothing yet; one that
        // declared more than we would drain gets its answer at once.
        let waits = parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !waits && n <= DRAIN_LIMIT as u64 {
            drain(&mut stream, deadline).await;
        }
        return closing(too_large());
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(g.max_body));
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return closing(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "request body not received within {} ms",
                        g.body_timeout.as_millis()
                    ),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return closing(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "request body was cut off before its declared end",
                ))
            }
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > g.max_body {
                    drop(buf);
                    drain(&mut stream, deadline).await;
                    return closing(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
    parts.extensions.insert(who);
    parts.extensions.insert(ReadBody(buf.into()));
    next.run(Request::from_parts(parts, axum::body::Body::empty()))
        .await
}

/// Reads and discards up to [`DRAIN_LIMIT`] bytes of a body until
/// `deadline`, so that a client writing it can read the answer.
async fn drain(stream: &mut axum::body::BodyDataStream, deadline: tokio::time::Instant) {
    let mut seen = 0usize;
    while seen <= DRAIN_LIMIT {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen += chunk.len(),
            _ => return,
        }
    }
}

/// The caller of a guarded route, as its token identified it.
pub struct Caller(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "route has no token guard (a bug)",
                )
            })
    }
}

/// A JSON request body whose parse errors come back as a 400 [`ErrorBody`]
/// naming the field (`neighbors[2]: invalid type: ...`). Behind a [`Guard`]
/// it is the body the guard read; elsewhere it is read here, at most
/// [`BODY_LIMIT`] bytes.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ReadBody(bytes)) = req.extensions().get::<ReadBody>() {
            return parse_json(bytes).map(JsonBody);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e {
                BytesRejection::FailedToBufferBody(_) => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {BODY_LIMIT} bytes or was cut off"),
                ),
                other => ApiError::new(StatusCode::BAD_REQUEST, other.body_text()),
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the path of the first wrong field in the error.
/// Anything but whitespace after the value is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {msg}"));
        }
        // serde reports a missing field on its parent; name the field itself.
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string);
        let field = match (missing, path.as_str()) {
            (Some(m), "." | "" | "?") => m,
            (Some(m), p) => format!("{p}.{m}"),
            (None, p) if !matches!(p, "." | "" | "?") => p.to_string(),
            (None, _) => {
                return ApiError::new(StatusCode::BAD_REQUEST, format!("invalid body: {msg}"))
            }
        };
        ApiError::field(field, msg)
    })?;
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Counts every answer by route template and status, and makes every error
/// answer JSON: a refusal from axum itself (a path that is not UTF-8, ...)
/// comes as plain text, and becomes an [`ErrorBody`] with that text.
async fn count_requests(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    let status = resp.status();
    metrics.count_request(&route, status.as_u16());
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let error = match text.trim() {
        "" => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string(),
        t => t.to_string(),
    };
    let mut json = ApiError::new(status, error).into_response();
    if let Some(c) = parts.headers.get(header::CONNECTION) {
        json.headers_mut().insert(header::CONNECTION, c.clone());
    }
    json
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

/// Adds what every service has: JSON 404/405 and JSON on every other
/// error, the body limit of unguarded routes, request counting.
pub fn finish(router: Router, metrics: Metrics) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            count_requests,
        ))
}

/// `GET /healthz` body.
pub fn health(service: &str) -> axum::Json<wire::Health> {
    axum::Json(wire::Health {
        status: "ok".into(),
        service: service.into(),
    })
}

/// `GET /metrics` answer.
pub fn prometheus(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Cancels `token` when `shutdown` resolves, so one signal reaches the server,
/// the WebSocket loops and the background tasks.
pub fn cancel_on(
    shutdown: impl Future<Output = ()> + Send + 'static,
    token: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => token.cancel(),
            _ = token.cancelled() => {}
        }
    })
}

/// Serves `router` on `listener` within the connection `limits` (see the
/// `gate` crate) until `token` is cancelled, then lets open requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: gate::Limits,
    token: CancellationToken,
) -> anyhow::Result<()> {
    use anyhow::Context;
    gate::serve(listener, router, limits, token)
        .await
        .context("serve HTTP")
}
