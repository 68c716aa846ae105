//! Network faults: link shaping (`netem`), partitions and isolation.
//!
//! Peers are `FROM scratch` and have no `tc` or `iptables`, so every change
//! is made by a one-shot helper container from the offline tools image
//! (`meshctl/tools:1`, Debian's iproute2 and iptables) that joins the peer's
//! network namespace with `NET_ADMIN` only, runs one `sh -c` script and is
//! removed. Helpers carry the deployment's labels, `meshctl.role=helper`,
//! `meshctl.target=<peer>` and, when they change something, a one-line
//! `meshctl.fault` (see [`crate::labels::LABEL_FAULT`]): their engine events
//! record the faults.
//!
//! A read of several peers, and a change of [`BATCH_CHANGES`] peers or more
//! (a partition, a heal of the whole mesh), instead goes through one
//! helper in the host's PID namespace with `SYS_ADMIN` that enters each
//! peer's network namespace by its process (`nsenter -t <pid> -n`), so a
//! 160-peer mesh costs one container run, not 160.
//!
//! All state lives in the peers' kernels and is read back from there
//! ([`show`], [`active`]), so [`heal`] works after meshctl was killed
//! mid-command. In a peer's namespace, on its interface on the peer
//! network:
//!
//! ```text
//! tc:        root htb 1: (unclassified traffic passes unshaped)
//!            class 1:1      + filter pref 65535 (everything)     without --to
//!            class 1:<m>    + filter pref <m> (u32 ip dst <ip>)  per --to peer,
//!                                 m = the low 16 bits of its address
//!            each class: htb rate (--rate, else 10gbit), and a netem child
//!            for --delay/--jitter/--corrupt/--duplicate where the kernel
//!            has sch_netem
//! mangle:    OUTPUT -o <dev> [-d <ip>] -m mark ! --mark 0x6d657368
//!                 -j NFQUEUE --queue-num <m or 1> --queue-bypass
//!                 comment meshctl-shaper-<to>_<tag>  where it has not:
//!                 the userspace shaper (tag: d<us>_j<us>_c<%>_u<%>)
//! iptables:  OUTPUT -o <dev> [-d <ip>] -m statistic ... -j DROP
//!                 comment meshctl-netem-<to>        --loss (to: peer or all)
//!            INPUT -s <ip> / OUTPUT -d <ip> -j DROP
//!                 comment meshctl-partition         partition
//!            INPUT -i <dev> / OUTPUT -o <dev> -j DROP
//!                 comment meshctl-isolate           isolate
//! ```
//!
//! Loss is an iptables rule rather than netem's so that it also works on
//! kernels without `sch_netem`. Delay, jitter, corruption and duplication
//! use netem where the kernel has it (the script tries it per class);
//! elsewhere the script queues the direction's packets to NFQUEUE in the
//! mangle table (before the filter table's loss rules, after which htb's
//! rate applies) and meshctl starts one `mesh-shaper` container per shaped
//! direction ([`SHAPER_QUEUE`] explains the queue numbers), labeled
//! `meshctl.shaper=<to>`. The rule's `--queue-bypass` lets traffic pass
//! unshaped whenever its shaper is gone; the shaper's duplicates carry mark
//! [`SHAPER_MARK`], which the rule skips. The settings are in the rule's
//! comment, so `netem show` reads them from the kernel.

mod kernel;
mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};

pub use kernel::{KernelState, LinkRow, Via};
pub use units::{parse_duration, parse_percent, parse_rate, Shaping};

/// How shaping values are printed (`200ms`, `1mbit`).
pub mod units_fmt {
    pub use super::units::{fmt_duration as duration, fmt_rate as rate};
}

use crate::context::list_containers;
use crate::images::{ensure_own_image, OwnImage, DEFAULT_SHAPER_IMAGE};
use crate::labels::{
    natural_key, Role, LABEL_COMPONENT, LABEL_EDGE, LABEL_FAULT, LABEL_ROLE, LABEL_SHAPER,
    LABEL_TARGET,
};
use crate::offline::{ensure, BaseImage};
use crate::progress::Step;
use crate::runtime::{Container, Filter, HelperSpec, Images, Runtime};

/// Comment prefix of every iptables rule meshctl makes.
pub const RULE_PREFIX: &str = "meshctl-";
/// Comment of partition rules.
pub const RULE_PARTITION: &str = "meshctl-partition";
/// Comment of isolation rules.
pub const RULE_ISOLATE: &str = "meshctl-isolate";
/// Comment prefix of loss rules: `meshctl-netem-<to>`.
pub const RULE_NETEM: &str = "meshctl-netem";
/// Comment prefix of the shaper's queueing rules:
/// `meshctl-shaper-<to>_<tag>` (see [`Shaping::shaper_tag`]).
pub const RULE_SHAPER: &str = "meshctl-shaper";
/// `MESHCTL_SHAPER=always`: use the userspace shaper even where the
/// kernel has sch_netem (to compare the two, or test the shaper there).
pub const ENV_SHAPER: &str = "MESHCTL_SHAPER";
/// The firewall mark of the shaper's duplicates: the queueing rule lets
/// them pass, so a copy is not queued again.
pub const SHAPER_MARK: u32 = 0x6d65_7368;
/// The queue of a peer's whole egress; a link's queue is its class minor
/// (the low 16 bits of the other end's address), so each shaped direction
/// of a namespace has its own queue and shaper.
pub const SHAPER_QUEUE: u16 = 1;
/// The memory limit of a shaper container: it holds at most
/// `mesh_shaper::DEFAULT_LIMIT` packets (1000, about 1.5 MB at MTU 1500).
pub const SHAPER_MEMORY: i64 = 32 << 20;

