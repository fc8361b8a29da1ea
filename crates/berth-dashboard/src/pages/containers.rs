//! Containers: the list (state, health, CPU and memory sparklines from the stats history,
//! actions, bulk actions, a create form) and one container (inspect, live logs with search,
//! stats charts, processes, the console).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use berth_models::container::{Config, CreateRequest, HostConfig, PortBinding};

use super::{back, blocking, flash, table};
use crate::App;
use crate::auth::{User, serde_urlencoded_form};
use crate::html::{action, chart, esc, page, sparkline};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/containers", get(list))
        .route("/containers/create", post(create))
        .route("/containers/bulk", post(bulk))
        .route("/containers/{id}", get(one))
        .route("/containers/{id}/{action}", post(act))
}

/// The actions a container takes, as the list and its page offer them.
pub const ACTIONS: [(&str, &str); 7] = [
    ("start", "Start"),
    ("stop", "Stop"),
    ("restart", "Restart"),
    ("kill", "Kill"),
    ("pause", "Pause"),
    ("unpause", "Unpause"),
    ("remove", "Remove"),
];

/// Do `what` to container `id`: the message to show.
pub fn do_action(e: &berth_engine::Engine, id: &str, what: &str) -> berth_engine::Result<String> {
    let id = e.containers.resolve(id)?;
    match what {
        "start" => e.start_container(&id).map(|_| ()),
        "stop" => e.stop_container(&id, None, false).map(|_| ()),
        "restart" => e.stop_container(&id, None, true).map(|_| ()),
        "kill" => e.containers.kill(&id, berth_engine::util::SIGKILL),
        "pause" => e.containers.pause(&id, true),
        "unpause" => e.containers.pause(&id, false),
        "remove" => e.containers.remove(&id, true, false),
        o => {
            return Err(berth_engine::Error::InvalidParameter(format!(
                "unknown action {o:?}"
            )));
        }
    }?;
    Ok(format!("{what}: {}", &id[..12.min(id.len())]))
}

