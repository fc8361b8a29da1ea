//! `POST /grpc` and `POST /session`: the connections buildx's `docker` driver (Compose v2,
//! `docker buildx build`) hijacks to speak BuildKit's gRPC API; served by `berth-buildkit`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::containers::upgrade_of;
use crate::ctx::Ctx;
use crate::respond::error;

fn switching() -> Response {
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::CONNECTION, "Upgrade"), (header::UPGRADE, "h2c")],
    )
        .into_response()
}

fn no_upgrade(path: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("{path} needs a connection upgrade to h2c (Upgrade: h2c)"),
    )
}

/// `POST /grpc`: BuildKit's control API on the hijacked connection.
pub fn grpc(ctx: &Ctx, parts: &mut axum::http::request::Parts) -> Response {
    let Some(up) = upgrade_of(parts) else {
        return no_upgrade("/grpc");
    };
    let fe = ctx.buildkit.clone();
    tokio::spawn(async move {
        if let Ok(io) = up.await {
            fe.serve(io).await;
        }
    });
    switching()
}

fn values(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `POST /session`: the client's session (it serves files and secrets on the connection).
pub fn session(ctx: &Ctx, parts: &mut axum::http::request::Parts) -> Response {
    let Some(id) = values(&parts.headers, "x-docker-expose-session-uuid")
        .into_iter()
        .next()
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "no session id (X-Docker-Expose-Session-Uuid)",
        );
    };
    let methods = values(&parts.headers, "x-docker-expose-session-grpc-method");
    let Some(up) = upgrade_of(parts) else {
        return no_upgrade("/session");
    };
    let fe = ctx.buildkit.clone();
    tokio::spawn(async move {
        if let Ok(io) = up.await {
            fe.attach(io, id, methods).await;
        }
    });
    switching()
}
