//! Base images (PostgreSQL, Redis, BusyBox, tools): local, pulled, or built offline from Debian packages.
//!
//! [`ensure`] answers which image reference to run for a [`BaseImage`], in this
//! order:
//!
//! 1. the image named by the override variable (`POSTGRES_IMAGE`,
//!    `REDIS_IMAGE`, `BUSYBOX_IMAGE`) when the daemon has it;
//! 2. the official image (`postgres:15`, `redis:7`, `busybox:stable-musl`)
//!    when the daemon has it;
//! 3. the official image pulled, with a short timeout (no registry answers on
//!    machines without one, and the attempt fails at once);
//! 4. our offline equivalent (`meshctl/postgres:15`, `meshctl/redis:7`,
//!    `meshctl/busybox:stable-musl`): reused when the daemon has it with the
//!    current recipe (label `meshctl.recipe`), built otherwise; an existing
//!    one from another recipe is still used when this host cannot build.
//!
//! The PostgreSQL and Redis equivalents are Debian root filesystems made by
//! `mmdebstrap` from the host's own apt sources (no mirror is named here),
//! with our entrypoints from `templates/` uploaded into them (`debian.rs`),
//! then imported through the Engine API (`POST /images/create?fromSrc=-`)
//! with the image config given as Dockerfile instructions (`changes`). The
//! BusyBox one is a tar assembled here from the host's static `/bin/busybox`
//! and imported the same way (`busybox.rs`). Every offline image carries
//! `meshctl.image=<kind>`.
//!
//! The tools image (`meshctl/tools:1`: Debian's iproute2 and iptables, for
//! the network faults' helper containers) has no official counterpart: only
//! steps 1 and 4 apply to it.
//!
//! This module holds the policy; the Engine is reached only through
//! [`crate::runtime::Images`].

mod busybox;
mod debian;

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::progress::Step;
use crate::runtime::{Images, Labels};

/// Label on every offline image: its kind (`postgres`, `redis`, `busybox`).
pub const LABEL_IMAGE: &str = "meshctl.image";
/// Label on every offline image: a hash of the recipe it was built from, so a
/// changed recipe rebuilds and an unchanged one is reused.
pub const LABEL_RECIPE: &str = "meshctl.recipe";

/// Time for a pull attempt before falling back to the offline build. Without
/// a registry the daemon answers within milliseconds (DNS failure).
const PULL_TIMEOUT: Duration = Duration::from_secs(20);

/// `PATH` in the offline images, as in the official ones.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A base image that elsewhere comes from a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseImage {
    Postgres,
    Redis,
    Busybox,
    /// `tc` and `iptables` for helper containers (no official image).
    Tools,
}

impl BaseImage {
    /// The kind, as written in the `meshctl.image` label.
    pub fn kind(self) -> &'static str {
        match self {
            BaseImage::Postgres => "postgres",
            BaseImage::Redis => "redis",
            BaseImage::Busybox => "busybox",
            BaseImage::Tools => "tools",
        }
    }

    /// The environment variable naming an image to use instead.
    pub fn env_var(self) -> &'static str {
        match self {
            BaseImage::Postgres => "POSTGRES_IMAGE",
            BaseImage::Redis => "REDIS_IMAGE",
            BaseImage::Busybox => "BUSYBOX_IMAGE",
            BaseImage::Tools => "TOOLS_IMAGE",
        }
    }

    /// The official image whose contract the offline one follows (the
    /// tools image has none: its own name).
    pub fn official(self) -> &'static str {
        match self {
            BaseImage::Postgres => "postgres:15",
            BaseImage::Redis => "redis:7",
            BaseImage::Busybox => "busybox:stable-musl",
            BaseImage::Tools => "meshctl/tools:1",
        }
    }

    /// An official image exists, to use or pull before building our own.
    fn has_official(self) -> bool {
        self != BaseImage::Tools
    }

    /// The image meshctl builds when the official one is absent and cannot be pulled.
    pub fn offline(self) -> &'static str {
        match self {
            BaseImage::Postgres => "meshctl/postgres:15",
            BaseImage::Redis => "meshctl/redis:7",
            BaseImage::Busybox => "meshctl/busybox:stable-musl",
            BaseImage::Tools => "meshctl/tools:1",
        }
    }

    /// How the offline equivalent is made.
    fn recipe(self) -> Recipe {
        match self {
            BaseImage::Postgres => Recipe::Debian(debian::postgres()),
            BaseImage::Redis => Recipe::Debian(debian::redis()),
            BaseImage::Busybox => Recipe::Busybox,
            BaseImage::Tools => Recipe::Debian(debian::tools()),
        }
    }
}

