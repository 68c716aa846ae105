//! `meshctl publish <audio file | HLS folder> --song <name>`: segment, store
//! on origin-db, wait until both edge databases hold it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use super::{Format, Global};
use meshctl::songs::store;

/// Publish a song: cut audio (or an HLS folder) into content-addressed
/// AAC/MPEG-TS segments, store them in origin-db in one transaction, and
/// wait until both edge databases hold them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An audio file (anything ffmpeg reads) or a folder holding one HLS
    /// media playlist with MPEG-TS segments (or that playlist itself).
    pub source: PathBuf,
    /// The song's name: letters, digits, '-' and '_'.
    #[arg(long)]
    pub song: String,
    /// Seconds to wait for the databases and for replication to both edges.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// `table` (lines for people) or `json`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let name = global.deployment();
    let d = super::discover(&name).await?;
    let Some(origin) = d.origin_url.clone() else {
        bail!("origin-db of deployment {:?} is not running", name);
    };
    if d.edge_urls.is_empty() {
        bail!("no edge database of deployment {:?} is running", name);
    }
    let json = args.format == Format::Json;
    let say = move |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let report = store::publish(
        &args.source,
        &args.song,
        &origin,
        &d.edge_urls,
        Duration::from_secs(args.timeout),
        &say,
    )
    .await
    .with_context(|| format!("publish {}", args.source.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(p) = d.peers.iter().find(|p| p.running && !p.url.is_empty()) {
        println!(
            "play it: meshctl play {} --peer {}   or   ffmpeg -i {}/songs/{}/playlist.m3u8 -f null -",
            args.song, p.name, p.url, args.song
        );
    }
    Ok(())
}
