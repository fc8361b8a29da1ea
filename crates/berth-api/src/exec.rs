//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`,
//! `POST /exec/{id}/resize`.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_models::IdResponse;
use berth_models::exec::{CreateRequest, StartRequest};

use crate::ctx::{Ctx, body_json};
use crate::respond::{blocking, blocking_status, error, json_with, read_json, status};
use crate::stream::{DEFAULT_DETACH_KEYS, detach_keys, streams_response};

pub async fn create(ctx: &Ctx, id: String, body: Body) -> Response {
    let req: CreateRequest = match body_json(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let e = ctx.engine.clone();
    match blocking(move || e.containers.exec_create(&id, req)).await {
        Ok(id) => json_with(StatusCode::CREATED, &IdResponse { id }),
        Err(r) => r,
    }
}

pub async fn route(
    ctx: &Ctx,
    m: &Method,
    tail: &str,
    parts: &mut axum::http::request::Parts,
    body: Body,
) -> Response {
    let e = ctx.engine.clone();
    let (exec_id, op) = tail.split_once('/').unwrap_or((tail, ""));
    let exec_id = exec_id.to_owned();
    match (m, op) {
        (&Method::GET, "json") => read_json(move || e.containers.exec_inspect(&exec_id)).await,
        (&Method::POST, "resize") => {
            let h = ctx.num::<u16>("h").ok().flatten().unwrap_or(0);
            let w = ctx.num::<u16>("w").ok().flatten().unwrap_or(0);
            blocking_status(StatusCode::OK, move || {
                e.containers.exec_resize(&exec_id, h, w)
            })
            .await
        }
        (&Method::POST, "start") => {
            let req: StartRequest = match body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let upgrade = crate::containers::upgrade_of(parts);
            // The framing follows the start request's Tty, not the exec's (as dockerd's): a
            // terminal's output is multiplexed as stdout when the start says `Tty: false`.
            let framing_tty = req.tty;
            let started = blocking(move || {
                let keys = e.containers.exec_inspect(&exec_id)?.detach_keys;
                Ok((e.containers.exec_start(&exec_id, &req)?, keys))
            })
            .await;
            match started {
                Ok((Some(mut s), keys)) => {
                    let keys = match keys.as_str() {
                        "" => DEFAULT_DETACH_KEYS.to_vec(),
                        k => match detach_keys(k) {
                            Ok(k) => k,
                            Err(m) => return error(StatusCode::BAD_REQUEST, m),
                        },
                    };
                    s.tty = framing_tty;
                    streams_response(s, upgrade, keys)
                }
                Ok((None, _)) => status(StatusCode::OK),
                Err(r) => r,
            }
        }
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}
