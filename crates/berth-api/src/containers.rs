//! `/containers/…`

use std::io::BufRead;
use std::time::Duration;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use berth_engine::containers::Backoff;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::{Ctx, engine_error, error, json};

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(engine_error(e)),
        Err(j) => Err(error(500, format!("internal error: {j}"))),
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn not_modified() -> Response {
    StatusCode::NOT_MODIFIED.into_response()
}

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
            let all = ctx.flag("all");
            let size = ctx.flag("size");
            let limit = ctx.q("limit").and_then(|l| l.parse::<i64>().ok());
            let filters = match berth_engine::images::parse_filters(ctx.q("filters")) {
                Ok(f) => f,
                Err(err) => return engine_error(err),
            };
            match blocking(move || {
                e.containers.list(
                    &e.images,
                    all || limit.is_some_and(|l| l > 0),
                    &filters,
                    limit.filter(|l| *l > 0).map(|l| l as usize),
                    size,
                )
            })
            .await
            {
                Ok(v) => json(&v),
                Err(r) => r,
            }
        }
        (&Method::POST, "prune") => match blocking(move || e.containers.prune()).await {
            Ok((gone, freed)) => json(&json!({
                "ContainersDeleted": if gone.is_empty() { Value::Null } else { json!(gone) },
                "SpaceReclaimed": freed,
            })),
            Err(r) => r,
        },
        (&Method::POST, "create") => {
            let v = match crate::system::body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let name = ctx.q("name").map(str::to_owned);
            match blocking(move || e.containers.create(&e.images, &v, name.as_deref())).await {
                Ok((id, warnings)) => (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    json!({"Id": id, "Warnings": warnings}).to_string(),
                )
                    .into_response(),
                Err(r) => r,
            }
        }
        _ => {
            let (name, op) = match tail.split_once('/') {
                Some((n, op)) => (n.to_owned(), op),
                None => (tail.to_owned(), ""),
            };
            let id = {
                let e = e.clone();
                match blocking(move || e.containers.resolve(&name)).await {
                    Ok(id) => id,
                    Err(r) => return r,
                }
            };
            match (m, op) {
                (&Method::GET, "json") => match blocking(move || e.containers.inspect(&id)).await {
                    Ok(v) => json(&v),
                    Err(r) => r,
                },
                (&Method::POST, "pause") | (&Method::POST, "unpause") => {
                    let frozen = op == "pause";
                    match blocking(move || e.containers.pause(&id, frozen)).await {
                        Ok(()) => no_content(),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "update") => {
                    let v = match crate::system::body_json(body).await {
                        Ok(v) => v,
                        Err(r) => return r,
                    };
                    match blocking(move || e.containers.update(&id, &v)).await {
                        Ok(()) => json(&json!({"Warnings": []})),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "rename") => {
                    let name = ctx.q("name").unwrap_or_default().to_owned();
                    match blocking(move || e.containers.rename(&id, &name)).await {
                        Ok(()) => no_content(),
                        Err(r) => r,
                    }
                }
                (&Method::GET, "stats") => {
                    let stream = ctx
                        .q("stream")
                        .is_none_or(|v| !matches!(v, "0" | "false" | "False"));
                    let one_shot = ctx.flag("one-shot");
                    stats(e, id, stream, one_shot).await
                }
                (&Method::GET, "changes") => {
                    match blocking(move || e.containers.changes(&e.images, &id)).await {
                        Ok(v) => json(&if v.is_empty() {
                            Value::Null
                        } else {
                            Value::from(v)
                        }),
                        Err(r) => r,
                    }
                }
                (&Method::GET, "export") => {
                    tar_stream(move |w| e.containers.export(&e.images, &id, w), None)
                }
                (&Method::HEAD, "archive") | (&Method::GET, "archive") => {
                    let path = ctx.q("path").unwrap_or_default().to_owned();
                    let stat = {
                        let (e, id, path) = (e.clone(), id.clone(), path.clone());
                        match blocking(move || {
                            e.containers.archive_get(&e.images, &id, &path, None)
                        })
                        .await
                        {
                            Ok(s) => s,
                            Err(r) => return r,
                        }
                    };
                    use base64::Engine as _;
                    let header_value =
                        base64::engine::general_purpose::STANDARD.encode(stat.to_string());
                    if m == Method::HEAD {
                        return (
                            StatusCode::OK,
                            [("X-Docker-Container-Path-Stat", header_value)],
                        )
                            .into_response();
                    }
                    tar_stream(
                        move |mut w| {
                            e.containers
                                .archive_get(&e.images, &id, &path, Some(&mut w))
                                .map(|_| ())
                        },
                        Some(header_value),
                    )
                }
                (&Method::PUT, "archive") => {
                    let path = ctx.q("path").unwrap_or_default().to_owned();
                    let reader = crate::images::body_reader(body);
                    match blocking(move || e.containers.archive_put(&e.images, &id, &path, reader))
                        .await
                    {
                        Ok(()) => StatusCode::OK.into_response(),
                        Err(r) => r,
                    }
                }
                (&Method::GET, "top") => {
                    let args = ctx.q("ps_args").unwrap_or_default().to_owned();
                    match blocking(move || e.containers.top(&id, &args)).await {
                        Ok(v) => json(&v),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "start") => {
                    match blocking(move || {
                        let _ = e.containers.set_manually_stopped(&id, false);
                        let started = e.containers.start(&e.images, &id)?;
                        if started {
                            watch_auto_remove(e.clone(), id.clone());
                        }
                        Ok(started)
                    })
                    .await
                    {
                        Ok(true) => no_content(),
                        Ok(false) => not_modified(),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "stop") | (&Method::POST, "restart") => {
                    let t = ctx
                        .q("t")
                        .or(ctx.q("timeout"))
                        .and_then(|t| t.parse::<i64>().ok());
                    let restart = op == "restart";
                    match blocking(move || {
                        if !restart {
                            let _ = e.containers.set_manually_stopped(&id, true);
                        }
                        let stopped = e.containers.stop(&id, t)?;
                        if restart {
                            e.containers.start(&e.images, &id)?;
                            watch_auto_remove(e.clone(), id.clone());
                            return Ok(true);
                        }
                        Ok(stopped)
                    })
                    .await
                    {
                        Ok(true) => no_content(),
                        Ok(false) => not_modified(),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "kill") => {
                    let sig = match ctx.q("signal").filter(|s| !s.is_empty()) {
                        Some(s) => match berth_runtime::container::parse_signal(s) {
                            Ok(n) => n,
                            Err(_) => return error(400, format!("Invalid signal: {s}")),
                        },
                        None => libc::SIGKILL,
                    };
                    match blocking(move || e.containers.kill(&id, sig)).await {
                        Ok(()) => no_content(),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "wait") => {
                    let cond = ctx.q("condition").unwrap_or("not-running").to_owned();
                    wait(e, id, cond).await
                }
                (&Method::DELETE, "") => {
                    let force = ctx.flag("force");
                    let volumes = ctx.flag("v");
                    match blocking(move || e.containers.remove(&id, force, volumes)).await {
                        Ok(()) => no_content(),
                        Err(r) => r,
                    }
                }
                (&Method::GET, "logs") => logs(ctx, e, id, false, None).await,
                (&Method::POST, "exec") => {
                    let v = match crate::system::body_json(body).await {
                        Ok(v) => v,
                        Err(r) => return r,
                    };
                    match blocking(move || e.containers.exec_create(&id, &v)).await {
                        Ok(exec_id) => (
                            StatusCode::CREATED,
                            [(header::CONTENT_TYPE, "application/json")],
                            json!({"Id": exec_id}).to_string(),
                        )
                            .into_response(),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "resize") => {
                    let h = ctx.q("h").and_then(|v| v.parse::<u16>().ok());
                    let w = ctx.q("w").and_then(|v| v.parse::<u16>().ok());
                    let (Some(h), Some(w)) = (h, w) else {
                        return error(400, "resize needs h and w");
                    };
                    match blocking(move || e.containers.resize(&id, h, w)).await {
                        Ok(()) => StatusCode::OK.into_response(),
                        Err(r) => r,
                    }
                }
                (&Method::POST, "attach") => {
                    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
                    let wants = parts.headers.get(header::UPGRADE).is_some();
                    logs(ctx, e, id, true, if wants { upgrade } else { None }).await
                }
                _ => error(404, "page not found"),
            }
        }
    }
}

/// `--rm`: remove the container once it has exited.
fn watch_auto_remove(e: Arc<Engine>, id: String) {
    let Ok(rec) = e.containers.record(&id) else {
        return;
    };
    if rec["HostConfig"]["AutoRemove"].as_bool() != Some(true) {
        return;
    }
    std::thread::spawn(move || {
        let mut backoff = Backoff::new();
        loop {
            match e.containers.state(&id) {
                Ok(s) if s.running() => std::thread::sleep(backoff.step()),
                Ok(s) => {
                    remember_exit(&id, s.exit_code);
                    // --rm takes the anonymous volumes along, as dockerd does.
                    let _ = e.containers.remove(&id, true, true);
                    return;
                }
                Err(_) => return,
            }
        }
    });
}

/// `wait`: like dockerd, the headers go out at once (clients wait for them before `start`),
/// the result when the condition is met.
async fn wait(e: Arc<Engine>, id: String, cond: String) -> Response {
    let before = {
        let e = e.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || e.containers.state(&id).ok())
            .await
            .ok()
            .flatten()
    };
    let Some(before) = before else {
        return error(404, format!("No such container: {id}"));
    };
    if !["not-running", "next-exit", "removed"].contains(&cond.as_str()) {
        return error(400, format!("invalid condition: \"{cond}\""));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        let mut backoff = Backoff::new();
        let result = loop {
            let st = {
                let e = e.clone();
                let id = id.clone();
                tokio::task::spawn_blocking(move || e.containers.state(&id))
                    .await
                    .unwrap_or_else(|j| Err(berth_engine::Error::Internal(j.to_string())))
            };
            match (cond.as_str(), st) {
                ("removed", Err(_)) => {
                    let code = LAST_EXIT
                        .lock()
                        .ok()
                        .and_then(|m| m.get(&id).copied())
                        .unwrap_or(before.exit_code);
                    break json!({"StatusCode": code, "Error": null});
                }
                (_, Err(err)) => {
                    break json!({"StatusCode": -1, "Error": {"Message": err.to_string()}});
                }
                ("not-running", Ok(s)) if !s.running() => {
                    break json!({"StatusCode": s.exit_code, "Error": null});
                }
                ("next-exit", Ok(s))
                    if s.status == "exited"
                        && (before.status != "exited" || s.finished_at != before.finished_at) =>
                {
                    break json!({"StatusCode": s.exit_code, "Error": null});
                }
                _ => tokio::time::sleep(backoff.step()).await,
            }
        };
        let mut b = result.to_string().into_bytes();
        b.push(b'\n');
        let _ = tx.send(Ok(Bytes::from(b))).await;
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// Exit codes of auto-removed containers, for `wait?condition=removed`.
static LAST_EXIT: std::sync::Mutex<std::collections::BTreeMap<String, i64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Record an exit code before an auto-remove (called by the watcher).
fn remember_exit(id: &str, code: i64) {
    if let Ok(mut m) = LAST_EXIT.lock() {
        if m.len() > 1000 {
            m.clear();
        }
        m.insert(id.to_owned(), code);
    }
}

/// An 8-byte multiplexing header (stream 1 = stdout, 2 = stderr) and the payload.
fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `logs` and `attach` (which follows the log from its start until the container stops).
async fn logs(
    ctx: &Ctx,
    e: Arc<Engine>,
    id: String,
    attach: bool,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response {
    let stdout = ctx.flag("stdout") || (attach && ctx.q("stdout").is_none());
    let stderr = ctx.flag("stderr") || (attach && ctx.q("stderr").is_none());
    if !attach && !stdout && !stderr {
        return error(400, "Bad parameters: you must choose at least one stream");
    }
    let follow = attach || ctx.flag("follow");
    let tty = e
        .containers
        .record(&id)
        .map(|r| r["Config"]["Tty"].as_bool().unwrap_or(false))
        .unwrap_or(false);
    let stdin = (attach && ctx.flag("stdin")).then(|| StdinTarget::Shim {
        engine: e.clone(),
        id: id.clone(),
    });
    let timestamps = !attach && ctx.flag("timestamps");
    let tail: Option<usize> = ctx
        .q("tail")
        .filter(|t| *t != "all")
        .and_then(|t| t.parse().ok());
    let path = e.containers.log_path(&id);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let e2 = e.clone();
    let id2 = id.clone();
    // An attach lasts until the container's next exit (like `wait?condition=next-exit`):
    // attached to a stopped container, it waits for the start that follows (`start -a`).
    let before = e.containers.state(&id).ok();
    let since = ctx
        .q("since")
        .and_then(crate::system::api_time)
        .filter(|t| *t > 0);
    let until = ctx
        .q("until")
        .and_then(crate::system::api_time)
        .filter(|t| *t > 0);
    let rotated = if attach {
        Vec::new()
    } else {
        e.containers.rotated_logs(&id)
    };
    // Opened now and kept open: the output stays readable even if the container (and its
    // log) is removed right after it exits (`--rm`).
    let mut reader = std::fs::File::open(&path).ok().map(std::io::BufReader::new);
    // `attach` without `logs=1` shows what comes from now on, as dockerd's does.
    let replay = !attach || ctx.flag("logs");
    std::thread::spawn(move || {
        let send = |b: Vec<u8>| tx.blocking_send(Ok(Bytes::from(b))).is_ok();
        // One json-file entry → a frame (or raw bytes for a terminal), if it passes the
        // stream and time filters.
        let render = |line: &str| -> Option<Vec<u8>> {
            let v = serde_json::from_str::<Value>(line).ok()?;
            let stream = if v["stream"] == "stderr" { 2 } else { 1 };
            if (stream == 1 && !stdout) || (stream == 2 && !stderr) {
                return None;
            }
            let t = v["time"].as_str().unwrap_or_default();
            if since.is_some() || until.is_some() {
                let secs = berth_engine::time::parse_rfc3339(t).unwrap_or(0);
                if since.is_some_and(|s| secs < s) || until.is_some_and(|u| secs >= u) {
                    return None;
                }
            }
            let mut payload = String::new();
            if timestamps {
                payload.push_str(t);
                payload.push(' ');
            }
            payload.push_str(v["log"].as_str().unwrap_or_default());
            Some(if tty {
                payload.into_bytes()
            } else {
                frame(stream, payload.as_bytes())
            })
        };
        // What is already written: rotated files (oldest first), then the current one; `--tail`
        // counts entries over all of them.
        let mut history: Vec<String> = Vec::new();
        for p in &rotated {
            history.extend(
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| format!("{l}\n")),
            );
        }
        if let Some(r) = reader.as_mut() {
            let mut line = String::new();
            while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
                if !line.ends_with('\n') {
                    // An entry being written: leave it for the follow loop.
                    let back = line.len() as i64;
                    let _ = r.seek_relative(-back);
                    break;
                }
                history.push(std::mem::take(&mut line));
            }
        }
        let skip = if replay {
            tail.map_or(0, |n| history.len().saturating_sub(n))
        } else {
            history.len()
        };
        for l in &history[skip..] {
            if let Some(b) = render(l) {
                if !send(b) {
                    return;
                }
            }
        }
        let mut partial = String::new();
        let mut backoff = Backoff::new();
        loop {
            // Checked before reading: once it has stopped, this read gets everything.
            let now = e2.containers.state(&id2).ok();
            let status = now.as_ref().map_or("removed", |s| s.status);
            if reader.is_none() {
                reader = std::fs::File::open(&path).ok().map(std::io::BufReader::new);
            }
            if let Some(r) = reader.as_mut() {
                loop {
                    match r.read_line(&mut partial) {
                        Ok(n) if n > 0 && partial.ends_with('\n') => {
                            let line = std::mem::take(&mut partial);
                            if let Some(b) = render(&line) {
                                if !send(b) {
                                    return;
                                }
                            }
                        }
                        // The end, or an entry still being written (kept in `partial`).
                        Ok(_) | Err(_) => break,
                    }
                }
            }
            // Rotated under us: continue with the new file.
            if let (Some(r), Ok(now)) = (reader.as_ref(), std::fs::metadata(&path)) {
                use std::os::unix::fs::MetadataExt;
                if r.get_ref().metadata().is_ok_and(|m| m.ino() != now.ino()) && partial.is_empty()
                {
                    reader = std::fs::File::open(&path).ok().map(std::io::BufReader::new);
                    continue;
                }
            }
            let done = match status {
                "running" | "paused" => false,
                // Attached before the start: keep waiting for it to run.
                "created" => !attach,
                "exited" if attach => before.as_ref().is_none_or(|b| {
                    b.status != "exited"
                        || now.as_ref().is_some_and(|n| n.finished_at != b.finished_at)
                }),
                _ => true,
            };
            if !follow || done {
                break;
            }
            std::thread::sleep(backoff.step());
        }
    });
    stream_response_with(rx, upgrade, stdin, tty)
}

/// `POST /exec/{id}/start`, `GET /exec/{id}/json`, `POST /exec/{id}/resize`.
pub async fn exec_route(
    ctx: &Ctx,
    m: &Method,
    tail: &str,
    parts: &mut axum::http::request::Parts,
    body: Body,
) -> Response {
    let e = ctx.engine.clone();
    let (exec_id, op) = tail.split_once('/').unwrap_or((tail, ""));
    let session = match e.containers.exec_get(exec_id) {
        Ok(s) => s,
        Err(err) => return engine_error(err),
    };
    match (m, op) {
        (&Method::GET, "json") => json(&json!({
            "ID": session.id,
            "Running": session.running,
            "ExitCode": session.exit_code,
            "ProcessConfig": {
                "tty": session.config["Tty"].as_bool().unwrap_or(false),
                "entrypoint": session.config["Cmd"][0],
                "arguments": session.config["Cmd"].as_array().map(|a| a[1..].to_vec()).unwrap_or_default(),
                "privileged": session.config["Privileged"].as_bool().unwrap_or(false),
                "user": session.config["User"].as_str().unwrap_or_default(),
            },
            "OpenStdin": false,
            "OpenStderr": session.config["AttachStderr"].as_bool().unwrap_or(true),
            "OpenStdout": session.config["AttachStdout"].as_bool().unwrap_or(true),
            "CanRemove": false,
            "ContainerID": session.container,
            "DetachKeys": "",
            "Pid": session.pid,
        })),
        (&Method::POST, "resize") => {
            let h = ctx.q("h").and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
            let w = ctx.q("w").and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
            match e.containers.exec_resize(exec_id, h, w) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(err) => engine_error(err),
            }
        }
        (&Method::POST, "start") if session.config["Tty"].as_bool() == Some(true) => {
            let _ = crate::system::body_json(body).await;
            exec_tty(e, session, parts).await
        }
        (&Method::POST, "start") => {
            let v = match crate::system::body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            if session.running || session.exit_code.is_some() {
                return error(
                    409,
                    format!("Exec {} is already running or has run", session.id),
                );
            }
            let detach = v["Detach"].as_bool().unwrap_or(false);
            let mut cmd = match e.containers.exec_command(&session) {
                Ok(c) => c,
                Err(err) => return engine_error(err),
            };
            let with_stdin = session.config["AttachStdin"].as_bool() == Some(true) && !detach;
            cmd.stdin(if with_stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(err) => return error(500, format!("exec: {err}")),
            };
            let id = session.id.clone();
            e.containers.exec_update(&id, |s| {
                s.running = true;
                s.pid = i64::from(child.id());
            });
            let stdin_target = child.stdin.take().map(|i| StdinTarget::Fd {
                fd: std::os::fd::OwnedFd::from(i),
                close_at_end: true,
            });
            let want_out = session.config["AttachStdout"].as_bool().unwrap_or(true) && !detach;
            let want_err = session.config["AttachStderr"].as_bool().unwrap_or(true) && !detach;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
            let out = child.stdout.take();
            let err = child.stderr.take();
            std::thread::spawn(move || {
                // Both pipes are read to the end (a full pipe would stall the process).
                let tx_err = tx.clone();
                let runtime_error = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
                let re = runtime_error.clone();
                let t = std::thread::spawn(move || {
                    let mut first = true;
                    if let Some(mut r) = err {
                        let mut buf = vec![0u8; 32 << 10];
                        while let Ok(n) = std::io::Read::read(&mut r, &mut buf) {
                            if n == 0 {
                                break;
                            }
                            // The runtime's own error (it comes first, maybe in pieces):
                            // collected whole to pick docker's exit code.
                            if let Ok(mut s) = re.lock() {
                                if (first && buf[..n].starts_with(b"berth-runtime: "))
                                    || (!s.is_empty() && s.len() < 4096)
                                {
                                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                                }
                            }
                            first = false;
                            if want_err {
                                let _ = tx_err.blocking_send(Ok(Bytes::from(frame(2, &buf[..n]))));
                            }
                        }
                    }
                });
                if let Some(mut r) = out {
                    let mut buf = vec![0u8; 32 << 10];
                    while let Ok(n) = std::io::Read::read(&mut r, &mut buf) {
                        if n == 0 {
                            break;
                        }
                        if want_out {
                            let _ = tx.blocking_send(Ok(Bytes::from(frame(1, &buf[..n]))));
                        }
                    }
                }
                let _ = t.join();
                let mut code = child
                    .wait()
                    .ok()
                    .and_then(|s| s.code())
                    .map_or(126, i64::from);
                // A failure of the runtime itself, not of the command: docker's codes.
                let re = runtime_error.lock().map(|s| s.clone()).unwrap_or_default();
                if !re.is_empty() {
                    code = if re.contains("executable file not found")
                        || re.contains("no such file")
                    {
                        127
                    } else {
                        126
                    };
                }
                e.containers.exec_update(&id, |s| {
                    s.running = false;
                    s.exit_code = Some(code);
                });
            });
            if detach {
                return StatusCode::OK.into_response();
            }
            let upgrade = parts
                .headers
                .get(header::UPGRADE)
                .is_some()
                .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
                .flatten();
            stream_response_with(rx, upgrade, stdin_target, false)
        }
        _ => error(404, "page not found"),
    }
}

/// Receive one descriptor sent with SCM_RIGHTS on a connected unix socket.
/// `exec -t`: the runtime hands the new terminal's master over a console socket; the daemon
/// copies between it and the hijacked connection, and resizes it on request.
async fn exec_tty(
    e: Arc<Engine>,
    session: berth_engine::containers::ExecSession,
    parts: &mut axum::http::request::Parts,
) -> Response {
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .is_some()
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    // A console socket in the exec root, reached through our own /proc/<pid>/fd (short).
    let dir = e.config.exec_root.clone();
    let name = format!("console-{}.sock", &session.id[..12]);
    let path = dir.join(&name);
    let _ = std::fs::remove_file(&path);
    let Ok(dirf) = std::fs::File::open(&dir) else {
        return error(500, "exec: open the exec root");
    };
    let short = format!(
        "/proc/{}/fd/{}/{name}",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&dirf)
    );
    let listener = match std::os::unix::net::UnixListener::bind(&short) {
        Ok(l) => l,
        Err(err) => return error(500, format!("exec: console socket: {err}")),
    };
    let cmd = match e.containers.exec_command(&session) {
        Ok(c) => c,
        Err(err) => return engine_error(err),
    };
    // `exec -t` without --console-socket proxies to its own stdio; give it the socket instead.
    let args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut fixed = std::process::Command::new(cmd.get_program());
    for a in &args {
        fixed.arg(a);
        if a == "exec" {
            fixed.arg("--console-socket").arg(&short);
        }
    }
    fixed
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = match fixed.spawn() {
        Ok(c) => c,
        Err(err) => return error(500, format!("exec: {err}")),
    };
    let accepted = tokio::task::spawn_blocking(move || {
        let _keep = dirf;
        // Wait for the runtime's connection while it lives (a failing runtime never calls).
        let master = (|| {
            listener.set_nonblocking(true).ok()?;
            let mut b = berth_engine::containers::Backoff::new();
            for _ in 0..2000 {
                if let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(false).ok()?;
                    return berth_shim::recv_fd(&s);
                }
                if child.try_wait().ok()?.is_some() {
                    return None;
                }
                std::thread::sleep(b.step());
            }
            None
        })();
        (master, child)
    })
    .await;
    let Ok((master, mut child)) = accepted else {
        return error(500, "exec: the console socket's waiter failed".to_owned());
    };
    let master = match master {
        Some(m) => m,
        None => {
            let _ = child.kill();
            let mut err_text = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err_text);
            }
            let _ = child.wait();
            let _ = std::fs::remove_file(&path);
            return error(500, format!("exec: {}", err_text.trim()));
        }
    };
    let _ = std::fs::remove_file(&path);
    let master = Arc::new(master);
    let id = session.id.clone();
    e.containers.exec_update(&id, |s| {
        s.running = true;
        s.pid = i64::from(child.id());
        s.pty = Some(master.clone());
    });
    let input = master.try_clone().ok().map(|fd| StdinTarget::Fd {
        fd,
        close_at_end: false,
    });
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let reader = master.try_clone();
    std::thread::spawn(move || {
        if let Ok(r) = reader {
            let mut f = std::fs::File::from(r);
            let mut buf = vec![0u8; 32 << 10];
            // EIO once the exec's process (and every holder of the terminal) is gone.
            while let Ok(n) = std::io::Read::read(&mut f, &mut buf) {
                if n == 0
                    || tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                {
                    break;
                }
            }
        }
        let code = child
            .wait()
            .ok()
            .and_then(|s| s.code())
            .map_or(126, i64::from);
        e.containers.exec_update(&id, |s| {
            s.running = false;
            s.exit_code = Some(code);
            s.pty = None;
        });
    });
    stream_response_with(rx, upgrade, input, true)
}

