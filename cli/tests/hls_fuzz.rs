//! Property tests with arbitrary input for the HLS playlist parser and
//! rewriter (`meshctl publish` reads playlists from disk, the swarm reads
//! them from peers).
//!
//! Deterministic by default: a fixed seed, a bounded number of cases and no
//! failure files. Run more locally with proptest's own variables:
//!
//! ```text
//! PROPTEST_CASES=100000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p meshctl --test hls_fuzz
//! ```

use meshctl::songs::hls::{self, Entry, MAX_SEGMENT_SECONDS};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{contextualize_config, RngSeed};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 1024;
/// The seed unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x6d65_7368_6374_6c39;

fn config() -> ProptestConfig {
    contextualize_config(ProptestConfig {
        cases: CASES,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })
}

/// A line of a playlist as an attacker or a broken tool might write it.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("#EXTM3U".to_string()),
        Just("#EXT-X-ENDLIST".to_string()),
        Just("#EXT-X-KEY:METHOD=NONE".to_string()),
        Just("#EXT-X-KEY:METHOD=AES-128,URI=\"k\"".to_string()),
        Just("#EXT-X-STREAM-INF:BANDWIDTH=1".to_string()),
        Just("#EXT-X-MAP:URI=\"i.mp4\"".to_string()),
        Just("#EXT-X-BYTERANGE:100@0".to_string()),
        Just(String::new()),
        "#EXTINF:[0-9.eE+-]{0,8},?[ -~]{0,6}",
        "#EXTINF:(NaN|inf|-inf|infinity|1e308|1e309|-0|0x10|)[, ]?",
        "#[A-Z-]{0,12}:?[ -~]{0,8}",
        "[ -~]{0,16}",
        vec(any::<char>(), 0..16).prop_map(String::from_iter),
    ]
}

fn newline() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("\n"),
        Just("\r\n"),
        Just("\r"),
        Just("\n\n"),
        Just(" \n\t")
    ]
}

/// Lines and line breaks in any order.
fn playlist_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        vec((line(), newline()), 0..24).prop_map(|ls| {
            ls.into_iter()
                .flat_map(|(l, nl)| [l, nl.to_string()])
                .collect()
        }),
        vec(any::<char>(), 0..200).prop_map(String::from_iter),
    ]
}

/// Durations as tools write them: `6.016000`, `6`, `2.5`, and exact values
/// of up to a millisecond's precision, up to the longest segment accepted.
fn duration() -> impl Strategy<Value = (f64, String)> {
    let max_ms = (MAX_SEGMENT_SECONDS * 1000.0) as u64;
    prop_oneof![
        (0..=max_ms).prop_map(|ms| {
            let d = ms as f64 / 1000.0;
            (d, format!("{d:.6}"))
        }),
        (0..=max_ms).prop_map(|ms| {
            let d = ms as f64 / 1000.0;
            (d, format!("{d}"))
        }),
        (0u64..=MAX_SEGMENT_SECONDS as u64).prop_map(|s| (s as f64, s.to_string())),
    ]
}

/// A segment URI: not empty, not a tag, no surrounding whitespace.
fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        "seg[0-9]{5}\\.ts",
        "[a-zA-Z0-9_./][^\\s]{0,30}",
        "[a-z]{1,8}/[a-z0-9-]{1,12}\\.ts\\?v=[0-9]{1,3}#t",
    ]
}

/// Tags a media playlist may carry between its segments; none changes what
/// the parser returns.
fn harmless_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("#EXT-X-VERSION:3".to_string()),
        Just("#EXT-X-TARGETDURATION:6".to_string()),
        Just("#EXT-X-MEDIA-SEQUENCE:0".to_string()),
        Just("#EXT-X-PLAYLIST-TYPE:VOD".to_string()),
        Just("#EXT-X-DISCONTINUITY".to_string()),
        Just("#EXT-X-KEY:METHOD=NONE".to_string()),
        Just("#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z".to_string()),
        Just(String::new()),
        Just("   ".to_string()),
        "# [^\\r\\n]{0,20}",
    ]
}

/// One generated segment: its `#EXTINF` title, the tags between it and its
/// URI, and the tags after the URI.
type Seg = ((f64, String), String, Vec<String>, String, Vec<String>);

