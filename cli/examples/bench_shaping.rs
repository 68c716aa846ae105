//! How precisely `meshctl netem set` shapes a link: the delay actually added
//! for 20, 80 and 200 ms, the loss measured against 2 % and 10 %, and the
//! rate against 1 mbit, on a running deployment. Prints a table.
//!
//! ```text
//! cargo build --release --workspace --bins
//! ./meshctl up --name shp --count 3 --degree 2
//! cargo run --release -p meshctl --example bench_shaping -- shp 300
//! ./meshctl down --name shp
//! ```
//!
//! Each figure is taken in peer-1's network namespace by a tools helper
//! (bash's `/dev/tcp` and `$EPOCHREALTIME`), toward peer-2's agent port,
//! with the shaping on peer-1 → peer-2 only (`--one-way`), so a TCP connect
//! (one round trip) crosses the shaped direction once:
//!
//! - delay: connect time minus the unshaped connect time, median and p95;
//! - loss: the share of connects that took over 700 ms (a lost SYN is
//!   retransmitted after 1 s);
//! - rate: a 400 kB segment fetched by peer-1 from peer-2 with the rate on
//!   peer-2 → peer-1: bytes × 8 / time.
//!
//! Delay, jitter, corruption and duplication go through netem where the
//! kernel has it, else through the userspace shaper (`MESHCTL_SHAPER=always`
//! forces the shaper).

use std::time::Duration;

use anyhow::{bail, Context};
use meshctl::faults::net::{self, NetemSet, Shaping};
use meshctl::progress::Step;
use meshctl::runtime::{HelperSpec, Runtime};

/// Connect `n` times from the helper's namespace to `ip:port`; one line per
/// attempt: the time in microseconds, or `fail`.
fn connect_script(ip: &str, port: u16, n: usize) -> String {
    format!(
        "for i in $(seq {n}); do \
           s=${{EPOCHREALTIME/./}}; \
           if exec 3<>/dev/tcp/{ip}/{port}; then e=${{EPOCHREALTIME/./}}; exec 3>&-; echo $((e - s)); \
           else echo fail; fi; \
         done"
    )
}

fn fetch_script(ip: &str, id: &str) -> String {
    format!(
        "s=${{EPOCHREALTIME/./}}; exec 3<>/dev/tcp/{ip}/8080; \
         printf 'GET /segments/{id} HTTP/1.0\\r\\n\\r\\n' >&3; n=$(cat <&3 | wc -c); \
         e=${{EPOCHREALTIME/./}}; echo \"$n $((e - s))\""
    )
}

struct Bench<'a> {
    rt: &'a meshctl::runtime::DockerRuntime,
    name: &'a str,
    image: String,
    from: net::NetPeer,
    to: net::NetPeer,
    n: std::sync::atomic::AtomicUsize,
}