async fn list(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let e = app.engine.clone();
    let data = blocking(move || {
        let list = crate::pages::all_containers(&e)?;
        // The last 10 minutes of each running container: its sparklines.
        let since = berth_units::now() as f64 - 600.0;
        let mut spark = HashMap::new();
        for c in list.iter().filter(|c| c.state == "running") {
            let p = e.history.points(&c.id, since).unwrap_or_default();
            let cpu: Vec<f64> = p.iter().map(|x| x.cpu_percent).collect();
            let mem: Vec<f64> = p.iter().map(|x| x.memory_working_set as f64).collect();
            spark.insert(c.id.clone(), (cpu, mem));
        }
        Ok((list, spark))
    })
    .await;
    let (list, spark) = match data {
        Ok(d) => d,
        Err(err) => {
            return page(
                &user,
                "/containers",
                "Containers",
                &format!(r#"<p class="error">{}</p>"#, esc(&err)),
            )
            .into_response();
        }
    };
    let act = user.role.can_act();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let name = c.names.first().map_or("", |n| n.trim_start_matches('/'));
            let (cpu, mem) = spark.get(&c.id).cloned().unwrap_or_default();
            let mut row = Vec::new();
            if act {
                row.push(format!(
                    r#"<input type="checkbox" name="ids" value="{}" form="bulk" aria-label="select {}">"#,
                    esc(&c.id),
                    esc(name)
                ));
            }
            row.extend([
                format!(r#"<a href="/containers/{}">{}</a>"#, esc(&c.id), esc(name)),
                esc(&c.image),
                format!(r#"<span class="state {0}">{0}</span>"#, esc(&c.state)),
                esc(&c.status),
                if cpu.is_empty() { String::new() } else { sparkline(&cpu, &format!("CPU of {name}")) },
                if mem.is_empty() { String::new() } else { sparkline(&mem, &format!("memory of {name}")) },
            ]);
            if act {
                let buttons: String = ACTIONS
                    .iter()
                    .filter(|(a, _)| match c.state.as_str() {
                        "running" => !matches!(*a, "start" | "unpause"),
                        "paused" => matches!(*a, "unpause" | "kill" | "remove"),
                        _ => matches!(*a, "start" | "remove"),
                    })
                    .map(|(a, l)| {
                        action(&user.csrf, &format!("/containers/{}/{a}", c.id), l, *a == "remove")
                    })
                    .collect();
                row.push(buttons);
            }
            row
        })
        .collect();
    let mut head = Vec::new();
    if act {
        head.push("<span class=\"sr\">Select</span>");
    }
    head.extend(["Name", "Image", "State", "Status", "CPU", "Memory"]);
    if act {
        head.push("Actions");
    }
    let mut main = flash(&q);
    if act {
        let opts: String = ACTIONS
            .iter()
            .map(|(a, l)| format!(r#"<option value="{a}">{l}</option>"#))
            .collect();
        main.push_str(&format!(
            r#"<form id="bulk" method="post" action="/containers/bulk" class="bulk"><input type="hidden" name="csrf" value="{}">
<label>With the selected <select name="action">{opts}</select></label> <button type="submit">Apply</button></form>"#,
            esc(&user.csrf)
        ));
    }
    main.push_str(&table("Containers", &head, &rows));
    if act {
        main.push_str(&create_form(&user.csrf));
    }
    page(&user, "/containers", "Containers", &main).into_response()
}

fn create_form(csrf: &str) -> String {
    format!(
        r#"<section><h2>Create a container</h2><form method="post" action="/containers/create" class="create">
<input type="hidden" name="csrf" value="{}">
<label>Image <input name="image" required placeholder="busybox"></label>
<label>Name <input name="name" placeholder="(generated)"></label>
<label>Command <input name="cmd" placeholder="(the image's)"></label>
<label>Ports <input name="ports" placeholder="8080:80, 127.0.0.1:9000:9000/udp"></label>
<label>Volumes <textarea name="volumes" rows="2" placeholder="data:/data&#10;/srv/www:/www:ro"></textarea></label>
<label>Environment <textarea name="env" rows="2" placeholder="KEY=value"></textarea></label>
<label>Memory <input name="memory" placeholder="256m"></label>
<label>CPUs <input name="cpus" placeholder="0.5"></label>
<label>Pids limit <input name="pids" placeholder="100"></label>
<label><input type="checkbox" name="start" value="1" checked> Start it</label>
<button type="submit">Create</button></form></section>"#,
        esc(csrf)
    )
}

#[derive(serde::Deserialize, Default)]
struct CreateForm {
    #[serde(default)]
    image: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    cmd: String,
    #[serde(default)]
    ports: String,
    #[serde(default)]
    volumes: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    memory: String,
    #[serde(default)]
    cpus: String,
    #[serde(default)]
    pids: String,
    #[serde(default)]
    start: String,
}

/// The form as a create request, or what is wrong with it.
fn request(f: &CreateForm) -> Result<CreateRequest, String> {
    if f.image.trim().is_empty() {
        return Err("an image is needed".into());
    }
    let mut hc = HostConfig::default();
    let mut exposed = berth_models::container::Set::new();
    for p in f
        .ports
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (spec, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [i, h, c] => (*i, *h, *c),
            _ => return Err(format!("invalid port {p:?}: [IP:]HOST:CONTAINER[/PROTO]")),
        };
        if ctr.parse::<u16>().is_err() || (!host.is_empty() && host.parse::<u16>().is_err()) {
            return Err(format!("invalid port {p:?}: ports are numbers"));
        }
        let key = format!("{ctr}/{proto}");
        exposed.insert(key.clone(), Default::default());
        hc.port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: ip.into(),
                host_port: host.into(),
            });
    }
    let binds: Vec<String> = f
        .volumes
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for b in &binds {
        if b.split(':').count() < 2 {
            return Err(format!("invalid volume {b:?}: SOURCE:DESTINATION[:ro]"));
        }
    }
    hc.binds = (!binds.is_empty()).then_some(binds);
    if !f.memory.trim().is_empty() {
        hc.resources.memory = berth_engine::util::parse_size(f.memory.trim())
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| format!("invalid memory {:?}: a size such as 256m", f.memory))?;
    }
    if !f.cpus.trim().is_empty() {
        let c: f64 = f
            .cpus
            .trim()
            .parse()
            .ok()
            .filter(|c: &f64| *c > 0.0)
            .ok_or_else(|| format!("invalid CPUs {:?}", f.cpus))?;
        hc.resources.nano_cpus = (c * 1e9) as i64;
    }
    if !f.pids.trim().is_empty() {
        hc.resources.pids_limit = Some(
            f.pids
                .trim()
                .parse()
                .map_err(|_| format!("invalid pids limit {:?}", f.pids))?,
        );
    }
    let env: Vec<String> = f
        .env
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(CreateRequest {
        config: Config {
            image: f.image.trim().to_owned(),
            cmd: if f.cmd.trim().is_empty() {
                None
            } else {
                Some(words(&f.cmd)?)
            },
            env: (!env.is_empty()).then_some(env),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            ..Default::default()
        },
        host_config: Some(hc),
        networking_config: None,
    })
}

