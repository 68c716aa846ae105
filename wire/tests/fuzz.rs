//! Property tests with arbitrary input for everything the wire crate reads
//! from the network: every JSON body and WebSocket message, the id
//! validators, the relay headers, URL encoding and the `Authorization`
//! checks.
//!
//! Deterministic by default: a fixed seed, a bounded number of cases and no
//! failure files, so CI runs the same inputs every time in a few seconds.
//! Run more locally with proptest's own variables:
//!
//! ```text
//! PROPTEST_CASES=100000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p wire --test fuzz
//! ```

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::{contextualize_config, RngSeed};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Debug;

use wire::agent::{AgentStats, IngestJson, Ingested, Inventory, SongCounters};
use wire::auth::{self, Identity, Refused};
use wire::relay::{self, Source};
use wire::signalling::{ClientMessage, Room, RoomsResponse, ServerMessage};
use wire::topology::{GraphNode, GraphSnapshot, PathResponse, PeerUpsert, RemovedResponse};
use wire::tracker::{
    Ack, Announce, Candidate, Heartbeat, PeerStatus, PeersResponse, SegmentLookup,
};
use wire::{ids, url, ErrorBody, Health};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 512;
/// The seed unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x6d65_7368_6374_6c39;

/// Fixed seed, no failure persistence, `CASES` cases; proptest's
/// `PROPTEST_*` variables still override each of these.
fn config(cases: u32) -> ProptestConfig {
    contextualize_config(ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })
}

// ---------------------------------------------------------------- strategies

/// Strings as they come: mostly id-like, some printable ASCII with quotes
/// and backslashes, some any Unicode (control characters included).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9._-]{0,12}",
        1 => r#"[ -~"\\]{0,12}"#,
        1 => vec(any::<char>(), 0..12).prop_map(String::from_iter),
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..6)
}

fn metadata() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4)
}

fn pair() -> impl Strategy<Value = [String; 2]> {
    (text(), text()).prop_map(|(a, b)| [a, b])
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    (text(), option::of(text())).prop_map(|(error, field)| ErrorBody { error, field })
}

fn health() -> impl Strategy<Value = Health> {
    (text(), text()).prop_map(|(status, service)| Health { status, service })
}

fn peer_upsert() -> impl Strategy<Value = PeerUpsert> {
    (
        text(),
        texts(),
        option::of(text()),
        option::of(any::<u32>()),
        metadata(),
    )
        .prop_map(
            |(peer_id, neighbors, region, rtt_ms, metadata)| PeerUpsert {
                peer_id,
                neighbors,
                region,
                rtt_ms,
                metadata,
            },
        )
}

fn graph_node() -> impl Strategy<Value = GraphNode> {
    peer_upsert().prop_map(|u| GraphNode {
        peer_id: u.peer_id,
        neighbors: u.neighbors,
        region: u.region,
        rtt_ms: u.rtt_ms,
        metadata: u.metadata,
    })
}

fn graph_snapshot() -> impl Strategy<Value = GraphSnapshot> {
    (vec(graph_node(), 0..4), vec(pair(), 0..4))
        .prop_map(|(nodes, edges)| GraphSnapshot { nodes, edges })
}

fn path_response() -> impl Strategy<Value = PathResponse> {
    (text(), text(), texts(), any::<usize>()).prop_map(|(from, to, path, hops)| PathResponse {
        from,
        to,
        path,
        hops,
    })
}

fn removed_response() -> impl Strategy<Value = RemovedResponse> {
    (text(), any::<bool>()).prop_map(|(peer_id, removed)| RemovedResponse { peer_id, removed })
}

fn announce() -> impl Strategy<Value = Announce> {
    (
        text(),
        text(),
        any::<u32>(),
        texts(),
        texts(),
        option::of(text()),
        option::of(text()),
    )
        .prop_map(
            |(peer_id, region, rtt_ms, neighbors, segments, addr, edge)| Announce {
                peer_id,
                region,
                rtt_ms,
                neighbors,
                segments,
                addr,
                edge,
            },
        )
}

