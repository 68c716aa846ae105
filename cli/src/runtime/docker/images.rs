//! [`Images`] over the Docker Engine API: inspect, remove, build from an
//! in-memory context, pull, import a root filesystem, save and load.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ImportImageOptionsBuilder,
    RemoveImageOptions,
};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::calls::{bounded, call_gone_ok, call_opt, classify, drain, labels_of, stream_error};
use super::{DockerRuntime, BUILD_TIMEOUT, CALL_TIMEOUT, TRANSFER_TIMEOUT};
use crate::runtime::{
    ByteStream, ImageInfo, Images, Labels, OnLine, Result, RuntimeError, UploadStream,
};

impl Images for DockerRuntime {
    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>> {
        let i = call_opt(
            format!("inspect image {reference}"),
            CALL_TIMEOUT,
            self.docker.inspect_image(reference),
        )
        .await?;
        Ok(i.map(|i| ImageInfo {
            id: i.id.unwrap_or_default(),
            labels: labels_of(i.config.and_then(|c| c.labels)),
        }))
    }

    async fn remove_image(&self, id: &str) -> Result<()> {
        call_gone_ok(format!("remove image {id}"), CALL_TIMEOUT, async {
            self.docker
                .remove_image(id, None::<RemoveImageOptions>, None)
                .await
                .map(|_| ())
        })
        .await
    }

    async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &Labels,
        on_line: OnLine<'_>,
    ) -> Result<()> {
        let what = format!("build image {tag}");
        let labels: HashMap<String, String> = labels.clone().into_iter().collect();
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(&labels)
            .build();
        let stream = self.docker.build_image(
            opts,
            None,
            Some(bollard::body_full(Bytes::from(context_tar))),
        );
        drain(&what, BUILD_TIMEOUT, stream, |info| {
            if let Some(detail) = info.error_detail {
                return Err(stream_error(&what, detail.message));
            }
            if let Some(line) = info
                .stream
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                on_line(line);
            }
            Ok(())
        })
        .await
    }

    async fn pull_image(
        &self,
        reference: &str,
        limit: Duration,
        on_line: OnLine<'_>,
    ) -> Result<()> {
        let what = format!("pull {reference}");
        let (image, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .tag(tag)
            .build();
        let stream = self.docker.create_image(Some(options), None, None);
        create_image_progress(&what, limit, stream, on_line).await
    }

    async fn import_rootfs(
        &self,
        reference: &str,
        changes: &[String],
        body: UploadStream,
        on_line: OnLine<'_>,
    ) -> Result<()> {
        let what = format!("import {reference}");
        let Some((repo, tag)) = reference.rsplit_once(':') else {
            return Err(RuntimeError::Refused {
                what,
                message: "the reference has no tag".into(),
            });
        };
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes.to_vec())
            .build();
        let stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(body)), None);
        create_image_progress(&what, TRANSFER_TIMEOUT, stream, on_line).await
    }

    fn export_images(&self, references: &[&str]) -> ByteStream<'_> {
        let what = format!("export images {}", references.join(" "));
        let stream = self
            .docker
            .export_images(references)
            .map_err({
                let what = what.clone();
                move |e| classify(what.clone(), e)
            })
            .boxed();
        bounded(stream, what, TRANSFER_TIMEOUT)
    }

    async fn load_images(&self, body: UploadStream) -> Result<Vec<String>> {
        let opts = ImportImageOptionsBuilder::default().quiet(true).build();
        let stream = self
            .docker
            .import_image(opts, bollard::body_try_stream(body), None);
        let mut lines = Vec::new();
        drain("load images", TRANSFER_TIMEOUT, stream, |info| {
            if let Some(detail) = info.error_detail {
                return Err(stream_error("load images", detail.message));
            }
            if let Some(s) = info.stream.or(info.status) {
                let s = s.trim().to_string();
                if !s.is_empty() {
                    lines.push(s);
                }
            }
            Ok(())
        })
        .await?;
        Ok(lines)
    }
}

/// Drains the progress of an image create (pull or import), reporting each
/// status line and failing on the first error the engine reports.
async fn create_image_progress(
    what: &str,
    limit: Duration,
    stream: impl futures::Stream<
        Item = std::result::Result<bollard::models::CreateImageInfo, bollard::errors::Error>,
    >,
    on_line: OnLine<'_>,
) -> Result<()> {
    drain(what, limit, stream, |info| {
        if let Some(detail) = info.error_detail {
            return Err(stream_error(what, detail.message));
        }
        if let Some(status) = info.status {
            on_line(&status);
        }
        Ok(())
    })
    .await
}
