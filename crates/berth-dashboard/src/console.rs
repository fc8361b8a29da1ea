//! The console: a shell in a container (an exec with a terminal) over a WebSocket. Binary
//! messages are the terminal's bytes both ways; a text message `{"resize": [COLS, ROWS]}`
//! sizes it. Only for roles that act, and only from the dashboard's own pages: a WebSocket
//! whose `Origin` is not the dashboard's is refused before the upgrade.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use berth_models::exec::{CreateRequest, StartRequest};

use crate::App;
use crate::auth::User;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/containers/{id}/console", get(console))
}

fn refuse(status: StatusCode, m: &str) -> Response {
    (status, Json(serde_json::json!({ "message": m }))).into_response()
}

/// Is the request's `Origin` this dashboard (`https://` and the `Host` it was sent to)?
pub fn same_origin(h: &HeaderMap) -> bool {
    let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!((origin, host), (Some(o), Some(h)) if o == format!("https://{h}"))
}

async fn console(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !user.role.can_act() {
        return refuse(StatusCode::FORBIDDEN, "viewers cannot open consoles");
    }
    if !same_origin(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the WebSocket's origin is not this dashboard",
        );
    }
    let size = |k: &str, d: u64| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (cols, rows) = (
        size("cols", 80).clamp(10, 500),
        size("rows", 24).clamp(5, 200),
    );
    let e = app.engine.clone();
    let started = crate::pages::blocking(move || {
        let cid = e.containers.resolve(&id)?;
        let exec = e.containers.exec_create(
            &cid,
            CreateRequest {
                tty: true,
                attach_stdin: true,
                attach_stdout: true,
                attach_stderr: true,
                console_size: Some([rows, cols]),
                env: Some(vec!["TERM=xterm".into()]),
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            },
        )?;
        let s = e.containers.exec_start(
            &exec,
            &StartRequest {
                tty: true,
                console_size: Some([rows, cols]),
                ..Default::default()
            },
        )?;
        Ok((exec, s))
    })
    .await;
    let (exec, streams) = match started {
        Ok((exec, Some(s))) => (exec, s),
        Ok((_, None)) => return refuse(StatusCode::CONFLICT, "the shell did not start"),
        Err(m) => return refuse(StatusCode::CONFLICT, &m),
    };
    tracing::info!("dashboard: {} opened a console ({exec})", user.name);
    let engine = app.engine.clone();
    ws.on_upgrade(move |socket| bridge(socket, engine, exec, streams))
}

async fn bridge(
    socket: WebSocket,
    engine: Arc<berth_engine::Engine>,
    exec: String,
    streams: berth_engine::containers::io::Streams,
) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut source) = socket.split();
    let mut output = streams.output;
    // The terminal's input is written on a thread of its own (writes may block).
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    if let Some(mut stdin) = streams.stdin {
        std::thread::spawn(move || {
            while let Ok(b) = in_rx.recv() {
                if stdin.write(&b).is_err() {
                    return;
                }
            }
            stdin.close();
        });
    }
    let out = async {
        while let Some(chunk) = output.recv().await {
            if sink.send(Message::Binary(chunk.data.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    };
    let inp = async {
        while let Some(Ok(m)) = source.next().await {
            match m {
                Message::Binary(b) if in_tx.send(b.to_vec()).is_err() => break,
                Message::Binary(_) => {}
                Message::Text(t) => {
                    #[derive(serde::Deserialize)]
                    struct Control {
                        resize: Option<[u16; 2]>,
                    }
                    if let Ok(Control {
                        resize: Some([c, r]),
                    }) = serde_json::from_str(t.as_str())
                    {
                        let (e, x) = (engine.clone(), exec.clone());
                        let _ =
                            tokio::task::spawn_blocking(move || e.containers.exec_resize(&x, r, c))
                                .await;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        drop(in_tx);
    };
    // Whichever side ends first ends the session (the shell gets ^D when the page goes).
    tokio::select! {
        _ = out => {},
        _ = inp => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_dashboards_own_origin_passes() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8443".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8443".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "https://127.0.0.1:8443".parse().unwrap());
        assert!(same_origin(&h));
    }
}
