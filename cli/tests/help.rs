//! Every command says what it does in `meshctl --help`, and every command
//! and subcommand answers `--help` (no Docker needed).

use std::process::Command;

fn meshctl(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .output()
        .expect("run meshctl");
    assert!(out.status.success(), "meshctl {args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_command_has_a_summary_and_help() {
    let help = meshctl(&["--help"]);
    let commands: Vec<(String, String)> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let l = l.trim();
            let (name, summary) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (name.to_string(), summary.trim().to_string())
        })
        .collect();
    assert!(commands.len() >= 12, "{help}");
    for (name, summary) in &commands {
        assert!(!summary.is_empty(), "`{name}` has no summary in:\n{help}");
        if name != "help" {
            let own = meshctl(&[name, "--help"]);
            assert!(own.contains("Usage: meshctl"), "{own}");
        }
    }
}
