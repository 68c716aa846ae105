//! `up`'s settings through the built binary, without Docker (`--dry-run`
//! plans and prints, nothing more): the dry-run mesh file gives the same
//! plan through `up -f`, precedence is flag > env > file > default with the
//! `MAX_COUNT` cap, help shows the defaults of `Settings::default()`, and no
//! output shows a secret.

use std::path::Path;
use std::process::Command;

const MESHCTL: &str = env!("CARGO_BIN_EXE_meshctl");

const PASSWORD: &str = "pw-s3cret-never-shown";
const TOKEN: &str = "tok-s3cret-never-shown";

/// `meshctl <args>` with nothing but `env` in its environment; (success,
/// stdout, stderr).
fn meshctl(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(MESHCTL)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run meshctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Stdout of a run that must succeed.
fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let (success, out, err) = meshctl(args, env);
    assert!(success, "meshctl {args:?} failed: {err}");
    out
}

fn plan(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--dry-run", "--format", "json"]);
    serde_json::from_str(&ok(&all, env)).expect("dry-run json")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a mesh file");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn dry_run_yaml_fed_back_through_up_f_gives_the_same_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mesh = write(
        dir.path(),
        "mesh.yaml",
        "name: t1\n\
         count: 9\n\
         edge2_peers: peer-5, peer-6\n\
         links: [[peer-1, peer-9]]\n\
         peer_room: lobby\n\
         peer_memory: 20m\n\
         peers:\n  \
           peer-3: {room: jazz, region: eu, rtt_ms: 12}\n",
    );
    let secrets = [("POSTGRES_PASSWORD", PASSWORD), ("MESH_TOKEN", TOKEN)];
    for env in [&secrets[..], &[]] {
        let flags = [
            "up",
            "-f",
            &mesh,
            "--degree",
            "3",
            "--seed",
            "11",
            "--peer-region",
            "us",
            "--label",
            "meshctl.test=settings",
        ];
        let mut yaml_args = flags.to_vec();
        yaml_args.extend(["--dry-run", "--format", "yaml"]);
        let yaml = ok(&yaml_args, env);
        assert!(yaml.contains("degree: 0"), "{yaml}");
        let dry = write(dir.path(), "dry.yaml", &yaml);

        let original = plan(&flags, env);
        let again = plan(&["up", "-f", &dry], env);
        assert_eq!(again, original, "dry-run file:\n{yaml}");
        assert_eq!(original["deployment"], "t1");
        assert_eq!(original["peers"][0]["labels"]["meshctl.test"], "settings");
        assert_eq!(original["peers"][0]["env"]["PEER_REGION"], "us");
        assert_eq!(original["peers"][2]["env"]["PEER_REGION"], "eu");
        // The dry-run file is a fixed point.
        let dry_again = ok(&["up", "-f", &dry, "--dry-run", "--format", "yaml"], env);
        assert_eq!(dry_again, yaml);
    }
}

#[test]
fn flag_over_env_over_file_over_default_with_the_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mesh = write(dir.path(), "mesh.yaml", "count: 6\ntracker_ttl: 9\n");
    let peers = |args: &[&str], env: &[(&str, &str)]| {
        plan(args, env)["peers"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(peers(&["up", "--count", "2"], &[]), 2);
    assert_eq!(peers(&["up", "-f", &mesh], &[]), 6);
    assert_eq!(peers(&["up", "-f", &mesh], &[("COUNT", "5")]), 5);
    assert_eq!(
        peers(&["up", "-f", &mesh, "--count", "4"], &[("COUNT", "5")]),
        4
    );
    assert_eq!(peers(&["up", "-f", &mesh], &[("MAX_COUNT", "3")]), 3);
    assert_eq!(peers(&["up", "--max-count", "7"], &[]), 7);
    let p = plan(&["up", "-f", &mesh, "--count", "2"], &[]);
    let control = p["control"].as_array().expect("control");
    let tracker = control.iter().find(|c| c["component"] == "tracker");
    assert_eq!(tracker.expect("tracker")["env"]["TRACKER_TTL_SECONDS"], "9");
    assert_eq!(p["peers"][0]["memory"], 15 * 1024 * 1024, "the default");
    let named = plan(&["--name", "other", "up", "-f", &mesh], &[]);
    assert_eq!(named["deployment"], "other");
}

#[test]
fn help_shows_the_settings_defaults_and_no_secret() {
    let env = [("POSTGRES_PASSWORD", PASSWORD), ("MESH_TOKEN", TOKEN)];
    let help = ok(&["up", "--help"], &env);
    for line in [
        "Number of peers [default: 160]",
        "Upper bound on --count [default: 160]",
        "[default: micro-net]",
        "[default: 15m]",
        "[default: 0.25]",
        "[default: http://tracker:7070]",
        "The deployment to act on",
        "[default: mesh]",
    ] {
        assert!(help.contains(line), "{line:?} missing from:\n{help}");
    }
    assert!(!help.contains(PASSWORD) && !help.contains(TOKEN), "{help}");
    let top = ok(&["--help"], &env);
    assert!(top.contains("[default: mesh]"), "{top}");
}

#[test]
fn no_output_shows_a_secret() {
    let env = [("POSTGRES_PASSWORD", PASSWORD), ("MESH_TOKEN", TOKEN)];
    for format in ["table", "json", "yaml"] {
        let (success, out, err) = meshctl(
            &["up", "--count", "3", "--dry-run", "--format", format],
            &env,
        );
        assert!(success, "{err}");
        assert!(
            !out.contains(PASSWORD) && !out.contains(TOKEN) && !err.contains(PASSWORD),
            "{format}:\n{out}"
        );
    }
    let p = plan(
        &["up", "--count", "3", "--postgres-password", PASSWORD],
        &[],
    );
    assert_eq!(p["databases"][0]["env"]["POSTGRES_PASSWORD"], "<hidden>");
    assert_eq!(p["peers"][0]["env"]["MESH_TOKEN"], "<generated>");
}

#[test]
fn mesh_file_errors_name_the_field_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (text, field, line) in [
        ("count: 3\ncuont: 4\n", "cuont", "line 2"),
        ("count: 3\npeer_memory: lots\n", "peer_memory", "line 2"),
        (
            "count: 3\npeers:\n  peer-1: {colour: red}\n",
            "colour",
            "line 3",
        ),
    ] {
        let mesh = write(dir.path(), "bad.yaml", text);
        let (success, _, err) = meshctl(&["up", "-f", &mesh, "--dry-run"], &[]);
        assert!(!success);
        assert!(
            err.contains("bad.yaml") && err.contains(field) && err.contains(line),
            "{text:?}: {err}"
        );
    }
}
