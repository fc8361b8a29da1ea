//! `GET /metrics`: the engine's [`Snapshot`] and the API's own request counts and latencies in
//! Prometheus' text format, with cAdvisor's metric names and labels for containers. Served on
//! the API socket and, when the daemon is given `metrics-addr`, on a TCP listener of its own
//! that wants `Authorization: Bearer TOKEN`.
//!
//! The text is written here rather than with a client crate: the label sets vary per container
//! (`container_label_*`, as cAdvisor's), which those crates' typed label sets do not model.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use berth_engine::metrics::Snapshot;

/// Latency buckets (seconds).
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Requests by (method, route, status) and latency by method.
#[derive(Default)]
pub struct ApiMetrics {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

static API: LazyLock<Mutex<ApiMetrics>> = LazyLock::new(Mutex::default);

/// Count one request (its route as a template: ids and names become `{id}`/`{name}`).
pub fn observe(method: &str, path: &str, status: u16, took: Duration) {
    let route = route_template(path);
    let mut m = API.lock().unwrap_or_else(|p| p.into_inner());
    *m.requests
        .entry((method.to_owned(), route, status))
        .or_default() += 1;
    let h = m.latency.entry(method.to_owned()).or_default();
    let s = took.as_secs_f64();
    h.count += 1;
    h.sum += s;
    for (i, b) in BUCKETS.iter().enumerate() {
        if s <= *b {
            h.counts[i] += 1;
        }
    }
}

/// `/containers/abc/start` → `/containers/{id}/start`; a bounded set of routes whatever
/// the paths asked.
pub fn route_template(path: &str) -> String {
    const VERBS: [&str; 12] = [
        "json",
        "create",
        "prune",
        "load",
        "get",
        "search",
        "import",
        "history",
        "push",
        "tag",
        "signatures",
        "sbom",
    ];
    const OPS: [&str; 30] = [
        "json",
        "start",
        "stop",
        "restart",
        "kill",
        "wait",
        "attach",
        "logs",
        "stats",
        "top",
        "pause",
        "unpause",
        "rename",
        "update",
        "resize",
        "exec",
        "changes",
        "export",
        "archive",
        "connect",
        "disconnect",
        "history",
        "push",
        "tag",
        "get",
        "signatures",
        "sbom",
        "scan",
        "verify",
        "checks",
    ];
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(first) = segs.first() else {
        return "/".into();
    };
    const RESOURCES: [&str; 25] = [
        "containers",
        "images",
        "networks",
        "volumes",
        "exec",
        "_ping",
        "version",
        "info",
        "events",
        "system",
        "build",
        "commit",
        "auth",
        "audit",
        "network-policies",
        "metrics",
        "session",
        "grpc",
        "swarm",
        "plugins",
        "distribution",
        "dashboard",
        "sandboxes",
        "config",
        "mirrors",
    ];
    if !RESOURCES.contains(first) {
        return "other".into();
    }
    let mut out = format!("/{first}");
    match segs.len() {
        1 => {}
        2 if VERBS.contains(&segs[1]) || *first == "system" || *first == "audit" => {
            let _ = write!(out, "/{}", segs[1]);
        }
        2 => out.push_str("/{id}"),
        n => {
            // `containers/ID/stats/history`, `images/NAME/WITH/SLASHES/json`.
            let last = segs[n - 1];
            if *first == "containers" && n == 4 && segs[2] == "stats" && last == "history" {
                out.push_str("/{id}/stats/history");
            } else if OPS.contains(&last) {
                let _ = write!(out, "/{{id}}/{last}");
            } else {
                out.push_str("/{id}");
            }
        }
    }
    out
}

/// A label value as the text format escapes it.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A container label's name as a Prometheus label name (cAdvisor's `container_label_*`).
fn label_name(k: &str) -> String {
    let mut s: String = k
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s.insert_str(0, "container_label_");
    s
}

/// The whole text: engine, containers, API.
pub fn render(snap: &Snapshot) -> String {
    let mut o = String::with_capacity(512 + snap.containers.len() * 3000);
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    // The labels every container series carries.
    let base: Vec<String> = snap
        .containers
        .iter()
        .map(|c| {
            let mut l = format!(
                "id=\"{}\",image=\"{}\",name=\"{}\"",
                esc(&c.id),
                esc(&c.image),
                esc(&c.name)
            );
            for (k, v) in &c.labels {
                let _ = write!(l, ",{}=\"{}\"", label_name(k), esc(v));
            }
            l
        })
        .collect();
    type Value = fn(&berth_engine::metrics::Sample) -> f64;
    let per_container: [(&str, &str, &str, &str, Value); 11] = [
        (
            "container_cpu_usage_seconds_total",
            "counter",
            "Cumulative cpu time consumed in seconds.",
            "cpu=\"total\",",
            |c| c.cpu_ns as f64 / 1e9,
        ),
        (
            "container_cpu_user_seconds_total",
            "counter",
            "Cumulative user cpu time consumed in seconds.",
            "",
            |c| c.cpu_user_ns as f64 / 1e9,
        ),
        (
            "container_cpu_system_seconds_total",
            "counter",
            "Cumulative system cpu time consumed in seconds.",
            "",
            |c| c.cpu_system_ns as f64 / 1e9,
        ),
        (
            "container_memory_usage_bytes",
            "gauge",
            "Current memory usage in bytes, including all memory regardless of when it was accessed.",
            "",
            |c| c.memory_usage as f64,
        ),
        (
            "container_memory_working_set_bytes",
            "gauge",
            "Current working set in bytes.",
            "",
            |c| c.memory_working_set as f64,
        ),
        (
            "container_spec_memory_limit_bytes",
            "gauge",
            "Memory limit for the container (0: none).",
            "",
            |c| c.memory_limit as f64,
        ),
        (
            "container_fs_reads_bytes_total",
            "counter",
            "Cumulative count of bytes read.",
            "",
            |c| c.blk_read as f64,
        ),
        (
            "container_fs_writes_bytes_total",
            "counter",
            "Cumulative count of bytes written.",
            "",
            |c| c.blk_write as f64,
        ),
        (
            "container_processes",
            "gauge",
            "Number of processes running inside the container.",
            "",
            |c| c.pids as f64,
        ),
        (
            "container_start_time_seconds",
            "gauge",
            "Start time of the container since unix epoch in seconds.",
            "",
            |c| c.started,
        ),
        (
            "container_last_seen",
            "gauge",
            "Last time a container was seen by the exporter",
            "",
            |_| 0.0,
        ),
    ];
    for (name, kind, help, extra, value) in per_container {
        family(&mut o, name, kind, help);
        for (c, l) in snap.containers.iter().zip(&base) {
            let v = if name == "container_last_seen" {
                snap.time.floor()
            } else {
                value(c)
            };
            let _ = writeln!(o, "{name}{{{extra}{l}}} {v}");
        }
    }
    type NetValue = fn(&berth_engine::metrics::Interface) -> u64;
    let net: [(&str, &str, NetValue); 4] = [
        (
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received",
            |n| n.rx_bytes,
        ),
        (
            "container_network_receive_packets_total",
            "Cumulative count of packets received",
            |n| n.rx_packets,
        ),
        (
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted",
            |n| n.tx_bytes,
        ),
        (
            "container_network_transmit_packets_total",
            "Cumulative count of packets transmitted",
            |n| n.tx_packets,
        ),
    ];
    for (name, help, value) in net {
        family(&mut o, name, "counter", help);
        for (c, l) in snap.containers.iter().zip(&base) {
            for n in &c.net {
                let _ = writeln!(
                    o,
                    "{name}{{interface=\"{}\",{l}}} {}",
                    esc(&n.name),
                    value(n)
                );
            }
        }
    }
    family(&mut o, "berth_containers", "gauge", "Containers by state.");
    for (s, n) in &snap.states {
        let _ = writeln!(o, "berth_containers{{state=\"{s}\"}} {n}");
    }
    family(&mut o, "berth_images", "gauge", "Images in the store.");
    let _ = writeln!(o, "berth_images {}", snap.images);
    family(
        &mut o,
        "berth_image_pulls_total",
        "counter",
        "Image pulls since the daemon started, by result.",
    );
    let _ = writeln!(
        o,
        "berth_image_pulls_total{{result=\"success\"}} {}",
        snap.pulls
    );
    let _ = writeln!(
        o,
        "berth_image_pulls_total{{result=\"failure\"}} {}",
        snap.pull_failures
    );
    family(
        &mut o,
        "berth_build_cache_entries",
        "gauge",
        "Entries in the build cache.",
    );
    let _ = writeln!(o, "berth_build_cache_entries {}", snap.build_cache_entries);
    let m = API.lock().unwrap_or_else(|p| p.into_inner());
    family(
        &mut o,
        "berth_api_requests_total",
        "counter",
        "API requests by method, route and status code.",
    );
    for ((method, route, code), n) in &m.requests {
        let _ = writeln!(
            o,
            "berth_api_requests_total{{code=\"{code}\",method=\"{method}\",route=\"{}\"}} {n}",
            esc(route)
        );
    }
    family(
        &mut o,
        "berth_api_request_duration_seconds",
        "histogram",
        "Time to answer an API request (to the response's head), by method.",
    );
    for (method, h) in &m.latency {
        for (b, n) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                o,
                "berth_api_request_duration_seconds_bucket{{method=\"{method}\",le=\"{b}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "berth_api_request_duration_seconds_bucket{{method=\"{method}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "berth_api_request_duration_seconds_sum{{method=\"{method}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            o,
            "berth_api_request_duration_seconds_count{{method=\"{method}\"}} {}",
            h.count
        );
    }
    o
}

/// The text for `engine`, as a response.
pub async fn response(engine: Arc<Engine>) -> Response {
    match crate::respond::read(move || engine.metrics()).await {
        Ok(snap) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&snap),
        )
            .into_response(),
        Err(r) => r,
    }
}

/// Serve `/metrics` on `listener` (TCP) for callers that send `Authorization: Bearer TOKEN`.
pub async fn serve_tcp(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = Arc::new(token);
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (engine, token) = (engine.clone(), token.clone());
        async move {
            if req.uri().path() != "/metrics" {
                return crate::respond::error(StatusCode::NOT_FOUND, "page not found");
            }
            if !authorized(req.headers(), &token) {
                let mut r = crate::respond::error(
                    StatusCode::UNAUTHORIZED,
                    "metrics: send the daemon's metrics token as Authorization: Bearer TOKEN",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer realm=\"berth-metrics\""),
                );
                return r;
            }
            response(engine).await
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The bearer token matches (compared in constant time).
fn authorized(h: &HeaderMap, token: &str) -> bool {
    let Some(got) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (got.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::metrics::{Interface, Sample};

    #[test]
    fn routes_are_templates() {
        for (p, want) in [
            ("/containers/json", "/containers/json"),
            ("/containers/abc", "/containers/{id}"),
            ("/containers/abc/start", "/containers/{id}/start"),
            (
                "/containers/abc/stats/history",
                "/containers/{id}/stats/history",
            ),
            ("/images/reg:5000/a/b:1/json", "/images/{id}/json"),
            ("/images/reg/a/b", "/images/{id}"),
            ("/system/df", "/system/df"),
            ("/nope/x", "other"),
        ] {
            assert_eq!(route_template(p), want, "{p}");
        }
    }

    #[test]
    fn the_text_has_cadvisors_names_and_escaped_labels() {
        let snap = Snapshot {
            time: 1000.5,
            containers: vec![Sample {
                id: "abc".into(),
                name: "web".into(),
                image: "busybox".into(),
                labels: [("com.example/tier".to_owned(), "fr\"ont".to_owned())].into(),
                cpu_ns: 1_500_000_000,
                memory_limit: 64 << 20,
                net: vec![Interface {
                    name: "eth0".into(),
                    rx_bytes: 10,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            states: [("running".to_owned(), 1)].into(),
            ..Default::default()
        };
        let t = render(&snap);
        let l = r#"id="abc",image="busybox",name="web",container_label_com_example_tier="fr\"ont""#;
        assert!(
            t.contains(&format!(
                "container_cpu_usage_seconds_total{{cpu=\"total\",{l}}} 1.5\n"
            )),
            "{t}"
        );
        assert!(t.contains(&format!(
            "container_spec_memory_limit_bytes{{{l}}} 67108864\n"
        )));
        assert!(t.contains(&format!(
            "container_network_receive_bytes_total{{interface=\"eth0\",{l}}} 10\n"
        )));
        assert!(t.contains(&format!("container_last_seen{{{l}}} 1000\n")));
        assert!(t.contains("berth_containers{state=\"running\"} 1\n"));
        assert!(t.contains("# TYPE container_cpu_usage_seconds_total counter\n"));
    }

    #[test]
    fn the_token_must_match() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(authorized(&h, "s3cret"));
        assert!(!authorized(&h, "s3cres"));
        assert!(!authorized(&h, "s3cret2"));
    }
}
