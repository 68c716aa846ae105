//! The mesh file (`meshctl up -f mesh.yaml`): [`Settings`] in YAML, every
//! setting of `up` plus explicit links, per-peer overrides, impairments and
//! labels. Keys follow the spec's environment names in lowercase; a key
//! left out keeps its default, an unknown key is refused with its line:
//!
//! ```text
//! name: mesh
//! count: 6
//! edge1_peers: [peer-1, peer-2]
//! edge2_peers: [peer-4]
//! peer_memory: 15m
//! degree: 3
//! seed: 7
//! links:
//!   - [peer-1, peer-6]
//!   - {a: peer-2, b: peer-5, delay: 80ms, jitter: 10ms, loss: 2%, rate: 1mbit}
//! impair:
//!   - {a: peer-1, b: peer-6, rate: 500kbit}
//! peers:
//!   peer-3: {room: jazz, region: eu, rtt_ms: 12, delay: 40ms, rate: 2mbit}
//! labels: {team: video}
//! ```
//!
//! Impairments take the values of `meshctl netem set`'s flags (`delay`,
//! `jitter`, `loss`, `rate`, `corrupt`, `duplicate`) and the same checks:
//!
//! - a `links` entry written as a map with shaping keys adds the link (if
//!   the generated mesh lacks it) and shapes both of its directions;
//! - an `impair` entry shapes a link the mesh has anyway, generated or
//!   listed, and adds none: naming a pair that is not a link is an error,
//!   so is impairing one link twice;
//! - shaping keys on a `peers` entry shape all of that peer's egress on the
//!   peer network (a link's own shaping wins for that link's traffic).
//!
//! `up` applies them once the peers are up, as `meshctl netem set` would
//! (replacing what was set for the same direction, so a second `up` changes
//! nothing); it does not remove shaping that the file no longer declares
//! (`meshctl netem reset --all` does).
//!
//! [`resolve`] is the one place where precedence is decided: flags > env >
//! file > defaults, with the `max_count` cap. `up --dry-run --format yaml`
//! prints [`reproducing`]: the resolved settings, secrets left out, whose
//! `degree: 0` and explicit `links` (impaired ones as maps) give the same
//! plan through `up -f`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::faults::net::Shaping;
use crate::labels::natural_key;
use crate::plan::{Link, Plan, Settings};

/// Parses a mesh file; errors name the field and the line (`source` names
/// the file in messages). An empty file holds the defaults.
pub fn parse(text: &str, source: &str) -> anyhow::Result<Settings> {
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| describe(source, "", e.location(), &e))?;
    if value.is_null() {
        return Ok(Settings::default());
    }
    deserialize(serde_yaml::Deserializer::from_str(text), source)
}

/// The settings of `up`: `upper` (flags and env, as clap resolved them:
/// every `null` left unset) over the mesh file `text` over the defaults,
/// and `count` lowered to `max_count`. `upper`'s keys are the file's.
pub fn resolve(text: &str, source: &str, upper: &impl Serialize) -> anyhow::Result<Settings> {
    // The file alone first, so that its errors name their line.
    parse(text, source)?;
    let mut layers = match serde_yaml::from_str(text).context("read the mesh file")? {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    };
    let upper = match serde_yaml::to_value(upper).context("flags and env")? {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => bail!("flags and env: not a set of settings"),
    };
    for (key, value) in upper {
        if !value.is_null() {
            layers.insert(key, value);
        }
    }
    let mut settings = deserialize(Value::Mapping(layers), "flags and env")?;
    if settings.count > settings.max_count {
        tracing::warn!(
            "count {} clamped to MAX_COUNT={}",
            settings.count,
            settings.max_count
        );
        settings.count = settings.max_count;
    }
    Ok(settings)
}

