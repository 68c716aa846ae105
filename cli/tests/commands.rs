//! The commands no other test drives through the binary, against the real
//! Docker daemon: `up -f mesh.yaml` (explicit links, per-peer overrides),
//! `up --dry-run --format yaml` fed back through `up -f`, `down
//! --keep-control`, `image save` / `image load`, `legacy up` / `legacy
//! down`, and Ctrl-C during a fresh `up`. Needs the release binaries
//! (`cargo build --release --workspace --bins`).
//!
//! Every object carries `meshctl.test=<run id>` and a name unique to the
//! run; Drop guards remove them also when a check fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use meshctl::context::{self, LABEL_COMPONENT, LABEL_ROLE, LABEL_TEST};
use meshctl::runtime::{Container, DockerRuntime, Filter, Images, Labels, Runtime};

mod support;
use support::{command, meshctl, meshctl_fails, poll, run_id, Guard, DOCKER_LOCK, MESHCTL};

/// Removes image references this test made when dropped.
struct ImageGuard(Vec<String>);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        for r in &self.0 {
            let _ = std::process::Command::new("docker")
                .args(["rmi", r])
                .output();
        }
    }
}

/// The id of image `reference`, or `None` when the daemon lacks it.
async fn id_of_image(d: &DockerRuntime, reference: &str) -> anyhow::Result<Option<String>> {
    Ok(d.inspect_image(reference).await?.map(|i| i.id))
}

/// Containers, networks and volumes carrying deployment `name`'s label.
async fn leftovers(d: &DockerRuntime, name: &str) -> anyhow::Result<Vec<String>> {
    let sel = Filter::deployment(name);
    let mut left: Vec<String> = context::list_containers(d, name)
        .await?
        .into_iter()
        .map(|c| format!("container {:?}", c.name))
        .collect();
    for n in d.list_networks(&sel).await? {
        left.push(format!("network {:?}", n.name));
    }
    for v in d.list_volumes(&sel).await? {
        left.push(format!("volume {}", v.name));
    }
    Ok(left)
}

/// The env of container `name` as a map.
async fn env_of(d: &DockerRuntime, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let c = d
        .inspect_container(name)
        .await?
        .with_context(|| format!("container {name} missing"))?;
    Ok(c.env)
}

/// `(role, component)` of every container of deployment `name`.
async fn roles(d: &DockerRuntime, name: &str) -> anyhow::Result<BTreeSet<(String, String)>> {
    Ok(context::list_containers(d, name)
        .await?
        .iter()
        .map(|c| {
            (
                c.label(LABEL_ROLE).unwrap_or("?").to_string(),
                c.label(LABEL_COMPONENT).unwrap_or("?").to_string(),
            )
        })
        .collect())
}

fn pairs(list: &[[&str; 2]]) -> Vec<[String; 2]> {
    list.iter()
        .map(|[a, b]| [a.to_string(), b.to_string()])
        .collect()
}

