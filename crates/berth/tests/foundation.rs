//! The foundation's promises, end to end (as root: real daemons and containers): start
//! failures answered as dockerd answers them, the defaults the docs promise held for
//! containers the docker CLI starts, auto-removal across a daemon restart, and a panicking
//! handler that fails only its request in the release build.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;

/// A failed start: docker's exit code, within a second or so, no container left (`--rm`).
#[test]
fn start_failures_behave_as_dockerds() {
    let env = Env::start("berth-foundation-", "{}");
    env.ok(&[
        "create",
        "--name",
        "stopped",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let bad_profile = env.dir.path().join("bad-seccomp.json");
    std::fs::write(&bad_profile, r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).expect("profile");
    let profile_opt = format!("seccomp={}", bad_profile.display());
    // (arguments after `run --rm`, exit code, words of the error)
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["busybox", "nope"], 127, "executable file not found"),
        (vec!["busybox", "/etc/passwd"], 126, "permission denied"),
        (
            vec!["-v", "/etc/hostname:/etc", "busybox", "true"],
            125,
            "mount",
        ),
        (
            vec!["--network", "container:stopped", "busybox", "true"],
            125,
            "non running container",
        ),
        (
            vec!["--security-opt", &profile_opt, "busybox", "true"],
            125,
            "seccomp",
        ),
    ];
    for cli in ["berth", "docker"] {
        for (args, code, words) in &cases {
            let mut full = vec!["run", "--rm", "--network", "none"];
            if args.first() == Some(&"--network") {
                full.truncate(2);
            }
            full.extend(args.iter().copied());
            let t = Instant::now();
            let r = if cli == "berth" {
                env.berth(&full)
            } else {
                env.docker(&full)
            };
            let took = t.elapsed();
            assert_eq!(r.code, *code, "{cli} {full:?}: {}", r.err);
            assert!(r.err.contains(words), "{cli} {full:?}: {}", r.err);
            assert!(
                took < Duration::from_secs(5),
                "{cli} {full:?} took {took:?}"
            );
            let left = env.ok(&["ps", "-aq", "--filter", "status=exited"]);
            assert_eq!(left, "", "{cli} {full:?} left a container");
        }
        // `run -d`: the same error and code; the container stays, as dockerd's does.
        let r = if cli == "berth" {
            env.berth(&[
                "run",
                "-d",
                "--name",
                "det",
                "--network",
                "none",
                "busybox",
                "nope",
            ])
        } else {
            env.docker(&[
                "run",
                "-d",
                "--name",
                "det",
                "--network",
                "none",
                "busybox",
                "nope",
            ])
        };
        assert_eq!(r.code, 127, "{cli} run -d: {}", r.err);
        assert!(r.err.contains("executable file not found"), "{}", r.err);
        assert_eq!(
            env.ok(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                "det"
            ]),
            "exited 127\n"
        );
        env.ok(&["rm", "det"]);
    }
    env.ok(&["rm", "stopped"]);
}

/// The defaults docs/security.md promises, seen from inside a container the docker CLI
/// started (which sends `PidsLimit: 0`, "not given").
#[test]
fn promised_defaults_hold_for_the_docker_cli() {
    let env = Env::start("berth-foundation-", "{}");
    let r = env.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!((r.code, r.out.as_str()), (0, "2048\n"), "{}", r.err);
    let r = env.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pids-limit",
        "100",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!((r.code, r.out.as_str()), (0, "100\n"), "{}", r.err);
}

/// The daemon runs from a sealed copy of its binary (CVE-2019-5736) and the shims it starts run
/// from that same copy, not from one each.
#[test]
fn the_daemon_and_its_shims_share_one_sealed_copy() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::start("berth-foundation-", "{}");
    let daemon = env.daemon.pid();
    let comm = std::fs::read_to_string(format!("/proc/{daemon}/comm")).expect("comm");
    assert_eq!(comm, "berth\n");
    let exe = |pid: &str| {
        let link = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
        assert!(
            link.to_string_lossy().starts_with("/memfd:berth-runtime"),
            "{pid}: {}",
            link.display()
        );
        std::fs::metadata(format!("/proc/{pid}/exe"))
            .expect("exe")
            .ino()
    };
    let id = env.ok(&["run", "-d", "--network", "none", "busybox", "sleep", "100"]);
    let id = id.trim();
    let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).expect("status");
    let shim = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .expect("PPid")
        .trim()
        .to_owned();
    assert_eq!(exe(&daemon.to_string()), exe(&shim));
    env.ok(&["rm", "-f", id]);
}

