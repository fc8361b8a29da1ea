//! `berth compose up` attached: every container's output behind a coloured `NAME | ` prefix
//! (Compose's rainbow, in name order), `NAME exited with code N` when one ends,
//! `--abort-on-container-exit` / `--exit-code-from`, and Ctrl-C: a graceful stop, then a kill
//! on the second.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use berth_client::{Client, Method, query};
use berth_models::container::Inspect;
use tokio::sync::mpsc;

use crate::compose_up::{Converged, step};

pub struct AttachOptions {
    pub color: bool,
    pub no_prefix: bool,
    pub timestamps: bool,
    pub abort_on_exit: bool,
    pub exit_code_from: Option<String>,
    pub timeout: Option<i64>,
}

/// Compose's colour order for prefixes (ANSI foreground codes).
const RAINBOW: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

struct Exit {
    service: String,
    code: i64,
}

/// Follow the containers until each has ended (or, with `abort_on_exit`, the first one);
/// the exit code `up` returns.
pub async fn attached(
    c: &Client,
    project: &str,
    mut list: Vec<Converged>,
    o: &AttachOptions,
) -> Result<i32> {
    // Ctrl-C (and SIGTERM) are ours from here on, before anything is printed.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let short = |n: &str| {
        n.strip_prefix(&format!("{project}-"))
            .unwrap_or(n)
            .to_owned()
    };
    let names: Vec<String> = list.iter().map(|x| short(&x.name)).collect();
    println!("Attaching to {}", names.join(", "));
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) + 1;
    let out = Arc::new(Mutex::new(()));
    let (tx, mut rx) = mpsc::unbounded_channel::<Exit>();
    let mut tasks = Vec::new();
    for (i, ctr) in list.iter().enumerate() {
        let colour = RAINBOW[i % RAINBOW.len()];
        let paint = move |s: &str, on: bool| {
            if on {
                format!("\x1b[{colour}m{s}\x1b[0m")
            } else {
                s.to_owned()
            }
        };
        let name = names[i].clone();
        let prefix = if o.no_prefix {
            String::new()
        } else {
            paint(&format!("{name:<width$} | "), o.color)
        };
        let (c, ctr, out, tx) = (c.clone(), ctr.clone(), out.clone(), tx.clone());
        let (color, timestamps) = (o.color, o.timestamps);
        tasks.push(tokio::spawn(async move {
            let mut since = if ctr.started {
                started_at(&c, &ctr.id).await
            } else {
                now_secs()
            };
            loop {
                let mut q = vec![("stdout", "1"), ("stderr", "1"), ("follow", "1")];
                q.push(("since", since.as_str()));
                let qs = query(&q);
                let tty = inspect(&c, &ctr.id).await.is_some_and(|i| i.config.tty);
                let _ = crate::compose_ops::follow_lines(&c, &ctr.id, &qs, tty, |stream, line| {
                    let _g = out.lock();
                    let stamp = if timestamps {
                        format!("{} ", berth_units::now_rfc3339())
                    } else {
                        String::new()
                    };
                    let text = format!("{prefix}{stamp}{}", String::from_utf8_lossy(line));
                    if stream == 2 {
                        let _ = std::io::stderr().write_all(text.as_bytes());
                    } else {
                        let mut w = std::io::stdout().lock();
                        let _ = w.write_all(text.as_bytes());
                        let _ = w.flush();
                    }
                })
                .await;
                let Some(state) = inspect(&c, &ctr.id).await.map(|i| i.state) else {
                    // Removed under us: nothing more to follow.
                    let _ = tx.send(Exit {
                        service: ctr.service.clone(),
                        code: 0,
                    });
                    return;
                };
                let reset = if color { "\r\x1b[K" } else { "" };
                let restarting = state.restarting || state.running;
                let status = format!(
                    "{reset}{name} exited with code {}{}\n",
                    state.exit_code,
                    if restarting { " (restarting)" } else { "" }
                );
                {
                    let _g = out.lock();
                    let mut w = std::io::stdout().lock();
                    let _ = w.write_all(paint(&status, color).as_bytes());
                    let _ = w.flush();
                }
                if restarting {
                    since = now_secs();
                    // The restart policy's delay: follow again once it runs.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                let _ = tx.send(Exit {
                    service: ctr.service.clone(),
                    code: state.exit_code,
                });
                return;
            }
        }));
    }
    drop(tx);
    let mut code: i64 = 0;
    let mut stopping = false;
    let mut ended = 0;
    let mut interrupts = 0;
    let ids: Vec<(String, String)> = list
        .iter()
        .map(|x| (x.id.clone(), x.name.clone()))
        .collect();
    let mut stopper: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                ended += 1;
                if o.exit_code_from.as_deref() == Some(ev.service.as_str()) {
                    code = ev.code;
                }
                if o.abort_on_exit && !stopping {
                    stopping = true;
                    if o.exit_code_from.is_none() {
                        code = ev.code;
                    }
                    eprintln!("Aborting on container exit...");
                    stopper = Some(tokio::spawn(stop_all(c.clone(), ids.clone(), o.timeout, false)));
                }
                if ended == list.len() {
                    break;
                }
            }
            _ = async { tokio::select! { _ = sigint.recv() => {}, _ = sigterm.recv() => {} } } => {
                interrupts += 1;
                if interrupts == 1 && !stopping {
                    stopping = true;
                    println!("Gracefully Stopping... press Ctrl+C again to force");
                    stopper = Some(tokio::spawn(stop_all(c.clone(), ids.clone(), o.timeout, false)));
                } else {
                    stopper = Some(tokio::spawn(stop_all(c.clone(), ids.clone(), None, true)));
                }
            }
        }
    }
    if let Some(s) = stopper {
        let _ = s.await;
    }
    for t in tasks {
        let _ = t.await;
    }
    if interrupts > 0 {
        // As Compose: an interrupted `up` ends with 128 + SIGINT.
        return Ok(130);
    }
    Ok(code.clamp(0, 255) as i32)
}

/// Stop (or kill) the containers, with Compose's progress lines.
async fn stop_all(c: Client, ids: Vec<(String, String)>, timeout: Option<i64>, kill: bool) {
    let jobs = ids.iter().map(|(id, name)| {
        let c = &c;
        async move {
            let running = inspect(c, id)
                .await
                .is_some_and(|i| i.state.running || i.state.restarting);
            if !running {
                return;
            }
            let (path, before, after) = if kill {
                (format!("/containers/{id}/kill"), "Killing", "Killed")
            } else {
                let t = timeout.map(|t| format!("?t={t}")).unwrap_or_default();
                (format!("/containers/{id}/stop{t}"), "Stopping", "Stopped")
            };
            step("Container", name, before);
            let r = c
                .call(Method::POST, &path, &[], berth_client::empty())
                .await;
            if r.is_ok() {
                step("Container", name, after);
            }
        }
    });
    futures_util::future::join_all(jobs).await;
}

async fn inspect(c: &Client, id: &str) -> Option<Inspect> {
    c.get::<Inspect>(&format!("/containers/{id}/json"))
        .await
        .ok()
}

/// A container's start time as the logs API's `since` (Unix seconds).
async fn started_at(c: &Client, id: &str) -> String {
    match inspect(c, id).await {
        Some(i) => berth_units::parse_rfc3339(&i.state.started_at)
            .filter(|s| *s > 0)
            .map_or_else(|| "0".into(), |s| s.to_string()),
        None => "0".into(),
    }
}

fn now_secs() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}
