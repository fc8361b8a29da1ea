//! The web dashboard and sandboxes (issue 18): a real browser (headless Chromium driven by
//! Playwright, tests/browser/dashboard.mjs) signs in, stops and starts a container, reads its
//! live logs, watches its stats chart update, types in its console, opens a sandbox and sees
//! it expire, and is refused as a viewer and without a CSRF token; curl checks the sign-in
//! throttle, a forged WebSocket origin, an expired session and the listeners being off by
//! default; the CLI's users and sandboxes with their bad input. Screenshots go to
//! target/test-artifacts/dashboard/.

mod common;

use std::process::Command;

use common::Env;

const CONFIG: &str = r#"{
  "dashboard-addr": "127.0.0.1:8443",
  "dashboard-session-timeout": "10s",
  "dashboard-login-attempts": 3,
  "sandbox-images": ["busybox"],
  "sandbox-ttl": "15s",
  "sandbox-per-user": 1,
  "stats-interval": "1s"
}"#;

/// Where Playwright is installed (scripts/install-deps.sh --tests).
const NODE_MODULES: &str = "/usr/local/lib/berth-tests/node_modules";

/// `curl -k` in the daemon's namespace with a cookie jar: (status, body).
fn curl(env: &Env, jar: &std::path::Path, args: &str) -> (u16, String) {
    let o = env.daemon.sh_in_netns(&format!(
        "curl -sk --max-time 10 -b {jar} -c {jar} -w '\\n%{{http_code}}' {args}",
        jar = jar.display()
    ));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Sign in with curl: the status of the form's post.
fn sign_in(env: &Env, jar: &std::path::Path, user: &str, pass: &str) -> (u16, String) {
    let (_, form) = curl(env, jar, "https://127.0.0.1:8443/login");
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form's token")
        .to_owned();
    curl(
        env,
        jar,
        &format!(
            "--data-urlencode username={user} --data-urlencode 'password={pass}' --data-urlencode csrf={csrf} https://127.0.0.1:8443/login"
        ),
    )
}

#[test]
fn the_dashboard_in_a_real_browser() {
    for tool in ["/usr/bin/chromium", "/usr/bin/node"] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: scripts/install-deps.sh --tests installs it"
        );
    }
    assert!(
        std::path::Path::new(NODE_MODULES)
            .join("playwright-core")
            .exists(),
        "playwright-core is missing: scripts/install-deps.sh --tests installs it"
    );
    let env = Env::start("berth-dashboard-", CONFIG);
    // Users, with their bad input.
    let add = |name: &str, role: &str, pass: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", env.daemon.host())
            .args([
                "dashboard",
                "user",
                "add",
                name,
                "--role",
                role,
                "--password-stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .expect("stdin")
                    .write_all(format!("{pass}\n").as_bytes())?;
                c.wait_with_output()
            })
            .expect("berth");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(add("ann", "admin", "correct horse").0, 0);
    assert_eq!(add("vic", "viewer", "viewer pass").0, 0);
    for (name, role, pass, says) in [
        ("ann", "admin", "another one", "already exists"),
        ("bob", "root", "long enough", "invalid role \"root\""),
        ("bob", "viewer", "short", "too short"),
        ("b b", "viewer", "long enough", "invalid user name"),
    ] {
        let (code, err) = add(name, role, pass);
        assert_ne!(code, 0, "{name}/{role}");
        assert!(err.contains(says), "{name}/{role}: {err}");
    }
    let ls = env.ok(&["dashboard", "user", "ls"]);
    assert!(
        ls.contains("ann") && ls.contains("viewer") && !ls.contains("bob"),
        "{ls}"
    );

    let r = env.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while :; do echo \"tick $i\"; i=$((i+1)); sleep 0.3; done",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);

    // The browser's part.
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts/dashboard");
    std::fs::create_dir_all(&shots).expect("artifacts");
    let o = Command::new("nsenter")
        .arg(format!("--net={}", env.daemon.netns().display()))
        .args([
            "node",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.mjs"),
        ])
        .env("NODE_MODULES", NODE_MODULES)
        .env("BASE", "https://127.0.0.1:8443")
        .env("ADMIN", "ann:correct horse")
        .env("VIEWER", "vic:viewer pass")
        .env("SHOTS", &shots)
        .output()
        .expect("node");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.trim_end().ends_with("ok"),
        "the browser test:\n{out}\n{}\n(screenshots in {})",
        String::from_utf8_lossy(&o.stderr),
        shots.display()
    );
    assert!(shots.join("console.png").exists());
    // What the browser changed is in the audit log, with its user, and the chain holds.
    let log = env.ok(&["audit", "log", "--format", "json"]);
    assert!(
        log.contains("\"user\": \"ann@127.0.0.1\"") && log.contains("dashboard:/containers/"),
        "{log}"
    );
    assert!(
        env.ok(&["audit", "log", "--verify"])
            .contains("the chain is intact")
    );

    // A viewer's console, and one from a forged origin.
    let jar2 = env.dir.path().join("jar2");
    assert_eq!(sign_in(&env, &jar2, "vic", "viewer pass").0, 303);
    let ws = "-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='";
    let (code, body) = curl(
        &env,
        &jar2,
        &format!("{ws} https://127.0.0.1:8443/api/containers/web/console"),
    );
    assert_eq!(code, 403, "a viewer's console: {body}");
    let jar3 = env.dir.path().join("jar3");
    assert_eq!(sign_in(&env, &jar3, "ann", "correct horse").0, 303);
    let (code, body) = curl(
        &env,
        &jar3,
        &format!(
            "{ws} -H 'Origin: https://evil.example' https://127.0.0.1:8443/api/containers/web/console"
        ),
    );
    assert_eq!(code, 403, "a forged origin: {body}");
    assert!(body.contains("origin is not this dashboard"), "{body}");
    let (code, _) = curl(
        &env,
        &jar3,
        &format!(
            "--max-time 3 {ws} -H 'Origin: https://127.0.0.1:8443' https://127.0.0.1:8443/api/containers/web/console"
        ),
    );
    assert_eq!(code, 101, "the dashboard's own origin upgrades");
    // An expired session: nothing answers it.
    assert_eq!(
        curl(&env, &jar2, "https://127.0.0.1:8443/api/containers").0,
        200
    );
    std::thread::sleep(std::time::Duration::from_secs(11));
    let (code, body) = curl(&env, &jar2, "https://127.0.0.1:8443/api/containers");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("sign in first"), "{body}");
    // Sign-in throttling: after 3 failures even the right password waits (per
    // user name and per client address).
    let jar = env.dir.path().join("jar");
    for _ in 0..3 {
        assert_eq!(sign_in(&env, &jar, "ann", "wrong").0, 401);
    }
    let (code, body) = sign_in(&env, &jar, "ann", "correct horse");
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("Too many failed sign-ins"), "{body}");
}

