//! [`Images`] of the in-memory engine: builds hash their context, imports
//! and loads keep what they were given, pulls fail (no registry).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::FakeRuntime;
use crate::runtime::{
    ByteStream, ImageInfo, Images, Labels, OnLine, Result, RuntimeError, UploadStream,
};

impl Images for FakeRuntime {
    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>> {
        let s = self.lock();
        Ok(s.images
            .get(reference)
            .or_else(|| s.images.values().find(|i| i.id == reference))
            .cloned())
    }

    async fn remove_image(&self, id: &str) -> Result<()> {
        let mut s = self.lock();
        s.images.retain(|r, i| i.id != id && r != id);
        s.calls.push(format!("remove image {id}"));
        Ok(())
    }

    async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &Labels,
        on_line: OnLine<'_>,
    ) -> Result<()> {
        use sha2::Digest;
        on_line("Step 1/1 : FROM scratch");
        let id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&context_tar)));
        let mut s = self.lock();
        s.images.insert(
            tag.to_string(),
            ImageInfo {
                id,
                labels: labels.clone(),
            },
        );
        s.calls.push(format!("build image {tag}"));
        Ok(())
    }

    async fn pull_image(&self, reference: &str, _limit: Duration, _on: OnLine<'_>) -> Result<()> {
        // No registry here, as on the machines meshctl is tested on.
        Err(RuntimeError::Unavailable {
            what: format!("pull {reference}"),
            message: "no registry".into(),
        })
    }

    async fn import_rootfs(
        &self,
        reference: &str,
        _changes: &[String],
        mut body: UploadStream,
        _on_line: OnLine<'_>,
    ) -> Result<()> {
        let mut n = 0usize;
        while let Some(chunk) = body.next().await {
            n += chunk
                .map_err(|e| RuntimeError::Unavailable {
                    what: format!("import {reference}"),
                    message: e.to_string(),
                })?
                .len();
        }
        let mut s = self.lock();
        s.images.insert(
            reference.to_string(),
            ImageInfo {
                id: format!("sha256:import-{n}"),
                labels: Labels::new(),
            },
        );
        s.calls.push(format!("import {reference}"));
        Ok(())
    }

    fn export_images(&self, references: &[&str]) -> ByteStream<'_> {
        let text = references.join("\n");
        futures::stream::iter([Ok(Bytes::from(text))]).boxed()
    }

    async fn load_images(&self, mut body: UploadStream) -> Result<Vec<String>> {
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk.map_err(|e| RuntimeError::Unavailable {
                what: "load images".into(),
                message: e.to_string(),
            })?);
        }
        let text = String::from_utf8_lossy(&all).into_owned();
        let mut s = self.lock();
        let mut lines = Vec::new();
        for r in text.lines().filter(|l| !l.is_empty()) {
            s.images.insert(
                r.to_string(),
                ImageInfo {
                    id: format!("sha256:loaded-{r}"),
                    labels: Labels::new(),
                },
            );
            lines.push(format!("Loaded image: {r}"));
        }
        Ok(lines)
    }
}
