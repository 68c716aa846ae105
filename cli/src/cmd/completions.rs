use clap_complete::Shell;

use super::Global;

/// Print shell completions (bash, zsh, fish); the generated scripts are
/// kept in completions/.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    pub shell: Shell,
}

pub async fn run(args: Args, _global: &Global) -> anyhow::Result<()> {
    let mut cmd = super::command();
    clap_complete::generate(args.shell, &mut cmd, "meshctl", &mut std::io::stdout());
    Ok(())
}
