//! `meshctl`: stand up, inspect and tear down the peer mesh on Docker.
//! Everything it does lives in the `meshctl` library; `cmd` turns flags into
//! the library's options, one module per subcommand.

mod cmd;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // `meshctl status | head` should end quietly like any Unix tool, not
    // panic on a closed stdout: restore the default SIGPIPE action that the
    // Rust runtime replaces with "ignore".
    // SAFETY: signal(2) with SIG_DFL touches only the process-wide disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = cmd::parse();
    cmd::init_tracing();
    match cli.command.run(&cli.global).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