/// How an offline image is made.
enum Recipe {
    /// A Debian root filesystem made by mmdebstrap.
    Debian(debian::DebianRecipe),
    /// The host's static busybox in an otherwise empty root.
    Busybox,
}

/// Returns the image reference to run. Order: env override (POSTGRES_IMAGE /
/// REDIS_IMAGE / BUSYBOX_IMAGE) if present locally; else the official image
/// (postgres:15, redis:7, busybox:stable-musl) if present locally; else a
/// pull attempt with a short timeout (fails fast where no registry answers);
/// else our offline image (meshctl/postgres:15, meshctl/redis:7,
/// meshctl/busybox:stable-musl), reused if already present with the current
/// recipe, built otherwise. `progress` shows what happens.
pub async fn ensure(rt: &impl Images, which: BaseImage, progress: &Step) -> anyhow::Result<String> {
    let kind = which.kind();
    if let Ok(wanted) = std::env::var(which.env_var()) {
        let wanted = wanted.trim().to_string();
        if !wanted.is_empty() {
            if image_labels(rt, &wanted).await?.is_some() {
                progress.set_message(format!("{kind}: {wanted} (from {})", which.env_var()));
                return Ok(wanted);
            }
            tracing::warn!(
                "{}={wanted} is not on the daemon; falling back to {}",
                which.env_var(),
                which.official()
            );
        }
    }

    if which.has_official() {
        let official = which.official();
        if image_labels(rt, official).await?.is_some() {
            progress.set_message(format!("{kind}: {official} (local)"));
            return Ok(official.to_string());
        }

        progress.set_message(format!("{kind}: pulling {official}"));
        match pull(rt, official, progress).await {
            Ok(()) if image_labels(rt, official).await?.is_some() => {
                progress.set_message(format!("{kind}: {official} (pulled)"));
                return Ok(official.to_string());
            }
            Ok(()) => tracing::info!("pull of {official} ended without the image"),
            Err(e) => tracing::info!("pull of {official} failed, building offline: {e:#}"),
        }
    }

    let offline = which.offline();
    let recipe_id = recipe_hash(which).await?;
    let stale = match rt.inspect_image(offline).await? {
        Some(image) => {
            if image.labels.get(LABEL_RECIPE) == Some(&recipe_id) {
                progress.set_message(format!("{kind}: {offline} (cached offline image)"));
                return Ok(offline.to_string());
            }
            tracing::info!("{offline} was built from another recipe; rebuilding");
            Some(image.id)
        }
        None => None,
    };

    progress.set_message(format!("{kind}: building {offline} offline"));
    let built = match which.recipe() {
        Recipe::Debian(recipe) => debian::build(rt, which, recipe, &recipe_id, progress).await,
        Recipe::Busybox => busybox::build(rt, &recipe_id, progress).await,
    }
    .with_context(|| format!("build offline image {offline}"));
    match (built, stale) {
        (Ok(()), Some(old)) => remove_stale(rt, &old).await,
        (Ok(()), None) => {}
        // An older build (or one loaded from another machine with `image
        // load`) still serves where this host cannot build.
        (Err(e), Some(_)) => {
            tracing::warn!("{e:#}; using the existing {offline}");
            progress.set_message(format!("{kind}: {offline} (existing offline image)"));
            return Ok(offline.to_string());
        }
        (Err(e), None) => return Err(e),
    }
    progress.set_message(format!("{kind}: {offline} (built offline)"));
    Ok(offline.to_string())
}

