//! Writing a prepared song into origin-db and waiting for the edges.
//!
//! One transaction deletes every row of the song and inserts the new
//! playlist, segments and `songs` row, so a reader (and each edge, which
//! applies origin's transactions whole) sees either the old version or the
//! new one, never a mix. Edges receive it by logical replication.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio_postgres::Client;

use super::hls::Prepared;

/// Time for one statement.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a publish changed on origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stored {
    /// Whether an earlier version of the song was replaced.
    pub replaced: bool,
    /// Rows (segments and the playlist) of the earlier version removed.
    pub removed_rows: u64,
    pub segments: usize,
    /// Segment and playlist bytes written.
    pub bytes: u64,
}

async fn timed<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(STATEMENT_TIMEOUT, f)
        .await
        .with_context(|| format!("{what}: timed out"))?
        .with_context(|| what.to_string())
}

/// Replaces the song on origin with `song` in one transaction.
pub async fn store(origin: &mut Client, song: &Prepared) -> anyhow::Result<Stored> {
    let tx = timed("begin a transaction", origin.transaction()).await?;
    // Two publishes of one song at once queue here rather than interleave.
    timed(
        "lock the song",
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&song.song]),
    )
    .await?;
    let removed_rows = timed(
        "delete the old segments",
        tx.execute("DELETE FROM segments WHERE song = $1", &[&song.song]),
    )
    .await?;
    let replaced = timed(
        "delete the old song",
        tx.execute("DELETE FROM songs WHERE song = $1", &[&song.song]),
    )
    .await?
        > 0;
    let insert = timed(
        "prepare the insert",
        tx.prepare(
            "INSERT INTO segments (id, song, seq, sha256, data) VALUES ($1, $2, $3, $4, $5)",
        ),
    )
    .await?;
    let playlist_id = song.playlist_id();
    timed(
        "insert the playlist",
        tx.execute(
            &insert,
            &[
                &playlist_id,
                &song.song,
                &-1i32,
                &song.playlist_sha256,
                &song.playlist,
            ],
        ),
    )
    .await?;
    for s in &song.segments {
        let seq = i32::try_from(s.seq).context("segment number out of range")?;
        timed(
            &format!("insert segment {}", s.id),
            tx.execute(&insert, &[&s.id, &song.song, &seq, &s.sha256, &s.data]),
        )
        .await?;
    }
    let bytes = song.segment_bytes() + song.playlist.len() as u64;
    timed(
        "insert the song",
        tx.execute(
            "INSERT INTO songs (song, playlist_id, segment_count, duration_ms, total_bytes) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &song.song,
                &playlist_id,
                &(song.segments.len() as i32),
                &song.duration_ms(),
                &(bytes as i64),
            ],
        ),
    )
    .await?;
    timed("commit", tx.commit()).await?;
    Ok(Stored {
        replaced,
        removed_rows,
        segments: song.segments.len(),
        bytes,
    })
}

/// A song's version in one database, cheap to compare across databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SongPrint {
    pub published_at: String,
    pub rows: i64,
    /// md5 over the sorted `id/sha256` of its rows.
    pub keys: String,
}

/// The song's version in `client`'s database, `None` when it holds no such song.
pub async fn song_print(client: &Client, song: &str) -> anyhow::Result<Option<SongPrint>> {
    let row = timed(
        "read the song's fingerprint",
        client.query_opt(
            "SELECT s.published_at::text, \
                    (SELECT count(*) FROM segments WHERE song = s.song), \
                    coalesce((SELECT md5(string_agg(id || '/' || sha256, ',' ORDER BY id)) \
                              FROM segments WHERE song = s.song), '') \
             FROM songs s WHERE s.song = $1",
            &[&song],
        ),
    )
    .await?;
    row.map(|r| {
        Ok(SongPrint {
            published_at: r.try_get(0)?,
            rows: r.try_get(1)?,
            keys: r.try_get(2)?,
        })
    })
    .transpose()
}

/// One edge that caught up.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EdgeHeld {
    pub edge: String,
    /// Rows of the song it holds (segments and the playlist).
    pub rows: i64,
    /// Seconds from the start of the wait.
    pub after_secs: f64,
}

