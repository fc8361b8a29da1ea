//! `/_ping`, `/version`, `/info`, `/auth`, `/events`, `/system/df`.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_models::events::Message;
use berth_models::system::{AuthConfig, AuthResponse};

use crate::ctx::{Ctx, body_json};
use crate::respond::{blocking_json, engine_error, error, json, json_with};
use crate::stream::json_lines;

pub fn ping(m: &Method) -> Response {
    let body = if *m == Method::HEAD { "" } else { "OK" };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (
                header::HeaderName::from_static("docker-experimental"),
                "false",
            ),
            (header::HeaderName::from_static("builder-version"), "1"),
        ],
        body,
    )
        .into_response()
}

pub fn version() -> Response {
    json(&berth_engine::system::version())
}

pub async fn info(ctx: &Ctx) -> Response {
    let e = ctx.engine.clone();
    blocking_json(move || Ok(e.info())).await
}

pub async fn df(ctx: &Ctx) -> Response {
    let e = ctx.engine.clone();
    let v = ctx.version;
    blocking_json(move || {
        let mut d = e.disk_usage()?;
        d.images = d.images.into_iter().map(|i| i.for_version(v)).collect();
        Ok(d)
    })
    .await
}

pub async fn auth(ctx: &Ctx, body: Body) -> Response {
    let a: AuthConfig = match body_json(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ctx
        .engine
        .auth(&a.serveraddress, &a.username, &a.password)
        .await
    {
        Ok(()) => json(&AuthResponse {
            status: "Login Succeeded".into(),
            identity_token: String::new(),
        }),
        Err(e) => engine_error(e),
    }
}

/// `GET /events`: past events from `since`, then live ones until `until` (or the client
/// leaves), filtered.
pub async fn events(ctx: &Ctx) -> Response {
    let filters = match ctx.filters() {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(e) = filters.check(&berth_engine::events::FILTER_KEYS) {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    // `since=0` is the epoch (everything kept), not "unset".
    // To the nanosecond, as the docker CLI sends them (`--since 2024-…T…Z` → `secs.nanos`).
    let since = ctx.q("since").and_then(crate::ctx::api_time_nanos);
    let until_ns = ctx
        .q("until")
        .and_then(crate::ctx::api_time_nanos)
        .filter(|t| *t > 0);
    let until = until_ns.map(|u| u.div_euclid(1_000_000_000) + 1);
    let (past, mut rx) = ctx
        .engine
        .events
        .subscribe(since.map(|s| s.div_euclid(1_000_000_000)));
    let (tx, out) = tokio::sync::mpsc::channel::<Message>(256);
    tokio::spawn(async move {
        for ev in past {
            if until_ns.is_some_and(|u| ev.time_nano > u) || since.is_some_and(|s| ev.time_nano < s)
            {
                continue;
            }
            if berth_engine::events::matches(&ev, &filters) && tx.send(ev).await.is_err() {
                return;
            }
        }
        loop {
            let next = match until {
                Some(u) => {
                    let left = u.saturating_sub(berth_engine::time::now()).max(0) as u64;
                    match tokio::time::timeout(std::time::Duration::from_secs(left), rx.recv())
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
                None => tokio::select! {
                    r = rx.recv() => r,
                    _ = tx.closed() => return,
                },
            };
            match next {
                Ok(ev) => {
                    if until_ns.is_some_and(|u| ev.time_nano > u) {
                        return;
                    }
                    if berth_engine::events::matches(&ev, &filters) && tx.send(ev).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    json_lines(out, b"\n")
}

/// `POST /config/reload` (a Berth extension): the daemon reads its config file again, as on
/// SIGHUP, and answers with what changed.
pub async fn reload(ctx: &Ctx) -> Response {
    let Some(tx) = ctx.engine.live.reload.get() else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "this daemon cannot reload its configuration",
        );
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if tx.send(reply).await.is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the daemon's reloader is gone",
        );
    }
    match tokio::time::timeout(std::time::Duration::from_secs(60), answer).await {
        Ok(Ok(report)) if report.error.is_empty() => json(&report),
        Ok(Ok(report)) => json_with(StatusCode::BAD_REQUEST, &report),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the reload did not answer",
        ),
    }
}

/// `POST /mirrors/test`: each candidate measured, fastest first.
pub async fn mirror_test(ctx: &Ctx, body: axum::body::Body) -> Response {
    let req: berth_models::system::MirrorTestRequest = match crate::ctx::body_json(body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match ctx.engine.mirror_test(req).await {
        Ok(v) => json(&v),
        Err(e) => crate::respond::engine_error(e),
    }
}

/// `POST /mirrors/use`: the daemon's `registry-mirrors`, written and applied.
pub async fn mirrors_use(ctx: &Ctx, body: axum::body::Body) -> Response {
    let req: berth_models::system::MirrorUseRequest = match crate::ctx::body_json(body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match ctx.engine.mirrors_use(&req.mirrors).await {
        Ok(report) if report.error.is_empty() => json(&report),
        Ok(report) => json_with(StatusCode::BAD_REQUEST, &report),
        Err(e) => crate::respond::engine_error(e),
    }
}
