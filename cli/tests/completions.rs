//! The completion scripts kept in completions/ are what `meshctl
//! completions` generates now: regenerate them with
//! `for s in bash zsh fish; do ./meshctl completions $s > completions/meshctl.$s; done`.

const MESHCTL: &str = env!("CARGO_BIN_EXE_meshctl");
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../completions");

#[test]
fn completions_are_current() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(MESHCTL)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let path = format!("{DIR}/meshctl.{shell}");
        let kept = std::fs::read(&path).unwrap_or_default();
        assert!(
            kept == out.stdout,
            "{path} is stale: regenerate with `meshctl completions {shell} > completions/meshctl.{shell}`"
        );
    }
}
