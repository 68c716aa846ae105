//! Songs through the mesh (issue 5): publish, play, stats and the swarm.
//!
//! `publish_replaces_and_refuses_garbage` needs only PostgreSQL
//! (MESH_TEST_PG_URL). `songs_through_the_mesh` stands up ONE real
//! deployment (Docker, PostgreSQL logical replication, the agents, ffmpeg)
//! of a few peers on a line-ish mesh and checks everything on it; a Drop
//! guard brings it down also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use meshctl::songs::{hls, store};

/// Tests of this binary run one at a time: they share the Docker daemon.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{nanos:x}", std::process::id())
}

/// `seconds` of a sine tone as WAV, made by ffmpeg.
async fn tone(dir: &Path, seconds: u32, freq: u32) -> anyhow::Result<PathBuf> {
    let out = dir.join(format!("tone-{freq}-{seconds}.wav"));
    let status = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={freq}:duration={seconds}"))
            .arg(&out)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .status(),
    )
    .await
    .context("ffmpeg tone: timed out")??;
    if !status.success() {
        bail!("ffmpeg could not make a tone: {status}");
    }
    Ok(out)
}

/// A throwaway database in MESH_TEST_PG_URL with the songs schema, dropped on drop.
struct TempDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDb {
    async fn new() -> anyhow::Result<Self> {
        let admin_url = std::env::var("MESH_TEST_PG_URL").context(
            "MESH_TEST_PG_URL must point at a PostgreSQL superuser (scripts/test.sh sets it)",
        )?;
        let name = unique("songs_");
        let admin = meshctl::db::connect(&admin_url, Duration::from_secs(30)).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("create the test database")?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("MESH_TEST_PG_URL has no database part")?;
        let url = format!("{base}/{name}");
        let db = TempDb {
            admin_url,
            name,
            url,
        };
        let c = meshctl::db::connect(&db.url, Duration::from_secs(30)).await?;
        meshctl::db::init_origin(&c).await?;
        Ok(db)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let admin = meshctl::db::connect(&url, Duration::from_secs(10)).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

/// Every row of the database, for "nothing changed" comparisons.
async fn everything(c: &tokio_postgres::Client) -> anyhow::Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT 'seg ' || id || ' ' || song || ' ' || seq || ' ' || sha256 || ' ' || md5(data) FROM segments \
             UNION ALL SELECT 'song ' || song || ' ' || playlist_id || ' ' || segment_count || ' ' || published_at FROM songs \
             ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_replaces_and_refuses_garbage() -> anyhow::Result<()> {
    let _serial = SERIAL.lock().await;
    let db = TempDb::new().await?;
    let mut origin = meshctl::db::connect(&db.url, Duration::from_secs(30)).await?;
    let dir = tempfile::tempdir()?;

    // 20 s of tone: four segments of about 6 s, each named by its SHA-256.
    let wav = tone(dir.path(), 20, 440).await?;
    let song = hls::prepare(&wav, "tone").await?;
    assert_eq!(
        song.segments.len(),
        4,
        "{:?}",
        song.segments
            .iter()
            .map(|s| s.duration_ms)
            .collect::<Vec<_>>()
    );
    assert!(
        (song.duration_ms() - 20_000).abs() < 300,
        "{}",
        song.duration_ms()
    );
    for s in &song.segments {
        assert_eq!(s.id, wire::ids::segment_id("tone", s.seq, &s.sha256));
        assert_eq!(meshctl::songs::sha256_hex(&s.data), s.sha256);
    }
    let text = String::from_utf8(song.playlist.clone())?;
    let named: Vec<String> = hls::parse_playlist(&text)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|e| e.uri)
        .collect();
    assert_eq!(
        named,
        song.segments
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()
    );

    let first = store::store(&mut origin, &song).await?;
    assert!(!first.replaced);
    let rows = store::rows(&origin, "tone").await?;
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].id, "tone.m3u8");
    assert_eq!(rows[0].seq, -1);
    assert_eq!(rows[0].data, song.playlist);
    for (row, s) in rows[1..].iter().zip(&song.segments) {
        assert_eq!((&row.id, &row.data), (&s.id, &s.data));
    }

    // Garbage is refused before anything is stored.
    let before = everything(&origin).await?;
    let junk = dir.path().join("junk.mp3");
    tokio::fs::write(&junk, b"this is not audio at all, just text\n".repeat(100)).await?;
    let err = hls::prepare(&junk, "tone").await.unwrap_err();
    assert!(matches!(err, hls::PrepareError::NotAudio { .. }), "{err}");
    assert!(err.to_string().contains("is not audio"), "{err}");
    let err = hls::prepare(&dir.path().join("absent.wav"), "tone")
        .await
        .unwrap_err();
    assert!(matches!(err, hls::PrepareError::Missing(_)), "{err}");
    let err = hls::prepare(&wav, "bad/name").await.unwrap_err();
    assert!(matches!(err, hls::PrepareError::BadSong(_)), "{err}");
    assert_eq!(everything(&origin).await?, before);

    // Re-publishing replaces the song cleanly: only the new rows remain.
    let wav2 = tone(dir.path(), 13, 880).await?;
    let song2 = hls::prepare(&wav2, "tone").await?;
    let second = store::store(&mut origin, &song2).await?;
    assert!(second.replaced);
    assert_eq!(second.removed_rows, 5);
    let rows = store::rows(&origin, "tone").await?;
    assert_eq!(rows.len(), song2.segments.len() + 1);
    assert!(rows
        .iter()
        .all(|r| r.id == "tone.m3u8" || song2.segments.iter().any(|s| s.id == r.id)));
    let n: i64 = origin
        .query_one("SELECT count(*) FROM songs", &[])
        .await?
        .get(0);
    assert_eq!(n, 1);

    // An HLS folder is taken as it is, renamed by content.
    let folder = dir.path().join("hls");
    tokio::fs::create_dir(&folder).await?;
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&wav2)
        .args([
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "6",
            "-hls_playlist_type",
            "vod",
        ])
        .arg(folder.join("index.m3u8"))
        .status()
        .await?;
    assert!(status.success());
    let from_folder = hls::prepare(&folder, "folder-song").await?;
    assert_eq!(from_folder.segments.len(), 3);
    store::store(&mut origin, &from_folder).await?;
    let sizes = store::song_sizes(&origin).await?;
    assert_eq!(sizes["folder-song"], (from_folder.segment_bytes(), 3));
    assert_eq!(sizes["tone"].1, song2.segments.len() as u64);
    // A folder of garbage with a playlist is refused too.
    let bad = dir.path().join("bad");
    tokio::fs::create_dir(&bad).await?;
    tokio::fs::write(
        bad.join("x.m3u8"),
        "#EXTM3U\n#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n",
    )
    .await?;
    tokio::fs::write(bad.join("a.ts"), b"garbage".repeat(500)).await?;
    let before = everything(&origin).await?;
    assert!(hls::prepare(&bad, "bad").await.is_err());
    assert_eq!(everything(&origin).await?, before);
    Ok(())
}
