//! The deployment's secrets: the database password and `MESH_TOKEN`, kept
//! in its containers' env so that a second `up` reuses them.

use anyhow::bail;

use crate::labels::{Role, LABEL_COMPONENT, LABEL_ROLE};
use crate::plan::Config;
use crate::runtime::{Filter, Runtime};
use wire::contract::{env, hosts};

/// A password or token: 32 characters of [A-Za-z0-9].
pub fn generate_secret() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Fills in the database password and `MESH_TOKEN` when the config leaves
/// them empty: from the running deployment when it has them (so a second
/// `up` keeps them), else freshly generated. A password that differs from
/// the one the databases were initialised with is refused.
pub async fn resolve_secrets(rt: &impl Runtime, config: &mut Config) -> anyhow::Result<()> {
    let existing = rt
        .list_containers(&Filter::deployment(&config.name))
        .await?;
    let mut old_password = None;
    let mut old_token = None;
    for c in &existing {
        let role = c.label(LABEL_ROLE);
        let wants_password = role == Some(Role::Db.as_str()) && old_password.is_none();
        // Only the control services hold the secret; a peer holds a token
        // derived from it.
        let wants_token = role == Some(Role::Control.as_str())
            && c.label(LABEL_COMPONENT) != Some(hosts::REDIS)
            && old_token.is_none();
        if !(wants_password || wants_token) {
            continue;
        }
        let Some(details) = rt.inspect_container(&c.id).await? else {
            continue;
        };
        if wants_password {
            old_password = details.env.get(env::POSTGRES_PASSWORD).cloned();
        }
        if wants_token {
            old_token = Some(
                details
                    .env
                    .get(env::MESH_TOKEN)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    match (&old_password, config.postgres_password.is_empty()) {
        (Some(old), true) => config.postgres_password = old.clone(),
        (Some(old), false) if *old != config.postgres_password => bail!(
            "POSTGRES_PASSWORD differs from the one deployment {:?} was created with; its databases keep the old one (run `meshctl down --name {}` first to start over)",
            config.name,
            config.name
        ),
        (None, true) => config.postgres_password = generate_secret(),
        _ => {}
    }
    if config.token.is_empty() {
        config.token = old_token.unwrap_or_else(generate_secret);
    }
    Ok(())
}
