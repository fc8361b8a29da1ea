//! Responses: JSON bodies, dockerd's `{"message"}` errors with the status its errdefs give
//! each kind of engine error, and running blocking engine work off the async threads.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::Kind;
use berth_models::ErrorResponse;

/// An error response's message, kept beside its body for the daemon's log.
#[derive(Debug, Clone)]
pub struct ErrorText(pub String);

/// A `{"message": …}` error response.
pub fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let message = msg.into();
    let body = serde_json::to_vec(&ErrorResponse {
        message: message.clone(),
    })
    .unwrap_or_default();
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    r.extensions_mut().insert(ErrorText(message));
    r
}

/// The status dockerd answers with for an engine error's kind.
pub fn status_of(k: Kind) -> StatusCode {
    match k {
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::InvalidParameter => StatusCode::BAD_REQUEST,
        Kind::Unauthorized => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn engine_error(e: berth_engine::Error) -> Response {
    error(status_of(e.kind()), e.to_string())
}

/// A JSON body with `status`.
pub fn json_with(status: StatusCode, v: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// A `200` JSON body.
pub fn json(v: &impl serde::Serialize) -> Response {
    json_with(StatusCode::OK, v)
}

pub fn status(s: StatusCode) -> Response {
    s.into_response()
}

/// Run blocking engine work off the async threads; its error becomes the response.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Result<T, Response> {
    joined(tokio::task::spawn_blocking(f).await)
}

/// The outcome of engine work run on another thread, its error as the response.
fn joined<T>(r: Result<berth_engine::Result<T>, tokio::task::JoinError>) -> Result<T, Response> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(engine_error(e)),
        Err(j) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {j}"),
        )),
    }
}

/// Run a read of the engine's state (a list, an inspect, resolving a name) on the threads
/// kept for reads, which run at a higher priority than the engine's heavy work (creates,
/// starts, removals and the shims they spawn, all on `blocking`'s threads): on a host busy
/// starting containers, `ps` and inspect still answer in milliseconds. A read must neither
/// spawn processes (they would inherit the priority) nor wait on a container.
pub async fn read<T: Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Result<T, Response> {
    joined(crate::priority::reads().spawn_blocking(f).await)
}

/// `read`, answered with the value as `200` JSON.
pub async fn read_json<T: serde::Serialize + Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Response {
    match read(f).await {
        Ok(v) => json(&v),
        Err(r) => r,
    }
}

/// `blocking`, answered with the value as `200` JSON.
pub async fn blocking_json<T: serde::Serialize + Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Response {
    match blocking(f).await {
        Ok(v) => json(&v),
        Err(r) => r,
    }
}

/// `blocking`, answered with `s` and no body.
pub async fn blocking_status(
    s: StatusCode,
    f: impl FnOnce() -> berth_engine::Result<()> + Send + 'static,
) -> Response {
    match blocking(f).await {
        Ok(()) => status(s),
        Err(r) => r,
    }
}
