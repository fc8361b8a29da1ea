//! `berth compose watch`: the project up, then each service's `develop.watch` rules applied as
//! files change (inotify, recursive, a quiet period of 300 ms gathering a burst of changes):
//! `sync` copies the changed files into the service's containers (and removes deleted ones),
//! `rebuild` builds the image and recreates the containers, `restart` and `sync+restart`
//! restart them, `sync+exec` runs a command in them. Ctrl-C ends it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use berth_client::{Client, Method, query};
use berth_compose::model::{Project, scalar};
use berth_dockerfile::ignore::Patterns;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use serde_json::Value;

use crate::Global;
use crate::compose_ops::{SERVICE, containers, label};

#[derive(Debug, clap::Args)]
pub struct WatchFlags {
    /// Do not build & start services before watching
    #[arg(long)]
    no_up: bool,
    /// Prune dangling images on rebuild (accepted; Berth's rebuilds leave the old image
    /// untagged)
    #[arg(long, default_value_t = true)]
    prune: bool,
    /// hide build output
    #[arg(long)]
    quiet: bool,
    pub services: Vec<String>,
}

/// One `develop.watch` rule of a service.
struct Rule {
    service: String,
    action: String,
    path: PathBuf,
    target: String,
    ignore: Patterns,
    exec: Vec<String>,
}

fn rules(p: &Project, services: &[String]) -> Vec<Rule> {
    let mut out = Vec::new();
    for (name, s) in &p.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let list = s
            .other
            .get("develop")
            .and_then(|d| d.get("watch"))
            .and_then(Value::as_array);
        for r in list.into_iter().flatten() {
            let text = |k: &str| r.get(k).and_then(scalar).unwrap_or_default();
            let ignore: Vec<String> = r
                .get("ignore")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(scalar)
                .collect();
            let exec = r
                .pointer("/exec/command")
                .map(|c| match c {
                    Value::Array(a) => a.iter().filter_map(scalar).collect(),
                    Value::String(s) => shlex::split(s).unwrap_or_default(),
                    _ => Vec::new(),
                })
                .unwrap_or_default();
            out.push(Rule {
                service: name.clone(),
                action: text("action"),
                path: PathBuf::from(text("path")),
                target: text("target"),
                ignore: Patterns::parse(&ignore.join("\n")),
                exec,
            });
        }
    }
    out
}

/// Watches on a directory tree (each directory; new ones as they appear) or on a file's
/// directory.
struct Watcher {
    ino: Inotify,
    dirs: Vec<(WatchDescriptor, PathBuf)>,
}

impl Watcher {
    fn add_tree(&mut self, root: &Path) {
        let mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB;
        let mut todo = vec![root.to_path_buf()];
        while let Some(d) = todo.pop() {
            if d.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if let Ok(wd) = self.ino.add_watch(&d, mask) {
                self.dirs.push((wd, d.clone()));
            }
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                }
            }
        }
    }

    /// The paths of the next events (blocking); new directories watched as well.
    fn next(&mut self) -> Vec<PathBuf> {
        let Ok(events) = self.ino.read_events() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ev in events {
            let Some(dir) = self
                .dirs
                .iter()
                .find(|(w, _)| *w == ev.wd)
                .map(|x| x.1.clone())
            else {
                continue;
            };
            let path = ev.name.map_or(dir.clone(), |n| dir.join(n));
            if ev.mask.contains(AddWatchFlags::IN_ISDIR)
                && ev
                    .mask
                    .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
            {
                self.add_tree(&path);
            }
            out.push(path);
        }
        out
    }
}

pub fn watch(g: &Global, p: &Project, f: &WatchFlags) -> Result<i32> {
    let rules = rules(p, &f.services);
    if rules.is_empty() {
        bail!(
            "none of the selected services is configured for watch, consider setting a 'develop' section"
        );
    }
    for r in &rules {
        if !matches!(
            r.action.as_str(),
            "sync" | "rebuild" | "restart" | "sync+restart" | "sync+exec"
        ) {
            bail!(
                "services.{}.develop.watch: unknown action {:?}",
                r.service,
                r.action
            );
        }
        if r.action.starts_with("sync") && r.target.is_empty() {
            bail!(
                "services.{}.develop.watch: {} needs a target",
                r.service,
                r.action
            );
        }
    }
    if !f.no_up {
        crate::compose::up_detached(g, p, crate::compose::known_services(p))?;
    }
    let mut w = Watcher {
        ino: Inotify::init(InitFlags::IN_CLOEXEC)?,
        dirs: Vec::new(),
    };
    let roots: BTreeSet<PathBuf> = rules
        .iter()
        .map(|r| {
            if r.path.is_dir() {
                r.path.clone()
            } else {
                r.path.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        })
        .collect();
    for root in &roots {
        w.add_tree(root);
    }
    let (tx, rx) = std::sync::mpsc::channel::<Vec<PathBuf>>();
    std::thread::spawn(move || {
        loop {
            let batch = w.next();
            if !batch.is_empty() && tx.send(batch).is_err() {
                return;
            }
        }
    });
    println!("Watch enabled");
    let (rt, c) = crate::connect(g)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        rt.spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(0);
        }
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(b) => b,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => bail!("the file watcher stopped"),
        };
        let mut changed: BTreeSet<PathBuf> = first.into_iter().collect();
        // A quiet period: a burst of changes (an editor's save, a checkout) is one batch.
        while let Ok(more) = rx.recv_timeout(Duration::from_millis(300)) {
            changed.extend(more);
        }
        for r in &rules {
            let mine: Vec<&PathBuf> = changed
                .iter()
                .filter(|c| c.starts_with(&r.path))
                .filter(|c| {
                    let rel = c.strip_prefix(&r.path).unwrap_or(c);
                    rel.as_os_str().is_empty() || !r.ignore.excludes(&rel.to_string_lossy())
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            if let Err(e) = apply(g, &rt, &c, p, r, &mine) {
                eprintln!("Error: {e}");
            }
        }
    }
}