/// `up -f` with explicit links and per-peer overrides; the dry-run mesh
/// file reproduces the plan and, applied, changes nothing; `down
/// --keep-control` keeps the control plane alone, `up` brings the rest back
/// around it, and `down` removes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_file_dry_run_and_keep_control() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("c");
    let test_label = format!("{LABEL_TEST}={name}");
    let d = meshctl::runtime::connect().await?;
    let dir = tempfile::tempdir()?;
    let _guard = Guard { name: name.clone() };

    // The name comes from the file: no --name anywhere below until down.
    let mesh = dir.path().join("mesh.yaml");
    std::fs::write(
        &mesh,
        format!(
            "name: {name}\n\
             count: 3\n\
             edge1_peers: [peer-1]\n\
             edge2_peers: [peer-3]\n\
             degree: 0\n\
             links: [[peer-1, peer-2], [peer-2, peer-3]]\n\
             peer_room: lobby\n\
             heartbeat_interval_sec: 1\n\
             tracker_ttl: 6\n\
             peers:\n  \
               peer-3: {{room: jazz, region: eu, rtt_ms: 12}}\n  \
               peer-2: {{rtt_ms: 7}}\n"
        ),
    )?;
    let mesh_s = mesh.to_str().context("path")?;
    let t = Duration::from_secs(60);

    // The dry run's mesh file gives the same plan, and is a fixed point.
    let plan_of = async |file: &str, extra: &[&str]| {
        let mut args = vec!["up", "-f", file, "--dry-run", "--format", "json"];
        args.extend_from_slice(extra);
        let out = meshctl(&args, t).await?;
        serde_json::from_str::<serde_json::Value>(&out).context("dry-run json")
    };
    let yaml = meshctl(&["up", "-f", mesh_s, "--dry-run", "--format", "yaml"], t).await?;
    let dry = dir.path().join("dry.yaml");
    std::fs::write(&dry, &yaml)?;
    let dry_s = dry.to_str().context("path")?;
    let plan = plan_of(mesh_s, &[]).await?;
    assert_eq!(plan_of(dry_s, &[]).await?, plan, "dry-run file:\n{yaml}");
    assert_eq!(
        meshctl(&["up", "-f", dry_s, "--dry-run", "--format", "yaml"], t).await?,
        yaml
    );
    assert!(yaml.contains("degree: 0") && yaml.contains(&format!("name: {name}")));
    // Flags win over the file; per-peer overrides win over both.
    let flagged = plan_of(mesh_s, &["--peer-region", "us"]).await?;
    let peer_env = |p: &serde_json::Value, i: usize, k: &str| p["peers"][i]["env"][k].clone();
    assert_eq!(peer_env(&flagged, 0, "PEER_REGION"), "us");
    assert_eq!(peer_env(&flagged, 2, "PEER_REGION"), "eu");
    assert_eq!(peer_env(&plan, 0, "PEER_REGION"), "default");
    let renamed = meshctl(
        &[
            "--name",
            "other",
            "up",
            "-f",
            mesh_s,
            "--dry-run",
            "--format",
            "json",
        ],
        t,
    )
    .await?;
    let renamed: serde_json::Value = serde_json::from_str(&renamed)?;
    assert_eq!(renamed["deployment"], "other", "--name wins over the file");
    assert_eq!(plan["deployment"], name.as_str());

    // The real thing.
    let up = [
        "up",
        "-f",
        mesh_s,
        "--label",
        &test_label,
        "--format",
        "json",
    ];
    let report: serde_json::Value =
        serde_json::from_str(&meshctl(&up, Duration::from_secs(900)).await?)
            .context("up --format json")?;
    assert_eq!(report["deployment"], name.as_str());
    assert_eq!(report["peers"], 3);
    assert_eq!(report["actions"]["created"], 10, "{report}");

    // The containers' env carries the links and overrides.
    let p = |s: &str| format!("{name}-{s}");
    for (peer, room, region, rtt, neighbors) in [
        ("peer-1", "lobby", "default", "50", "peer-2"),
        ("peer-2", "lobby", "default", "7", "peer-1,peer-3"),
        ("peer-3", "jazz", "eu", "12", "peer-2"),
    ] {
        let env = env_of(&d, &p(peer)).await?;
        assert_eq!(env["PEER_ROOM"], room, "{peer}");
        assert_eq!(env["PEER_REGION"], region, "{peer}");
        assert_eq!(env["PEER_RTT_MS"], rtt, "{peer}");
        assert_eq!(env["NEIGHBORS"], neighbors, "{peer}");
        assert_eq!(env["HEARTBEAT_INTERVAL_SEC"], "1", "{peer}");
    }
    assert_eq!(env_of(&d, &p("tracker")).await?["TRACKER_TTL_SECONDS"], "6");
    for c in context::list_containers(&d, &name).await? {
        assert_eq!(c.label(LABEL_TEST), Some(name.as_str()));
    }

    // Topology holds exactly the file's links and each peer's region and RTT.
    let dep = context::discover(&d, &name).await?;
    let topology = dep.topology_url.clone().context("topology url")?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let snap: wire::topology::GraphSnapshot = poll(
        "topology lists all three peers",
        Duration::from_secs(30),
        async || {
            let g: wire::topology::GraphSnapshot = http
                .get(format!("{topology}/graph"))
                .send()
                .await?
                .json()
                .await?;
            Ok((g.nodes.len() == 3).then_some(g))
        },
    )
    .await?;
    assert_eq!(
        snap.edges,
        pairs(&[["peer-1", "peer-2"], ["peer-2", "peer-3"]])
    );
    let node = |id: &str| snap.nodes.iter().find(|n| n.peer_id == id);
    let n3 = node("peer-3").context("peer-3 in the graph")?;
    assert_eq!((n3.region.as_deref(), n3.rtt_ms), (Some("eu"), Some(12)));
    let n2 = node("peer-2").context("peer-2 in the graph")?;
    assert_eq!(
        (n2.region.as_deref(), n2.rtt_ms),
        (Some("default"), Some(7))
    );
    let g: serde_json::Value =
        serde_json::from_str(&meshctl(&["--name", &name, "graph", "--format", "json"], t).await?)?;
    assert_eq!(
        g["peers"],
        serde_json::json!(["peer-1", "peer-2", "peer-3"])
    );
    assert_eq!(
        g["links"],
        serde_json::json!([["peer-1", "peer-2"], ["peer-2", "peer-3"]])
    );
    assert_eq!(
        g["edge_links"],
        serde_json::json!([["edge-db-a", "peer-1"], ["edge-db-b", "peer-3"]])
    );
    // Signalling has the peers in their rooms.
    poll("rooms in status", Duration::from_secs(30), async || {
        let s: serde_json::Value = serde_json::from_str(
            &meshctl(&["--name", &name, "status", "--format", "json"], t).await?,
        )?;
        Ok((s["rooms"] == serde_json::json!({"jazz": 1, "lobby": 2})).then_some(()))
    })
    .await?;

    // `image save` without images writes every image the deployment runs
    // (read only: nothing is loaded back over tags others use).
    let all = dir.path().join("all.tar");
    meshctl(
        &["image", "save", "-o", all.to_str().context("path")?],
        Duration::from_secs(300),
    )
    .await?;
    let tags = archive_tags(&all)?;
    let has = |a: &str, b: &str| tags.contains(a) || tags.contains(b);
    assert!(
        tags.contains("peer-node:latest") && tags.contains("meshctl-control:latest"),
        "{tags:?}"
    );
    assert!(has("postgres:15", "meshctl/postgres:15"), "{tags:?}");
    assert!(has("redis:7", "meshctl/redis:7"), "{tags:?}");
    std::fs::remove_file(&all)?;

    // The dry run's file applied to the live deployment changes nothing.
    let again: serde_json::Value = serde_json::from_str(
        &meshctl(
            &[
                "up",
                "-f",
                dry_s,
                "--label",
                &test_label,
                "--format",
                "json",
            ],
            Duration::from_secs(600),
        )
        .await?,
    )?;
    assert_eq!(again["actions"], serde_json::json!({"kept": 10}), "{again}");

    // down --keep-control: the control plane and its network stay, running.
    let control: BTreeSet<(String, String)> = ["redis", "topology", "tracker", "signalling"]
        .iter()
        .map(|s| ("control".to_string(), s.to_string()))
        .collect();
    let control_ids: BTreeSet<String> = context::list_containers(&d, &name)
        .await?
        .into_iter()
        .filter(|c| c.label(LABEL_ROLE) == Some("control"))
        .map(|c| c.id)
        .collect();
    let r: serde_json::Value = serde_json::from_str(
        &meshctl(
            &[
                "--name",
                &name,
                "down",
                "--keep-control",
                "--format",
                "json",
            ],
            Duration::from_secs(300),
        )
        .await?,
    )?;
    assert_eq!(
        r,
        serde_json::json!({"containers": 6, "networks": 3, "volumes": 3})
    );
    assert_eq!(roles(&d, &name).await?, control);
    assert!(context::list_containers(&d, &name)
        .await?
        .iter()
        .all(Container::running));
    let sel = Filter::deployment(&name);
    let nets: Vec<String> = d
        .list_networks(&sel)
        .await?
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(nets, [p("micro-net")]);
    assert!(d.list_volumes(&sel).await?.is_empty());
    let health = http.get(format!("{topology}/graph")).send().await?;
    assert!(health.status().is_success(), "topology still answers");

    // up brings the rest back around the kept control plane.
    let back: serde_json::Value =
        serde_json::from_str(&meshctl(&up, Duration::from_secs(900)).await?)?;
    assert_eq!(
        back["actions"],
        serde_json::json!({"created": 6, "kept": 4}),
        "{back}"
    );
    let ids: BTreeSet<String> = context::list_containers(&d, &name)
        .await?
        .into_iter()
        .filter(|c| c.label(LABEL_ROLE) == Some("control"))
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, control_ids, "the control plane was kept");

    // Plain down: nothing of it remains.
    meshctl(&["--name", &name, "down"], Duration::from_secs(300)).await?;
    let left = leftovers(&d, &name).await?;
    assert!(left.is_empty(), "left after down: {left:?}");
    Ok(())
}

