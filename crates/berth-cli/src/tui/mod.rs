//! `berth tui` (lazydocker's job): panels for the compose project, containers, images,
//! volumes and networks; a main view with tabs (logs, stats, env, config, top) for the
//! selection; lazydocker's keys; confirmations; the mouse; live updates from `/events`; a
//! config file for keys and colours. Against Berth's socket or any Docker-API socket (`-H`,
//! `BERTH_HOST`, `DOCKER_HOST`). Key bindings: docs/tui.md.

mod config;
mod data;
mod view;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEventKind};
use tokio::task::JoinHandle;

use crate::Global;
use data::{Data, Lists, Msg};

#[derive(Debug, clap::Args)]
pub struct TuiArgs {
    /// A config file for keys and colours (default: $XDG_CONFIG_HOME/berth/tui.yml)
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// The panels, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Project,
    Containers,
    Images,
    Volumes,
    Networks,
}

const PANELS: [Panel; 5] = [
    Panel::Project,
    Panel::Containers,
    Panel::Images,
    Panel::Volumes,
    Panel::Networks,
];

/// A question on top of everything.
pub enum Popup {
    None,
    Help,
    Confirm(String, Box<dyn FnOnce(&mut App)>),
    Menu(String, Vec<(String, String)>, usize),
}

pub struct App {
    pub lists: Lists,
    pub project: Option<String>,
    pub panel: Panel,
    pub selected: [usize; 5],
    pub tab: usize,
    pub filter: String,
    pub filtering: bool,
    pub popup: Popup,
    pub status: String,
    pub down: Option<String>,
    pub logs: String,
    pub cpu: Vec<u64>,
    pub mem: Vec<u64>,
    pub mem_now: (u64, u64),
    pub inspect: Option<serde_json::Value>,
    pub top: Vec<String>,
    pub following: Option<String>,
    pub cfg: config::Config,
    /// The daemon (for the shells and attaches run from here).
    pub host: String,
    pub quit: bool,
    /// Where each panel's rows start on the screen (for the mouse).
    pub hit: Vec<(Panel, ratatui::layout::Rect)>,
}

impl App {
    fn panel_index(&self) -> usize {
        PANELS.iter().position(|p| *p == self.panel).unwrap_or(1)
    }

    /// The rows a panel shows (name, state/extra), filtered.
    pub fn rows(&self, p: Panel) -> Vec<(String, String, String)> {
        let f = self.filter.to_lowercase();
        let keep = |s: &str| f.is_empty() || s.to_lowercase().contains(&f);
        let mut out: Vec<(String, String, String)> = match p {
            Panel::Project => self
                .lists
                .containers
                .iter()
                .filter(|c| {
                    self.project.is_some()
                        && c.labels.get("com.docker.compose.project") == self.project.as_ref()
                })
                .map(|c| {
                    let svc = c
                        .labels
                        .get("com.docker.compose.service")
                        .cloned()
                        .unwrap_or_default();
                    (c.id.clone(), svc, c.state.clone())
                })
                .collect(),
            Panel::Containers => self
                .lists
                .containers
                .iter()
                .map(|c| {
                    let name = c
                        .names
                        .first()
                        .map_or("", |n| n.trim_start_matches('/'))
                        .to_owned();
                    (c.id.clone(), name, c.state.clone())
                })
                .collect(),
            Panel::Images => self
                .lists
                .images
                .iter()
                .map(|i| {
                    let tag = i
                        .repo_tags
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "<none>".into());
                    (
                        i.id.clone(),
                        tag,
                        berth_units::human_size(i.size.max(0) as f64),
                    )
                })
                .collect(),
            Panel::Volumes => self
                .lists
                .volumes
                .iter()
                .map(|v| (v.name.clone(), v.name.clone(), v.driver.clone()))
                .collect(),
            Panel::Networks => self
                .lists
                .networks
                .iter()
                .map(|n| (n.id.clone(), n.name.clone(), n.driver.clone()))
                .collect(),
        };
        out.retain(|(_, name, _)| keep(name));
        out
    }

    /// The selected row of the focused panel.
    pub fn current(&self) -> Option<(String, String, String)> {
        let rows = self.rows(self.panel);
        rows.get(self.selected[self.panel_index()].min(rows.len().saturating_sub(1)))
            .cloned()
    }

    pub fn tabs(&self) -> &'static [&'static str] {
        match self.panel {
            Panel::Project | Panel::Containers => &["Logs", "Stats", "Env", "Config", "Top"],
            _ => &["Config"],
        }
    }

    fn moved(&mut self, by: i64) {
        let n = self.rows(self.panel).len();
        let i = self.panel_index();
        self.selected[i] =
            (self.selected[i] as i64 + by).clamp(0, n.saturating_sub(1) as i64) as usize;
    }
}

