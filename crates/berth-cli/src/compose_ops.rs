//! `berth compose ps`, `ls` and `down`: a project's containers, networks and volumes found by
//! the labels Compose sets (`com.docker.compose.project`, `…service`, `…oneoff`), so they
//! work as well on what Docker Compose made.

use std::collections::BTreeMap;

use anyhow::Result;
use berth_client::{Client, Method, enc, query};
use berth_models::container::Summary;
use serde::Serialize;

use crate::output::{labels_text, print_list};
use crate::units::{human_duration, now};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
const CONFIG_FILES: &str = "com.docker.compose.project.config_files";

/// The project's containers (all states), oldest first.
pub async fn containers(c: &Client, project: &str, all: bool) -> Result<Vec<Summary>> {
    let filters = serde_json::json!({ "label": [format!("{PROJECT}={project}")] }).to_string();
    let all = if all { "1" } else { "0" };
    let mut list: Vec<Summary> = c
        .get(&format!(
            "/containers/json{}",
            query(&[("all", all), ("filters", &filters)])
        ))
        .await?;
    list.sort_by_key(|s| s.created);
    Ok(list)
}

pub(crate) fn name_of(s: &Summary) -> String {
    s.names
        .first()
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

pub(crate) fn label<'a>(s: &'a Summary, k: &str) -> &'a str {
    s.labels.get(k).map(String::as_str).unwrap_or_default()
}

/// A row of `compose ps` (the fields its `--format` templates name).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PsRow {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    names: String,
    image: String,
    command: String,
    project: String,
    service: String,
    created: i64,
    created_at: String,
    running_for: String,
    state: String,
    status: String,
    health: String,
    exit_code: i64,
    ports: String,
    labels: String,
}

pub struct PsOptions<'a> {
    pub all: bool,
    pub quiet: bool,
    pub services: bool,
    pub format: Option<&'a str>,
    pub status: &'a [String],
    pub only: &'a [String],
}

