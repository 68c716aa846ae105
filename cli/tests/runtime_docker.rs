//! The Docker implementation of the runtime seam against the real daemon,
//! on one BusyBox container: the same rules the fake follows (so unit tests
//! against the fake mean something), and the calls fault injection and
//! events build on: kill, pause, unpause, exec, stats, events, typed errors.
//! Everything is labelled with the run's id and removed, also on failure.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use meshctl::labels::{Role, LABEL_TEST};
use meshctl::plan::{Attachment, ContainerSpec, ImageRef};
use meshctl::progress::Step;
use meshctl::runtime::{ContainerState, Filter, Labels, Runtime, RuntimeError};

mod support;
use support::{run_id, DOCKER_LOCK};

/// Removes what the run labelled, also after a panic.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let docker = meshctl::runtime::connect().await?;
                let mine = Filter::label(LABEL_TEST, &run);
                for c in docker.list_containers(&mine).await? {
                    docker.remove_container(&c.id).await?;
                }
                for n in docker.list_networks(&mine).await? {
                    docker.remove_network(&n.id).await?;
                }
                anyhow::Ok(())
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_runtime_follows_the_seam() -> anyhow::Result<()> {
    let _serial = DOCKER_LOCK.lock().await;
    let run = run_id("mtrt");
    let _cleanup = Cleanup(run.clone());
    let rt = meshctl::runtime::connect().await?;
    let image =
        meshctl::offline::ensure(&rt, meshctl::offline::BaseImage::Busybox, &Step::hidden())
            .await?;
    let info = rt.info().await?;
    assert!(
        info.memory_limit && !info.server_version.is_empty(),
        "{info:?}"
    );

    let labels = Labels::from([(LABEL_TEST.to_string(), run.clone())]);
    let net = format!("{run}-net");
    rt.create_network(&net, &labels).await?;
    let again = rt.create_network(&net, &labels).await.unwrap_err();
    assert!(matches!(again, RuntimeError::Conflict { .. }), "{again}");
    let name = format!("{run}-box");
    let spec = ContainerSpec {
        name: name.clone(),
        component: "box".into(),
        role: Role::Legacy,
        image: ImageRef::Peer(String::new()),
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "echo started; exec sleep 600".into(),
        ],
        env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        labels: labels.clone(),
        networks: vec![Attachment {
            network: net.clone(),
            aliases: vec!["box".into()],
        }],
        publish: vec![8080],
        memory: Some(16 << 20),
        nano_cpus: None,
        volumes: vec![],
    };
    let id = rt.create_container(&spec, &image, &labels).await?;
    let dup = rt
        .create_container(&spec, &image, &labels)
        .await
        .unwrap_err();
    assert!(matches!(dup, RuntimeError::Conflict { .. }), "{dup}");
    assert!(rt
        .inspect_container(&format!("{run}-none"))
        .await?
        .is_none());
    rt.start_container(&id).await?;

    let listed = rt.list_containers(&Filter::label(LABEL_TEST, &run)).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, name);
    assert!(listed[0].running());
    assert!(listed[0].published(8080).is_some(), "{:?}", listed[0].ports);
    let d = rt.inspect_container(&name).await?.expect("inspect");
    assert_eq!(d.env.get("GREETING").map(String::as_str), Some("hello"));
    assert_eq!(d.memory_limit, Some(16 << 20));
    assert_eq!(d.published(8080), listed[0].published(8080));
    let members = rt.inspect_network(&net).await?.expect("network").members;
    assert_eq!(members, std::slice::from_ref(&name));

    let echo = rt
        .exec(&id, &["sh".into(), "-c".into(), "echo $GREETING".into()])
        .await?;
    assert_eq!((echo.exit_code, echo.output.trim()), (0, "hello"));
    assert_eq!(rt.exec(&id, &["false".into()]).await?.exit_code, 1);
    let usage = rt.usage(&id).await?;
    assert!(
        usage.memory > 0 && usage.memory_limit == 16 << 20,
        "{usage:?}"
    );

    rt.pause_container(&id).await?;
    assert_eq!(
        rt.inspect_container(&id).await?.map(|c| c.state),
        Some(ContainerState::Paused)
    );
    rt.unpause_container(&id).await?;
    rt.kill_container(&id, "SIGKILL").await?;
    let d = rt.inspect_container(&id).await?.expect("inspect");
    assert_eq!((d.state, d.exit_code), (ContainerState::Exited, Some(137)));
    let paused = rt.pause_container(&id).await.unwrap_err();
    assert!(matches!(paused, RuntimeError::Conflict { .. }), "{paused}");

    let mut logs = rt.logs(&id, false, None);
    let mut text = Vec::new();
    while let Some(chunk) = logs.next().await {
        text.extend_from_slice(&chunk?);
    }
    assert_eq!(String::from_utf8_lossy(&text).trim(), "started");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let events: Vec<_> = tokio::time::timeout(
        Duration::from_secs(30),
        rt.events(
            &Filter::label(LABEL_TEST, &run),
            Some(now - 600),
            Some(now + 1),
        )
        .collect::<Vec<_>>(),
    )
    .await?;
    let actions: Vec<String> = events
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|e| e.kind == "container" && e.id == id)
        .map(|e| e.action)
        .collect();
    for want in ["create", "start", "pause", "unpause", "kill", "die"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} not in {actions:?}"
        );
    }

    rt.remove_container(&id).await?;
    rt.remove_container(&id).await?;
    rt.remove_network(&net).await?;
    rt.remove_network(&net).await?;
    assert!(rt.inspect_network(&net).await?.is_none());
    Ok(())
}
