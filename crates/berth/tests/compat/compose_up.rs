//! `berth compose` beyond `up -d`: a `build:` section, replicas and `--scale`, orphans,
//! anonymous volumes kept across a recreate (and renewed with `-V`), attached `up` with its
//! prefixes, `--abort-on-container-exit`, `--exit-code-from` and Ctrl-C, `run`, `create`,
//! `wait`, `images`, `cp`, `events`, and `build`/`push`/`pull` through a real registry —
//! with Docker Compose looking at the same project.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, build_context};

/// `berth compose ARGS` in `dir`: (exit code, stdout, stderr).
fn berth(env: &Env, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("BERTH_HOST", env.daemon.host())
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .stdin(Stdio::null())
        .output()
        .expect("berth compose");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The same, which must succeed: stdout and stderr together.
fn ok(env: &Env, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = berth(env, dir, args);
    assert_eq!(code, 0, "berth compose {args:?}:\n{out}{err}");
    out + &err
}

/// `docker compose ARGS` (Compose v2) in `dir`, which must succeed.
fn docker_compose(env: &Env, dir: &Path, args: &[&str]) -> String {
    let o = Command::new("/usr/local/bin/docker")
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", env.daemon.host())
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("docker compose");
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "docker compose {args:?}:\n{text}");
    text
}

/// The project's containers (all states) as `name id`, sorted.
fn names_and_ids(env: &Env, project: &str) -> Vec<String> {
    let out = env.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}} {{.ID}}",
    ]);
    let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
    v.sort();
    v
}

const SCALED: &str = r#"
services:
  app:
    build: ./app
    command: ["sleep", "300"]
    volumes: [/data]
    environment:
      MODE: ${MODE:-one}
    deploy:
      replicas: 2
  web:
    image: busybox
    command: ["sleep", "300"]
"#;

/// A `build:` section, replicas, `--scale` both ways, Docker Compose taking the result as its
/// own, anonymous volumes kept across a recreate (and renewed with `-V`), and orphans.
#[test]
fn builds_scales_keeps_volumes_and_removes_orphans() {
    let env = Env::start("berth-compat-compose-scale-", "{}");
    let dir = build_context(
        &env,
        "sc",
        &[
            ("compose.yaml", SCALED),
            ("app/Dockerfile", "FROM busybox\nRUN echo built > /built\n"),
        ],
    );
    let out = ok(&env, &dir, &["up", "-d", "-t", "1"]);
    assert!(out.contains("app  Built"), "{out}");
    let labels = env.ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.project\"}} {{index .Config.Labels \"com.docker.compose.service\"}}",
        "sc-app",
    ]);
    assert_eq!(labels.trim(), "sc app");
    assert_eq!(env.ok(&["exec", "sc-app-2", "cat", "/built"]), "built\n");
    let before = names_and_ids(&env, "sc");
    let names: Vec<&str> = before
        .iter()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["sc-app-1", "sc-app-2", "sc-web-1"]);
    // Docker Compose sees the same project and changes nothing.
    let out = docker_compose(&env, &dir, &["up", "-d"]);
    assert!(!out.contains("Recreate"), "{out}");
    assert_eq!(names_and_ids(&env, "sc"), before, "{out}");
    // Scale up, then down: the kept containers are the same ones.
    ok(&env, &dir, &["up", "-d", "--scale", "app=3", "-t", "1"]);
    let three = names_and_ids(&env, "sc");
    assert_eq!(three.len(), 4, "{three:?}");
    assert!(
        three.contains(&before[0]) && three.contains(&before[1]),
        "{three:?}"
    );
    let out = ok(&env, &dir, &["up", "-d", "--scale", "app=1", "-t", "1"]);
    assert!(out.contains(" Container sc-app-3  Removed"), "{out}");
    let one = names_and_ids(&env, "sc");
    assert_eq!(one, [before[0].clone(), before[2].clone()], "{out}");
    // A recreate keeps the anonymous volume's data; -V starts from a fresh one.
    env.ok(&["exec", "sc-app-1", "sh", "-c", "echo kept > /data/f"]);
    std::fs::write(dir.join(".env"), "MODE=two\n").expect("env");
    let out = ok(
        &env,
        &dir,
        &["up", "-d", "--scale", "app=1", "-t", "1", "app"],
    );
    assert!(out.contains(" Container sc-app-1  Recreate"), "{out}");
    assert_eq!(env.ok(&["exec", "sc-app-1", "cat", "/data/f"]), "kept\n");
    std::fs::write(dir.join(".env"), "MODE=three\n").expect("env");
    ok(
        &env,
        &dir,
        &["up", "-d", "--scale", "app=1", "-t", "1", "-V", "app"],
    );
    let r = env.berth(&["exec", "sc-app-1", "cat", "/data/f"]);
    assert_ne!(r.code, 0, "-V kept the old volume: {}", r.out);
    // web leaves the file: an orphan, named, then removed on request.
    std::fs::write(
        dir.join("compose.yaml"),
        SCALED.split("  web:").next().unwrap_or_default(),
    )
    .expect("write");
    let out = ok(&env, &dir, &["up", "-d", "--scale", "app=1"]);
    assert!(
        out.contains("Found orphan containers ([sc-web-1]) for this project"),
        "{out}"
    );
    let out = ok(
        &env,
        &dir,
        &[
            "up",
            "-d",
            "--scale",
            "app=1",
            "--remove-orphans",
            "-t",
            "1",
        ],
    );
    assert!(out.contains(" Container sc-web-1  Removed"), "{out}");
    // down --rmi local: the image built under the default name goes, busybox stays.
    let out = ok(&env, &dir, &["down", "-v", "--rmi", "local", "-t", "1"]);
    assert!(out.contains(" Image sc-app  Removed"), "{out}");
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    assert_ne!(env.berth(&["image", "inspect", "sc-app"]).code, 0);
    assert_eq!(env.berth(&["image", "inspect", "busybox"]).code, 0);
}