/// The entries of an uncompressed tar archive (ustar headers), with the
/// bodies of the small metadata files (`*.json`, `repositories`) only.
fn tar_entries(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; 512];
        file.read_exact(&mut h).context("truncated tar")?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            let s = &h[r];
            let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).trim().to_string()
        };
        let mut name = field(0..100);
        let prefix = field(345..500);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let size = u64::from_str_radix(&field(124..136), 8).context("tar entry size")?;
        let padded = size.div_ceil(512) * 512;
        let body = if name.ends_with(".json") || name == "repositories" {
            let mut body = vec![0u8; padded as usize];
            file.read_exact(&mut body).context("truncated tar")?;
            body.truncate(size as usize);
            body
        } else {
            file.seek(SeekFrom::Current(padded as i64))?;
            Vec::new()
        };
        out.push((name, body));
    }
    Ok(out)
}

/// The `RepoTags` of every image in a `docker save` archive.
fn archive_tags(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let entries = tar_entries(path)?;
    let (_, manifest) = entries
        .iter()
        .find(|(n, _)| n == "manifest.json")
        .context("manifest.json in the archive")?;
    let manifest: Vec<serde_json::Value> = serde_json::from_slice(manifest)?;
    Ok(manifest
        .iter()
        .flat_map(|m| m["RepoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect())
}

/// `image save` of a peer image only this test has, removed from the daemon
/// and brought back by `image load` with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_save_and_load_round_trip() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let id = run_id("c");
    let d = meshctl::runtime::connect().await?;
    let tag = format!("meshctl-test-{id}/peer:rt");
    let _images = ImageGuard(vec![tag.clone()]);

    // The peer image from the release binaries, with a label of this run so
    // its id is ours alone (its layers are shared with peer-node).
    let bin_dir = Path::new(MESHCTL).parent().context("binary dir")?;
    let (ctx, _) = meshctl::images::build_context(meshctl::images::OwnImage::Peer, bin_dir)?;
    let labels = Labels::from([
        (LABEL_TEST.to_string(), id.clone()),
        ("meshctl.image".to_string(), "peer".to_string()),
    ]);
    d.build_image(&tag, ctx, &labels, &|_| {}).await?;
    let image_id = id_of_image(&d, &tag)
        .await?
        .context("built image missing")?;

    let dir = tempfile::tempdir()?;
    let archive = dir.path().join("f.tar");
    let archive_s = archive.to_str().context("path")?;
    let t = Duration::from_secs(300);
    let out = meshctl(&["image", "save", "-o", archive_s, &tag], t).await?;
    assert!(out.contains(&tag), "{out}");
    assert!(
        !dir.path().join("f.partial").exists(),
        "no partial file left"
    );
    let entries = tar_entries(&archive)?;
    let manifest = entries
        .iter()
        .find(|(n, _)| n == "manifest.json")
        .context("manifest.json in the archive")?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.1)?;
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([tag]));
    let config = manifest[0]["Config"].as_str().context("Config")?;
    assert!(
        image_id.ends_with(
            config
                .trim_end_matches(".json")
                .trim_start_matches("blobs/sha256/")
        ),
        "config {config} is image {image_id}"
    );
    assert!(!manifest[0]["Layers"]
        .as_array()
        .context("Layers")?
        .is_empty());

    // Gone from the daemon, then loaded back: the same image under the tag.
    let rmi = std::process::Command::new("docker")
        .args(["rmi", &tag])
        .output()?;
    assert!(rmi.status.success(), "{rmi:?}");
    assert_eq!(id_of_image(&d, &tag).await?, None);
    let out = meshctl(&["image", "load", "-i", archive_s], t).await?;
    assert!(out.contains(&tag), "load says what it loaded: {out}");
    assert_eq!(id_of_image(&d, &tag).await?, Some(image_id.clone()));
    let l = d
        .inspect_image(&tag)
        .await?
        .map(|i| i.labels)
        .unwrap_or_default();
    assert_eq!(l.get(LABEL_TEST), Some(&id));
    // Loading over the same tag again is fine.
    meshctl(&["image", "load", "-i", archive_s], t).await?;
    assert_eq!(id_of_image(&d, &tag).await?, Some(image_id));

    // Refusals: an image the daemon lacks, an archive that is not one.
    let missing = format!("meshctl-test-{id}/absent:none");
    let err = meshctl_fails(
        &[
            "image",
            "save",
            "-o",
            dir.path().join("g.tar").to_str().context("path")?,
            &missing,
        ],
        t,
    )
    .await?;
    assert!(err.contains(&missing), "{err}");
    assert!(!dir.path().join("g.tar").exists());
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"this is not an image archive")?;
    meshctl_fails(&["image", "load", "-i", junk.to_str().context("path")?], t).await?;
    meshctl_fails(
        &[
            "image",
            "load",
            "-i",
            dir.path().join("none.tar").to_str().context("path")?,
        ],
        t,
    )
    .await?;
    Ok(())
}

