use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use meshctl::deploy::{self, UpOptions};
use meshctl::mesh_file;
use meshctl::plan::{self, settings::parse_label, Settings};
use serde::Serialize;

use super::Global;

/// Build the images, create the networks, start the databases, the control
/// plane and the peers with hard limits, and wait until every peer has
/// announced and the mesh is connected. Running it again converges.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mesh file (YAML) with any of these settings, links and per-peer
    /// overrides; flags and env override it.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// Containers created and started at once.
    #[arg(long, default_value_t = 8)]
    pub max_workers: usize,
    /// Seconds to wait for every peer to announce.
    #[arg(long, default_value_t = 300)]
    pub wait_timeout: u64,
    /// Return once everything started, without waiting for announces.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the resolved plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = UpFormat::Table)]
    pub format: UpFormat,
}

/// The settings of [`Settings`] that take a flag (and often an env
/// variable). Each id is the mesh file's key; a flag left unset is `None`
/// and leaves the file's value, and the "[default: …]" of its help is
/// appended from `Settings::default()` (see `cmd::command`).
#[derive(Debug, Default, clap::Args, Serialize)]
pub struct SettingsFlags {
    /// From the global `--name`.
    #[arg(skip)]
    pub name: Option<String>,
    /// Number of peers
    #[arg(long, env = "COUNT")]
    pub count: Option<usize>,
    /// Upper bound on --count
    #[arg(long, env = "MAX_COUNT")]
    pub max_count: Option<usize>,
    /// Peer name prefix (peer-1, peer-2, ...)
    #[arg(long, env = "PREFIX")]
    pub prefix: Option<String>,
    /// The mesh network
    #[arg(long, env = "PEER_NETWORK")]
    pub peer_network: Option<String>,
    /// Edge A's network
    #[arg(long, env = "EDGE1_NETWORK")]
    pub edge1_network: Option<String>,
    /// Edge B's network
    #[arg(long, env = "EDGE2_NETWORK")]
    pub edge2_network: Option<String>,
    /// The network of origin-db and both edge databases
    #[arg(long, env = "ORIGIN_NETWORK")]
    pub origin_network: Option<String>,
    /// Peers joined to edge A, comma-separated (unset: the first few)
    #[arg(long, env = "EDGE1_PEERS")]
    pub edge1_peers: Option<String>,
    /// Peers joined to edge B, comma-separated (unset: a few from the middle)
    #[arg(long, env = "EDGE2_PEERS")]
    pub edge2_peers: Option<String>,
    /// The peer image, built from mesh-agent
    #[arg(long, env = "IMAGE")]
    pub image: Option<String>,
    /// The control-plane image
    #[arg(long, env = "CONTROL_IMAGE")]
    pub control_image: Option<String>,
    /// Database name
    #[arg(long, env = "POSTGRES_DB")]
    pub postgres_db: Option<String>,
    /// Database user
    #[arg(long, env = "POSTGRES_USER")]
    pub postgres_user: Option<String>,
    /// Database password (unset: generated once per deployment, kept in its
    /// containers)
    #[arg(long, env = "POSTGRES_PASSWORD", hide_env_values = true)]
    #[serde(skip_serializing_if = "unset")]
    pub postgres_password: Option<String>,
    /// Bearer token for control-plane writes and peer ingest (unset:
    /// generated once per deployment)
    #[arg(long, env = "MESH_TOKEN", hide_env_values = true)]
    #[serde(skip_serializing_if = "unset")]
    pub token: Option<String>,
    /// Tracker URL as peers see it
    #[arg(long, env = "TRACKER_URL")]
    pub tracker_url: Option<String>,
    /// Signalling URL as peers see it
    #[arg(long, env = "SIGNAL_URL")]
    pub signal_url: Option<String>,
    /// Room of every peer not overridden in the mesh file
    #[arg(long, env = "PEER_ROOM")]
    pub peer_room: Option<String>,
    /// Region of every peer not overridden in the mesh file
    #[arg(long, env = "PEER_REGION")]
    pub peer_region: Option<String>,
    /// Round-trip time a peer reports, milliseconds
    #[arg(long, env = "PEER_RTT_MS")]
    pub peer_rtt_ms: Option<u32>,
    /// Cache entries per peer
    #[arg(long, env = "CACHE_CAPACITY")]
    pub cache_capacity: Option<u32>,
    /// Seconds between heartbeats
    #[arg(long = "heartbeat-interval", env = "HEARTBEAT_INTERVAL_SEC")]
    pub heartbeat_interval_sec: Option<u64>,
    /// Seconds without a heartbeat before the tracker drops a peer
    #[arg(long, env = "TRACKER_TTL_SECONDS")]
    pub tracker_ttl: Option<u64>,
    /// Hard memory limit per peer, no swap (15m = 15 MiB)
    #[arg(long, value_parser = plan::parse_memory)]
    pub peer_memory: Option<i64>,
    /// CPUs per peer, 0 for no limit
    #[arg(long)]
    pub peer_cpus: Option<f64>,
    /// Neighbors per peer in the generated mesh; 0 takes the file's links
    /// alone
    #[arg(long)]
    pub degree: Option<usize>,
    /// Seed of the generated mesh: the same seed gives the same mesh
    #[arg(long)]
    pub seed: Option<u64>,
    /// Extra label for every object, KEY=VALUE (repeatable); replaces the
    /// file's labels
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    #[serde(serialize_with = "as_map", skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<(String, String)>,
}

/// An empty secret is no secret: it leaves the file's, or `up` generates one.
fn unset(secret: &Option<String>) -> bool {
    secret.as_deref().is_none_or(str::is_empty)
}

