//! What `kill`, `stop`, `start`, `pause`, `unpause` and `restart` share:
//! targets and selectors, resolving all of them before acting on any, and
//! one row per action.

use std::time::Duration;

use meshctl::context;
use meshctl::faults::node::{self, Action, Outcome};
use meshctl::faults::select::{self, Amount, Elsewhere, Except, Selection};
use meshctl::labels::Role;
use meshctl::runtime::Runtime;

use super::{Format, Global};

/// Targets and selectors.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// Peers (`peer-7`), control services (`redis`, `tracker`, `topology`,
    /// `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`)
    /// of the deployment
    pub targets: Vec<String>,
    /// Also pick this many at random: a count (`3`) or a share (`25%`)
    #[arg(long, value_name = "N|P%", value_parser = parse_amount)]
    pub random: Option<Amount>,
    /// What --random picks from
    #[arg(long, value_enum, default_value_t = RoleArg::Peer)]
    pub role: RoleArg,
    /// Seed of --random: the same seed on the same deployment picks the same
    /// targets (printed when not given)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Leave out of --random: `edge-peers` (peers reading an edge database)
    /// or a target; repeatable
    #[arg(long, value_name = "edge-peers|TARGET")]
    pub except: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The roles a fault may target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Peer,
    Control,
    Db,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Peer => Role::Peer,
            RoleArg::Control => Role::Control,
            RoleArg::Db => Role::Db,
        }
    }
}

fn parse_amount(s: &str) -> Result<Amount, String> {
    Amount::parse("--random", s).map_err(|e| format!("{e:#}"))
}

impl NodeArgs {
    /// The selection, and whether its seed was drawn here.
    pub fn selection(&self) -> (Selection, bool) {
        let drawn = self.seed.is_none() && self.random.is_some();
        let sel = Selection {
            targets: self.targets.clone(),
            random: self.random,
            role: self.random.map(|_| self.role.into()),
            seed: self.seed.unwrap_or_else(select::fresh_seed),
            except: self.except.iter().map(|e| Except::parse(e)).collect(),
        };
        (sel, drawn)
    }
}

/// Resolves every target of `sel` in `deployment`, asking the engine about
/// names the deployment lacks. Nothing is changed.
pub async fn resolve(
    rt: &impl Runtime,
    deployment: &str,
    sel: &Selection,
) -> anyhow::Result<Vec<select::Target>> {
    let containers = context::list_containers(rt, deployment).await?;
    if containers.is_empty() {
        anyhow::bail!("no deployment named {deployment:?} (see `meshctl status`)");
    }
    let mut elsewhere = std::collections::BTreeMap::new();
    for name in &sel.targets {
        if !containers.iter().any(|c| {
            select::Target::of(c).is_some_and(|t| t.component == *name || t.container == *name)
        }) {
            let found = rt.inspect_container(name).await?;
            let found = found.map(|d| meshctl::runtime::Container {
                id: d.id,
                name: d.name,
                labels: d.labels,
                state: d.state,
                status: String::new(),
                ports: d.ports,
            });
            elsewhere.insert(name.clone(), Elsewhere::of(found.as_ref()));
        }
    }
    let lookup = |n: &str| elsewhere.get(n).cloned().unwrap_or(Elsewhere::Nowhere);
    select::resolve(deployment, &containers, sel, &lookup)
}

#[derive(serde::Serialize)]
struct Report<'a> {
    deployment: &'a str,
    action: Action,
    /// The seed of --random, when it picked.
    seed: Option<u64>,
    outcomes: &'a [Outcome],
}

pub async fn run(
    args: NodeArgs,
    action: Action,
    grace: Duration,
    global: &Global,
) -> anyhow::Result<()> {
    let rt = meshctl::runtime::connect().await?;
    let deployment = global.deployment();
    let (sel, drawn) = args.selection();
    let targets = resolve(&rt, &deployment, &sel).await?;
    if drawn {
        eprintln!(
            "--random picked with --seed {} (give it to pick the same again)",
            sel.seed
        );
    }
    let outcomes = node::apply(&rt, &targets, action, grace, &|_| {}).await;
    match args.format {
        Format::Json => super::print_json(&Report {
            deployment: &deployment,
            action,
            seed: sel.random.map(|_| sel.seed),
            outcomes: &outcomes,
        })?,
        Format::Table => {
            let mut t = super::table(&["target", "container", "action", "result"]);
            for o in &outcomes {
                t.add_row(vec![
                    o.target.clone(),
                    o.container.clone(),
                    action.as_str().to_string(),
                    o.result.clone(),
                ]);
            }
            println!("{t}");
            let changed = outcomes.iter().filter(|o| o.changed).count();
            let failed = outcomes.iter().filter(|o| !o.ok).count();
            println!(
                "{}: {changed} changed, {} already so, {failed} failed",
                action.as_str(),
                outcomes.len() - changed - failed
            );
        }
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| format!("{}: {}", o.target, o.result))
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join("; ")
        );
    }
    Ok(())
}
