use super::*;

fn peer(name: &str, ip: &str) -> NetPeer {
    NetPeer {
        name: name.into(),
        container: format!("c-{name}"),
        ip: ip.into(),
        pid: None,
    }
}

#[test]
fn units_are_strict_and_name_the_flag() {
    assert_eq!(parse_duration("--delay", "80ms").unwrap(), 80_000);
    assert_eq!(parse_duration("--delay", "1.5s").unwrap(), 1_500_000);
    assert_eq!(parse_duration("--jitter", "250us").unwrap(), 250);
    for (bad, says) in [
        ("-5ms", "negative"),
        ("80", "give a unit"),
        ("80 parsecs", "unknown unit"),
        ("fast", "not a number"),
    ] {
        let e = parse_duration("--delay", bad).unwrap_err().to_string();
        assert!(e.contains("--delay") && e.contains(says), "{bad}: {e}");
    }
    assert_eq!(parse_percent("--loss", "2%").unwrap(), 2.0);
    assert_eq!(parse_percent("--loss", "0.1").unwrap(), 0.1);
    let e = parse_percent("--loss", "101%").unwrap_err().to_string();
    assert!(e.contains("--loss") && e.contains("over 100"), "{e}");
    let e = parse_percent("--corrupt", "-1%").unwrap_err().to_string();
    assert!(e.contains("--corrupt") && e.contains("negative"), "{e}");
    assert_eq!(parse_rate("--rate", "1mbit").unwrap(), 1_000_000);
    assert_eq!(parse_rate("--rate", "100kbps").unwrap(), 800_000);
    let e = parse_rate("--rate", "1mb").unwrap_err().to_string();
    assert!(e.contains("--rate") && e.contains("unknown unit"), "{e}");
}

#[test]
fn shaping_is_checked_and_described() {
    assert!(Shaping::default().check().is_err());
    let jitter_only = Shaping {
        jitter_us: Some(10),
        ..Default::default()
    };
    assert!(jitter_only
        .check()
        .unwrap_err()
        .to_string()
        .contains("--jitter"));
    let s = Shaping {
        delay_us: Some(200_000),
        jitter_us: Some(10_000),
        loss: Some(2.0),
        rate_bps: Some(1_000_000),
        ..Default::default()
    };
    assert_eq!(s.describe(), "delay=200ms jitter=10ms loss=2% rate=1mbit");
    assert_eq!(s.netem_args().as_deref(), Some("delay 200000us 10000us"));
    assert_eq!(
        Shaping {
            loss: Some(100.0),
            ..Default::default()
        }
        .netem_args(),
        None
    );
}

#[test]
fn scripts_shape_per_destination() {
    let a = peer("peer-1", "172.18.0.3");
    let b = peer("peer-2", "172.18.1.4");
    let s = Shaping {
        delay_us: Some(200_000),
        loss: Some(2.0),
        ..Default::default()
    };
    let script = set_script(&a, &[&b], &s).unwrap();
    // 172.18.1.4: minor 0x0104 = 260.
    assert!(script.contains("classid 1:104 htb rate 10gbit"), "{script}");
    assert!(
        script.contains("parent 1:104 netem delay 200000us"),
        "{script}"
    );
    assert!(
        script.contains("prio 260 u32 match ip dst 172.18.1.4/32 flowid 1:104"),
        "{script}"
    );
    assert!(script.contains("-d 172.18.1.4/32 -m statistic --mode random --probability 0.020000 -m comment --comment meshctl-netem-peer-2 -j DROP"), "{script}");
    let all = set_script(&a, &[], &s).unwrap();
    assert!(all.contains("match u32 0 0 flowid 1:1"), "{all}");
    assert!(minor("172.18.0.1").is_err());
}

/// Output of the read script on iproute2 6.1 / iptables 1.8.9 (Debian bookworm).
const READ: &str = "## dev eth0
## qdisc
qdisc htb 1: root refcnt 3 r2q 10 default 0 direct_packets_stat 12 direct_qlen 1000
qdisc netem 8002: parent 1:104 limit 1000 delay 200ms  10ms corrupt 0.1%
## class
class htb 1:1 root prio 0 rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b
class htb 1:104 root leaf 8002: prio 0 rate 10Gbit ceil 10Gbit burst 0b cburst 0b
## filter
filter parent 1: protocol ip pref 260 u32 chain 0
filter parent 1: protocol ip pref 260 u32 chain 0 fh 800: ht divisor 1
filter parent 1: protocol ip pref 260 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:104 not_in_hw
  match ac120104/ffffffff at 16
filter parent 1: protocol ip pref 65535 u32 chain 0
filter parent 1: protocol ip pref 65535 u32 chain 0 fh 801: ht divisor 1
filter parent 1: protocol ip pref 65535 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 *flowid 1:1 not_in_hw
  match 00000000/00000000 at 0