impl Bench<'_> {
    async fn in_from(&self, script: String) -> anyhow::Result<String> {
        let k = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let spec = HelperSpec {
            name: format!("{}-bench-{}-{k}", self.name, std::process::id()),
            image: self.image.clone(),
            target: self.from.container.clone(),
            cmd: vec!["bash".into(), "-c".into(), script],
            labels: [
                ("meshctl.deployment".to_string(), self.name.to_string()),
                ("meshctl.role".to_string(), "helper".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let out = self.rt.run_helper(&spec).await?;
        if out.exit_code != 0 {
            bail!("helper: exit {}: {}", out.exit_code, out.output);
        }
        Ok(out.output)
    }

    /// Connect times in microseconds, and the number of failures.
    async fn connects(&self, n: usize) -> anyhow::Result<(Vec<u64>, usize)> {
        let out = self.in_from(connect_script(&self.to.ip, 8080, n)).await?;
        let mut times = Vec::new();
        let mut failed = 0;
        for l in out.lines() {
            match l.trim().parse::<u64>() {
                Ok(us) => times.push(us),
                Err(_) => failed += 1,
            }
        }
        times.sort_unstable();
        Ok((times, failed))
    }

    async fn shape(&self, from: &str, to: &str, s: Shaping) -> anyhow::Result<()> {
        let set = NetemSet {
            peer: from.to_string(),
            to: vec![to.to_string()],
            shaping: s,
            one_way: true,
        };
        net::netem_set(self.rt, self.name, &set, &Step::hidden()).await?;
        // The shaper binds its queue within a moment of its start.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(())
    }

    async fn reset(&self) -> anyhow::Result<()> {
        net::netem_reset(self.rt, self.name, &[], &Step::hidden()).await?;
        Ok(())
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "shp".into());
    let n: usize = match args.next() {
        Some(v) => v.parse().with_context(|| format!("samples {v:?}"))?,
        None => 300,
    };
    let rt = meshctl::runtime::connect().await?;
    let mesh = net::mesh(&rt, &name).await?;
    let from = mesh.peer("peer-1")?.clone();
    let to = mesh.peer("peer-2")?.clone();
    let image = net::tools_image(&rt, &Step::hidden()).await?;
    let b = Bench {
        rt: &rt,
        name: &name,
        image,
        from,
        to,
        n: Default::default(),
    };
    b.reset().await?;
    let (base, _) = b.connects(n).await?;
    let base_med = pct(&base, 0.5);
    println!("| asked | measured (median) | p95 | samples |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| no shaping: connect time | {} | {} | {} |",
        ms(base_med),
        ms(pct(&base, 0.95)),
        base.len()
    );
    let mut via = String::from("?");
    for delay_ms in [20u64, 80, 200] {
        b.shape(
            "peer-1",
            "peer-2",
            Shaping {
                delay_us: Some(delay_ms * 1000),
                ..Default::default()
            },
        )
        .await?;
        let rows = net::netem_show(&rt, &name, &["peer-1".into()], &Step::hidden()).await?;
        via = rows
            .first()
            .map_or("?".into(), |r| r.via.as_str().to_string());
        let (t, _) = b.connects(n).await?;
        let added: Vec<u64> = t.iter().map(|x| x.saturating_sub(base_med)).collect();
        println!(
            "| delay {delay_ms} ms ({via}): added | {} | {} | {} |",
            ms(pct(&added, 0.5)),
            ms(pct(&added, 0.95)),
            added.len()
        );
    }
    for loss in [2.0, 10.0] {
        b.shape(
            "peer-1",
            "peer-2",
            Shaping {
                loss: Some(loss),
                ..Default::default()
            },
        )
        .await?;
        let (t, failed) = b.connects(n).await?;
        let retried = t.iter().filter(|x| **x > 700_000).count() + failed;
        let total = t.len() + failed;
        println!(
            "| loss {loss}% (kernel): connects with a lost SYN | {:.1} % | | {total} |",
            100.0 * retried as f64 / total.max(1) as f64
        );
    }
    // Rate: a segment from peer-2 to peer-1 with peer-2's egress at 1 mbit.
    b.reset().await?;
    let dep = meshctl::context::discover(&rt, &name).await?;
    let url = &dep
        .peers
        .iter()
        .find(|p| p.name == "peer-2")
        .context("peer-2")?
        .url;
    let bytes: Vec<u8> = (0..400_000u32).map(|i| (i % 253) as u8).collect();
    let sha = meshctl::songs::sha256_hex(&bytes);
    let id = format!("bench-{}-00000-{sha}.ts", std::process::id());
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{url}/segments?id={id}&sha256={sha}"))
        .bearer_auth(dep.peer_token("peer-2").unwrap_or_default())
        .body(bytes)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("ingest on peer-2: {}", r.status());
    }
    b.shape(
        "peer-2",
        "peer-1",
        Shaping {
            rate_bps: Some(1_000_000),
            ..Default::default()
        },
    )
    .await?;
    let mut rates = Vec::new();
    for _ in 0..3 {
        let out = b.in_from(fetch_script(&b.to.ip, &id)).await?;
        let mut it = out.split_whitespace();
        let (Some(n), Some(us)) = (it.next(), it.next()) else {
            bail!("fetch: {out}");
        };
        let (n, us): (u64, u64) = (n.parse()?, us.parse()?);
        rates.push(n * 8 * 1_000_000 / us.max(1));
    }
    rates.sort_unstable();
    println!(
        "| rate 1mbit (kernel htb): 400 kB fetched | {:.3} mbit/s | | {} |",
        pct(&rates, 0.5) as f64 / 1e6,
        rates.len()
    );
    b.reset().await?;
    eprintln!("delay applied via {via}");
    Ok(())
}
