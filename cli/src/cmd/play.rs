//! `meshctl play <song> --peer <name>`: an unmodified ffmpeg plays the song
//! through a peer behind a recording proxy that fails over to the peer's
//! mesh neighbours; one row per request, with the peer that answered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use super::{Format, Global};
use meshctl::songs::{http_client, play, running_peers, tables};

/// Play a song through a peer with an unmodified ffmpeg behind a recording
/// proxy, and show where each segment came from (cache, peer, edge), over
/// how many hops, which peer answered, and how long it took. When the peer
/// fails, the proxy moves to its mesh neighbours, as a player with backup
/// streams does.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub song: String,
    /// The peer to play through; default the last running peer without an
    /// edge database (usually far from both edges).
    #[arg(long)]
    pub peer: Option<String>,
    /// After a failed request (refused, cut, timed out, 5xx) ask the
    /// peer's mesh neighbours, one after another, at once (the default).
    #[arg(long, overrides_with = "no_failover")]
    pub failover: bool,
    /// Every request goes to the one peer; its failures reach ffmpeg.
    #[arg(long, overrides_with = "failover")]
    pub no_failover: bool,
    /// Play the peer's master playlist (`/songs/<song>/master.m3u8`: the
    /// peer, then its live neighbours, as redundant streams) by its mesh
    /// address, through the proxy as ffmpeg's `http_proxy`.
    #[arg(long)]
    pub master: bool,
    /// ffmpeg reads at this many times real time (`-readrate`), like a
    /// listener; default: as fast as it can.
    #[arg(long, value_parser = super::bench::parse_speed)]
    pub speed: Option<f64>,
    /// Seconds for each request through the proxy, failovers included (one
    /// peer gets at most a third of it).
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
    let peers = running_peers(&d);
    let urls: BTreeMap<String, String> = peers
        .iter()
        .map(|p| (p.name.clone(), p.url.clone()))
        .collect();
    let fallbacks = if args.no_failover {
        BTreeMap::new()
    } else {
        let rt = meshctl::runtime::connect().await?;
        super::bench::fallbacks(&rt, &name, &peers).await?.0
    };
    let rediscover: play::Rediscover = {
        let name = name.clone();
        Arc::new(move || {
            let name = name.clone();
            Box::pin(async move {
                let d = super::discover(&name).await?;
                Ok(running_peers(&d)
                    .into_iter()
                    .map(|p| (p.name, p.url))
                    .collect())
            })
        })
    };
    // Each request as it is answered, for whoever watches.
    let on_fetch: play::OnFetch = Arc::new(|f: &play::Fetch| {
        let failed = if f.failed_attempts.is_empty() {
            String::new()
        } else {
            format!(
                "  after {} failover(s): {}",
                f.failovers,
                f.failed_attempts.join("; ")
            )
        };
        eprintln!(
            "{:>7.1} s  {} {} {} from {}{failed}",
            f.at_ms / 1000.0,
            if f.playlist { "playlist" } else { "segment" },
            f.id,
            f.status,
            f.peer.as_deref().unwrap_or("-"),
        );
    });
    let report = play::play_with(
        &play::PlayOptions {
            song: args.song.clone(),
            peer: peer.name.clone(),
            peer_url: peer.url.clone(),
            request_timeout: Duration::from_secs(args.request_timeout),
            timeout: Duration::from_secs(args.timeout),
        },
        &play::PlayExtras {
            urls,
            fallbacks,
            rediscover: Some(rediscover),
            master: args.master,
            speed: args.speed,
            on_fetch: Some(on_fetch),
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