## iptables
-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-A INPUT -s 172.18.0.9/32 -m comment --comment meshctl-partition -j DROP
-A OUTPUT -d 172.18.0.9/32 -m comment --comment meshctl-partition -j DROP
-A OUTPUT -d 172.18.1.4/32 -o eth0 -m statistic --mode random --probability 0.02000000000 -m comment --comment meshctl-netem-peer-2 -j DROP
-A OUTPUT -o eth0 -m comment --comment \"meshctl-netem-all\" -j DROP
";

#[test]
fn kernel_state_reads_back() {
    let k = KernelState::parse(READ);
    let name_of = |ip: &str| {
        match ip {
            "172.18.1.4" => "peer-2",
            "172.18.0.9" => "peer-9",
            other => other,
        }
        .to_string()
    };
    let rows = k.links("peer-1", &name_of);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].to, "all");
    assert_eq!(rows[0].shaping.rate_bps, Some(1_000_000));
    assert_eq!(rows[0].shaping.loss, Some(100.0));
    assert_eq!(rows[1].to, "peer-2");
    assert_eq!(rows[1].shaping.delay_us, Some(200_000));
    assert_eq!(rows[1].shaping.jitter_us, Some(10_000));
    assert_eq!(rows[1].shaping.corrupt, Some(0.1));
    assert_eq!(rows[1].shaping.loss, Some(2.0));
    assert_eq!(rows[1].shaping.rate_bps, None);
    assert!(k.partitioned_from.contains("172.18.0.9"));
    assert!(!k.isolated);
    assert_eq!(
        KernelState::parse("## qdisc\n## iptables\n-P INPUT ACCEPT\n"),
        KernelState::default()
    );
}

