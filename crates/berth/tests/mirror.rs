//! `berth mirror` and live reload (issue 19): a real registry (Debian's docker-registry on
//! 127.0.0.1) holding `library/busybox:latest`, reached directly and through throttling
//! proxies of two speeds; a dead port; a server that answers HTML; one that serves the real
//! manifest with the wrong layer bytes. The ranking, `mirror use --fastest` applied with no
//! restart (`docker info` shows it), the next Hub pull through the mirror with a dead one
//! first; SIGHUP with a broken config file (the old settings stay), and `POST /config/reload`.
//! The daemon runs in the host's network namespace (the registry is on its loopback) and
//! runs no container; nothing leaves loopback.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use berth_testkit::{Registry, free_port, throttled_proxy};
use common::Env;

/// A server of canned answers: `html` answers every request with a web page; otherwise
/// `/v2/` answers `{}`, the manifest `manifest`, and every blob garbage.
fn fake_registry(html: bool, manifest: Vec<u8>, kind: String) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (manifest, kind) = (manifest.clone(), kind.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().expect("clone"));
                let mut c = c;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let (ct, body): (&str, Vec<u8>) = if html {
                        (
                            "text/html",
                            b"<html><body>Welcome to nginx!</body></html>".to_vec(),
                        )
                    } else if path.contains("/manifests/") {
                        (kind.as_str(), manifest.clone())
                    } else if path.contains("/blobs/") {
                        ("application/octet-stream", vec![b'x'; 4096])
                    } else {
                        ("application/json", b"{}".to_vec())
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if c.write_all(head.as_bytes())
                        .and_then(|()| c.write_all(&body))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The registry's manifest of library/busybox:latest and its media type.
fn manifest_of(reg: &Registry) -> (Vec<u8>, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", reg.port)).expect("registry");
    write!(
        s,
        "GET /v2/library/busybox/manifests/latest HTTP/1.1\r\nHost: x\r\nAccept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("answer");
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    let kind = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("application/vnd.docker.distribution.manifest.v2+json")
        .trim()
        .to_owned();
    (all[split..].to_vec(), kind)
}

#[test]
fn mirrors_are_ranked_chosen_and_applied_live() {
    let env = Env::start_host_network("berth-mirror-", r#"{"log-level": "info"}"#);
    let reg = Registry::start(&env.dir.path().join("registry"), None);
    let hub_name = format!("{}/library/busybox:latest", reg.host());
    env.ok(&["tag", "busybox:latest", &hub_name]);
    env.ok(&["push", &hub_name]);

    let direct = format!("http://127.0.0.1:{}", reg.port);
    let medium = format!("http://127.0.0.1:{}", throttled_proxy(reg.port, 4 << 20));
    let slow = format!("http://127.0.0.1:{}", throttled_proxy(reg.port, 400 << 10));
    let dead = format!("http://127.0.0.1:{}", free_port());
    let html = format!(
        "http://127.0.0.1:{}",
        fake_registry(true, Vec::new(), String::new())
    );
    let (m, kind) = manifest_of(&reg);
    let wrong = format!("http://127.0.0.1:{}", fake_registry(false, m, kind));

    // The ranking: the working ones fastest first, the others never ranked, each with why.
    let out = env.ok(&[
        "mirror",
        "test",
        "--rounds",
        "2",
        "--timeout",
        "20",
        "--format",
        "json",
        &slow,
        &dead,
        &html,
        &wrong,
        &medium,
        &direct,
    ]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    let order: Vec<&str> = v
        .iter()
        .map(|r| r["mirror"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        order[..3],
        [direct.as_str(), medium.as_str(), slow.as_str()],
        "{out}"
    );
    let status = |m: &str| {
        v.iter()
            .find(|r| r["mirror"] == m)
            .and_then(|r| r["status"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(status(&direct), "ok");
    assert!(status(&dead).starts_with("unreachable"), "{out}");
    assert!(status(&html).contains("answers HTML"), "{out}");
    assert!(status(&wrong).contains("digest mismatch"), "{out}");
    for r in &v[..3] {
        for k in ["ttfb_ms", "manifest_ms", "mbps"] {
            assert!(r[k].as_f64().is_some_and(|x| x > 0.0), "{k} of {r}");
        }
    }
    let fast: f64 = v[0]["mbps"].as_f64().expect("mbps");
    let throttled: f64 = v[2]["mbps"].as_f64().expect("mbps");
    assert!(fast > throttled * 2.0, "{fast} vs {throttled}");
    // The table, as people read it.
    let table = env.ok(&["mirror", "test", "--rounds", "1", &dead, &direct]);
    assert!(
        table.starts_with("RANK") && table.contains("unreachable"),
        "{table}"
    );

    // `use --fastest`: written to daemon.json and applied at once, never a broken mirror.
    let r = env.berth(&[
        "mirror",
        "use",
        "--fastest",
        "--rounds",
        "1",
        &wrong,
        &html,
        &medium,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join("daemon.json")).expect("config"),
    )
    .expect("json");
    assert_eq!(cfg["registry-mirrors"], serde_json::json!([medium]));
    assert_eq!(cfg["log-level"], "info", "the other keys stay");
    let info = env.docker(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert!(
        info.out.contains(&medium),
        "docker info: {}{}",
        info.out,
        info.err
    );
    let r = env.berth(&["mirror", "use", "--fastest", "--rounds", "1", &wrong, &html]);
    assert_ne!(r.code, 0);
    assert!(r.err.contains("no candidate works"), "{}", r.err);

    // A dead mirror first, then a good one: a Hub pull goes through the good one.
    env.ok(&["mirror", "use", &dead, &direct]);
    env.ok(&["rmi", "busybox:latest"]);
    let r = env.berth(&["pull", "busybox"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(
        env.ok(&["images", "--format", "{{.Repository}}"])
            .lines()
            .any(|l| l == "busybox")
    );

    // Bad input: a malformed URL changes nothing.
    for (bad, says) in [
        ("ftp://x", "neither http nor https"),
        ("http://x/path", "no path"),
    ] {
        let r = env.berth(&["mirror", "use", bad]);
        assert_ne!(r.code, 0);
        assert!(r.err.contains(says), "{bad}: {}", r.err);
    }
    let cfg = std::fs::read_to_string(env.dir.path().join("daemon.json")).expect("config");
    assert!(cfg.contains(&direct), "{cfg}");

    // SIGHUP with a broken file: the old settings stay, the error is logged and reported.
    std::fs::write(
        env.dir.path().join("daemon.json"),
        "{\"registry-mirrors\": [",
    )
    .expect("config");
    // SAFETY: a signal to the daemon this test started.
    unsafe { libc::kill(env.daemon.pid() as i32, libc::SIGHUP) };
    let r = env.berth(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert!(r.out.contains(&direct), "{}", r.out);
    let report = Command::new("curl")
        .args(["-s", "-X", "POST", "--unix-socket"])
        .arg(env.dir.path().join("daemon/berth.sock"))
        .arg("http://b/config/reload")
        .output()
        .expect("curl");
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.contains("\"Error\":\"config file") || report.contains("EOF"),
        "{report}"
    );
    // A good file again: mirrors, log level and a key that needs a restart.
    std::fs::write(
        env.dir.path().join("daemon.json"),
        format!(r#"{{"registry-mirrors": ["{medium}"], "log-level": "debug", "icc": false}}"#),
    )
    .expect("config");
    let report = Command::new("curl")
        .args(["-s", "-X", "POST", "--unix-socket"])
        .arg(env.dir.path().join("daemon/berth.sock"))
        .arg("http://b/config/reload")
        .output()
        .expect("curl");
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).expect("report");
    assert_eq!(report["Error"], "", "{report}");
    let applied = report["Applied"].to_string();
    assert!(
        applied.contains("registry-mirrors") && applied.contains("log-level"),
        "{report}"
    );
    assert_eq!(report["NotLive"], serde_json::json!(["icc"]), "{report}");
    let r = env.berth(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert!(r.out.contains(&medium), "{}", r.out);
    let ev = env.ok(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        "type=daemon",
    ]);
    assert!(ev.contains("reload"), "{ev}");
}