fn segment() -> impl Strategy<Value = Seg> {
    (
        duration(),
        "[^\\r\\n]{0,20}",
        vec(harmless_tag(), 0..2),
        uri(),
        vec(harmless_tag(), 0..3),
    )
}

/// A valid media playlist and the entries it names.
fn playlist() -> impl Strategy<Value = (String, Vec<Entry>, bool)> {
    (
        vec(harmless_tag(), 0..4),
        vec(segment(), 1..12),
        any::<bool>(),
        prop_oneof![Just("\n"), Just("\r\n")],
        any::<bool>(),
        "[ \\t]{0,2}",
    )
        .prop_map(|(head, segs, ended, nl, blank_first, pad)| {
            let mut lines: Vec<String> = Vec::new();
            if blank_first {
                lines.push(String::new());
            }
            lines.push(format!("{pad}#EXTM3U{pad}"));
            lines.extend(head);
            let mut entries = Vec::new();
            for ((d, text), title, between, uri, after) in segs {
                lines.push(format!("#EXTINF:{text},{title}"));
                lines.extend(between.into_iter().filter(|t| t.starts_with('#')));
                lines.push(format!("{pad}{uri}{pad}"));
                lines.extend(after);
                entries.push(Entry { uri, duration: d });
            }
            if ended {
                lines.push("#EXT-X-ENDLIST".to_string());
            }
            let mut text = lines.join(nl);
            text.push_str(nl);
            (text, entries, ended)
        })
}

fn sha_hex() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

