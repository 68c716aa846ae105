//! The spec's legacy launcher: many capped BusyBox-only containers (no
//! agent, no databases), e.g. 500 of them, each with a hard memory limit and
//! no swap. The BusyBox image is `offline::ensure(BaseImage::Busybox)`: the
//! local one, a pull, or one made from Debian's busybox-static.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};

use crate::context::{Role, LABEL_COMPONENT, LABEL_DEPLOYMENT, LABEL_ROLE};
use crate::deploy::check_memory_limits;
use crate::deploy::converge::ensure_network;
use crate::offline::{self, BaseImage};
use crate::plan::{object_name, Attachment, ContainerSpec, ImageRef, LABEL_SPEC};
use crate::progress::Step;
use crate::runtime::{Images, Runtime};

#[derive(Debug, Clone)]
pub struct LegacyOptions {
    pub name: String,
    pub count: usize,
    /// Hard memory limit per container, bytes (memory-swap equal: no swap).
    pub memory: i64,
    /// CPUs per container (0 = no limit).
    pub cpus: f64,
    pub max_workers: usize,
    pub extra_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LegacyReport {
    pub image: String,
    pub network: String,
    pub created: usize,
    pub kept: usize,
}

/// The containers `legacy up` wants (pure).
pub fn specs(opts: &LegacyOptions, network: &str) -> Vec<ContainerSpec> {
    (1..=opts.count)
        .map(|i| {
            let component = format!("legacy-{i}");
            let mut labels = opts.extra_labels.clone();
            labels.insert(LABEL_DEPLOYMENT.into(), opts.name.clone());
            labels.insert(LABEL_ROLE.into(), Role::Legacy.as_str().into());
            labels.insert(LABEL_COMPONENT.into(), component.clone());
            ContainerSpec {
                name: object_name(&opts.name, &component),
                component,
                role: Role::Legacy,
                image: ImageRef::Peer(String::new()),
                // PID 1 ignores SIGTERM; removal kills it.
                cmd: vec!["sleep".into(), "2147483647".into()],
                env: BTreeMap::new(),
                labels,
                networks: vec![Attachment {
                    network: network.to_string(),
                    aliases: vec![],
                }],
                publish: vec![],
                memory: Some(opts.memory),
                nano_cpus: (opts.cpus > 0.0).then(|| (opts.cpus * 1e9).round() as i64),
                volumes: vec![],
            }
        })
        .collect()
}

pub async fn up(
    rt: &(impl Runtime + Images),
    opts: &LegacyOptions,
    image_step: &Step,
    step: &Step,
) -> anyhow::Result<LegacyReport> {
    check_memory_limits(rt).await?;
    let image = offline::ensure(rt, BaseImage::Busybox, image_step).await?;
    image_step.finish_with_message(image.clone());
    let network = object_name(&opts.name, "legacy-net");
    let mut labels = opts.extra_labels.clone();
    labels.insert(LABEL_DEPLOYMENT.into(), opts.name.clone());
    labels.insert(LABEL_ROLE.into(), Role::Legacy.as_str().into());
    labels.insert(LABEL_COMPONENT.into(), "legacy-net".into());
    ensure_network(rt, &network, &labels).await?;
    let specs = specs(opts, &network);
    step.set_length(specs.len() as u64);
    let results: Vec<bool> = futures::stream::iter(&specs)
        .map(|spec| {
            let image = &image;
            async move {
                let created = match rt.inspect_container(&spec.name).await? {
                    Some(c) if c.running() => false,
                    Some(c) => {
                        rt.start_container(&c.id).await?;
                        false
                    }
                    None => {
                        let mut labels = spec.labels.clone();
                        labels.insert(LABEL_SPEC.into(), "legacy".into());
                        let id = rt.create_container(spec, image, &labels).await?;
                        rt.start_container(&id).await?;
                        true
                    }
                };
                step.inc(1);
                Ok::<bool, anyhow::Error>(created)
            }
        })
        .buffer_unordered(opts.max_workers.max(1))
        .try_collect()
        .await?;
    let created = results.iter().filter(|c| **c).count();
    Ok(LegacyReport {
        image,
        network,
        created,
        kept: results.len() - created,
    })
}