/// Settings that reproduce `plan` exactly: the edge sets written out, the
/// generated mesh as explicit links with `degree: 0`, each impaired link
/// carrying its shaping (so `impair` is left empty), the peers' shaping
/// kept in `peers`.
pub fn reproducing(settings: &Settings, plan: &Plan) -> Settings {
    let (edge1_peers, edge2_peers) = settings.edge_sets();
    let shaped: BTreeMap<(&str, &str), &Shaping> = plan
        .impairments
        .iter()
        .filter_map(|i| Some(((i.peer.as_str(), i.to.as_deref()?), &i.shaping)))
        .collect();
    let mut links = Vec::new();
    for (p, ns) in &plan.neighbors {
        for q in ns {
            if natural_key(p) < natural_key(q) {
                links.push(match shaped.get(&(p.as_str(), q.as_str())) {
                    Some(s) => Link::shaped(p, q, s),
                    None => Link::new(p, q),
                });
            }
        }
    }
    links.sort_by_key(|l| (natural_key(&l.a), natural_key(&l.b)));
    Settings {
        edge1_peers: Some(edge1_peers),
        edge2_peers: Some(edge2_peers),
        degree: 0,
        links,
        impair: Vec::new(),
        ..settings.clone()
    }
}

/// The settings as a mesh file; secrets are never written.
pub fn to_yaml(settings: &Settings) -> anyhow::Result<String> {
    serde_yaml::to_string(settings).context("write the mesh file")
}

fn deserialize<'de>(
    de: impl serde::Deserializer<'de, Error = serde_yaml::Error>,
    source: &str,
) -> anyhow::Result<Settings> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        describe(source, &path, inner.location(), &inner)
    })
}

