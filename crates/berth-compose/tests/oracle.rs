//! The loader against Compose v2 itself (`docker compose config`, no daemon needed): the same
//! project directory — a `.env` with Compose's quoting rules, a file with anchors, merge keys
//! and every interpolation form, variables from the shell — must give the same values.
//! Needs the docker CLI with the Compose plugin (`scripts/install-deps.sh --tests`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use berth_compose::interpolate::{self, Interpolator};
use berth_compose::{dotenv, yaml};

const DOTENV: &str = r#"# the project's .env
PLAIN=value
SPACED =  padded value
export EXPORTED=yes
COMMENTED=abc # a comment
HASH=abc#def
SINGLE='literal $PLAIN'
DOUBLE="line1\nline2 \"quoted\" $PLAIN"
MULTI="first
second"
EXPANDED=${PLAIN}-${FROM_SHELL}-${NOPE:-dflt}
ESCAPED="\$PLAIN"
EMPTY=
OVERRIDDEN=from-dotenv
"#;

const COMPOSE: &str = r#"
x-common: &common
  image: busybox:${TAG:-1.36}
  labels:
    tier: ${TIER-back}
services:
  probe:
    <<: *common
    environment:
      plain: $PLAIN
      braced: ${PLAIN}
      spaced: ${SPACED}
      exported: ${EXPORTED}
      commented: ${COMMENTED}
      hash: ${HASH}
      single: ${SINGLE}
      double: ${DOUBLE}
      multi: ${MULTI}
      expanded: ${EXPANDED}
      escaped: ${ESCAPED}
      shell: ${FROM_SHELL}
      overridden: ${OVERRIDDEN}
      unset: ${UNSET_VAR}
      default_unset: ${UNSET_VAR:-d1}
      default_empty: ${EMPTY:-d2}
      dash_empty: ${EMPTY-d3}
      plus_set: ${PLAIN:+r1}
      plus_empty: ${EMPTY:+r2}
      plus_empty_dash: ${EMPTY+r3}
      nested: ${UNSET_VAR:-${PLAIN}-${ALSO_UNSET:-deep}}
      dollars: $$PLAIN and $${PLAIN}
      mixed: pre-${PLAIN}-mid-$EXPORTED.post
      required: ${PLAIN:?must be set}
"#;