const ATTACHED: &str = r#"
services:
  quick:
    image: busybox
    command: ["sh", "-c", "echo hello from quick; echo to stderr >&2; exit 3"]
  slow:
    image: busybox
    command: ["sleep", "300"]
  job:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; echo job done; exit 5"]
    profiles: [job]
"#;

/// Attached `up`: Compose's `Attaching to`, padded prefixes, the exit line, and the exit code of
/// the first container to end (`--abort-on-container-exit`) or of the one named
/// (`--exit-code-from`), the others stopped.
#[test]
fn attached_up_follows_logs_and_aborts_on_exit() {
    let env = Env::start("berth-compat-compose-attach-", "{}");
    let dir = build_context(&env, "at", &[("compose.yaml", ATTACHED)]);
    let (code, out, err) = berth(&env, &dir, &["up", "--abort-on-container-exit", "-t", "1"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("Attaching to quick-1, slow-1\n"), "{out}");
    assert!(out.contains("quick-1  | hello from quick\n"), "{out}");
    assert!(err.contains("quick-1  | to stderr\n"), "{err}");
    assert!(out.contains("quick-1 exited with code 3\n"), "{out}");
    assert!(err.contains("Aborting on container exit..."), "{err}");
    assert!(err.contains(" Container at-slow-1  Stopped"), "{err}");
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "at-slow-1"]);
    assert_eq!(state.trim(), "exited");
    // The exit code of the service named, whichever ends first.
    let (code, out, err) = berth(
        &env,
        &dir,
        &[
            "--profile",
            "job",
            "up",
            "--exit-code-from",
            "job",
            "-t",
            "1",
            "job",
            "slow",
        ],
    );
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("job-1   | job done\n"), "{out}");
    ok(&env, &dir, &["--profile", "job", "down", "-t", "1"]);
}

/// Ctrl-C in attached `up`: Compose's message, the containers stopped, the command ends.
#[test]
fn ctrl_c_stops_an_attached_up() {
    let env = Env::start("berth-compat-compose-sigint-", "{}");
    let dir = build_context(&env, "ci", &[("compose.yaml", ATTACHED)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["compose", "up", "-t", "1", "slow"])
        .current_dir(&dir)
        .env("BERTH_HOST", env.daemon.host())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth compose up");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(first, "Attaching to slow-1");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("berth compose up did not end after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l == "Gracefully Stopping... press Ctrl+C again to force"),
        "{rest:?}"
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "ci-slow-1"]);
    assert_eq!(state.trim(), "exited");
}