/// `legacy up --count 5`: BusyBox containers with hard limits on their own
/// network, idempotent; `legacy down` leaves none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_up_and_down() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let name = run_id("c");
    let test_label = format!("{LABEL_TEST}={name}");
    let d = meshctl::runtime::connect().await?;
    let _guard = Guard { name: name.clone() };
    let t = Duration::from_secs(300);
    let up = [
        "--name",
        &name,
        "legacy",
        "up",
        "--count",
        "5",
        "--label",
        &test_label,
    ];
    let out = meshctl(&up, t).await?;
    assert!(out.contains("5 created"), "{out}");

    let containers = context::list_containers(&d, &name).await?;
    assert_eq!(containers.len(), 5);
    let mut names = BTreeSet::new();
    for c in &containers {
        assert_eq!(c.label(LABEL_ROLE), Some("legacy"));
        assert_eq!(c.label(LABEL_TEST), Some(name.as_str()));
        assert!(c.running(), "{:?}", c.name);
        let id = c.id.clone();
        let i = d
            .inspect_container(&id)
            .await?
            .context("legacy container vanished")?;
        // The runtime gives names without Docker's leading `/`.
        names.insert(i.name.clone());
        assert_eq!(i.memory_limit, Some(15 * 1024 * 1024));
        assert_eq!(i.memory_swap_limit, Some(15 * 1024 * 1024), "no swap");
        assert_eq!(i.nano_cpus, Some(50_000_000));
        assert!(i.image.contains("busybox"), "image {}", i.image);
    }
    let expect: BTreeSet<String> = (1..=5).map(|i| format!("{name}-legacy-{i}")).collect();
    assert_eq!(names, expect);
    let net = meshctl::plan::object_name(&name, "legacy-net");
    let n = d.inspect_network(&net).await?.context("legacy network")?;
    assert_eq!(n.members.len(), 5);
    assert_eq!(n.labels.get(LABEL_TEST), Some(&name));

    // Again: nothing created.
    let out = meshctl(&up, t).await?;
    assert!(out.contains("0 created, 5 already running"), "{out}");
    assert_eq!(context::list_containers(&d, &name).await?.len(), 5);

    let out = meshctl(&["--name", &name, "legacy", "down"], t).await?;
    assert!(
        out.contains("removed 5 legacy containers, 1 networks"),
        "{out}"
    );
    let left = leftovers(&d, &name).await?;
    assert!(left.is_empty(), "left after legacy down: {left:?}");
    // Idempotent.
    meshctl(&["--name", &name, "legacy", "down"], t).await?;
    Ok(())
}

