//! Connection limits of the real `mesh-agent` binary: idle and half-sent
//! connections cannot lock a client out, even with few descriptors.

#[tokio::test]
async fn a_peer_answers_beside_300_idle_connections_with_256_descriptors() {
    let port = testkit::free_port();
    // Nothing listens on port 9: the control plane is unreachable, which
    // the agent tolerates; only its own HTTP side is under test.
    let _p = testkit::spawn_with_descriptors(
        env!("CARGO_BIN_EXE_mesh-agent"),
        256,
        &[
            ("PEER_ID", "peer-1".into()),
            ("PEER_ADDR", format!("127.0.0.1:{port}")),
            ("TRACKER_URL", "http://127.0.0.1:9".into()),
            ("TOPOLOGY_URL", "http://127.0.0.1:9".into()),
            ("SIGNAL_URL", "ws://127.0.0.1:9/ws".into()),
        ],
    );
    testkit::answers_beside_idle_connections(port).await;
}