/// What the daemon holds of `which`, asked the way [`ensure`] asks, but
/// without pulling or building anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// The reference [`ensure`] would answer at once.
    Current(String),
    /// Only our offline image, built from another recipe: [`ensure`] would
    /// rebuild it.
    Stale,
    Absent,
}

/// Which form of `which` the daemon holds, if any (see [`Local`]).
pub async fn local(rt: &impl Images, which: BaseImage) -> anyhow::Result<Local> {
    if let Ok(wanted) = std::env::var(which.env_var()) {
        let wanted = wanted.trim();
        if !wanted.is_empty() && image_labels(rt, wanted).await?.is_some() {
            return Ok(Local::Current(wanted.to_string()));
        }
    }
    if which.has_official() && image_labels(rt, which.official()).await?.is_some() {
        return Ok(Local::Current(which.official().to_string()));
    }
    let offline = which.offline();
    Ok(match image_labels(rt, offline).await? {
        Some(labels) if labels.get(LABEL_RECIPE) == Some(&recipe_hash(which).await?) => {
            Local::Current(offline.to_string())
        }
        Some(_) => Local::Stale,
        None => Local::Absent,
    })
}

/// The labels a current offline build of `which` carries (for fakes).
#[cfg(test)]
pub(crate) async fn current_labels(which: BaseImage) -> Labels {
    let mut labels = Labels::new();
    let recipe = recipe_hash(which).await.expect("recipe hash");
    labels.insert(LABEL_RECIPE.to_string(), recipe);
    labels
}

/// The image's labels when the daemon has it, `None` when it does not.
async fn image_labels(rt: &impl Images, reference: &str) -> anyhow::Result<Option<Labels>> {
    Ok(rt.inspect_image(reference).await?.map(|image| image.labels))
}

/// A previous build of one of our offline images, untagged by the new one:
/// removed unless a container still uses it (then it stays, harmless).
async fn remove_stale(rt: &impl Images, id: &str) {
    match rt.remove_image(id).await {
        Ok(()) => tracing::info!("removed the previous build {id}"),
        Err(e) => tracing::info!("kept the previous build {id}: {e}"),
    }
}

async fn pull(rt: &impl Images, reference: &str, progress: &Step) -> anyhow::Result<()> {
    rt.pull_image(reference, PULL_TIMEOUT, &|status: &str| {
        progress.set_message(format!("pulling {reference}: {status}"));
    })
    .await?;
    Ok(())
}

/// A short hash of everything an offline image is made from: its kind, then
/// what its recipe feeds in. Images already built carry it (`meshctl.recipe`),
/// so the inputs and their order stay as they are unless a rebuild is wanted.
async fn recipe_hash(which: BaseImage) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(which.kind());
    match which.recipe() {
        Recipe::Debian(recipe) => recipe.hash_into(&mut h),
        Recipe::Busybox => busybox::hash_into(&mut h).await?,
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

/// The `LABEL` instruction every offline image gets.
fn labels_change(which: BaseImage, recipe_id: &str) -> String {
    format!(
        "LABEL {LABEL_IMAGE}={} {LABEL_RECIPE}={recipe_id}",
        which.kind()
    )
}

/// Imports a root filesystem tar, streamed as `body`, as `which`'s offline
/// image, with `changes` and the labels as its config.
async fn import(
    rt: &impl Images,
    which: BaseImage,
    recipe_id: &str,
    body: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    mut changes: Vec<String>,
    progress: &Step,
) -> anyhow::Result<()> {
    let reference = which.offline();
    changes.push(labels_change(which, recipe_id));
    rt.import_rootfs(reference, &changes, body.boxed(), &|status: &str| {
        progress.set_message(format!("{reference}: import: {status}"));
        progress.tick();
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(BaseImage::Postgres.offline(), "meshctl/postgres:15");
        assert_eq!(BaseImage::Redis.env_var(), "REDIS_IMAGE");
        assert_eq!(BaseImage::Busybox.official(), "busybox:stable-musl");
    }
}
