//! Shared by the unit tests that converge a deployment on the fake engine.

use std::time::Duration;

use std::time::Instant;

use super::converge::ImageIds;
use super::{apply, discover, Readiness, UpOptions, UpReport};
use crate::plan;
use crate::plan::{Config, Plan};
use crate::progress::Progress;
use crate::progress::Step;
use crate::runtime::fake::FakeRuntime;
use crate::runtime::Labels;

pub const PASSWORD: &str = "pw-Secret-4711";
pub const TOKEN: &str = "tok-Secret-0815";

/// Readiness that answers at once: converge alone is under test.
pub struct AtOnce;

impl Readiness for AtOnce {
    async fn redis(&self, _: &Plan) -> anyhow::Result<()> {
        Ok(())
    }
    async fn databases(&self, _: &Plan, _: &Config) -> anyhow::Result<()> {
        Ok(())
    }
    async fn mesh(&self, _: &Plan, _: Duration, _: &Step) -> anyhow::Result<()> {
        Ok(())
    }
}

pub fn config(name: &str, count: usize) -> Config {
    Config {
        name: name.into(),
        count,
        postgres_password: PASSWORD.into(),
        token: TOKEN.into(),
        ..Default::default()
    }
}

pub fn engine() -> (FakeRuntime, ImageIds) {
    let rt = FakeRuntime::new();
    let ids = ImageIds {
        peer: ("peer-node:latest".into(), "sha256:peer".into()),
        control: ("meshctl-control:latest".into(), "sha256:control".into()),
        postgres: ("meshctl/postgres:15".into(), "sha256:pg".into()),
        redis: ("meshctl/redis:7".into(), "sha256:redis".into()),
    };
    for (r, id) in [&ids.peer, &ids.control, &ids.postgres, &ids.redis] {
        rt.add_image(r, id, Labels::new());
    }
    (rt, ids)
}

pub fn opts(config: Config) -> UpOptions {
    UpOptions {
        config,
        max_workers: 4,
        wait_timeout: Duration::from_secs(1),
        no_wait: false,
    }
}

pub async fn up(rt: &FakeRuntime, ids: &ImageIds, c: &Config) -> UpReport {
    let p = plan::plan(c).unwrap();
    let mut r = apply(
        rt,
        &opts(c.clone()),
        &p,
        ids,
        &AtOnce,
        &Progress::hidden(),
        Instant::now(),
    )
    .await
    .unwrap();
    r.endpoints = discover(rt, &p.deployment).await.unwrap();
    r
}
