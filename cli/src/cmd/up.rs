use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::ValueEnum;
use meshctl::deploy::{self, UpOptions};
use meshctl::mesh_file::{self, MeshFile};
use meshctl::plan;

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
    /// Number of peers [default: 160]
    #[arg(long, env = "COUNT")]
    pub count: Option<usize>,
    /// Upper bound on --count.
    #[arg(long, env = "MAX_COUNT", default_value_t = 160)]
    pub max_count: usize,
    /// Peer name prefix (peer-1, peer-2, ...) [default: peer]
    #[arg(long, env = "PREFIX")]
    pub prefix: Option<String>,
    /// The mesh network [default: micro-net]
    #[arg(long, env = "PEER_NETWORK")]
    pub peer_network: Option<String>,
    /// Edge A's network [default: edge-a-net]
    #[arg(long, env = "EDGE1_NETWORK")]
    pub edge1_network: Option<String>,
    /// Edge B's network [default: edge-b-net]
    #[arg(long, env = "EDGE2_NETWORK")]
    pub edge2_network: Option<String>,
    /// The network of origin-db and both edge databases [default: origin-net]
    #[arg(long, env = "ORIGIN_NETWORK")]
    pub origin_network: Option<String>,
    /// Peers joined to edge A, comma-separated [default: the first few]
    #[arg(long, env = "EDGE1_PEERS")]
    pub edge1_peers: Option<String>,
    /// Peers joined to edge B, comma-separated [default: a few from the middle]
    #[arg(long, env = "EDGE2_PEERS")]
    pub edge2_peers: Option<String>,
    /// The peer image, built from mesh-agent [default: peer-node:latest]
    #[arg(long, env = "IMAGE")]
    pub image: Option<String>,
    /// The control-plane image [default: meshctl-control:latest]
    #[arg(long, env = "CONTROL_IMAGE")]
    pub control_image: Option<String>,
    /// [default: songs]
    #[arg(long, env = "POSTGRES_DB")]
    pub postgres_db: Option<String>,
    /// [default: mesh]
    #[arg(long, env = "POSTGRES_USER")]
    pub postgres_user: Option<String>,
    /// [default: generated once per deployment, kept in its containers]
    #[arg(long, env = "POSTGRES_PASSWORD", hide_env_values = true)]
    pub postgres_password: Option<String>,
    /// Bearer token for control-plane writes and peer ingest [default:
    /// generated once per deployment]
    #[arg(long, env = "MESH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Tracker URL as peers see it [default: http://tracker:7070]
    #[arg(long, env = "TRACKER_URL")]
    pub tracker_url: Option<String>,
    /// Signalling URL as peers see it [default: ws://signalling:7080/ws]
    #[arg(long, env = "SIGNAL_URL")]
    pub signal_url: Option<String>,
    /// [default: default]
    #[arg(long, env = "PEER_ROOM")]
    pub peer_room: Option<String>,
    /// [default: default]
    #[arg(long, env = "PEER_REGION")]
    pub peer_region: Option<String>,
    /// [default: 50]
    #[arg(long, env = "PEER_RTT_MS")]
    pub peer_rtt_ms: Option<u32>,
    /// Cache entries per peer [default: 64]
    #[arg(long, env = "CACHE_CAPACITY")]
    pub cache_capacity: Option<u32>,
    /// Seconds between heartbeats [default: 30]
    #[arg(long = "heartbeat-interval", env = "HEARTBEAT_INTERVAL_SEC")]
    pub heartbeat_interval: Option<u64>,
    /// Seconds without a heartbeat before the tracker drops a peer [default: 120]
    #[arg(long, env = "TRACKER_TTL_SECONDS")]
    pub tracker_ttl: Option<u64>,
    /// Hard memory limit per peer, no swap (15m = 15 MiB) [default: 15m]
    #[arg(long)]
    pub peer_memory: Option<String>,
    /// CPUs per peer, 0 for no limit [default: 0.25]
    #[arg(long)]
    pub peer_cpus: Option<f64>,
    /// Neighbors per peer in the generated mesh; 0 takes the file's links
    /// alone [default: 4]
    #[arg(long)]
    pub degree: Option<usize>,
    /// Seed of the generated mesh: the same seed gives the same mesh [default: 1]
    #[arg(long)]
    pub seed: Option<u64>,
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
    /// Extra label for every object, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    #[arg(long, value_enum, default_value_t = UpFormat::Table)]
    pub format: UpFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpFormat {
    Table,
    Json,
    /// A mesh file reproducing the plan (with --dry-run).
    Yaml,
}

impl Args {
    fn settings(&self, global: &Global) -> MeshFile {
        MeshFile {
            name: global.name.clone(),
            count: self.count,
            prefix: self.prefix.clone(),
            peer_network: self.peer_network.clone(),
            edge1_network: self.edge1_network.clone(),
            edge2_network: self.edge2_network.clone(),
            origin_network: self.origin_network.clone(),
            edge1_peers: self.edge1_peers.as_deref().map(plan::parse_list),
            edge2_peers: self.edge2_peers.as_deref().map(plan::parse_list),
            image: self.image.clone(),
            control_image: self.control_image.clone(),
            postgres_db: self.postgres_db.clone(),
            postgres_user: self.postgres_user.clone(),
            postgres_password: self.postgres_password.clone().filter(|p| !p.is_empty()),
            tracker_url: self.tracker_url.clone(),
            signal_url: self.signal_url.clone(),
            peer_room: self.peer_room.clone(),
            peer_region: self.peer_region.clone(),
            peer_rtt_ms: self.peer_rtt_ms,
            cache_capacity: self.cache_capacity,
            heartbeat_interval_sec: self.heartbeat_interval,
            peer_memory: self.peer_memory.clone(),
            peer_cpus: self.peer_cpus,
            tracker_ttl: self.tracker_ttl,
            degree: self.degree,
            seed: self.seed,
            links: None,
            peers: None,
        }
    }
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let file = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            mesh_file::parse(&text, &path.display().to_string())?
        }
        None => MeshFile::default(),
    };
    let mut config = args.settings(global).over(file).resolve()?;
    if config.count > args.max_count {
        tracing::warn!(
            "count {} clamped to MAX_COUNT={}",
            config.count,
            args.max_count
        );
        config.count = args.max_count;
    }
    for l in &args.labels {
        let Some((k, v)) = l.split_once('=') else {
            bail!("--label {l:?}: expected KEY=VALUE");
        };
        config.extra_labels.insert(k.to_string(), v.to_string());
    }
    if let Some(t) = &args.token {
        config.token = t.clone();
    }

    if args.dry_run {
        if config.postgres_password.is_empty() {
            config.postgres_password = "<generated>".into();
        }
        if config.token.is_empty() {
            config.token = "<generated>".into();
        }
        let plan = plan::plan(&config)?;
        return match args.format {
            UpFormat::Yaml => {
                print!(
                    "{}",
                    mesh_file::to_yaml(&MeshFile::reproducing(&config, &plan.neighbors))?
                );
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
                        .get("NEIGHBORS")
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
                Ok(())
            }
        };
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
    for (k, v) in rows {
        t.add_row(vec![k, v]);
    }
    println!("{t}");
}