/// Where the daemon is: `-H`/BERTH_HOST, else DOCKER_HOST.
fn global(g: &Global) -> Global {
    let mut g = g.clone();
    if std::env::var_os("BERTH_HOST").is_none() && g.host == berth_client::DEFAULT_HOST {
        if let Ok(h) = std::env::var("DOCKER_HOST") {
            g.host = h;
        }
    }
    g
}

/// The compose project of the working directory (its name, when a compose file is there).
fn project_here() -> Option<String> {
    let dir = std::env::current_dir().ok()?;
    let has = [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
    ]
    .iter()
    .any(|f| dir.join(f).exists());
    let name = dir.file_name()?.to_string_lossy().to_lowercase();
    has.then(|| berth_compose::project_name(&name).map(str::to_owned).ok())
        .flatten()
}

pub fn tui(g: &Global, a: TuiArgs) -> Result<i32> {
    let g = global(g);
    let cfg = config::Config::load(a.config.as_deref())?;
    let (rt, client) = crate::connect(&g)?;
    let (tx, rx) = mpsc::channel::<Msg>();
    let data = Data::start(&rt, client, tx.clone());
    let mut terminal = view::enter()?;
    // Input on a thread of its own (resting while a shell or attach has the terminal).
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            loop {
                if PAUSED.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                match crossterm::event::poll(Duration::from_millis(50)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => return,
                }
                let Ok(ev) = crossterm::event::read() else {
                    return;
                };
                if tx.send(Msg::Input(ev)).is_err() {
                    return;
                }
            }
        });
    }
    let mut app = App {
        lists: Lists::default(),
        project: project_here(),
        panel: Panel::Containers,
        selected: [0; 5],
        tab: 0,
        filter: String::new(),
        filtering: false,
        popup: Popup::None,
        status: String::new(),
        down: None,
        logs: String::new(),
        cpu: Vec::new(),
        mem: Vec::new(),
        mem_now: (0, 0),
        inspect: None,
        top: Vec::new(),
        following: None,
        cfg,
        host: g.host.clone(),
        quit: false,
        hit: Vec::new(),
    };
    if app.project.is_some() {
        app.panel = Panel::Project;
    }
    let mut streams: Vec<JoinHandle<()>> = Vec::new();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut dirty = true;
    let result = (|| -> Result<()> {
        while !app.quit {
            // The selection's streams follow the selection.
            let want = match app.panel {
                Panel::Containers | Panel::Project => app.current().map(|c| c.0),
                _ => None,
            };
            if want != app.following {
                for h in streams.drain(..) {
                    h.abort();
                }
                app.logs.clear();
                app.cpu.clear();
                app.mem.clear();
                app.top.clear();
                app.inspect = None;
                if let Some(id) = &want {
                    streams = data.follow(&rt, id);
                }
                app.following = want;
                dirty = true;
            }
            if dirty && last_draw.elapsed() >= Duration::from_millis(30) {
                terminal.draw(|f| view::draw(f, &mut app))?;
                last_draw = Instant::now();
                dirty = false;
            }
            let msg = match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            dirty = true;
            match msg {
                Msg::Input(Event::Key(k)) => key(&mut app, k, &data, &rt, &mut terminal)?,
                Msg::Input(Event::Mouse(m)) => mouse(&mut app, m),
                Msg::Input(_) => {}
                Msg::Lists(l) => {
                    app.lists = *l;
                    app.down = None;
                }
                Msg::Down(e) => app.down = Some(e),
                Msg::Log(id, t) if Some(&id) == app.following.as_ref() => {
                    app.logs.push_str(&t);
                    if app.logs.len() > 200_000 {
                        let cut = app.logs.len() - 100_000;
                        let cut = app.logs.ceil_char_boundary(cut);
                        app.logs.drain(..cut);
                    }
                }
                Msg::Stats(id, cpu, mem, limit) if Some(&id) == app.following.as_ref() => {
                    app.cpu.push((cpu * 100.0) as u64);
                    app.mem.push(mem);
                    for v in [&mut app.cpu, &mut app.mem] {
                        if v.len() > 120 {
                            v.remove(0);
                        }
                    }
                    app.mem_now = (mem, limit);
                }
                Msg::Inspect(id, v) if Some(&id) == app.following.as_ref() => app.inspect = Some(v),
                Msg::Top(id, t) if Some(&id) == app.following.as_ref() => app.top = t,
                Msg::Status(s) => app.status = s,
                _ => {}
            }
        }
        Ok(())
    })();
    for h in streams {
        h.abort();
    }
    view::leave(&mut terminal)?;
    result?;
    rt.shutdown_background();
    Ok(0)
}

