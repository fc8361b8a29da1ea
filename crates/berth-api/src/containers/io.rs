//! A container's streams: `logs`, `attach` (hijacked), `wait`, `stats`, `resize`.

use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::Response;
use berth_engine::containers::io::{AttachOptions, LogOptions};
use berth_engine::containers::stop::WaitCondition;

use crate::ctx::Ctx;
use crate::respond::{blocking, blocking_status, engine_error, error, json};
use crate::stream::{json_lines, streams_response};

pub async fn logs(ctx: &Ctx, id: String) -> Response {
    let tail = ctx
        .q("tail")
        .filter(|t| *t != "all")
        .and_then(|t| t.parse().ok());
    let o = LogOptions {
        stdout: ctx.flag("stdout"),
        stderr: ctx.flag("stderr"),
        follow: ctx.flag("follow"),
        timestamps: ctx.flag("timestamps"),
        tail,
        since: ctx.time("since"),
        until: ctx.time("until"),
    };
    let e = ctx.engine.clone();
    match blocking(move || e.containers.logs(&id, o)).await {
        Ok(s) => streams_response(s, None, Vec::new()),
        Err(r) => r,
    }
}

pub async fn attach(ctx: &Ctx, id: String, parts: &mut axum::http::request::Parts) -> Response {
    let keys = match ctx.q("detachKeys").filter(|k| !k.is_empty()) {
        None => crate::stream::DEFAULT_DETACH_KEYS.to_vec(),
        Some(k) => match crate::stream::detach_keys(k) {
            Ok(k) => k,
            Err(m) => return error(StatusCode::BAD_REQUEST, m),
        },
    };
    // `stream=0`: only what the log holds (with `logs=1`), then the end.
    if ctx.q("stream").is_some() && !ctx.flag("stream") {
        let o = LogOptions {
            stdout: ctx.flag("stdout") || ctx.q("stdout").is_none(),
            stderr: ctx.flag("stderr") || ctx.q("stderr").is_none(),
            follow: false,
            tail: if ctx.flag("logs") { None } else { Some(0) },
            ..Default::default()
        };
        let upgrade = upgrade_of(parts);
        let e = ctx.engine.clone();
        return match blocking(move || e.containers.logs(&id, o)).await {
            Ok(s) => streams_response(s, upgrade, Vec::new()),
            Err(r) => r,
        };
    }
    let a = AttachOptions {
        stdout: ctx.flag("stdout") || ctx.q("stdout").is_none(),
        stderr: ctx.flag("stderr") || ctx.q("stderr").is_none(),
        stdin: ctx.flag("stdin"),
        logs: ctx.flag("logs"),
    };
    let upgrade = upgrade_of(parts);
    let e = ctx.engine.clone();
    match blocking(move || e.containers.attach(&id, a)).await {
        Ok(s) => streams_response(s, upgrade, keys),
        Err(r) => r,
    }
}

/// The connection's upgrade, if the client asked to hijack it.
pub fn upgrade_of(parts: &mut axum::http::request::Parts) -> Option<hyper::upgrade::OnUpgrade> {
    parts
        .headers
        .get(header::UPGRADE)
        .is_some()
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten()
}

/// `wait`: like dockerd, the headers go out at once (clients wait for them before `start`),
/// the result when the condition is met.
pub async fn wait(ctx: &Ctx, id: String) -> Response {
    let cond = match WaitCondition::parse(&ctx.s("condition")) {
        Ok(c) => c,
        Err(e) => return engine_error(e),
    };
    let e = ctx.engine.clone();
    let before = {
        let (e, id) = (e.clone(), id.clone());
        match blocking(move || e.containers.state(&id)).await {
            Ok(s) => s,
            Err(r) => return r,
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        tokio::select! {
            r = e.containers.wait(&id, cond, &before) => { let _ = tx.send(r).await; }
            _ = tx.closed() => {}
        }
    });
    json_lines(rx, b"\n")
}

pub async fn resize(ctx: &Ctx, id: String) -> Response {
    let (Ok(Some(h)), Ok(Some(w))) = (ctx.num::<u16>("h"), ctx.num::<u16>("w")) else {
        return error(StatusCode::BAD_REQUEST, "resize needs h and w");
    };
    let e = ctx.engine.clone();
    blocking_status(StatusCode::OK, move || e.containers.resize(&id, h, w)).await
}

/// `stats`: a sample a second, each with the previous one's CPU counters; with
/// `stream=false`, one sample (two taken a second apart unless `one-shot`).
pub async fn stats(ctx: &Ctx, id: String) -> Response {
    let e = ctx.engine.clone();
    let stream = ctx.flag_or_true("stream");
    let one_shot = ctx.flag("one-shot");
    let sample = move |prev: Option<berth_models::stats::Stats>| {
        let (e, id) = (e.clone(), id.clone());
        async move { blocking(move || e.containers.stats(&id, prev.as_ref())).await }
    };
    let first = match sample(None).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !stream {
        if one_shot {
            return json(&first);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        return match sample(Some(first)).await {
            Ok(v) => json(&v),
            Err(r) => r,
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut prev = first;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Ok(cur) = sample(Some(prev)).await else {
                return;
            };
            let running = cur.read != berth_engine::containers::ZERO_TIME;
            if tx.send(cur.clone()).await.is_err() || !running {
                return;
            }
            prev = cur;
        }
    });
    json_lines(rx, b"\n")
}