/// A command line split as a shell splits words (quotes and backslashes; no expansions).
fn words(s: &str) -> Result<Vec<String>, String> {
    let (mut out, mut cur, mut any) = (Vec::new(), String::new(), false);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                any = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed ' in the command {s:?}")),
                    }
                }
            }
            '"' => {
                any = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.extend(chars.next()),
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed \" in the command {s:?}")),
                    }
                }
            }
            '\\' => {
                any = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                any = true;
                cur.push(c);
            }
        }
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

async fn create(State(app): State<Arc<App>>, body: String) -> Response {
    let f: CreateForm = serde_urlencoded_form(&body).unwrap_or_default();
    let req = match request(&f) {
        Ok(r) => r,
        Err(m) => return back("/containers", Err(m)),
    };
    let (e, name, start) = (app.engine.clone(), f.name.trim().to_owned(), f.start == "1");
    let r = blocking(move || {
        let c = e.create_container(req, (!name.is_empty()).then_some(name.as_str()), false)?;
        if start {
            e.start_container(&c.id)?;
        }
        Ok(format!("created {}", &c.id[..12]))
    })
    .await;
    back("/containers", r)
}

async fn bulk(State(app): State<Arc<App>>, body: String) -> Response {
    let mut ids = Vec::new();
    let mut what = String::new();
    for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "ids" => ids.push(v.into_owned()),
            "action" => what = v.into_owned(),
            _ => {}
        }
    }
    if ids.is_empty() {
        return back("/containers", Err("select containers first".into()));
    }
    let e = app.engine.clone();
    let r = blocking(move || {
        let mut failed = Vec::new();
        for id in &ids {
            if let Err(err) = do_action(&e, id, &what) {
                failed.push(err.to_string());
            }
        }
        if failed.is_empty() {
            Ok(format!("{what}: {} containers", ids.len()))
        } else {
            Err(berth_engine::Error::Conflict(failed.join("; ")))
        }
    })
    .await;
    back("/containers", r)
}

async fn act(State(app): State<Arc<App>>, Path((id, what)): Path<(String, String)>) -> Response {
    let e = app.engine.clone();
    let (i, w) = (id.clone(), what.clone());
    let r = blocking(move || do_action(&e, &i, &w)).await;
    let to = if what == "remove" && r.is_ok() {
        "/containers".to_owned()
    } else {
        format!("/containers/{id}")
    };
    back(&to, r)
}

