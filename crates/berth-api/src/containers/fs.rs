//! A container's filesystem: `changes`, `export`, `archive` (HEAD, GET, PUT) and `commit`.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_models::IdResponse;

use crate::ctx::Ctx;
use crate::respond::{blocking, blocking_json, blocking_status, json_with};
use crate::stream::{blocking_body, body_reader};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub async fn changes(ctx: &Ctx, id: String) -> Response {
    let e = ctx.engine.clone();
    blocking_json(move || {
        let c = e.containers.changes(&e.images, &id)?;
        Ok((!c.is_empty()).then_some(c))
    })
    .await
}

pub fn export(ctx: &Ctx, id: String) -> Response {
    let e = ctx.engine.clone();
    blocking_body("application/x-tar", move |w| {
        e.containers.export(&e.images, &id, w)
    })
}

pub async fn archive_get(ctx: &Ctx, m: &Method, id: String) -> Response {
    let e = ctx.engine.clone();
    let path = ctx.s("path");
    let stat = {
        let (e, id, path) = (e.clone(), id.clone(), path.clone());
        match blocking(move || e.containers.archive_get(&e.images, &id, &path, None)).await {
            Ok(s) => s,
            Err(r) => return r,
        }
    };
    let value = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&stat).unwrap_or_default());
    let mut r = if m == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        blocking_body("application/x-tar", move |mut w| {
            e.containers
                .archive_get(&e.images, &id, &path, Some(&mut w))
                .map(|_| ())
        })
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
        r.headers_mut().insert(STAT_HEADER, v);
    }
    r
}

pub async fn archive_put(ctx: &Ctx, id: String, body: Body) -> Response {
    let e = ctx.engine.clone();
    let path = ctx.s("path");
    let reader = body_reader(body);
    blocking_status(StatusCode::OK, move || {
        e.containers.archive_put(&e.images, &id, &path, reader)
    })
    .await
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=`
pub async fn commit(ctx: &Ctx) -> Response {
    let e = ctx.engine.clone();
    let name = ctx.s("container");
    let (repo, tag) = (ctx.s("repo"), ctx.s("tag"));
    let target = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => String::new(),
        (false, true) => repo,
        (false, false) => format!("{repo}:{tag}"),
    };
    let (comment, author, changes) = (ctx.s("comment"), ctx.s("author"), ctx.all("changes"));
    match blocking(move || {
        let id = e.containers.resolve(&name)?;
        e.containers.commit(
            &e.images,
            &id,
            Some(target.as_str()),
            &comment,
            &author,
            &changes,
        )
    })
    .await
    {
        Ok(id) => json_with(StatusCode::CREATED, &IdResponse { id }),
        Err(r) => r,
    }
}