fn mouse(app: &mut App, m: crossterm::event::MouseEvent) {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            let hit = app.hit.iter().find(|(_, r)| {
                m.column >= r.x
                    && m.column < r.x + r.width
                    && m.row >= r.y
                    && m.row < r.y + r.height
            });
            if let Some((p, r)) = hit.copied() {
                app.panel = p;
                let i = app.panel_index();
                let row = (m.row - r.y) as usize;
                if row < app.rows(p).len() {
                    app.selected[i] = row;
                }
            }
        }
        MouseEventKind::ScrollDown => app.moved(1),
        MouseEventKind::ScrollUp => app.moved(-1),
        _ => {}
    }
}

/// The input thread rests while another program has the terminal.
static PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Run `berth ARGS` in the terminal (the TUI put aside meanwhile).
fn interactive(terminal: &mut view::Term, host: &str, args: &[&str]) -> Result<()> {
    PAUSED.store(true, std::sync::atomic::Ordering::SeqCst);
    // The input thread's poll ends within 50 ms.
    std::thread::sleep(Duration::from_millis(60));
    view::leave(terminal)?;
    let status = std::process::Command::new("/proc/self/exe")
        .env("BERTH_HOST", host)
        .args(args)
        .status();
    *terminal = view::enter()?;
    terminal.clear()?;
    PAUSED.store(false, std::sync::atomic::Ordering::SeqCst);
    status?;
    Ok(())
}