/// Helpers in flight at once.
const FAN_OUT: usize = 8;

/// A peer of the deployment as the faults see it: its container and its
/// address on the peer network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPeer {
    pub name: String,
    pub container: String,
    pub ip: String,
    /// Its main process on the host (none on a runtime without processes).
    pub pid: Option<i64>,
}

/// The deployment's running peers on the peer network, by name.
#[derive(Debug, Clone, Default)]
pub struct Mesh {
    pub deployment: String,
    pub network: String,
    pub peers: BTreeMap<String, NetPeer>,
    /// Peers of the deployment that do not run (no namespace to act on).
    pub stopped: BTreeSet<String>,
}

impl Mesh {
    /// Peer `name`, or an error naming it (and saying why).
    pub fn peer(&self, name: &str) -> anyhow::Result<&NetPeer> {
        if let Some(p) = self.peers.get(name) {
            return Ok(p);
        }
        if self.stopped.contains(name) {
            bail!(
                "peer {name:?} of deployment {:?} is not running",
                self.deployment
            );
        }
        bail!(
            "deployment {:?} has no peer {name:?} (see `meshctl status`)",
            self.deployment
        )
    }

    fn name_of(&self, ip: &str) -> String {
        self.peers
            .values()
            .find(|p| p.ip == ip)
            .map_or_else(|| ip.to_string(), |p| p.name.clone())
    }

    fn sorted(&self) -> Vec<&NetPeer> {
        let mut v: Vec<&NetPeer> = self.peers.values().collect();
        v.sort_by_key(|p| natural_key(&p.name));
        v
    }
}

/// Reads deployment `deployment`'s peers and their addresses on the peer
/// network (the network its control services are on) from the engine.
pub async fn mesh(rt: &impl Runtime, deployment: &str) -> anyhow::Result<Mesh> {
    let containers = list_containers(rt, deployment).await?;
    if containers.is_empty() {
        bail!(
            "no deployment named {deployment:?} (start one with `meshctl up --name {deployment}`)"
        );
    }
    let role = |c: &Container| c.label(LABEL_ROLE).and_then(Role::parse);
    let mut details = Vec::new();
    for c in containers.iter().filter(|c| c.running()) {
        if matches!(role(c), Some(Role::Peer | Role::Control)) {
            if let Some(d) = rt.inspect_container(&c.id).await? {
                details.push((role(c), d));
            }
        }
    }
    // Control services sit on the peer network only; without them, the
    // network every running peer shares.
    let control: BTreeSet<&String> = details
        .iter()
        .filter(|(r, _)| *r == Some(Role::Control))
        .flat_map(|(_, d)| d.addresses.keys())
        .collect();
    let mut shared: Option<BTreeSet<&String>> = None;
    for (_, d) in details.iter().filter(|(r, _)| *r == Some(Role::Peer)) {
        let nets: BTreeSet<&String> = d.addresses.keys().collect();
        shared = Some(match shared {
            None => nets,
            Some(s) => s.intersection(&nets).copied().collect(),
        });
    }
    let network = match (control.iter().next(), &shared) {
        (Some(n), _) if control.len() == 1 => (*n).clone(),
        (_, Some(s)) if s.len() == 1 => (*s.iter().next().expect("one")).clone(),
        _ => bail!("deployment {deployment:?}: cannot tell its peer network (no running control service, no running peer)"),
    };
    let mut m = Mesh {
        deployment: deployment.to_string(),
        network: network.clone(),
        ..Default::default()
    };
    for (_, d) in details.iter().filter(|(r, _)| *r == Some(Role::Peer)) {
        let (Some(name), Some(ip)) = (d.label(LABEL_COMPONENT), d.addresses.get(&network)) else {
            continue;
        };
        m.peers.insert(
            name.to_string(),
            NetPeer {
                name: name.to_string(),
                container: d.id.clone(),
                ip: ip.clone(),
                pid: d.pid,
            },
        );
    }
    for c in &containers {
        if role(c) == Some(Role::Peer) && !c.running() {
            if let Some(name) = c.label(LABEL_COMPONENT) {
                m.stopped.insert(name.to_string());
            }
        }
    }
    Ok(m)
}

// ---------------------------------------------------------------- scripts

/// Finds the interface holding `ip` as `$dev`.
fn prelude(ip: &str) -> String {
    format!(
        "set -e\n\
         dev=$(ip -o -4 addr show | grep -F ' inet {ip}/' | sed 's/^[0-9]*: *\\([^ ]*\\) .*/\\1/')\n\
         [ -n \"$dev\" ] || {{ echo 'no interface with address {ip}'; exit 3; }}\n"
    )
}

/// Deletes every iptables rule whose comment is `comment` (or starts with
/// it, with `prefix`): the table is saved, filtered and restored in one
/// call, however many rules there are. Comments are made of `[a-z0-9-]`
/// so iptables prints them unquoted; quotes are allowed for anyway.
fn delete_rules(comment: &str, prefix: bool) -> String {
    delete_rules_in("filter", comment, prefix)
}

