//! `POST /build` as dockerd's classic builder answers it (the query, the context tar as the
//! body, JSON messages: `stream`, `aux` with the image id, `errorDetail`) and
//! `POST /build/prune`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use berth_engine::build::{BuildOptions, Sink};
use berth_models::build::{BuildPruneResponse, BuildResult, SECRETS_HEADER, Secrets};
use berth_models::container::Ulimit;
use berth_models::message::Message;

use crate::ctx::Ctx;
use crate::images::{Msg, stream};
use crate::respond::{blocking_json, error};

fn bad(m: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, m)
}

/// A JSON query parameter (`buildargs`, `labels`, `cachefrom`, `ulimits`).
fn json_param<T: serde::de::DeserializeOwned + Default>(ctx: &Ctx, k: &str) -> Result<T, Response> {
    match ctx.q(k).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(v) => {
            serde_json::from_str(v).map_err(|e| bad(format!("invalid {k} value {v:?}: {e}")))
        }
    }
}

fn options(ctx: &Ctx, headers: &HeaderMap) -> Result<BuildOptions, Response> {
    if let Some(r) = ctx.q("remote").filter(|r| !r.is_empty()) {
        return Err(error(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "remote build contexts are not supported (remote={r}): send the context as the request body"
            ),
        ));
    }
    if ctx.q("version") == Some("2") {
        return Err(bad(
            "BuildKit (version=2) is not supported by this daemon; use the classic builder API (version=1), which builds with Berth's own builder",
        ));
    }
    let secrets: Secrets = match headers.get(SECRETS_HEADER) {
        None => Secrets::default(),
        Some(v) => base64::engine::general_purpose::STANDARD
            .decode(v.as_bytes())
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .ok_or_else(|| bad(format!("invalid {SECRETS_HEADER} header")))?,
    };
    let mut secret_bytes = BTreeMap::new();
    for (id, b64) in secrets {
        let data = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| bad(format!("secret {id}: invalid base64")))?;
        secret_bytes.insert(id, data);
    }
    // Repeated (`extrahosts=a:1&extrahosts=b:2`, docker-py), comma-separated (the docker
    // CLI) or a JSON list.
    let mut extra_hosts: Vec<String> = Vec::new();
    for v in ctx.all("extrahosts").into_iter().filter(|v| !v.is_empty()) {
        if v.starts_with('[') {
            let l: Vec<String> = serde_json::from_str(&v)
                .map_err(|e| bad(format!("invalid extrahosts value {v:?}: {e}")))?;
            extra_hosts.extend(l);
        } else {
            extra_hosts.extend(v.split(',').map(str::to_owned));
        }
    }
    let ulimits: Vec<Ulimit> = json_param(ctx, "ulimits")?;
    Ok(BuildOptions {
        tags: ctx.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        dockerfile: ctx.s("dockerfile"),
        dockerfile_name: String::new(),
        build_args: json_param(ctx, "buildargs")?,
        target: ctx.s("target"),
        no_cache: ctx.flag("nocache"),
        pull: ctx.flag("pull"),
        labels: json_param(ctx, "labels")?,
        quiet: ctx.flag("q"),
        cache_from: json_param(ctx, "cachefrom")?,
        network_mode: ctx.s("networkmode"),
        extra_hosts,
        shm_size: ctx.num("shmsize")?.unwrap_or(0),
        ulimits,
        platform: ctx.s("platform"),
        secrets: secret_bytes,
        content_trust: crate::ctx::content_trust(headers),
    })
}

struct Messages(tokio::sync::mpsc::Sender<Msg>);

impl Sink for Messages {
    fn stream(&self, text: &str) {
        // A build's output is not progress: it is waited for, not dropped.
        let _ = self.0.blocking_send(Msg::Json(Message::stream(text)));
    }
    fn aux_id(&self, id: &str) {
        let aux = serde_json::to_value(BuildResult { id: id.to_owned() }).ok();
        let _ = self.0.blocking_send(Msg::Json(Message {
            aux,
            ..Default::default()
        }));
    }
}

/// `POST /build`.
pub async fn build(ctx: &Ctx, headers: &HeaderMap, body: Body) -> Response {
    let opts = match options(ctx, headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(256);
    let e = ctx.engine.clone();
    let reader = crate::stream::body_reader(body);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let sink = Messages(tx.clone());
        let r = e.build(
            &opts,
            std::io::BufReader::with_capacity(1 << 20, reader),
            &sink,
            handle,
        );
        let _ = tx.blocking_send(Msg::Done(r.map(|_| Vec::new())));
    });
    stream(rx).await
}

/// `POST /build/prune`.
pub async fn prune(ctx: &Ctx) -> Response {
    let keep: u64 = match ctx.num("keep-storage") {
        Ok(v) => v.unwrap_or(0),
        Err(r) => return r,
    };
    let f = match ctx.filters() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let until = f.get("until").first().cloned();
    let all = ctx.flag("all");
    let e = ctx.engine.clone();
    blocking_json(move || {
        let (deleted, freed) = e.build_prune(keep, until.as_deref(), all)?;
        Ok(BuildPruneResponse {
            caches_deleted: Some(deleted),
            space_reclaimed: freed,
        })
    })
    .await
}