fn describe(
    source: &str,
    path: &str,
    at: Option<serde_yaml::Location>,
    e: &serde_yaml::Error,
) -> anyhow::Error {
    let at = at
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    let field = if path.is_empty() || path == "." {
        String::new()
    } else {
        format!(" field `{path}`")
    };
    anyhow::anyhow!("{source}:{field}{at}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;

    #[test]
    fn parse_resolve_and_precedence() {
        let text = "name: t1\ncount: 6\nedge1_peers: [peer-1]\npeer_memory: 20m\npeers:\n  peer-3: {room: jazz}\nlinks: [[peer-1, peer-6]]\n";
        let flags = serde_json::json!({"count": 4, "degree": null, "seed": null});
        let c = resolve(text, "mesh.yaml", &flags).unwrap();
        assert_eq!(c.name, "t1");
        assert_eq!(c.count, 4);
        assert_eq!(c.degree, 4, "an unset flag leaves the default");
        assert_eq!(c.peer_memory, 20 * 1024 * 1024);
        assert_eq!(c.edge1_peers, Some(vec!["peer-1".to_string()]));
        assert_eq!(c.peers["peer-3"].room.as_deref(), Some("jazz"));
        assert_eq!(c.links, [Link::new("peer-1", "peer-6")]);
        assert_eq!(resolve("", "none", &()).unwrap().count, 160);
        assert_eq!(resolve("", "none", &()).unwrap(), Settings::default());
        // A file of comments only holds the defaults too.
        assert_eq!(parse("# nothing\n", "m.yaml").unwrap(), Settings::default());
    }

    #[test]
    fn flags_over_file_over_defaults_with_the_cap() {
        let text = "count: 50\nmax_count: 40\npeer_room: lobby\nedge2_peers: peer-9, peer-10\nlabels: {a: file}\npostgres_password: filepw\n";
        let c = resolve(text, "m.yaml", &serde_json::json!({})).unwrap();
        assert_eq!(c.count, 40, "the cap applies to the file's count");
        assert_eq!(c.peer_room, "lobby");
        assert_eq!(
            c.edge2_peers,
            Some(vec!["peer-9".to_string(), "peer-10".to_string()])
        );
        assert_eq!(c.postgres_password, "filepw");
        let upper = serde_json::json!({
            "max_count": 8, "peer_room": "flag", "token": "tok",
            "labels": {"meshctl.test": "t"}, "edge2_peers": "peer-2",
        });
        let c = resolve(text, "m.yaml", &upper).unwrap();
        assert_eq!((c.count, c.max_count), (8, 8));
        assert_eq!(c.peer_room, "flag");
        assert_eq!(c.token, "tok");
        assert_eq!(c.postgres_password, "filepw");
        assert_eq!(c.edge2_peers, Some(vec!["peer-2".to_string()]));
        assert_eq!(
            c.labels,
            BTreeMap::from([("meshctl.test".to_string(), "t".to_string())])
        );
        let err = resolve("", "m.yaml", &serde_json::json!({"colour": "red"})).unwrap_err();
        assert!(
            err.to_string().contains("flags and env") && err.to_string().contains("colour"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_field_and_line() {
        let err = parse("count: 6\ndegree: many\n", "mesh.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("degree") && err.contains("line 2"), "{err}");
        let err = parse("count: 6\npeers:\n  peer-1: {colour: red}\n", "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("peers") && err.contains("colour") && err.contains("line 3"),
            "{err}"
        );
        let err = parse("cuont: 6\n", "m.yaml").unwrap_err().to_string();
        assert!(err.contains("cuont") && err.contains("line 1"), "{err}");
        let err = parse("count: 6\npeer_memory: lots\n", "m.yaml").unwrap_err();
        assert!(format!("{err:#}").contains("peer_memory"), "{err:#}");
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        let err = resolve("count: [6\n", "m.yaml", &())
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.yaml") && err.contains("line"), "{err}");
    }

    #[test]
    fn the_doc_example_and_the_defaults_round_trip() {
        let doc = include_str!("mesh_file.rs")
            .split("```text\n")
            .nth(1)
            .and_then(|s| s.split("//! ```").next())
            .unwrap()
            .lines()
            .map(|l| l.strip_prefix("//! ").unwrap_or("").to_string() + "\n")
            .collect::<String>();
        let example = parse(&doc, "doc").unwrap();
        assert_eq!(example.count, 6);
        assert_eq!(example.labels["team"], "video");
        assert_eq!(example.links[1].delay, Some(80_000));
        assert_eq!(example.peers["peer-3"].rate, Some(2_000_000));
        let p = plan::plan(&Settings {
            postgres_password: "pw".into(),
            ..example.clone()
        })
        .unwrap();
        let described: Vec<String> = p.impairments.iter().map(|i| i.describe()).collect();
        assert_eq!(
            described,
            [
                "peer-1 -- peer-6: rate=500kbit",
                "peer-2 -- peer-5: delay=80ms jitter=10ms loss=2% rate=1mbit",
                "peer-3 (all egress): delay=40ms rate=2mbit",
            ]
        );
        let again = parse(&to_yaml(&example).unwrap(), "again").unwrap();
        assert_eq!(again, example);
        let defaults = to_yaml(&Settings::default()).unwrap();
        assert_eq!(parse(&defaults, "defaults").unwrap(), Settings::default());
    }

    #[test]
    fn secrets_are_never_written() {
        let c = resolve(
            "",
            "none",
            &serde_json::json!({"postgres_password": "s3cret-pw", "token": "s3cret-tok"}),
        )
        .unwrap();
        assert_eq!(c.postgres_password, "s3cret-pw");
        let p = plan::plan(&c).unwrap();
        let yaml = to_yaml(&reproducing(&c, &p)).unwrap();
        assert!(
            !yaml.contains("s3cret") && !yaml.contains("postgres_password:"),
            "{yaml}"
        );
        let masked = serde_json::to_string(&plan::plan(&c.masked()).unwrap()).unwrap();
        assert!(!masked.contains("s3cret"));
    }

    #[test]
    fn dry_run_file_reproduces_the_plan() {
        let upper = serde_json::json!({
            "count": 12, "degree": 3, "seed": 9, "max_count": 100, "peer_memory": 20971520,
            "labels": {"meshctl.test": "x"},
        });
        let text = "peers:\n  peer-3: {room: jazz, rtt_ms: 12}\nlinks: [[peer-1, peer-12]]\n";
        let c = resolve(text, "m.yaml", &upper).unwrap().masked();
        let p = plan::plan(&c).unwrap();
        let yaml = to_yaml(&reproducing(&c, &p)).unwrap();
        assert!(
            yaml.contains("degree: 0") && yaml.contains("peer_memory: 20m"),
            "{yaml}"
        );
        let again = resolve(&yaml, "dry-run", &()).unwrap().masked();
        assert_eq!(plan::plan(&again).unwrap(), p, "dry-run file:\n{yaml}");
        // And the file is a fixed point.
        assert_eq!(to_yaml(&reproducing(&again, &p)).unwrap(), yaml);
    }

    #[test]
    fn impairments_round_trip_through_the_dry_run_file() {
        let upper =
            serde_json::json!({"count": 8, "degree": 3, "seed": 5, "postgres_password": "pw"});
        let c = resolve("", "m.yaml", &upper).unwrap();
        let generated = plan::plan(&c).unwrap().neighbors;
        let (p, q) = (&"peer-4".to_string(), &generated["peer-4"][0]);
        let text = format!(
            "links:\n  - [peer-1, peer-8]\n  - {{a: peer-8, b: peer-2, loss: 2, rate: 1mbit, corrupt: 0.1%}}\n\
             impair:\n  - {{a: {q}, b: {p}, delay: 1.5s, jitter: 500us, duplicate: 1%}}\n\
             peers:\n  peer-3: {{room: jazz, loss: 5%, rate: 100kbps}}\n"
        );
        let c = resolve(&text, "m.yaml", &upper).unwrap();
        let p1 = plan::plan(&c).unwrap();
        let rows: Vec<(&str, Option<&str>)> = p1
            .impairments
            .iter()
            .map(|i| (i.peer.as_str(), i.to.as_deref()))
            .collect();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(
            rows.contains(&("peer-2", Some("peer-8"))),
            "ends in natural order: {rows:?}"
        );
        assert!(rows.contains(&("peer-3", None)));
        let link = |a: &str| p1.impairments.iter().find(|i| i.peer == a).unwrap();
        assert_eq!(link("peer-2").shaping.loss, Some(2.0));
        assert_eq!(link("peer-2").shaping.rate_bps, Some(1_000_000));
        assert_eq!(link("peer-3").shaping.rate_bps, Some(800_000));
        assert!(p1
            .impairments
            .iter()
            .any(|i| i.shaping.delay_us == Some(1_500_000) && i.shaping.jitter_us == Some(500)));
        // `impair` added no link: the mesh is the generated one plus `links`.
        let plain = resolve(
            "links: [[peer-1, peer-8], [peer-8, peer-2]]\n",
            "m.yaml",
            &upper,
        )
        .unwrap();
        assert_eq!(plan::plan(&plain).unwrap().neighbors, p1.neighbors);

        let yaml = to_yaml(&reproducing(&c.masked(), &p1)).unwrap();
        assert!(!yaml.contains("impair:"), "{yaml}");
        assert!(
            yaml.contains("delay: 1.5s") || yaml.contains("delay: 1500ms"),
            "{yaml}"
        );
        assert!(
            yaml.contains("rate: 800kbit") && yaml.contains("loss: 5%"),
            "{yaml}"
        );
        let again = resolve(&yaml, "dry-run", &()).unwrap();
        let again = Settings {
            postgres_password: "pw".into(),
            ..again
        };
        assert_eq!(plan::plan(&again).unwrap(), p1, "dry-run file:\n{yaml}");
        assert_eq!(to_yaml(&reproducing(&again.masked(), &p1)).unwrap(), yaml);
    }

    #[test]
    fn bad_impairments_name_their_key() {
        let cases = [
            (
                "links:\n  - [peer-1, peer-2]\n  - {a: peer-1, b: peer-3, delay: 80}\n",
                "links[1].delay",
                "give a unit",
            ),
            (
                "links:\n  - {a: peer-1, b: peer-2, loss: 120%}\n",
                "links[0].loss",
                "over 100%",
            ),
            (
                "links:\n  - {a: peer-1, b: peer-2, rate: 3furlongs}\n",
                "links[0].rate",
                "unknown unit",
            ),
            (
                "links:\n  - {a: peer-1, b: peer-2, colour: red}\n",
                "links[0]",
                "colour",
            ),
            (
                "links:\n  - [peer-1, peer-2, peer-3]\n",
                "links[0]",
                "two peers",
            ),
            (
                "peers:\n  peer-3: {room: jazz, delay: -5ms}\n",
                "peers.peer-3.delay",
                "negative",
            ),
            (
                "impair:\n  - {a: peer-1, b: peer-2, jitter: soon}\n",
                "impair[0].jitter",
                "not a number",
            ),
        ];
        for (text, key, says) in cases {
            let err = format!("{:#}", parse(text, "m.yaml").unwrap_err());
            assert!(
                err.contains(key) && err.contains(says) && err.contains("line"),
                "{text}: {err}"
            );
        }
        let upper = serde_json::json!({"count": 6, "degree": 0, "postgres_password": "pw"});
        let line = "links: [[peer-1, peer-2], [peer-2, peer-3], [peer-3, peer-4], [peer-4, peer-5], [peer-5, peer-6]]\n";
        let planned = |extra: &str| {
            let c = resolve(&format!("{line}{extra}"), "m.yaml", &upper)?;
            plan::plan(&c)
        };
        planned("").unwrap();
        for (extra, says) in [
            (
                "impair: [{a: peer-1, b: peer-9, loss: 1%}]\n",
                "impair[0]: peer-9 is not one of the 6 peers",
            ),
            (
                "impair: [{a: peer-1, b: peer-3, loss: 1%}]\n",
                "impair[0]: peer-1 -- peer-3 is not a link of the mesh",
            ),
            (
                "impair: [{a: peer-2, b: peer-1}]\n",
                "impair[0]: give at least one of",
            ),
            (
                "impair: [{a: peer-2, b: peer-1, jitter: 5ms}]\n",
                "impair[0]: --jitter: needs --delay",
            ),
            (
                "impair: [{a: peer-2, b: peer-1, loss: 1%}, {a: peer-1, b: peer-2, rate: 1mbit}]\n",
                "impair[1]: peer-1 -- peer-2 is already impaired by impair[0]",
            ),
            ("peers: {peer-2: {jitter: 5ms}}\n", "peers.peer-2: --jitter"),
            (
                "peers: {peer-7: {rate: 1mbit}}\n",
                "peer-7 is not one of the 6 peers",
            ),
        ] {
            let err = format!("{:#}", planned(extra).unwrap_err());
            assert!(err.contains(says), "{extra}: {err}");
        }
        let c = resolve(
            "links: [{a: peer-1, b: peer-8, loss: 1%}]\n",
            "m.yaml",
            &upper,
        )
        .unwrap();
        let err = plan::plan(&c).unwrap_err().to_string();
        assert!(err.contains("peer-8"), "{err}");
    }

    #[test]
    fn the_readme_example_plans() {
        let readme = include_str!("../../README.md");
        let section = readme.split("### The mesh file").nth(1).unwrap();
        let yaml = section
            .split("```yaml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .unwrap();
        let c = resolve(
            yaml,
            "README.md",
            &serde_json::json!({"postgres_password": "pw"}),
        )
        .unwrap();
        let p = plan::plan(&c).unwrap();
        assert_eq!(p.impairments.len(), 3, "{:?}", p.impairments);
    }
}
