//! Wire types of the mesh: every JSON body and WebSocket message exchanged by
//! `meshctl`, the mesh agent (`mesh-agent`) and the control plane (topology,
//! tracker, signalling), in one place so no shape is written twice.
//!
//! - [`topology`]: `POST /peers`, `DELETE /peers/<id>`, `GET /graph`, `GET /path`.
//! - [`tracker`]: `POST /announce`, `POST /heartbeat`, `GET /segments/<id>`, `GET /peers`.
//! - [`signalling`]: the `/ws` messages (`announce`, `request_path`, `path`, `error`), `GET /rooms`.
//! - [`events`]: `GET /events` on each service: the ring of recent events and its kinds.
//! - [`auth`]: the deployment secret and the per-peer tokens derived from it.
//! - [`agent`]: the agent's ingest, inventory and stats bodies.
//! - [`relay`]: the HTTP headers of the hop-by-hop relay contract.
//! - [`ids`]: validation of peer ids, room and region names, content-addressed segment ids.
//! - [`contract`]: default ports, control-plane host names, environment variable names.
//! - [`url`]: percent-encoding of a value put into a URL (query strings of the endpoints).
//! - [`ErrorBody`]: the JSON error every service answers with; [`Health`]: `GET /healthz`.

pub mod agent;
pub mod auth;
pub mod contract;
pub mod events;
pub mod ids;
pub mod relay;
pub mod signalling;
pub mod topology;
pub mod tracker;
pub mod url;

use serde::{Deserialize, Serialize};

/// The JSON body of every 4xx/5xx answer.
///
/// ```text
/// {"error":"peer_id: must not be empty","field":"peer_id"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            field: None,
        }
    }

    pub fn field(field: impl Into<String>, error: impl Into<String>) -> Self {
        let field = field.into();
        Self {
            error: format!("{field}: {}", error.into()),
            field: Some(field),
        }
    }
}

/// Answer of `GET /healthz` on every service and agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub service: String,
}

#[cfg(test)]
pub(crate) fn roundtrip<T>(value: &T, json: &str)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let parsed: T = serde_json::from_str(json).expect("parse");
    assert_eq!(&parsed, value);
    let text = serde_json::to_string(value).expect("serialize");
    let again: T = serde_json::from_str(&text).expect("reparse");
    assert_eq!(&again, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_names_field() {
        let e = ErrorBody::field("peer_id", "must not be empty");
        roundtrip(
            &e,
            r#"{"error":"peer_id: must not be empty","field":"peer_id"}"#,
        );
        let plain = ErrorBody::new("redis unavailable");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"error":"redis unavailable"}"#
        );
    }
}
