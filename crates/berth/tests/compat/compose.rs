//! Compose v2 (the docker CLI's `compose` plugin) against Berth: a project with a user
//! network, a named volume, a published port, health- and completion-gated dependencies,
//! a profile and `.env` interpolation, through up/ps/logs/exec/run/down, and a second `up`
//! that recreates only what changed.

use std::path::Path;

use crate::common::{Env, build_context};

/// `docker compose ARGS` in `dir`: (ok, stdout, stderr).
fn compose(env: &Env, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let o = std::process::Command::new("/usr/local/bin/docker")
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", env.daemon.host())
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("docker compose");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(env: &Env, dir: &Path, args: &[&str]) -> String {
    let (ok, out, err) = compose(env, dir, args);
    assert!(ok, "docker compose {args:?}:\n{out}{err}");
    out + &err
}

const PROJECT: &str = r#"
name: shop
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db up; sleep 1; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
    env_file:
      - path: db.env
        required: false
    volumes: [dbdata:/data]
    networks: [back]
  migrate:
    image: busybox
    command: ["sh", "-c", "echo migrated > /data/version"]
    volumes: [dbdata:/data]
    networks: [back]
    depends_on:
      db: {condition: service_healthy}
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo $$GREETING > /www/index.html && exec httpd -f -p 8080 -h /www"]
    environment:
      GREETING: ${GREETING:?set it in .env}
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
    networks: [back]
    depends_on:
      migrate: {condition: service_completed_successfully}
  debug:
    image: busybox
    command: ["sleep", "3600"]
    profiles: [debug]
    networks: [back]
networks:
  back: {}
volumes:
  dbdata: {}
"#;

/// `berth compose ARGS` in `dir` against the test's daemon, which must succeed: (stdout,
/// stderr — where the progress lines go).
fn berth_compose(env: &Env, dir: &Path, args: &[&str]) -> (String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("BERTH_HOST", env.daemon.host())
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("MODE")
        .output()
        .expect("berth compose");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "berth compose {args:?}: {err}");
    (String::from_utf8_lossy(&o.stdout).into_owned(), err)
}

fn id_of(env: &Env, dir: &Path, service: &str) -> String {
    ok(env, dir, &["ps", "-a", "-q", service]).trim().to_owned()
}