fn heartbeat() -> impl Strategy<Value = Heartbeat> {
    (text(), option::of(texts()), option::of(texts())).prop_map(|(peer_id, segments, neighbors)| {
        Heartbeat {
            peer_id,
            segments,
            neighbors,
        }
    })
}

fn ack() -> impl Strategy<Value = Ack> {
    (text(), any::<u64>()).prop_map(|(peer_id, ttl_seconds)| Ack {
        peer_id,
        ttl_seconds,
    })
}

fn candidate() -> impl Strategy<Value = Candidate> {
    (text(), text(), any::<u32>(), text(), option::of(text())).prop_map(
        |(peer_id, region, rtt_ms, addr, edge)| Candidate {
            peer_id,
            region,
            rtt_ms,
            addr,
            edge,
            suspect: false,
        },
    )
}

fn segment_lookup() -> impl Strategy<Value = SegmentLookup> {
    (text(), vec(candidate(), 0..4), vec(candidate(), 0..4)).prop_map(
        |(segment, holders, edges)| SegmentLookup {
            segment,
            holders,
            edges,
        },
    )
}

/// `last_seen_secs` is an elapsed time the tracker computes: finite, not
/// negative, in whole milliseconds at most. Those survive the trip exactly;
/// an f64 of full precision may come back a few ULPs off (serde_json's default
/// parser, see `floats_roundtrip_to_within_a_few_ulps`).
fn peer_status() -> impl Strategy<Value = PeerStatus> {
    (
        candidate(),
        texts(),
        any::<usize>(),
        (0u64..1 << 40).prop_map(|ms| ms as f64 / 1000.0),
    )
        .prop_map(|(c, neighbors, segments, last_seen_secs)| PeerStatus {
            peer_id: c.peer_id,
            region: c.region,
            rtt_ms: c.rtt_ms,
            addr: c.addr,
            edge: c.edge,
            neighbors,
            segments,
            last_seen_secs,
        })
}

fn peers_response() -> impl Strategy<Value = PeersResponse> {
    vec(peer_status(), 0..4).prop_map(|peers| PeersResponse { peers })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (option::of(text()), option::of(text()), texts()).prop_map(|(peer, room, neighbors)| {
            ClientMessage::Announce {
                peer,
                room,
                neighbors,
            }
        }),
        (text(), proptest::collection::vec(text(), 0..3))
            .prop_map(|(target, avoid)| ClientMessage::RequestPath { target, avoid }),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        texts().prop_map(|path| ServerMessage::Path { path }),
        (text(), option::of(text()))
            .prop_map(|(error, target)| ServerMessage::Error { error, target }),
    ]
}

fn room() -> impl Strategy<Value = Room> {
    (vec(pair(), 0..4), texts()).prop_map(|(edges, peers)| Room { edges, peers })
}

fn rooms_response() -> impl Strategy<Value = RoomsResponse> {
    btree_map(text(), room(), 0..4).prop_map(|rooms| RoomsResponse { rooms })
}

fn ingest_json() -> impl Strategy<Value = IngestJson> {
    (text(), text(), option::of(text())).prop_map(|(id, data, sha256)| IngestJson {
        id,
        data,
        sha256,
    })
}

fn ingested() -> impl Strategy<Value = Ingested> {
    (text(), text(), any::<u64>()).prop_map(|(id, sha256, bytes)| Ingested { id, sha256, bytes })
}

fn inventory() -> impl Strategy<Value = Inventory> {
    (text(), texts(), any::<usize>(), any::<u64>()).prop_map(
        |(peer_id, segments, entries, bytes)| Inventory {
            peer_id,
            segments,
            entries,
            bytes,
        },
    )
}

fn song_counters() -> impl Strategy<Value = SongCounters> {
    any::<[u64; 8]>().prop_map(|c| SongCounters {
        client_bytes_cache: c[0],
        client_bytes_peer: c[1],
        client_bytes_edge: c[2],
        client_requests: c[3],
        client_failures: c[4],
        relay_bytes: c[5],
        edge_reads: c[6],
        edge_read_bytes: c[7],
    })
}