/// [`delete_rules`] in table `table`.
fn delete_rules_in(table: &str, comment: &str, prefix: bool) -> String {
    let end = if prefix { "" } else { "\"\\? " };
    format!(
        "iptables-save -t {table} | grep -v -e '--comment \"\\?{comment}{end}' | iptables-restore -T {table}\n"
    )
}

/// Appends DROP rules in and out for every address of `cut` to the filter
/// table, in one `iptables-restore` call.
fn partition_rules(cut: &[&str]) -> String {
    if cut.is_empty() {
        return String::new();
    }
    format!(
        "{{ echo '*filter'; for ip in {}; do \
         echo \"-A INPUT -s $ip/32 -m comment --comment {RULE_PARTITION} -j DROP\"; \
         echo \"-A OUTPUT -d $ip/32 -m comment --comment {RULE_PARTITION} -j DROP\"; \
         done; echo COMMIT; }} | iptables-restore --noflush\n",
        cut.join(" ")
    )
}

/// The class minor of a link to `ip`: the low 16 bits of the address.
fn minor(ip: &str) -> anyhow::Result<u16> {
    let addr: std::net::Ipv4Addr = ip.parse().with_context(|| format!("address {ip:?}"))?;
    let o = addr.octets();
    let m = u16::from_be_bytes([o[2], o[3]]);
    // 1 is the whole-peer class, 65535 its filter's pref.
    if m <= 1 || m == u16::MAX {
        bail!("address {ip}: cannot be a peer's");
    }
    Ok(m)
}

/// Unshaped rate of a class that only carries a netem child.
const UNLIMITED: &str = "10gbit";

/// The class of minor `m` (toward `to`, at `dst`, or all of the egress):
/// its rate, and netem where the kernel has it, else a queueing rule for a
/// shaper, which the script announces with a line `shaper <to>`.
fn class_script(m: u16, to: &str, dst: Option<&str>, s: &Shaping) -> String {
    let rate = s
        .rate_bps
        .map_or_else(|| UNLIMITED.to_string(), |r| format!("{r}bit"));
    let mut out = format!(
        "tc qdisc del dev $dev parent 1:{m:x} 2>/dev/null || true\n\
         tc class replace dev $dev parent 1: classid 1:{m:x} htb rate {rate} ceil {rate}\n"
    );
    out.push_str(&delete_rules_in(
        "mangle",
        &format!("{RULE_SHAPER}-{to}_"),
        true,
    ));
    if let (Some(netem), Some(shaper)) = (s.netem_args(), s.shaper_part()) {
        // Links go first: a packet is queued by the first rule it matches.
        let (at, queue) = match dst {
            Some(_) => ("-I OUTPUT 1", m),
            None => ("-A OUTPUT", SHAPER_QUEUE),
        };
        let dst = dst.map(|ip| format!(" -d {ip}/32")).unwrap_or_default();
        out.push_str(&format!(
            "if [ \"$netem\" != no ] && tc qdisc replace dev $dev parent 1:{m:x} netem {netem} 2>/dev/null; then :; else\n\
             netem=no\n\
             iptables -t mangle {at} -o $dev{dst} -m mark ! --mark {SHAPER_MARK:#x} -m comment --comment {RULE_SHAPER}-{to}_{tag} -j NFQUEUE --queue-num {queue} --queue-bypass\n\
             echo 'shaper {to}'\n\
             fi\n",
            tag = shaper.shaper_tag()
        ));
    }
    out
}

fn loss_rule(to: &str, dst: Option<&str>, loss: f64) -> String {
    let dst = dst.map(|ip| format!(" -d {ip}/32")).unwrap_or_default();
    let statistic = if loss >= 100.0 {
        String::new()
    } else {
        format!(
            " -m statistic --mode random --probability {:.6}",
            loss / 100.0
        )
    };
    format!(
        "iptables -A OUTPUT -o $dev{dst}{statistic} -m comment --comment {RULE_NETEM}-{to} -j DROP\n"
    )
}

/// The script that shapes `peer`'s egress toward `to` (all of it when empty).
pub fn set_script(peer: &NetPeer, to: &[&NetPeer], s: &Shaping) -> anyhow::Result<String> {
    let mut out = prelude(&peer.ip);
    if std::env::var(ENV_SHAPER).is_ok_and(|v| v == "always") {
        out.push_str("netem=no\n");
    }
    out.push_str(
        "tc qdisc show dev $dev | grep -q '^qdisc htb 1: root' || tc qdisc replace dev $dev root handle 1: htb\n",
    );
    if to.is_empty() {
        out.push_str("tc filter del dev $dev parent 1: prio 65535 2>/dev/null || true\n");
        out.push_str(&delete_rules(&format!("{RULE_NETEM}-all"), false));
        out.push_str(&class_script(1, "all", None, s));
        out.push_str("tc filter add dev $dev parent 1: protocol ip prio 65535 u32 match u32 0 0 flowid 1:1\n");
        if let Some(loss) = s.loss.filter(|l| *l > 0.0) {
            out.push_str(&loss_rule("all", None, loss));
        }
    }
    for t in to {
        let m = minor(&t.ip)?;
        out.push_str(&format!(
            "tc filter del dev $dev parent 1: prio {m} 2>/dev/null || true\n"
        ));
        out.push_str(&delete_rules(&format!("{RULE_NETEM}-{}", t.name), false));
        out.push_str(&class_script(m, &t.name, Some(&t.ip), s));
        out.push_str(&format!(
            "tc filter add dev $dev parent 1: protocol ip prio {m} u32 match ip dst {}/32 flowid 1:{m:x}\n",
            t.ip
        ));
        if let Some(loss) = s.loss.filter(|l| *l > 0.0) {
            out.push_str(&loss_rule(&t.name, Some(&t.ip), loss));
        }
    }
    Ok(out)
}