/// `run` (one-off containers: `--rm`, `-e`, `--entrypoint`, the exit code), `create`, `wait`,
/// `images`, `cp` and `events`.
#[test]
fn run_create_wait_images_cp_and_events() {
    let env = Env::start("berth-compat-compose-run-", "{}");
    let dir = build_context(
        &env,
        "rn",
        &[(
            "compose.yaml",
            "services:\n  tool:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 2; exit 7\"]\n    environment: {X: from-file}\n",
        )],
    );
    let (code, out, err) = berth(
        &env,
        &dir,
        &[
            "run",
            "--rm",
            "-e",
            "Y=given",
            "tool",
            "sh",
            "-c",
            "echo $X $Y; exit 4",
        ],
    );
    assert_eq!((code, out.as_str()), (4, "from-file given\n"), "{err}");
    let (code, out, err) = berth(
        &env,
        &dir,
        &["run", "--entrypoint", "echo", "tool", "via", "entrypoint"],
    );
    assert_eq!((code, out.as_str()), (0, "via entrypoint\n"), "{err}");
    // The kept one-off container is labelled as Compose labels it.
    let oneoff = env.ok(&[
        "ps",
        "-a",
        "--filter",
        "label=com.docker.compose.oneoff=True",
        "--format",
        "{{.Names}}",
    ]);
    assert!(oneoff.starts_with("rn-tool-run-"), "{oneoff}");
    // create: made, not started.
    ok(&env, &dir, &["create"]);
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "rn-tool-1"]);
    assert_eq!(state.trim(), "created");
    // events: the start shows up in the project's stream.
    let mut events = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["compose", "events", "--json"])
        .current_dir(&dir)
        .env("BERTH_HOST", env.daemon.host())
        .stdout(Stdio::piped())
        .spawn()
        .expect("events");
    let stream = events.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    ok(&env, &dir, &["start"]);
    let mut seen = None;
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
        let v: serde_json::Value = serde_json::from_str(&l).expect("json event");
        if v["action"] == "start" {
            seen = Some(v);
            break;
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    let ev = seen.expect("a start event");
    assert_eq!(ev["service"], "tool");
    assert_eq!(ev["attributes"]["name"], "rn-tool-1");
    // wait: the exit code of the service's container.
    let (code, out, _) = berth(&env, &dir, &["wait", "tool"]);
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("exited with status code 7"), "{out}");
    let out = ok(&env, &dir, &["images"]);
    assert!(out.starts_with("CONTAINER"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("rn-tool-1") && l.contains("busybox")),
        "{out}"
    );
    ok(&env, &dir, &["cp", "tool:/etc/hostname", "./hostname"]);
    assert!(dir.join("hostname").is_file());
    ok(&env, &dir, &["down", "-t", "1"]);
}

/// `build`, `push` and `pull` with a registry on loopback (the daemon in the host's network
/// namespace, running no container).
#[test]
fn build_push_and_pull_through_a_registry() {
    let dir = tempfile::Builder::new()
        .prefix("berth-compat-compose-reg-")
        .tempdir()
        .expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let daemon = berth_testkit::Daemon::start_host_network(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &dir.path().join("daemon"),
        &dir.path().join("daemon.json"),
    );
    let reg = berth_testkit::Registry::start(&dir.path().join("registry"), None);
    let archive = xtask::busybox_image(dir.path()).expect("busybox image");
    std::fs::write(dir.path().join("busybox.tar"), archive).expect("archive");
    let env = Env { daemon, dir };
    env.ok(&["load", "-q", "-i", "busybox.tar"]);
    let image = format!("{}/cmp/app:v1", reg.host());
    let proj = build_context(
        &env,
        "rg",
        &[
            (
                "compose.yaml",
                &format!("services:\n  app:\n    image: {image}\n    build: ./app\n"),
            ),
            (
                "app/Dockerfile",
                "FROM busybox\nRUN echo pushed > /marker\n",
            ),
        ],
    );
    let out = ok(&env, &proj, &["build"]);
    assert!(out.contains("app  Built"), "{out}");
    let out = ok(&env, &proj, &["push"]);
    assert!(out.contains("app  Pushed"), "{out}");
    env.ok(&["rmi", &image]);
    let out = ok(&env, &proj, &["pull"]);
    assert!(out.contains("app  Pulled"), "{out}");
    let id = env.ok(&["image", "inspect", "-f", "{{.Id}}", &image]);
    assert!(id.starts_with("sha256:"), "{id}");
}

