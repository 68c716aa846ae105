//! HTTP and Redis probes of the control plane and peers, through their ports
//! published on 127.0.0.1. Every probe has a deadline.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Time for one probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for loopback: no proxy from the environment.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT * 2)
        .build()
        .context("build the HTTP client")
}

/// `GET url` as JSON.
pub async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("GET {url}: {status}: {}", body.trim());
    }
    resp.json()
        .await
        .with_context(|| format!("GET {url}: unexpected body"))
}

/// `GET <base>/healthz` answered 2xx.
pub async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    matches!(
        client.get(format!("{base}/healthz")).send().await,
        Ok(r) if r.status().is_success()
    )
}

/// Sends `PING` to Redis on 127.0.0.1:`port` and expects `+PONG`.
pub async fn redis_ping(port: u16) -> anyhow::Result<()> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await?;
        Ok::<_, std::io::Error>(buf[..n].to_vec())
    };
    let reply = tokio::time::timeout(PROBE_TIMEOUT, work)
        .await
        .context("redis PING: timed out")?
        .context("redis PING")?;
    if !reply.starts_with(b"+PONG") {
        bail!(
            "redis PING: unexpected reply {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    Ok(())
}
