//! Percent-encoding of one URL component, for the query strings of the
//! contract's `GET` endpoints (and any other URL part built from a value).
//!
//! ```text
//! /path?from=peer-1&to=peer-3             ids pass unchanged
//! /segments/s1?region=a%20b%26c           any other byte is %XX
//! ```

/// Percent-encodes `v` as one URL component: every byte but RFC 3986's
/// unreserved ones (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so no value can
/// change the shape of the URL it is put into.
pub fn encode_component(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_bytes_pass_and_others_are_escaped() {
        assert_eq!(encode_component("peer-1.a_b~"), "peer-1.a_b~");
        assert_eq!(encode_component("a b&c"), "a%20b%26c");
        assert_eq!(encode_component("é/?#"), "%C3%A9%2F%3F%23");
    }
}
