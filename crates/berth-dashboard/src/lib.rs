//! Berth's web dashboard, served by the daemon on `dashboard-addr` (off unless configured),
//! always over TLS: sign-in with users and roles, pages for containers, images, networks,
//! volumes, stacks, events, sandboxes and the audit log, JSON for them under `/api/`, live
//! logs, stats charts, a console over a WebSocket. Nothing but the sign-in page and the
//! static assets answers without a session.
//!
//! Modules: `tls` (the certificate), `auth` (sessions, CSRF, sign-in throttling), `html`
//! (escaping, the layout, charts), `pages` (the HTML pages and their forms), `api` (JSON and
//! actions), `console` (exec over a WebSocket), `assets` (the vendored CSS and scripts).

mod api;
mod assets;
mod auth;
mod console;
mod html;
mod pages;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use berth_engine::Engine;
use hyper_util::rt::TokioIo;
use tower::ServiceExt as _;

/// Where the dashboard listens and how.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub tls: Tls,
    /// A session ends after this long without a request.
    pub session_timeout: Duration,
    /// Failed sign-ins (per user name, and per client address) before a pause.
    pub login_attempts: u32,
}

/// The dashboard's certificate.
#[derive(Debug, Clone)]
pub enum Tls {
    /// PEM files given by the admin.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed one, made once and kept in `dir`.
    Generated { dir: PathBuf },
}

/// What every handler shares.
pub struct App {
    pub engine: Arc<Engine>,
    pub sessions: auth::Sessions,
    pub throttle: auth::Throttle,
}

/// The client's address (for sign-in throttling).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub SocketAddr);

/// A bound dashboard, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
}

/// Check the given certificate and key (before the daemon opens anything).
pub fn check(settings: &Settings) -> std::io::Result<()> {
    match &settings.tls {
        Tls::Files { .. } => tls::server_config(&settings.tls).map(|_| ()),
        Tls::Generated { .. } => Ok(()),
    }
}

/// Bind `settings.addr` and load (or make) the certificate: errors here stop the daemon.
pub async fn bind(engine: Arc<Engine>, settings: &Settings) -> std::io::Result<Server> {
    let config = tls::server_config(&settings.tls)?;
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    let app = Arc::new(App {
        engine,
        sessions: auth::Sessions::new(settings.session_timeout),
        throttle: auth::Throttle::new(settings.login_attempts),
    });
    Ok(Server {
        listener,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        router: router(app),
    })
}

impl Server {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => return,
                a = self.listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("dashboard: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (acceptor, router) = (self.acceptor.clone(), self.router.clone());
            tokio::spawn(async move {
                // A handshake that does not finish in time holds nothing.
                let Ok(Ok(stream)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(Client(peer));
                        router.clone().oneshot(req.map(axum::body::Body::new))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    }
}

/// The strict policy every answer carries: only the dashboard's own scripts, styles,
/// images and connections; no framing; forms post only to the dashboard.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn router(app: Arc<App>) -> Router {
    let protected = pages::routes()
        .merge(api::routes())
        .merge(console::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::require_session,
        ));
    Router::new()
        .merge(auth::routes())
        .merge(assets::routes())
        .merge(protected)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}