/// Removes the peer's shaping (`netem`) or every meshctl change (`all`).
fn reset_script(peer: &NetPeer, everything: bool) -> String {
    let mut out = prelude(&peer.ip);
    out.push_str("tc qdisc del dev $dev root 2>/dev/null || true\n");
    out.push_str(&delete_rules(
        if everything { RULE_PREFIX } else { RULE_NETEM },
        true,
    ));
    out.push_str(&delete_rules_in(
        "mangle",
        if everything { RULE_PREFIX } else { RULE_SHAPER },
        true,
    ));
    out
}

/// Prints what [`KernelState::parse`] reads.
fn read_script(peer: &NetPeer) -> String {
    let mut out = prelude(&peer.ip);
    out.push_str(
        "echo \"## dev $dev\"\n\
         echo '## qdisc'; tc qdisc show dev $dev\n\
         echo '## class'; tc class show dev $dev\n\
         echo '## filter'; tc filter show dev $dev\n\
         echo '## iptables'; iptables -S\n\
         echo '## mangle'; iptables -t mangle -S\n",
    );
    out
}

// ---------------------------------------------------------------- helpers

static HELPERS: AtomicU64 = AtomicU64::new(0);

/// The labels of a helper acting on `peer`: the deployment's (from the
/// peer's own), `meshctl.role=helper`, `meshctl.target` and, when it
/// changes something, `meshctl.fault`.
async fn helper_labels(
    rt: &impl Runtime,
    peer: &NetPeer,
    fault: Option<&str>,
) -> anyhow::Result<crate::runtime::Labels> {
    let target = rt
        .inspect_container(&peer.container)
        .await?
        .with_context(|| format!("peer {} is gone", peer.name))?;
    let mut labels = target.labels.clone();
    labels.retain(|k, _| k != LABEL_COMPONENT && k != LABEL_EDGE && k != crate::plan::LABEL_SPEC);
    labels.insert(LABEL_ROLE.into(), Role::Helper.as_str().into());
    labels.insert(LABEL_TARGET.into(), peer.name.clone());
    if let Some(f) = fault {
        labels.insert(LABEL_FAULT.into(), f.to_string());
    }
    Ok(labels)
}

/// A helper's name, unique to the process and the moment.
fn helper_name(mesh: &Mesh, peer: &NetPeer, kind: &str) -> String {
    let n = HELPERS.fetch_add(1, Ordering::Relaxed);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{}-{kind}-{}-{}-{stamp:x}{n}",
        mesh.deployment,
        peer.name,
        std::process::id()
    )
}

/// Runs `script` in `peer`'s network namespace; `fault` labels a helper that
/// changes something. Fails with the script's output when it fails.
async fn run_in(
    rt: &impl Runtime,
    image: &str,
    mesh: &Mesh,
    peer: &NetPeer,
    fault: Option<&str>,
    script: String,
) -> anyhow::Result<String> {
    let labels = helper_labels(rt, peer, fault).await?;
    let spec = HelperSpec {
        name: helper_name(mesh, peer, "helper"),
        image: image.to_string(),
        target: peer.container.clone(),
        cmd: vec!["sh".into(), "-c".into(), script],
        labels,
        ..Default::default()
    };
    let out = rt.run_helper(&spec).await?;
    if out.exit_code != 0 {
        bail!(
            "{} on {}: exit code {}: {}",
            fault.unwrap_or("read network state"),
            peer.name,
            out.exit_code,
            out.output.trim()
        );
    }
    Ok(out.output)
}

/// The tools image, built offline when missing.
pub async fn tools_image(rt: &impl Images, progress: &Step) -> anyhow::Result<String> {
    ensure(rt, BaseImage::Tools, progress)
        .await
        .context("make the tools image for helper containers")
}

/// Changes made for this many peers or more go through one batch helper
/// ([`run_batch`]) rather than one helper per peer.
const BATCH_CHANGES: usize = 8;

/// Whether every job's peer has a known process to enter.
fn batchable(jobs: &[(&NetPeer, Option<String>, String)]) -> bool {
    jobs.iter().all(|(p, _, _)| p.pid.is_some())
}

/// Runs one script per peer: through one batch helper when there are
/// [`BATCH_CHANGES`] or more, else one helper per peer, at most
/// [`FAN_OUT`] at a time (each helper's events then name its peer and its
/// change). Answers outputs in the order given.
async fn run_each<R: Runtime>(
    rt: &R,
    image: &str,
    mesh: &Mesh,
    jobs: Vec<(&NetPeer, Option<String>, String)>,
) -> anyhow::Result<Vec<(String, String)>> {
    if jobs.len() >= BATCH_CHANGES && batchable(&jobs) {
        return run_batch(rt, image, mesh, jobs).await;
    }
    futures::stream::iter(jobs)
        .map(|(peer, fault, script)| async move {
            let out = run_in(rt, image, mesh, peer, fault.as_deref(), script).await?;
            Ok::<_, anyhow::Error>((peer.name.clone(), out))
        })
        .buffered(FAN_OUT)
        .try_collect()
        .await
}