fn key(
    app: &mut App,
    k: KeyEvent,
    data: &Data,
    rt: &tokio::runtime::Runtime,
    terminal: &mut view::Term,
) -> Result<()> {
    if k.kind == crossterm::event::KeyEventKind::Release {
        return Ok(());
    }
    // A popup takes the keys first.
    match std::mem::replace(&mut app.popup, Popup::None) {
        Popup::None => {}
        Popup::Help => return Ok(()),
        Popup::Confirm(q, f) => {
            match k.code {
                KeyCode::Char('y') | KeyCode::Enter => f(app),
                KeyCode::Char('n') | KeyCode::Esc => {}
                _ => app.popup = Popup::Confirm(q, f),
            }
            return Ok(());
        }
        Popup::Menu(title, items, i) => {
            match k.code {
                KeyCode::Down | KeyCode::Char('j') => {
                    app.popup = Popup::Menu(title, items.clone(), (i + 1).min(items.len() - 1))
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    app.popup = Popup::Menu(title, items.clone(), i.saturating_sub(1))
                }
                KeyCode::Enter => menu_do(app, &items[i].0, data, rt),
                KeyCode::Esc | KeyCode::Char('q') => {}
                _ => app.popup = Popup::Menu(title, items, i),
            }
            return Ok(());
        }
    }
    if app.filtering {
        match k.code {
            KeyCode::Esc => {
                app.filtering = false;
                app.filter.clear();
            }
            KeyCode::Enter => app.filtering = false,
            KeyCode::Backspace => {
                app.filter.pop();
            }
            KeyCode::Char(c) => app.filter.push(c),
            _ => {}
        }
        let i = app.panel_index();
        app.selected[i] = 0;
        return Ok(());
    }
    let keys = app.cfg.keys.clone();
    let c = match k.code {
        KeyCode::Char(c) if k.modifiers.contains(KeyModifiers::CONTROL) && c == 'c' => {
            app.quit = true;
            return Ok(());
        }
        KeyCode::Char(c) => c,
        KeyCode::Down => 'j',
        KeyCode::Up => 'k',
        KeyCode::Tab | KeyCode::Right => '\t',
        KeyCode::BackTab | KeyCode::Left => '\u{8}',
        KeyCode::Esc => {
            app.filter.clear();
            return Ok(());
        }
        _ => return Ok(()),
    };
    let cur = app.current();
    let is_container = matches!(app.panel, Panel::Containers | Panel::Project);
    match c {
        'q' => app.quit = true,
        'j' => app.moved(1),
        'k' => app.moved(-1),
        '\t' | '\u{8}' => {
            let n = PANELS.len() as i64;
            let mut i = app.panel_index() as i64;
            loop {
                i = (i + if c == '\t' { 1 } else { -1 }).rem_euclid(n);
                if PANELS[i as usize] != Panel::Project || app.project.is_some() {
                    break;
                }
            }
            app.panel = PANELS[i as usize];
            app.tab = 0;
        }
        '1'..='5' => {
            let p = PANELS[(c as u8 - b'1') as usize];
            if p != Panel::Project || app.project.is_some() {
                app.panel = p;
                app.tab = 0;
            }
        }
        ']' => app.tab = (app.tab + 1) % app.tabs().len(),
        '[' => app.tab = (app.tab + app.tabs().len() - 1) % app.tabs().len(),
        '/' => {
            app.filtering = true;
            app.filter.clear();
        }
        '?' => app.popup = Popup::Help,
        'm' if is_container => app.tab = 0,
        'x' => {
            let items: Vec<(String, String)> = if is_container {
                [
                    ("start", "start"),
                    ("stop", "stop"),
                    ("restart", "restart"),
                    ("pause", "pause"),
                    ("unpause", "unpause"),
                    ("kill", "kill"),
                    ("remove", "remove"),
                    ("exec", "exec shell"),
                    ("attach", "attach"),
                ]
                .iter()
                .map(|(a, b)| ((*a).into(), (*b).into()))
                .collect()
            } else {
                vec![("remove".into(), "remove".into())]
            };
            app.popup = Popup::Menu("Menu".into(), items, 0);
        }
        'b' if is_container => {
            app.popup = Popup::Menu(
                "Bulk commands".into(),
                vec![
                    ("bulk-stop".into(), "stop all containers".into()),
                    (
                        "bulk-remove-exited".into(),
                        "remove exited containers".into(),
                    ),
                ],
                0,
            );
        }
        ch if cur.is_some() => {
            let (id, name, _) = cur.expect("a selection");
            if is_container {
                if ch == keys.stop {
                    data.act(rt.handle(), &id, &name, "stop");
                } else if ch == keys.restart {
                    data.act(rt.handle(), &id, &name, "restart");
                } else if ch == keys.pause {
                    let paused = app
                        .lists
                        .containers
                        .iter()
                        .any(|c| c.id == id && c.state == "paused");
                    data.act(
                        rt.handle(),
                        &id,
                        &name,
                        if paused { "unpause" } else { "pause" },
                    );
                } else if ch == keys.remove {
                    let (d, h) = (data.clone(), rt.handle().clone());
                    app.popup = Popup::Confirm(
                        format!("Remove container {name}? (y/n)"),
                        Box::new(move |_: &mut App| d.act(&h, &id, &name, "remove")),
                    );
                } else if ch == keys.exec {
                    let host = app.host.clone();
                    interactive(terminal, &host, &["exec", "-it", &id, "sh"])?;
                } else if ch == keys.attach {
                    let host = app.host.clone();
                    interactive(terminal, &host, &["attach", &id])?;
                }
            } else if ch == keys.remove {
                let kind = match app.panel {
                    Panel::Images => "images",
                    Panel::Volumes => "volumes",
                    _ => "networks",
                };
                let (d, h) = (data.clone(), rt.handle().clone());
                app.popup = Popup::Confirm(
                    format!("Remove {name}? (y/n)"),
                    Box::new(move |_: &mut App| {
                        d.remove(&h, kind, if kind == "images" { &id } else { &name })
                    }),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

fn menu_do(app: &mut App, what: &str, data: &Data, rt: &tokio::runtime::Runtime) {
    match what {
        "bulk-stop" => {
            for c in app.lists.containers.iter().filter(|c| c.state == "running") {
                data.act(
                    rt.handle(),
                    &c.id,
                    c.names.first().map_or("", |n| n.trim_start_matches('/')),
                    "stop",
                );
            }
        }
        "bulk-remove-exited" => {
            for c in app
                .lists
                .containers
                .iter()
                .filter(|c| c.state == "exited" || c.state == "created")
            {
                data.act(
                    rt.handle(),
                    &c.id,
                    c.names.first().map_or("", |n| n.trim_start_matches('/')),
                    "remove",
                );
            }
        }
        "exec" | "attach" => {
            app.status = format!(
                "press {} for that",
                if what == "exec" {
                    app.cfg.keys.exec
                } else {
                    app.cfg.keys.attach
                }
            )
        }
        w => {
            if let Some((id, name, _)) = app.current() {
                if matches!(app.panel, Panel::Containers | Panel::Project) {
                    data.act(rt.handle(), &id, &name, w);
                } else if w == "remove" {
                    let kind = match app.panel {
                        Panel::Images => "images",
                        Panel::Volumes => "volumes",
                        _ => "networks",
                    };
                    data.remove(
                        rt.handle(),
                        kind,
                        if kind == "images" { &id } else { &name },
                    );
                }
            }
        }
    }
}
