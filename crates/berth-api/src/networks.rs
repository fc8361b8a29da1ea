//! `/networks/…`: create, list, inspect, remove, prune, connect, disconnect.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::containers::blocking;
use crate::{Ctx, engine_error, error, json};

pub async fn route(ctx: &Ctx, m: &Method, tail: &str, body: Body) -> Response {
    let e = ctx.engine.clone();
    let filters = match berth_engine::images::parse_filters(ctx.q("filters")) {
        Ok(f) => f,
        Err(err) => return engine_error(err),
    };
    let r = match (m, tail.trim_end_matches('/')) {
        (&Method::GET, "") => blocking(move || e.networks.list(&filters).map(|v| json!(v))).await,
        (&Method::POST, "create") => {
            let v = match crate::system::body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            return match blocking(move || e.networks.create(&v)).await {
                Ok(v) => (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    v.to_string(),
                )
                    .into_response(),
                Err(r) => r,
            };
        }
        (&Method::POST, "prune") => blocking(move || {
            let in_use = e.containers.networks_in_use()?;
            let gone = e.networks.prune(&in_use)?;
            Ok(json!({"NetworksDeleted": if gone.is_empty() { Value::Null } else { json!(gone) }}))
        })
        .await,
        (&Method::DELETE, name) => {
            let name = name.to_owned();
            return match blocking(move || e.networks.remove(&name)).await {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(r) => r,
            };
        }
        (&Method::GET, name) => {
            let name = name.to_owned();
            blocking(move || {
                let names = |id: &str| e.containers.name_of(id);
                e.networks.inspect(&name, &names)
            })
            .await
        }
        (&Method::POST, t) => {
            let Some((name, op)) = t.rsplit_once('/') else {
                return error(404, "page not found");
            };
            let (name, op) = (name.to_owned(), op.to_owned());
            let v = match crate::system::body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let r = match op.as_str() {
                "connect" => {
                    blocking(move || {
                        let c = v["Container"].as_str().unwrap_or_default();
                        e.containers.connect(c, &name, &v["EndpointConfig"])
                    })
                    .await
                }
                "disconnect" => {
                    blocking(move || {
                        let c = v["Container"].as_str().unwrap_or_default();
                        e.containers
                            .disconnect(c, &name, v["Force"].as_bool().unwrap_or(false))
                    })
                    .await
                }
                _ => return error(404, "page not found"),
            };
            return match r {
                Ok(()) => StatusCode::OK.into_response(),
                Err(r) => r,
            };
        }
        _ => return error(404, "page not found"),
    };
    match r {
        Ok(v) => json(&v),
        Err(r) => r,
    }
}