/// `config --check`: the guide's warnings as text and SARIF, exit status 1 when there is one;
/// a hardened project passes.
#[test]
fn config_check_reports_in_text_and_sarif() {
    let dir = tempfile::Builder::new()
        .prefix("berth-compat-compose-check-")
        .tempdir()
        .expect("tempdir");
    let check = |yaml: &str, format: &str| {
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let o = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["compose", "config", "--check", "--format", format])
            .current_dir(dir.path())
            .output()
            .expect("berth compose");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let risky = "services:\n  web:\n    image: busybox\n    privileged: true\n    volumes: [/var/run/docker.sock:/var/run/docker.sock]\n    environment: {API_TOKEN: abc}\n";
    let (code, out) = check(risky, "text");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ERROR   BC001 privileged services.web.privileged"),
        "{out}"
    );
    assert!(
        out.contains("BC003 engine-socket services.web.volumes"),
        "{out}"
    );
    assert!(
        out.contains("BC007 secret-in-environment services.web.environment.API_TOKEN"),
        "{out}"
    );
    let (code, out) = check(risky, "sarif");
    assert_eq!(code, 1);
    let s: serde_json::Value = serde_json::from_str(&out).expect("sarif json");
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().expect("results");
    assert!(results.iter().any(|r| r["ruleId"] == "BC001"
        && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "compose.yaml"
        && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 4));
    let hardened = "services:\n  web:\n    image: busybox\n    mem_limit: 64m\n    pids_limit: 100\n    read_only: true\n";
    assert_eq!(check(hardened, "text"), (0, String::new()));
}

/// Poll `f` until it answers `Some`, for at most `secs`.
fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `watch`: `sync` copies new and changed files (ignored ones left out) and removes deleted
/// ones; `rebuild` builds the image anew and recreates the container; Ctrl-C ends it.
#[test]
fn watch_syncs_and_rebuilds() {
    let env = Env::start("berth-compat-compose-watch-", "{}");
    let dir = build_context(
        &env,
        "wt",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    stop_grace_period: 1s\n    develop:\n      watch:\n        - {action: sync, path: ./src, target: /app, ignore: [tmp/]}\n        - {action: rebuild, path: ./conf}\n",
            ),
            (
                "Dockerfile",
                "FROM busybox\nCOPY conf /conf\nCMD [\"sleep\", \"300\"]\n",
            ),
            ("conf/c", "v1\n"),
            ("src/.keep", ""),
        ],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["compose", "watch"])
        .current_dir(&dir)
        .env("BERTH_HOST", env.daemon.host())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth compose watch");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let enabled = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l == "Watch enabled");
    assert!(enabled, "watch did not start");
    let exec = |cmd: &str| {
        let r = env.berth(&["exec", "wt-web-1", "sh", "-c", cmd]);
        (r.code == 0).then_some(r.out)
    };
    std::fs::create_dir_all(dir.join("src/sub")).expect("mkdir");
    std::fs::create_dir_all(dir.join("src/tmp")).expect("mkdir");
    std::fs::write(dir.join("src/a.txt"), "hello\n").expect("write");
    std::fs::write(dir.join("src/sub/b.txt"), "deep\n").expect("write");
    std::fs::write(dir.join("src/tmp/x"), "ignored\n").expect("write");
    let synced = eventually(15, || exec("cat /app/a.txt /app/sub/b.txt"));
    assert_eq!(synced.as_deref(), Some("hello\ndeep\n"));
    assert!(
        exec("test -e /app/tmp/x").is_none(),
        "an ignored file was synced"
    );
    std::fs::remove_file(dir.join("src/a.txt")).expect("rm");
    let removed = eventually(15, || exec("test -e /app/a.txt").is_none().then_some(()));
    assert!(removed.is_some(), "a deleted file stayed");
    let before = env.ok(&["inspect", "-f", "{{.Id}}", "wt-web-1"]);
    std::fs::write(dir.join("conf/c"), "v2\n").expect("write");
    let rebuilt = eventually(30, || exec("cat /conf/c").filter(|c| c == "v2\n"));
    assert!(rebuilt.is_some(), "the image was not rebuilt");
    assert_ne!(env.ok(&["inspect", "-f", "{{.Id}}", "wt-web-1"]), before);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let ended = eventually(10, || child.try_wait().ok().flatten());
    if ended.is_none() {
        let _ = child.kill();
    }
    assert!(ended.is_some(), "watch did not end on Ctrl-C");
}

