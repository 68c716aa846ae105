//! The command line: the one place where subcommands are registered.
//!
//! Each subcommand is a module with `Args` (clap derive; its doc comment is
//! the command's help) and `pub async fn run(args: Args, global: &Global) ->
//! anyhow::Result<()>`. Registering one is one line in [`commands!`] below.
//!
//! [`command`] is the clap command every parse and the completions start
//! from: the derived one, with the "[default: …]" of each flag that sets a
//! mesh file key appended from `Settings::default()`.

use clap::{CommandFactory, FromArgMatches, ValueEnum};
use meshctl::plan::Settings;

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The deployment to act on: every object carries its name, and status,
    /// graph and down touch only their own
    #[arg(long, global = true, env = "MESHCTL_DEPLOYMENT")]
    pub name: Option<String>,
}

impl Global {
    /// The deployment name, `mesh` unless given.
    pub fn deployment(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| meshctl::plan::DEFAULT_DEPLOYMENT.to_string())
    }
}

/// Stand up, inspect, break and measure a peer-assisted HLS delivery mesh
/// on Docker.
#[derive(Debug, clap::Parser)]
#[command(name = "meshctl", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The command line, parsed: clap's errors, `--help` and `--version` exit.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The derived command, with the defaults of the settings in its help: the
/// global `--name` and every flag of `up` whose id is a mesh file key.
/// (`mut_args` and `mut_subcommands` keep the order of args and commands.)
pub fn command() -> clap::Command {
    let defaults = Settings::help_defaults();
    let with_default = |arg: clap::Arg| {
        let Some(value) = defaults.get(arg.get_id().as_str()) else {
            return arg;
        };
        let append = |h: &clap::builder::StyledStr| format!("{h} [default: {value}]");
        let help = arg.get_help().map(append);
        let long_help = arg.get_long_help().map(append);
        let arg = arg.help(help.unwrap_or_else(|| format!("[default: {value}]")));
        match long_help {
            Some(l) => arg.long_help(l),
            None => arg,
        }
    };
    Cli::command().mut_args(with_default).mut_subcommands(|c| {
        if c.get_name() == "up" {
            c.mut_args(with_default)
        } else {
            c
        }
    })
}

macro_rules! commands {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        // `up` has many flags; the enum is built once per run.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, clap::Subcommand)]
        pub enum Command {
            $($variant($module::Args),)*
        }

        impl Command {
            pub async fn run(self, global: &Global) -> anyhow::Result<()> {
                match self {
                    $(Command::$variant(args) => $module::run(args, global).await,)*
                }
            }
        }
    };
}

commands! {
    Up => up,
    Status => status,
    Graph => graph,
    Down => down,
    Logs => logs,
    Events => events,
    Image => image,
    Legacy => legacy,
    Publish => publish,
    Play => play,
    Stats => stats,
    Bench => bench,
    Netem => netem,
    Partition => partition,
    Isolate => isolate,
    Heal => heal,
    Completions => completions,
    Kill => kill,
    Stop => stop,
    Start => start,
    Pause => pause,
    Unpause => unpause,
    Restart => restart,
    Faults => faults,
    Churn => churn,
}

pub mod node_fault;

/// Output for people or for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Logs go to stderr (`RUST_LOG`, default warn), so stdout stays parseable.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table with the project's look.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

/// Connects to the engine and reads deployment `name` back (URLs, secrets).
pub async fn discover(name: &str) -> anyhow::Result<meshctl::context::Deployment> {
    let rt = meshctl::runtime::connect().await?;
    meshctl::context::discover(&rt, name).await
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
