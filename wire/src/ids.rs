//! Peer ids, room names and segment ids.
//!
//! Segment ids published by `meshctl publish` are content-addressed: the id
//! carries the SHA-256 of the bytes, so every hop can check what it relays:
//!
//! ```text
//! <song>-<seq:05>-<sha256 hex>.ts      e.g. tone-00003-9f86d0…0a08.ts
//! <song>.m3u8                          the song's playlist (not addressed)
//! ```

/// Longest peer id, room or segment id accepted anywhere.
pub const MAX_ID_LEN: usize = 200;

/// Why an id was refused; the text is meant for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub String);

impl std::fmt::Display for InvalidId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidId {}

fn check(kind: &str, value: &str, extra: &[char]) -> Result<(), InvalidId> {
    if value.is_empty() {
        return Err(InvalidId(format!("{kind} must not be empty")));
    }
    if value.len() > MAX_ID_LEN {
        return Err(InvalidId(format!(
            "{kind} is {} bytes long, at most {MAX_ID_LEN} allowed",
            value.len()
        )));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || extra.contains(c)))
    {
        return Err(InvalidId(format!(
            "{kind} {value:?} contains {bad:?}; use letters, digits, '-' and '_'{}",
            if extra.is_empty() { "" } else { " and '.'" }
        )));
    }
    if value.starts_with('.') {
        return Err(InvalidId(format!(
            "{kind} {value:?} must not start with '.'"
        )));
    }
    Ok(())
}

/// A peer id such as `peer-17`: letters, digits, `-`, `_`, `.`.
pub fn validate_peer_id(id: &str) -> Result<(), InvalidId> {
    check("peer id", id, &['.'])
}

/// A signalling room or region name: same alphabet as peer ids.
pub fn validate_name(kind: &str, value: &str) -> Result<(), InvalidId> {
    check(kind, value, &['.'])
}

/// A song name: letters, digits, `-`, `_` (no dot, so ids stay unambiguous).
pub fn validate_song(song: &str) -> Result<(), InvalidId> {
    check("song", song, &[])
}

/// A segment id: letters, digits, `-`, `_`, `.`, not starting with a dot.
pub fn validate_segment_id(id: &str) -> Result<(), InvalidId> {
    check("segment id", id, &['.'])
}

/// The content-addressed id of segment `seq` of `song` with SHA-256 `sha_hex`.
pub fn segment_id(song: &str, seq: u32, sha_hex: &str) -> String {
    format!("{song}-{seq:05}-{sha_hex}.ts")
}

/// The id under which a song's playlist is stored and cached.
pub fn playlist_id(song: &str) -> String {
    format!("{song}.m3u8")
}

/// The SHA-256 (lowercase hex) a content-addressed segment id carries, if any.
pub fn sha256_of_id(id: &str) -> Option<&str> {
    let stem = id.strip_suffix(".ts")?;
    let (_, sha) = stem.rsplit_once('-')?;
    (sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn segment_ids_carry_their_hash() {
        let id = segment_id("tone", 3, SHA);
        assert_eq!(id, format!("tone-00003-{SHA}.ts"));
        assert_eq!(sha256_of_id(&id), Some(SHA));
        assert!(validate_segment_id(&id).is_ok());
        assert_eq!(sha256_of_id("tone.m3u8"), None);
        assert_eq!(sha256_of_id("tone-00003-abc.ts"), None);
        assert_eq!(sha256_of_id(&format!("x-{}.ts", SHA.to_uppercase())), None);
    }

    #[test]
    fn bad_ids_are_named() {
        assert!(validate_peer_id("peer-1").is_ok());
        let e = validate_peer_id("peer/1").unwrap_err();
        assert!(e.0.contains("'/'"), "{e}");
        assert!(validate_peer_id("").unwrap_err().0.contains("empty"));
        assert!(validate_peer_id(&"a".repeat(201)).is_err());
        assert!(validate_segment_id("../etc/passwd").is_err());
        assert!(validate_song("a.b").is_err());
        assert_eq!(playlist_id("tone"), "tone.m3u8");
    }
}