#[test]
fn sandboxes_from_the_cli_and_their_limits() {
    let env = Env::start("berth-sandbox-", CONFIG);
    let before = env.ok(&["ps", "-aq"]).lines().count();
    let r = env.berth(&["sandbox", "run", "alpine"]);
    assert_ne!(r.code, 0);
    assert!(r.err.contains("not allowed for sandboxes"), "{}", r.err);
    let name = env
        .ok(&["sandbox", "run", "--owner", "bob", "busybox"])
        .trim()
        .to_owned();
    let r = env.berth(&["sandbox", "run", "--owner", "bob", "busybox"]);
    assert_ne!(r.code, 0);
    assert!(r.err.contains("has 1 live sandboxes"), "{}", r.err);
    assert_eq!(
        env.ok(&["ps", "-aq"]).lines().count(),
        before + 1,
        "one sandbox, nothing more"
    );
    // Its limits and hardening, seen from inside.
    let r = env.docker(&["exec", &name, "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/class/net; df -k / | tail -n1"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines[..2], ["128", "268435456"], "{}", r.out);
    assert_eq!(lines[2], "lo", "no network but loopback: {}", r.out);
    let disk_kb: u64 = lines[3]
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .expect("df");
    assert!(disk_kb < 1_100_000, "a 1g writable layer: {}", r.out);
    let ls = env.ok(&["sandbox", "ls"]);
    assert!(
        ls.contains(&name) && ls.contains("bob") && ls.contains("TIME LEFT"),
        "{ls}"
    );
    let ext = env.ok(&["sandbox", "extend", &name, "--by", "1m"]);
    assert!(ext.contains("left"), "{ext}");
    env.ok(&["sandbox", "rm", &name]);
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), before);
    // The reaper: a sandbox past its time goes by itself.
    let name = env
        .ok(&["sandbox", "run", "--ttl", "2s", "busybox"])
        .trim()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.ok(&["sandbox", "ls"]).contains(&name) {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} outlived its time"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[test]
fn web_listeners_are_off_by_default_and_bad_settings_stop_the_start() {
    let env = Env::start("berth-webdefault-", "{}");
    for port in [8443, 9323] {
        let o = env.daemon.sh_in_netns(&format!(
            "curl -sk --max-time 5 https://127.0.0.1:{port}/; echo $?"
        ));
        let rc = String::from_utf8_lossy(&o.stdout)
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .to_owned();
        assert_eq!(rc, "7", "port {port} answers: connection refused expected");
    }
    let r = env.berth(&["sandbox", "run", "busybox"]);
    assert!(r.err.contains("sandboxes are off"), "{}", r.err);
    drop(env);
    let dir = tempfile::tempdir().expect("dir");
    for (config, want) in [
        (
            r#"{"dashboard-addr": "everywhere"}"#,
            "invalid dashboard-addr",
        ),
        (
            r#"{"dashboard-addr": ":8443", "dashboard-tls-cert": "/x.pem"}"#,
            "go together",
        ),
        (
            r#"{"dashboard-addr": ":8443", "dashboard-tls-cert": "/nonexistent.pem", "dashboard-tls-key": "/nonexistent.key"}"#,
            "/nonexistent.pem",
        ),
        (
            r#"{"sandbox-ttl": "2h", "sandbox-max-ttl": "1h"}"#,
            "longer than sandbox-max-ttl",
        ),
        (r#"{"sandbox-memory": "1k"}"#, "minimum is 6MB"),
    ] {
        common::daemon_refuses(dir.path(), config, want, &[]);
    }
}
