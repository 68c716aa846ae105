//! PostgreSQL setup of origin and edges: schema, publication, subscriptions.
//!
//! Origin and both edges hold the same schema (`templates/sql/schema.sql`).
//! Origin publishes `songs` and `segments` as `songs_pub`
//! (`templates/sql/origin.sql`); each edge subscribes to it under its own
//! subscription name (`templates/sql/edge.sql`), so each edge gets its own
//! replication slot on origin. Every step is idempotent: running `up` again
//! changes nothing.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio_postgres::{Client, NoTls};

const SCHEMA_SQL: &str = include_str!("../../templates/sql/schema.sql");
const ORIGIN_SQL: &str = include_str!("../../templates/sql/origin.sql");
const EDGE_SQL: &str = include_str!("../../templates/sql/edge.sql");

/// The publication origin offers and every edge subscribes to.
pub const PUBLICATION: &str = "songs_pub";

/// Time for one connection attempt; [`connect`] retries until its own deadline.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one statement of the setup.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between readiness checks.
const POLL: Duration = Duration::from_millis(200);

/// Connects to `url` (a `postgres://` URL or `key=value` conninfo), retrying
/// until the server accepts or `timeout` passes, and spawns the connection
/// task. A refused password is not retried: waiting will not fix it.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Client> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let attempt = tokio::time::timeout(
            ATTEMPT_TIMEOUT.min(left.max(Duration::from_millis(100))),
            tokio_postgres::connect(url, NoTls),
        )
        .await;
        let err = match attempt {
            Ok(Ok((client, connection))) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("postgres connection ended: {e}");
                    }
                });
                // The server may accept connections while still starting up
                // (the init server of the image listens on a socket only,
                // but a proxy in front may already accept).
                match tokio::time::timeout(ATTEMPT_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => return Ok(client),
                    Ok(Err(e)) => anyhow::Error::new(e),
                    Err(_) => anyhow::anyhow!("no answer to SELECT 1"),
                }
            }
            Ok(Err(e)) => {
                if is_fatal(&e) {
                    return Err(e).context("connect to postgres");
                }
                anyhow::Error::new(e)
            }
            Err(_) => anyhow::anyhow!("connection attempt timed out"),
        };
        if tokio::time::Instant::now() + POLL >= deadline {
            return Err(err).context(format!("postgres not ready within {timeout:?}"));
        }
        tracing::debug!("postgres not ready yet: {err:#}");
        tokio::time::sleep(POLL).await;
    }
}

/// Errors that another attempt will not fix: bad credentials, unknown
/// database or role.
fn is_fatal(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        [
            SqlState::INVALID_PASSWORD,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            SqlState::INVALID_CATALOG_NAME,
        ]
        .contains(c)
    })
}

async fn run(client: &Client, what: &str, sql: &str) -> anyhow::Result<()> {
    tokio::time::timeout(STATEMENT_TIMEOUT, client.batch_execute(sql))
        .await
        .with_context(|| format!("{what}: timed out"))?
        .with_context(|| what.to_string())
}

/// Creates the schema and the publication `songs_pub` on origin (idempotent).
pub async fn init_origin(origin: &Client) -> anyhow::Result<()> {
    run(origin, "create the schema on origin", SCHEMA_SQL).await?;
    run(origin, "create the publication on origin", ORIGIN_SQL).await
}

/// Creates the schema and the subscription `subscription` to origin's
/// `songs_pub` on an edge (idempotent). `origin_conninfo` is how the edge
/// reaches origin, e.g. `host=origin-db port=5432 user=u password=p dbname=d`.
/// The subscription name must be a lowercase SQL identifier
/// (`[a-z_][a-z0-9_]*`, at most 63 bytes) and differ per edge: it also names
/// the edge's replication slot on origin.
pub async fn init_edge(
    edge: &Client,
    subscription: &str,
    origin_conninfo: &str,
) -> anyhow::Result<()> {
    check_identifier(subscription)?;
    run(edge, "create the schema on the edge", SCHEMA_SQL).await?;
    let exists = tokio::time::timeout(
        STATEMENT_TIMEOUT,
        edge.query_opt(
            "SELECT 1 FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid \
             WHERE s.subname = $1 AND d.datname = current_database()",
            &[&subscription],
        ),
    )
    .await
    .context("look up the subscription: timed out")?
    .context("look up the subscription")?
    .is_some();
    if exists {
        return Ok(());
    }
    // CREATE SUBSCRIPTION cannot run in a transaction block, so it goes alone
    // through the simple query protocol; it takes no bind parameters, hence
    // the quoting here.
    let sql = EDGE_SQL
        .replace("{subscription}", subscription)
        .replace("{conninfo}", &origin_conninfo.replace('\'', "''"));
    let statement: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    run(
        edge,
        &format!("create subscription {subscription} on the edge"),
        &statement,
    )
    .await
}