/// Waits until every edge holds exactly the version of `song` origin holds
/// now, or `timeout` passes (an error naming the edges still behind).
pub async fn wait_edges(
    origin: &Client,
    edges: &[(String, &Client)],
    song: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<EdgeHeld>> {
    let Some(want) = song_print(origin, song).await.context("read origin")? else {
        bail!("origin holds no song {song:?}");
    };
    let clients: Vec<&Client> = edges.iter().map(|(_, c)| *c).collect();
    let print = async |c: &Client| song_print(c, song).await;
    match crate::db::wait_edges_match(&clients, &Some(want.clone()), timeout, print).await? {
        Ok(done) => {
            let mut held: Vec<EdgeHeld> = done
                .into_iter()
                .map(|(i, after_secs)| EdgeHeld {
                    edge: edges[i].0.clone(),
                    rows: want.rows,
                    after_secs,
                })
                .collect();
            held.sort_by(|a, b| a.edge.cmp(&b.edge));
            Ok(held)
        }
        Err(behind) => {
            let names: Vec<&str> = behind.iter().map(|(i, _)| edges[*i].0.as_str()).collect();
            bail!(
                "{} did not receive {song:?} from origin within {timeout:?}; \
                 `meshctl status` shows the subscriptions",
                names.join(" and ")
            )
        }
    }
}

/// One stored row of a song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub seq: i32,
    pub sha256: String,
    pub data: Vec<u8>,
}

/// Every row of `song` (playlist first, then segments by seq).
pub async fn rows(client: &Client, song: &str) -> anyhow::Result<Vec<Row>> {
    let rows = timed(
        "read the song's rows",
        client.query(
            "SELECT id, seq, sha256, data FROM segments WHERE song = $1 ORDER BY seq, id",
            &[&song],
        ),
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Row {
                id: r.try_get(0)?,
                seq: r.try_get(1)?,
                sha256: r.try_get(2)?,
                data: r.try_get(3)?,
            })
        })
        .collect()
}

/// Segment bytes (the playlist not counted) and segment count of every song
/// on `client`'s database, by song.
pub async fn song_sizes(client: &Client) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    let rows = timed(
        "read song sizes",
        client.query(
            "SELECT song, coalesce(sum(length(data)), 0)::int8, count(*)::int8 \
             FROM segments WHERE seq >= 0 GROUP BY song",
            &[],
        ),
    )
    .await?;
    rows.iter()
        .map(|r| {
            let song: String = r.try_get(0)?;
            let bytes: i64 = r.try_get(1)?;
            let count: i64 = r.try_get(2)?;
            Ok((song, (bytes.max(0) as u64, count.max(0) as u64)))
        })
        .collect()
}

/// What `meshctl publish` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PublishReport {
    pub song: String,
    pub playlist_id: String,
    pub segments: usize,
    pub duration_ms: i64,
    pub segment_bytes: u64,
    pub stored: Stored,
    pub edges: Vec<EdgeHeld>,
}

/// Prepares `source` as `song`, stores it on origin (`origin_url`) in one
/// transaction replacing any earlier version, then waits until every edge
/// database in `edges` (name, URL) holds it. `say` hears each step, for
/// people. Nothing is stored when preparing fails.
pub async fn publish(
    source: &std::path::Path,
    song: &str,
    origin_url: &str,
    edges: &[(String, String)],
    timeout: Duration,
    say: &(dyn Fn(&str) + Send + Sync),
) -> anyhow::Result<PublishReport> {
    let prepared = super::hls::prepare(source, song).await?;
    say(&format!(
        "prepared {song}: {} segments, {:.1} s, {} bytes",
        prepared.segments.len(),
        prepared.duration_ms() as f64 / 1000.0,
        prepared.segment_bytes()
    ));
    let mut origin = crate::db::connect(origin_url, timeout)
        .await
        .context("connect to origin-db")?;
    let stored = store(&mut origin, &prepared)
        .await
        .context("store the song on origin-db")?;
    say(&if stored.replaced {
        format!(
            "origin-db: replaced {song} ({} old rows removed, {} segments written)",
            stored.removed_rows, stored.segments
        )
    } else {
        format!("origin-db: stored {song} ({} segments)", stored.segments)
    });
    let mut clients = Vec::new();
    for (name, url) in edges {
        let c = crate::db::connect(url, timeout)
            .await
            .with_context(|| format!("connect to {name}"))?;
        clients.push((name.clone(), c));
    }
    let refs: Vec<(String, &Client)> = clients.iter().map(|(n, c)| (n.clone(), c)).collect();
    let held = wait_edges(&origin, &refs, song, timeout).await?;
    for h in &held {
        say(&format!(
            "{}: holds {song} ({} rows) after {:.1} s",
            h.edge, h.rows, h.after_secs
        ));
    }
    Ok(PublishReport {
        song: song.to_string(),
        playlist_id: prepared.playlist_id(),
        segments: prepared.segments.len(),
        duration_ms: prepared.duration_ms(),
        segment_bytes: prepared.segment_bytes(),
        stored,
        edges: held,
    })
}
