//! From an audio file or an HLS folder to a content-addressed HLS song.
//!
//! Audio is segmented by ffmpeg into AAC in MPEG-TS, about 6 s a segment.
//! Every segment is renamed to its content-addressed id
//! (`wire::ids::segment_id`) and the playlist is rewritten to name those ids,
//! relative to the playlist, so a player that fetched
//! `/songs/<song>/playlist.m3u8` asks `/songs/<song>/<id>` next:
//!
//! ```text
//! #EXTM3U                                  #EXTM3U
//! ...                                      ...
//! #EXTINF:6.016000,                  →     #EXTINF:6.016000,
//! seg00000.ts                              tone-00000-9f86d0…0a08.ts
//! ```
//!
//! Nothing is written anywhere but a temporary directory; a file that is not
//! audio is refused here, before any database is touched.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use wire::ids;

use super::sha256_hex;

/// Longest ffmpeg/ffprobe run allowed.
const TOOL_TIMEOUT: Duration = Duration::from_secs(600);
/// Target segment length handed to ffmpeg, in seconds.
pub const SEGMENT_SECONDS: u32 = 6;
/// AAC bit rate of segmented audio.
pub const AUDIO_BITRATE: &str = "128k";
/// Longest `#EXTINF` accepted, in seconds (a day): nothing longer is a
/// segment, and a song's length in milliseconds must not overflow.
pub const MAX_SEGMENT_SECONDS: f64 = 86_400.0;

/// Why a song could not be prepared; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{0}")]
    BadSong(#[from] ids::InvalidId),
    #[error("{}: no such file or directory", .0.display())]
    Missing(PathBuf),
    #[error("{} is not audio: {reason}", path.display())]
    NotAudio { path: PathBuf, reason: String },
    #[error("{}: not a usable HLS playlist: {reason}", path.display())]
    BadPlaylist { path: PathBuf, reason: String },
    #[error("{tool}: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PrepareError {
    let what = what.into();
    move |source| PrepareError::Io { what, source }
}

/// One content-addressed segment, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub seq: u32,
    pub id: String,
    pub sha256: String,
    pub data: Vec<u8>,
    /// From the playlist's `#EXTINF`, in milliseconds.
    pub duration_ms: i64,
}

/// A song ready to store: its rewritten playlist and its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub song: String,
    /// The playlist naming the segments by id; stored under `<song>.m3u8`.
    pub playlist: Vec<u8>,
    pub playlist_sha256: String,
    pub segments: Vec<Segment>,
}

impl Prepared {
    pub fn duration_ms(&self) -> i64 {
        self.segments.iter().map(|s| s.duration_ms).sum()
    }

    /// Bytes of the segments (the playlist not counted).
    pub fn segment_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.data.len() as u64).sum()
    }

    pub fn playlist_id(&self) -> String {
        ids::playlist_id(&self.song)
    }
}

/// One media segment named by a playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The URI line as written.
    pub uri: String,
    /// Seconds, from the `#EXTINF` before it.
    pub duration: f64,
}

/// Reads a media playlist: the segments it names, in order. Master
/// playlists, fMP4 (`#EXT-X-MAP`), encryption and byte ranges are refused
/// with a reason, since the mesh serves plain MPEG-TS segments by id.
pub fn parse_playlist(text: &str) -> Result<Vec<Entry>, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("it does not start with #EXTM3U".into());
    }
    let mut entries = Vec::new();
    let mut pending: Option<f64> = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let value = rest.split(',').next().unwrap_or("").trim();
            let d: f64 = value
                .parse()
                .map_err(|_| format!("bad #EXTINF duration {value:?}"))?;
            if !(0.0..=MAX_SEGMENT_SECONDS).contains(&d) {
                return Err(format!(
                    "bad #EXTINF duration {value:?}: seconds from 0 to {MAX_SEGMENT_SECONDS}"
                ));
            }
            pending = Some(d);
        } else if line.starts_with("#EXT-X-STREAM-INF") {
            return Err("it is a master playlist; give the media playlist it names".into());
        } else if line.starts_with("#EXT-X-MAP") {
            return Err("fMP4 segments (#EXT-X-MAP) are not supported; use MPEG-TS".into());
        } else if line.starts_with("#EXT-X-BYTERANGE") {
            return Err("byte-range segments are not supported".into());
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-KEY:") {
            if !attrs.contains("METHOD=NONE") {
                return Err("encrypted segments (#EXT-X-KEY) are not supported".into());
            }
        } else if line.starts_with('#') {
            continue;
        } else {
            let duration = pending
                .take()
                .ok_or_else(|| format!("segment {line:?} has no #EXTINF before it"))?;
            entries.push(Entry {
                uri: line.to_string(),
                duration,
            });
        }
    }
    if entries.is_empty() {
        return Err("it names no segments".into());
    }
    Ok(entries)
}

