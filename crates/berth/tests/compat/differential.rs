//! Differential tests against dockerd (Debian's docker.io, 20.10, API 1.41): the same requests
//! to both daemons, compared on status codes, headers, and the field sets and JSON types of
//! the answers. Every field dockerd sends, Berth sends with the same type (Berth may send
//! more). Values differ (ids, times) and are not compared.

use std::path::Path;

use berth_testkit::dockerd::{Dockerd, HttpResponse, dockerd_installed, request};
use serde_json::Value;

use crate::common::Env;

/// Objects whose keys are data (names, labels, ports), not fields: only the keys both have
/// are compared.
const KEYED_BY_DATA: &[&str] = &[
    "Labels",
    "Options",
    "Runtimes",
    "Networks",
    "Ports",
    "ExposedPorts",
    "Volumes",
    "DriverOpts",
    "IndexConfigs",
    "Status",
    "Containers",
    "Attributes",
    "Config.Env",
    "PortBindings",
    "Sysctls",
    "Tmpfs",
    "StorageOpt",
];

/// Fields of dockerd 20.10 that Berth leaves out on purpose, by path (`info.Swarm.Cluster`);
/// docs/compat.md says why. None today.
const LEFT_OUT: &[&str] = &[];

#[derive(Default)]
struct Diff {
    problems: Vec<String>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Diff {
    /// Every field of `docker` is in `berth`, with the same type (null matches anything:
    /// Go sends null for empty slices and maps).
    fn json(&mut self, path: &str, docker: &Value, berth: &Value) {
        if LEFT_OUT.contains(&path) {
            return;
        }
        match (docker, berth) {
            (Value::Null, _) | (_, Value::Null) => {}
            (Value::Object(d), Value::Object(b)) => {
                let data_keys = KEYED_BY_DATA.iter().any(|k| path.ends_with(k));
                for (k, dv) in d {
                    let p = format!("{path}.{k}");
                    match b.get(k) {
                        Some(bv) => self.json(&p, dv, bv),
                        None if data_keys || LEFT_OUT.contains(&p.as_str()) => {}
                        None => self.problems.push(format!("missing {p}")),
                    }
                }
            }
            (Value::Array(d), Value::Array(b)) => {
                if let (Some(dv), Some(bv)) = (d.first(), b.first()) {
                    self.json(&format!("{path}[]"), dv, bv);
                }
            }
            (d, b) if kind(d) != kind(b) => self.problems.push(format!(
                "type of {path}: dockerd {} ({d}), Berth {} ({b})",
                kind(d),
                kind(b)
            )),
            _ => {}
        }
    }

    /// The same status, the headers dockerd sends that clients read, and the JSON shapes.
    fn response(&mut self, what: &str, docker: &HttpResponse, berth: &HttpResponse) {
        if docker.status != berth.status {
            self.problems.push(format!(
                "status of {what}: dockerd {} ({}), Berth {} ({})",
                docker.status,
                String::from_utf8_lossy(&docker.body).trim(),
                berth.status,
                String::from_utf8_lossy(&berth.body).trim()
            ));
        }
        for h in [
            "api-version",
            "ostype",
            "docker-experimental",
            "content-type",
        ] {
            if docker.header(h).is_some() && berth.header(h).is_none() {
                self.problems.push(format!("header {h} missing on {what}"));
            }
        }
        let (d, b) = (docker.header("content-type"), berth.header("content-type"));
        if d.is_some() && b.is_some() && d != b {
            self.problems.push(format!(
                "content-type of {what}: dockerd {d:?}, Berth {b:?}"
            ));
        }
        self.json(what, &docker.json(), &berth.json());
    }
}

/// The same request to both daemons.
struct Both<'a> {
    docker: &'a Path,
    berth: &'a Path,
    diff: Diff,
}

impl Both<'_> {
    fn call(&mut self, what: &str, method: &str, path: &str, body: Option<&str>) -> (Value, Value) {
        let path = format!("/v1.41{path}");
        let d = request(self.docker, method, &path, body.map(str::as_bytes));
        let b = request(self.berth, method, &path, body.map(str::as_bytes));
        self.diff.response(what, &d, &b);
        (d.json(), b.json())
    }
}