/// A libpq `key=value` connection string with every value quoted, so that
/// passwords with spaces or quotes survive, e.g. for [`init_edge`]:
///
/// ```text
/// host='origin-db' port='5432' user='mesh' password='it\'s' dbname='songs'
/// ```
pub fn conninfo(host: &str, port: u16, user: &str, password: &str, dbname: &str) -> String {
    let q = crate::conninfo::quote;
    format!(
        "host={} port={} user={} password={} dbname={}",
        q(host),
        q(&port.to_string()),
        q(user),
        q(password),
        q(dbname)
    )
}

/// Like [`init_edge`], and also correct when the edge was recreated while
/// origin kept running: a fresh edge has no subscription, but origin still
/// holds the old edge's replication slot under the same name, and
/// `CREATE SUBSCRIPTION` would fail on it. That slot is dropped first (it
/// also pins WAL on origin for nobody); a walsender still holding it (the old
/// edge vanished without closing its connection) is terminated.
pub async fn subscribe_edge(
    origin: &Client,
    edge: &Client,
    subscription: &str,
    origin_conninfo: &str,
) -> anyhow::Result<()> {
    check_identifier(subscription)?;
    let subscribed = subscriptions(edge)
        .await?
        .iter()
        .any(|s| s.name == subscription);
    if !subscribed {
        drop_slot(origin, subscription).await?;
    }
    init_edge(edge, subscription, origin_conninfo).await
}

