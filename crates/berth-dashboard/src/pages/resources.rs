//! The other pages: overview, images (pull, remove, history, SBOM and scan), networks,
//! volumes, compose stacks, events, sandboxes and the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use berth_models::Filters;

use super::{back, blocking, flash, size, table, when};
use crate::App;
use crate::auth::{User, serde_urlencoded_form};
use crate::html::{action, esc, page};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(overview))
        .route("/images", get(images))
        .route("/images/pull", post(pull))
        .route("/images/{id}", get(image))
        .route("/images/{id}/remove", post(image_remove))
        .route("/networks", get(networks))
        .route("/volumes", get(volumes))
        .route("/events", get(events))
        .route("/audit", get(audit))
        .route("/sandboxes", get(sandboxes).post(sandbox_run))
        .route("/sandboxes/{id}", get(sandbox))
        .route("/sandboxes/{id}/{action}", post(sandbox_act))
}

type Q = Query<HashMap<String, String>>;

fn error_page(user: &User, active: &str, title: &str, err: &str) -> Response {
    page(
        user,
        active,
        title,
        &format!(r#"<p class="error" role="alert">{}</p>"#, esc(err)),
    )
    .into_response()
}

async fn overview(State(app): State<Arc<App>>, Extension(user): Extension<User>) -> Response {
    let e = app.engine.clone();
    let r = blocking(move || {
        let snap = e.metrics()?;
        let volumes = e.volume_list(&Filters::default())?.volumes.len();
        let networks = e.networks.list(&Filters::default())?.len();
        Ok((snap, volumes, networks))
    })
    .await;
    let (snap, volumes, networks) = match r {
        Ok(v) => v,
        Err(err) => return error_page(&user, "/", "Overview", &err),
    };
    let total: u64 = snap.states.values().sum();
    let running = snap.states.get("running").copied().unwrap_or(0);
    let cards = [
        (
            "Containers",
            format!("{running} running of {total}"),
            "/containers",
        ),
        ("Images", snap.images.to_string(), "/images"),
        ("Volumes", volumes.to_string(), "/volumes"),
        ("Networks", networks.to_string(), "/networks"),
    ];
    let cards: String = cards
        .iter()
        .map(|(t, v, href)| {
            format!(r#"<li class="card"><a href="{href}"><span class="label">{t}</span> <span class="value" data-count="{t}">{}</span></a></li>"#, esc(v))
        })
        .collect();
    let main = format!(
        r#"<ul class="cards">{cards}</ul>
<section id="host"><h2>Host usage</h2><p>CPU and memory of the host, sampled every 2 seconds while this page is open.</p>
<figure class="chart"><svg id="host-cpu" viewBox="0 0 600 160" role="img" aria-label="host CPU"><polyline points=""/></svg><figcaption>CPU <span id="host-cpu-now"></span></figcaption></figure>
<figure class="chart"><svg id="host-mem" viewBox="0 0 600 160" role="img" aria-label="host memory"><polyline points=""/></svg><figcaption>Memory <span id="host-mem-now"></span></figcaption></figure></section>"#
    );
    page(&user, "/", "Overview", &main).into_response()
}

async fn images(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Query(q): Q,
) -> Response {
    let e = app.engine.clone();
    let list = match blocking(move || e.image_list(&Filters::default(), false)).await {
        Ok(l) => l,
        Err(err) => return error_page(&user, "/images", "Images", &err),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            let tags = if i.repo_tags.is_empty() {
                "&lt;none&gt;".to_owned()
            } else {
                esc(&i.repo_tags.join(", "))
            };
            let mut r = vec![
                format!(r#"<a href="/images/{}">{tags}</a>"#, esc(&i.id)),
                format!(
                    "<code>{}</code>",
                    esc(i
                        .id
                        .trim_start_matches("sha256:")
                        .get(..12)
                        .unwrap_or(&i.id))
                ),
                when(i.created),
                size(i.size),
                i.containers.max(0).to_string(),
            ];
            if user.role.can_act() {
                r.push(action(
                    &user.csrf,
                    &format!("/images/{}/remove", i.id),
                    "Remove",
                    true,
                ));
            }
            r
        })
        .collect();
    let mut head = vec!["Tags", "Id", "Created", "Size", "Containers"];
    if user.role.can_act() {
        head.push("Actions");
    }
    let mut main = flash(&q);
    if user.role.can_act() {
        main.push_str(&format!(
            r#"<form method="post" action="/images/pull" id="pull" class="inline-form"><input type="hidden" name="csrf" value="{}">
<label>Pull <input name="image" required placeholder="registry/name:tag"></label> <button type="submit">Pull</button></form>
<pre id="pull-progress" aria-live="polite" hidden></pre>"#,
            esc(&user.csrf)
        ));
    }
    main.push_str(&table("Images", &head, &rows));
    page(&user, "/images", "Images", &main).into_response()
}

/// A pull's progress as lines (for the streaming pull of `/api/images/pull`, and none here).
pub struct Lines(pub tokio::sync::mpsc::UnboundedSender<String>);

impl berth_image::registry::Progress for Lines {
    fn update(&self, id: &str, status: &str, bytes: Option<(u64, u64)>) {
        let b = bytes.map_or(String::new(), |(d, t)| format!(" {d}/{t}"));
        let _ = self.0.send(format!("{id}: {status}{b}"));
    }
    fn line(&self, text: &str) {
        let _ = self.0.send(text.to_owned());
    }
}

/// Pull `name` (reporting to `progress`): the final lines.
pub async fn do_pull(
    app: &App,
    name: &str,
    progress: &dyn berth_image::registry::Progress,
) -> Result<Vec<String>, String> {
    let r = berth_image::reference::Reference::parse(name.trim())
        .map_err(|e| format!("invalid reference {name:?}: {e}"))?;
    app.engine
        .image_pull(&r, None, Default::default(), false, progress)
        .await
        .map_err(|e| e.to_string())
}

async fn pull(State(app): State<Arc<App>>, body: String) -> Response {
    let f: HashMap<String, String> = serde_urlencoded_form(&body).unwrap_or_default();
    let name = f.get("image").cloned().unwrap_or_default();
    let r = do_pull(&app, &name, &berth_image::registry::Quiet).await;
    back("/images", r.map(|l| l.join(" ")))
}

async fn image_remove(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let e = app.engine.clone();
    let r = blocking(move || {
        e.image_remove(&id, false)
            .map(|d| format!("removed {} items", d.len()))
    })
    .await;
    back("/images", r)
}

async fn image(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Response {
    let e = app.engine.clone();
    let i2 = id.clone();
    let r = blocking(move || {
        let history = e.image_history(&i2)?;
        let sbom = e
            .image_sbom_document(&i2, berth_engine::scan::SbomFormat::Table)
            .ok();
        let vulns = e.image_vulnerabilities(&i2).ok();
        Ok((history, sbom, vulns))
    })
    .await;
    let (history, sbom, vulns) = match r {
        Ok(v) => v,
        Err(err) => return error_page(&user, "/images", "Image", &err),
    };
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|h| {
            vec![
                when(h.created),
                format!("<code>{}</code>", esc(&h.created_by)),
                size(h.size),
            ]
        })
        .collect();
    let mut main = table("History", &["Created", "Created by", "Size"], &rows);
    if let Some(s) = sbom {
        main.push_str(&format!(
            r#"<section><h2>Software bill of materials</h2><pre>{}</pre></section>"#,
            esc(&s)
        ));
    }
    if let Some(v) = vulns {
        let rows: Vec<Vec<String>> = v
            .iter()
            .map(|f| {
                vec![
                    esc(&f.id),
                    esc(&f.package),
                    esc(&f.installed),
                    esc(f.fixed_in.as_deref().unwrap_or("")),
                    esc(&f.severity),
                ]
            })
            .collect();
        main.push_str(&format!(
            "<section><h2>Vulnerabilities ({})</h2>{}</section>",
            v.len(),
            table(
                "Vulnerabilities",
                &["Id", "Package", "Installed", "Fixed in", "Severity"],
                &rows
            )
        ));
    }
    page(
        &user,
        "/images",
        &format!(
            "Image {}",
            id.trim_start_matches("sha256:").get(..12).unwrap_or(&id)
        ),
        &main,
    )
    .into_response()
}

async fn networks(State(app): State<Arc<App>>, Extension(user): Extension<User>) -> Response {
    let e = app.engine.clone();
    let list = match blocking(move || e.networks.list(&Filters::default())).await {
        Ok(l) => l,
        Err(err) => return error_page(&user, "/networks", "Networks", &err),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            let subnets: Vec<String> = n.ipam.config.iter().map(|c| c.subnet.clone()).collect();
            vec![
                esc(&n.name),
                format!("<code>{}</code>", esc(n.id.get(..12).unwrap_or(&n.id))),
                esc(&n.driver),
                esc(&subnets.join(", ")),
                if n.internal {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    page(
        &user,
        "/networks",
        "Networks",
        &table(
            "Networks",
            &["Name", "Id", "Driver", "Subnets", "Internal"],
            &rows,
        ),
    )
    .into_response()
}

async fn volumes(State(app): State<Arc<App>>, Extension(user): Extension<User>) -> Response {
    let e = app.engine.clone();
    let list = match blocking(move || e.volume_list(&Filters::default())).await {
        Ok(l) => l.volumes,
        Err(err) => return error_page(&user, "/volumes", "Volumes", &err),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            vec![
                esc(&v.name),
                esc(&v.driver),
                format!("<code>{}</code>", esc(&v.mountpoint)),
                esc(&v.created_at),
            ]
        })
        .collect();
    page(
        &user,
        "/volumes",
        "Volumes",
        &table(
            "Volumes",
            &["Name", "Driver", "Mount point", "Created"],
            &rows,
        ),
    )
    .into_response()
}

async fn events(Extension(user): Extension<User>) -> Response {
    let main = r#"<p>Live, from now on; the last hour first.</p><ol id="events" class="events" aria-live="polite"></ol>"#;
    page(&user, "/events", "Events", main).into_response()
}

async fn audit(State(app): State<Arc<App>>, Extension(user): Extension<User>) -> Response {
    let e = app.engine.clone();
    let r = blocking(move || Ok((e.audit.entries("")?, e.audit.verify()?))).await;
    let (entries, v) = match r {
        Ok(x) => x,
        Err(err) => return error_page(&user, "/audit", "Audit log", &err),
    };
    let rows: Vec<Vec<String>> = entries
        .iter()
        .rev()
        .take(500)
        .map(|x| {
            vec![
                x.seq.to_string(),
                esc(&x.time),
                if x.user.is_empty() {
                    format!("{}:{} pid {}", x.uid, x.gid, x.pid)
                } else {
                    esc(&x.user)
                },
                esc(&x.method),
                esc(&x.path),
                esc(&x.target),
                x.status.to_string(),
                esc(&x.error),
            ]
        })
        .collect();
    let state = if v.ok {
        format!(
            r#"<p class="ok">The chain of {} entries verifies.</p>"#,
            v.entries
        )
    } else {
        format!(
            r#"<p class="error" role="alert">The log does not verify: {}</p>"#,
            esc(v.problem.as_deref().unwrap_or(""))
        )
    };
    let main = format!(
        "{state}{}",
        table(
            "Mutating API requests, newest first",
            &[
                "#", "Time", "Caller", "Method", "Path", "Target", "Status", "Error"
            ],
            &rows
        )
    );
    page(&user, "/audit", "Audit log", &main).into_response()
}

/// The owner whose sandboxes `user` sees and touches (an admin: everyone's).
fn owner(user: &User) -> Option<&str> {
    (user.role != berth_engine::users::Role::Admin).then_some(user.name.as_str())
}

async fn sandboxes(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Query(q): Q,
) -> Response {
    let e = app.engine.clone();
    let who = owner(&user).map(str::to_owned);
    let list = match blocking(move || e.sandboxes(who.as_deref())).await {
        Ok(l) => l,
        Err(err) => return error_page(&user, "/sandboxes", "Sandboxes", &err),
    };
    let s = app.engine.live.sandboxes();
    let mut main = flash(&q);
    if user.role.can_act() && !s.images.is_empty() {
        let opts: String = s
            .images
            .iter()
            .map(|i| format!(r#"<option>{}</option>"#, esc(i)))
            .collect();
        main.push_str(&format!(
            r#"<form method="post" action="/sandboxes" class="inline-form"><input type="hidden" name="csrf" value="{}">
<label>Image <select name="image">{opts}</select></label> <button type="submit">New sandbox</button></form>
<p>Each sandbox: no network, {} memory, {:.1} CPUs, {} processes, removed after {} minutes (extendable); at most {} per user.</p>"#,
            esc(&user.csrf),
            size(s.memory),
            s.nano_cpus as f64 / 1e9,
            s.pids,
            s.ttl.as_secs() / 60,
            s.per_user
        ));
    } else if s.images.is_empty() {
        main.push_str(
            "<p>Sandboxes are off: the daemon's <code>sandbox-images</code> allows no image.</p>",
        );
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|x| {
            vec![
                format!(
                    r#"<a href="/sandboxes/{}">{}</a>"#,
                    esc(&x.id),
                    esc(&x.name)
                ),
                esc(&x.image),
                esc(&x.owner),
                esc(&x.state),
                format!(
                    r#"<span class="countdown" data-expires="{}">{}</span>"#,
                    x.expires,
                    when(x.expires)
                ),
            ]
        })
        .collect();
    main.push_str(&table(
        "Sandboxes",
        &["Name", "Image", "Owner", "State", "Removed at"],
        &rows,
    ));
    page(&user, "/sandboxes", "Sandboxes", &main).into_response()
}

async fn sandbox_run(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    body: String,
) -> Response {
    let f: HashMap<String, String> = serde_urlencoded_form(&body).unwrap_or_default();
    let image = f.get("image").cloned().unwrap_or_default();
    let e = app.engine.clone();
    let who = user.name.clone();
    match blocking(move || e.sandbox_run(&who, &image, 0)).await {
        Ok(s) => axum::response::Redirect::to(&format!("/sandboxes/{}", s.id)).into_response(),
        Err(err) => back("/sandboxes", Err(err)),
    }
}

async fn sandbox(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let e = app.engine.clone();
    let who = owner(&user).map(str::to_owned);
    let found = blocking(move || {
        let cid = e.containers.resolve(&id)?;
        Ok(e.sandboxes(who.as_deref())?
            .into_iter()
            .find(|s| s.id == cid))
    })
    .await;
    let s = match found {
        Ok(Some(s)) => s,
        Ok(None) => return back("/sandboxes", Err("no such sandbox of yours".into())),
        Err(err) => return back("/sandboxes", Err(err)),
    };
    let mut main = flash(&q);
    main.push_str(&format!(
        r#"<p>Image <code>{}</code> · owner {} · removed in <span class="countdown" data-expires="{}" role="timer">{}</span></p><div class="actions">{}{}</div>"#,
        esc(&s.image),
        esc(&s.owner),
        s.expires,
        when(s.expires),
        action(&user.csrf, &format!("/sandboxes/{}/extend", s.id), "Extend by 30 minutes", false),
        action(&user.csrf, &format!("/sandboxes/{}/remove", s.id), "Remove now", true),
    ));
    if user.role.can_act() {
        main.push_str(&format!(
            r#"<section id="console" data-id="{}" data-autostart="1"><h2>Shell</h2><div id="term" class="term" tabindex="0" aria-label="terminal"></div></section>"#,
            esc(&s.id)
        ));
    }
    page(&user, "/sandboxes", &format!("Sandbox {}", s.name), &main).into_response()
}

async fn sandbox_act(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Path((id, what)): Path<(String, String)>,
) -> Response {
    let e = app.engine.clone();
    let who = owner(&user).map(str::to_owned);
    let i = id.clone();
    match what.as_str() {
        "remove" => {
            let r = blocking(move || {
                e.sandbox_remove(who.as_deref(), &i)
                    .map(|()| "removed".to_owned())
            })
            .await;
            back("/sandboxes", r)
        }
        "extend" => {
            let r = blocking(move || {
                e.sandbox_extend(who.as_deref(), &i, 1800)
                    .map(|end| format!("now removed at {}", when(end)))
            })
            .await;
            back(&format!("/sandboxes/{id}"), r)
        }
        o => back("/sandboxes", Err(format!("unknown action {o:?}"))),
    }
}
