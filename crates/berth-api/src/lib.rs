#![recursion_limit = "256"]
//! The Docker Engine API over Berth's engine. One dispatcher routes by method and path (image
//! names contain slashes, so routes are matched by hand, as dockerd's `{name:.*}` patterns
//! are); `/vX.Y/` prefixes are checked against the supported range and stripped; errors are
//! `{"message": …}` with dockerd's status codes; a panicking handler fails its request only.

mod containers;
mod images;
mod networks;
mod system;
mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;

/// The API version Berth speaks, and the oldest it accepts.
pub const API_VERSION: &str = "1.51";
pub const MIN_API_VERSION: &str = "1.24";

/// Parsed `major.minor`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// What every handler gets: the engine, the request's API version and its query.
pub struct Ctx {
    pub engine: Arc<Engine>,
    pub version: (u32, u32),
    pub query: Vec<(String, String)>,
}

impl Ctx {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean query values: `1`, `true`, `True` (anything but 0/false/empty).
    pub fn flag(&self, k: &str) -> bool {
        self.q(k)
            .is_some_and(|v| !matches!(v, "" | "0" | "false" | "False" | "FALSE"))
    }
}

/// A `{"message": …}` error response.
pub fn error(status: u16, msg: impl Into<String>) -> Response {
    let body = serde_json::json!({"message": msg.into()}).to_string();
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

pub fn engine_error(e: berth_engine::Error) -> Response {
    error(e.status(), e.to_string())
}

/// A JSON response.
pub fn json(v: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            b,
        )
            .into_response(),
        Err(e) => error(500, e.to_string()),
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error(500, "internal error: the request's handler panicked")
}

/// The router: every request goes through [`dispatch`].
pub fn app(engine: Arc<Engine>) -> Router {
    guarded(Router::new().fallback(dispatch).with_state(engine))
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
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(engine))
        .with_graceful_shutdown(shutdown)
        .await
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

async fn dispatch(State(engine): State<Arc<Engine>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_owned();
    // `/v1.51/...` → version and the rest; unversioned paths get the newest version.
    let (version, path) = match raw_path.strip_prefix("/v").and_then(|r| {
        let (v, rest) = r.split_once('/')?;
        Some((v.to_owned(), format!("/{rest}")))
    }) {
        Some((v, rest)) if parse_version(&v).is_some() => {
            let Some(ver) = parse_version(&v) else {
                return error(400, format!("invalid API version {v}"));
            };
            let min = parse_version(MIN_API_VERSION).unwrap_or((1, 24));
            let max = parse_version(API_VERSION).unwrap_or((1, 51));
            if ver < min {
                return error(
                    400,
                    format!(
                        "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                    ),
                );
            }
            if ver > max {
                return error(
                    400,
                    format!(
                        "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                    ),
                );
            }
            (ver, rest)
        }
        _ => (
            parse_version(API_VERSION).unwrap_or((1, 51)),
            raw_path.clone(),
        ),
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let ctx = Ctx {
        engine,
        version,
        query,
    };
    let path = percent_decode(&path);
    let m = parts.method.clone();
    let mut resp = match (&m, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/_ping") => system::ping(&m),
        (&Method::GET, "/version") => system::version(&ctx),
        (&Method::GET, "/info") => system::info(&ctx),
        (&Method::POST, "/auth") => system::auth(&ctx, body).await,
        (&Method::GET, "/events") => system::events(&ctx).await,
        (&Method::GET, "/system/df") => system::df(&ctx),
        (&Method::POST, "/commit") => containers::commit(&ctx).await,
        (_, "/networks") => networks::route(&ctx, &m, "", body).await,
        (_, "/volumes") => volumes::route(&ctx, &m, "", body).await,
        (_, p) if p.starts_with("/volumes/") => {
            let tail = p["/volumes/".len()..].to_owned();
            volumes::route(&ctx, &m, &tail, body).await
        }
        (_, p) if p.starts_with("/networks/") => {
            let tail = p["/networks/".len()..].to_owned();
            networks::route(&ctx, &m, &tail, body).await
        }
        (_, p) if p.starts_with("/images/") => {
            images::route(&ctx, &m, &p["/images/".len()..], &parts.headers, body).await
        }
        (_, p) if p.starts_with("/exec/") => {
            let tail = p["/exec/".len()..].to_owned();
            containers::exec_route(&ctx, &m, &tail, &mut parts, body).await
        }
        (_, p) if p.starts_with("/containers/") => {
            let tail = p["/containers/".len()..].to_owned();
            containers::route(&ctx, &m, &tail, &mut parts, body).await
        }
        _ => error(404, "page not found"),
    };
    // Every response says which API it speaks, as dockerd's do.
    let h = resp.headers_mut();
    h.insert("Api-Version", header::HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", header::HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        header::HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// A body of newline-separated JSON messages fed from a channel (progress streams).
pub fn json_stream(rx: tokio::sync::mpsc::Receiver<serde_json::Value>) -> Body {
    use futures_util::StreamExt;
    let s = tokio_stream::wrappers::ReceiverStream::new(rx).map(|v| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.extend_from_slice(b"\r\n");
        Ok::<_, std::io::Error>(bytes::Bytes::from(b))
    });
    Body::from_stream(s)
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn versions_parse() {
        assert_eq!(parse_version("1.51"), Some((1, 51)));
        assert!(parse_version("1.x").is_none());
        assert!(parse_version(MIN_API_VERSION) < parse_version(API_VERSION));
    }
}