#[tokio::test]
async fn unknown_peers_are_named_before_anything_changes() {
    use crate::runtime::fake::FakeRuntime;
    let rt = FakeRuntime::new();
    let e = netem_set(
        &rt,
        "nope",
        &NetemSet {
            peer: "peer-1".into(),
            to: vec![],
            shaping: Shaping {
                loss: Some(1.0),
                ..Default::default()
            },
            one_way: false,
        },
        &Step::hidden(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("no deployment named \"nope\""),
        "{e}"
    );
    assert!(rt.calls().is_empty());
}

#[test]
fn shaper_tags_round_trip() {
    let s = Shaping {
        delay_us: Some(200_000),
        jitter_us: Some(10_000),
        loss: Some(2.0),
        rate_bps: Some(1_000_000),
        corrupt: Some(0.1),
        duplicate: Some(1.0),
    };
    let part = s.shaper_part().unwrap();
    assert_eq!(part.loss, None);
    assert_eq!(part.rate_bps, None);
    assert_eq!(part.shaper_tag(), "d200000_j10000_c0.1_u1");
    assert_eq!(
        Shaping::from_shaper_tag(&part.shaper_tag()),
        Some(part.clone())
    );
    assert_eq!(
        part.shaper_args(260),
        [
            "--queue",
            "260",
            "--delay",
            "200000us",
            "--jitter",
            "10000us",
            "--corrupt",
            "0.1",
            "--duplicate",
            "1"
        ]
    );
    assert_eq!(Shaping::from_shaper_tag("x5"), None);
    assert_eq!(Shaping::from_shaper_tag("d"), None);
    let rate_only = Shaping {
        rate_bps: Some(1000),
        ..Default::default()
    };
    assert_eq!(rate_only.shaper_part(), None);
}

#[test]
fn scripts_fall_back_to_the_shaper() {
    let a = peer("peer-1", "172.18.0.3");
    let b = peer("peer-2", "172.18.1.4");
    let s = Shaping {
        delay_us: Some(200_000),
        ..Default::default()
    };
    let script = set_script(&a, &[&b], &s).unwrap();
    assert!(
        script.contains("tc qdisc replace dev $dev parent 1:104 netem delay 200000us"),
        "{script}"
    );
    assert!(script.contains("iptables -t mangle -I OUTPUT 1 -o $dev -d 172.18.1.4/32 -m mark ! --mark 0x6d657368 -m comment --comment meshctl-shaper-peer-2_d200000 -j NFQUEUE --queue-num 260 --queue-bypass"), "{script}");
    assert!(script.contains("echo 'shaper peer-2'"), "{script}");
    let all = set_script(&a, &[], &s).unwrap();
    assert!(all.contains("iptables -t mangle -A OUTPUT -o $dev -m mark ! --mark 0x6d657368 -m comment --comment meshctl-shaper-all_d200000 -j NFQUEUE --queue-num 1 --queue-bypass"), "{all}");
    // Setting a direction again first removes its queueing rule.
    assert!(
        all.contains("iptables-save -t mangle | grep -v -e '--comment \"\\?meshctl-shaper-all_'"),
        "{all}"
    );
    // Without netem values, no shaper.
    let rate = Shaping {
        rate_bps: Some(1_000_000),
        ..Default::default()
    };
    assert!(!set_script(&a, &[&b], &rate).unwrap().contains("NFQUEUE"));
    let reset = reset_script(&a, false);
    assert!(
        reset.contains("iptables-save -t mangle | grep -v -e '--comment \"\\?meshctl-shaper'"),
        "{reset}"
    );
}

#[test]
fn shaper_rules_read_back() {
    let out = format!(
        "{READ}## mangle\n-P OUTPUT ACCEPT\n\
         -A OUTPUT -d 172.18.1.5/32 -o eth0 -m mark ! --mark 0x6d657368 -m comment --comment meshctl-shaper-peer-3_d80000_j10000_u1 -j NFQUEUE --queue-num 261 --queue-bypass\n\
         -A OUTPUT -o eth0 -m mark ! --mark 0x6d657368 -m comment --comment \"meshctl-shaper-all_c0.5\" -j NFQUEUE --queue-num 1 --queue-bypass\n"
    );
    let k = KernelState::parse(&out);
    let name_of = |ip: &str| {
        match ip {
            "172.18.1.4" => "peer-2",
            "172.18.1.5" => "peer-3",
            other => other,
        }
        .to_string()
    };
    let rows = k.links("peer-1", &name_of);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!((rows[0].to.as_str(), rows[0].via), ("all", Via::Shaper));
    assert_eq!(rows[0].shaping.corrupt, Some(0.5));
    assert_eq!(rows[0].shaping.rate_bps, Some(1_000_000));
    assert_eq!(rows[0].shaping.loss, Some(100.0));
    assert_eq!((rows[1].to.as_str(), rows[1].via), ("peer-2", Via::Kernel));
    assert_eq!((rows[2].to.as_str(), rows[2].via), ("peer-3", Via::Shaper));
    assert_eq!(rows[2].shaping.delay_us, Some(80_000));
    assert_eq!(rows[2].shaping.jitter_us, Some(10_000));
    assert_eq!(rows[2].shaping.duplicate, Some(1.0));
}

#[tokio::test]
async fn shapers_start_and_stop_through_the_runtime() {
    let (rt, ids) = crate::deploy::testing::engine();
    crate::deploy::testing::up(&rt, &ids, &crate::deploy::testing::config("d", 2)).await;
    rt.add_image(DEFAULT_SHAPER_IMAGE, "sha256:shaper", Default::default());
    let c = crate::context::list_containers(&rt, "d")
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.label(LABEL_COMPONENT) == Some("peer-1"))
        .unwrap();
    let mut p1 = peer("peer-1", "172.18.0.3");
    p1.container = c.id.clone();
    let mesh = Mesh {
        deployment: "d".into(),
        network: "n".into(),
        peers: [("peer-1".to_string(), p1)].into(),
        stopped: Default::default(),
    };
    let p = mesh.peer("peer-1").unwrap().clone();
    let s = Shaping {
        delay_us: Some(80_000),
        ..Default::default()
    };
    start_shaper(&rt, DEFAULT_SHAPER_IMAGE, &mesh, &p, "all", &s)
        .await
        .unwrap();
    let running = shapers(&rt, "d").await.unwrap();
    assert_eq!(running.len(), 1);
    let (c, target, to) = &running[0];
    assert_eq!((target.as_str(), to.as_str()), ("peer-1", "all"));
    assert_eq!(
        c.label(LABEL_FAULT),
        Some("shaper peer-1 delay=80ms to=all")
    );
    assert_eq!(c.label("meshctl.deployment"), Some("d"));
    assert!(rt
        .calls()
        .iter()
        .any(|c| c.starts_with("start-helper ") && c.ends_with(" --queue 1 --delay 80000us")));
    assert_eq!(
        stop_shapers(&rt, &mesh, &[(&p, "*".into())]).await.unwrap(),
        1
    );
    assert!(shapers(&rt, "d").await.unwrap().is_empty());
}

#[test]
fn a_batch_runs_every_read_in_its_peer_namespace_and_splits_back() {
    let jobs = vec![
        (101, "echo one\n".to_string()),
        (202, "echo two\n".to_string()),
    ];
    let script = batch_script(&jobs);
    assert!(script.contains("run 0 101 &"), "{script}");
    assert!(script.contains("run 1 202 &"), "{script}");
    assert!(
        script.contains("nsenter -t \"$2\" -n sh \"j$1\""),
        "{script}"
    );
    assert!(script.contains("<<'MESHCTL_JOB_1'\necho two\n"), "{script}");
    let out =
        "### meshctl-job 0 0\n## qdisc\nqdisc htb 1: root\n### meshctl-job 1 3\nno interface\n";
    let split = split_batch(out);
    assert_eq!(split[&0], (0, "## qdisc\nqdisc htb 1: root\n".to_string()));
    assert_eq!(split[&1], (3, "no interface\n".to_string()));
    assert_eq!(split.len(), 2);
    // Many jobs wait in groups.
    let many: Vec<(i64, String)> = (0..40).map(|i| (i, String::new())).collect();
    assert_eq!(batch_script(&many).matches("\nwait\n").count(), 3);
}
