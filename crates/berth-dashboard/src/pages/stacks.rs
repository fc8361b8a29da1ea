//! Compose stacks: the projects (containers grouped by their `com.docker.compose.project`
//! label), a pasted compose file deployed with `berth compose up -d` (the daemon's own binary,
//! pointed at its own socket), and `down`. The file is kept in DATA_ROOT/stacks/PROJECT/.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::{back, blocking, flash, table};
use crate::App;
use crate::auth::{User, serde_urlencoded_form};
use crate::html::{action, esc, page};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/stacks", get(stacks).post(deploy))
        .route("/stacks/{name}/down", post(down))
}

/// Compose's rule for project names.
fn check_name(n: &str) -> Result<(), String> {
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid project name {n:?}: lowercase letters, digits, dashes and underscores, starting with a letter or digit"
        ))
    }
}

/// `berth compose ARGS` against this daemon: its output (the last lines) or its error.
fn compose(app: &App, dir: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let socket = app
        .engine
        .config
        .facts
        .sockets
        .first()
        .ok_or("the daemon has no API socket for compose to use")?;
    let mut child = std::process::Command::new("/proc/self/exe")
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("BERTH_HOST", format!("unix://{}", socket.display()))
        .env_remove("DOCKER_HOST")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("start berth compose: {e}"))?;
    // Never forever: a deploy that takes longer is stopped.
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("berth compose took longer than 10 minutes and was stopped".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join(" / ");
    if o.status.success() {
        Ok(tail)
    } else {
        Err(format!("berth compose failed: {tail}"))
    }
}

/// A compose project as its containers' labels show it.
#[derive(Debug, Default, serde::Serialize)]
pub struct Stack {
    pub services: Vec<String>,
    pub containers: usize,
    pub running: usize,
}

/// The compose projects among `list`, by name.
pub fn projects(list: &[berth_models::container::Summary]) -> BTreeMap<String, Stack> {
    let mut out: BTreeMap<String, Stack> = BTreeMap::new();
    for c in list {
        if let Some(p) = c.labels.get("com.docker.compose.project") {
            let e = out.entry(p.clone()).or_default();
            e.containers += 1;
            if c.state == "running" {
                e.running += 1;
            }
            if let Some(s) = c.labels.get("com.docker.compose.service") {
                if !e.services.contains(s) {
                    e.services.push(s.clone());
                }
            }
        }
    }
    out
}

fn stack_dir(app: &App, name: &str) -> std::path::PathBuf {
    app.engine.config.data_root.join("stacks").join(name)
}

async fn stacks(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let e = app.engine.clone();
    let list = match blocking(move || crate::pages::all_containers(&e)).await {
        Ok(l) => l,
        Err(err) => return back("/", Err(err)),
    };
    let projects = projects(&list);
    let act = user.role.can_act();
    let rows: Vec<Vec<String>> = projects
        .iter()
        .map(|(p, s)| {
            let mut row = vec![
                esc(p),
                esc(&s.services.join(", ")),
                format!("{} running of {}", s.running, s.containers),
            ];
            if act {
                row.push(action(
                    &user.csrf,
                    &format!("/stacks/{p}/down"),
                    "Down",
                    true,
                ));
            }
            row
        })
        .collect();
    let mut head = vec!["Project", "Services", "Containers"];
    if act {
        head.push("Actions");
    }
    let mut main = flash(&q);
    main.push_str(&table("Compose projects", &head, &rows));
    if act {
        main.push_str(&format!(
            r#"<section><h2>Deploy a stack</h2><form method="post" action="/stacks" class="create">
<input type="hidden" name="csrf" value="{}">
<label>Project name <input name="name" required pattern="[a-z0-9][a-z0-9_-]*"></label>
<label>Compose file <textarea name="compose" rows="12" required placeholder="services:&#10;  web:&#10;    image: busybox&#10;    command: sleep 3600"></textarea></label>
<button type="submit">Deploy (compose up -d)</button></form></section>"#,
            esc(&user.csrf)
        ));
    }
    page(&user, "/stacks", "Stacks", &main).into_response()
}

async fn deploy(State(app): State<Arc<App>>, body: String) -> Response {
    let f: HashMap<String, String> = serde_urlencoded_form(&body).unwrap_or_default();
    let name = f.get("name").cloned().unwrap_or_default();
    let file = f.get("compose").cloned().unwrap_or_default();
    if let Err(m) = check_name(&name) {
        return back("/stacks", Err(m));
    }
    if file.trim().is_empty() {
        return back("/stacks", Err("paste a compose file".into()));
    }
    let app2 = app.clone();
    let r = tokio::task::spawn_blocking(move || {
        let dir = stack_dir(&app2, &name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        std::fs::write(dir.join("compose.yaml"), file).map_err(|e| e.to_string())?;
        compose(
            &app2,
            &dir,
            &["-p", &name, "-f", "compose.yaml", "up", "-d"],
        )
        .map(|out| format!("{name} deployed: {out}"))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    back("/stacks", r)
}

async fn down(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    if let Err(m) = check_name(&name) {
        return back("/stacks", Err(m));
    }
    let app2 = app.clone();
    let r = tokio::task::spawn_blocking(move || {
        let dir = stack_dir(&app2, &name);
        let file = dir.join("compose.yaml");
        let out = if file.exists() {
            compose(&app2, &dir, &["-p", &name, "-f", "compose.yaml", "down"])
        } else {
            // A project deployed elsewhere: compose finds its containers by their labels.
            compose(&app2, &app2.engine.config.data_root, &["-p", &name, "down"])
        }?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(format!("{name} is down: {out}"))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    back("/stacks", r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn project_names_follow_compose() {
        assert!(super::check_name("web-1_a").is_ok());
        for bad in ["", "Web", "-x", "a b", "../x"] {
            assert!(super::check_name(bad).is_err(), "{bad}");
        }
    }
}
