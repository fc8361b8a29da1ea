//! The Docker Engine API over Berth's engine: parse, call the engine, serialize. One
//! dispatcher routes by method and path (image names contain slashes, so routes are matched
//! by hand, as dockerd's `{name:.*}` patterns are); `/vX.Y/` prefixes are checked against the
//! supported range and stripped; errors are `{"message": …}` with dockerd's status codes; a
//! panicking handler fails its request only (the release build unwinds, see ARCHITECTURE.md).
//!
//! Modules: `ctx` (query and body parsing), `respond` (responses, error mapping), `stream`
//! (multiplexed and hijacked streams, JSON message streams, blocking bodies), one module per
//! resource.

// Handlers answer early with a ready response: `Result<_, Response>` is the idiom here.
#![allow(clippy::result_large_err)]

mod build;
mod buildkit;
mod containers;
mod ctx;
mod dashboard;
mod exec;
mod images;
pub mod metrics;
mod networks;
pub mod priority;
mod respond;
mod stream;
mod swarm;
mod system;
mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use berth_engine::Engine;
use berth_models::ApiVersion;

pub use ctx::Ctx;
use respond::error;

/// The API version Berth speaks, and the oldest it accepts.
pub const API_VERSION: &str = "1.51";
pub const MIN_API_VERSION: &str = "1.24";

/// How the API is served.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `POST /_berth/test/panic` panics in its handler (for the test that proves a panic
    /// fails only its request; off unless the daemon is started for that test).
    pub panic_route: bool,
    /// Callers other than root may read but not change anything (the socket's group is the
    /// daemon's `read-only-group`).
    pub read_only_non_root: bool,
}

/// The caller at the other end of the socket (SO_PEERCRED).
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, tokio::net::UnixListener>,
    > for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        s.io().peer_cred().map_or(Peer::default(), |c| Peer {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid().unwrap_or(0),
        })
    }
}

#[derive(Clone)]
struct AppState {
    engine: Arc<Engine>,
    buildkit: Arc<berth_buildkit::Frontend>,
    options: Options,
}

/// The router: every request goes through [`dispatch`].
pub fn app(engine: Arc<Engine>, options: Options) -> Router {
    guarded(Router::new().fallback(dispatch).with_state(AppState {
        buildkit: berth_buildkit::Frontend::new(engine.clone()),
        engine,
        options,
    }))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the request's handler panicked",
    )
}

/// A handler that panics fails its own request with a 500, never the daemon.
fn guarded(r: Router) -> Router {
    r.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        panic_response,
    ))
}

/// Serve the API on `listener` until `shutdown` completes (in-flight requests finish).
pub async fn serve(
    engine: Arc<Engine>,
    options: Options,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(engine, options).into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// `/v1.51/...` → (version, the rest); unversioned paths get the newest version.
fn split_version(raw: &str) -> Result<(ApiVersion, String), Response> {
    let Some((v, rest)) = raw.strip_prefix("/v").and_then(|r| r.split_once('/')) else {
        return Ok((ApiVersion::CURRENT, raw.to_owned()));
    };
    let Some(ver) = ApiVersion::parse(v) else {
        return Ok((ApiVersion::CURRENT, raw.to_owned()));
    };
    if ver < ApiVersion::MIN {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            ),
        ));
    }
    if ver > ApiVersion::CURRENT {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "client version {v} is too new. Maximum supported API version is {API_VERSION}"
            ),
        ));
    }
    Ok((ver, format!("/{rest}")))
}

