//! How PostgreSQL credentials are written into a connection: the `postgres://`
//! URL (userinfo percent-encoded) and libpq's `key=value` conninfo (values
//! quoted). Pure; the plan, the database setup and discovery share it so
//! that a password with spaces, quotes or `@` survives every path.
//!
//! ```text
//! postgres://mesh:a%20b%40c@127.0.0.1:5555/songs
//! host='origin-db' port='5432' user='mesh' password='it\'s' dbname='songs'
//! ```

/// Percent-encodes a URL userinfo part (user or password) or a path part
/// (the database name): everything but RFC 3986's unreserved characters.
pub fn userinfo(s: &str) -> String {
    wire::url::encode_component(s)
}

/// `postgres://user:pw@host:port/db`, every part encoded.
pub fn postgres_url_at(host: &str, port: u16, user: &str, password: &str, db: &str) -> String {
    format!(
        "postgres://{}:{}@{host}:{port}/{}",
        userinfo(user),
        userinfo(password),
        userinfo(db)
    )
}

/// `postgres://user:pw@127.0.0.1:port/db`: a published port as the host
/// reaches it.
pub fn postgres_url(user: &str, password: &str, port: u16, db: &str) -> String {
    postgres_url_at("127.0.0.1", port, user, password, db)
}

/// Quotes a libpq conninfo value: `'...'` with `\` and `'` escaped by a
/// backslash, so any value (empty, with spaces or quotes) reads back as is.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_escapes_userinfo() {
        assert_eq!(
            postgres_url("mesh", "a b@c", 5555, "songs"),
            "postgres://mesh:a%20b%40c@127.0.0.1:5555/songs"
        );
        assert_eq!(
            postgres_url_at("edge-db-a", 5432, "me:sh", "p/w", "so ngs"),
            "postgres://me%3Ash:p%2Fw@edge-db-a:5432/so%20ngs"
        );
        assert_eq!(userinfo("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn quotes_libpq_values() {
        assert_eq!(quote("mesh"), "'mesh'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote(r"it's a \ pw"), r"'it\'s a \\ pw'");
        // tokio-postgres reads it back as written.
        let cfg: tokio_postgres::Config = format!("host=h password={}", quote(r"it's a \ pw"))
            .parse()
            .unwrap();
        assert_eq!(cfg.get_password(), Some(&br"it's a \ pw"[..]));
    }
}
