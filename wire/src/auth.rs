//! Who is asking: the deployment secret and the per-peer tokens derived
//! from it.
//!
//! `meshctl up` generates one secret per deployment. The control plane
//! (tracker, topology, signalling) is given the secret itself; each peer is
//! given only its own token, `<peer-id>:<hex HMAC-SHA256(secret, peer-id)>`,
//! in the same `MESH_TOKEN` variable. A peer's token proves that peer's name
//! and nothing more: it can announce, heartbeat and open a signalling socket
//! as itself, never as another peer. The secret (meshctl, the services among
//! themselves) may act for anyone.
//!
//! A token is checked from the request's headers before any body is read.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Who a checked `Authorization: Bearer` header belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No token is configured: every request is accepted, anonymous.
    Open,
    /// The deployment secret: meshctl or another service.
    Admin,
    /// A peer's own token.
    Peer(String),
}

impl Identity {
    /// Whether this identity may act as peer `peer_id` (announce it, open
    /// its socket, claim its edges).
    pub fn may_act_as(&self, peer_id: &str) -> bool {
        match self {
            Identity::Open | Identity::Admin => true,
            Identity::Peer(p) => p == peer_id,
        }
    }

    /// Whether this is the secret or an open deployment (writes that only
    /// meshctl and the services make, such as topology's).
    pub fn is_admin(&self) -> bool {
        matches!(self, Identity::Open | Identity::Admin)
    }
}

/// Why a request was refused; the message names what to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Missing,
    Wrong,
}

impl Refused {
    pub fn message(self) -> &'static str {
        match self {
            Refused::Missing => "missing token: send Authorization: Bearer <MESH_TOKEN>",
            Refused::Wrong => "wrong token in Authorization: Bearer",
        }
    }
}

fn mac(secret: &str, peer_id: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(b"mesh-peer:");
    m.update(peer_id.as_bytes());
    m
}

/// The token of peer `peer_id` in a deployment whose secret is `secret`.
pub fn peer_token(secret: &str, peer_id: &str) -> String {
    let tag = mac(secret, peer_id).finalize().into_bytes();
    format!("{peer_id}:{}", hex::encode(tag))
}

/// The bearer value of an `Authorization` header: exactly `Bearer <token>`,
/// one space, no padding, nothing after.
pub fn bearer(header: &str) -> Option<&str> {
    let token = header.strip_prefix("Bearer ")?;
    (!token.is_empty() && !token.bytes().any(|b| b.is_ascii_whitespace())).then_some(token)
}

/// Checks an `Authorization` header value (or its absence) against the
/// deployment `secret`. With no secret configured every request is
/// [`Identity::Open`].
pub fn check(secret: Option<&str>, header: Option<&str>) -> Result<Identity, Refused> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Ok(Identity::Open);
    };
    let token = header.ok_or(Refused::Missing)?;
    let token = bearer(token).ok_or(Refused::Wrong)?;
    if constant_time_eq(token.as_bytes(), secret.as_bytes()) {
        return Ok(Identity::Admin);
    }
    let (peer, tag) = token.rsplit_once(':').ok_or(Refused::Wrong)?;
    let tag = hex::decode(tag).map_err(|_| Refused::Wrong)?;
    if crate::ids::validate_peer_id(peer).is_err() {
        return Err(Refused::Wrong);
    }
    mac(secret, peer)
        .verify_slice(&tag)
        .map(|_| Identity::Peer(peer.to_string()))
        .map_err(|_| Refused::Wrong)
}

/// Checks that `header` carries exactly `token` (a peer checking its own
/// token on ingest).
pub fn check_exact(token: Option<&str>, header: Option<&str>) -> Result<(), Refused> {
    let Some(want) = token.filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let got = bearer(header.ok_or(Refused::Missing)?).ok_or(Refused::Wrong)?;
    if constant_time_eq(got.as_bytes(), want.as_bytes()) {
        Ok(())
    } else {
        Err(Refused::Wrong)
    }
}

/// Compares without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret";

    #[test]
    fn the_secret_is_admin_and_a_peer_token_names_its_peer() {
        let h = |t: &str| format!("Bearer {t}");
        assert_eq!(check(Some(SECRET), Some(&h(SECRET))), Ok(Identity::Admin));
        let t = peer_token(SECRET, "peer-7");
        assert!(t.starts_with("peer-7:"), "{t}");
        let id = check(Some(SECRET), Some(&h(&t))).expect("peer token");
        assert_eq!(id, Identity::Peer("peer-7".into()));
        assert!(id.may_act_as("peer-7"));
        assert!(!id.may_act_as("peer-8"));
        assert!(!id.is_admin());
    }

    #[test]
    fn a_token_cannot_be_renamed_or_forged() {
        let t = peer_token(SECRET, "peer-7");
        let tag = t.split_once(':').map(|(_, tag)| tag).unwrap_or_default();
        let renamed = format!("Bearer peer-8:{tag}");
        assert_eq!(check(Some(SECRET), Some(&renamed)), Err(Refused::Wrong));
        let other_secret = format!("Bearer {}", peer_token("other", "peer-7"));
        assert_eq!(
            check(Some(SECRET), Some(&other_secret)),
            Err(Refused::Wrong)
        );
        assert_eq!(
            check(Some(SECRET), Some("Bearer peer-7:zz")),
            Err(Refused::Wrong)
        );
        assert_eq!(check(Some(SECRET), None), Err(Refused::Missing));
    }

    #[test]
    fn bearer_takes_exactly_one_space_and_no_padding() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        for bad in [
            "Bearer  abc",
            "Bearer abc ",
            "bearer abc",
            "Bearer ",
            "abc",
            "Bearer a b",
        ] {
            assert_eq!(bearer(bad), None, "{bad:?}");
        }
        assert_eq!(
            check(Some(SECRET), Some(&format!("Bearer  {SECRET}  "))),
            Err(Refused::Wrong)
        );
    }

    #[test]
    fn no_secret_means_open() {
        assert_eq!(check(None, None), Ok(Identity::Open));
        assert_eq!(check(Some(""), Some("junk")), Ok(Identity::Open));
        assert_eq!(check_exact(None, None), Ok(()));
        assert_eq!(check_exact(Some("t"), Some("Bearer t")), Ok(()));
        assert_eq!(
            check_exact(Some("t"), Some("Bearer u")),
            Err(Refused::Wrong)
        );
    }
}