async fn dispatch(State(st): State<AppState>, req: Request) -> Response {
    priority::request_thread();
    let began = std::time::Instant::now();
    let (mut parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<Peer>>()
        .map(|c| c.0);
    let mutating = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let refused = mutating && st.options.read_only_non_root && peer.is_none_or(|p| p.uid != 0);
    let mut resp = match split_version(parts.uri.path()) {
        Err(r) => r,
        Ok(_) if refused => error(
            StatusCode::FORBIDDEN,
            format!(
                "permission denied: uid {} may only read (the daemon's read-only group)",
                peer.map_or(u32::MAX, |p| p.uid)
            ),
        ),
        Ok((version, path)) => {
            let query =
                url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
            let ctx = Ctx {
                engine: st.engine.clone(),
                buildkit: st.buildkit.clone(),
                version,
                query,
            };
            let path = percent_decode(&path);
            let m = parts.method.clone();
            tracing::debug!("Calling {m} {}", parts.uri);
            route(&ctx, &st.options, &m, &path, &mut parts, body).await
        }
    };
    log_failure(&parts, &resp);
    let path = split_version(parts.uri.path()).map_or_else(|_| String::new(), |(_, p)| p);
    metrics::observe(
        parts.method.as_str(),
        &path,
        resp.status().as_u16(),
        began.elapsed(),
    );
    if mutating {
        audit(&st.engine, peer, &parts, &resp);
    }
    // Every response says which API it speaks, as dockerd's do.
    let h = resp.headers_mut();
    h.insert("Api-Version", header::HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", header::HeaderValue::from_static("linux"));
    h.insert(
        "Docker-Experimental",
        header::HeaderValue::from_static("false"),
    );
    h.insert(
        header::SERVER,
        header::HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// A mutating request in the engine's audit log: who, what, on which object, the result.
fn audit(engine: &Engine, peer: Option<Peer>, parts: &axum::http::request::Parts, resp: &Response) {
    let p = peer.unwrap_or_default();
    let path =
        split_version(parts.uri.path()).map_or_else(|_| parts.uri.path().to_owned(), |(_, p)| p);
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let q = |k: &str| {
        query
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let target = match segs.as_slice() {
        ["containers", "create"] | ["networks", "create"] | ["volumes", "create"] => q("name"),
        ["images", "create"] => [q("fromImage"), q("fromSrc")].concat(),
        ["build"] => q("t"),
        ["images", "load"] => String::new(),
        ["commit"] => q("container"),
        [_, "prune"] | [_] => String::new(),
        [_, name, ..] => percent_decode(name),
        _ => String::new(),
    };
    let error = resp
        .extensions()
        .get::<respond::ErrorText>()
        .map(|e| e.0.clone())
        .unwrap_or_default();
    let r = berth_engine::audit_log::Request {
        uid: p.uid,
        gid: p.gid,
        pid: p.pid,
        method: parts.method.to_string(),
        path,
        target,
        status: resp.status().as_u16(),
        error,
        user: String::new(),
    };
    if let Err(e) = engine.audit.append(r) {
        tracing::error!("audit log: {e}");
    }
}

/// A failed request in the daemon's log, as dockerd words it: server errors at `error`,
/// the client's at `info` (dockerd keeps those for `debug`; a user debugging a client wants
/// them).
fn log_failure(parts: &axum::http::request::Parts, resp: &Response) {
    let status = resp.status();
    if !status.is_client_error() && !status.is_server_error() {
        return;
    }
    let err = resp
        .extensions()
        .get::<respond::ErrorText>()
        .map(|e| e.0.as_str())
        .unwrap_or_default();
    let (m, path) = (&parts.method, parts.uri.path());
    let status = status.as_u16();
    if status >= 500 {
        tracing::error!(status, "Handler for {m} {path} returned error: {err}");
    } else {
        tracing::info!(status, "Handler for {m} {path} returned error: {err}");
    }
}

async fn route(
    ctx: &Ctx,
    options: &Options,
    m: &Method,
    path: &str,
    parts: &mut axum::http::request::Parts,
    body: axum::body::Body,
) -> Response {
    let tail = |prefix: &str| path.strip_prefix(prefix).map(str::to_owned);
    match (m, path) {
        (&Method::GET | &Method::HEAD, "/_ping") => system::ping(m),
        (&Method::GET, "/version") => system::version(),
        (&Method::GET, "/info") => system::info(ctx).await,
        (&Method::GET, "/metrics") => metrics::response(ctx.engine.clone()).await,
        (&Method::POST, "/config/reload") => system::reload(ctx).await,
        (&Method::POST, "/mirrors/test") => system::mirror_test(ctx, body).await,
        (&Method::POST, "/mirrors/use") => system::mirrors_use(ctx, body).await,
        (&Method::GET, "/audit/log") => {
            let (e, since) = (ctx.engine.clone(), ctx.s("since"));
            respond::read_json(move || e.audit.entries(&since)).await
        }
        (&Method::GET, "/audit/checks") => {
            let e = ctx.engine.clone();
            respond::blocking_json(move || e.audit()).await
        }
        (&Method::GET, "/audit/rules") => {
            let text = ctx.engine.audit_rules();
            axum::response::IntoResponse::into_response(text)
        }
        (&Method::GET, "/audit/log/verify") => {
            let e = ctx.engine.clone();
            respond::read_json(move || e.audit.verify()).await
        }
        (&Method::POST, "/auth") => system::auth(ctx, body).await,
        (&Method::GET, "/events") => system::events(ctx).await,
        (&Method::GET, "/system/df") => system::df(ctx).await,
        (&Method::POST, "/commit") => containers::commit(ctx).await,
        (&Method::POST, "/build") => {
            let headers = parts.headers.clone();
            build::build(ctx, &headers, body).await
        }
        (&Method::POST, "/build/prune") => build::prune(ctx).await,
        (&Method::POST, "/grpc") => buildkit::grpc(ctx, parts),
        (&Method::POST, "/session") => buildkit::session(ctx, parts),
        (&Method::POST, "/_berth/test/panic") if options.panic_route => {
            panic!("a panic asked for by the panic test's route")
        }
        (_, "/networks") => networks::route(ctx, m, "", body).await,
        (&Method::GET, "/network-policies") => {
            let e = ctx.engine.clone();
            respond::read_json(move || e.networks.policies()).await
        }
        (&Method::POST, "/network-policies/create") => {
            let p: berth_models::network::NetworkPolicy = match ctx::body_json(body).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let e = ctx.engine.clone();
            match respond::blocking(move || e.networks.create_policy(p)).await {
                Ok(p) => respond::json_with(StatusCode::CREATED, &p),
                Err(r) => r,
            }
        }
        (_, "/volumes") => volumes::route(ctx, m, "", body).await,
        (_, "/dashboard/users") => dashboard::users(ctx, m, "", body).await,
        (_, "/sandboxes") => dashboard::sandboxes(ctx, m, "", body).await,
        _ => {
            if let Some(t) = tail("/volumes/") {
                volumes::route(ctx, m, &t, body).await
            } else if let Some(t) = tail("/dashboard/users/") {
                dashboard::users(ctx, m, &t, body).await
            } else if let Some(t) = tail("/sandboxes/") {
                dashboard::sandboxes(ctx, m, &t, body).await
            } else if let Some(name) = tail("/network-policies/") {
                let e = ctx.engine.clone();
                match *m {
                    Method::GET => respond::read_json(move || e.networks.policy(&name)).await,
                    Method::DELETE => {
                        respond::blocking_status(StatusCode::NO_CONTENT, move || {
                            e.networks.remove_policy(&name)
                        })
                        .await
                    }
                    _ => error(StatusCode::NOT_FOUND, "page not found"),
                }
            } else if let Some(t) = tail("/networks/") {
                networks::route(ctx, m, &t, body).await
            } else if let Some(t) = tail("/images/") {
                let headers = parts.headers.clone();
                images::route(ctx, m, &t, &headers, body).await
            } else if let Some(t) = tail("/exec/") {
                exec::route(ctx, m, &t, parts, body).await
            } else if let Some(t) = tail("/containers/") {
                containers::route(ctx, m, &t, parts, body).await
            } else if let Some(r) = swarm::route(m, path) {
                r
            } else {
                error(StatusCode::NOT_FOUND, "page not found")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_fails_only_its_request() {
        let app = guarded(
            Router::new()
                .route(
                    "/boom",
                    axum::routing::get(|| async {
                        let fail = true;
                        if fail {
                            panic!("boom");
                        }
                        "never"
                    }),
                )
                .route("/fine", axum::routing::get(|| async { "fine" })),
        );
        let res = app
            .clone()
            .oneshot(
                Request::builder()
                    .uri("/boom")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        assert!(String::from_utf8_lossy(&body).contains("\"message\""));
        let res = app
            .oneshot(
                Request::builder()
                    .uri("/fine")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[test]
    fn versions_are_checked_and_stripped() {
        let Ok((v, rest)) = split_version("/v1.41/containers/json") else {
            panic!("{} is fine", "/v1.41/containers/json")
        };
        assert_eq!(
            (v, rest.as_str()),
            (ApiVersion::new(1, 41), "/containers/json")
        );
        let Ok((v, rest)) = split_version("/_ping") else {
            panic!("{} is fine", "/_ping")
        };
        assert_eq!((v, rest.as_str()), (ApiVersion::CURRENT, "/_ping"));
        assert!(split_version("/v1.12/info").is_err());
        assert!(split_version("/v9.99/info").is_err());
        // Not a version: a path like any other.
        let Ok((_, rest)) = split_version("/volumes/x") else {
            panic!("{} is fine", "/volumes/x")
        };
        assert_eq!(rest, "/volumes/x");
    }
}
