//! The offline base images against the real Docker daemon: built (or reused
//! from the daemon's cache) and honouring the official images' contracts.

mod images_support;

use std::time::{Duration, Instant};

use anyhow::Context;
use images_support::{
    host_port, logs, password, run, run_id, runtime, wait_exit, Guard, Spec, DOCKER_LOCK,
};
use meshctl::offline::{ensure, BaseImage, LABEL_IMAGE};
use meshctl::progress::Step;
use meshctl::runtime::{DockerRuntime, Images};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The image's size in MB, for the log only: the runtime's `ImageInfo` has
/// no size, so the docker CLI is asked (best effort).
fn size_mb(image: &str) -> String {
    std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}}", image])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or_else(|| "?".to_string(), |b| (b / 1_000_000).to_string())
}

/// Makes sure the image exists and carries its kind label, and prints how long it took.
async fn ensured(rt: &DockerRuntime, which: BaseImage) -> anyhow::Result<String> {
    let started = Instant::now();
    let image = ensure(rt, which, &Step::hidden()).await?;
    let inspected = rt
        .inspect_image(&image)
        .await?
        .with_context(|| format!("{image} missing right after ensure"))?;
    eprintln!(
        "{image}: ready in {:.1?}, {} MB",
        started.elapsed(),
        size_mb(&image)
    );
    if image == which.offline() {
        let labels = inspected.labels;
        assert_eq!(
            labels.get(LABEL_IMAGE).map(String::as_str),
            Some(which.kind())
        );
    }
    Ok(image)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_image_checks_passwords() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let rt = runtime().await?;
    let image = ensured(&rt, BaseImage::Postgres).await?;
    // A second call reuses what the first left on the daemon.
    let again = Instant::now();
    assert_eq!(
        ensure(&rt, BaseImage::Postgres, &Step::hidden()).await?,
        image
    );
    assert!(
        again.elapsed() < Duration::from_secs(20),
        "the image was rebuilt"
    );

    let run_id = run_id("pg");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-db");
    let secret = password();
    run(
        &rt,
        &guard,
        Spec {
            name: &name,
            image: &image,
            env: vec![
                format!("POSTGRES_PASSWORD={secret}"),
                "POSTGRES_USER=mesh".into(),
                "POSTGRES_DB=songs".into(),
            ],
            cmd: Some(
                [
                    "postgres",
                    "-c",
                    "wal_level=logical",
                    "-c",
                    "max_wal_senders=10",
                ]
                .map(String::from)
                .to_vec(),
            ),
            publish: vec![5432],
            network: None,
        },
    )
    .await?;
    let port = host_port(&rt, &name, 5432).await?;

    let url = format!("postgres://mesh:{secret}@127.0.0.1:{port}/songs");
    let client = match meshctl::db::connect(&url, Duration::from_secs(120)).await {
        Ok(c) => c,
        Err(e) => panic!("{e:#}\ncontainer log:\n{}", logs(&rt, &name).await),
    };
    let row = client
        .query_one("SELECT current_user::text, current_database()::text, current_setting('wal_level'), current_setting('data_directory')", &[])
        .await?;
    assert_eq!(row.get::<_, String>(0), "mesh");
    assert_eq!(row.get::<_, String>(1), "songs");
    assert_eq!(row.get::<_, String>(2), "logical");
    assert_eq!(row.get::<_, String>(3), "/var/lib/postgresql/data");

    let wrong = format!("postgres://mesh:not-{secret}@127.0.0.1:{port}/songs");
    let refused = meshctl::db::connect(&wrong, Duration::from_secs(10)).await;
    let err = refused.err().context("a wrong password was accepted")?;
    let code = err
        .chain()
        .find_map(|e| e.downcast_ref::<tokio_postgres::Error>())
        .and_then(|e| e.code().cloned());
    assert_eq!(
        code,
        Some(tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_image_answers_ping() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let rt = runtime().await?;
    let image = ensured(&rt, BaseImage::Redis).await?;
    let run_id = run_id("redis");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-redis");
    run(
        &rt,
        &guard,
        Spec {
            name: &name,
            image: &image,
            publish: vec![6379],
            ..Default::default()
        },
    )
    .await?;
    let port = host_port(&rt, &name, 6379).await?;

    // Polled: the published port accepts before redis-server listens.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let attempt = tokio::time::timeout(Duration::from_secs(5), async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(b"PING\r\n").await?;
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await?;
            anyhow::Ok(String::from_utf8_lossy(&buf[..n]).to_string())
        })
        .await;
        match attempt {
            Ok(Ok(a)) if !a.is_empty() => break a,
            _ if Instant::now() > deadline => {
                panic!("redis did not answer; log:\n{}", logs(&rt, &name).await)
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(answer, "+PONG\r\n");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_image_runs_sh() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let rt = runtime().await?;
    let image = ensured(&rt, BaseImage::Busybox).await?;
    let run_id = run_id("bb");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-bb");
    run(
        &rt,
        &guard,
        Spec {
            name: &name,
            image: &image,
            cmd: Some(["sh", "-c", "echo ok; sleep 0"].map(String::from).to_vec()),
            ..Default::default()
        },
    )
    .await?;
    let status_code = wait_exit(&rt, &name, Duration::from_secs(60))
        .await
        .context("wait for the busybox container")?;
    assert_eq!(status_code, 0);
    assert_eq!(logs(&rt, &name).await.trim(), "ok");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_image_requires_a_password() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let rt = runtime().await?;
    let image = ensure(&rt, BaseImage::Postgres, &Step::hidden()).await?;
    let run_id = run_id("pgnopw");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-db");
    run(
        &rt,
        &guard,
        Spec {
            name: &name,
            image: &image,
            ..Default::default()
        },
    )
    .await?;
    // It refuses to initialise: exits non-zero and says why.
    let exit = Some(
        wait_exit(&rt, &name, Duration::from_secs(60))
            .await
            .context("the container kept running without a password")?,
    );
    assert_eq!(exit, Some(1));
    let log = logs(&rt, &name).await;
    assert!(log.contains("POSTGRES_PASSWORD is not set"), "{log}");
    Ok(())
}
