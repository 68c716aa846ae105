//! The edge database of an edge peer: `segments(id, song, seq, sha256, data)`
//! from `templates/sql/schema.sql`, read with tokio-postgres.

use std::time::Duration;
use tokio_postgres::NoTls;

/// A lazily (re)connected client of the edge database.
pub struct EdgeDb {
    url: String,
    // tokio Mutex: held across the connect and the query so that one
    // connection is made and reused, not one per concurrent read.
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

/// A row read from the edge database.
pub struct EdgeRow {
    pub data: Vec<u8>,
    pub sha256: String,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl EdgeDb {
    pub fn new(url: String) -> Self {
        Self {
            url,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads one segment (or playlist) by id; `Ok(None)` when absent.
    pub async fn read(&self, id: &str) -> Result<Option<EdgeRow>, String> {
        let mut guard = self.client.lock().await;
        for attempt in 0..2 {
            if guard.as_ref().is_none_or(|c| c.is_closed()) {
                let (client, conn) =
                    tokio::time::timeout(TIMEOUT, tokio_postgres::connect(&self.url, NoTls))
                        .await
                        .map_err(|_| "edge database: connect timed out".to_string())?
                        .map_err(|e| format!("edge database: connect: {e}"))?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::warn!(error = %e, "edge database connection ended");
                    }
                });
                *guard = Some(client);
            }
            let Some(client) = guard.as_ref() else {
                continue;
            };
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
            let q = client.query_opt("SELECT data, sha256 FROM segments WHERE id = $1", &params);
            match tokio::time::timeout(TIMEOUT, q).await {
                Err(_) => return Err("edge database: query timed out".into()),
                Ok(Ok(row)) => {
                    return Ok(row.map(|r| EdgeRow {
                        data: r.get(0),
                        sha256: r.get::<_, String>(1).trim().to_ascii_lowercase(),
                    }))
                }
                Ok(Err(e)) if attempt == 0 && client.is_closed() => {
                    tracing::info!(error = %e, "edge database connection lost; reconnecting");
                    *guard = None;
                }
                Ok(Err(e)) => return Err(format!("edge database: {e}")),
            }
        }
        Err("edge database: unavailable".into())
    }
}