fn agent_stats() -> impl Strategy<Value = AgentStats> {
    (
        text(),
        option::of(text()),
        any::<usize>(),
        any::<[u64; 5]>(),
        btree_map(text(), song_counters(), 0..4),
    )
        .prop_map(|(peer_id, edge, cache_entries, c, songs)| AgentStats {
            peer_id,
            edge,
            cache_entries,
            cache_bytes: c[0],
            rss_bytes: c[1],
            relays_forwarded: c[2],
            relays_refused: c[3],
            singleflight_joins: c[4],
            songs,
        })
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![Just(Source::Cache), Just(Source::Peer), Just(Source::Edge)]
}

/// The field names and tags of the contract, so that arbitrary JSON reaches
/// past "missing field" into the typed fields.
const KEYS: &[&str] = &[
    "type",
    "announce",
    "request_path",
    "path",
    "error",
    "peer",
    "room",
    "rooms",
    "target",
    "peer_id",
    "neighbors",
    "region",
    "rtt_ms",
    "metadata",
    "segments",
    "addr",
    "edge",
    "edges",
    "nodes",
    "holders",
    "segment",
    "peers",
    "id",
    "data",
    "sha256",
    "bytes",
    "entries",
    "songs",
    "field",
    "status",
    "service",
    "ttl_seconds",
    "last_seen_secs",
    "from",
    "to",
    "hops",
    "removed",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => text(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just(u64::from(u32::MAX) + 1),
            Just(u64::MAX),
            Just(0),
            Just(1)
        ]
        .prop_map(Value::from),
        text().prop_map(Value::String),
        proptest::sample::select(KEYS).prop_map(|k| Value::String(k.to_string())),
    ]
}

/// Any JSON value, its objects keyed mostly by the contract's field names.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..7).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON-ish text: the tokens of JSON in any order, so the parser meets
/// every kind of near miss (unclosed strings, bad escapes, stray commas).
fn json_ish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(":".to_string()),
        Just(",".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\u".to_string()),
        Just("\\ud800".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-".to_string()),
        Just("1e999".to_string()),
        Just("4294967296".to_string()),
        Just("18446744073709551616".to_string()),
        Just(" ".to_string()),
        proptest::sample::select(KEYS).prop_map(|k| format!("\"{k}\"")),
        "[0-9.eE+-]{1,6}",
        text(),
    ];
    vec(token, 0..40).prop_map(|t| t.concat())
}

