//! Connection limits of the real service binaries: idle and half-sent
//! connections cannot lock a client out, even when the process has few
//! descriptors. Each service runs as its binary, under `ulimit -n 256`.

#[tokio::test]
async fn topology_answers_beside_300_idle_connections_with_256_descriptors() {
    let port = testkit::free_port();
    let _p = testkit::spawn_with_descriptors(
        env!("CARGO_BIN_EXE_topology"),
        256,
        &[("TOPOLOGY_ADDR", format!("127.0.0.1:{port}"))],
    );
    testkit::answers_beside_idle_connections(port).await;
}

#[tokio::test]
async fn tracker_answers_beside_300_idle_connections_with_256_descriptors() {
    let redis = testkit::RedisServer::start().await;
    let port = testkit::free_port();
    let _p = testkit::spawn_with_descriptors(
        env!("CARGO_BIN_EXE_tracker"),
        256,
        &[
            ("TRACKER_ADDR", format!("127.0.0.1:{port}")),
            (
                "REDIS_ADDR",
                redis.url().trim_start_matches("redis://").to_string(),
            ),
            ("TOPOLOGY_URL", String::new()),
        ],
    );
    testkit::answers_beside_idle_connections(port).await;
}

#[tokio::test]
async fn signalling_answers_beside_300_idle_connections_with_256_descriptors() {
    let port = testkit::free_port();
    let _p = testkit::spawn_with_descriptors(
        env!("CARGO_BIN_EXE_signalling"),
        256,
        &[("SIGNAL_ADDR", format!("127.0.0.1:{port}"))],
    );
    testkit::answers_beside_idle_connections(port).await;
}