pub async fn ps(c: &Client, project: &str, o: &PsOptions<'_>) -> Result<i32> {
    let mut list = containers(c, project, true).await?;
    list.retain(|s| {
        (o.all || s.state == "running" || !o.status.is_empty())
            && (o.status.is_empty() || o.status.contains(&s.state))
            && (o.only.is_empty() || o.only.iter().any(|x| x == label(s, SERVICE)))
    });
    list.sort_by_key(name_of);
    if o.services {
        let mut seen: Vec<&str> = list.iter().map(|s| label(s, SERVICE)).collect();
        seen.dedup();
        for s in seen {
            println!("{s}");
        }
        return Ok(0);
    }
    let rows: Vec<PsRow> = list
        .iter()
        .map(|s| {
            let mut cmd = s.command.clone();
            if cmd.chars().count() > 20 {
                cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
            }
            let health = if s.status.contains("(healthy)") {
                "healthy"
            } else if s.status.contains("(unhealthy)") {
                "unhealthy"
            } else if s.status.contains("(health: starting)") {
                "starting"
            } else {
                ""
            };
            let exit_code = s
                .status
                .strip_prefix("Exited (")
                .and_then(|r| r.split(')').next())
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            PsRow {
                id: s.id.clone(),
                name: name_of(s),
                names: name_of(s),
                image: s.image.clone(),
                command: format!("\"{cmd}\""),
                project: project.to_owned(),
                service: label(s, SERVICE).to_owned(),
                created: s.created,
                created_at: crate::units::go_time(s.created),
                running_for: format!("{} ago", human_duration(now() - s.created)),
                state: s.state.clone(),
                status: s.status.clone(),
                health: health.to_owned(),
                exit_code,
                ports: crate::ps::ports_column(&s.ports),
                labels: labels_text(&s.labels),
            }
        })
        .collect();
    print_list(
        o.quiet,
        |r: &PsRow| r.id.as_str(),
        o.format,
        &[
            ("Name", "NAME"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("Service", "SERVICE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Ports", "PORTS"),
        ],
        &[
            ("ID", "CONTAINER ID"),
            ("Name", "NAME"),
            ("Names", "NAMES"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("Project", "PROJECT"),
            ("Service", "SERVICE"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("State", "STATE"),
            ("Status", "STATUS"),
            ("Health", "HEALTH"),
            ("ExitCode", "EXIT CODE"),
            ("Ports", "PORTS"),
            ("Labels", "LABELS"),
        ],
        &rows,
    )?;
    Ok(0)
}

/// A row of `compose ls`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsRow {
    name: String,
    status: String,
    config_files: String,
}

pub async fn ls(c: &Client, all: bool, quiet: bool, format: Option<&str>) -> Result<i32> {
    let filters = serde_json::json!({ "label": [PROJECT] }).to_string();
    let list: Vec<Summary> = c
        .get(&format!(
            "/containers/json{}",
            query(&[("all", "1"), ("filters", &filters)])
        ))
        .await?;
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for s in &list {
        let p = projects.entry(label(s, PROJECT).to_owned()).or_default();
        *p.0.entry(s.state.clone()).or_default() += 1;
        if p.1.is_empty() {
            p.1 = label(s, CONFIG_FILES).to_owned();
        }
    }
    let rows: Vec<LsRow> = projects
        .into_iter()
        .filter(|(_, (states, _))| all || states.contains_key("running"))
        .map(|(name, (states, files))| LsRow {
            name,
            // Compose's form: `running(2)`, `exited(1), running(2)`.
            status: states
                .iter()
                .map(|(s, n)| format!("{s}({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            config_files: files,
        })
        .collect();
    let cols = [
        ("Name", "NAME"),
        ("Status", "STATUS"),
        ("ConfigFiles", "CONFIG FILES"),
    ];
    print_list(
        quiet,
        |r: &LsRow| r.name.as_str(),
        format,
        &cols,
        &cols,
        &rows,
    )?;
    Ok(0)
}

pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<i64>,
    /// The project's services in start order (when the file is at hand): stopped in reverse.
    pub order: Option<Vec<String>>,
    /// `--rmi`: the images to remove after the containers.
    pub images: Vec<String>,
}

fn step(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {name}  {what}");
}

/// Stop (when running) and remove a container, with Compose's progress lines.
pub(crate) async fn stop_and_remove(
    c: &Client,
    x: &Summary,
    timeout: Option<i64>,
    volumes: bool,
) -> Result<()> {
    let name = name_of(x);
    if x.state == "running" || x.state == "paused" || x.state == "restarting" {
        step("Container", &name, "Stopping");
        let t = timeout.map(|t| format!("?t={t}")).unwrap_or_default();
        c.call(
            Method::POST,
            &format!("/containers/{}/stop{t}", x.id),
            &[],
            berth_client::empty(),
        )
        .await?;
        step("Container", &name, "Stopped");
    }
    step("Container", &name, "Removing");
    let v = if volumes { "&v=1" } else { "" };
    c.call(
        Method::DELETE,
        &format!("/containers/{}?force=1{v}", x.id),
        &[],
        berth_client::empty(),
    )
    .await?;
    step("Container", &name, "Removed");
    Ok(())
}

pub async fn down(c: &Client, project: &str, o: &DownOptions) -> Result<i32> {
    let mut list = containers(c, project, true).await?;
    if let Some(order) = &o.order {
        let orphans: Vec<String> = list
            .iter()
            .filter(|s| {
                label(s, "com.docker.compose.oneoff") != "True"
                    && !order.iter().any(|x| x == label(s, SERVICE))
            })
            .map(name_of)
            .collect();
        if !orphans.is_empty() && !o.remove_orphans {
            eprintln!(
                "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                orphans.join(" ")
            );
            list.retain(|s| !orphans.contains(&name_of(s)));
        }
        // Dependents first: services later in the start order stop earlier.
        let rank = |s: &Summary| {
            order
                .iter()
                .position(|x| x == label(s, SERVICE))
                .unwrap_or(order.len())
        };
        list.sort_by_key(|s| std::cmp::Reverse(rank(s)));
    } else {
        list.reverse();
    }
    for s in &list {
        stop_and_remove(c, s, o.timeout, o.volumes).await?;
    }
    let filters = serde_json::json!({ "label": [format!("{PROJECT}={project}")] }).to_string();
    let q = query(&[("filters", &filters)]);
    let nets: Vec<berth_models::network::Network> = c.get(&format!("/networks{q}")).await?;
    for n in nets {
        step("Network", &n.name, "Removing");
        c.call(
            Method::DELETE,
            &format!("/networks/{}", enc(&n.id)),
            &[],
            berth_client::empty(),
        )
        .await?;
        step("Network", &n.name, "Removed");
    }
    let mut seen = Vec::new();
    for image in &o.images {
        if seen.contains(image) {
            continue;
        }
        seen.push(image.clone());
        if c.get::<serde_json::Value>(&format!("/images/{}/json", enc(image)))
            .await
            .is_err()
        {
            continue;
        }
        step("Image", image, "Removing");
        c.call(
            Method::DELETE,
            &format!("/images/{}", enc(image)),
            &[],
            berth_client::empty(),
        )
        .await?;
        step("Image", image, "Removed");
    }
    if o.volumes {
        let vols: berth_models::volume::ListResponse = c.get(&format!("/volumes{q}")).await?;
        for v in vols.volumes {
            step("Volume", &v.name, "Removing");
            c.call(
                Method::DELETE,
                &format!("/volumes/{}", enc(&v.name)),
                &[],
                berth_client::empty(),
            )
            .await?;
            step("Volume", &v.name, "Removed");
        }
    }
    Ok(0)
}

/// What a lifecycle command does to each container, with Compose's progress words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    Remove,
}

pub struct EachOptions<'a> {
    pub services: &'a [String],
    pub order: Option<Vec<String>>,
    pub timeout: Option<i64>,
    pub signal: Option<&'a str>,
    pub volumes: bool,
    /// `rm -s`: stop running containers first (else `rm` leaves them).
    pub stop_first: bool,
    /// `rm` without `-f`: name the containers and ask first.
    pub ask: bool,
}

/// `start`, `stop`, `restart`, `kill`, `pause`, `unpause`, `rm` over the project's
/// containers (of the named services, or all): dependencies first when starting,
/// dependents first otherwise.
pub async fn each(c: &Client, project: &str, action: Action, o: &EachOptions<'_>) -> Result<i32> {
    let mut list = containers(c, project, true).await?;
    list.retain(|s| o.services.is_empty() || o.services.iter().any(|x| x == label(s, SERVICE)));
    // `run`'s one-off containers are left alone, except by `kill` (as Compose does).
    if action != Action::Kill {
        list.retain(|s| label(s, "com.docker.compose.oneoff") != "True");
    }
    let rank = |s: &Summary| {
        o.order
            .as_ref()
            .and_then(|order| order.iter().position(|x| x == label(s, SERVICE)))
            .unwrap_or(usize::MAX)
    };
    list.sort_by_key(|s| (rank(s), s.created));
    if action != Action::Start && action != Action::Unpause {
        list.reverse();
    }
    let t = o.timeout.map(|t| format!("?t={t}")).unwrap_or_default();
    let running = |s: &Summary| matches!(s.state.as_str(), "running" | "paused" | "restarting");
    if action == Action::Remove && o.ask {
        let names: Vec<String> = list
            .iter()
            .filter(|s| o.stop_first || !running(s))
            .map(name_of)
            .collect();
        if names.is_empty() {
            eprintln!("No stopped containers");
            return Ok(0);
        }
        if !crate::output::confirm(&format!("Going to remove {}", names.join(", ")))? {
            return Ok(0);
        }
    }
    for s in &list {
        let name = name_of(s);
        let id = &s.id;
        let (doing, done, method, path) = match action {
            Action::Start if s.state != "running" => (
                "Starting",
                "Started",
                Method::POST,
                format!("/containers/{id}/start"),
            ),
            Action::Stop if running(s) => (
                "Stopping",
                "Stopped",
                Method::POST,
                format!("/containers/{id}/stop{t}"),
            ),
            Action::Restart => (
                "Restarting",
                "Started",
                Method::POST,
                format!("/containers/{id}/restart{t}"),
            ),
            Action::Kill if running(s) => {
                let sig = o
                    .signal
                    .map(|x| format!("?signal={}", enc(x)))
                    .unwrap_or_default();
                (
                    "Killing",
                    "Killed",
                    Method::POST,
                    format!("/containers/{id}/kill{sig}"),
                )
            }
            Action::Pause if s.state == "running" => (
                "Pausing",
                "Paused",
                Method::POST,
                format!("/containers/{id}/pause"),
            ),
            Action::Unpause if s.state == "paused" => (
                "Unpausing",
                "Unpaused",
                Method::POST,
                format!("/containers/{id}/unpause"),
            ),
            Action::Remove if !running(s) || o.stop_first => {
                if running(s) {
                    step("Container", &name, "Stopping");
                    c.call(
                        Method::POST,
                        &format!("/containers/{id}/stop{t}"),
                        &[],
                        berth_client::empty(),
                    )
                    .await?;
                    step("Container", &name, "Stopped");
                }
                let v = if o.volumes { "?v=1" } else { "" };
                (
                    "Removing",
                    "Removed",
                    Method::DELETE,
                    format!("/containers/{id}{v}"),
                )
            }
            _ => continue,
        };
        step("Container", &name, doing);
        c.call(method, &path, &[], berth_client::empty()).await?;
        step("Container", &name, done);
    }
    Ok(0)
}

/// `compose top`: each running container's processes, under its name.
pub async fn top(c: &Client, project: &str, services: &[String]) -> Result<i32> {
    let mut list = containers(c, project, false).await?;
    list.retain(|s| services.is_empty() || services.iter().any(|x| x == label(s, SERVICE)));
    list.sort_by_key(name_of);
    for s in &list {
        let t: berth_models::container::Top = c.get(&format!("/containers/{}/top", s.id)).await?;
        println!("{}", name_of(s));
        let mut rows = vec![t.titles];
        rows.extend(t.processes);
        print!("{}", crate::units::table(&rows));
        println!();
    }
    Ok(0)
}

/// `compose port SERVICE PRIVATE_PORT`: the public address of a service's port.
pub async fn port(
    c: &Client,
    project: &str,
    service: &str,
    private: &str,
    protocol: &str,
    index: usize,
) -> Result<i32> {
    let mut list = containers(c, project, false).await?;
    list.retain(|s| label(s, SERVICE) == service);
    list.sort_by_key(|s| {
        label(s, "com.docker.compose.container-number")
            .parse::<usize>()
            .unwrap_or(0)
    });
    let Some(s) = list.get(index.saturating_sub(1)) else {
        anyhow::bail!("service \"{service}\" is not running container #{index}");
    };
    let want: u16 = private
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid port {private:?}"))?;
    match s
        .ports
        .iter()
        .find(|p| p.private_port == want && (p.r#type.is_empty() || p.r#type == protocol))
        .and_then(|p| p.public_port.map(|pp| (p.ip.clone(), pp)))
    {
        Some((ip, pp)) => {
            println!("{}:{pp}", if ip.is_empty() { "0.0.0.0" } else { &ip });
            Ok(0)
        }
        None => anyhow::bail!("no port {private}/{protocol} for container {}", name_of(s)),
    }
}

pub struct LogsOptions<'a> {
    pub services: &'a [String],
    pub follow: bool,
    pub tail: &'a str,
    pub timestamps: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub no_prefix: bool,
}

/// `compose logs`: every container's log, line by line, behind `SERVICE-N  | ` (padded to the
/// longest), as they arrive; followed together with `-f`.
pub async fn logs(c: &Client, project: &str, o: &LogsOptions<'_>) -> Result<i32> {
    let mut list = containers(c, project, true).await?;
    list.retain(|s| o.services.is_empty() || o.services.iter().any(|x| x == label(s, SERVICE)));
    list.retain(|s| label(s, "com.docker.compose.oneoff") != "True");
    list.sort_by_key(name_of);
    let prefix_of = |s: &Summary| {
        let n = name_of(s);
        n.strip_prefix(&format!("{project}-"))
            .unwrap_or(&n)
            .to_owned()
    };
    // As Compose's: the padding is the longest name of the containers that printed so far.
    let width = std::sync::atomic::AtomicUsize::new(0);
    let mut q = vec![("stdout", "1"), ("stderr", "1"), ("tail", o.tail)];
    if o.follow {
        q.push(("follow", "1"));
    }
    if o.timestamps {
        q.push(("timestamps", "1"));
    }
    if let Some(s) = &o.since {
        q.push(("since", s));
    }
    if let Some(u) = &o.until {
        q.push(("until", u));
    }
    let qs = query(&q);
    let out = std::sync::Mutex::new(());
    let jobs = list.iter().map(|s| {
        let (out, qs, width) = (&out, &qs, &width);
        async move {
            let tty = c
                .get::<serde_json::Value>(&format!("/containers/{}/json", s.id))
                .await
                .ok()
                .and_then(|v| {
                    v.pointer("/Config/Tty")
                        .and_then(serde_json::Value::as_bool)
                })
                .unwrap_or(false);
            let name = prefix_of(s);
            let prefix = |w: usize| {
                if o.no_prefix {
                    String::new()
                } else {
                    // Compose's padding: one column wider than the longest name.
                    format!("{name:<w$} | ", w = w + 1)
                }
            };
            let seen = || {
                width.fetch_max(name.chars().count(), std::sync::atomic::Ordering::Relaxed);
                width.load(std::sync::atomic::Ordering::Relaxed)
            };
            follow_lines(c, &s.id, qs, tty, |_, line| {
                let _g = out.lock();
                let p = prefix(seen());
                let mut w = std::io::stdout().lock();
                let _ = std::io::Write::write_all(&mut w, p.as_bytes());
                let _ = std::io::Write::write_all(&mut w, line);
                let _ = std::io::Write::flush(&mut w);
            })
            .await
        }
    });
    for r in futures_util::future::join_all(jobs).await {
        r?;
    }
    Ok(0)
}

/// A container's log (`qs` its query), line by line (each ending in a newline, one added to
/// a last partial line) with its stream (1 stdout, 2 stderr), until it ends.
pub async fn follow_lines(
    c: &Client,
    id: &str,
    qs: &str,
    tty: bool,
    mut on_line: impl FnMut(u8, &[u8]),
) -> Result<()> {
    let mut demux = berth_client::Demux::default();
    let mut partial: [Vec<u8>; 3] = Default::default();
    let mut emit = |stream: u8, data: &[u8]| {
        let buf = &mut partial[usize::from(stream.min(2))];
        buf.extend_from_slice(data);
        while let Some(n) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=n).collect();
            on_line(stream, &line);
        }
    };
    let r = c
        .raw_stream(
            Method::GET,
            &format!("/containers/{id}/logs{qs}"),
            |chunk| {
                if tty {
                    emit(1, chunk);
                } else {
                    demux.push(chunk, &mut emit);
                }
            },
        )
        .await;
    for (stream, rest) in partial.iter_mut().enumerate() {
        if !rest.is_empty() {
            rest.push(b'\n');
            on_line(stream as u8, rest);
        }
    }
    r?;
    Ok(())
}
