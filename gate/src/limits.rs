//! The settings of [`crate::serve`], read from the environment.

use std::time::Duration;

/// Connection-level limits of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once (`HTTP_MAX_CONNECTIONS`); lowered to
    /// leave a quarter of the process's descriptors (at least 32) for its
    /// own outgoing connections and files.
    pub max_connections: usize,
    /// Longest wait for a request head, and for the next request on a
    /// kept-alive connection (`HTTP_HEADER_TIMEOUT_SEC`).
    pub header_timeout: Duration,
    /// Requests served on one connection before it is closed
    /// (`HTTP_MAX_REQUESTS_PER_CONNECTION`).
    pub max_requests: u32,
    /// Largest request head, start line included (`HTTP_MAX_HEADER_BYTES`,
    /// at least 8192).
    pub max_header_bytes: usize,
}

/// Environment names of the limits.
pub mod env {
    pub const MAX_CONNECTIONS: &str = "HTTP_MAX_CONNECTIONS";
    pub const HEADER_TIMEOUT_SEC: &str = "HTTP_HEADER_TIMEOUT_SEC";
    pub const MAX_REQUESTS_PER_CONNECTION: &str = "HTTP_MAX_REQUESTS_PER_CONNECTION";
    pub const MAX_HEADER_BYTES: &str = "HTTP_MAX_HEADER_BYTES";
}

/// A limit's value was not a positive whole number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsError {
    pub name: &'static str,
    pub value: String,
}

impl std::fmt::Display for LimitsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={:?}: expected a positive whole number",
            self.name, self.value
        )
    }
}

impl std::error::Error for LimitsError {}

impl Limits {
    /// The control-plane services' defaults: many clients, plenty of memory.
    pub fn service() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            max_requests: 10_000,
            max_header_bytes: 16 * 1024,
        }
    }

    /// A peer's defaults, sized to its 15 MiB: a connection that sent part
    /// of a head holds about 10 KiB, so 128 of them hold about 1.3 MiB.
    pub fn peer() -> Self {
        Self {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            max_requests: 1_000,
            max_header_bytes: 8 * 1024,
        }
    }

    /// `defaults`, with each limit the environment (`get`) sets replacing it.
    pub fn from_env(
        defaults: Self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LimitsError> {
        let num = |name: &'static str| -> Result<Option<u64>, LimitsError> {
            match get(name).map(|v| v.trim().to_string()) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(LimitsError { name, value: v }),
                },
            }
        };
        let mut l = defaults;
        if let Some(n) = num(env::MAX_CONNECTIONS)? {
            l.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = num(env::HEADER_TIMEOUT_SEC)? {
            l.header_timeout = Duration::from_secs(n);
        }
        if let Some(n) = num(env::MAX_REQUESTS_PER_CONNECTION)? {
            l.max_requests = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = num(env::MAX_HEADER_BYTES)? {
            l.max_header_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(8192);
        }
        Ok(l)
    }

    /// [`Limits::max_connections`], lowered to fit the descriptor limit.
    pub fn effective_connections(&self) -> usize {
        match crate::descriptor_limit() {
            Some(nofile) => {
                let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
                let reserve = (nofile / 4).max(32);
                self.max_connections
                    .min(nofile.saturating_sub(reserve))
                    .max(1)
            }
            None => self.max_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_environment_overrides_defaults_and_names_a_bad_value() {
        let env: HashMap<&str, &str> =
            HashMap::from([(env::MAX_CONNECTIONS, "64"), (env::HEADER_TIMEOUT_SEC, "3")]);
        let l =
            Limits::from_env(Limits::peer(), |k| env.get(k).map(|v| v.to_string())).expect("valid");
        assert_eq!(l.max_connections, 64);
        assert_eq!(l.header_timeout, Duration::from_secs(3));
        assert_eq!(l.max_requests, Limits::peer().max_requests);
        let bad = Limits::from_env(Limits::peer(), |k| {
            (k == env::MAX_REQUESTS_PER_CONNECTION).then(|| "lots".to_string())
        });
        let err = bad.expect_err("not a number");
        assert!(
            err.to_string().contains("HTTP_MAX_REQUESTS_PER_CONNECTION"),
            "{err}"
        );
        assert!(Limits::from_env(Limits::peer(), |k| {
            (k == env::MAX_CONNECTIONS).then(|| "0".to_string())
        })
        .is_err());
    }
}