/// Marks the start of one job's output in [`run_batch`]'s.
const JOB_MARK: &str = "### meshctl-job";
/// Jobs [`run_batch`] runs at once.
const BATCH_FAN_OUT: usize = 16;

/// The script of [`run_batch`]: each peer's script in a file, run in
/// that peer's network namespace (`nsenter -t <pid> -n`, the helper's own
/// tools), [`BATCH_FAN_OUT`] at a time, then every output after a
/// `### meshctl-job <i> <exit code>` line.
pub fn batch_script(jobs: &[(i64, String)]) -> String {
    let mut out = String::from(
        "cd /tmp
",
    );
    for (i, (_, script)) in jobs.iter().enumerate() {
        out.push_str(&format!(
            "cat > j{i} <<'MESHCTL_JOB_{i}'\n{script}\nMESHCTL_JOB_{i}\n"
        ));
    }
    out.push_str("run() { nsenter -t \"$2\" -n sh \"j$1\" > \"o$1\" 2>&1; echo $? > \"r$1\"; }\n");
    for (i, (pid, _)) in jobs.iter().enumerate() {
        out.push_str(&format!("run {i} {pid} &\n"));
        if (i + 1) % BATCH_FAN_OUT == 0 {
            out.push_str("wait\n");
        }
    }
    out.push_str("wait\n");
    for i in 0..jobs.len() {
        out.push_str(&format!("echo \"{JOB_MARK} {i} $(cat r{i})\"; cat o{i}\n"));
    }
    out
}