/// A way to damage a valid JSON text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Keep only the first `n % (len + 1)` bytes.
    Truncate(usize),
    /// Append these bytes.
    Trailing(Vec<u8>),
    /// Replace the `n`-th node (pre-order) of the parsed value with this one.
    Swap(usize, Value),
    /// Set byte `n % len` to this value.
    Byte(usize, u8),
    /// Remove byte `n % len`.
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        prop_oneof![
            vec(any::<u8>(), 1..8),
            json_ish().prop_map(String::into_bytes),
            Just(b" junk".to_vec()),
            Just(b"{}".to_vec()),
            Just(b" \n\t".to_vec()),
        ]
        .prop_map(Mutation::Trailing),
        (any::<usize>(), json_value()).prop_map(|(n, v)| Mutation::Swap(n, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(n, b)| Mutation::Byte(n, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

// ---------------------------------------------------------------- checks

/// Equality after a trip through JSON: exact, but for the one f64 of the
/// contract (see `floats_roundtrip_to_within_a_few_ulps`).
trait Same: PartialEq {
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

macro_rules! exact {
    ($($ty:ty),*) => { $(impl Same for $ty {})* };
}

exact!(
    ErrorBody,
    Health,
    PeerUpsert,
    GraphNode,
    GraphSnapshot,
    PathResponse,
    RemovedResponse,
    Announce,
    Heartbeat,
    Ack,
    Candidate,
    SegmentLookup,
    ClientMessage,
    ServerMessage,
    RoomsResponse,
    Room,
    IngestJson,
    Ingested,
    Inventory,
    SongCounters,
    AgentStats,
    Source
);

impl Same for PeerStatus {
    fn same(&self, o: &Self) -> bool {
        let (f, g) = (self.last_seen_secs, o.last_seen_secs);
        let close = f == g || (g - f).abs() <= f.abs() * 1e-15 + f64::MIN_POSITIVE;
        close
            && PeerStatus {
                last_seen_secs: g,
                ..self.clone()
            } == *o
    }
}

impl Same for PeersResponse {
    fn same(&self, o: &Self) -> bool {
        self.peers.len() == o.peers.len() && self.peers.iter().zip(&o.peers).all(|(a, b)| a.same(b))
    }
}

/// Decodes `bytes` as `T`; whatever decodes must encode and decode back to
/// the same value.
fn decode<T>(bytes: &[u8]) -> Result<Option<T>, TestCaseError>
where
    T: Serialize + DeserializeOwned + Same + Debug,
{
    let Ok(value) = serde_json::from_slice::<T>(bytes) else {
        return Ok(None);
    };
    let text = serde_json::to_vec(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let again: T = serde_json::from_slice(&text)
        .map_err(|e| TestCaseError::fail(format!("{e}: {value:?}")))?;
    prop_assert!(again.same(&value), "{value:?} came back as {again:?}");
    Ok(Some(value))
}

/// Every type any process reads from a socket or an answer, fed the same
/// bytes.
fn decode_every_type(bytes: &[u8]) -> Result<(), TestCaseError> {
    decode::<ErrorBody>(bytes)?;
    decode::<Health>(bytes)?;
    decode::<PeerUpsert>(bytes)?;
    decode::<GraphNode>(bytes)?;
    decode::<GraphSnapshot>(bytes)?;
    decode::<PathResponse>(bytes)?;
    decode::<RemovedResponse>(bytes)?;
    decode::<Announce>(bytes)?;
    decode::<Heartbeat>(bytes)?;
    decode::<Ack>(bytes)?;
    decode::<Candidate>(bytes)?;
    decode::<SegmentLookup>(bytes)?;
    decode::<PeerStatus>(bytes)?;
    decode::<PeersResponse>(bytes)?;
    decode::<ClientMessage>(bytes)?;
    decode::<ServerMessage>(bytes)?;
    decode::<RoomsResponse>(bytes)?;
    decode::<Room>(bytes)?;
    decode::<IngestJson>(bytes)?;
    decode::<Ingested>(bytes)?;
    decode::<Inventory>(bytes)?;
    decode::<SongCounters>(bytes)?;
    decode::<AgentStats>(bytes)?;
    decode::<Source>(bytes)?;
    Ok(())
}

/// The `n`-th node of `v` in pre-order, counting `v` itself as 0, wrapping.
fn node_mut(v: &mut Value, n: usize) -> &mut Value {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, n: usize) -> Result<&mut Value, usize> {
        if n == 0 {
            return Ok(v);
        }
        let mut left = n - 1;
        let children: Vec<&mut Value> = match v {
            Value::Array(a) => a.iter_mut().collect(),
            Value::Object(o) => o.values_mut().collect(),
            _ => Vec::new(),
        };
        for c in children {
            match walk(c, left) {
                Ok(found) => return Ok(found),
                Err(rest) => left = rest,
            }
        }
        Err(left)
    }
    let n = n % count(v);
    match walk(v, n) {
        Ok(found) => found,
        Err(_) => unreachable!("n is below the node count"),
    }
}

/// Serializes `value`, checks that it decodes back to itself, damages the
/// text by `m` and checks what the damaged text may decode to.
fn roundtrip_and_mutate<T>(value: &T, m: &Mutation) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + Same + Debug,
{
    let text = serde_json::to_vec(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_slice(&text)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&text))))?;
    prop_assert_eq!(&back, value);
    let via_value: T = serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&via_value, value);

    match m {
        Mutation::Truncate(n) => {
            let cut = n % (text.len() + 1);
            let got = decode::<T>(&text[..cut])?;
            // Every wire value is an object or a string: no proper prefix of
            // one is a whole JSON text.
            prop_assert!(cut == text.len() || got.is_none(), "prefix {cut} decoded");
        }
        Mutation::Trailing(junk) => {
            let mut t = text.clone();
            t.extend_from_slice(junk);
            let got = decode::<T>(&t)?;
            if junk.iter().all(|b| b" \t\r\n".contains(b)) {
                prop_assert_eq!(got.as_ref(), Some(value));
            } else {
                prop_assert!(got.is_none(), "trailing {junk:?} was accepted");
            }
        }
        Mutation::Swap(n, replacement) => {
            let mut v: Value =
                serde_json::from_slice(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            *node_mut(&mut v, *n) = replacement.clone();
            let t = serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            decode::<T>(&t)?;
            let _ = serde_json::from_value::<T>(v);
        }
        Mutation::Byte(n, b) => {
            let mut t = text.clone();
            let i = n % t.len();
            t[i] = *b;
            decode::<T>(&t)?;
        }
        Mutation::Delete(n) => {
            let mut t = text.clone();
            t.remove(n % t.len());
            decode::<T>(&t)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- JSON

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in vec(any::<u8>(), 0..256)) {
        decode_every_type(&bytes)?;
    }

    #[test]
    fn json_ish_text_never_panics_any_decoder(text in json_ish()) {
        decode_every_type(text.as_bytes())?;
    }

    #[test]
    fn arbitrary_json_values_never_panic_any_decoder(v in json_value()) {
        let bytes = serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        decode_every_type(&bytes)?;
    }
}

macro_rules! wire_type_properties {
    ($($name:ident: $ty:ty = $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(config(CASES))]
            $(
                #[test]
                fn $name(value in $strategy, m in mutation()) {
                    roundtrip_and_mutate::<$ty>(&value, &m)?;
                }
            )*
        }
    };
}

wire_type_properties! {
    error_body_roundtrips_and_survives_damage: ErrorBody = error_body();
    health_roundtrips_and_survives_damage: Health = health();
    peer_upsert_roundtrips_and_survives_damage: PeerUpsert = peer_upsert();
    graph_node_roundtrips_and_survives_damage: GraphNode = graph_node();
    graph_snapshot_roundtrips_and_survives_damage: GraphSnapshot = graph_snapshot();
    path_response_roundtrips_and_survives_damage: PathResponse = path_response();
    removed_response_roundtrips_and_survives_damage: RemovedResponse = removed_response();
    announce_roundtrips_and_survives_damage: Announce = announce();
    heartbeat_roundtrips_and_survives_damage: Heartbeat = heartbeat();
    ack_roundtrips_and_survives_damage: Ack = ack();
    segment_lookup_roundtrips_and_survives_damage: SegmentLookup = segment_lookup();
    peers_response_roundtrips_and_survives_damage: PeersResponse = peers_response();
    client_message_roundtrips_and_survives_damage: ClientMessage = client_message();
    server_message_roundtrips_and_survives_damage: ServerMessage = server_message();
    rooms_response_roundtrips_and_survives_damage: RoomsResponse = rooms_response();
    ingest_json_roundtrips_and_survives_damage: IngestJson = ingest_json();
    ingested_roundtrips_and_survives_damage: Ingested = ingested();
    inventory_roundtrips_and_survives_damage: Inventory = inventory();
    agent_stats_roundtrips_and_survives_damage: AgentStats = agent_stats();
    source_roundtrips_and_survives_damage: Source = source();
}

proptest! {
    #![proptest_config(config(CASES))]

    /// serde_json (without its `float_roundtrip` feature) may read back an
    /// f64 of full precision a few units in the last place off (2 seen);
    /// never more than 1e-15 of it (or a subnormal's worth), and never a
    /// panic or an error.
    #[test]
    fn floats_roundtrip_to_within_a_few_ulps(
        f in any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ) {
        let v = serde_json::json!({ "last_seen_secs": f });
        let text = serde_json::to_string(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let g = back["last_seen_secs"].as_f64().unwrap_or(f64::NAN);
        prop_assert!(g == f || (g - f).abs() <= f.abs() * 1e-15 + f64::MIN_POSITIVE, "{f:e} read back as {g:e}");
    }
}

/// Nesting far past serde_json's recursion limit is an error, not a stack
/// overflow, for every type.
#[test]
fn deep_nesting_is_refused_without_overflow() {
    for open in [
        "[",
        "{\"peer_id\":",
        "{\"type\":\"announce\",\"neighbors\":",
    ] {
        let text = open.repeat(100_000);
        let r = decode_every_type(text.as_bytes());
        assert!(r.is_ok(), "{r:?}");
        assert!(serde_json::from_str::<PeerUpsert>(&text).is_err());
        assert!(serde_json::from_str::<ClientMessage>(&text).is_err());
    }
}

// ---------------------------------------------------------------- ids

/// The alphabet of peer ids, rooms, regions and segment ids.
fn id_char_ok(c: char, dot: bool) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dot && c == '.')
}

