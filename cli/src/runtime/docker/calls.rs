//! Under every Engine call: the timeout, the translation of bollard's
//! errors into [`RuntimeError`] and of the Engine's models into the
//! project's types.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::DockerRuntime;
use crate::runtime::{
    Container, ContainerDetails, ContainerState, Filter, Labels, PublishedPort, Result,
    RuntimeError,
};

/// Runs one Engine call under `limit`, naming it in errors.
pub(super) async fn call<T>(
    what: impl std::fmt::Display,
    limit: Duration,
    fut: impl Future<Output = std::result::Result<T, DockerError>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| classify(what.to_string(), e)),
        Err(_) => Err(RuntimeError::Timeout {
            what: what.to_string(),
            limit,
        }),
    }
}

/// Like [`call`], with "not found" as `None`.
pub(super) async fn call_opt<T>(
    what: impl std::fmt::Display,
    limit: Duration,
    fut: impl Future<Output = std::result::Result<T, DockerError>>,
) -> Result<Option<T>> {
    match call(what, limit, fut).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Like [`call`], with "not found" as done.
pub(super) async fn call_gone_ok(
    what: impl std::fmt::Display,
    limit: Duration,
    fut: impl Future<Output = std::result::Result<(), DockerError>>,
) -> Result<()> {
    call_opt(what, limit, fut).await.map(|_| ())
}

/// Drains a stream under `limit`, naming it in errors.
pub(super) async fn drain<S, T>(
    what: &str,
    limit: Duration,
    stream: S,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()>
where
    S: futures::Stream<Item = std::result::Result<T, DockerError>>,
{
    let drained = async {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            each(item.map_err(|e| classify(what.to_string(), e))?)?;
        }
        Ok(())
    };
    match tokio::time::timeout(limit, drained).await {
        Ok(r) => r,
        Err(_) => Err(RuntimeError::Timeout {
            what: what.to_string(),
            limit,
        }),
    }
}

pub(super) fn classify(what: String, e: DockerError) -> RuntimeError {
    match e {
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => RuntimeError::NotFound { what },
            409 | 304 => RuntimeError::Conflict { what, message },
            _ => RuntimeError::Refused { what, message },
        },
        DockerError::RequestTimeoutError => RuntimeError::Timeout {
            what,
            limit: Duration::from_secs(120),
        },
        other => RuntimeError::Unavailable {
            what,
            message: other.to_string(),
        },
    }
}

/// Ends `stream` with a timeout error once `limit` has passed.
pub(super) fn bounded<'a, T: Send + 'a>(
    stream: BoxStream<'a, Result<T>>,
    what: String,
    limit: Duration,
) -> BoxStream<'a, Result<T>> {
    let deadline = tokio::time::Instant::now() + limit;
    futures::stream::unfold(Some(stream), move |state| {
        let what = what.clone();
        async move {
            let mut s = state?;
            match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(item)) => Some((item, Some(s))),
                Ok(None) => None,
                Err(_) => Some((Err(RuntimeError::Timeout { what, limit }), None)),
            }
        }
    })
    .boxed()
}

pub(super) fn stream_error(what: &str, message: Option<String>) -> RuntimeError {
    RuntimeError::Refused {
        what: what.to_string(),
        message: message.unwrap_or_else(|| "unknown error".into()),
    }
}

pub(super) fn label_filters(filter: &Filter) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        filter
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    )])
}

pub(super) fn labels_of(l: Option<HashMap<String, String>>) -> Labels {
    l.unwrap_or_default().into_iter().collect()
}

pub(super) fn state_of(s: Option<impl ToString>) -> ContainerState {
    s.map_or(ContainerState::Unknown, |s| {
        ContainerState::parse(&s.to_string())
    })
}

pub(super) fn trim_name(n: &str) -> String {
    n.trim_start_matches('/').to_string()
}

impl DockerRuntime {
    pub(super) fn summary(c: bollard::models::ContainerSummary) -> Container {
        let ports = c
            .ports
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                p.typ
                    .as_ref()
                    .is_none_or(|t| t.to_string().eq_ignore_ascii_case("tcp"))
            })
            .filter_map(|p| {
                Some(PublishedPort {
                    private: p.private_port,
                    public: p.public_port?,
                    ip: p.ip.unwrap_or_default(),
                })
            })
            .collect();
        Container {
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| trim_name(n))
                .unwrap_or_default(),
            labels: labels_of(c.labels),
            state: state_of(c.state),
            status: c.status.unwrap_or_default(),
            ports,
        }
    }

    pub(super) fn details(c: bollard::models::ContainerInspectResponse) -> ContainerDetails {
        let state = c.state.as_ref();
        let config = c.config.as_ref();
        let env = config
            .and_then(|c| c.env.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect();
        let mut ports = Vec::new();
        for (key, bindings) in c
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.clone())
            .unwrap_or_default()
        {
            let Some(private) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            for b in bindings.unwrap_or_default() {
                if let Some(public) = b.host_port.and_then(|p| p.parse::<u16>().ok()) {
                    ports.push(PublishedPort {
                        private,
                        public,
                        ip: b.host_ip.unwrap_or_default(),
                    });
                }
            }
        }
        ports.sort_by_key(|p| (p.private, p.public));
        let addresses = c
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(net, e)| Some((net, e.ip_address.filter(|ip| !ip.is_empty())?)))
            .collect();
        ContainerDetails {
            id: c.id.clone().unwrap_or_default(),
            name: c.name.as_deref().map(trim_name).unwrap_or_default(),
            labels: labels_of(config.and_then(|c| c.labels.clone())),
            state: state_of(state.and_then(|s| s.status)),
            env,
            oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
            exit_code: state.and_then(|s| s.exit_code),
            // The Engine answers the zero time for "never".
            finished_at: state
                .and_then(|s| s.finished_at.clone())
                .filter(|t| !t.starts_with("0001-")),
            restart_count: c.restart_count.unwrap_or(0),
            memory_limit: c.host_config.as_ref().and_then(|h| h.memory),
            memory_swap_limit: c.host_config.as_ref().and_then(|h| h.memory_swap),
            nano_cpus: c.host_config.as_ref().and_then(|h| h.nano_cpus),
            image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
            ports,
            addresses,
            pid: state.and_then(|s| s.pid).filter(|p| *p > 0),
        }
    }
}
