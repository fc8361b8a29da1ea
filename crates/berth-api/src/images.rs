//! `/images/…`

use std::io::{Read, Write};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_engine::Engine;
use berth_image::archive::SaveFormat;
use berth_image::registry::{Credentials, Progress};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::{Ctx, engine_error, error, json, json_stream};

pub async fn route(ctx: &Ctx, m: &Method, tail: &str, headers: &HeaderMap, body: Body) -> Response {
    let e = ctx.engine.clone();
    match (m, tail) {
        (&Method::GET, "json") => {
            let filters = match berth_engine::images::parse_filters(ctx.q("filters")) {
                Ok(f) => f,
                Err(err) => return engine_error(err),
            };
            blocking(move || e.image_list(&filters)).await
        }
        (&Method::POST, "create") => create(ctx, headers, body).await,
        (&Method::POST, "load") => load(ctx, body).await,
        (&Method::GET, "get") => save(ctx, ctx.all("names")).await,
        (&Method::POST, "prune") => {
            let filters = match berth_engine::images::parse_filters(ctx.q("filters")) {
                Ok(f) => f,
                Err(err) => return engine_error(err),
            };
            blocking(move || e.image_prune(&filters)).await
        }
        (&Method::DELETE, name) => {
            let name = name.to_owned();
            let force = ctx.flag("force");
            blocking(move || {
                let used = |img: &str| e.containers.user_of(img);
                e.image_remove(&name, force, &used)
            })
            .await
        }
        (_, t) => {
            let Some((name, op)) = t.rsplit_once('/') else {
                return error(404, "page not found");
            };
            let name = name.to_owned();
            match (m, op) {
                (&Method::GET, "json") => blocking(move || e.image_inspect(&name)).await,
                (&Method::GET, "history") => blocking(move || e.image_history(&name)).await,
                (&Method::GET, "get") => save(ctx, vec![name]).await,
                (&Method::POST, "tag") => {
                    let repo = ctx.q("repo").unwrap_or_default().to_owned();
                    let tag = ctx.q("tag").map(str::to_owned);
                    match tokio::task::spawn_blocking(move || {
                        e.image_tag(&name, &repo, tag.as_deref())
                    })
                    .await
                    {
                        Ok(Ok(())) => StatusCode::CREATED.into_response(),
                        Ok(Err(err)) => engine_error(err),
                        Err(j) => error(500, j.to_string()),
                    }
                }
                (&Method::POST, "push") => push(ctx, &name, headers).await,
                _ => error(404, "page not found"),
            }
        }
    }
}

/// Run blocking engine work off the async threads and answer with its JSON.
async fn blocking<T: serde::Serialize + Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => json(&v),
        Ok(Err(e)) => engine_error(e),
        Err(j) => error(500, format!("internal error: {j}")),
    }
}

/// `X-Registry-Auth`: base64url JSON of `{username, password, identitytoken, …}`.
fn credentials(headers: &HeaderMap) -> Credentials {
    let Some(raw) = headers.get("X-Registry-Auth").and_then(|h| h.to_str().ok()) else {
        return Credentials::Anonymous;
    };
    let decoded = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw));
    let Ok(v) = decoded
        .map_err(|_| ())
        .and_then(|d| serde_json::from_slice::<Value>(&d).map_err(|_| ()))
    else {
        return Credentials::Anonymous;
    };
    if let Some(t) = v["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Credentials::Token(t.to_owned());
    }
    match (v["username"].as_str(), v["password"].as_str()) {
        (Some(u), Some(p)) if !u.is_empty() => Credentials::Basic(u.to_owned(), p.to_owned()),
        _ => Credentials::Anonymous,
    }
}

/// Progress as the API's JSON messages.
struct Messages(tokio::sync::mpsc::Sender<Msg>);

enum Msg {
    Json(Value),
    Done(Result<Vec<Value>, berth_engine::Error>),
}

impl Progress for Messages {
    fn update(&self, id: &str, status: &str, bytes: Option<(u64, u64)>) {
        let detail = match bytes {
            Some((c, t)) => json!({"current": c, "total": t}),
            None => json!({}),
        };
        let _ = self.0.blocking_send_or_try(Msg::Json(
            json!({"status": status, "progressDetail": detail, "id": id}),
        ));
    }

    fn line(&self, text: &str) {
        // "TAG: Pulling from REPO" is a message with an id, as dockerd sends it.
        let v = match text.split_once(": Pulling from ") {
            Some((id, repo)) => json!({"status": format!("Pulling from {repo}"), "id": id}),
            None => json!({"status": text}),
        };
        let _ = self.0.blocking_send_or_try(Msg::Json(v));
    }
}

trait TrySend {
    fn blocking_send_or_try(&self, m: Msg) -> Result<(), ()>;
}

impl TrySend for tokio::sync::mpsc::Sender<Msg> {
    fn blocking_send_or_try(&self, m: Msg) -> Result<(), ()> {
        // Progress is called from async code: never block; a slow client loses progress
        // updates, not data.
        self.try_send(m).map_err(|_| ())
    }
}

