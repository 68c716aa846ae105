//! `meshctl play <song> --peer <name>`: an unmodified ffmpeg plays the song
//! through one peer behind a recording proxy; one row per segment.

use std::time::Duration;

use anyhow::bail;

use super::{Format, Global};
use meshctl::songs::{http_client, play, tables};

/// Play a song through a peer with an unmodified ffmpeg behind a recording
/// proxy, and show where each segment came from (cache, peer, edge), over
/// how many hops, and how long it took.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub song: String,
    /// The peer to play through; default the last running peer without an
    /// edge database (usually far from both edges).
    #[arg(long)]
    pub peer: Option<String>,
    /// Seconds for each request through the peer.
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    /// Seconds for the whole play.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let name = global.deployment();
    let d = super::discover(&name).await?;
    let running = || d.peers.iter().filter(|p| p.running && !p.url.is_empty());
    let peer = match &args.peer {
        Some(peer) => match d.peers.iter().find(|p| &p.name == peer) {
            Some(p) if p.running && !p.url.is_empty() => p,
            Some(_) => bail!("peer {peer} is not running"),
            None => bail!("deployment {name:?} has no peer {peer}"),
        },
        None => match running()
            .rfind(|p| p.edge.is_none())
            .or_else(|| running().next_back())
        {
            Some(p) => p,
            None => bail!("deployment {:?} has no running peer", name),
        },
    };
    let report = play::play(
        &play::PlayOptions {
            song: args.song.clone(),
            peer: peer.name.clone(),
            peer_url: peer.url.clone(),
            request_timeout: Duration::from_secs(args.request_timeout),
            timeout: Duration::from_secs(args.timeout),
        },
        http_client()?,
    )
    .await?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", tables::play(&report));
    }
    if !report.clean() {
        bail!(
            "the play was not clean: {} failed requests, ffmpeg exit {:?}",
            report.totals.failed,
            report.ffmpeg_exit
        );
    }
    Ok(())
}