#[test]
fn berth_answers_as_dockerd_does() {
    if !dockerd_installed() {
        panic!(
            "dockerd is not installed (apt-get install -y docker.io): the differential test needs it"
        );
    }
    let env = Env::start("berth-compat-diff-", "{}");
    let dockerd = Dockerd::start(&env.dir.path().join("dockerd"));
    let tar = std::fs::read(env.dir.path().join("busybox.tar")).expect("archive");
    let loaded = request(
        &dockerd.socket,
        "POST",
        "/v1.41/images/load?quiet=1",
        Some(&tar),
    );
    assert_eq!(
        loaded.status,
        200,
        "{}",
        String::from_utf8_lossy(&loaded.body)
    );
    let mut both = Both {
        docker: &dockerd.socket,
        berth: &env.daemon.socket,
        diff: Diff::default(),
    };
    let since = berth_units::now();

    both.call("version", "GET", "/version", None);
    both.call("info", "GET", "/info", None);
    let body = r#"{"Image":"busybox","Cmd":["sleep","60"],"Labels":{"app":"diff"},"ExposedPorts":{"80/tcp":{}},"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1"}]}}}"#;
    both.call(
        "create",
        "POST",
        "/containers/create?name=diff1",
        Some(body),
    );
    both.call("start", "POST", "/containers/diff1/start", None);
    both.call("start again", "POST", "/containers/diff1/start", None);
    both.call("container", "GET", "/containers/diff1/json", None);
    both.call(
        "container list",
        "GET",
        "/containers/json?filters=%7B%22label%22%3A%5B%22app%3Ddiff%22%5D%7D",
        None,
    );
    both.call(
        "container list sizes",
        "GET",
        "/containers/json?all=1&size=1",
        None,
    );
    both.call("image", "GET", "/images/busybox/json", None);
    both.call("image list", "GET", "/images/json", None);
    both.call("history", "GET", "/images/busybox/history", None);
    both.call(
        "network create",
        "POST",
        "/networks/create",
        Some(r#"{"Name":"diffnet","Labels":{"k":"v"},"CheckDuplicate":true}"#),
    );
    both.call("network", "GET", "/networks/diffnet", None);
    both.call("network bridge", "GET", "/networks/bridge", None);
    both.call("network list", "GET", "/networks", None);
    both.call(
        "connect",
        "POST",
        "/networks/diffnet/connect",
        Some(r#"{"Container":"diff1","EndpointConfig":{"Aliases":["d1"]}}"#),
    );
    both.call(
        "container on two networks",
        "GET",
        "/containers/diff1/json",
        None,
    );
    both.call(
        "volume create",
        "POST",
        "/volumes/create",
        Some(r#"{"Name":"diffvol","Labels":{"k":"v"}}"#),
    );
    both.call("volume", "GET", "/volumes/diffvol", None);
    both.call("volume list", "GET", "/volumes", None);
    let (d, b) = both.call(
        "exec create",
        "POST",
        "/containers/diff1/exec",
        Some(r#"{"Cmd":["true"],"AttachStdout":true}"#),
    );
    let (d_id, b_id) = (
        d["Id"].as_str().unwrap_or(""),
        b["Id"].as_str().unwrap_or(""),
    );
    let d_ex = request(
        both.docker,
        "GET",
        &format!("/v1.41/exec/{d_id}/json"),
        None,
    );
    let b_ex = request(both.berth, "GET", &format!("/v1.41/exec/{b_id}/json"), None);
    both.diff.response("exec inspect", &d_ex, &b_ex);
    both.call("stats", "GET", "/containers/diff1/stats?stream=false", None);
    both.call("top", "GET", "/containers/diff1/top", None);
    both.call("system df", "GET", "/system/df", None);
    // Errors: dockerd's statuses and {"message"} bodies.
    both.call("no such container", "GET", "/containers/nope/json", None);
    both.call(
        "create from a missing image",
        "POST",
        "/containers/create",
        Some(r#"{"Image":"nope:1"}"#),
    );
    both.call("no such network", "DELETE", "/networks/nope", None);
    both.call("no such volume", "GET", "/volumes/nope", None);
    both.call("no such image", "GET", "/images/nope:1/json", None);
    both.call("remove running", "DELETE", "/containers/diff1", None);
    both.call(
        "bad filter",
        "GET",
        "/containers/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
        None,
    );
    both.call("kill", "POST", "/containers/diff1/kill", None);
    both.call("wait", "POST", "/containers/diff1/wait", None);
    both.call("remove", "DELETE", "/containers/diff1?v=1", None);
    // Events, pre-1.52 (`status`, `id`, `from` beside `Type`/`Action`/`Actor`): each type's
    // first event of each side compared.
    let until = berth_units::now() + 1;
    let path = format!("/v1.41/events?since={since}&until={until}");
    let d = request(both.docker, "GET", &path, None);
    let b = request(both.berth, "GET", &path, None);
    let lines = |r: &HttpResponse| -> Vec<Value> {
        String::from_utf8_lossy(&r.body)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let (dl, bl) = (lines(&d), lines(&b));
    for (ty, action) in [
        ("container", "create"),
        ("container", "start"),
        ("network", "connect"),
        ("volume", "create"),
    ] {
        let find = |l: &[Value]| {
            l.iter()
                .find(|e| e["Type"] == ty && e["Action"] == action)
                .cloned()
        };
        match (find(&dl), find(&bl)) {
            (Some(de), Some(be)) => both.diff.json(&format!("event {ty} {action}"), &de, &be),
            (Some(_), None) => both
                .diff
                .problems
                .push(format!("no {ty} {action} event from Berth")),
            _ => {}
        }
    }
    assert!(
        bl.iter()
            .any(|e| e["status"] == "create" && e["id"].is_string() && e["from"] == "busybox"),
        "{bl:?}"
    );
    let problems = both.diff.problems;
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
