//! What the three HTTP services share: JSON errors, the JSON body extractor
//! that names the offending field, bearer-token checks, request metrics and
//! the serve loop with graceful shutdown.

use crate::metrics::Metrics;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::de::DeserializeOwned;
use std::future::Future;
use tokio_util::sync::CancellationToken;
use wire::ErrorBody;

/// Largest request body any endpoint accepts (bytes). A full inventory of a
/// few thousand content-addressed segment ids fits well below it.
pub const BODY_LIMIT: usize = 1 << 20;

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

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    pub fn unavailable(error: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
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

/// A JSON request body whose parse errors come back as a 400 [`ErrorBody`]
/// naming the field (`neighbors[2]: invalid type: ...`), and whose oversize
/// bodies come back as a 413 JSON error.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
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
    })
}

/// Checks `Authorization: Bearer <token>` when a token is configured.
pub fn check_token(headers: &HeaderMap, token: Option<&str>) -> Result<(), ApiError> {
    let Some(want) = token else { return Ok(()) };
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match got {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing token: send Authorization: Bearer <MESH_TOKEN>",
        )),
        Some(got) if constant_time_eq(got.trim().as_bytes(), want.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong token in Authorization: Bearer",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts every answer by route template and status.
async fn count_requests(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    metrics.count_request(&route, resp.status().as_u16());
    resp
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

/// Adds what every service has: JSON 404/405, the body limit, request
/// counting.
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
