//! Berth extensions for the dashboard's users and for sandboxes, on the API socket (so for
//! root and the socket's group; the read-only group may list only): `/dashboard/users…` and
//! `/sandboxes…`.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_models::dashboard::{SandboxRequest, UserRequest};

use crate::ctx::{Ctx, body_json};
use crate::respond::{blocking, blocking_json, blocking_status, error, json_with, read_json};

/// `/dashboard/users` and `/dashboard/users/{name}[/password]`.
pub async fn users(ctx: &Ctx, m: &Method, tail: &str, body: Body) -> Response {
    let e = ctx.engine.clone();
    let (name, op) = tail.split_once('/').unwrap_or((tail, ""));
    let name = name.to_owned();
    match (m, name.as_str(), op) {
        (&Method::GET, "", "") => read_json(move || e.users.list()).await,
        (&Method::POST, "", "") => {
            let r: UserRequest = match body_json(body).await {
                Ok(r) => r,
                Err(r) => return r,
            };
            match blocking(move || e.users.add(&r.name, &r.role, &r.password)).await {
                Ok(u) => json_with(StatusCode::CREATED, &u),
                Err(r) => r,
            }
        }
        (&Method::POST, _, "password") => {
            let r: UserRequest = match body_json(body).await {
                Ok(r) => r,
                Err(r) => return r,
            };
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.users.passwd(&name, &r.password)
            })
            .await
        }
        (&Method::DELETE, _, "") if !name.is_empty() => {
            blocking_status(StatusCode::NO_CONTENT, move || e.users.remove(&name)).await
        }
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}

/// `/sandboxes` and `/sandboxes/{name}[/extend]`.
pub async fn sandboxes(ctx: &Ctx, m: &Method, tail: &str, body: Body) -> Response {
    let e = ctx.engine.clone();
    let (name, op) = tail.split_once('/').unwrap_or((tail, ""));
    let name = name.to_owned();
    match (m, name.as_str(), op) {
        (&Method::GET, "", "") => {
            let owner = ctx.q("owner").filter(|o| !o.is_empty()).map(str::to_owned);
            read_json(move || e.sandboxes(owner.as_deref())).await
        }
        (&Method::POST, "", "") => {
            let r: SandboxRequest = match body_json(body).await {
                Ok(r) => r,
                Err(r) => return r,
            };
            let owner = if r.owner.is_empty() {
                "cli".to_owned()
            } else {
                r.owner
            };
            match blocking(move || e.sandbox_run(&owner, &r.image, r.ttl)).await {
                Ok(s) => json_with(StatusCode::CREATED, &s),
                Err(r) => r,
            }
        }
        (&Method::POST, _, "extend") => {
            let secs: i64 = ctx.num("seconds").ok().flatten().unwrap_or(1800);
            blocking_json(move || {
                e.sandbox_extend(None, &name, secs)
                    .map(|end| serde_json::json!({ "Expires": end }))
            })
            .await
        }
        (&Method::DELETE, _, "") if !name.is_empty() => {
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.sandbox_remove(None, &name)
            })
            .await
        }
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}
