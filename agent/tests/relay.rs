//! The relay through a real mesh: real tracker, topology and signalling,
//! real Redis, agents on their own loopback addresses.

mod common;

use common::*;
use std::net::IpAddr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_crosses_a_line_of_five_hop_by_hop() {
    let cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("l", 5)).await;
    let (id, data) = segment("line", 1, 100_000);
    agents[4].ingest(&id, &data).await;
    // The new holder reaches the tracker within a second or so.
    eventually("the tracker lists l5 as holder", || async {
        cp.holders(&id).await == vec!["l5".to_string()]
    })
    .await;

    let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
    assert_eq!(status, 200);
    assert_eq!(body.expect("whole body"), data, "byte-identical");
    assert_eq!(header(&h, "x-mesh-source"), "peer");
    assert_eq!(header(&h, "x-mesh-route"), "l1,l2,l3,l4,l5");
    assert_eq!(header(&h, "x-mesh-hops"), "4");
    assert_eq!(header(&h, "etag"), format!("\"{}\"", sha256_hex(&data)));

    // Every intermediate hop forwarded it once, and now holds it.
    for a in &agents[1..] {
        let s = a.stats().await;
        assert_eq!(s.relays_forwarded, 1, "{} forwarded", a.id);
        assert_eq!(
            s.songs["line"].relay_bytes,
            data.len() as u64,
            "{} relay bytes",
            a.id
        );
        assert_eq!(s.songs["line"].client_bytes_peer, 0);
        assert!(
            a.inventory().await.segments.contains(&id),
            "{} caches it",
            a.id
        );
    }
    let s1 = agents[0].stats().await;
    assert_eq!(s1.songs["line"].client_bytes_peer, data.len() as u64);
    assert_eq!(s1.songs["line"].client_requests, 1);
    assert_eq!(s1.songs["line"].relay_bytes, 0);

    // A second request is a hit at the near end.
    let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap(), data);
    assert_eq!(header(&h, "x-mesh-source"), "cache");
    assert_eq!(
        agents[0].stats().await.songs["line"].client_bytes_cache,
        data.len() as u64
    );
    // HEAD answers the length without the body.
    let r = http()
        .head(format!("{}/segments/{id}", agents[0].url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(r.headers(), "content-length"),
        data.len().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_from_non_neighbors_or_to_non_neighbors_are_refused() {
    let cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("n", 4)).await;
    let (id, data) = segment("refuse", 1, 5_000);
    agents[3].ingest(&id, &data).await;
    let ip = |i: usize| -> IpAddr { agents[i].addr.ip() };
    let url = format!("{}/segments/{id}", agents[2].url());
    let n2_url = format!("{}/segments/{id}", agents[1].url());

    // n1 is not n3's neighbor.
    let r = relay_request(ip(0), &url, "n3,n4", "n1").await;
    assert_eq!(r.status(), 403);
    let e: wire::ErrorBody = r.json().await.unwrap();
    assert!(e.error.contains("not a neighbor"), "{e:?}");

    // Claiming to be n2 from n1's address does not help.
    let r = relay_request(ip(0), &url, "n3,n4", "n2").await;
    assert_eq!(r.status(), 403);
    let e: wire::ErrorBody = r.json().await.unwrap();
    assert!(e.error.contains("not n2's address"), "{e:?}");

    // From n2 itself, a route naming a non-neighbor next hop is refused.
    let r = relay_request(ip(1), &n2_url, "n2,n4", "n1").await;
    assert_eq!(
        r.status(),
        403,
        "n1's address is not n2... from n2's own ip"
    );
    let r = relay_request(ip(0), &n2_url, "n2,n4", "n1").await;
    assert_eq!(r.status(), 403);
    let e: wire::ErrorBody = r.json().await.unwrap();
    assert!(e.error.contains("next hop n4 is not a neighbor"), "{e:?}");
    // A route that does not start at the receiver is refused.
    let r = relay_request(ip(1), &url, "n4", "n2").await;
    assert_eq!(r.status(), 403);

    // The honest neighbor with a good route is served.
    let r = relay_request(ip(1), &url, "n3,n4", "n2").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-mesh-source"), "cache");
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
    assert!(agents[2].stats().await.relays_refused >= 3);
    assert_eq!(agents[1].stats().await.relays_refused, 2);
    assert!(agents[2].metric("relays_refused_total").await >= 3);
}

/// A relay request to `url` sent from `ip`: `from` claims to be the hop
/// before, `route` is the rest of the route.
async fn relay_request(ip: IpAddr, url: &str, route: &str, from: &str) -> reqwest::Response {
    client_from(Some(ip))
        .get(url)
        .header("x-mesh-route", route)
        .header("x-mesh-from", from)
        .send()
        .await
        .expect("relay request sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_upstream_fetch() {
    let cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("s", 3)).await;
    let (id, data) = segment("flight", 1, 300_000);
    agents[2].ingest(&id, &data).await;
    eventually("the tracker lists s3", || async {
        !cp.holders(&id).await.is_empty()
    })
    .await;

    let n = 20;
    let url = format!("{}/segments/{id}", agents[0].url());
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { fetch(&http(), &url).await })
        })
        .collect();
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body.unwrap(), data);
    }
    assert_eq!(
        agents[2].stats().await.relays_forwarded,
        1,
        "one fetch reached the holder"
    );
    assert_eq!(agents[1].stats().await.relays_forwarded, 1);
    let s1 = agents[0].stats().await;
    let hits = agents[0].metric("cache_hits_total").await;
    assert_eq!(s1.singleflight_joins + hits, n - 1, "{s1:?}");
    assert_eq!(agents[0].metric("upstream_fetches_total").await, 1);
    assert_eq!(
        s1.songs["flight"].client_bytes_peer + s1.songs["flight"].client_bytes_cache,
        n * data.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lru_evicts_at_the_entry_cap_and_at_the_byte_cap() {
    let cp = ControlPlane::start().await;
    let spec =
        MeshSpec::line("c", 2)
            .set(0, "CACHE_CAPACITY", "3")
            .set(1, "CACHE_MAX_BYTES", "40000");
    let agents = start_mesh(&cp, spec).await;
    let segs: Vec<_> = (0..4).map(|i| segment("lru", i, 9_000)).collect();
    for (id, data) in &segs[..3] {
        agents[0].ingest(id, data).await;
    }
    // Touch the first so the second is least recently used.
    let (s, _, _) = fetch(
        &http(),
        &format!("{}/segments/{}", agents[0].url(), segs[0].0),
    )
    .await;
    assert_eq!(s, 200);
    agents[0].ingest(&segs[3].0, &segs[3].1).await;
    let inv = agents[0].inventory().await;
    assert_eq!(inv.entries, 3);
    assert!(
        !inv.segments.contains(&segs[1].0),
        "LRU entry evicted: {inv:?}"
    );
    assert!(inv.segments.contains(&segs[0].0));

    // 40000 bytes hold four segments of 9000, not five.
    let more: Vec<_> = (10..15).map(|i| segment("lru", i, 9_000)).collect();
    for (id, data) in &more {
        agents[1].ingest(id, data).await;
    }
    let inv = agents[1].inventory().await;
    assert_eq!(inv.entries, 4, "{inv:?}");
    assert!(inv.bytes <= 40_000);
    assert!(!inv.segments.contains(&more[0].0));
    assert_eq!(agents[1].metric("cache_evictions_total").await, 1);
    // A segment over a quarter of the byte cap is refused with a clear error.
    let r = http()
        .post(format!("{}/segments?id=big", agents[1].url()))
        .body(vec![1u8; 20_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // The tracker hears about evictions too.
    let gone = more[0].0.clone();
    eventually("the tracker forgets the evicted segment", || async {
        !cp.holders(&gone).await.contains(&"c2".to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_restart_brings_a_fresh_announce_and_signalling_down_falls_back_to_topology() {
    let mut cp = ControlPlane::start().await;
    let agents = start_mesh(&cp, MeshSpec::line("t", 3)).await;
    let (id, data) = segment("restart", 1, 20_000);
    agents[2].ingest(&id, &data).await;

    cp.restart_tracker_empty().await;
    assert!(cp.live_peers().await.is_empty() || cp.live_peers().await.len() <= 3);
    eventually(
        "every agent announced again to the fresh tracker",
        || async { cp.live_peers().await.len() == 3 },
    )
    .await;
    eventually("the holder's inventory is known again", || async {
        cp.holders(&id).await == vec!["t3".to_string()]
    })
    .await;

    cp.stop_signalling().await;
    // Hits still served.
    let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[2].url())).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-mesh-source"), "cache");
    assert_eq!(body.unwrap(), data);
    // A miss is routed by topology's paths.
    let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(header(&h, "x-mesh-route"), "t1,t2,t3");
    assert_eq!(body.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_peer_serves_what_only_its_database_holds() {
    let cp = ControlPlane::start().await;
    let db = TestDb::create("edge").await;
    let (id, data) = segment("edgesong", 2, 50_000);
    db.insert(&id, "edgesong", 2, &data).await;
    let spec = MeshSpec::line("e", 3).set(2, "EDGE_DB_URL", db.url.clone());
    let agents = start_mesh(&cp, spec).await;

    let (status, h, body) = fetch(&http(), &format!("{}/segments/{id}", agents[0].url())).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body.unwrap(), data);
    assert_eq!(header(&h, "x-mesh-source"), "edge");
    assert_eq!(header(&h, "x-mesh-route"), "e1,e2,e3");
    let edge = agents[2].stats().await;
    assert_eq!(edge.songs["edgesong"].edge_reads, 1);
    assert_eq!(edge.songs["edgesong"].edge_read_bytes, data.len() as u64);
    assert_eq!(edge.songs["edgesong"].relay_bytes, data.len() as u64);
    assert_eq!(
        agents[0].stats().await.songs["edgesong"].client_bytes_edge,
        data.len() as u64
    );

    // A client of the edge peer itself is served from its database too.
    let (other, odata) = segment("edgesong", 3, 1_000);
    db.insert(&other, "edgesong", 3, &odata).await;
    let (status, h, body) = fetch(&http(), &format!("{}/segments/{other}", agents[2].url())).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-mesh-source"), "edge");
    assert_eq!(body.unwrap(), odata);
    // What nobody has is a clean 404.
    let (missing, _) = segment("edgesong", 9, 10);
    let (status, _, _) = fetch(&http(), &format!("{}/segments/{missing}", agents[0].url())).await;
    assert_eq!(status, 404);
    let _ = Duration::from_secs(0);
}

/// A relay whose next hop is gone says which hop (`X-Mesh-Failed`); the
/// requester avoids that peer, finds no other way to the only holder, and
/// answers 503 naming it at once, not a 504 at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_names_the_hop_that_failed_and_a_cut_off_peer_says_so() {
    let cp = ControlPlane::start().await;
    let mut agents = start_mesh(&cp, MeshSpec::line("f", 4)).await;
    let (a, data_a) = segment("cut", 1, 20_000);
    let (b, data_b) = segment("cut", 2, 20_000);
    agents[3].ingest(&a, &data_a).await;
    agents[3].ingest(&b, &data_b).await;
    eventually("the tracker lists f4 as holder of both", || async {
        cp.holders(&a).await == vec!["f4".to_string()]
            && cp.holders(&b).await == vec!["f4".to_string()]
    })
    .await;
    // f1 learns (and keeps for a few seconds) the path f1,f2,f3,f4.
    let (status, h, _) = fetch(&http(), &format!("{}/segments/{a}", agents[0].url())).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-mesh-route"), "f1,f2,f3,f4");
    // f3 goes away; f2 cannot reach it.
    agents[2].service.stop().await.expect("f3 stops");
    let (status, h, body) = fetch(&http(), &format!("{}/segments/{b}", agents[0].url())).await;
    let body = String::from_utf8_lossy(&body.unwrap_or_default()).to_string();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("f3 did not answer"), "{body}");
    assert!(body.contains("cut off"), "{body}");
    assert_eq!(header(&h, "x-mesh-failed"), "", "a client is not told");
    // f2's own answer to a relay names the hop that failed.
    let r = relay_request(
        agents[0].addr.ip(),
        &format!("{}/segments/{b}", agents[1].url()),
        "f2,f3,f4",
        "f1",
    )
    .await;
    assert_eq!(r.status(), 502);
    assert_eq!(header(r.headers(), "x-mesh-failed"), "f3");
}
