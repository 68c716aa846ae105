//! The `mesh-agent` binary's logs as `docker logs` shows them: stderr is a
//! pipe there, and the lines must come without ANSI colour codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use wire::contract::env;

/// How long the agent may take to write its first line.
const FIRST_LINE: Duration = Duration::from_secs(20);

#[test]
fn logs_to_a_pipe_are_plain_text() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh-agent"))
        .env_clear()
        .env(env::PEER_ID, "log-test")
        .env(env::PEER_ADDR, "127.0.0.1:0")
        // No control plane: the agent serves alone and logs that it does.
        .env(env::TRACKER_URL, "")
        .env(env::SIGNAL_URL, "")
        .env(env::TOPOLOGY_URL, "")
        .env(env::RUST_LOG, "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mesh-agent");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    // Reads until the pipe closes (the agent was killed), announcing each line.
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(());
        }
        all
    });
    let logged = rx.recv_timeout(FIRST_LINE);
    let _ = child.kill();
    let _ = child.wait();
    let all = reader.join().expect("stderr reader");
    assert!(
        logged.is_ok(),
        "mesh-agent wrote no line within {FIRST_LINE:?}"
    );
    assert!(!all.trim().is_empty(), "stderr is empty");
    assert!(
        !all.contains("\x1b["),
        "stderr to a pipe carries ANSI escape codes: {all:?}"
    );
}