/// Where a hijacked connection's input goes: a container's stdin (through its shim).
pub enum StdinTarget {
    /// A container's stdin, through its shim.
    Shim { engine: Arc<Engine>, id: String },
    /// A descriptor written directly: an exec's pty master (kept) or stdin pipe (closed at
    /// the end of the client's input).
    Fd {
        fd: std::os::fd::OwnedFd,
        close_at_end: bool,
    },
}

/// Copy what the client sends into the container's stdin; its end (half-close) closes the
/// container's stdin.
fn forward_stdin(mut input: impl tokio::io::AsyncRead + Unpin + Send + 'static, t: StdinTarget) {
    use std::io::Write;
    use tokio::io::AsyncReadExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match input.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None).await;
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        let (engine, id) = match t {
            StdinTarget::Shim { engine, id } => (engine, id),
            StdinTarget::Fd { fd, close_at_end } => {
                let mut f = std::fs::File::from(fd);
                while let Some(Some(data)) = rx.blocking_recv() {
                    if f.write_all(&data).is_err() {
                        return;
                    }
                }
                if !close_at_end {
                    // A terminal is not closed by the end of input: it gets ^D, like a shell.
                    let _ = f.write_all(&[4]);
                }
                return;
            }
        };
        let Ok(mut sock) = engine.containers.shim_socket(&id, Duration::from_secs(30)) else {
            return;
        };
        while let Some(msg) = rx.blocking_recv() {
            let m = match msg {
                Some(data) => berth_shim::message(berth_shim::MSG_STDIN, &data),
                None => {
                    let _ = sock.write_all(&berth_shim::message(berth_shim::MSG_STDIN_EOF, &[]));
                    return;
                }
            };
            if sock.write_all(&m).is_err() {
                return;
            }
        }
    });
}

