//! `/networks/…`: create, list, inspect, remove, prune, connect, disconnect.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_models::network::{ConnectRequest, CreateRequest, DisconnectRequest};

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
            read_json(move || e.networks.list(&f)).await
        }
        (&Method::POST, "create") => {
            let req: CreateRequest = match body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            match blocking(move || e.networks.create(&req)).await {
                Ok(v) => json_with(StatusCode::CREATED, &v),
                Err(r) => r,
            }
        }
        (&Method::POST, "prune") => blocking_json(move || e.network_prune()).await,
        (&Method::DELETE, name) => {
            let name = name.to_owned();
            blocking_status(StatusCode::NO_CONTENT, move || e.networks.remove(&name)).await
        }
        (&Method::GET, name) => {
            let name = name.to_owned();
            read_json(move || e.network_inspect(&name)).await
        }
        (&Method::POST, t) => {
            let Some((name, op)) = t.rsplit_once('/') else {
                return error(StatusCode::NOT_FOUND, "page not found");
            };
            let name = name.to_owned();
            match op {
                "connect" => {
                    let req: ConnectRequest = match body_json(body).await {
                        Ok(v) => v,
                        Err(r) => return r,
                    };
                    blocking_status(StatusCode::OK, move || {
                        e.containers.connect(
                            &req.container,
                            &name,
                            req.endpoint_config.unwrap_or_default(),
                        )
                    })
                    .await
                }
                "disconnect" => {
                    let req: DisconnectRequest = match body_json(body).await {
                        Ok(v) => v,
                        Err(r) => return r,
                    };
                    blocking_status(StatusCode::OK, move || {
                        e.containers.disconnect(&req.container, &name, req.force)
                    })
                    .await
                }
                _ => error(StatusCode::NOT_FOUND, "page not found"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}