fn apply(
    g: &Global,
    rt: &tokio::runtime::Runtime,
    c: &Client,
    p: &Project,
    r: &Rule,
    changed: &[&PathBuf],
) -> Result<()> {
    let ids = || -> Result<Vec<String>> {
        let list = rt.block_on(containers(c, &p.name, false))?;
        Ok(list
            .into_iter()
            .filter(|s| label(s, SERVICE) == r.service)
            .filter(|s| label(s, "com.docker.compose.oneoff") != "True")
            .map(|s| s.id)
            .collect())
    };
    if r.action == "rebuild" {
        println!(
            "Rebuilding service(s) [\"{}\"] after changes were detected...",
            r.service
        );
        crate::compose_cmds::build_services(
            g,
            p,
            std::slice::from_ref(&r.service),
            &crate::compose_cmds::BuildFlags::default(),
        )?;
        println!("service(s) [\"{}\"] successfully built", r.service);
        let mut one = p.clone();
        one.services.retain(|k, _| *k == r.service);
        crate::compose::up_detached(g, &one, crate::compose::known_services(p))?;
        return Ok(());
    }
    if r.action.starts_with("sync") {
        println!(
            "Syncing service \"{}\" after {} changes were detected",
            r.service,
            changed.len()
        );
        for id in ids()? {
            sync(rt, c, &id, r, changed)?;
        }
    }
    match r.action.as_str() {
        "restart" | "sync+restart" => {
            println!("service(s) [\"{}\"] restarted", r.service);
            for id in ids()? {
                rt.block_on(c.call(
                    Method::POST,
                    &format!("/containers/{id}/restart"),
                    &[],
                    berth_client::empty(),
                ))?;
            }
        }
        "sync+exec" if !r.exec.is_empty() => {
            for id in ids()? {
                let created: Value = rt.block_on(c.post(
                    &format!("/containers/{id}/exec"),
                    &serde_json::json!({"Cmd": r.exec, "AttachStdout": false, "AttachStderr": false}),
                ))?;
                let eid = created
                    .get("Id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("exec create answered without an Id"))?;
                rt.block_on(c.call(
                    Method::POST,
                    &format!("/exec/{eid}/start"),
                    &[("Content-Type", "application/json".into())],
                    berth_client::full(br#"{"Detach":true}"#.to_vec()),
                ))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The changed paths into one container: present ones copied under the rule's target (a
/// tar through the archive endpoint), deleted ones removed.
fn sync(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    id: &str,
    r: &Rule,
    changed: &[&PathBuf],
) -> Result<()> {
    let target = r.target.trim_end_matches('/');
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let mut gone = Vec::new();
    let mut dirs_done = BTreeSet::new();
    for path in changed {
        let rel = path.strip_prefix(&r.path).unwrap_or(path);
        // A rule on a single file syncs it to the target itself.
        let dest = if rel.as_os_str().is_empty() {
            target.to_owned()
        } else {
            format!("{target}/{}", rel.display())
        };
        let inside = dest.trim_start_matches('/').to_owned();
        if !path.exists() {
            gone.push(dest);
            continue;
        }
        // The directories above, so that the daemon can place the file.
        let mut acc = PathBuf::new();
        let parents: Vec<_> = Path::new(&inside)
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        for comp in parents {
            acc.push(comp);
            if dirs_done.insert(acc.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_cksum();
                tar.append_data(&mut h, &acc, std::io::empty())?;
            }
        }
        if path.is_dir() {
            tar.append_dir_all(&inside, path)?;
        } else {
            tar.append_path_with_name(path, &inside)?;
        }
    }
    let body = tar.into_inner()?;
    if body.iter().any(|b| *b != 0) {
        rt.block_on(c.call(
            Method::PUT,
            &format!("/containers/{id}/archive{}", query(&[("path", "/")])),
            &[("Content-Type", "application/x-tar".into())],
            berth_client::full(body),
        ))?;
    }
    if !gone.is_empty() {
        let mut cmd = vec!["rm".to_owned(), "-rf".to_owned()];
        cmd.extend(gone);
        let created: Value = rt.block_on(c.post(
            &format!("/containers/{id}/exec"),
            &serde_json::json!({"Cmd": cmd}),
        ))?;
        if let Some(eid) = created.get("Id").and_then(Value::as_str) {
            rt.block_on(c.call(
                Method::POST,
                &format!("/exec/{eid}/start"),
                &[("Content-Type", "application/json".into())],
                berth_client::full(br#"{"Detach":false}"#.to_vec()),
            ))?;
        }
    }
    Ok(())
}
