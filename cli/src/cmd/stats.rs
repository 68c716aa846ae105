//! `meshctl stats`: every peer's counters added up per song, with what the
//! origin shipped to the edges and the peer-to-peer ratio beside its ceiling.

use std::time::Duration;

use anyhow::Context;

use super::{Format, Global};
use meshctl::songs::{http_client, stats, store, tables};

/// Show per song what the mesh carried: cache hits, relays, edge database
/// reads, origin to edges, and the peer-to-peer ratio against its (N-1)/N
/// ceiling.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this song (the total still covers every song).
    #[arg(long)]
    pub song: Option<String>,
    /// Seconds for each peer's answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let name = global.deployment();
    let d = super::discover(&name).await?;
    let peers = meshctl::songs::running_peers(&d);
    let timeout = Duration::from_secs(args.timeout);
    let collected = stats::collect(&peers, &http_client()?, timeout).await;
    let mut answered = Vec::new();
    let mut unreachable = Vec::new();
    for (name, r) in collected {
        match r {
            Ok(s) => answered.push(s),
            Err(e) => unreachable.push((name, e)),
        }
    }
    for p in d.peers.iter().filter(|p| !p.running) {
        unreachable.push((p.name.clone(), "not running".into()));
    }
    let sizes = match &d.origin_url {
        Some(url) => {
            let origin = meshctl::db::connect(url, timeout)
                .await
                .context("connect to origin-db")?;
            Some(store::song_sizes(&origin).await?)
        }
        None => None,
    };
    let mut report = stats::summarize(&answered, sizes.as_ref(), d.edge_urls.len());
    report.unreachable = unreachable;
    if let Some(song) = &args.song {
        report.songs.retain(|s| &s.song == song);
    }
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", tables::stats(&report));
    }
    Ok(())
}
