//! The Redis time of one tracker announce by inventory size: 85,000 ids
//! (what a token holder could send before the inventory cap), 4,096 and
//! 1,024 (the default cap), fresh, repeated and half changed; then reaping
//! them in bounded calls. Figures, not assertions.
//!
//! ```text
//! cargo run --release -p services --example bench_scripts
//! ```
//!
//! Needs `redis-server` on PATH; it runs on a free loopback port.

use std::time::Instant;

fn seg(i: usize) -> String {
    let sha = format!("{:064x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    wire::ids::segment_id("song", i as u32, &sha)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let redis = rt.block_on(testkit::RedisServer::start());
    measure(&redis.url());
}

fn measure(url: &str) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client.get_connection().expect("redis connect");
    let announce = redis::Script::new(&services::tracker::scripts::announce());
    let reap = redis::Script::new(services::tracker::scripts::REAP);
    for (n, peer) in [(85_000, "big"), (4096, "four-k"), (1024, "capped")] {
        for round in ["fresh", "same again", "half changed"] {
            let ids: Vec<String> = match round {
                "half changed" => (n / 2..n + n / 2).map(seg).collect(),
                _ => (0..n).map(seg).collect(),
            };
            let mut inv = announce.prepare_invoke();
            inv.arg(peer)
                .arg(1u64)
                .arg("eu\x1f5\x1fa:1\x1f")
                .arg("")
                .arg("[]")
                .arg("h");
            for s in &ids {
                inv.arg(s);
            }
            let _: () = redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .query(&mut conn)
                .expect("resetstat");
            let started = Instant::now();
            let _: i64 = inv.invoke(&mut conn).expect("announce script");
            let wall = started.elapsed();
            let info: String = redis::cmd("INFO")
                .arg("commandstats")
                .query(&mut conn)
                .expect("info");
            let stat = info
                .lines()
                .filter(|l| l.starts_with("cmdstat_eval"))
                .collect::<Vec<_>>()
                .join(" ");
            println!("announce of {n} ids ({round}): {wall:?} wall; {stat}");
        }
    }
    // Reap both: with the budget, one call stops after the first peer.
    let started = Instant::now();
    let mut calls = 0;
    loop {
        let mut inv = reap.prepare_invoke();
        inv.arg(u64::MAX).arg(256).arg(2048);
        let t0 = Instant::now();
        let gone: Vec<String> = inv.invoke(&mut conn).expect("reap script");
        if gone.is_empty() {
            break;
        }
        calls += 1;
        println!("reap call {calls}: {gone:?} in {:?}", t0.elapsed());
    }
    println!("reaped in {calls} calls, {:?}", started.elapsed());
}