/// Drops the replication slot `slot` on origin, if it exists, terminating
/// the walsender that holds it.
async fn drop_slot(origin: &Client, slot: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STATEMENT_TIMEOUT;
    loop {
        let row = tokio::time::timeout(
            STATEMENT_TIMEOUT,
            origin.query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            ),
        )
        .await
        .context("look up a replication slot on origin: timed out")?
        .context("look up a replication slot on origin")?;
        let Some(row) = row else { return Ok(()) };
        let active_pid: Option<i32> = row.try_get(0)?;
        let step = match active_pid {
            Some(pid) => origin
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .map(drop),
            None => origin
                .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                .await
                .map(|_| tracing::info!("dropped the stale replication slot {slot} on origin")),
        };
        // Races with the walsender ending are retried; the deadline bounds them.
        if let Err(e) = step {
            if tokio::time::Instant::now() >= deadline {
                return Err(e).with_context(|| format!("drop replication slot {slot} on origin"));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("replication slot {slot} on origin is still in use");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check_identifier(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > 63 {
        bail!("subscription name {name:?} is not a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most 63 bytes)");
    }
    Ok(())
}

/// What a database holds, cheap to compare: row counts and a hash of the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    songs: i64,
    segments: i64,
    keys: String,
}

async fn fingerprint(client: &Client) -> anyhow::Result<Fingerprint> {
    let row = tokio::time::timeout(
        STATEMENT_TIMEOUT,
        client.query_one(
            "SELECT (SELECT count(*) FROM songs), (SELECT count(*) FROM segments), \
             md5(coalesce((SELECT string_agg(song || '/' || playlist_id, ',' ORDER BY song) FROM songs), '') \
                 || '|' || coalesce((SELECT string_agg(id || '/' || sha256, ',' ORDER BY id) FROM segments), ''))",
            &[],
        ),
    )
    .await
    .context("read the table fingerprint: timed out")?
    .context("read the table fingerprint")?;
    Ok(Fingerprint {
        songs: row.try_get(0)?,
        segments: row.try_get(1)?,
        keys: row.try_get(2)?,
    })
}

/// Polls every edge until `print` of it equals `want` (what origin holds),
/// or `timeout` passes. Answers, per edge index, the seconds it took; on
/// timeout, the edges still behind with what they held last.
pub async fn wait_edges_match<T, F>(
    edges: &[&Client],
    want: &T,
    timeout: Duration,
    print: F,
) -> anyhow::Result<Result<Vec<(usize, f64)>, Vec<(usize, T)>>>
where
    T: PartialEq,
    F: AsyncFn(&Client) -> anyhow::Result<T>,
{
    let started = tokio::time::Instant::now();
    let mut done = Vec::new();
    let mut pending: Vec<usize> = (0..edges.len()).collect();
    loop {
        let mut behind = Vec::new();
        for i in pending {
            let have = print(edges[i])
                .await
                .with_context(|| format!("read edge {i}"))?;
            if &have == want {
                done.push((i, started.elapsed().as_secs_f64()));
            } else {
                behind.push((i, have));
            }
        }
        if behind.is_empty() {
            return Ok(Ok(done));
        }
        if started.elapsed() >= timeout {
            return Ok(Err(behind));
        }
        pending = behind.into_iter().map(|(i, _)| i).collect();
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every edge holds what origin holds now (the same songs and
/// segments, compared by count and a hash of their keys), or `timeout`.
pub async fn wait_replicated(
    origin: &Client,
    edges: &[&Client],
    timeout: Duration,
) -> anyhow::Result<()> {
    let want = fingerprint(origin).await.context("read origin")?;
    let fp = async |c: &Client| fingerprint(c).await;
    match wait_edges_match(edges, &want, timeout, fp).await? {
        Ok(_) => Ok(()),
        Err(behind) => {
            let (i, have) = &behind[0];
            bail!(
                "edge {i} did not catch up with origin within {timeout:?}: it holds {} songs and {} segments, origin {} and {}",
                have.songs,
                have.segments,
                want.songs,
                want.segments
            )
        }
    }
}

/// One subscription of an edge database, from `pg_subscription` and
/// `pg_stat_subscription`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SubscriptionStatus {
    pub name: String,
    pub enabled: bool,
    /// The publications it takes (normally `["songs_pub"]`).
    pub publications: Vec<String>,
    /// Whether an apply worker runs for it now.
    pub worker_running: bool,
    /// Last WAL position received from origin (`0/1A2B3C8`), when a worker runs.
    pub received_lsn: Option<String>,
    /// Last WAL position reported back to origin.
    pub latest_end_lsn: Option<String>,
    /// Seconds since the last message from origin.
    pub last_message_age_secs: Option<f64>,
    /// Tables subscribed, and how many finished their initial copy.
    pub tables: i64,
    pub tables_ready: i64,
}

/// The subscriptions of the edge's current database, sorted by name.
pub async fn subscriptions(edge: &Client) -> anyhow::Result<Vec<SubscriptionStatus>> {
    let rows = tokio::time::timeout(
        STATEMENT_TIMEOUT,
        edge.query(
            "SELECT s.subname::text, s.subenabled, s.subpublications::text[], \
                    w.pid IS NOT NULL, w.received_lsn::text, w.latest_end_lsn::text, \
                    extract(epoch FROM now() - w.last_msg_receipt_time)::float8, \
                    (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid), \
                    (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid AND r.srsubstate = 'r') \
             FROM pg_subscription s \
             JOIN pg_database d ON d.oid = s.subdbid AND d.datname = current_database() \
             LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL \
             ORDER BY s.subname",
            &[],
        ),
    )
    .await
    .context("list subscriptions: timed out")?
    .context("list subscriptions")?;
    rows.iter()
        .map(|r| {
            Ok(SubscriptionStatus {
                name: r.try_get(0)?,
                enabled: r.try_get(1)?,
                publications: r.try_get(2)?,
                worker_running: r.try_get(3)?,
                received_lsn: r.try_get(4)?,
                latest_end_lsn: r.try_get(5)?,
                last_message_age_secs: r.try_get(6)?,
                tables: r.try_get(7)?,
                tables_ready: r.try_get(8)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_quotes_values() {
        assert_eq!(
            conninfo("origin-db", 5432, "mesh", "it's a \\ pw", "songs"),
            r"host='origin-db' port='5432' user='mesh' password='it\'s a \\ pw' dbname='songs'"
        );
        // tokio-postgres reads it back as written.
        let cfg: tokio_postgres::Config =
            conninfo("h", 1, "u", "it's a \\ pw", "d").parse().unwrap();
        assert_eq!(cfg.get_password(), Some(&b"it's a \\ pw"[..]));
        assert_eq!(cfg.get_user(), Some("u"));
    }

    #[test]
    fn identifiers() {
        assert!(check_identifier("edge_a").is_ok());
        assert!(check_identifier("mesh_edge_db_a_1").is_ok());
        assert!(check_identifier("Edge").is_err());
        assert!(check_identifier("edge-a").is_err());
        assert!(check_identifier("x; DROP TABLE songs").is_err());
        assert!(check_identifier("").is_err());
    }
}
