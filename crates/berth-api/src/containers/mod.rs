//! `/containers/…`: the route table and the lifecycle endpoints (create, start, stop,
//! restart, kill, remove, pause, update, rename, prune, top); streams (`io`) and filesystem
//! access (`fs`) beside.

mod fs;
mod io;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_engine::containers::inspect::ListOptions;
use berth_models::container::{CreateRequest, UpdateRequest, Warnings};

pub use fs::commit;
pub use io::upgrade_of;

use crate::ctx::{Ctx, body_json};
use crate::respond::{blocking, blocking_json, blocking_status, error, json_with, read, read_json};

pub async fn route(
    ctx: &Ctx,
    m: &Method,
    tail: &str,
    parts: &mut axum::http::request::Parts,
    body: Body,
) -> Response {
    let e = ctx.engine.clone();
    match (m, tail) {
        (&Method::GET, "json") => {
            let o = match list_options(ctx) {
                Ok(o) => o,
                Err(r) => return r,
            };
            // Sizes walk every container's files: heavy work, not a quick read.
            if o.size {
                blocking_json(move || e.containers.list(&e.images, &o)).await
            } else {
                read_json(move || e.containers.list(&e.images, &o)).await
            }
        }
        (&Method::POST, "prune") => blocking_json(move || e.containers.prune()).await,
        (&Method::POST, "create") => {
            let req: CreateRequest = match body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let name = ctx.q("name").map(str::to_owned);
            let trust = crate::ctx::content_trust(&parts.headers);
            match blocking(move || e.create_container(req, name.as_deref(), trust)).await {
                Ok(v) => json_with(StatusCode::CREATED, &v),
                Err(r) => r,
            }
        }
        (&Method::DELETE, path) if ctx.flag("link") => {
            let path = path.to_owned();
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.containers.remove_link(&path)
            })
            .await
        }
        _ => {
            let (name, op) = tail.split_once('/').unwrap_or((tail, ""));
            let name = name.to_owned();
            if (m, op) == (&Method::GET, "json") {
                // The commonest call on a busy host: resolved and read in one go.
                let v = ctx.version;
                return read_json(move || {
                    let id = e.containers.resolve(&name)?;
                    e.containers.inspect(&id).map(|i| i.for_version(v))
                })
                .await;
            }
            let id = {
                let e = e.clone();
                match read(move || e.containers.resolve(&name)).await {
                    Ok(id) => id,
                    Err(r) => return r,
                }
            };
            one(ctx, m, op, id, parts, body).await
        }
    }
}

fn list_options(ctx: &Ctx) -> Result<ListOptions, Response> {
    let limit: Option<i64> = ctx.num("limit")?;
    Ok(ListOptions {
        all: ctx.flag("all"),
        filters: ctx.filters()?,
        limit: limit.filter(|l| *l > 0).map(|l| l as usize),
        size: ctx.flag("size"),
    })
}

/// The endpoints of one container.
async fn one(
    ctx: &Ctx,
    m: &Method,
    op: &str,
    id: String,
    parts: &mut axum::http::request::Parts,
    body: Body,
) -> Response {
    let e = ctx.engine.clone();
    match (m, op) {
        (&Method::POST, "pause" | "unpause") => {
            let frozen = op == "pause";
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.containers.pause(&id, frozen)
            })
            .await
        }
        (&Method::POST, "update") => {
            let req: UpdateRequest = match body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            blocking_json(move || {
                e.containers.update(&id, &req).map(|()| Warnings {
                    warnings: Some(Vec::new()),
                })
            })
            .await
        }
        (&Method::POST, "rename") => {
            let name = ctx.s("name");
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.containers.rename(&id, &name)
            })
            .await
        }
        (&Method::GET, "top") => {
            let args = ctx.s("ps_args");
            blocking_json(move || e.containers.top(&id, &args)).await
        }
        (&Method::POST, "start") => {
            let r = blocking(move || e.start_container(&id)).await;
            started(r)
        }
        (&Method::POST, "stop" | "restart") => {
            let t: Option<i64> = match ctx.num("t") {
                Ok(Some(t)) => Some(t),
                Ok(None) => match ctx.num("timeout") {
                    Ok(t) => t,
                    Err(r) => return r,
                },
                Err(r) => return r,
            };
            let restart = op == "restart";
            let r = blocking(move || e.stop_container(&id, t, restart)).await;
            started(r)
        }
        (&Method::POST, "kill") => {
            let sig = match ctx.q("signal").filter(|s| !s.is_empty()) {
                Some(s) => match berth_engine::util::parse_signal(s) {
                    Some(n) => n,
                    None => {
                        return error(StatusCode::BAD_REQUEST, format!("Invalid signal: {s}"));
                    }
                },
                None => berth_engine::util::SIGKILL,
            };
            blocking_status(StatusCode::NO_CONTENT, move || e.containers.kill(&id, sig)).await
        }
        (&Method::DELETE, "") => {
            let (force, volumes) = (ctx.flag("force"), ctx.flag("v"));
            blocking_status(StatusCode::NO_CONTENT, move || {
                e.containers.remove(&id, force, volumes)
            })
            .await
        }
        (&Method::POST, "wait") => io::wait(ctx, id).await,
        (&Method::GET, "logs") => io::logs(ctx, id).await,
        (&Method::POST, "attach") => io::attach(ctx, id, parts).await,
        (&Method::POST, "resize") => io::resize(ctx, id).await,
        (&Method::GET, "stats") => io::stats(ctx, id).await,
        (&Method::GET, "stats/history") => {
            let since = ctx.s("since");
            crate::respond::read_json(move || e.stats_history(&id, &since)).await
        }
        (&Method::POST, "exec") => crate::exec::create(ctx, id, body).await,
        (&Method::GET, "changes") => fs::changes(ctx, id).await,
        (&Method::GET, "export") => fs::export(ctx, id),
        (&Method::HEAD | &Method::GET, "archive") => fs::archive_get(ctx, m, id).await,
        (&Method::PUT, "archive") => fs::archive_put(ctx, id, body).await,
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}

/// `204` when it happened, `304` when there was nothing to do.
fn started(r: Result<bool, Response>) -> Response {
    match r {
        Ok(true) => crate::respond::status(StatusCode::NO_CONTENT),
        Ok(false) => crate::respond::status(StatusCode::NOT_MODIFIED),
        Err(r) => r,
    }
}
