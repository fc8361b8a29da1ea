//! The whole API as a client reaches it: any method, path, query string, headers (`Upgrade`
//! for a hijack, `Content-Type`, `X-Registry-Auth`) and body, through the daemon's router,
//! onto an engine with a private state root. Nothing may panic or hang, and no request may
//! be answered 5xx: a bad request is a 4xx, as dockerd's are.
//!
//! The process first moves into namespaces of its own (network and mount), so bridges or
//! mounts a request might make never reach the host. Requests that would leave the machine
//! (pulls, pushes, `auth`), stream forever (`events`) or build loop devices (volume create
//! with options) are not sent. Run with `cargo +nightly fuzz run api_router`.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct World {
    rt: tokio::runtime::Runtime,
    app: Router,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET | nix::sched::CloneFlags::CLONE_NEWNS)
            .expect("private namespaces (run as root)");
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("private mount propagation");
        // A tmpfs over the state root: nothing the run writes outlives it.
        let root = std::env::temp_dir().join(format!("berth-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("state root");
        nix::mount::mount(
            Some("tmpfs"),
            &root,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("tmpfs state root");
        let engine = berth_engine::Engine::open(berth_engine::Config {
            data_root: root.join("data"),
            exec_root: root.join("run"),
            registry: berth_engine::RegistrySettings::default(),
            cgroup_parent: format!("/berth-fuzz-{}", std::process::id()),
            icc: true,
            dns: Vec::new(),
            defaults: berth_engine::containers::Defaults::default(),
        })
        .expect("engine");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let app = berth_api::app(Arc::new(engine), berth_api::Options::default());
        World { rt, app }
    })
}

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::DELETE, Method::HEAD, Method::PUT];

/// Paths a request may not take here (see the module's comment).
fn excluded(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    let p = match p.strip_prefix('v').and_then(|r| r.split_once('/')) {
        Some((v, rest)) if v.contains('.') => rest,
        _ => p,
    };
    let p = p.to_ascii_lowercase();
    p.starts_with("events")
        || p.starts_with("auth")
        || p.starts_with("build")
        || p.starts_with("images/create")
        || p.starts_with("images/search")
        || p.ends_with("/push")
        || p.starts_with("volumes/create")
        || p.contains('%')
}

fuzz_target!(|data: &[u8]| {
    // method byte, then path \0 query \0 headers (name:value lines) \0 body
    let Some((&m, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(4, |b| *b == 0);
    let (Some(path), Some(query)) = (parts.next(), parts.next()) else { return };
    let headers = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().to_vec();
    let (Ok(path), Ok(query)) = (std::str::from_utf8(path), std::str::from_utf8(query)) else {
        return;
    };
    if !path.starts_with('/') || excluded(path) {
        return;
    }
    let uri = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
    let mut req = Request::builder().method(METHODS[m as usize % METHODS.len()].clone()).uri(uri);
    for line in headers.split(|b| *b == b'\n') {
        if let Some(i) = line.iter().position(|b| *b == b':') {
            let (k, v) = (&line[..i], &line[i + 1..]);
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k),
                axum::http::HeaderValue::from_bytes(v),
            ) {
                req = req.header(k, v);
            }
        }
    }
    let Ok(req) = req.body(Body::from(body)) else { return };
    let what = format!("{} {}", req.method(), req.uri());
    let w = world();
    let (status, answer) = w.rt.block_on(async {
        let resp = tokio::time::timeout(Duration::from_secs(10), w.app.clone().oneshot(req))
            .await
            .expect("the request hung")
            .expect("infallible");
        let status = resp.status();
        // Read the body too: streamed answers fail there.
        let body = tokio::time::timeout(
            Duration::from_secs(10),
            axum::body::to_bytes(resp.into_body(), 1 << 24),
        )
        .await
        .expect("the response body hung")
        .unwrap_or_default();
        (status, String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned())
    });
    assert!(!status.is_server_error(), "{what} answered {status}: {answer}");
});