/// Rewrites a media playlist so its i-th segment URI reads `ids[i]`; every
/// other line is kept, and `#EXT-X-ENDLIST` is added when missing (a
/// published song is complete). `ids` must have one id per segment.
pub fn rewrite_playlist(text: &str, ids: &[String]) -> Result<String, String> {
    let entries = parse_playlist(text)?;
    if entries.len() != ids.len() {
        return Err(format!("{} ids for {} segments", ids.len(), entries.len()));
    }
    let mut out = String::with_capacity(text.len() + ids.len() * 80);
    let mut next = ids.iter();
    let mut ended = false;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with('#') {
            ended |= t == "#EXT-X-ENDLIST";
            out.push_str(t);
        } else {
            match next.next() {
                Some(id) => out.push_str(id),
                None => return Err("more segment lines than ids".into()),
            }
        }
        out.push('\n');
    }
    if !ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    Ok(out)
}

/// Names the segments of a playlist by content: `(seq, id)` for each
/// segment's SHA-256, in playlist order.
pub fn content_ids(song: &str, hashes: &[String]) -> Vec<String> {
    hashes
        .iter()
        .enumerate()
        .map(|(seq, sha)| ids::segment_id(song, seq as u32, sha))
        .collect()
}

/// What `source` is, decided from the path alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Audio(PathBuf),
    /// A media playlist inside an HLS folder.
    Hls(PathBuf),
}

/// Turns `source` (an audio file, an HLS folder, or a `.m3u8` in one) into a
/// content-addressed song named `song`. Runs ffprobe/ffmpeg; writes only to
/// a temporary directory it removes.
pub async fn prepare(source: &Path, song: &str) -> Result<Prepared, PrepareError> {
    ids::validate_song(song)?;
    let meta = tokio::fs::metadata(source)
        .await
        .map_err(|_| PrepareError::Missing(source.to_path_buf()))?;
    let which = if meta.is_dir() {
        Source::Hls(find_playlist(source).await?)
    } else if source.extension().is_some_and(|e| e == "m3u8") {
        Source::Hls(source.to_path_buf())
    } else {
        Source::Audio(source.to_path_buf())
    };
    match which {
        Source::Audio(path) => {
            probe_audio(&path).await?;
            let tmp = tempfile::Builder::new()
                .prefix("meshctl-publish-")
                .tempdir()
                .map_err(io("create a temporary directory"))?;
            segment_audio(&path, tmp.path()).await?;
            from_playlist(&tmp.path().join("index.m3u8"), song, false).await
        }
        Source::Hls(playlist) => from_playlist(&playlist, song, true).await,
    }
}

async fn find_playlist(dir: &Path) -> Result<PathBuf, PrepareError> {
    let mut found = Vec::new();
    let mut rd = tokio::fs::read_dir(dir)
        .await
        .map_err(io(format!("read {}", dir.display())))?;
    while let Some(e) = rd
        .next_entry()
        .await
        .map_err(io(format!("read {}", dir.display())))?
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "m3u8") {
            found.push(p);
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(PrepareError::BadPlaylist {
            path: dir.to_path_buf(),
            reason: "the folder holds no .m3u8 playlist".into(),
        }),
        _ => Err(PrepareError::BadPlaylist {
            path: dir.to_path_buf(),
            reason: format!(
                "the folder holds {} playlists; name the one to publish",
                found.len()
            ),
        }),
    }
}