fn compose_config(dir: &Path, shell: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = Command::new("/usr/local/bin/docker");
    c.args(["compose", "config", "--format", "json"])
        .current_dir(dir)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE");
    for (k, v) in shell {
        c.env(k, v);
    }
    let o = c.output().expect("docker compose");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The loader's view: the shell's variables win over the `.env` file's.
fn ours(dir: &Path, shell: &[(&str, &str)]) -> Result<serde_yaml_ng::Value, berth_compose::Error> {
    let shell: BTreeMap<String, String> = shell
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let from_shell = |k: &str| shell.get(k).cloned();
    let text = std::fs::read_to_string(dir.join(".env")).expect(".env");
    let dotenv: BTreeMap<String, String> = dotenv::parse(&text, ".env", &from_shell)?
        .into_iter()
        .collect();
    let lookup = |k: &str| shell.get(k).or_else(|| dotenv.get(k)).cloned();
    let text = std::fs::read_to_string(dir.join("compose.yaml")).expect("compose.yaml");
    let mut doc = yaml::load(&text, "compose.yaml")?;
    interpolate::document(&mut doc, "", &lookup, &mut Interpolator::default())?;
    Ok(doc)
}

fn project(compose: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-oracle-")
        .tempdir()
        .expect("tempdir");
    std::fs::write(dir.path().join(".env"), DOTENV).expect(".env");
    std::fs::write(dir.path().join("compose.yaml"), compose).expect("compose.yaml");
    dir
}

#[test]
fn interpolation_and_dotenv_agree_with_compose() {
    let dir = project(COMPOSE);
    let shell = [
        ("FROM_SHELL", "shell"),
        ("OVERRIDDEN", "from-shell"),
        ("TIER", ""),
    ];
    let (ok, out, err) = compose_config(dir.path(), &shell);
    assert!(ok, "docker compose config: {err}");
    let theirs: serde_json::Value = serde_json::from_str(&out).expect("compose's json");
    let mine = ours(dir.path(), &shell).expect("our loader");
    let probe = &theirs["services"]["probe"];
    let env = probe["environment"].as_object().expect("environment");
    assert!(env.len() > 20, "{env:?}");
    let mut differ = Vec::new();
    for (k, v) in env {
        let m = mine["services"]["probe"]["environment"][k.as_str()]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        // `config` writes a literal `$` as `$$` (its output loads again unchanged).
        let v = v.as_str().map(|s| s.replace("$$", "$"));
        if v.as_deref() != Some(m.as_str()) {
            differ.push(format!("{k}: compose {v:?}, berth {m:?}"));
        }
    }
    assert_eq!(
        probe["image"],
        mine["services"]["probe"]["image"].as_str().unwrap_or("-")
    );
    assert_eq!(
        probe["labels"]["tier"],
        mine["services"]["probe"]["labels"]["tier"]
            .as_str()
            .unwrap_or("-")
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn errors_agree_with_compose() {
    for (compose, want) in [
        (
            "services:\n  s:\n    image: ${NEEDED:?set NEEDED}\n",
            "required variable NEEDED is missing a value: set NEEDED",
        ),
        (
            "services:\n  s:\n    image: ${EMPTY:?}\n",
            "required variable EMPTY is missing a value",
        ),
        (
            "services:\n  s:\n    image: \"a ${\"\n",
            "invalid interpolation format for services.s.image",
        ),
    ] {
        let dir = project(compose);
        let (ok, _, err) = compose_config(dir.path(), &[]);
        assert!(!ok, "compose accepted {compose}");
        assert!(err.contains(want), "compose said {err}, expected {want}");
        let mine = ours(dir.path(), &[])
            .expect_err("our loader accepted it")
            .to_string();
        assert!(mine.contains(want), "we said {mine}, expected {want}");
    }
}

/// `docker compose config --format json` of `file` in `dir` with exactly `vars` set.
fn compose_json(
    dir: &Path,
    file: &str,
    vars: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let o = Command::new("/usr/local/bin/docker")
        .args(["compose", "-f", file, "config", "--format", "json"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .envs(vars.iter().copied())
        .output()
        .expect("docker compose");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())
}

/// `docker compose config --hash '*'`, sorted by service.
fn compose_hashes(dir: &Path, file: &str, vars: &[(&str, &str)]) -> String {
    let o = Command::new("/usr/local/bin/docker")
        .args(["compose", "-f", file, "config", "--hash", "*"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .envs(vars.iter().copied())
        .output()
        .expect("docker compose");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    lines.sort();
    lines.concat()
}

fn berth_json(dir: &Path, file: &str, vars: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    let o = berth_compose::project::Options {
        files: vec![dir.join(file)],
        environment: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    berth_compose::project::load(&o)
        .map(|p| serde_json::to_value(p).expect("json"))
        .map_err(|e| e.to_string())
}

/// Where two documents differ, by path.
fn differences(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let null = Value::Null;
                differences(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        // `config` writes a literal `$` as `$$`.
        (Value::String(x), Value::String(y)) if x.replace("$$", "$") == *y => {}
        _ if a == b => {}
        _ => out.push(format!("{path}: compose {a}, berth {b}")),
    }
}

#[test]
fn config_agrees_with_compose_on_the_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-corpus-")
        .tempdir()
        .expect("tempdir");
    // The project directory's name is the project's: a fixed one for both tools.
    let proj = dir.path().join("corpus");
    std::fs::create_dir_all(proj.join("app")).expect("dir");
    std::fs::write(proj.join("app.env"), "X=1\nFROM_FILE=\"q $$\"\n").expect("env");
    std::fs::write(proj.join("s1.txt"), "s").expect("secret");
    let vars = [("TAG", "1.37"), ("IMG", "")];
    let mut checked = 0;
    for e in std::fs::read_dir(&corpus).expect("corpus").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        std::fs::copy(e.path(), proj.join(&name)).expect("copy");
        let theirs = compose_json(&proj, &name, &vars);
        let mine = berth_json(&proj, &name, &vars);
        match (theirs, mine) {
            (Ok(t), Ok(m)) => {
                let mut d = Vec::new();
                differences(&name, &t, &m, &mut d);
                assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
            }
            (t, m) => panic!("{name}: compose {t:?}, berth {m:?}"),
        }
        // The config hash of every service, as `docker compose config --hash '*'` prints it.
        let theirs = compose_hashes(&proj, &name, &vars);
        let p = berth_compose::project::load(&berth_compose::project::Options {
            files: vec![proj.join(&name)],
            environment: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        })
        .expect("berth");
        // Services with an `env_file` are left out: `config --hash` of Compose 2.40.3 drops the
        // key, while the label `up` writes keeps it (and Berth's matches the label).
        let text = std::fs::read_to_string(proj.join(&name)).expect("read");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
        let has_env_file = |svc: &str| doc["services"][svc].get("env_file").is_some();
        let keep = |l: &&str| !has_env_file(l.split(' ').next().unwrap_or_default());
        let theirs: String = theirs
            .lines()
            .filter(keep)
            .map(|l| format!("{l}\n"))
            .collect();
        let mine: String = p
            .services
            .iter()
            .filter(|(k, _)| !has_env_file(k))
            .map(|(k, s)| format!("{k} {}\n", berth_compose::hash::service_hash(s)))
            .collect();
        assert_eq!(mine, theirs, "{name}: config hashes");
        checked += 1;
    }
    assert!(checked >= 2, "the corpus is empty");
}

#[test]
fn project_errors_agree_with_compose() {
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-errors-")
        .tempdir()
        .expect("tempdir");
    for (compose, want) in [
        (
            "services:\n  s:\n    image: busybox\n    foo: 1\n",
            "services.s additional properties 'foo' not allowed",
        ),
        (
            "service:\n  s:\n    image: busybox\n",
            "additional properties 'service' not allowed",
        ),
        (
            "services:\n  s:\n    image: busybox\n    env_file: ./gone.env\n",
            "gone.env not found: stat ",
        ),
        (
            "services:\n  s:\n    image: busybox\n    depends_on: [t]\n",
            "service \"s\" depends on undefined service \"t\": invalid compose project",
        ),
        (
            "services:\n  a:\n    extends: b\n  b:\n    extends: a\n",
            "Circular reference:\n  ",
        ),
        (
            "services:\n  a:\n    extends: nope\n",
            "cannot extend service \"a\" in ",
        ),
        (
            "services:\n  s:\n    image: busybox\n    ports: 80\n",
            "services.s.ports must be a array",
        ),
        (
            "services:\n  s:\n    image: busybox\n    tty: 1\n",
            "services.s.tty must be a boolean or string",
        ),
        (
            "services:\n  s:\n    image: busybox\n    environment: 5\n",
            "services.s.environment must be a mapping",
        ),
        (
            "services:\n  s:\n    image: busybox\n    depends_on: db\n",
            "services.s.depends_on must be a array",
        ),
        (
            "services:\n  s:\n    image: busybox\n    deploy: 5\n",
            "services.s.deploy must be a mapping or null",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> a",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    profiles: [debug]\n",
            "service \"a\" depends on undefined service \"b\": invalid compose project",
        ),
    ] {
        std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
        let theirs = compose_json(dir.path(), "compose.yaml", &[]).expect_err(compose);
        let mine = berth_json(dir.path(), "compose.yaml", &[]).expect_err(compose);
        assert!(theirs.contains(want), "compose: {theirs} (wanted {want})");
        assert!(mine.contains(want), "berth: {mine} (wanted {want})");
    }
    // A file's `name:` is normalised, not refused.
    std::fs::write(
        dir.path().join("compose.yaml"),
        "name: Bad Name\nservices: {}\n",
    )
    .expect("write");
    let theirs = compose_json(dir.path(), "compose.yaml", &[]).expect("compose");
    let mine = berth_json(dir.path(), "compose.yaml", &[]).expect("berth");
    assert_eq!(theirs["name"], "badname");
    assert_eq!(mine["name"], theirs["name"]);
}

/// `-f base -f override` and `extends` (in the file and from another file), as Compose merges
/// them. (Named volumes in the short syntax are left out: Compose 2.40 merges `v:/v` into a
/// volume whose target is `v:/v`; Berth merges by target path.)
#[test]
fn several_files_and_extends_agree_with_compose() {
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-merge-")
        .tempdir()
        .expect("tempdir");
    let proj = dir.path().join("merged");
    std::fs::create_dir_all(&proj).expect("dir");
    let files = [
        (
            "compose.yaml",
            r#"
services:
  web:
    image: a
    command: one two
    environment: {A: "1", B: "2"}
    ports: ["80:80", "90:90"]
    volumes: ["./x:/x", {type: volume, source: v, target: /v}]
    expose: ["1"]
    labels: [l1=a]
    depends_on: [db]
    networks: [n1]
    healthcheck: {test: "true", interval: 5s}
    build: {context: ., args: [X=1]}
  db:
    image: d
  worker:
    extends: web
    command: work
    ports: ["95:95"]
  remote:
    extends: {file: base.yaml, service: common}
    environment: [FROM=remote]
volumes: {v: {}}
networks: {n1: {}, n2: {}}
"#,
        ),
        (
            "compose.override.yaml",
            r#"
services:
  web:
    image: b
    command: [three]
    environment: [B=3, C=4]
    ports: ["80:80", "91:91"]
    volumes: ["./y:/x"]
    expose: ["2"]
    labels: {l2: b}
    networks: [n2]
    healthcheck: {retries: 3}
    depends_on: {db: {condition: service_healthy}}
    build: {args: {Y: "2"}}
"#,
        ),
        (
            "base.yaml",
            r#"
services:
  common:
    image: common:1
    environment: {FROM: base, KEEP: "yes"}
    labels: {origin: base}
"#,
        ),
    ];
    for (name, text) in files {
        std::fs::write(proj.join(name), text).expect("write");
    }
    let run_compose = Command::new("/usr/local/bin/docker")
        .args([
            "compose",
            "-f",
            "compose.yaml",
            "-f",
            "compose.override.yaml",
            "config",
            "--format",
            "json",
        ])
        .current_dir(&proj)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .output()
        .expect("docker compose");
    assert!(
        run_compose.status.success(),
        "{}",
        String::from_utf8_lossy(&run_compose.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&run_compose.stdout).expect("json");
    let o = berth_compose::project::Options {
        files: vec![
            proj.join("compose.yaml"),
            proj.join("compose.override.yaml"),
        ],
        ..Default::default()
    };
    let mine =
        serde_json::to_value(berth_compose::project::load(&o).expect("berth")).expect("json");
    let mut d = Vec::new();
    differences("", &theirs, &mine, &mut d);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
}

/// `include` (a project of its own: its directory, its env files) and the resources no
/// service uses (dropped), as Compose loads them.
#[test]
fn includes_and_unused_resources_agree_with_compose() {
    let dir = tempfile::Builder::new()
        .prefix("berth-compose-include-")
        .tempdir()
        .expect("tempdir");
    let proj = dir.path().join("inc");
    std::fs::create_dir_all(proj.join("sub")).expect("dir");
    for (name, text) in [
        (
            "sub/compose.yaml",
            "services:\n  lib:\n    image: l\n    volumes: [./data:/d, libvol:/v]\n    env_file: e.env\n    networks: [libnet]\nnetworks:\n  libnet: {}\n  spare: {}\nvolumes:\n  libvol: {}\n",
        ),
        ("sub/e.env", "Q=1\n"),
        (
            "compose.yaml",
            "include:\n  - sub/compose.yaml\nservices:\n  web:\n    image: w\n    depends_on: [lib]\n    secrets: [used]\nnetworks:\n  unused: {}\nvolumes:\n  uv: {}\nsecrets:\n  used: {file: ./u}\n  notused: {file: ./x}\n",
        ),
    ] {
        std::fs::write(proj.join(name), text).expect("write");
    }
    let theirs = compose_json(&proj, "compose.yaml", &[]).expect("compose");
    let mine = berth_json(&proj, "compose.yaml", &[]).expect("berth");
    let mut d = Vec::new();
    differences("", &theirs, &mine, &mut d);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
    // A service defined on both sides.
    std::fs::write(
        proj.join("compose.yaml"),
        "include:\n  - sub/compose.yaml\nservices:\n  lib:\n    image: w\n",
    )
    .expect("write");
    let want = "services.lib conflicts with imported resource";
    assert!(
        compose_json(&proj, "compose.yaml", &[])
            .expect_err("compose")
            .contains(want)
    );
    assert!(
        berth_json(&proj, "compose.yaml", &[])
            .expect_err("berth")
            .contains(want)
    );
}
