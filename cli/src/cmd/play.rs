//! `meshctl play <song> --peer <name>`: an unmodified ffmpeg plays the song
//! through one peer behind a recording proxy; one row per segment.

use std::time::Duration;

use anyhow::bail;

use crate::context::{connect_docker, discover};
use crate::songs::{http_client, play, tables};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub song: String,
    /// The peer to play through; default the last running peer without an
    /// edge database (usually far from both edges).
    #[arg(long)]
    pub peer: Option<String>,
    #[arg(long, default_value = "mesh", env = "MESH_NAME")]
    pub name: String,
    /// Seconds for each request through the peer.
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    /// Seconds for the whole play.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let docker = connect_docker().await?;
    let d = discover(&docker, &args.name).await?;
    let running = || d.peers.iter().filter(|p| p.running && !p.url.is_empty());
    let peer = match &args.peer {
        Some(name) => match d.peers.iter().find(|p| &p.name == name) {
            Some(p) if p.running && !p.url.is_empty() => p,
            Some(_) => bail!("peer {name} is not running"),
            None => bail!("deployment {:?} has no peer {name}", args.name),
        },
        None => match running()
            .filter(|p| p.edge.is_none())
            .last()
            .or_else(|| running().last())
        {
            Some(p) => p,
            None => bail!("deployment {:?} has no running peer", args.name),
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
    if args.format == "json" {
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