/// Run a streaming operation: an error before any message becomes an HTTP error (as dockerd
/// does when nothing was flushed yet); afterwards errors travel in the stream.
async fn stream(mut rx: tokio::sync::mpsc::Receiver<Msg>) -> Response {
    let first = rx.recv().await;
    let (tx2, rx2) = tokio::sync::mpsc::channel::<Value>(256);
    match first {
        None => return error(500, "internal error: the operation ended without a result"),
        Some(Msg::Done(Err(e))) => return engine_error(e),
        Some(Msg::Done(Ok(lines))) => {
            for l in lines {
                let _ = tx2.try_send(l);
            }
        }
        Some(Msg::Json(v)) => {
            let _ = tx2.try_send(v);
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    match m {
                        Msg::Json(v) => {
                            if tx2.send(v).await.is_err() {
                                break;
                            }
                        }
                        Msg::Done(Ok(lines)) => {
                            for l in lines {
                                let _ = tx2.send(l).await;
                            }
                            break;
                        }
                        Msg::Done(Err(e)) => {
                            let msg = e.to_string();
                            let _ = tx2
                                .send(json!({"errorDetail": {"message": msg}, "error": msg}))
                                .await;
                            break;
                        }
                    }
                }
            });
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                json_stream(rx2),
            )
                .into_response();
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json_stream(rx2),
    )
        .into_response()
}

async fn create(ctx: &Ctx, headers: &HeaderMap, body: Body) -> Response {
    if let Some(src) = ctx.q("fromSrc") {
        if src != "-" {
            return error(501, "import from a URL is not supported yet");
        }
        let repo = ctx.q("repo").unwrap_or_default();
        let target = match ctx.q("tag").filter(|t| !t.is_empty()) {
            Some(t) if !repo.is_empty() => format!("{repo}:{t}"),
            _ => repo.to_owned(),
        };
        let changes = ctx.all("changes");
        let message = ctx.q("message").unwrap_or_default().to_owned();
        let platform = ctx.q("platform").map(str::to_owned);
        let e = ctx.engine.clone();
        let reader = body_reader(body);
        return match tokio::task::spawn_blocking(move || {
            e.image_import(
                reader,
                Some(target.as_str()),
                &changes,
                &message,
                "-",
                platform.as_deref(),
            )
        })
        .await
        {
            Ok(Ok(id)) => json(&json!({"status": id})),
            Ok(Err(err)) => engine_error(err),
            Err(j) => error(500, j.to_string()),
        };
    }
    let Some(image) = ctx.q("fromImage").filter(|i| !i.is_empty()) else {
        return error(400, "one of fromImage or fromSrc is required");
    };
    let name = match ctx.q("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image.to_owned(),
    };
    let r = match berth_engine::images::reference(&name) {
        Ok(r) => r,
        Err(e) => return engine_error(e),
    };
    let creds = credentials(headers);
    let platform = ctx.q("platform").map(str::to_owned);
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1024);
    let e: Arc<Engine> = ctx.engine.clone();
    tokio::spawn(async move {
        let p = Messages(tx.clone());
        let res = e
            .image_pull(&r, platform.as_deref(), creds, &p)
            .await
            .map(|lines| lines.into_iter().map(|l| json!({"status": l})).collect());
        let _ = tx.send(Msg::Done(res)).await;
    });
    stream(rx).await
}

async fn push(ctx: &Ctx, name: &str, headers: &HeaderMap) -> Response {
    let full = match ctx.q("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_owned(),
    };
    let mut r = match berth_engine::images::reference(&full) {
        Ok(r) => r,
        Err(e) => return engine_error(e),
    };
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".into());
    }
    let creds = credentials(headers);
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1024);
    let e = ctx.engine.clone();
    tokio::spawn(async move {
        let p = Messages(tx.clone());
        let res = e.image_push(&r, creds, &p).await.map(|(tag, digest, size)| {
            vec![
                json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
                json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}),
            ]
        });
        let _ = tx.send(Msg::Done(res)).await;
    });
    stream(rx).await
}

/// The request body as a blocking reader (for work done in `spawn_blocking`).
pub(crate) fn body_reader(body: Body) -> ChannelReader {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let mut s = body.into_data_stream();
        while let Some(chunk) = s.next().await {
            if tx.send(chunk.map_err(std::io::Error::other)).await.is_err() {
                break;
            }
        }
    });
    ChannelReader {
        rx,
        buf: Bytes::new(),
    }
}

pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    buf: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

async fn load(ctx: &Ctx, body: Body) -> Response {
    let e = ctx.engine.clone();
    let reader = body_reader(body);
    match tokio::task::spawn_blocking(move || {
        e.image_load(std::io::BufReader::with_capacity(1 << 20, reader))
    })
    .await
    {
        Ok(Ok(lines)) => {
            let mut out = Vec::new();
            for l in lines {
                out.extend(
                    serde_json::to_vec(&json!({"stream": format!("{l}\n")})).unwrap_or_default(),
                );
                out.extend_from_slice(b"\r\n");
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                out,
            )
                .into_response()
        }
        Ok(Err(err)) => engine_error(err),
        Err(j) => error(500, j.to_string()),
    }
}

pub(crate) struct ChannelWriter(pub(crate) tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn save(ctx: &Ctx, names: Vec<String>) -> Response {
    if names.is_empty() {
        return error(400, "no image names given");
    }
    let format = match ctx.q("format") {
        Some("oci-archive" | "oci") => SaveFormat::Oci,
        None | Some("" | "docker-archive" | "docker") => SaveFormat::Docker,
        Some(f) => return error(400, format!("invalid format {f:?}")),
    };
    for n in &names {
        if let Err(e) = ctx.engine.image_inspect(n) {
            return engine_error(e);
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let e = ctx.engine.clone();
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(1 << 20, ChannelWriter(tx.clone()));
        if let Err(err) = e.image_save(&names, format, w) {
            // Mid-stream: the client sees a truncated tar and an aborted body.
            let _ = tx.blocking_send(Err(std::io::Error::other(err.to_string())));
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}
