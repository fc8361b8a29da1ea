//! `/images/…`: list, inspect, history, tag, remove, prune, pull and import (`create`),
//! push, load and save. Progress of pulls and pushes becomes dockerd's JSON messages.

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use berth_engine::images::{Credentials, Progress, SaveFormat};
use berth_models::message::{Message, ProgressDetail, PushResult};
use berth_models::system::AuthConfig;

use crate::ctx::{Ctx, body_json};
use crate::respond::{blocking, blocking_json, engine_error, error, json, read_json};
use crate::stream::{blocking_body, body_reader, json_lines};

pub async fn route(ctx: &Ctx, m: &Method, tail: &str, headers: &HeaderMap, body: Body) -> Response {
    let e = ctx.engine.clone();
    let v = ctx.version;
    match (m, tail) {
        (&Method::GET, "json") => {
            let f = match ctx.filters() {
                Ok(f) => f,
                Err(r) => return r,
            };
            let all = ctx.flag("all");
            read_json(move || {
                Ok(e.image_list(&f, all)?
                    .into_iter()
                    .map(|s| s.for_version(v))
                    .collect::<Vec<_>>())
            })
            .await
        }
        (&Method::POST, "create") => create(ctx, headers, body).await,
        (&Method::POST, "load") => load(ctx, body).await,
        (&Method::GET, "get") => save(ctx, ctx.all("names")).await,
        (&Method::POST, "prune") => {
            let f = match ctx.filters() {
                Ok(f) => f,
                Err(r) => return r,
            };
            blocking_json(move || e.image_prune(&f)).await
        }
        (&Method::DELETE, name) => {
            let name = name.to_owned();
            let force = ctx.flag("force");
            blocking_json(move || e.image_remove(&name, force)).await
        }
        (_, t) => {
            let Some((name, op)) = t.rsplit_once('/') else {
                return error(StatusCode::NOT_FOUND, "page not found");
            };
            let name = name.to_owned();
            match (m, op) {
                (&Method::GET, "json") => {
                    read_json(move || e.image_inspect(&name).map(|i| i.for_version(v))).await
                }
                (&Method::GET, "history") => read_json(move || e.image_history(&name)).await,
                (&Method::GET, "vulnerabilities") => {
                    read_json(move || e.image_vulnerabilities(&name)).await
                }
                (&Method::GET, "sbom") => {
                    let format = ctx.q("format").unwrap_or("cyclonedx-json").to_owned();
                    sbom(e, name, format).await
                }
                (&Method::GET, "get") => save(ctx, vec![name]).await,
                (&Method::GET, "signatures") => {
                    // Computing the signing target may compress layers: heavy work.
                    let target = ctx.flag("target");
                    blocking_json(move || e.image_signatures(&name, target)).await
                }
                (&Method::POST, "signatures") => {
                    let req: berth_models::trust::AddSignature = match body_json(body).await {
                        Ok(v) => v,
                        Err(r) => return r,
                    };
                    crate::respond::blocking_status(StatusCode::CREATED, move || {
                        e.add_image_signature(&name, &req)
                    })
                    .await
                }
                (&Method::POST, "tag") => {
                    let repo = ctx.s("repo");
                    let tag = ctx.q("tag").map(str::to_owned);
                    crate::respond::blocking_status(StatusCode::CREATED, move || {
                        e.image_tag(&name, &repo, tag.as_deref())
                    })
                    .await
                }
                (&Method::POST, "push") => push(ctx, &name, headers).await,
                _ => error(StatusCode::NOT_FOUND, "page not found"),
            }
        }
    }
}

/// `X-Registry-Auth`: base64url JSON of docker's auth config.
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
    let Some(a) = decoded
        .ok()
        .and_then(|d| serde_json::from_slice::<AuthConfig>(&d).ok())
    else {
        return Credentials::Anonymous;
    };
    if !a.identitytoken.is_empty() {
        return Credentials::Token(a.identitytoken);
    }
    if a.username.is_empty() {
        Credentials::Anonymous
    } else {
        Credentials::Basic(a.username, a.password)
    }
}

pub(crate) enum Msg {
    Json(Message),
    Done(Result<Vec<Message>, berth_engine::Error>),
}

/// Progress as the API's JSON messages. Progress is called from async code: it never
/// blocks; a slow client loses progress updates, not data.
struct Messages(tokio::sync::mpsc::Sender<Msg>);

impl Progress for Messages {
    fn update(&self, id: &str, status: &str, bytes: Option<(u64, u64)>) {
        let detail = bytes.map_or_else(ProgressDetail::default, |(c, t)| ProgressDetail {
            current: c as i64,
            total: t as i64,
        });
        let _ = self.0.try_send(Msg::Json(Message {
            status: status.to_owned(),
            progress_detail: Some(detail),
            id: id.to_owned(),
            ..Default::default()
        }));
    }

    fn line(&self, text: &str) {
        // "TAG: Pulling from REPO" is a message with an id, as dockerd sends it.
        let m = match text.split_once(": Pulling from ") {
            Some((id, repo)) => Message {
                status: format!("Pulling from {repo}"),
                id: id.to_owned(),
                ..Default::default()
            },
            None => Message::status(text),
        };
        let _ = self.0.try_send(Msg::Json(m));
    }
}

