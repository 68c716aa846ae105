//! The mesh file (`meshctl up -f mesh.yaml`): [`Settings`] in YAML, every
//! setting of `up` plus explicit links, per-peer overrides and labels. Keys
//! follow the spec's environment names in lowercase; a key left out keeps
//! its default, an unknown key is refused with its line:
//!
//! ```text
//! name: mesh
//! count: 6
//! edge1_peers: [peer-1, peer-2]
//! edge2_peers: [peer-4]
//! peer_memory: 15m
//! degree: 3
//! seed: 7
//! links: [[peer-1, peer-6]]
//! peers:
//!   peer-3: {room: jazz, region: eu, rtt_ms: 12}
//! labels: {team: video}
//! ```
//!
//! [`resolve`] is the one place where precedence is decided: flags > env >
//! file > defaults, with the `max_count` cap. `up --dry-run --format yaml`
//! prints [`reproducing`]: the resolved settings, secrets left out, whose
//! `degree: 0` and explicit `links` give the same plan through `up -f`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::labels::natural_key;
use crate::plan::Settings;

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

/// Settings that reproduce a plan exactly: the edge sets written out, the
/// generated mesh as explicit links with `degree: 0`.
pub fn reproducing(settings: &Settings, neighbors: &BTreeMap<String, Vec<String>>) -> Settings {
    let (edge1_peers, edge2_peers) = settings.edge_sets();
    let mut links = Vec::new();
    for (p, ns) in neighbors {
        for q in ns {
            if natural_key(p) < natural_key(q) {
                links.push((p.clone(), q.clone()));
            }
        }
    }
    links.sort_by_key(|(p, q)| (natural_key(p), natural_key(q)));
    Settings {
        edge1_peers: Some(edge1_peers),
        edge2_peers: Some(edge2_peers),
        degree: 0,
        links,
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
        assert_eq!(c.links, [("peer-1".to_string(), "peer-6".to_string())]);
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
        let yaml = to_yaml(&reproducing(&c, &p.neighbors)).unwrap();
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
        let yaml = to_yaml(&reproducing(&c, &p.neighbors)).unwrap();
        assert!(
            yaml.contains("degree: 0") && yaml.contains("peer_memory: 20m"),
            "{yaml}"
        );
        let again = resolve(&yaml, "dry-run", &()).unwrap().masked();
        assert_eq!(plan::plan(&again).unwrap(), p, "dry-run file:\n{yaml}");
        // And the file is a fixed point.
        assert_eq!(to_yaml(&reproducing(&again, &p.neighbors)).unwrap(), yaml);
    }
}
