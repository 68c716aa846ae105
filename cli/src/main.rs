//! `meshctl`: stand up, inspect and tear down the peer mesh on Docker.
//! Everything it does lives in the `meshctl` library; `cmd` turns flags into
//! the library's options, one module per subcommand.

mod cmd;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    cmd::init_tracing();
    match cli.command.run(&cli.global).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
