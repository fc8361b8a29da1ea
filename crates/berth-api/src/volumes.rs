//! `/volumes/…`: create, list, inspect, remove, prune.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_models::volume::CreateRequest;

use crate::ctx::{Ctx, body_json};
use crate::respond::{blocking, blocking_json, blocking_status, error, json_with, read_json};

pub async fn route(ctx: &Ctx, m: &Method, tail: &str, body: Body) -> Response {
    let e = ctx.engine.clone();
    match (m, tail.trim_end_matches('/')) {
        (&Method::GET, "") => {
            let f = match ctx.filters() {
                Ok(f) => f,
                Err(r) => return r,
            };
            read_json(move || e.volume_list(&f)).await
        }
        (&Method::POST, "create") => {
            let req: CreateRequest = match body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            match blocking(move || e.volumes.create(req)).await {
                Ok(v) => json_with(StatusCode::CREATED, &v),
                Err(r) => r,
            }
        }
        (&Method::POST, "prune") => {
            let f = match ctx.filters() {
                Ok(f) => f,
                Err(r) => return r,
            };
            blocking_json(move || e.volume_prune(&f)).await
        }
        (&Method::DELETE, name) => {
            let name = name.to_owned();
            let force = ctx.flag("force");
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.volume_remove(&name, force)
            })
            .await
        }
        (&Method::GET, name) => {
            let name = name.to_owned();
            read_json(move || e.volumes.get(&name)).await
        }
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}