fn as_map<S: serde::Serializer>(labels: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(labels.iter().map(|(k, v)| (k, v)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpFormat {
    Table,
    Json,
    /// A mesh file reproducing the plan (with --dry-run).
    Yaml,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let (text, source) = match &args.file {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (String::new(), "no mesh file".to_string()),
    };
    let flags = SettingsFlags {
        name: global.name.clone(),
        ..args.settings
    };
    let mut config = mesh_file::resolve(&text, &source, &flags)?;
    if args.dry_run {
        return dry_run(&config.masked(), args.format);
    }

    let docker = meshctl::runtime::connect().await?;
    deploy::resolve_secrets(&docker, &mut config).await?;
    let opts = UpOptions {
        config,
        max_workers: args.max_workers,
        wait_timeout: Duration::from_secs(args.wait_timeout),
        no_wait: args.no_wait,
    };
    let progress = meshctl::progress::Progress::new();
    let interrupt = async {
        // A failed signal handler must not look like Ctrl-C.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = deploy::up(&docker, &opts, &progress, interrupt).await?;
    progress.clear();
    match args.format {
        UpFormat::Json | UpFormat::Yaml => super::print_json(&report),
        UpFormat::Table => {
            print_summary(&report);
            Ok(())
        }
    }
}

/// Prints the plan of `settings` (its secrets masked) and changes nothing.
fn dry_run(settings: &Settings, format: UpFormat) -> anyhow::Result<()> {
    let plan = plan::plan(settings)?;
    match format {
        UpFormat::Yaml => {
            let file = mesh_file::reproducing(settings, &plan);
            print!("{}", mesh_file::to_yaml(&file)?);
            Ok(())
        }
        UpFormat::Json => super::print_json(&plan),
        UpFormat::Table => {
            let mut t = super::table(&["container", "role", "networks", "neighbors / env"]);
            for c in plan
                .databases
                .iter()
                .chain(&plan.control)
                .chain(&plan.peers)
            {
                let nets: Vec<&str> = c.networks.iter().map(|a| a.network.as_str()).collect();
                let detail = c
                    .env
                    .get(wire::contract::env::NEIGHBORS)
                    .cloned()
                    .unwrap_or_else(|| c.cmd.join(" "));
                t.add_row(vec![
                    c.name.clone(),
                    c.role.as_str().to_string(),
                    nets.join(", "),
                    detail,
                ]);
            }
            println!("{t}");
            for i in &plan.impairments {
                println!("impair {}", i.describe());
            }
            Ok(())
        }
    }
}

fn print_summary(r: &deploy::UpReport) {
    let mut t = super::table(&["deployment", "value"]);
    let actions: BTreeMap<String, usize> = r
        .actions
        .iter()
        .map(|(a, n)| (format!("{a:?}").to_lowercase(), *n))
        .collect();
    let actions: Vec<String> = actions.iter().map(|(a, n)| format!("{n} {a}")).collect();
    let e = &r.endpoints;
    let running = e.peers.iter().filter(|p| p.running).count();
    let mut rows: Vec<(String, String)> = vec![
        ("name".into(), r.deployment.clone()),
        ("peers".into(), format!("{running}/{} running", r.peers)),
        ("containers".into(), actions.join(", ")),
        ("networks".into(), r.networks.join(", ")),
    ];
    for (db, peers) in &r.edges {
        rows.push((format!("{db} peers"), peers.join(", ")));
    }
    if r.removed > 0 {
        rows.push(("removed peers".into(), r.removed.to_string()));
    }
    for (k, v) in [
        ("tracker", &e.tracker_url),
        ("topology", &e.topology_url),
        ("signalling", &e.signalling_url),
    ] {
        rows.push((k.into(), v.clone().unwrap_or_else(|| "-".into())));
    }
    rows.push((
        "origin-db".into(),
        e.origin_url
            .as_ref()
            .map(|u| u.replace(&e.postgres_password, "***"))
            .unwrap_or_else(|| "-".into()),
    ));
    rows.push(("started in".into(), format!("{:.1} s", r.started_secs)));
    if let Some(s) = r.ready_secs {
        rows.push((
            "ready in".into(),
            format!("{s:.1} s (all announced, graph connected)"),
        ));
    }
    for i in &r.impairments {
        rows.push((format!("shaped {}", i.target()), i.shaping.describe()));
    }
    for (k, v) in rows {
        t.add_row(vec![k, v]);
    }
    println!("{t}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each flag of [`SettingsFlags`] names a mesh file key: `resolve`
    /// refuses unknown keys, and the help's default is looked up by it.
    #[test]
    fn every_settings_flag_is_a_mesh_file_key() {
        use clap::Args as _;
        let cmd = SettingsFlags::augment_args(clap::Command::new("up"));
        let ids: Vec<&str> = cmd.get_arguments().map(|a| a.get_id().as_str()).collect();
        assert!(ids.len() > 20, "{ids:?}");
        for id in ids {
            assert!(Settings::keys().contains(&id), "--{id} is not a key of Settings");
        }
        let flags = SettingsFlags {
            name: Some("t1".into()),
            count: Some(3),
            postgres_password: Some(String::new()),
            labels: vec![("k".into(), "v".into())],
            ..Default::default()
        };
        let s = mesh_file::resolve("count: 5\npostgres_password: pw\n", "m.yaml", &flags).unwrap();
        assert_eq!((s.name.as_str(), s.count), ("t1", 3));
        assert_eq!(s.postgres_password, "pw", "an empty secret leaves the file's");
        assert_eq!(s.labels["k"], "v");
    }
}
