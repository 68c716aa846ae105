use meshctl::status::{self, NodeFault, StatusOptions, StatusReport};

use super::{mib, Format, Global};

/// Show the control plane (health, live peers, rooms), the databases
/// (replication) and every peer (state, memory against its limit, CPU,
/// heartbeat age, cached segments, degree, edge), each with its active
/// faults (paused, stopped, killed, shaped, partitioned, isolated).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also list the deployment's networks and their members (the spec's
    /// `docker network inspect`).
    #[arg(long)]
    pub networks: bool,
    /// Skip Docker stats (memory, CPU): faster on large meshes.
    #[arg(long)]
    pub no_stats: bool,
    /// Containers inspected at once (stats samples are all asked at once:
    /// the Engine answers them together at its next tick)
    #[arg(long, default_value_t = 16)]
    pub max_workers: usize,
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let docker = meshctl::runtime::connect().await?;
    let report = status::status(
        &docker,
        &StatusOptions {
            name: global.deployment(),
            stats: !args.no_stats,
            networks: args.networks,
            max_workers: args.max_workers,
        },
    )
    .await?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    match args.format {
        Format::Json => super::print_json(&report),
        Format::Table => {
            print_tables(&report);
            Ok(())
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// `paused,shaped`: each kind once, `-` when none.
fn faults(f: &[NodeFault]) -> String {
    let mut kinds: Vec<&str> = f.iter().map(|f| f.kind.as_str()).collect();
    kinds.dedup();
    if kinds.is_empty() {
        "-".into()
    } else {
        kinds.join(",")
    }
}

fn print_tables(r: &StatusReport) {
    if r.control.is_empty() && r.databases.is_empty() && r.peers.is_empty() {
        eprintln!("deployment {:?} has no containers", r.deployment);
    }
    let mut t = super::table(&["service", "container", "state", "health", "faults", "address"]);
    for s in &r.control {
        t.add_row(vec![
            s.name.clone(),
            s.container.clone(),
            s.state.clone(),
            if s.healthy { "ok" } else { "down" }.into(),
            faults(&s.faults),
            opt(s.url.clone()),
        ]);
    }
    println!("{t}");
    let rooms: Vec<String> = r.rooms.iter().map(|(k, n)| format!("{k} ({n})")).collect();
    println!(
        "live peers: {}   rooms: {}",
        opt(r.live_peers),
        if rooms.is_empty() {
            "-".into()
        } else {
            rooms.join(", ")
        }
    );
    let mut t = super::table(&[
        "database",
        "container",
        "state",
        "faults",
        "address",
        "replication",
    ]);
    for d in &r.databases {
        let repl = if let Some(e) = &d.error {
            format!("error: {e}")
        } else if d.subscriptions.is_empty() {
            if d.name == meshctl::plan::ORIGIN_DB {
                "publishes songs_pub".into()
            } else {
                "-".into()
            }
        } else {
            d.subscriptions
                .iter()
                .map(|s| {
                    format!(
                        "{} {} {}/{} tables",
                        s.name,
                        if s.worker_running {
                            "streaming"
                        } else {
                            "stopped"
                        },
                        s.tables_ready,
                        s.tables
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        t.add_row(vec![
            d.name.clone(),
            d.container.clone(),
            d.state.clone(),
            faults(&d.faults),
            opt(d.address.clone()),
            repl,
        ]);
    }
    println!("{t}");
    let mut t = super::table(&[
        "peer",
        "state",
        "faults",
        "memory / limit",
        "cpu",
        "heartbeat",
        "segments",
        "degree",
        "edge",
        "address",
    ]);
    for p in &r.peers {
        let mut state = p.state.clone();
        if p.oom_killed {
            state.push_str(" (OOM)");
        }
        if p.restarts > 0 {
            state.push_str(&format!(" ({} restarts)", p.restarts));
        }
        t.add_row(vec![
            p.name.clone(),
            state,
            faults(&p.faults),
            format!(
                "{} / {}",
                p.memory.map_or("-".into(), mib),
                p.memory_limit.map_or("-".into(), |l| mib(l.max(0) as u64))
            ),
            p.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
            p.heartbeat_age_secs
                .map_or("-".into(), |s| format!("{s:.0} s ago")),
            opt(p.segments),
            opt(p.degree),
            opt(p.edge.clone()),
            opt(p.url.clone()),
        ]);
    }
    println!("{t}");
    if let Some(nets) = &r.networks {
        let mut t = super::table(&["network", "members"]);
        for n in nets {
            t.add_row(vec![
                format!("{} ({})", n.name, n.members.len()),
                n.members.join(" "),
            ]);
        }
        println!("{t}");
    }
}