/// Reads a media playlist and its segment files, checks them (audio in
/// MPEG-TS when `probe`), and renames everything by content.
async fn from_playlist(path: &Path, song: &str, probe: bool) -> Result<Prepared, PrepareError> {
    let bad = |reason: String| PrepareError::BadPlaylist {
        path: path.to_path_buf(),
        reason,
    };
    let raw = tokio::fs::read(path)
        .await
        .map_err(io(format!("read {}", path.display())))?;
    let text = String::from_utf8(raw).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let entries = parse_playlist(&text).map_err(bad)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut datas = Vec::with_capacity(entries.len());
    for e in &entries {
        let file = segment_file(dir, &e.uri).map_err(bad)?;
        if probe {
            probe_segment(&file).await?;
        }
        let data = tokio::fs::read(&file)
            .await
            .map_err(io(format!("read segment {}", file.display())))?;
        if data.is_empty() {
            return Err(bad(format!("segment {} is empty", e.uri)));
        }
        datas.push(data);
    }
    let hashes: Vec<String> = datas.iter().map(|d| sha256_hex(d)).collect();
    let seg_ids = content_ids(song, &hashes);
    let playlist = rewrite_playlist(&text, &seg_ids).map_err(bad)?.into_bytes();
    let segments = entries
        .iter()
        .zip(datas)
        .zip(hashes)
        .zip(seg_ids)
        .enumerate()
        .map(|(seq, (((e, data), sha256), id))| Segment {
            seq: seq as u32,
            id,
            sha256,
            data,
            duration_ms: (e.duration * 1000.0).round() as i64,
        })
        .collect();
    Ok(Prepared {
        song: song.to_string(),
        playlist_sha256: sha256_hex(&playlist),
        playlist,
        segments,
    })
}

/// The local file a playlist's segment URI names, which must stay inside
/// the playlist's folder.
fn segment_file(dir: &Path, uri: &str) -> Result<PathBuf, String> {
    if uri.contains("://") {
        return Err(format!(
            "segment {uri:?} is a remote URL; publish a local folder"
        ));
    }
    let plain = uri.split(['?', '#']).next().unwrap_or(uri);
    let rel = Path::new(plain);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "segment {uri:?} lies outside the playlist's folder"
        ));
    }
    Ok(dir.join(rel))
}

/// What ffprobe says of a file: its container and the kinds of its streams.
#[derive(Debug, serde::Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    #[serde(default)]
    format: Option<ProbeFormat>,
}

#[derive(Debug, serde::Deserialize)]
struct ProbeStream {
    #[serde(default)]
    codec_type: String,
}

#[derive(Debug, serde::Deserialize)]
struct ProbeFormat {
    #[serde(default)]
    format_name: String,
}

async fn ffprobe(path: &Path) -> Result<Probe, PrepareError> {
    let out = tool(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "stream=codec_type:format=format_name".as_ref(),
            "-of".as_ref(),
            "json".as_ref(),
            path.as_os_str(),
        ],
    )
    .await?;
    if !out.status.success() {
        let reason = last_line(&out.stderr).unwrap_or_else(|| "ffprobe cannot read it".into());
        return Err(PrepareError::NotAudio {
            path: path.to_path_buf(),
            reason,
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| PrepareError::Tool {
        tool: "ffprobe",
        message: format!("unreadable output: {e}"),
    })
}

async fn probe_audio(path: &Path) -> Result<(), PrepareError> {
    let probe = ffprobe(path).await?;
    if probe.streams.iter().any(|s| s.codec_type == "audio") {
        return Ok(());
    }
    let kinds: Vec<&str> = probe
        .streams
        .iter()
        .map(|s| s.codec_type.as_str())
        .collect();
    Err(PrepareError::NotAudio {
        path: path.to_path_buf(),
        reason: if kinds.is_empty() {
            "ffprobe finds no stream in it".into()
        } else {
            format!("it has no audio stream (only {})", kinds.join(", "))
        },
    })
}

async fn probe_segment(path: &Path) -> Result<(), PrepareError> {
    let probe = ffprobe(path).await?;
    let format = probe.format.map(|f| f.format_name).unwrap_or_default();
    if format != "mpegts" {
        return Err(PrepareError::BadPlaylist {
            path: path.to_path_buf(),
            reason: format!("segment is {format:?}, not MPEG-TS"),
        });
    }
    if !probe.streams.iter().any(|s| s.codec_type == "audio") {
        return Err(PrepareError::NotAudio {
            path: path.to_path_buf(),
            reason: "the segment has no audio stream".into(),
        });
    }
    Ok(())
}

async fn segment_audio(input: &Path, out_dir: &Path) -> Result<(), PrepareError> {
    let seg_pattern = out_dir.join("seg%05d.ts");
    let playlist = out_dir.join("index.m3u8");
    let hls_time = SEGMENT_SECONDS.to_string();
    let args: Vec<&std::ffi::OsStr> = vec![
        "-nostdin".as_ref(),
        "-hide_banner".as_ref(),
        "-v".as_ref(),
        "error".as_ref(),
        "-i".as_ref(),
        input.as_os_str(),
        "-map".as_ref(),
        "0:a:0".as_ref(),
        "-vn".as_ref(),
        "-c:a".as_ref(),
        "aac".as_ref(),
        "-b:a".as_ref(),
        AUDIO_BITRATE.as_ref(),
        "-f".as_ref(),
        "hls".as_ref(),
        "-hls_time".as_ref(),
        hls_time.as_ref(),
        "-hls_playlist_type".as_ref(),
        "vod".as_ref(),
        "-hls_segment_type".as_ref(),
        "mpegts".as_ref(),
        "-hls_segment_filename".as_ref(),
        seg_pattern.as_os_str(),
        playlist.as_os_str(),
    ];
    let out = tool("ffmpeg", &args).await?;
    if !out.status.success() {
        return Err(PrepareError::NotAudio {
            path: input.to_path_buf(),
            reason: format!(
                "ffmpeg could not segment it: {}",
                last_line(&out.stderr).unwrap_or_else(|| out.status.to_string())
            ),
        });
    }
    Ok(())
}

async fn tool(
    name: &'static str,
    args: &[&std::ffi::OsStr],
) -> Result<std::process::Output, PrepareError> {
    let child = tokio::process::Command::new(name)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PrepareError::Tool {
            tool: name,
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("not found on PATH; install ffmpeg (it ships {name})")
            } else {
                format!("cannot start: {e}")
            },
        })?;
    match tokio::time::timeout(TOOL_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(PrepareError::Tool {
            tool: name,
            message: format!("failed: {e}"),
        }),
        Err(_) => Err(PrepareError::Tool {
            tool: name,
            message: format!("no result within {TOOL_TIMEOUT:?}"),
        }),
    }
}

fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FFMPEG_PLAYLIST: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n\
#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:6.016000,\nseg00000.ts\n\
#EXTINF:6.000000,\nseg00001.ts\n#EXTINF:2.5,\nseg00002.ts\n#EXT-X-ENDLIST\n";

    #[test]
    fn playlists_are_parsed() {
        let e = parse_playlist(FFMPEG_PLAYLIST).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].uri, "seg00000.ts");
        assert_eq!(e[2].duration, 2.5);
        for (text, why) in [
            ("seg.ts\n", "#EXTM3U"),
            ("#EXTM3U\n#EXT-X-ENDLIST\n", "no segments"),
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n",
                "master",
            ),
            (
                "#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:6,\na.m4s\n",
                "fMP4",
            ),
            (
                "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:6,\na.ts\n",
                "encrypted",
            ),
            ("#EXTM3U\na.ts\n", "no #EXTINF"),
            ("#EXTM3U\n#EXTINF:x,\na.ts\n", "duration"),
        ] {
            let err = parse_playlist(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn playlists_are_rewritten_to_content_ids() {
        let hashes: Vec<String> = ["a", "b", "c"].iter().map(|c| c.repeat(64)).collect();
        let ids = content_ids("tone", &hashes);
        assert_eq!(ids[1], format!("tone-00001-{}.ts", "b".repeat(64)));
        let out = rewrite_playlist(FFMPEG_PLAYLIST, &ids).unwrap();
        let again = parse_playlist(&out).unwrap();
        assert_eq!(again.iter().map(|e| e.uri.clone()).collect::<Vec<_>>(), ids);
        assert_eq!(again[0].duration, 6.016);
        assert!(out.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n"));
        assert_eq!(out.matches("#EXT-X-ENDLIST").count(), 1);
        assert!(!out.contains("seg0000"));
        // A playlist without an end gets one; a count mismatch is refused.
        let open = FFMPEG_PLAYLIST.replace("#EXT-X-ENDLIST\n", "");
        assert!(rewrite_playlist(&open, &ids)
            .unwrap()
            .ends_with("#EXT-X-ENDLIST\n"));
        assert!(rewrite_playlist(FFMPEG_PLAYLIST, &ids[..2]).is_err());
    }

    #[test]
    fn segment_files_stay_in_the_folder() {
        let dir = Path::new("/songs/x");
        assert_eq!(
            segment_file(dir, "seg1.ts?v=2").unwrap(),
            Path::new("/songs/x/seg1.ts")
        );
        assert!(segment_file(dir, "../y/seg.ts").is_err());
        assert!(segment_file(dir, "/etc/passwd").is_err());
        assert!(segment_file(dir, "http://cdn/seg.ts").is_err());
    }
}