/// What every playlist the parser accepts must look like.
fn check_entries(entries: &[Entry]) -> Result<(), TestCaseError> {
    prop_assert!(!entries.is_empty());
    let mut total_ms: i64 = 0;
    for e in entries {
        prop_assert!(!e.uri.is_empty() && !e.uri.starts_with('#'), "{:?}", e.uri);
        prop_assert_eq!(e.uri.trim(), e.uri.as_str());
        prop_assert!(!e.uri.contains('\n'));
        prop_assert!(
            e.duration.is_finite() && (0.0..=MAX_SEGMENT_SECONDS).contains(&e.duration),
            "{}",
            e.duration
        );
        // What `publish` stores: the song's length in milliseconds.
        let ms = (e.duration * 1000.0).round() as i64;
        total_ms = total_ms.checked_add(ms).ok_or_else(|| {
            TestCaseError::fail(format!("total milliseconds overflow at {}", e.duration))
        })?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any text: a list of sane entries or a reason, never a panic; what is
    /// accepted can be rewritten to content ids and read back.
    #[test]
    fn arbitrary_text_parses_to_sane_entries_or_a_reason(text in playlist_ish()) {
        match hls::parse_playlist(&text) {
            Ok(entries) => {
                check_entries(&entries)?;
                let hashes: Vec<String> =
                    (0..entries.len()).map(|i| format!("{:064x}", i + 1)).collect();
                let ids = hls::content_ids("fuzz", &hashes);
                let out = hls::rewrite_playlist(&text, &ids)
                    .map_err(|e| TestCaseError::fail(format!("rewrite refused {text:?}: {e}")))?;
                let again = hls::parse_playlist(&out)
                    .map_err(|e| TestCaseError::fail(format!("{out:?} does not parse: {e}")))?;
                prop_assert_eq!(again.iter().map(|e| &e.uri).collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
                prop_assert_eq!(
                    again.iter().map(|e| e.duration).collect::<Vec<_>>(),
                    entries.iter().map(|e| e.duration).collect::<Vec<_>>()
                );
                prop_assert!(hls::rewrite_playlist(&text, &ids[1..]).is_err());
            }
            Err(reason) => {
                prop_assert!(!reason.is_empty());
                prop_assert!(hls::rewrite_playlist(&text, &[]).is_err());
            }
        }
    }

    /// The rewriter never panics, whatever ids it is handed.
    #[test]
    fn rewrite_never_panics(text in playlist_ish(), ids in vec("[^\\n]{0,12}", 0..6)) {
        let _ = hls::rewrite_playlist(&text, &ids);
    }

    /// A generated media playlist gives back exactly the segments it names,
    /// whatever harmless tags, blank lines, padding and line endings
    /// surround them; rewriting it names the content ids instead and ends it.
    #[test]
    fn generated_playlists_give_back_their_entries((text, entries, ended) in playlist()) {
        let got = hls::parse_playlist(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&got, &entries, "{:?}", text);
        check_entries(&got)?;

        let hashes: Vec<String> = entries.iter().enumerate().map(|(i, _)| format!("{:064x}", i * 7 + 1)).collect();
        let ids = hls::content_ids("song-1", &hashes);
        let out = hls::rewrite_playlist(&text, &ids)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let again = hls::parse_playlist(&out)
            .map_err(|e| TestCaseError::fail(format!("{out:?}: {e}")))?;
        prop_assert_eq!(again.iter().map(|e| e.uri.clone()).collect::<Vec<_>>(), ids);
        prop_assert_eq!(
            again.iter().map(|e| e.duration).collect::<Vec<_>>(),
            entries.iter().map(|e| e.duration).collect::<Vec<_>>()
        );
        prop_assert!(out.starts_with("#EXTM3U\n"), "{:?}", out);
        prop_assert!(out.ends_with("#EXT-X-ENDLIST\n"), "{:?}", out);
        if !ended {
            prop_assert_eq!(out.matches("#EXT-X-ENDLIST").count(), 1);
        }
        for uri in entries.iter().map(|e| &e.uri) {
            prop_assert!(!out.lines().any(|l| l == uri), "{uri:?} left in {out:?}");
        }
    }

    /// A playlist that names a segment twice as long as the longest allowed,
    /// or not a number at all, is refused with a reason naming the duration.
    #[test]
    fn absurd_durations_are_refused(
        (text, _, _) in playlist(),
        bad in prop_oneof![
            Just("1e300".to_string()),
            Just("1e309".to_string()),
            Just("NaN".to_string()),
            Just("inf".to_string()),
            Just("-1".to_string()),
            Just("".to_string()),
            (MAX_SEGMENT_SECONDS as u64 + 1..u64::MAX).prop_map(|s| s.to_string()),
        ],
    ) {
        let text = text.replacen("#EXTINF:", &format!("#EXTINF:{bad},x\n#EXT-X-IGNORED:"), 1);
        let err = hls::parse_playlist(&text).err().unwrap_or_default();
        prop_assert!(err.contains("duration"), "{text:?}: {err:?}");
    }

    /// Content ids name their song, position and hash, and are valid
    /// segment ids that carry the hash back out.
    #[test]
    fn content_ids_carry_song_seq_and_hash(
        song in "[a-zA-Z0-9_-]{1,40}",
        hashes in vec(sha_hex(), 0..20),
    ) {
        let ids = hls::content_ids(&song, &hashes);
        prop_assert_eq!(ids.len(), hashes.len());
        for (seq, (id, sha)) in ids.iter().zip(&hashes).enumerate() {
            prop_assert_eq!(id, &wire::ids::segment_id(&song, seq as u32, sha));
            prop_assert_eq!(wire::ids::sha256_of_id(id), Some(sha.as_str()));
            prop_assert_eq!(wire::agent::song_of_id(id), Some(song.as_str()));
            prop_assert!(wire::ids::validate_segment_id(id).is_ok() || id.len() > wire::ids::MAX_ID_LEN);
        }
    }
}

/// Two segments of 1e300 s each: `publish` turned each into i64::MAX
/// milliseconds and their sum overflowed (a panic in a debug build, a
/// negative song length stored in a release build).
#[test]
fn huge_extinf_is_refused_before_it_can_overflow_a_songs_length() {
    let text = "#EXTM3U\n#EXTINF:1e300,\na.ts\n#EXTINF:1e300,\nb.ts\n#EXT-X-ENDLIST\n";
    let err = hls::parse_playlist(text).expect_err("a 1e300 s segment was accepted");
    assert!(err.contains("duration"), "{err}");
    let day = format!("#EXTM3U\n#EXTINF:{MAX_SEGMENT_SECONDS},\na.ts\n");
    assert_eq!(hls::parse_playlist(&day).map(|e| e.len()), Ok(1));
}
