//! Berth's daemon through the Engine API: version negotiation, errors, and the real docker CLI
//! (`/usr/local/bin/docker`, or `docker` on PATH) driving the image endpoints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_testkit::{Daemon, Registry};

fn docker_bin() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// `curl` over the daemon's socket: (status, body).
fn curl(d: &Daemon, method: &str, path: &str) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-s", "-X", method, "-w", "\n%{http_code}", "--unix-socket"])
        .arg(&d.socket)
        .arg(format!("http://berth{path}"))
        .output()
        .expect("curl");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// In the host's network namespace: the tests here reach a registry on the host's loopback
/// and run no containers.
fn daemon(dir: &Path) -> Daemon {
    Daemon::start_host_network(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &dir.join("daemon"),
        &dir.join("daemon.json"),
    )
}

#[test]
fn versions_errors_and_ping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(dir.path());
    let (code, body) = curl(&d, "GET", "/_ping");
    assert_eq!((code, body.as_str()), (200, "OK"));
    let o = Command::new("curl")
        .args(["-sI", "--unix-socket"])
        .arg(&d.socket)
        .arg("http://berth/_ping")
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(
        head.starts_with("http/1.1 200") && head.contains("api-version: 1.51"),
        "{head}"
    );
    // `version`: the client's and the server's, as docker prints them; docker's CLI reads the
    // same shape.
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", d.host())
        .arg("version")
        .output()
        .expect("berth version");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && text.starts_with("Client:\n Version:")
            && text.contains("Server: Berth\n Engine:\n  Version:")
            && text.contains("(minimum version 1.24)"),
        "{text}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", "unix:///nonexistent/berth.sock")
        .arg("version")
        .output()
        .expect("berth version");
    assert_eq!(
        o.status.code(),
        Some(1),
        "no daemon: the client part and exit 1"
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Client:"));
    if let Some(docker) = docker_bin() {
        let o = Command::new(docker)
            .env("DOCKER_HOST", d.host())
            .args([
                "version",
                "--format",
                "{{.Server.Version}} {{.Server.APIVersion}}",
            ])
            .output()
            .expect("docker version");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("{} 1.51\n", env!("CARGO_PKG_VERSION"))
        );
    }
    for path in ["/version", "/v1.24/version", "/v1.51/version"] {
        let (code, body) = curl(&d, "GET", path);
        assert_eq!(code, 200, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (v["ApiVersion"].as_str(), v["MinAPIVersion"].as_str()),
            (Some("1.51"), Some("1.24"))
        );
    }
    let (code, body) = curl(&d, "GET", "/v1.12/version");
    assert_eq!(code, 400);
    assert!(
        body.contains("client version 1.12 is too old. Minimum supported API version is 1.24"),
        "{body}"
    );
    let (code, body) = curl(&d, "GET", "/v1.99/info");
    assert_eq!(code, 400);
    assert!(
        body.contains("Maximum supported API version is 1.51"),
        "{body}"
    );
    let (code, body) = curl(&d, "GET", "/v1.51/images/nope/json");
    assert_eq!(
        (code, body.as_str()),
        (404, r#"{"message":"No such image: nope:latest"}"#)
    );
    let (code, body) = curl(
        &d,
        "GET",
        "/v1.51/images/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
    );
    assert_eq!(
        (code, body.as_str()),
        (400, r#"{"message":"invalid filter 'colour'"}"#)
    );
    let (code, _) = curl(&d, "GET", "/nothing/here");
    assert_eq!(code, 404);
    let (code, body) = curl(&d, "GET", "/info");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["OSType"], "linux");
    assert!(
        v["DockerRootDir"]
            .as_str()
            .is_some_and(|r| r.ends_with("daemon/data"))
    );
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused_and_a_stale_socket_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(dir.path());
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "--data-root"])
        .arg(dir.path().join("other"))
        .arg("--exec-root")
        .arg(dir.path().join("other-exec"))
        .arg("--config-file")
        .arg(dir.path().join("none.json"))
        .arg("-H")
        .arg(d.host())
        .output()
        .expect("second daemon");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("in use by another daemon"));
    drop(d);
    // A socket file nobody listens on (a daemon killed with SIGKILL leaves one) is replaced.
    let stale_dir = dir.path().join("stale");
    std::fs::create_dir_all(&stale_dir).expect("dir");
    drop(std::os::unix::net::UnixListener::bind(stale_dir.join("berth.sock")).expect("bind"));
    assert!(stale_dir.join("berth.sock").exists());
    let d2 = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &stale_dir,
        &dir.path().join("none.json"),
    );
    assert_eq!(curl(&d2, "GET", "/_ping").0, 200);
    drop(d2);
    // Unknown keys in the config file are refused, as dockerd does.
    std::fs::write(dir.path().join("bad.json"), r#"{"no-such-option": 1}"#).expect("config");
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "--config-file"])
        .arg(dir.path().join("bad.json"))
        .output()
        .expect("daemon");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-option"));
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_docker_cli_manages_images_through_berth() {
    let Some(docker) = docker_bin() else {
        panic!("the docker CLI is needed (/usr/local/bin/docker)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = daemon(dir.path());
    let reg = Registry::start(&dir.path().join("registry"), None);
    let archive = xtask::busybox_image(dir.path()).expect("busybox image");
    std::fs::write(dir.path().join("busybox.tar"), archive).expect("archive");
    std::fs::create_dir_all(dir.path().join("docker-config")).expect("config");
    let run = |args: &[&str]| -> Output {
        Command::new(&docker)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", dir.path().join("docker-config"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("docker")
    };
    let ok = |args: &[&str]| -> String {
        let o = run(args);
        assert!(o.status.success(), "docker {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let v = ok(&[
        "version",
        "--format",
        "{{.Server.Version}} {{.Server.APIVersion}}",
    ]);
    assert_eq!(v.trim(), format!("{} 1.51", env!("CARGO_PKG_VERSION")));
    let out = ok(&["load", "-i", "busybox.tar"]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    // The docker CLI groups an image's tags by repository in a Go map: its row order varies.
    let out = ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut rows: Vec<&str> = out.lines().collect();
    rows.sort();
    assert_eq!(rows, ["alpine:3.10", "alpine:latest", "busybox:latest"]);
    let name = format!("{}/dock/bb:v1", reg.host());
    ok(&["tag", "busybox", &name]);
    let out = ok(&["push", &name]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    ok(&["rmi", &name]);
    let out = ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    let id = ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id);
    let out = ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "busybox",
    ]);
    assert!(out.contains("cargo xtask images"), "{out}");
    let out = ok(&["save", "-o", "saved.tar", "busybox"]);
    assert_eq!(out, "");
    assert!(
        dir.path()
            .join("saved.tar")
            .metadata()
            .expect("saved")
            .len()
            > 1 << 20
    );
    let o = run(&["rmi", "nope"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No such image: nope:latest"),
        "{}",
        text(&o)
    );
    let o = run(&["pull", &format!("{}/dock/none:x", reg.host())]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not found: manifest unknown"),
        "{}",
        text(&o)
    );
    let out = ok(&[
        "system",
        "info",
        "--format",
        "{{.Images}} {{.OSType}} {{.DefaultRuntime}}",
    ]);
    assert_eq!(out.trim(), "1 linux berth");
    let out = ok(&["ps", "-a", "-q"]);
    assert_eq!(out, "");
}
