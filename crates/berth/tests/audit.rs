//! `berth audit` (issue 17): the CIS-style checks, each family flipping with its setting;
//! `berth audit rules`; the API audit log's hash chain (any edit found by `--verify`); the
//! read-only group (non-root callers may read, not mutate).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use berth_testkit::Daemon;

struct Env {
    daemon: Daemon,
    dir: tempfile::TempDir,
}

impl Env {
    fn start(config: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("berth-audit-")
            .tempdir()
            .expect("dir");
        std::fs::create_dir_all(dir.path().join("rules")).expect("rules");
        std::fs::write(dir.path().join("daemon.json"), config).expect("config");
        std::fs::set_permissions(
            dir.path().join("daemon.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let rules = dir.path().join("rules").display().to_string();
        let daemon = Daemon::start_with_env(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &dir.path().join("daemon"),
            &dir.path().join("daemon.json"),
            &[("BERTH_AUDIT_RULES_DIR", &rules)],
        );
        let env = Env { daemon, dir };
        let archive = xtask::busybox_image(env.dir.path()).expect("busybox");
        std::fs::write(env.dir.path().join("busybox.tar"), archive).expect("tar");
        env.ok(&["load", "-q", "-i", "busybox.tar"]);
        env
    }

    fn run(&self, bin: &str, var: &str, args: &[&str]) -> (i32, String, String) {
        let o = Command::new(bin)
            .env(var, self.daemon.host())
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(env!("CARGO_BIN_EXE_berth"), "BERTH_HOST", args);
        assert_eq!(code, 0, "berth {args:?}: {out}{err}");
        out
    }

    fn docker(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run("/usr/local/bin/docker", "DOCKER_HOST", args);
        assert_eq!(code, 0, "docker {args:?}: {err}");
        out
    }

    /// The result of check `id`.
    fn result(&self, id: &str) -> String {
        let r: serde_json::Value =
            serde_json::from_str(&self.ok(&["audit", "--format", "json"])).expect("json");
        let c = r["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id}: {r}"))
            .clone();
        for k in ["id", "level", "title", "result", "evidence", "remediation"] {
            assert!(c.get(k).is_some(), "{id} lacks {k}");
        }
        c["result"].as_str().unwrap_or_default().to_owned()
    }
}

#[test]
fn every_check_family_flips_with_its_setting() {
    let env = Env::start("{}");
    // Host: auditd rules for Berth's paths.
    assert_eq!(env.result("1.1.4"), "fail");
    let rules = env.ok(&["audit", "rules"]);
    assert!(
        rules.contains(&format!(
            "-w {} -p wa -k berth",
            env.dir.path().join("daemon/data").display()
        )),
        "{rules}"
    );
    std::fs::write(env.dir.path().join("rules/berth.rules"), &rules).expect("rules");
    for id in ["1.1.3", "1.1.4", "1.1.5", "1.1.6"] {
        assert_eq!(env.result(id), "pass", "{id}");
    }
    // Daemon: icc, no-new-privileges, user namespaces (a second daemon with the other settings).
    assert_eq!(env.result("2.2"), "fail");
    assert_eq!(env.result("2.14"), "pass");
    assert_eq!(env.result("2.9"), "fail");
    let other =
        Env::start(r#"{"icc": false, "no-new-privileges": false, "default-userns": "auto"}"#);
    assert_eq!(other.result("2.2"), "pass");
    assert_eq!(other.result("2.14"), "fail");
    assert_eq!(other.result("2.9"), "pass");
    drop(other);
    // Files: the config file's mode.
    assert_eq!(env.result("3.17"), "pass");
    let cfg = env.dir.path().join("daemon.json");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    assert_eq!(env.result("3.17"), "fail");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Containers: a privileged one fails 5.4 while it runs.
    assert_eq!(env.result("5.4"), "skip");
    env.docker(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"]);
    assert_eq!(env.result("5.4"), "pass");
    env.docker(&[
        "run",
        "-d",
        "--name",
        "priv",
        "--privileged",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(env.result("5.4"), "fail");
    env.docker(&["rm", "-f", "priv"]);
    assert_eq!(env.result("5.4"), "pass");
    // Images: busybox runs as root without a health check; an image with both passes.
    assert_eq!(env.result("4.1"), "warn");
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nUSER 1000\nHEALTHCHECK CMD true\n",
    )
    .expect("df");
    env.ok(&["build", "-q", "-t", "good:1", "ctx"]);
    env.docker(&["rm", "-f", "plain"]);
    env.ok(&["rmi", "-f", "busybox", "alpine:latest", "alpine:3.10"]);
    assert_eq!(env.result("4.1"), "pass");
    assert_eq!(env.result("4.6"), "pass");

    // Table, SARIF, --exit-code.
    let t = env.ok(&["audit"]);
    assert!(t.contains("ID ") && t.contains(" checks: "), "{t}");
    let s: serde_json::Value =
        serde_json::from_str(&env.ok(&["audit", "--format", "sarif"])).expect("sarif");
    assert_eq!(s["version"], "2.1.0");
    assert!(
        s["runs"][0]["results"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    let (code, _, _) = env.run(
        env!("CARGO_BIN_EXE_berth"),
        "BERTH_HOST",
        &["audit", "--exit-code", "3"],
    );
    assert_eq!(code, 3, "1.1.1 fails on this host's single filesystem");
}

#[test]
fn the_api_audit_log_is_a_hash_chain() {
    let env = Env::start("{}");
    env.docker(&["run", "--name", "logged", "busybox", "true"]);
    env.docker(&["ps", "-a"]);
    let _ = env.run(
        "/usr/local/bin/docker",
        "DOCKER_HOST",
        &["rm", "nonexistent"],
    );
    env.docker(&["rm", "logged"]);
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["audit", "log", "--format", "json"])).expect("json");
    let paths: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["method"].as_str().unwrap_or_default(),
                e["path"].as_str().unwrap_or_default(),
                e["target"].as_str().unwrap_or_default(),
                e["status"]
            )
        })
        .collect();
    for want in [
        "POST /containers/create logged 201",
        "DELETE /containers/nonexistent nonexistent 404",
        "DELETE /containers/logged logged 204",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    assert!(
        paths.iter().any(|p| p.starts_with("POST /containers/")
            && p.contains("/start ")
            && p.ends_with(" 204")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.starts_with("GET")),
        "reads are not mutations: {paths:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["uid"] == 0 && e["pid"].as_i64().unwrap_or(0) > 0)
    );
    assert!(
        env.ok(&["audit", "log", "--verify"])
            .contains("the chain is intact")
    );

    // Any edit shows: a byte changed, a line removed, the end cut off.
    let log = env.dir.path().join("daemon/data/audit.log");
    let orig = std::fs::read(&log).expect("log");
    let verify = || {
        env.run(
            env!("CARGO_BIN_EXE_berth"),
            "BERTH_HOST",
            &["audit", "log", "--verify"],
        )
    };
    let mut edited = orig.clone();
    let at = orig
        .windows(9)
        .position(|w| w == b"\"status\":")
        .expect("status")
        + 9;
    edited[at] = if edited[at] == b'2' { b'5' } else { b'2' };
    std::fs::write(&log, &edited).expect("edit");
    let (code, _, err) = verify();
    assert_eq!(code, 1);
    assert!(
        err.contains("BROKEN") && err.contains("was changed"),
        "{err}"
    );
    let text = String::from_utf8(orig.clone()).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    let without_second: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&log, without_second).expect("remove");
    assert_eq!(verify().0, 1);
    let cut: String = lines[..lines.len() - 1]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&log, cut).expect("cut");
    let (code, _, err) = verify();
    assert_eq!(code, 1);
    assert!(err.contains("removed from the end"), "{err}");
    std::fs::write(&log, &orig).expect("restore");
    assert_eq!(verify().0, 0);
}

#[test]
fn a_read_only_group_may_read_but_not_change() {
    let env = Env::start(r#"{"read-only-group": "nogroup"}"#);
    // The socket's directory is reachable by others; the socket is root:nogroup 0660.
    for d in [env.dir.path(), &env.dir.path().join("daemon")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    let as_nobody = |args: &[&str]| {
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_HOST", env.daemon.host())
            .env("HOME", "/tmp")
            .output()
            .expect("setpriv");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = as_nobody(&["images"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("busybox"), "{out}");
    let (code, _, err) = as_nobody(&["run", "--rm", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("permission denied: uid 65534 may only read"),
        "{err}"
    );
    // Root keeps full access; the refusal is in the audit log.
    env.ok(&["run", "--rm", "busybox", "true"]);
    let log = env.ok(&["audit", "log", "--format", "json"]);
    assert!(
        log.contains("\"uid\": 65534") && log.contains("\"status\": 403"),
        "{log}"
    );
}