async fn one(
    State(app): State<Arc<App>>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let e = app.engine.clone();
    let data = blocking(move || {
        let id = e.containers.resolve(&id)?;
        let i = e.containers.inspect(&id)?;
        let top = e.containers.top(&id, "").ok();
        let points = e.history.points(&id, berth_units::now() as f64 - 3600.0)?;
        Ok((i, top, points))
    })
    .await;
    let (i, top, points) = match data {
        Ok(d) => d,
        Err(err) => return super::back("/containers", Err(err)),
    };
    let name = i.name.trim_start_matches('/').to_owned();
    let mut main = flash(&q);
    let running = i.state.status.as_str() == "running";
    main.push_str(&format!(
        r#"<p>Image <code>{}</code> · state <span class="state {st}">{st}</span> · id <code>{}</code></p>"#,
        esc(&i.config.image),
        esc(&i.id),
        st = esc(i.state.status.as_str()),
    ));
    if user.role.can_act() {
        let buttons: String = ACTIONS
            .iter()
            .map(|(a, l)| {
                action(
                    &user.csrf,
                    &format!("/containers/{}/{a}", i.id),
                    l,
                    *a == "remove",
                )
            })
            .collect();
        main.push_str(&format!(r#"<div class="actions">{buttons}</div>"#));
    }
    let t0 = |p: &berth_models::stats::HistoryPoint| {
        berth_units::parse_rfc3339(&p.time).unwrap_or(0) as f64
    };
    let cpu: Vec<(f64, f64)> = points.iter().map(|p| (t0(p), p.cpu_percent)).collect();
    let mem: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (t0(p), p.memory_working_set as f64 / 1048576.0))
        .collect();
    main.push_str(&format!(
        r#"<section id="stats" data-id="{}"><h2>Stats (the last hour)</h2><div class="charts">{}{}</div></section>"#,
        esc(&i.id),
        chart(&cpu, "CPU", "%"),
        chart(&mem, "Memory", " MiB")
    ));
    main.push_str(&format!(
        r#"<section id="logs" data-id="{}"><h2>Logs</h2>
<label>Search <input type="search" id="log-search"></label> <label><input type="checkbox" id="log-follow" checked> Follow</label>
<pre id="log-view" tabindex="0" aria-live="polite" aria-label="logs of {}"></pre></section>"#,
        esc(&i.id),
        esc(&name)
    ));
    if let Some(t) = top {
        let head: Vec<&str> = t.titles.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = t
            .processes
            .iter()
            .map(|r| r.iter().map(|c| esc(c)).collect())
            .collect();
        main.push_str(&format!(
            "<section><h2>Processes</h2>{}</section>",
            table("Processes", &head, &rows)
        ));
    }
    if user.role.can_act() && running {
        main.push_str(&format!(
            r#"<section id="console" data-id="{}"><h2>Console</h2><p><button type="button" id="console-open">Open a shell</button></p><div id="term" class="term" tabindex="0" aria-label="terminal"></div></section>"#,
            esc(&i.id)
        ));
    }
    let pretty = serde_json::to_string_pretty(&i).unwrap_or_default();
    main.push_str(&format!(
        r#"<section><h2>Inspect</h2><pre class="inspect">{}</pre></section>"#,
        esc(&pretty)
    ));
    page(&user, "/containers", &name, &main).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_form_becomes_a_request_or_says_what_is_wrong() {
        let f = CreateForm {
            image: "busybox".into(),
            cmd: "sleep 100".into(),
            ports: "8080:80, 127.0.0.1:53:53/udp".into(),
            volumes: "data:/data\n".into(),
            env: "A=1\nB=2".into(),
            memory: "64m".into(),
            cpus: "0.5".into(),
            pids: "50".into(),
            ..Default::default()
        };
        let r = request(&f).expect("a request");
        let hc = r.host_config.expect("host config");
        assert_eq!(hc.resources.memory, 64 << 20);
        assert_eq!(hc.resources.nano_cpus, 500_000_000);
        assert_eq!(
            hc.port_bindings["53/udp"].as_ref().expect("b")[0].host_ip,
            "127.0.0.1"
        );
        assert_eq!(r.config.cmd.expect("cmd"), ["sleep", "100"]);
        for (bad, says) in [
            ("ports", "ports are numbers"),
            ("memory", "invalid memory"),
            ("volumes", "invalid volume"),
        ] {
            let mut f = CreateForm {
                image: "busybox".into(),
                ..Default::default()
            };
            match bad {
                "ports" => f.ports = "x:80".into(),
                "memory" => f.memory = "lots".into(),
                _ => f.volumes = "justone".into(),
            }
            assert!(request(&f).unwrap_err().contains(says), "{bad}");
        }
        assert!(request(&CreateForm::default()).is_err());
        assert_eq!(
            words(r#"sh -c "echo 'hi there'; sleep 1" a\ b ''"#).unwrap(),
            ["sh", "-c", "echo 'hi there'; sleep 1", "a b", ""]
        );
        assert!(words("echo 'open").is_err());
    }
}