/// Starts `up` of a fresh deployment, sends SIGINT once `ready` holds for
/// its containers, and checks that nothing of it remains.
async fn interrupt_fresh_up(
    d: &DockerRuntime,
    name: &str,
    what: &str,
    ready: impl Fn(&[Container]) -> bool,
) -> anyhow::Result<()> {
    let test_label = format!("{LABEL_TEST}={name}");
    let child = command(&["--name", name, "up", "--count", "3", "--label", &test_label])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("spawn meshctl up")?;
    let pid = child.id().context("child pid")?;
    poll(what, Duration::from_secs(600), async || {
        let cs = context::list_containers(d, name).await?;
        Ok(ready(&cs).then_some(()))
    })
    .await?;
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    assert!(kill.success());
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .context("meshctl up after SIGINT: did not exit")??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "interrupted up must fail: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left = leftovers(d, name).await?;
    assert!(left.is_empty(), "left after Ctrl-C ({what}): {left:?}");
    // Nothing shows up late either (a create the daemon was finishing).
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let left = leftovers(d, name).await?;
        assert!(left.is_empty(), "appeared after Ctrl-C ({what}): {left:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// Ctrl-C of a fresh `up` removes everything that run created: once while
/// the databases start, once while the peers are being created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_removes_a_fresh_up() -> anyhow::Result<()> {
    let _lock = DOCKER_LOCK.lock().await;
    let d = meshctl::runtime::connect().await?;

    let early = run_id("c");
    let _guard = Guard {
        name: early.clone(),
    };
    interrupt_fresh_up(&d, &early, "a first container", |cs| !cs.is_empty()).await?;

    let late = format!("{}p", run_id("c"));
    let _guard2 = Guard { name: late.clone() };
    interrupt_fresh_up(&d, &late, "a first peer container", |cs| {
        cs.iter().any(|c| c.label(LABEL_ROLE) == Some("peer"))
    })
    .await?;
    Ok(())
}
