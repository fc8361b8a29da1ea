//! JSON under `/api/` for the pages' scripts (and anyone with a session): lists, one
//! container, its stats history, its logs and the events as streams, actions, a pull with
//! its progress as lines, the host's usage.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::containers::io::LogOptions;
use berth_models::Filters;

use crate::App;
use crate::pages::blocking;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/containers", get(containers))
        .route("/api/containers/{id}", get(container))
        .route("/api/containers/{id}/stats", get(stats))
        .route("/api/containers/{id}/logs", get(logs))
        .route("/api/containers/{id}/{action}", post(act))
        .route("/api/images", get(images))
        .route("/api/images/pull", post(pull))
        .route("/api/networks", get(networks))
        .route("/api/volumes", get(volumes))
        .route("/api/sandboxes", get(sandboxes))
        .route("/api/stacks", get(stacks))
        .route("/api/events", get(events))
        .route("/api/audit", get(audit))
        .route("/api/host", get(host))
}

fn answer<T: serde::Serialize>(r: Result<T, String>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(m) => {
            let status = if m.contains("No such") || m.contains("no such") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, Json(serde_json::json!({ "message": m }))).into_response()
        }
    }
}

type Q = Query<HashMap<String, String>>;

async fn containers(State(app): State<Arc<App>>) -> Response {
    let e = app.engine.clone();
    answer(blocking(move || crate::pages::all_containers(&e)).await)
}

async fn container(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let e = app.engine.clone();
    answer(blocking(move || e.containers.inspect(&e.containers.resolve(&id)?)).await)
}

async fn stats(State(app): State<Arc<App>>, Path(id): Path<String>, Query(q): Q) -> Response {
    let e = app.engine.clone();
    let since = q.get("since").cloned().unwrap_or_else(|| "1h".into());
    answer(blocking(move || e.stats_history(&id, &since)).await)
}

/// Chunks of a channel as a streaming body.
fn stream_of(rx: tokio::sync::mpsc::Receiver<Bytes>, content_type: &'static str) -> Response {
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(s),
    )
        .into_response()
}

/// `?tail=N&follow=1`: the log as text, followed while the page reads it.
async fn logs(State(app): State<Arc<App>>, Path(id): Path<String>, Query(q): Q) -> Response {
    let o = LogOptions {
        stdout: true,
        stderr: true,
        follow: q.get("follow").is_some_and(|v| v == "1" || v == "true"),
        timestamps: q.get("timestamps").is_some_and(|v| v == "1"),
        tail: q.get("tail").and_then(|t| t.parse().ok()).or(Some(500)),
        ..Default::default()
    };
    let e = app.engine.clone();
    let streams = match blocking(move || e.containers.logs(&e.containers.resolve(&id)?, o)).await {
        Ok(s) => s,
        Err(m) => return answer::<()>(Err(m)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let mut out = streams.output;
    tokio::spawn(async move {
        while let Some(chunk) = out.recv().await {
            if tx.send(Bytes::from(chunk.data)).await.is_err() {
                return;
            }
        }
    });
    stream_of(rx, "text/plain; charset=utf-8")
}

async fn act(State(app): State<Arc<App>>, Path((id, what)): Path<(String, String)>) -> Response {
    let e = app.engine.clone();
    answer(
        blocking(move || crate::pages::do_action(&e, &id, &what))
            .await
            .map(|m| serde_json::json!({ "message": m })),
    )
}

async fn images(State(app): State<Arc<App>>) -> Response {
    let e = app.engine.clone();
    answer(blocking(move || e.image_list(&Filters::default(), false)).await)
}

/// `{"image": NAME}`: the pull's progress, a line at a time, then `done: …` or `error: …`.
async fn pull(State(app): State<Arc<App>>, Json(req): Json<HashMap<String, String>>) -> Response {
    let name = req.get("image").cloned().unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let (ltx, mut lrx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let fwd = {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(l) = lrx.recv().await {
                    let _ = tx.send(Bytes::from(format!("{l}\n"))).await;
                }
            })
        };
        let r = crate::pages::do_pull(&app, &name, &crate::pages::Lines(ltx)).await;
        let _ = fwd.await;
        let last = match r {
            Ok(lines) => format!("done: {}\n", lines.join(" ")),
            Err(e) => format!("error: {e}\n"),
        };
        let _ = tx.send(Bytes::from(last)).await;
    });
    stream_of(rx, "text/plain; charset=utf-8")
}

async fn networks(State(app): State<Arc<App>>) -> Response {
    let e = app.engine.clone();
    answer(blocking(move || e.networks.list(&Filters::default())).await)
}

async fn volumes(State(app): State<Arc<App>>) -> Response {
    let e = app.engine.clone();
    answer(blocking(move || e.volume_list(&Filters::default())).await)
}

async fn stacks(State(app): State<Arc<App>>) -> Response {
    let e = app.engine.clone();
    answer(
        blocking(move || crate::pages::all_containers(&e))
            .await
            .map(|l| crate::pages::projects(&l)),
    )
}

async fn sandboxes(State(app): State<Arc<App>>) -> Response {
    let e = app.engine.clone();
    answer(blocking(move || e.sandboxes(None)).await)
}

async fn audit(State(app): State<Arc<App>>, Query(q): Q) -> Response {
    let e = app.engine.clone();
    let since = q.get("since").cloned().unwrap_or_default();
    answer(blocking(move || e.audit.entries(&since)).await)
}

/// The events of the last hour, then each as it comes: JSON lines.
async fn events(State(app): State<Arc<App>>) -> Response {
    let (past, mut live) = app.engine.events.subscribe(Some(berth_units::now() - 3600));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        for m in past {
            let line = serde_json::to_string(&m).unwrap_or_default() + "\n";
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
        loop {
            match live.recv().await {
                Ok(m) => {
                    let line = serde_json::to_string(&m).unwrap_or_default() + "\n";
                    if tx.send(Bytes::from(line)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    stream_of(rx, "application/x-ndjson")
}

/// The host's CPU (since the previous call of anyone) and memory.
async fn host() -> Response {
    static LAST: Mutex<Option<(u64, u64)>> = Mutex::new(None);
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    let cpu = {
        let mut l = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let pct = match *l {
            Some((t, i)) if total > t => {
                100.0 * (1.0 - (idle - i.min(idle)) as f64 / (total - t) as f64)
            }
            _ => 0.0,
        };
        *l = Some((total, idle));
        pct
    };
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |k: &str| -> u64 {
        mem.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
            * 1024
    };
    let (total_mem, avail) = (kb("MemTotal:"), kb("MemAvailable:"));
    Json(serde_json::json!({
        "cpu_percent": cpu,
        "memory_used": total_mem.saturating_sub(avail),
        "memory_total": total_mem,
    }))
    .into_response()
}