#[test]
fn a_compose_project_up_changed_and_down() {
    let env = Env::start("berth-compat-compose-", "{}");
    let port = berth_testkit::free_port().to_string();
    let dir = build_context(
        &env,
        "shop",
        &[
            ("compose.yaml", PROJECT),
            (
                ".env",
                &format!("GREETING=hello-from-env\nWEB_PORT={port}\n"),
            ),
            ("db.env", "DB_PASSWORD=\"p<w>&d\"\n"),
        ],
    );
    let up = ok(&env, &dir, &["up", "-d", "--wait"]);
    assert!(up.contains("Healthy"), "{up}");

    // Running: db, web; migrate ran once and exited 0; debug (a profile) was not started.
    let ps = ok(
        &env,
        &dir,
        &[
            "ps",
            "-a",
            "--format",
            "{{.Service}} {{.State}} {{.ExitCode}}",
        ],
    );
    let mut lines: Vec<&str> = ps.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["db running 0", "migrate exited 0", "web running 0"],
        "{ps}"
    );
    let health = env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "shop-db-1"]);
    assert_eq!(health.trim(), "healthy");
    // Berth's loader computes the config hash Compose labelled each container with.
    let hashes = berth_compose(&env, &dir, &["config", "--hash", "*"]).0;
    for service in ["db", "migrate", "web"] {
        let label = env.ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.compose.config-hash\"}}",
            &format!("shop-{service}-1"),
        ]);
        let ours = hashes
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{service} ")))
            .unwrap_or_default();
        assert_eq!(label.trim(), ours, "{service}: {hashes}");
    }

    // The port, the interpolated variable, logs, exec, run --rm on the volume.
    let page = env
        .daemon
        .sh_in_netns(&format!("curl -s http://127.0.0.1:{port}/index.html"));
    assert_eq!(String::from_utf8_lossy(&page.stdout), "hello-from-env\n");
    let logs = ok(&env, &dir, &["logs", "--no-log-prefix", "db"]);
    assert!(logs.contains("db up"), "{logs}");
    let exec = ok(&env, &dir, &["exec", "-T", "web", "cat", "/www/index.html"]);
    assert_eq!(exec.trim(), "hello-from-env");
    let run = ok(
        &env,
        &dir,
        &[
            "run",
            "--rm",
            "--no-deps",
            "-T",
            "migrate",
            "cat",
            "/data/version",
        ],
    );
    assert!(run.contains("migrated"), "{run}");
    // Names on the project network resolve from one service to another.
    let dns = ok(&env, &dir, &["exec", "-T", "web", "nslookup", "db"]);
    assert!(dns.contains("Name:"), "{dns}");
    // Compose's labels as it wrote them.
    let labels = env.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.project\"}} {{index .Config.Labels \"com.docker.compose.service\"}}",
        "shop-web-1",
    ]);
    assert_eq!(labels.trim(), "shop web");

    // A second up after a change to web's environment: only web is recreated.
    let (db, web) = (id_of(&env, &dir, "db"), id_of(&env, &dir, "web"));
    std::fs::write(
        dir.join(".env"),
        format!("GREETING=changed\nWEB_PORT={port}\n"),
    )
    .expect("env");
    let again = ok(&env, &dir, &["up", "-d", "--wait"]);
    assert!(again.contains("Recreate"), "{again}");
    assert_eq!(id_of(&env, &dir, "db"), db, "db was recreated:\n{again}");
    assert_ne!(
        id_of(&env, &dir, "web"),
        web,
        "web was not recreated:\n{again}"
    );
    let page = env
        .daemon
        .sh_in_netns(&format!("curl -s http://127.0.0.1:{port}/index.html"));
    assert_eq!(String::from_utf8_lossy(&page.stdout), "changed\n");

    // The profile's service on demand, then everything down with its volume — by Berth's
    // own compose, on what Docker Compose made.
    ok(&env, &dir, &["--profile", "debug", "up", "-d", "debug"]);
    let ps = ok(
        &env,
        &dir,
        &[
            "--profile",
            "debug",
            "ps",
            "--format",
            "{{.Service}}",
            "debug",
        ],
    );
    assert_eq!(ps.trim(), "debug");
    let fmt = "{{.Name}} {{.Service}} {{.State}} {{.ExitCode}}";
    let theirs = ok(&env, &dir, &["ps", "-a", "--format", fmt]);
    let host = env.daemon.host();
    let berth = |args: &[&str]| berth_compose(&env, &dir, args);
    assert_eq!(berth(&["ps", "-a", "--format", fmt]).0, theirs);
    assert_eq!(berth(&["ps", "--services"]).0, "db\ndebug\nweb\n");
    let ls = berth(&["ls"]).0;
    assert!(
        ls.lines()
            .any(|l| l.starts_with("shop") && l.contains("exited(1), running(3)")),
        "{ls}"
    );
    // Lifecycle commands on Compose's containers.
    let state = |c: &str| {
        env.ok(&["inspect", "-f", "{{.State.Status}}", c])
            .trim()
            .to_owned()
    };
    let (_, out) = berth(&["stop", "-t", "1", "web"]);
    assert!(out.contains(" Container shop-web-1  Stopped"), "{out}");
    assert_eq!(state("shop-web-1"), "exited");
    berth(&["start", "web"]);
    assert_eq!(state("shop-web-1"), "running");
    berth(&["pause", "debug"]);
    assert_eq!(state("shop-debug-1"), "paused");
    berth(&["unpause", "debug"]);
    assert_eq!(state("shop-debug-1"), "running");
    let top = berth(&["top", "db"]).0;
    assert!(
        top.starts_with("shop-db-1\n") && top.contains("sleep"),
        "{top}"
    );
    assert_eq!(
        berth(&["port", "web", "8080"]).0,
        format!("127.0.0.1:{port}\n")
    );
    berth(&["kill", "-s", "KILL", "debug"]);
    assert_eq!(state("shop-debug-1"), "exited");
    berth(&["rm", "-f", "debug"]);
    assert!(
        env.berth(&["inspect", "shop-debug-1"]).code != 0,
        "rm left the container"
    );
    assert_eq!(
        berth(&["version", "--short"]).0.trim(),
        env!("CARGO_PKG_VERSION")
    );
    // logs as Compose prints them; exec into a service.
    let sorted = |s: String| {
        let mut l: Vec<String> = s.lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    let theirs = std::process::Command::new("/usr/local/bin/docker")
        .args(["compose", "logs", "db", "migrate"])
        .current_dir(&dir)
        .env("DOCKER_HOST", &host)
        .output()
        .expect("docker compose logs");
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    assert!(theirs.contains("db-1"), "{theirs}");
    assert_eq!(sorted(berth(&["logs", "db", "migrate"]).0), sorted(theirs));
    assert_eq!(
        berth(&["logs", "--no-log-prefix", "db"]).0.lines().next(),
        Some("db up")
    );
    assert_eq!(
        berth(&["exec", "-T", "web", "cat", "/www/index.html"]).0,
        "changed\n"
    );
    let (_, progress) = berth(&["--profile", "debug", "down", "-v", "-t", "1"]);
    for line in [
        " Container shop-web-1  Removed",
        " Network shop_back  Removed",
        " Volume shop_dbdata  Removed",
    ] {
        assert!(progress.contains(line), "{line} in {progress}");
    }
    // Dependents stop first: web before db.
    let at = |l: &str| progress.find(l).unwrap_or(usize::MAX);
    assert!(
        at("shop-web-1  Stopping") < at("shop-db-1  Stopping"),
        "{progress}"
    );
    assert!(berth(&["ls", "-a", "-q"]).0.trim().is_empty());
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    let vols = env.ok(&["volume", "ls", "-q"]);
    assert!(!vols.contains("shop_dbdata"), "{vols}");
    let nets = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("shop_back"), "{nets}");
}

