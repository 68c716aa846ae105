//! `GET /songs/{song}/master.m3u8`: a master playlist of redundant streams.
//!
//! ```text
//! #EXTM3U
//! #EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS="mp4a.40.2"
//! http://peer-7:8080/songs/tone/playlist.m3u8        this peer first
//! #EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS="mp4a.40.2"
//! http://peer-3:8080/songs/tone/playlist.m3u8        then each live neighbour
//! ...
//! ```
//!
//! Every entry carries the same attributes, so a player that supports
//! redundant streams (HLS "backup streams") may move to the next location
//! when one fails. Locations are mesh addresses (`http://<peer-id>:8080`,
//! or a neighbour's configured address): what a peer cannot know is the
//! port each peer is published on at the host, so players outside the mesh
//! reach them through a proxy that maps peer names (`meshctl play
//! --master` runs one). Neighbours this peer suspects (they could not be
//! reached or did not answer a moment ago) are left out; one that merely
//! lacked a segment stays.
//!
//! The song's own playlist is read first, as a player's request would read
//! it (from the cache or through the mesh), so a song nobody holds is a 404
//! and the playlist is cached here for the player's next request.
//!
//! - `BANDWIDTH`: the peak bit rate of the song's segments when this peer
//!   holds every one of them, else [`DEFAULT_BANDWIDTH`].
//! - `CODECS`: `mp4a.40.<object type>` when a cached segment of the song
//!   is MPEG-TS carrying ADTS AAC (what `meshctl publish` makes: AAC-LC,
//!   `mp4a.40.2`); left out when no segment is cached here or it is not AAC,
//!   since a wrong codec breaks players that trust it.

use super::{error, serve, AppState};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// `BANDWIDTH` when the song's segment sizes are not all known here: 128
/// kb/s AAC (the rate `meshctl publish` encodes at) in MPEG-TS measures
/// about 140 kb/s; rounded up.
pub const DEFAULT_BANDWIDTH: u64 = 160_000;

/// Longest playlist read to build a master playlist.
const MAX_PLAYLIST_BYTES: usize = 1 << 20;

/// Bytes of a cached segment looked at for the codec.
const CODEC_PROBE_BYTES: usize = 188 * 32;

/// The master playlist text: one `#EXT-X-STREAM-INF` per base URL, in order,
/// each naming `<base>/songs/<song>/playlist.m3u8`.
pub fn render(song: &str, bases: &[String], bandwidth: u64, codecs: Option<&str>) -> String {
    let mut attrs = format!("BANDWIDTH={bandwidth}");
    if let Some(c) = codecs {
        attrs.push_str(&format!(",CODECS=\"{c}\""));
    }
    let mut out = String::from("#EXTM3U\n");
    for base in bases {
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:{attrs}\n{}/songs/{song}/playlist.m3u8\n",
            base.trim_end_matches('/')
        ));
    }
    out
}

/// `(segment id, seconds)` of each media segment a playlist names.
pub fn segments(playlist: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut duration = 0.0;
    for line in playlist.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0)
                .unwrap_or(0.0);
        } else if !line.starts_with('#') {
            let id = line.rsplit('/').next().unwrap_or(line).to_string();
            out.push((id, duration));
            duration = 0.0;
        }
    }
    out
}

/// Peak bits per second over `(bytes, seconds)` pairs; `None` when no pair
/// has a duration.
pub fn peak_bandwidth(sizes: &[(u64, f64)]) -> Option<u64> {
    sizes
        .iter()
        .filter(|(_, secs)| *secs > 0.0)
        .map(|(bytes, secs)| (*bytes as f64 * 8.0 / secs).ceil() as u64)
        .max()
}

/// The HLS codec of the first audio PES in MPEG-TS bytes, when it is ADTS
/// AAC: `mp4a.40.<audio object type>` (AAC-LC is `mp4a.40.2`).
pub fn aac_codec(ts: &[u8]) -> Option<String> {
    for packet in ts.chunks_exact(188) {
        if packet[0] != 0x47 || packet[1] & 0x40 == 0 {
            continue; // not synced, or no payload unit starts here
        }
        let payload = match (packet[3] >> 4) & 0b11 {
            0b01 => &packet[4..],
            0b11 => packet.get(5 + usize::from(packet[4])..)?,
            _ => continue,
        };
        // A PES packet of an audio stream (stream ids 0xC0..=0xDF).
        if payload.len() < 9 || payload[..3] != [0, 0, 1] || !(0xC0..=0xDF).contains(&payload[3]) {
            continue;
        }
        let es = payload.get(9 + usize::from(payload[8])..)?;
        // ADTS: 12-bit sync, layer 00; the profile is the object type - 1.
        if es.len() >= 3 && es[0] == 0xFF && es[1] & 0xF6 == 0xF0 {
            return Some(format!("mp4a.40.{}", (es[2] >> 6) + 1));
        }
        return None;
    }
    None
}