/// `network_mode: service:`, `volumes_from`, `links`, `devices` and `logging` in `up`: the
/// service named starts first and its namespace, volumes and name are the ones used.
#[test]
fn services_share_namespaces_volumes_devices_and_logging() {
    let env = Env::start("berth-compat-compose-share-", "{}");
    let dir = build_context(
        &env,
        "sh",
        &[(
            "compose.yaml",
            "services:\n  app:\n    image: busybox\n    network_mode: service:db\n    volumes_from: [db]\n    devices: [\"/dev/null:/dev/mynull\"]\n    logging: {driver: none}\n    command: [\"sleep\", \"300\"]\n    stop_grace_period: 1s\n  db:\n    image: busybox\n    volumes: [/shared]\n    command: [\"sh\", \"-c\", \"echo shared > /shared/f; mkdir /www; echo db > /www/index.html; exec httpd -f -p 8080 -h /www\"]\n  client:\n    image: busybox\n    links: [\"db:database\"]\n    command: [\"sleep\", \"300\"]\n    stop_grace_period: 1s\n",
        )],
    );
    let out = ok(&env, &dir, &["up", "-d", "--wait"]);
    let db = out.find(" Container sh-db-1  Started").expect("db started");
    let app = out
        .find(" Container sh-app-1  Started")
        .expect("app started");
    assert!(db < app, "{out}");
    let exec = |c: &str, cmd: &str| env.ok(&["exec", c, "sh", "-c", cmd]);
    assert_eq!(exec("sh-app-1", "wget -qO- http://127.0.0.1:8080/"), "db\n");
    assert_eq!(exec("sh-app-1", "cat /shared/f"), "shared\n");
    assert_eq!(exec("sh-app-1", "test -c /dev/mynull && echo yes"), "yes\n");
    assert_eq!(
        exec("sh-client-1", "wget -qO- http://database:8080/"),
        "db\n"
    );
    let r = env.berth(&["logs", "sh-app-1"]);
    assert_ne!(r.code, 0, "logs of a container logging to none");
    let mode = env.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.LogConfig.Type}} {{.HostConfig.NetworkMode}}",
        "sh-app-1",
    ]);
    assert!(mode.starts_with("none container:"), "{mode}");
    ok(&env, &dir, &["down", "-t", "1"]);
}

/// `depends_on: {db: {restart: true}}`: when `up` makes db anew, the dependant it keeps is
/// restarted (the same container, a new start).
#[test]
fn a_recreated_dependency_restarts_its_dependants() {
    let env = Env::start("berth-compat-compose-restart-", "{}");
    let dir = build_context(
        &env,
        "rs",
        &[(
            "compose.yaml",
            "services:\n  db:\n    image: busybox\n    command: [\"sleep\", \"300\"]\n    stop_grace_period: 1s\n    environment: {V: \"${V:-1}\"}\n  app:\n    image: busybox\n    command: [\"sleep\", \"300\"]\n    stop_grace_period: 1s\n    depends_on: {db: {condition: service_started, restart: true}}\n",
        )],
    );
    ok(&env, &dir, &["up", "-d"]);
    let state = || env.ok(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", "rs-app-1"]);
    let before = state();
    std::fs::write(dir.join(".env"), "V=2\n").expect("env");
    let out = ok(&env, &dir, &["up", "-d"]);
    assert!(out.contains(" Container rs-db-1  Recreate"), "{out}");
    assert!(out.contains(" Container rs-app-1  Restarting"), "{out}");
    let after = state();
    let id = |s: &str| s.split(' ').next().unwrap_or_default().to_owned();
    assert_eq!(id(&after), id(&before), "app was recreated: {out}");
    assert_ne!(after, before, "app was not restarted: {out}");
    ok(&env, &dir, &["down", "-t", "1"]);
}
