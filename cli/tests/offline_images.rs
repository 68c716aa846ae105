//! The offline base images against the real Docker daemon: built (or reused
//! from the daemon's cache) and honouring the official images' contracts.

mod images_support;

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use images_support::{docker, host_port, logs, password, run, run_id, Guard, Spec, DOCKER_LOCK};
use indicatif::ProgressBar;
use meshctl::offline::{ensure, BaseImage, LABEL_IMAGE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Makes sure the image exists and carries its kind label, and prints how long it took.
async fn ensured(docker: &bollard::Docker, which: BaseImage) -> anyhow::Result<String> {
    let started = Instant::now();
    let image = ensure(docker, which, &ProgressBar::hidden()).await?;
    let inspected = docker.inspect_image(&image).await?;
    eprintln!(
        "{image}: ready in {:.1?}, {} MB",
        started.elapsed(),
        inspected.size.unwrap_or(0) / 1_000_000
    );
    if image == which.offline() {
        let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
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
    let docker = docker().await?;
    let image = ensured(&docker, BaseImage::Postgres).await?;
    // A second call reuses what the first left on the daemon.
    let again = Instant::now();
    assert_eq!(
        ensure(&docker, BaseImage::Postgres, &ProgressBar::hidden()).await?,
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
        &docker,
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
            publish: vec!["5432/tcp"],
            network: None,
        },
    )
    .await?;
    let port = host_port(&docker, &name, "5432/tcp").await?;

    let url = format!("postgres://mesh:{secret}@127.0.0.1:{port}/songs");
    let client = match meshctl::db::connect(&url, Duration::from_secs(120)).await {
        Ok(c) => c,
        Err(e) => panic!("{e:#}\ncontainer log:\n{}", logs(&docker, &name).await),
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
    let docker = docker().await?;
    let image = ensured(&docker, BaseImage::Redis).await?;
    let run_id = run_id("redis");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-redis");
    run(
        &docker,
        &guard,
        Spec {
            name: &name,
            image: &image,
            publish: vec!["6379/tcp"],
            ..Default::default()
        },
    )
    .await?;
    let port = host_port(&docker, &name, "6379/tcp").await?;

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
                panic!("redis did not answer; log:\n{}", logs(&docker, &name).await)
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
    let docker = docker().await?;
    let image = ensured(&docker, BaseImage::Busybox).await?;
    let run_id = run_id("bb");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-bb");
    run(
        &docker,
        &guard,
        Spec {
            name: &name,
            image: &image,
            cmd: Some(["sh", "-c", "echo ok; sleep 0"].map(String::from).to_vec()),
            ..Default::default()
        },
    )
    .await?;
    let mut wait = docker.wait_container(&name, None);
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(item) = wait.next().await {
            let status = item.context("wait for the busybox container")?;
            assert_eq!(status.status_code, 0);
        }
        anyhow::Ok(())
    })
    .await
    .context("busybox container did not exit")?;
    waited?;
    assert_eq!(logs(&docker, &name).await.trim(), "ok");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_image_requires_a_password() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let docker = docker().await?;
    let image = ensure(&docker, BaseImage::Postgres, &ProgressBar::hidden()).await?;
    let run_id = run_id("pgnopw");
    let guard = Guard::new(&run_id);
    let name = format!("{run_id}-db");
    run(
        &docker,
        &guard,
        Spec {
            name: &name,
            image: &image,
            ..Default::default()
        },
    )
    .await?;
    // It refuses to initialise: exits non-zero and says why.
    let mut wait = docker.wait_container(&name, None);
    let exit = tokio::time::timeout(Duration::from_secs(60), async {
        let mut code = None;
        while let Some(item) = wait.next().await {
            code = Some(match item {
                Ok(status) => status.status_code,
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => code,
                Err(e) => return Err(e).context("wait for the container"),
            });
        }
        anyhow::Ok(code)
    })
    .await
    .context("the container kept running without a password")??;
    assert_eq!(exit, Some(1));
    let log = logs(&docker, &name).await;
    assert!(log.contains("POSTGRES_PASSWORD is not set"), "{log}");
    Ok(())
}