/// A missing required variable is refused before anything is made.
#[test]
fn a_missing_variable_is_named() {
    let env = Env::start("berth-compat-compose-var-", "{}");
    let dir = build_context(
        &env,
        "shop",
        &[("compose.yaml", PROJECT), (".env", "WEB_PORT=1\n")],
    );
    let (ok, out, err) = compose(&env, &dir, &["up", "-d"]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("set it in .env"), "{err}");
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
}

/// `berth compose config` prints what `docker compose config` prints (compared as JSON).
#[test]
fn berth_compose_config_agrees_with_compose() {
    let env = Env::start("berth-compat-compose-config-", "{}");
    let dir = build_context(
        &env,
        "shop",
        &[
            ("compose.yaml", PROJECT),
            (".env", "GREETING=hi $$ there\nWEB_PORT=8080\n"),
        ],
    );
    let theirs = ok(
        &env,
        &dir,
        &["--profile", "debug", "config", "--format", "json"],
    );
    let mine = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "compose",
            "--profile",
            "debug",
            "config",
            "--format",
            "json",
        ])
        .current_dir(&dir)
        .output()
        .expect("berth compose");
    assert!(
        mine.status.success(),
        "{}",
        String::from_utf8_lossy(&mine.stderr)
    );
    let t: serde_json::Value = serde_json::from_str(&theirs).expect("compose json");
    let m: serde_json::Value = serde_json::from_slice(&mine.stdout).expect("berth json");
    assert_eq!(t, m);
    let berth = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("compose")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("berth compose");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert_eq!(
        berth(&["config", "--services"]),
        (Some(0), "db\nmigrate\nweb\n".into())
    );
    assert_eq!(
        berth(&["config", "--profiles"]),
        (Some(0), "debug\n".into())
    );
    assert_eq!(
        berth(&["config", "--volumes"]),
        (Some(0), "dbdata\n".into())
    );
    std::fs::write(dir.join(".env"), "WEB_PORT=1\n").expect("env");
    assert_eq!(berth(&["config", "-q"]).0, Some(1));
}

const SWITCH: &str = r#"
services:
  db:
    image: busybox
    command: ["sleep", "300"]
    volumes: [data:/data]
    networks: [back]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  web:
    image: busybox
    command: sh -c 'echo $$MODE; exec sleep 300'
    ports: ["127.0.0.1::80"]
    depends_on:
      db: {condition: service_healthy}
    networks: [back]
    environment: {MODE: "${MODE:-one}"}
volumes:
  data: {}