/// This peer's own mesh address: its peer id on the listen port, or the
/// listen address when it is bound to one.
fn own_base(inner: &crate::state::Inner) -> String {
    let listen = inner.config.listen;
    if listen.ip().is_unspecified() {
        format!("http://{}:{}", inner.config.peer_id, listen.port())
    } else {
        format!("http://{listen}")
    }
}

pub(super) async fn get_master(
    State(inner): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let song = match path {
        Ok(Path(song)) => song,
        Err(e) => return super::bad_path("song", e),
    };
    if let Err(e) = wire::ids::validate_song(&song) {
        return error(StatusCode::BAD_REQUEST, Some("song"), e.0);
    }
    // The playlist, as a client's request here would get it.
    let answer = serve(
        inner.clone(),
        remote,
        wire::ids::playlist_id(&song),
        HeaderMap::new(),
    )
    .await;
    let status = answer.status();
    if status == StatusCode::NOT_FOUND {
        return error(
            StatusCode::NOT_FOUND,
            Some("song"),
            format!("no song {song:?}: no live peer or edge database holds its playlist"),
        );
    }
    if !status.is_success() {
        return answer;
    }
    let body = match axum::body::to_bytes(answer.into_body(), MAX_PLAYLIST_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                None,
                format!("the playlist of {song:?} could not be read: {e}"),
            )
        }
    };
    let segs = segments(&String::from_utf8_lossy(&body));
    // Sizes and the codec from what this peer holds; nothing is fetched.
    let (sizes, probe) = {
        let mut cache = inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut sizes = Vec::new();
        let mut probe: Option<Bytes> = None;
        for (id, secs) in &segs {
            if let Some(seg) = cache.get(id) {
                sizes.push((seg.len, *secs));
                if probe.is_none() {
                    let mut head = Vec::with_capacity(CODEC_PROBE_BYTES);
                    for p in &seg.pieces {
                        let want = CODEC_PROBE_BYTES - head.len();
                        head.extend_from_slice(&p[..p.len().min(want)]);
                        if head.len() == CODEC_PROBE_BYTES {
                            break;
                        }
                    }
                    probe = Some(Bytes::from(head));
                }
            }
        }
        (sizes, probe)
    };
    let bandwidth = if !segs.is_empty() && sizes.len() == segs.len() {
        peak_bandwidth(&sizes).unwrap_or(DEFAULT_BANDWIDTH)
    } else {
        DEFAULT_BANDWIDTH
    };
    let codecs = probe.as_deref().and_then(aac_codec);
    let mut bases = vec![own_base(&inner)];
    bases.extend(
        inner
            .config
            .neighbors
            .iter()
            .filter(|n| !inner.suspected(&n.id))
            .map(|n| n.base_url()),
    );
    let mut r = render(&song, &bases, bandwidth, codecs.as_deref()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    // The live neighbours change: a player asks again rather than keep it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Segment;
    use crate::state::Inner;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// One MPEG-TS packet starting an audio PES whose payload is `es`.
    fn ts_packet(es: &[u8]) -> Vec<u8> {
        let mut p = vec![0x47, 0x41, 0x01, 0x10]; // PUSI, PID 0x101, payload only
        p.extend_from_slice(&[0, 0, 1, 0xC0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1]);
        p.extend_from_slice(es);
        p.resize(188, 0xFF);
        p
    }

    /// An ADTS header of `profile` (object type - 1).
    fn adts(profile: u8) -> [u8; 7] {
        [0xFF, 0xF1, (profile << 6) | (4 << 2), 0x80, 0, 0x1F, 0xFC]
    }

    #[test]
    fn master_text_lists_every_location_with_identical_attributes() {
        let bases = vec![
            "http://peer-7:8080".to_string(),
            "http://peer-3:8080/".to_string(),
        ];
        assert_eq!(
            render("tone", &bases, 140_000, Some("mp4a.40.2")),
            "#EXTM3U\n\
             #EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS=\"mp4a.40.2\"\n\
             http://peer-7:8080/songs/tone/playlist.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS=\"mp4a.40.2\"\n\
             http://peer-3:8080/songs/tone/playlist.m3u8\n"
        );
        assert_eq!(
            render("t", &bases[..1], DEFAULT_BANDWIDTH, None),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=160000\nhttp://peer-7:8080/songs/t/playlist.m3u8\n"
        );
    }

    #[test]
    fn playlist_segments_and_peak_rate() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\na-00000-x.ts\n\
                    #EXTINF:4.5,\n\na-00001-y.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(
            segments(text),
            vec![("a-00000-x.ts".into(), 6.0), ("a-00001-y.ts".into(), 4.5)]
        );
        // 6 s of 120 000 bytes = 160 000 b/s; 4.5 s of 90 001 bytes rounds up.
        assert_eq!(
            peak_bandwidth(&[(120_000, 6.0), (90_001, 4.5)]),
            Some(160_002)
        );
        assert_eq!(peak_bandwidth(&[(10, 0.0)]), None);
    }

    #[test]
    fn aac_is_recognised_in_mpeg_ts_and_nothing_else() {
        let mut ts = vec![0x47, 0x40, 0x00, 0x10]; // a PAT packet first
        ts.resize(188, 0xFF);
        ts.extend(ts_packet(&adts(1)));
        assert_eq!(aac_codec(&ts).as_deref(), Some("mp4a.40.2"));
        assert_eq!(
            aac_codec(&ts_packet(&adts(0))).as_deref(),
            Some("mp4a.40.1")
        );
        // MPEG-1 layer III (MP3) is not AAC.
        assert_eq!(aac_codec(&ts_packet(&[0xFF, 0xFB, 0x90, 0x64])), None);
        assert_eq!(aac_codec(b"not a transport stream"), None);
        assert_eq!(aac_codec(&[]), None);
    }

    fn inner(neighbors: &str) -> Arc<Inner> {
        inner_with_tracker(neighbors, "")
    }

    fn inner_with_tracker(neighbors: &str, tracker: &str) -> Arc<Inner> {
        let env: HashMap<String, String> = [
            ("PEER_ID", "peer-7"),
            ("NEIGHBORS", neighbors),
            ("TRACKER_URL", tracker),
            ("SIGNAL_URL", ""),
            ("TOPOLOGY_URL", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Arc::new(Inner::new(
            crate::Config::from_env_map(&env).expect("config"),
        ))
    }

    fn put(inner: &Inner, id: &str, data: Vec<u8>) {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        inner
            .cache
            .lock()
            .unwrap()
            .insert(
                id.to_string(),
                Arc::new(Segment::from_bytes(Bytes::from(data), sha)),
                0,
            )
            .expect("fits");
    }

    async fn master(inner: &Arc<Inner>, song: &str) -> (StatusCode, String) {
        let r = get_master(
            State(inner.clone()),
            ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))),
            Ok(Path(song.to_string())),
        )
        .await;
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn master_of_a_held_song_names_this_peer_then_live_neighbours() {
        let inner = inner("peer-3,peer-9,peer-12=10.0.0.12:8081");
        let seg0 = ts_packet(&adts(1)).repeat(400); // 75 200 bytes
        let seg1 = ts_packet(&adts(1)).repeat(100);
        let ids = ["tone-00000-a.ts", "tone-00001-b.ts"];
        put(
            &inner,
            "tone.m3u8",
            format!(
                "#EXTM3U\n#EXTINF:6.0,\n{}\n#EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
                ids[0], ids[1]
            )
            .into_bytes(),
        );
        // Only the first segment held: codec known, rate the fixed one.
        put(&inner, ids[0], seg0.clone());
        inner.suspect("peer-9");
        let (status, text) = master(&inner, "tone").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(
            text,
            render(
                "tone",
                &[
                    "http://peer-7:8080".into(),
                    "http://peer-3:8080".into(),
                    "http://10.0.0.12:8081".into()
                ],
                DEFAULT_BANDWIDTH,
                Some("mp4a.40.2")
            )
        );
        // Every segment held: the peak rate of the two.
        put(&inner, ids[1], seg1);
        let (_, text) = master(&inner, "tone").await;
        let peak = (seg0.len() as u64 * 8).div_ceil(6);
        assert!(
            text.contains(&format!("BANDWIDTH={peak},CODECS=\"mp4a.40.2\"")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn master_of_an_unknown_or_bad_song_is_refused() {
        // A tracker that knows no holder of anything.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tracker = format!("http://{}", l.local_addr().unwrap());
        let app = axum::Router::new().fallback(|| async { StatusCode::NOT_FOUND });
        tokio::spawn(async move { axum::serve(l, app).await });
        let inner = inner_with_tracker("peer-3", &tracker);
        let (status, text) = master(&inner, "nosuchsong").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
        assert!(text.contains("no song \\\"nosuchsong\\\""), "{text}");
        let (status, _) = master(&inner, "../etc").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
