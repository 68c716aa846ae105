//! Logical replication origin → two edges, in containers of the PostgreSQL
//! base image on a test network, set up by `meshctl::db`.

mod images_support;

use std::time::Duration;

use anyhow::Context;
use images_support::{
    create_network, host_port, logs, password, run, run_id, runtime, Guard, Spec, DOCKER_LOCK,
};
use meshctl::offline::{ensure, BaseImage};
use meshctl::progress::Step;

const USER: &str = "mesh";
const DB: &str = "songs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_rows_reach_both_edges() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let rt = runtime().await?;
    let image = ensure(&rt, BaseImage::Postgres, &Step::hidden()).await?;
    let run_id = run_id("repl");
    let guard = Guard::new(&run_id);
    let net = format!("{run_id}-origin-net");
    create_network(&rt, &guard, &net).await?;

    let secret = password();
    let mut clients = Vec::new();
    for role in ["origin-db", "edge-db-a", "edge-db-b"] {
        let name = format!("{run_id}-{role}");
        run(
            &rt,
            &guard,
            Spec {
                name: &name,
                image: &image,
                env: vec![
                    format!("POSTGRES_PASSWORD={secret}"),
                    format!("POSTGRES_USER={USER}"),
                    format!("POSTGRES_DB={DB}"),
                ],
                cmd: Some(
                    [
                        "postgres",
                        "-c",
                        "wal_level=logical",
                        "-c",
                        "max_wal_senders=10",
                        "-c",
                        "max_replication_slots=10",
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
                publish: vec![5432],
                network: Some((&net, vec![role.to_string()])),
            },
        )
        .await?;
        let port = host_port(&rt, &name, 5432).await?;
        let url = format!("postgres://{USER}:{secret}@127.0.0.1:{port}/{DB}");
        match meshctl::db::connect(&url, Duration::from_secs(120)).await {
            Ok(c) => clients.push(c),
            Err(e) => panic!("{role}: {e:#}\nlog:\n{}", logs(&rt, &name).await),
        }
    }
    let [origin, edge_a, edge_b] = &clients[..] else {
        unreachable!("three clients");
    };

    // As seen from the edges: origin by its alias on the shared network.
    let conninfo = format!("host=origin-db port=5432 user={USER} password={secret} dbname={DB}");
    // Twice each: setup is idempotent.
    for _ in 0..2 {
        meshctl::db::init_origin(origin).await?;
        meshctl::db::init_edge(edge_a, "edge_a", &conninfo).await?;
        meshctl::db::init_edge(edge_b, "edge_b", &conninfo).await?;
    }

    origin
        .execute(
            "INSERT INTO songs (song, playlist_id, segment_count, duration_ms, total_bytes) \
             VALUES ('tone', 'tone.m3u8', 1, 6000, 5)",
            &[],
        )
        .await?;
    origin
        .execute(
            "INSERT INTO segments (id, song, seq, sha256, data) VALUES ('tone-00000-abc.ts', 'tone', 0, 'abc', $1)",
            &[&b"bytes".to_vec()],
        )
        .await?;
    meshctl::db::wait_replicated(origin, &[edge_a, edge_b], Duration::from_secs(60))
        .await
        .context("wait for replication")?;

    for (edge, sub) in [(edge_a, "edge_a"), (edge_b, "edge_b")] {
        let row = edge
            .query_one(
                "SELECT data FROM segments WHERE id = 'tone-00000-abc.ts'",
                &[],
            )
            .await
            .with_context(|| format!("read the segment on {sub}"))?;
        assert_eq!(row.get::<_, Vec<u8>>(0), b"bytes");
        // Inserted on origin only: the edge got it by replication.
        let subs = meshctl::db::subscriptions(edge).await?;
        assert_eq!(subs.len(), 1, "{subs:?}");
        assert_eq!(subs[0].name, sub);
        assert!(subs[0].enabled);
        assert_eq!(subs[0].publications, vec!["songs_pub".to_string()]);
        assert_eq!(subs[0].tables, 2, "{subs:?}");
        eprintln!("{sub}: {:?}", subs[0]);
    }

    // The origin holds one slot per edge.
    let slots: Vec<String> = origin
        .query(
            "SELECT slot_name::text FROM pg_replication_slots ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(slots, vec!["edge_a".to_string(), "edge_b".to_string()]);

    // edge-b comes back empty while origin keeps its slot (the edge container
    // was recreated): subscribe_edge drops the stale slot and subscribes again.
    edge_b
        .batch_execute(
            "ALTER SUBSCRIPTION edge_b DISABLE; \
             ALTER SUBSCRIPTION edge_b SET (slot_name = NONE)",
        )
        .await?;
    // The walsender of the old subscription may still hold the slot now;
    // subscribe_edge has to cope with either.
    edge_b
        .batch_execute("DROP SUBSCRIPTION edge_b; TRUNCATE songs, segments")
        .await?;
    assert!(meshctl::db::subscriptions(edge_b).await?.is_empty());
    origin
        .execute(
            "INSERT INTO songs (song, playlist_id, segment_count, duration_ms, total_bytes) \
             VALUES ('later', 'later.m3u8', 0, 0, 0)",
            &[],
        )
        .await?;
    meshctl::db::subscribe_edge(origin, edge_b, "edge_b", &conninfo).await?;
    meshctl::db::subscribe_edge(origin, edge_a, "edge_a", &conninfo).await?;
    meshctl::db::wait_replicated(origin, &[edge_a, edge_b], Duration::from_secs(60))
        .await
        .context("wait for replication after edge-b was recreated")?;
    let songs: i64 = edge_b
        .query_one("SELECT count(*) FROM songs", &[])
        .await?
        .get(0);
    assert_eq!(songs, 2);
    Ok(())
}