/// Splits [`batch_script`]'s output: job index → (exit code, output).
pub fn split_batch(output: &str) -> BTreeMap<usize, (i32, String)> {
    let mut jobs: BTreeMap<usize, (i32, String)> = BTreeMap::new();
    let mut current: Option<usize> = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(JOB_MARK) {
            let mut t = rest.split_whitespace();
            let i = t.next().and_then(|v| v.parse::<usize>().ok());
            let rc = t.next().and_then(|v| v.parse::<i32>().ok()).unwrap_or(-1);
            if let Some(i) = i {
                jobs.insert(i, (rc, String::new()));
                current = Some(i);
                continue;
            }
        }
        if let Some((_, out)) = current.and_then(|i| jobs.get_mut(&i)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    jobs
}

/// Runs each job's script in its peer's network namespace with one helper
/// in the host's PID namespace instead of one helper per peer. The
/// helper's `meshctl.fault` is the first job's change and how many more
/// there are. Answers outputs in the order given, or fails naming the
/// first peer whose script failed.
async fn run_batch<R: Runtime>(
    rt: &R,
    image: &str,
    mesh: &Mesh,
    jobs: Vec<(&NetPeer, Option<String>, String)>,
) -> anyhow::Result<Vec<(String, String)>> {
    // One `sh -c` argument holds at most 128 KiB (MAX_ARG_STRLEN): the
    // jobs go in chunks of at most BATCH_BYTES of script each.
    let mut chunks: Vec<Vec<(&NetPeer, Option<String>, String)>> = Vec::new();
    let mut size = 0usize;
    for job in jobs {
        let len = job.2.len() + 128;
        if chunks.is_empty() || size + len > BATCH_BYTES {
            chunks.push(Vec::new());
            size = 0;
        }
        size += len;
        if let Some(c) = chunks.last_mut() {
            c.push(job);
        }
    }
    let outs: Vec<Vec<(String, String)>> = futures::stream::iter(chunks)
        .map(|chunk| run_chunk(rt, image, mesh, chunk))
        .buffered(FAN_OUT)
        .try_collect()
        .await?;
    Ok(outs.into_iter().flatten().collect())
}

/// Script bytes one batch helper carries.
const BATCH_BYTES: usize = 96 * 1024;

/// One helper of [`run_batch`].
async fn run_chunk<R: Runtime>(
    rt: &R,
    image: &str,
    mesh: &Mesh,
    jobs: Vec<(&NetPeer, Option<String>, String)>,
) -> anyhow::Result<Vec<(String, String)>> {
    let (first, fault, _) = jobs.first().context("no peer to act on")?;
    let n = jobs.len();
    let fault = fault.as_ref().map(|f| {
        if n > 1 {
            format!("{f} and {} more", n - 1)
        } else {
            f.clone()
        }
    });
    let mut labels = helper_labels(rt, first, fault.as_deref()).await?;
    labels.insert(LABEL_TARGET.into(), format!("{n} peers"));
    let scripts: Vec<(i64, String)> = jobs
        .iter()
        .map(|(p, _, script)| (p.pid.unwrap_or(0), script.clone()))
        .collect();
    let spec = HelperSpec {
        name: helper_name(mesh, first, "batch"),
        image: image.to_string(),
        cmd: vec!["sh".into(), "-c".into(), batch_script(&scripts)],
        labels,
        host_pids: true,
        ..Default::default()
    };
    let out = rt.run_helper(&spec).await?;
    if out.exit_code != 0 {
        bail!(
            "{} on {n} peers: exit code {}: {}",
            fault.as_deref().unwrap_or("read network state"),
            out.exit_code,
            out.output.trim()
        );
    }
    let mut split = split_batch(&out.output);
    jobs.iter()
        .enumerate()
        .map(|(i, (p, fault, _))| {
            let what = fault.as_deref().unwrap_or("read network state");
            match split.remove(&i) {
                Some((0, o)) => Ok((p.name.clone(), o)),
                Some((rc, o)) => bail!("{what} on {}: exit code {rc}: {}", p.name, o.trim()),
                None => bail!("{what} on {}: no output", p.name),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- netem

/// What `netem set` does.
#[derive(Debug, Clone, PartialEq)]
pub struct NetemSet {
    pub peer: String,
    /// Empty: all of the peer's egress on the peer network.
    pub to: Vec<String>,
    pub shaping: Shaping,
    /// Shape only `peer` → `to`, not the way back.
    pub one_way: bool,
}

/// Applies `set` (both ends of each link unless `one_way`). Every name is
/// checked before anything is changed.
pub async fn netem_set<R: Runtime + Images>(
    rt: &R,
    deployment: &str,
    set: &NetemSet,
    progress: &Step,
) -> anyhow::Result<()> {
    set.shaping.check()?;
    let mesh = mesh(rt, deployment).await?;
    let peer = mesh.peer(&set.peer)?;
    let mut to = Vec::new();
    for t in &set.to {
        let p = mesh.peer(t).with_context(|| format!("--to {t}"))?;
        if p.name == peer.name {
            bail!("--to {t}: a peer has no link to itself");
        }
        to.push(p);
    }
    let image = tools_image(rt, progress).await?;
    let detail = set.shaping.describe();
    let mut jobs = Vec::new();
    let desc = |from: &str, to: &[&NetPeer]| {
        let to = if to.is_empty() {
            String::new()
        } else {
            format!(
                " to={}",
                to.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        format!("netem {from} {detail}{to}")
    };
    jobs.push((
        peer,
        Some(desc(&peer.name, &to)),
        set_script(peer, &to, &set.shaping)?,
    ));
    if !set.one_way {
        for t in &to {
            jobs.push((
                *t,
                Some(desc(&t.name, &[peer])),
                set_script(t, &[peer], &set.shaping)?,
            ));
        }
    }
    // Each direction set now replaces its shaper, if it had one.
    let directions: Vec<(&NetPeer, String)> = jobs
        .iter()
        .flat_map(|(p, _, _)| {
            let tos: Vec<String> = if p.name == peer.name {
                if to.is_empty() {
                    vec!["all".to_string()]
                } else {
                    to.iter().map(|t| t.name.clone()).collect()
                }
            } else {
                vec![peer.name.clone()]
            };
            tos.into_iter().map(move |t| (*p, t))
        })
        .collect();
    stop_shapers(rt, &mesh, &directions).await?;
    progress.set_message(format!("shaping {} helper(s)", jobs.len()));
    let outs = run_each(rt, &image, &mesh, jobs).await?;
    let wanted: Vec<(&NetPeer, String)> = outs
        .iter()
        .flat_map(|(name, out)| {
            out.lines()
                .filter_map(|l| l.strip_prefix("shaper "))
                .map(move |to| (name.clone(), to.trim().to_string()))
        })
        .filter_map(|(name, to)| Some((mesh.peers.get(&name)?, to)))
        .collect();
    if let (false, Some(shaper)) = (wanted.is_empty(), set.shaping.shaper_part()) {
        progress.set_message("no sch_netem in the kernel: starting shapers");
        let image = ensure_own_image(rt, OwnImage::Shaper, DEFAULT_SHAPER_IMAGE, progress)
            .await
            .context("make the shaper image")?;
        for (p, to) in wanted {
            start_shaper(rt, &image, &mesh, p, &to, &shaper).await?;
        }
    }
    Ok(())
}

/// Starts the shaper of direction `peer` → `to` (a peer or `all`).
async fn start_shaper(
    rt: &impl Runtime,
    image: &str,
    mesh: &Mesh,
    peer: &NetPeer,
    to: &str,
    shaper: &Shaping,
) -> anyhow::Result<()> {
    let queue = match to {
        "all" => SHAPER_QUEUE,
        t => minor(&mesh.peer(t)?.ip)?,
    };
    let fault = format!("shaper {} {} to={to}", peer.name, shaper.describe());
    let mut labels = helper_labels(rt, peer, Some(&fault)).await?;
    labels.insert(LABEL_SHAPER.into(), to.to_string());
    let spec = HelperSpec {
        name: helper_name(mesh, peer, "shaper"),
        image: image.to_string(),
        target: peer.container.clone(),
        cmd: shaper.shaper_args(queue),
        labels,
        extra_caps: vec!["NET_RAW".into()],
        memory_limit: Some(SHAPER_MEMORY),
        host_pids: false,
    };
    rt.start_helper(&spec)
        .await
        .with_context(|| format!("start the shaper of {} to {to}", peer.name))?;
    Ok(())
}

/// The shaper containers of the deployment (running or not), with the
/// direction they shape: (target peer, to).
async fn shapers(
    rt: &impl Runtime,
    deployment: &str,
) -> anyhow::Result<Vec<(crate::runtime::Container, String, String)>> {
    Ok(rt
        .list_containers(&Filter::deployment(deployment).and(LABEL_ROLE, Role::Helper.as_str()))
        .await?
        .into_iter()
        .filter_map(|c| {
            let to = c.label(LABEL_SHAPER)?.to_string();
            let target = c.label(LABEL_TARGET)?.to_string();
            Some((c, target, to))
        })
        .collect())
}

/// How long a shaper has to pass the packets it holds when stopped.
const SHAPER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Stops and removes the shapers of `directions` ((peer, to) pairs; `to`
/// `*` for all of a peer's).
async fn stop_shapers(
    rt: &impl Runtime,
    mesh: &Mesh,
    directions: &[(&NetPeer, String)],
) -> anyhow::Result<usize> {
    let doomed: Vec<String> = shapers(rt, &mesh.deployment)
        .await?
        .into_iter()
        .filter(|(_, target, to)| {
            directions
                .iter()
                .any(|(p, t)| p.name == *target && (t == "*" || t == to))
        })
        .map(|(c, _, _)| c.id)
        .collect();
    futures::stream::iter(&doomed)
        .map(|id| async move {
            // SIGTERM first: the shaper passes what it holds, then exits.
            rt.stop_container(id, SHAPER_GRACE).await?;
            rt.remove_container(id).await
        })
        .buffer_unordered(FAN_OUT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(doomed.len())
}

impl Mesh {
    /// `peers` by name, or every running peer when empty; an unknown name
    /// is an error naming it.
    fn chosen(&self, peers: &[String]) -> anyhow::Result<Vec<&NetPeer>> {
        if peers.is_empty() {
            return Ok(self.sorted());
        }
        peers.iter().map(|p| self.peer(p)).collect()
    }
}

/// Reads the kernel state of `peers` (every running peer when empty).
async fn read<R: Runtime + Images>(
    rt: &R,
    mesh: &Mesh,
    peers: &[String],
    progress: &Step,
) -> anyhow::Result<Vec<(String, KernelState)>> {
    let targets = mesh.chosen(peers)?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let image = tools_image(rt, progress).await?;
    let jobs: Vec<_> = targets.iter().map(|p| (*p, None, read_script(p))).collect();
    let outs = if jobs.len() > 1 && batchable(&jobs) {
        run_batch(rt, &image, mesh, jobs).await?
    } else {
        run_each(rt, &image, mesh, jobs).await?
    };
    Ok(outs
        .into_iter()
        .map(|(name, out)| (name, KernelState::parse(&out)))
        .collect())
}

/// The shaping in the kernel of `peers` (all when empty), one row per
/// shaped direction, sorted.
pub async fn netem_show<R: Runtime + Images>(
    rt: &R,
    deployment: &str,
    peers: &[String],
    progress: &Step,
) -> anyhow::Result<Vec<LinkRow>> {
    let mesh = mesh(rt, deployment).await?;
    let mut rows = Vec::new();
    for (name, state) in read(rt, &mesh, peers, progress).await? {
        rows.extend(state.links(&name, &|ip| mesh.name_of(ip)));
    }
    if rows.iter().any(|r| r.via == Via::Shaper) {
        let running = shapers(rt, deployment).await?;
        for r in rows.iter_mut().filter(|r| r.via == Via::Shaper) {
            let state = running
                .iter()
                .filter(|(_, target, to)| *target == r.peer && *to == r.to)
                .map(|(c, _, _)| c.state)
                .max_by_key(|s| *s == crate::runtime::ContainerState::Running);
            r.shaper = Some(state.map_or_else(|| "missing".to_string(), |s| s.to_string()));
        }
    }
    Ok(rows)
}

/// Removes the shaping of `peers` (every running peer when empty). Answers
/// the peers reset.
pub async fn netem_reset<R: Runtime + Images>(
    rt: &R,
    deployment: &str,
    peers: &[String],
    progress: &Step,
) -> anyhow::Result<Vec<String>> {
    let mesh = mesh(rt, deployment).await?;
    reset(rt, &mesh, peers, false, progress).await
}

async fn reset<R: Runtime + Images>(
    rt: &R,
    mesh: &Mesh,
    peers: &[String],
    everything: bool,
    progress: &Step,
) -> anyhow::Result<Vec<String>> {
    let targets = mesh.chosen(peers)?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let image = tools_image(rt, progress).await?;
    let all: Vec<(&NetPeer, String)> = targets.iter().map(|p| (*p, "*".to_string())).collect();
    stop_shapers(rt, mesh, &all).await?;
    let what = if everything { "heal" } else { "netem reset" };
    let jobs = targets
        .iter()
        .map(|p| {
            (
                *p,
                Some(format!("{what} {}", p.name)),
                reset_script(p, everything),
            )
        })
        .collect();
    Ok(run_each(rt, &image, mesh, jobs)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

// ---------------------------------------------------------------- partitions

/// Cuts every link between `groups` (each a list of peer names): in each
/// peer, DROP in and out for the other groups' addresses. Answers the
/// number of rules made.
pub async fn partition<R: Runtime + Images>(
    rt: &R,
    deployment: &str,
    groups: &[Vec<String>],
    progress: &Step,
) -> anyhow::Result<usize> {
    if groups.len() < 2 {
        bail!("partition: give at least two groups (peer-1,peer-2 peer-3,peer-4)");
    }
    let mesh = mesh(rt, deployment).await?;
    let mut seen = BTreeSet::new();
    let mut resolved: Vec<Vec<&NetPeer>> = Vec::new();
    for g in groups {
        if g.is_empty() {
            bail!("partition: an empty group");
        }
        let mut peers = Vec::new();
        for p in g {
            if !seen.insert(p.clone()) {
                bail!("partition: peer {p:?} is in two groups");
            }
            peers.push(mesh.peer(p)?);
        }
        resolved.push(peers);
    }
    let desc = format!(
        "partition {}",
        groups
            .iter()
            .map(|g| g.join(","))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let image = tools_image(rt, progress).await?;
    let mut jobs = Vec::new();
    let mut rules = 0;
    for (i, g) in resolved.iter().enumerate() {
        let others: Vec<&NetPeer> = resolved
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, o)| o.iter().copied())
            .collect();
        // The rules are written out in the peer's namespace from the list
        // of addresses: a script of ~13 bytes per address, not ~150 per rule.
        let cut: Vec<&str> = others.iter().map(|o| o.ip.as_str()).collect();
        for p in g {
            let mut script = prelude(&p.ip);
            script.push_str(&partition_rules(&cut));
            rules += 2 * cut.len();
            jobs.push((*p, Some(desc.clone()), script));
        }
    }
    progress.set_message(format!("partition: {} helper(s)", jobs.len()));
    run_each(rt, &image, &mesh, jobs).await?;
    Ok(rules)
}

/// Drops all of `peer`'s traffic on the peer network, in and out
/// (loopback and its other networks stay).
pub async fn isolate<R: Runtime + Images>(
    rt: &R,
    deployment: &str,
    peer: &str,
    progress: &Step,
) -> anyhow::Result<()> {
    let mesh = mesh(rt, deployment).await?;
    let p = mesh.peer(peer)?;
    let image = tools_image(rt, progress).await?;
    let mut script = prelude(&p.ip);
    script.push_str(&delete_rules(RULE_ISOLATE, false));
    script.push_str(&format!(
        "iptables -A INPUT -i $dev -m comment --comment {RULE_ISOLATE} -j DROP\n\
         iptables -A OUTPUT -o $dev -m comment --comment {RULE_ISOLATE} -j DROP\n"
    ));
    let fault = format!("isolate {peer}");
    run_in(rt, &image, &mesh, p, Some(&fault), script).await?;
    Ok(())
}

// ---------------------------------------------------------------- heal, active

/// What [`heal`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Healed {
    /// Running peers whose qdiscs and meshctl rules were removed.
    pub peers: Vec<String>,
    /// Helper containers removed: shapers, and one-shot helpers left
    /// behind by an interrupted meshctl.
    pub helpers_removed: usize,
}

/// Removes every qdisc and every meshctl rule from every running peer of
/// the deployment, and any helper container an interrupted meshctl left.
/// Reads nothing from memory: works after meshctl was killed mid-command.
pub async fn heal<R: Runtime + Images>(rt: &R, deployment: &str) -> anyhow::Result<Healed> {
    let leftovers = rt
        .list_containers(&Filter::deployment(deployment).and(LABEL_ROLE, Role::Helper.as_str()))
        .await?;
    for c in &leftovers {
        if c.label(LABEL_SHAPER).is_some() && c.running() {
            // A shaper passes what it holds before it goes.
            rt.stop_container(&c.id, SHAPER_GRACE).await?;
        }
        rt.remove_container(&c.id).await?;
    }
    let mesh = mesh(rt, deployment).await?;
    let peers = reset(rt, &mesh, &[], true, &Step::hidden()).await?;
    Ok(Healed {
        peers,
        helpers_removed: leftovers.len(),
    })
}

/// An active network fault, read from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ActiveFault {
    /// `netem`, `partition` or `isolate`.
    pub kind: String,
    /// The peer whose namespace holds it.
    pub target: String,
    /// `to=peer-4 delay=200ms loss=2%`, `cut from peer-3,peer-4`, ...
    pub detail: String,
}

/// Every active network fault of the deployment's running peers, sorted by
/// target.
pub async fn active<R: Runtime + Images>(
    rt: &R,
    deployment: &str,
) -> anyhow::Result<Vec<ActiveFault>> {
    let mesh = mesh(rt, deployment).await?;
    let mut out = Vec::new();
    for (name, state) in read(rt, &mesh, &[], &Step::hidden()).await? {
        let name_of = |ip: &str| mesh.name_of(ip);
        for row in state.links(&name, &name_of) {
            out.push(ActiveFault {
                kind: "netem".into(),
                target: name.clone(),
                detail: format!("to={} {}", row.to, row.shaping.describe()),
            });
        }
        if !state.partitioned_from.is_empty() {
            let mut cut: Vec<String> = state
                .partitioned_from
                .iter()
                .map(|ip| name_of(ip))
                .collect();
            cut.sort_by_key(|n| natural_key(n));
            cut.dedup();
            out.push(ActiveFault {
                kind: "partition".into(),
                target: name.clone(),
                detail: format!("cut from {}", cut.join(",")),
            });
        }
        if state.isolated {
            out.push(ActiveFault {
                kind: "isolate".into(),
                target: name.clone(),
                detail: format!("all traffic on {} dropped", mesh.network),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