fn peer_id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,40}"
}

fn sha_hex() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

fn song() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,40}"
}

proptest! {
    #![proptest_config(config(CASES * 4))]

    /// Whatever a validator accepts is within the documented alphabet and
    /// length, and so passes through URL encoding unchanged.
    #[test]
    fn validators_accept_exactly_their_alphabet(s in text()) {
        for (r, dot) in [
            (ids::validate_peer_id(&s), true),
            (ids::validate_name("room", &s), true),
            (ids::validate_segment_id(&s), true),
            (ids::validate_song(&s), false),
        ] {
            let want = !s.is_empty()
                && s.len() <= ids::MAX_ID_LEN
                && !s.starts_with('.')
                && s.chars().all(|c| id_char_ok(c, dot));
            prop_assert_eq!(r.is_ok(), want, "{:?}: {:?}", s, r);
            if let Err(e) = r {
                prop_assert!(!e.0.is_empty());
            } else {
                prop_assert_eq!(url::encode_component(&s), s.clone());
            }
        }
        let _ = ids::sha256_of_id(&s);
        let _ = wire::agent::song_of_id(&s);
    }

    #[test]
    fn long_ids_are_refused(c in "[a-z]", extra in 1usize..64) {
        let s = c.repeat(ids::MAX_ID_LEN + extra);
        prop_assert!(ids::validate_peer_id(&s).is_err());
        prop_assert!(ids::validate_peer_id(&s[..ids::MAX_ID_LEN]).is_ok());
    }

    /// A content-addressed id gives back its hash and its song.
    #[test]
    fn segment_ids_give_back_song_and_hash(song in song(), seq in any::<u32>(), sha in sha_hex()) {
        let id = ids::segment_id(&song, seq, &sha);
        prop_assert_eq!(ids::sha256_of_id(&id), Some(sha.as_str()));
        prop_assert_eq!(wire::agent::song_of_id(&id), Some(song.as_str()));
        let playlist = ids::playlist_id(&song);
        prop_assert_eq!(wire::agent::song_of_id(&playlist), Some(song.as_str()));
        prop_assert_eq!(ids::sha256_of_id(&playlist), None);
        // An uppercase or short hash is not a content address.
        let upper = ids::segment_id(&song, seq, &sha.to_uppercase());
        prop_assert_eq!(
            ids::sha256_of_id(&upper).is_some(),
            sha.bytes().all(|b| b.is_ascii_digit())
        );
        let short = ids::segment_id(&song, seq, &sha[1..]);
        prop_assert_eq!(ids::sha256_of_id(&short), None);
    }

    // ------------------------------------------------------------ relay

    /// Whatever `parse_route` returns is a list of non-empty, trimmed names
    /// with no comma, and joining them gives the same route again.
    #[test]
    fn any_route_header_parses_to_clean_hops_or_none(s in prop_oneof![
        text(),
        vec(prop_oneof![text(), Just(",".to_string()), Just(" ".to_string())], 0..12)
            .prop_map(|v| v.concat()),
    ]) {
        if let Some(hops) = relay::parse_route(&s) {
            prop_assert!(!hops.is_empty());
            for h in &hops {
                prop_assert!(!h.is_empty() && !h.contains(',') && h.trim() == h, "{h:?}");
            }
            prop_assert_eq!(relay::parse_route(&hops.join(",")), Some(hops.clone()));
        } else {
            prop_assert!(s.split(',').any(|h| h.trim().is_empty()));
        }
    }

    #[test]
    fn routes_of_peer_ids_roundtrip(hops in vec(peer_id(), 1..12), spaced in any::<bool>()) {
        let sep = if spaced { ", " } else { "," };
        prop_assert_eq!(relay::parse_route(&hops.join(sep)), Some(hops.clone()));
    }

    #[test]
    fn source_parses_only_its_own_names(s in prop_oneof![
        text(),
        Just("cache".to_string()),
        Just("peer".to_string()),
        Just("edge".to_string()),
        Just("Cache".to_string()),
        Just(" edge".to_string()),
    ]) {
        if let Some(src) = Source::parse(&s) {
            prop_assert_eq!(src.as_str(), s.as_str());
            let json = serde_json::to_string(&src).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(json, format!("\"{s}\""));
        } else {
            prop_assert!(!["cache", "peer", "edge"].contains(&s.as_str()));
        }
    }

    // ------------------------------------------------------------ url

    #[test]
    fn encode_component_roundtrips_and_only_emits_unreserved(s in text()) {
        let enc = url::encode_component(&s);
        prop_assert_eq!(percent_decode(&enc), Some(s.as_bytes().to_vec()), "{}", enc);
        let b = enc.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                prop_assert!(i + 2 < b.len(), "{enc:?}");
                let hex = &b[i + 1..i + 3];
                prop_assert!(hex.iter().all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h)));
                i += 3;
            } else {
                prop_assert!(b[i].is_ascii_alphanumeric() || b"-_.~".contains(&b[i]), "{enc:?}");
                i += 1;
            }
        }
        prop_assert!(enc.len() <= 3 * s.len());
        prop_assert_eq!(enc == s, s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.~".contains(&c)));
    }
}