/// `--rm` is the engine's duty: a container that exits while no daemon runs is removed when
/// the daemon comes back.
#[test]
fn auto_removal_survives_a_daemon_restart() {
    let mut env = Env::start("berth-foundation-", "{}");
    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "brief",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1",
    ]);
    env.daemon.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    env.daemon.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = env.berth(&["ps", "-aq", "--filter", "name=brief"]);
        if r.code == 0 && r.out.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still there: {}", r.out);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its anonymous volumes went with it (none here), and its events say so.
    let ev = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &(berth_units::now() + 1).to_string(),
        "--filter",
        "container=brief",
        "--format",
        "{{.Action}}",
    ]);
    assert!(ev.lines().any(|l| l == "destroy"), "{ev}");
}

/// The release build: a handler that panics answers 500 and the daemon keeps serving.
#[test]
fn a_panicking_handler_fails_only_its_request_in_the_release_build() {
    let ws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "berth"])
        .current_dir(&ws)
        .stdout(Stdio::null())
        .status()
        .expect("cargo build --release");
    assert!(ok.success(), "the release build failed");
    let release = ws.join("target/release/berth");
    let dir = tempfile::Builder::new()
        .prefix("berth-panic-")
        .tempdir()
        .expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let mut daemon = berth_testkit::Daemon::start_with_env(
        &release,
        &dir.path().join("daemon"),
        &dir.path().join("daemon.json"),
        &[("BERTH_TEST_PANIC_ROUTE", "1")],
    );
    let socket = daemon.socket.clone();
    let curl = |method: &str, path: &str| -> (String, String) {
        let o = Command::new("curl")
            .args([
                "-s",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-X",
                method,
                "--unix-socket",
            ])
            .arg(&socket)
            .arg(format!("http://api{path}"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
        (code.to_owned(), body.to_owned())
    };
    for _ in 0..3 {
        let (code, body) = curl("POST", "/_berth/test/panic");
        assert_eq!(code, "500", "{body}");
        assert!(body.contains("\"message\""), "{body}");
        let (code, body) = curl("GET", "/_ping");
        assert_eq!((code.as_str(), body.as_str()), ("200", "OK"));
    }
    assert!(daemon.alive(), "the daemon survived its handler's panic");
    let (code, _) = curl("GET", "/version");
    assert_eq!(code, "200");
}

/// The core path runs no host tool: a daemon whose PATH holds none of `nft`, `tc`, `ip`,
/// `iptables`, `mount` (nor anything else but the `nsenter` that puts it in its test
/// namespace) runs containers on bridges with published ports and bandwidth limits.
#[test]
fn the_core_path_needs_no_host_tools() {
    let dir = tempfile::Builder::new()
        .prefix("berth-notools-")
        .tempdir()
        .expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink("/usr/bin/nsenter", bin.join("nsenter")).expect("nsenter");
    for tool in ["nft", "tc", "ip", "iptables", "mount"] {
        assert!(!bin.join(tool).exists());
    }
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let path = bin.display().to_string();
    let daemon = berth_testkit::Daemon::start_with_env(
        std::path::Path::new(env!("CARGO_BIN_EXE_berth")),
        &dir.path().join("daemon"),
        &dir.path().join("daemon.json"),
        &[("PATH", &path)],
    );
    let berth = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", daemon.host())
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("berth");
        assert!(
            o.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let archive = xtask::busybox_image(dir.path()).expect("busybox image");
    std::fs::write(dir.path().join("busybox.tar"), archive).expect("archive");
    berth(&["load", "-q", "-i", "busybox.tar"]);
    berth(&["network", "create", "--subnet", "10.177.0.0/24", "plain"]);
    berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "plain",
        "-p",
        "127.0.0.1:20777:80",
        "--net-rate-egress",
        "8mbit",
        "--net-rate-ingress",
        "16mbit",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let id = berth(&["inspect", "-f", "{{.Id}}", "web"]);
    let mut got = None;
    for _ in 0..50 {
        let o = daemon.sh_in_netns("curl -sS -m 2 http://127.0.0.1:20777/hostname");
        if o.status.success() {
            got = Some(String::from_utf8_lossy(&o.stdout).into_owned());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        got,
        Some(format!("{}\n", &id[..12])),
        "the published port answers"
    );
    // Both limits in place (looked at with the host's tc; the daemon used none).
    let q = daemon.sh_in_netns("tc qdisc show");
    let q = String::from_utf8_lossy(&q.stdout);
    assert!(q.contains("tbf") && q.contains("rate 16Mbit"), "{q}");
    let pid = berth(&["inspect", "-f", "{{.State.Pid}}", "web"]);
    let o = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", pid.trim()))
        .args(["tc", "qdisc", "show", "dev", "eth0"])
        .output()
        .expect("nsenter tc");
    let q = String::from_utf8_lossy(&o.stdout);
    assert!(q.contains("tbf") && q.contains("rate 8Mbit"), "egress: {q}");
    berth(&["rm", "-f", "web"]);
    berth(&["network", "rm", "plain"]);
}
