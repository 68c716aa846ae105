//! Signalling figures: BFS time in rooms of 160, 1,000 and 10,000 peers of
//! degree 4, and the time from a `request_path` to the last peer of a 10-hop
//! path receiving its `path` message, over real WebSockets.
//!
//! ```text
//! cargo run --release -p services --example bench_signalling
//! ```

use futures::{SinkExt, StreamExt};
use services::graph::MeshGraph;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use wire::signalling::{ClientMessage, ServerMessage};

/// A connected random graph of mean degree 4: a ring (degree 2) plus, for
/// each peer, one chord to a random peer; both ends list every edge (an
/// edge counts only then).
fn room(n: usize, seed: &mut u64) -> MeshGraph {
    let mut lists: Vec<Vec<String>> = vec![Vec::new(); n];
    for i in 0..n {
        let chord = (next(seed) as usize) % n;
        for j in [(i + 1) % n, chord] {
            if j != i {
                lists[i].push(format!("peer-{j}"));
                lists[j].push(format!("peer-{i}"));
            }
        }
    }
    let mut g = MeshGraph::new();
    for (i, list) in lists.iter().enumerate() {
        g.upsert(&format!("peer-{i}"), list);
    }
    g
}

fn next(seed: &mut u64) -> u64 {
    // xorshift64*: deterministic, no dependency.
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr, peer: &str) -> Ws {
    let url = format!("ws://{addr}/ws?peer={peer}&room=bench");
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

fn message(m: &ClientMessage) -> Message {
    Message::Text(serde_json::to_string(m).expect("serialize").into())
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

fn main() {
    println!(
        "signalling bench (BFS in-process over services::graph::MeshGraph, as the server runs it)"
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for n in [160usize, 1_000, 10_000] {
        let t = Instant::now();
        let g = room(n, &mut seed);
        let build = t.elapsed();
        let rounds = if n >= 10_000 { 300 } else { 2_000 };
        let mut us = Vec::with_capacity(rounds);
        let mut hops = 0usize;
        for _ in 0..rounds {
            let a = format!("peer-{}", next(&mut seed) as usize % n);
            let b = format!("peer-{}", next(&mut seed) as usize % n);
            let t = Instant::now();
            let p = g.shortest_path(&a, &b).expect("connected");
            us.push(t.elapsed().as_secs_f64() * 1e6);
            hops += p.len() - 1;
        }
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        println!(
            "room of {n:>6} peers ({} edges, built in {:.1} ms): shortest path mean {mean:.1} us, p50 {:.1} us, p99 {:.1} us, mean {:.1} hops",
            g.edge_count(),
            build.as_secs_f64() * 1e3,
            pct(&mut us, 0.5),
            pct(&mut us, 0.99),
            hops as f64 / rounds as f64
        );
    }

    // End to end: the server as its binary runs it (current-thread runtime).
    let addr = testkit::serve_on_own_thread("signalling", |l| {
        // One socket asks 500 times as fast as it can: lift the per-socket
        // message rate, which is there for hostile clients.
        let config = services::signalling::Config {
            msg_rate: 1_000_000,
            msg_burst: 1_000_000,
            ..Default::default()
        };
        services::signalling::run(config, l, std::future::pending())
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // A ring of 160 connected peers: peer-0 → peer-10 is 10 hops.
        const N: usize = 160;
        let mut socks = Vec::new();
        for i in 0..N {
            let mut ws = connect(addr, &format!("peer-{i}")).await;
            let announce = ClientMessage::Announce {
                peer: None,
                room: None,
                neighbors: vec![format!("peer-{}", (i + 1) % N), format!("peer-{}", (i + N - 1) % N)],
            };
            ws.send(message(&announce)).await.expect("announce");
            socks.push(ws);
        }
        // The line's sockets report when their path message arrives.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
        let mut line: Vec<Ws> = socks.drain(0..11).collect();
        let mut requester = line.remove(0);
        for (k, mut ws) in line.into_iter().enumerate() {
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    let text = next_text(&mut ws).await;
                    if text.contains("\"path\"") {
                        let _ = tx.send((k, Instant::now()));
                    }
                }
            });
        }
        // Warm up and make sure every announce has landed.
        let req = message(&ClientMessage::RequestPath {
            target: "peer-10".into(),
            avoid: Vec::new(),
        });
        loop {
            requester.send(req.clone()).await.expect("send");
            let text = next_text(&mut requester).await;
            if let Ok(ServerMessage::Path { path }) = serde_json::from_str(&text) {
                if path.len() == 11 {
                    for _ in 0..10 {
                        rx.recv().await;
                    }
                    break;
                }
            }
            while rx.try_recv().is_ok() {}
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rounds = 500;
        let (mut last_ms, mut own_ms) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t0 = Instant::now();
            requester.send(req.clone()).await.expect("send");
            let text = next_text(&mut requester).await;
            own_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            assert!(text.contains("peer-10"), "{text}");
            let mut last = t0;
            for _ in 0..10 {
                let (_, at) = rx.recv().await.expect("receipt");
                last = last.max(at);
            }
            last_ms.push((last - t0).as_secs_f64() * 1e3);
        }
        println!(
            "10-hop path in a room of {N} WebSocket peers, {rounds} requests: requester gets its path p50 {:.3} ms p99 {:.3} ms; last (11th) peer on the path p50 {:.3} ms p99 {:.3} ms",
            pct(&mut own_ms, 0.5),
            pct(&mut own_ms, 0.99),
            pct(&mut last_ms, 0.5),
            pct(&mut last_ms, 0.99)
        );
        drop(socks);
    });
}