/// The simplest decoder of `%XX` escapes; `None` on a broken escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- auth

fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,48}",
        vec(any::<char>(), 1..24).prop_map(String::from_iter),
    ]
}

/// Headers an attacker might send: anything, bearer-shaped junk, and
/// tokens of the right shape with a made-up tag.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        text().prop_map(|t| format!("Bearer {t}")),
        (peer_id(), "[0-9a-fA-F]{0,70}").prop_map(|(p, tag)| format!("Bearer {p}:{tag}")),
        (peer_id(), sha_hex()).prop_map(|(p, tag)| format!("Bearer {p}:{tag}")),
        Just("Bearer ".to_string()),
        Just("Bearer  ".to_string()),
    ]
}

/// The peer a header names, when it is `Bearer <peer>:<tag>`.
fn expect_peer(secret: &str, header: &str, id: &Identity) -> Result<(), TestCaseError> {
    match id {
        Identity::Open => prop_assert!(false, "a set secret never gives Open"),
        Identity::Admin => prop_assert_eq!(header, format!("Bearer {secret}")),
        Identity::Peer(p) => {
            let want = auth::peer_token(secret, p);
            let got = auth::bearer(header).unwrap_or_default();
            let (got_peer, got_tag) = got.rsplit_once(':').unwrap_or_default();
            let (_, want_tag) = want.rsplit_once(':').unwrap_or_default();
            prop_assert_eq!(got_peer, p.as_str());
            prop_assert!(got_tag.eq_ignore_ascii_case(want_tag), "{got} for {want}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES * 2))]

    /// With a secret set, a header authenticates only as what it proves:
    /// the secret itself, or a peer whose HMAC tag it carries.
    #[test]
    fn random_headers_never_authenticate(secret in secret(), header in header()) {
        match auth::check(Some(&secret), Some(&header)) {
            Ok(id) => expect_peer(&secret, &header, &id)?,
            Err(r) => prop_assert!(!r.message().is_empty()),
        }
        prop_assert_eq!(auth::check(Some(&secret), None), Err(Refused::Missing));
        prop_assert_eq!(auth::check(None, Some(&header)), Ok(Identity::Open));
        if let Some(t) = auth::bearer(&header) {
            prop_assert_eq!(format!("Bearer {t}"), header.clone());
            prop_assert!(!t.is_empty() && !t.bytes().any(|b| b.is_ascii_whitespace()));
        }
        match auth::check_exact(Some(&secret), Some(&header)) {
            Ok(()) => prop_assert_eq!(&header, &format!("Bearer {secret}")),
            Err(r) => prop_assert!(!r.message().is_empty()),
        }
    }

    /// A peer's token proves that peer and no other: not under another
    /// name, not under another secret, not with its tag cut, changed or
    /// padded.
    #[test]
    fn a_token_for_one_peer_never_authenticates_another(
        secret in secret(),
        other_secret in secret(),
        a in peer_id(),
        b in peer_id(),
        cut in 0usize..64,
        flip in 0usize..64,
        pad in prop_oneof![Just(" "), Just("\t"), Just("0"), Just("00"), Just(":")],
    ) {
        let token = auth::peer_token(&secret, &a);
        let h = |t: &str| format!("Bearer {t}");
        let id = auth::check(Some(&secret), Some(&h(&token)));
        prop_assert_eq!(&id, &Ok(Identity::Peer(a.clone())));
        let id = id.unwrap_or(Identity::Open);
        prop_assert!(id.may_act_as(&a));
        prop_assert!(!id.is_admin());
        if a != b {
            prop_assert!(!id.may_act_as(&b));
            let tag = token.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
            prop_assert_eq!(
                auth::check(Some(&secret), Some(&h(&format!("{b}:{tag}")))),
                Err(Refused::Wrong)
            );
            prop_assert_eq!(
                auth::check_exact(Some(&token), Some(&h(&auth::peer_token(&secret, &b)))),
                Err(Refused::Wrong)
            );
        }
        if other_secret != secret {
            prop_assert_eq!(
                auth::check(Some(&other_secret), Some(&h(&token))),
                Err(Refused::Wrong)
            );
        }
        // The tag cut short (even lengths still decode as hex).
        let short = &token[..token.len() - 1 - cut];
        prop_assert!(auth::check(Some(&secret), Some(&h(short))).is_err(), "{short}");
        // One hex digit changed.
        let mut changed = token.clone().into_bytes();
        let i = token.len() - 1 - flip;
        changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap_or_default();
        prop_assert_eq!(auth::check(Some(&secret), Some(&h(&changed))), Err(Refused::Wrong));
        // Padding after the token.
        let padded = format!("{token}{pad}");
        prop_assert!(auth::check(Some(&secret), Some(&h(&padded))).is_err(), "{padded:?}");
        prop_assert!(auth::check_exact(Some(&token), Some(&h(&padded))).is_err());
        prop_assert_eq!(auth::check_exact(Some(&token), Some(&h(&token))), Ok(()));
    }

    #[test]
    fn constant_time_eq_is_eq(a in vec(any::<u8>(), 0..8), b in vec(any::<u8>(), 0..8)) {
        prop_assert_eq!(auth::constant_time_eq(&a, &b), a == b);
        prop_assert!(auth::constant_time_eq(&a, &a));
    }
}