networks:
  back: {}
"#;

/// `berth compose up` and `docker compose up` on one project: neither recreates what the
/// other made (same config hash and image labels), and a change recreates only its service.
#[test]
fn switching_tools_recreates_nothing() {
    let env = Env::start("berth-compat-compose-switch-", "{}");
    let dir = build_context(&env, "sw", &[("compose.yaml", SWITCH)]);
    let berth = |args: &[&str]| berth_compose(&env, &dir, args).1;
    let ids = || {
        let db = env.ok(&["inspect", "-f", "{{.Id}}", "sw-db-1"]);
        let web = env.ok(&["inspect", "-f", "{{.Id}}", "sw-web-1"]);
        (db, web)
    };
    // Berth first, then Docker Compose: everything is left running as it is.
    let out = berth(&["up", "-d", "--wait"]);
    assert!(out.contains(" Container sw-web-1  Started"), "{out}");
    let before = ids();
    let out = ok(&env, &dir, &["up", "-d"]);
    assert!(!out.contains("Recreate"), "{out}");
    assert_eq!(ids(), before, "{out}");
    // Docker Compose first, then Berth.
    ok(&env, &dir, &["down", "-t", "1"]);
    ok(&env, &dir, &["up", "-d", "--wait"]);
    let before = ids();
    let out = berth(&["up", "-d"]);
    assert!(out.contains(" Container sw-web-1  Running"), "{out}");
    assert_eq!(ids(), before, "{out}");
    // A change to web: Berth recreates web only; Docker Compose then keeps it.
    std::fs::write(dir.join(".env"), "MODE=two\n").expect("env");
    let out = berth(&["up", "-d"]);
    assert!(out.contains(" Container sw-web-1  Recreate"), "{out}");
    let after = ids();
    assert_eq!(after.0, before.0, "db was recreated: {out}");
    assert_ne!(after.1, before.1, "web was not recreated: {out}");
    let logs = env.ok(&["logs", "sw-web-1"]);
    assert_eq!(logs, "two\n");
    let out = ok(&env, &dir, &["up", "-d"]);
    assert!(!out.contains("Recreate"), "{out}");
    assert_eq!(ids(), after, "{out}");
    berth(&["down", "-v", "-t", "1"]);
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    assert!(!env.ok(&["volume", "ls", "-q"]).contains("sw_data"));
}

/// `berth compose up`: secrets and configs from a file (a read-only bind), the environment and
/// inline content (written before the start), where Compose puts them.
#[test]
fn berth_compose_up_mounts_secrets_and_configs() {
    let env = Env::start("berth-compat-compose-secrets-", "{}");
    let dir = build_context(
        &env,
        "sec",
        &[
            (
                "compose.yaml",
                "services:\n  app:\n    image: busybox\n    command: [sleep, \"300\"]\n    secrets: [pw, {source: tok, target: /etc/tok}]\n    configs: [cfg]\n    mem_limit: 64m\n    pids_limit: 100\n    sysctls: {net.core.somaxconn: 512}\nsecrets:\n  pw: {file: ./pw.txt}\n  tok: {environment: TOKEN}\nconfigs:\n  cfg: {content: inline config}\n",
            ),
            ("pw.txt", "from-file\n"),
        ],
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["compose", "up", "-d", "--wait"])
        .current_dir(&dir)
        .env("BERTH_HOST", env.daemon.host())
        .env("TOKEN", "t0k")
        .output()
        .expect("berth compose");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = env.ok(&[
        "exec",
        "sec-app-1",
        "sh",
        "-c",
        "cat /run/secrets/pw /etc/tok; echo; cat /cfg; echo; stat -c %a /etc/tok",
    ]);
    assert_eq!(out, "from-file\nt0k\ninline config\n444\n");
    let limits = env.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
        "sec-app-1",
    ]);
    assert_eq!(limits.trim(), "67108864 100");
    let sysctl = env.ok(&["exec", "sec-app-1", "cat", "/proc/sys/net/core/somaxconn"]);
    assert_eq!(sysctl.trim(), "512");
    let w = env.berth(&["exec", "sec-app-1", "sh", "-c", "echo x > /run/secrets/pw"]);
    assert_ne!(w.code, 0, "a file secret is writable");
}
