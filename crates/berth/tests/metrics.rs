//! Metrics and the stats history (issue 18): `/metrics` on the API socket and on the token-
//! guarded TCP listener, scraped by a real Prometheus (Debian's, started by the test inside the
//! daemon's network namespace, on its loopback) whose PromQL answers are checked; `berth stats
//! --since` and `/containers/{id}/stats/history`; a removed container's samples gone.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;

/// Killed (and reaped) when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl` inside the daemon's network namespace: (HTTP status, body).
fn curl(env: &Env, args: &str) -> (u16, String) {
    let o = env.daemon.sh_in_netns(&format!(
        "curl -s -o /dev/stdout -w '\\n%{{http_code}}' --max-time 10 {args}"
    ));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The value of the first series a PromQL query answers, once it answers (within 60 s).
fn promql(env: &Env, query: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let (code, body) = curl(
            env,
            &format!("'http://127.0.0.1:9090/api/v1/query?query={q}'"),
        );
        if code == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if let Some(x) = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
            {
                if ok(x) {
                    return x;
                }
            }
        }
        last = body;
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{query}: no satisfying answer within 60 s; last: {last}");
}

#[test]
fn prometheus_scrapes_the_daemon_and_the_history_keeps_samples() {
    let env = Env::start(
        "berth-metrics-",
        r#"{"metrics-addr": "127.0.0.1:9323", "stats-interval": "1s"}"#,
    );
    let token_file = env.dir.path().join("daemon/data/metrics-token");
    let token = std::fs::read_to_string(&token_file).expect("a token was made");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file)
            .expect("token")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let r = env.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let web = r.out.trim().to_owned();
    let r = env.docker(&["run", "-d", "--name", "idle", "busybox", "sleep", "300"]);
    assert_eq!(r.code, 0, "{}", r.err);

    // On the API socket, for its callers.
    let o = Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(env.dir.path().join("daemon/berth.sock"))
        .arg("http://berth/metrics")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "# TYPE container_cpu_usage_seconds_total counter",
        &format!(
            "container_spec_memory_limit_bytes{{id=\"{web}\",image=\"busybox\",name=\"web\",container_label_tier=\"front\"}} 67108864"
        ),
        "container_processes{",
        "berth_containers{state=\"running\"} 2",
        "berth_api_requests_total{code=\"201\",method=\"POST\",route=\"/containers/create\"} 2",
        "berth_api_request_duration_seconds_bucket{method=\"POST\",le=\"+Inf\"}",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }

    // The TCP listener wants the token.
    assert_eq!(curl(&env, "http://127.0.0.1:9323/metrics").0, 401);
    assert_eq!(
        curl(
            &env,
            "-H 'Authorization: Bearer wrong' http://127.0.0.1:9323/metrics"
        )
        .0,
        401
    );
    let (code, body) = curl(
        &env,
        &format!(
            "-H 'Authorization: Bearer {}' http://127.0.0.1:9323/metrics",
            token.trim()
        ),
    );
    assert_eq!(code, 200);
    assert!(
        body.contains("container_memory_working_set_bytes{"),
        "{body}"
    );
    assert_eq!(curl(&env, "http://127.0.0.1:9323/containers/json").0, 404);

    // A real Prometheus scrapes it (its own storage, on the namespace's loopback).
    let prom = env.dir.path().join("prometheus");
    std::fs::create_dir_all(&prom).expect("dir");
    std::fs::write(
        prom.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: berth\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['127.0.0.1:9323']\n",
            token_file.display()
        ),
    )
    .expect("config");
    let _prometheus = Killed(
        Command::new("nsenter")
            .arg(format!("--net={}", env.daemon.netns().display()))
            .arg("prometheus")
            .arg(format!(
                "--config.file={}",
                prom.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom.join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:9090")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prom.join("log")).expect("log"))
            .spawn()
            .expect("prometheus"),
    );
    // The busy container uses about one CPU; the idle one next to nothing.
    let busy = promql(
        &env,
        "rate(container_cpu_usage_seconds_total{name=\"web\"}[5s])",
        |v| v > 0.3,
    );
    assert!(busy <= 1.2, "{busy}");
    promql(
        &env,
        "container_spec_memory_limit_bytes{container_label_tier=\"front\"}",
        |v| v == 67_108_864.0,
    );
    promql(&env, "sum(berth_containers{state=\"running\"})", |v| {
        v == 2.0
    });
    promql(&env, "up{job=\"berth\"}", |v| v == 1.0);

    // The history: a sample a second.
    std::thread::sleep(Duration::from_secs(3));
    let out = env.ok(&["stats", "--since", "1m", "--format", "{{json .}}", "web"]);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert!(rows.len() >= 2, "{out}");
    let cpu: f64 = rows[rows.len() - 1]["CPUPerc"]
        .as_str()
        .and_then(|s| s.trim_end_matches('%').parse().ok())
        .expect("CPU %");
    assert!(cpu > 30.0, "{out}");
    assert_eq!(rows[0]["Name"], "web");
    assert!(
        rows[0]["MemUsage"]
            .as_str()
            .unwrap_or("")
            .ends_with("/ 64MiB"),
        "{out}"
    );
    let table = env.ok(&["stats", "--since", "1m"]);
    assert!(
        table.starts_with("TIME") && table.contains("web") && table.contains("idle"),
        "{table}"
    );
    let bad = env.berth(&["stats", "--since", "yesterday", "web"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.err.contains("invalid since \"yesterday\""),
        "{}",
        bad.err
    );

    // Removed: its samples go with it.
    assert_eq!(env.docker(&["rm", "-f", "web"]).code, 0);
    let db = rusqlite::Connection::open_with_flags(
        env.dir.path().join("daemon/data/berth.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db");
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM stats_samples WHERE id = ?1",
            [&web],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(n, 0, "the removed container's samples");
    let still: i64 = db
        .query_row("SELECT COUNT(*) FROM stats_samples", [], |r| r.get(0))
        .expect("count");
    assert!(still > 0, "the idle container's samples stay");
}

#[test]
fn bad_monitoring_settings_stop_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    for (config, want) in [
        (
            r#"{"metrics-addr": "nowhere"}"#,
            "invalid metrics-addr \"nowhere\"",
        ),
        (
            r#"{"stats-interval": "10"}"#,
            "invalid stats-interval \"10\"",
        ),
        (r#"{"stats-interval": "10ms"}"#, "at least 1s"),
        (r#"{"stats-retention": "a day"}"#, "invalid stats-retention"),
    ] {
        common::daemon_refuses(dir.path(), config, want, &[]);
    }
}