/// A stream as a hijacked connection (101) or a plain streamed body; with `stdin`, what the
/// client sends on the hijacked connection goes to the container (or exec).
fn stream_response_with(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    stdin: Option<StdinTarget>,
    raw: bool,
) -> Response {
    let content_type = if raw {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if let Some(on_upgrade) = upgrade {
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(upgraded);
            let (input, mut output) = tokio::io::split(io);
            if let Some(t) = stdin {
                forward_stdin(input, t);
            }
            let mut rx = rx;
            use tokio::io::AsyncWriteExt;
            while let Some(Ok(b)) = rx.recv().await {
                if output.write_all(&b).await.is_err() {
                    return;
                }
            }
            let _ = output.shutdown().await;
        });
        return (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONNECTION, "Upgrade"),
                (header::UPGRADE, "tcp"),
            ],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// `stats`: a sample a second, each with the previous one as `precpu_stats` (so clients can
/// compute CPU%); with `stream=false`, one sample (two taken a second apart unless
/// `one-shot`).
async fn stats(e: Arc<Engine>, id: String, stream: bool, one_shot: bool) -> Response {
    let sample = |e: Arc<Engine>, id: String| async move {
        tokio::task::spawn_blocking(move || e.containers.stats_sample(&id))
            .await
            .unwrap_or_else(|j| Err(berth_engine::Error::Internal(j.to_string())))
    };
    let first = match sample(e.clone(), id.clone()).await {
        Ok(v) => v,
        Err(err) => return engine_error(err),
    };
    let combine = |mut cur: Value, prev: &Value| {
        cur["precpu_stats"] = prev["cpu_stats"].clone();
        cur["preread"] = prev["read"].clone();
        cur
    };
    if !stream {
        if one_shot {
            let empty = json!({"cpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0}, "read": "0001-01-01T00:00:00Z"});
            return json(&combine(first, &empty));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        return match sample(e, id).await {
            Ok(v) => json(&combine(v, &first)),
            Err(err) => engine_error(err),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut prev = first;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Ok(cur) = sample(e.clone(), id.clone()).await else {
                return;
            };
            let running = cur["read"] != "0001-01-01T00:00:00Z";
            let out = combine(cur.clone(), &prev);
            let mut b = out.to_string().into_bytes();
            b.push(b'\n');
            if tx.send(Ok(Bytes::from(b))).await.is_err() || !running {
                return;
            }
            prev = cur;
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// A tar produced by blocking work, streamed as the response body.
fn tar_stream(
    f: impl FnOnce(std::io::BufWriter<crate::images::ChannelWriter>) -> berth_engine::Result<()>
    + Send
    + 'static,
    stat: Option<String>,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let tx2 = tx.clone();
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(1 << 20, crate::images::ChannelWriter(tx));
        if let Err(e) = f(w) {
            let _ = tx2.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response();
    if let Some(s) = stat {
        if let Ok(v) = header::HeaderValue::from_str(&s) {
            r.headers_mut().insert("X-Docker-Container-Path-Stat", v);
        }
    }
    r
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=`
pub async fn commit(ctx: &Ctx) -> Response {
    let e = ctx.engine.clone();
    let name = ctx.q("container").unwrap_or_default().to_owned();
    let repo = ctx.q("repo").unwrap_or_default().to_owned();
    let tag = ctx.q("tag").unwrap_or_default().to_owned();
    let target = if repo.is_empty() {
        String::new()
    } else if tag.is_empty() {
        repo
    } else {
        format!("{repo}:{tag}")
    };
    let comment = ctx.q("comment").unwrap_or_default().to_owned();
    let author = ctx.q("author").unwrap_or_default().to_owned();
    let changes = ctx.all("changes");
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
        Ok(id) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"Id": id}).to_string(),
        )
            .into_response(),
        Err(r) => r,
    }
}