/// Run a streaming operation: an error before any message becomes an HTTP error (as dockerd
/// does when nothing was flushed yet); afterwards errors travel in the stream.
pub(crate) async fn stream(mut rx: tokio::sync::mpsc::Receiver<Msg>) -> Response {
    let first = rx.recv().await;
    let (tx2, rx2) = tokio::sync::mpsc::channel::<Message>(256);
    match first {
        None => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the operation ended without a result",
            );
        }
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
                    let (msgs, end) = match m {
                        Msg::Json(v) => (vec![v], false),
                        Msg::Done(Ok(lines)) => (lines, true),
                        Msg::Done(Err(e)) => (vec![error_message(&e)], true),
                    };
                    for v in msgs {
                        if tx2.send(v).await.is_err() {
                            return;
                        }
                    }
                    if end {
                        return;
                    }
                }
            });
        }
    }
    json_lines(rx2, b"\r\n")
}

async fn create(ctx: &Ctx, headers: &HeaderMap, body: Body) -> Response {
    if let Some(src) = ctx.q("fromSrc").filter(|s| !s.is_empty()) {
        if src != "-" {
            let url = src.starts_with("http://") || src.starts_with("https://");
            return if url {
                error(
                    StatusCode::NOT_IMPLEMENTED,
                    "import from a URL is not supported yet",
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid fromSrc {src:?}: \"-\" (the request body) or a URL"),
                )
            };
        }
        let repo = ctx.s("repo");
        let target = match ctx.q("tag").filter(|t| !t.is_empty()) {
            Some(t) if !repo.is_empty() => format!("{repo}:{t}"),
            _ => repo,
        };
        let (changes, message) = (ctx.all("changes"), ctx.s("message"));
        let platform = ctx.q("platform").map(str::to_owned);
        let e = ctx.engine.clone();
        let reader = body_reader(body);
        return match blocking(move || {
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
            Ok(id) => json(&Message::status(id)),
            Err(r) => r,
        };
    }
    let Some(image) = ctx.q("fromImage").filter(|i| !i.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "one of fromImage or fromSrc is required",
        );
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
    let trust = crate::ctx::content_trust(headers);
    let platform = ctx.q("platform").map(str::to_owned);
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1024);
    let e = ctx.engine.clone();
    tokio::spawn(async move {
        let p = Messages(tx.clone());
        let res = e
            .image_pull(&r, platform.as_deref(), creds, trust, &p)
            .await
            .map(|lines| lines.into_iter().map(Message::status).collect());
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
        let res = e
            .image_push(&r, creds, &p)
            .await
            .map(|(tag, digest, size)| {
                let aux = PushResult {
                    tag: tag.clone(),
                    digest: digest.clone(),
                    size: size as i64,
                };
                // The registry's push reported `TAG: digest: … size: …` already.
                vec![Message {
                    progress_detail: Some(ProgressDetail::default()),
                    aux: serde_json::to_value(aux).ok(),
                    ..Default::default()
                }]
            });
        let _ = tx.send(Msg::Done(res)).await;
    });
    stream(rx).await
}

async fn load(ctx: &Ctx, body: Body) -> Response {
    let e = ctx.engine.clone();
    let reader = body_reader(body);
    // The load's own failure is kept as a value: as dockerd's, the answer is a 200 stream
    // and a failed load a message in it.
    let loaded =
        blocking(move || Ok(e.image_load(std::io::BufReader::with_capacity(1 << 20, reader))))
            .await;
    let messages = match loaded {
        Ok(Ok(lines)) => lines
            .into_iter()
            .map(|l| Message::stream(format!("{l}\n")))
            .collect(),
        Ok(Err(e)) => vec![Message::error(e.to_string())],
        Err(r) => return r,
    };
    // One chunk per message, the body chunked as dockerd's: clients (docker-py) parse a
    // body without chunks as one JSON document.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = messages
        .iter()
        .map(|m| {
            let mut b = serde_json::to_vec(m).unwrap_or_default();
            b.extend_from_slice(b"\r\n");
            Ok(bytes::Bytes::from(b))
        })
        .collect();
    use axum::response::IntoResponse;
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

async fn save(ctx: &Ctx, names: Vec<String>) -> Response {
    if names.is_empty() {
        return error(StatusCode::BAD_REQUEST, "no image names given");
    }
    let format = match ctx.q("format") {
        Some("oci-archive" | "oci") => SaveFormat::Oci,
        None | Some("" | "docker-archive" | "docker") => SaveFormat::Docker,
        Some(f) => return error(StatusCode::BAD_REQUEST, format!("invalid format {f:?}")),
    };
    for n in &names {
        if let Err(e) = ctx.engine.image_inspect(n) {
            return engine_error(e);
        }
    }
    let e = ctx.engine.clone();
    blocking_body("application/x-tar", move |w| {
        e.image_save(&names, format, w)
    })
}

/// A stream's failure; a build step's carries its exit code (the client exits with it).
fn error_message(e: &berth_engine::Error) -> Message {
    let mut m = Message::error(e.to_string());
    if let (berth_engine::Error::Build { code, .. }, Some(d)) = (e, m.error_detail.as_mut()) {
        d.code = *code;
    }
    m
}

/// `GET /images/{name}/sbom?format=` (a Berth extension): the image's bill of materials as
/// CycloneDX (the default), SPDX, Berth's JSON or a table.
async fn sbom(e: std::sync::Arc<berth_engine::Engine>, name: String, format: String) -> Response {
    use axum::response::IntoResponse;
    use berth_engine::scan::SbomFormat;
    let Some(f) = SbomFormat::parse(&format) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown format {format:?}: use cyclonedx-json, spdx-json, json or table"),
        );
    };
    let body = match crate::respond::read(move || e.image_sbom_document(&name, f)).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let kind = match f {
        SbomFormat::CycloneDx => "application/vnd.cyclonedx+json",
        SbomFormat::Spdx => "application/spdx+json",
        SbomFormat::Table => "text/plain; charset=utf-8",
        SbomFormat::Json => "application/json",
    };
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, kind)],
        body,
    )
        .into_response()
}
