//! The fake follows the engine's rules that meshctl relies on.

use super::*;
use crate::labels::Role;
use crate::plan::{Attachment, ImageRef};
use crate::runtime::Filter;

fn spec(name: &str, network: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        component: name.into(),
        role: Role::Peer,
        image: ImageRef::Peer("img".into()),
        cmd: vec![],
        env: BTreeMap::new(),
        labels: BTreeMap::new(),
        networks: vec![Attachment {
            network: network.into(),
            aliases: vec![],
        }],
        publish: vec![8080],
        memory: Some(1),
        nano_cpus: None,
        volumes: vec![],
    }
}

#[tokio::test]
async fn follows_the_engine_rules_meshctl_relies_on() {
    let rt = FakeRuntime::new();
    rt.add_image("img", "sha256:1", Labels::new());
    let err = rt
        .create_container(&spec("a", "net"), "img", &Labels::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    rt.create_network("net", &Labels::new()).await.unwrap();
    let id = rt
        .create_container(&spec("a", "net"), "img", &Labels::new())
        .await
        .unwrap();
    let dup = rt
        .create_container(&spec("a", "net"), "img", &Labels::new())
        .await
        .unwrap_err();
    assert!(matches!(dup, RuntimeError::Conflict { .. }), "{dup}");
    let listed = rt.list_containers(&Filter::default()).await.unwrap();
    assert_eq!(listed[0].published(8080), None);
    rt.start_container(&id).await.unwrap();
    let listed = rt.list_containers(&Filter::default()).await.unwrap();
    assert!(listed[0].running());
    assert!(listed[0].published(8080).is_some());
    assert!(rt.remove_network("net").await.is_err());
    rt.pause_container("a").await.unwrap();
    assert!(rt.pause_container("a").await.is_err());
    rt.unpause_container("a").await.unwrap();
    rt.kill_container("a", "SIGKILL").await.unwrap();
    let d = rt.inspect_container("a").await.unwrap().unwrap();
    assert_eq!((d.state, d.exit_code), (ContainerState::Exited, Some(137)));
    rt.remove_container(&id).await.unwrap();
    rt.remove_container(&id).await.unwrap();
    rt.remove_network("net").await.unwrap();
    assert!(rt.inspect_container("a").await.unwrap().is_none());
}
