//! `berth tui` in tmux (issue 19): started in a tmux server of the test's own, driven with
//! keys, its pane captured and read: containers listed, logs streaming, a filter narrowing the
//! list, a restart taking effect, an exec shell answering, a resize redrawing, the daemon
//! going away and coming back; and lazydocker's own binary against the same daemon listing the
//! same containers, images, volumes and networks.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Env;

/// A tmux server of the test's own, killed at the end however the test ends.
struct Tmux(String);

impl Tmux {
    fn new() -> Tmux {
        Tmux(format!("berth-tui-{}", std::process::id()))
    }
    fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn start(&self, session: &str, cmd: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "160",
            "-y",
            "40",
            cmd,
        ]);
    }
    fn pane(&self, session: &str) -> String {
        // `=NAME`: that session exactly (a gone one is an error, not another session).
        self.run(&["capture-pane", "-p", "-t", &format!("={session}:")])
    }
    fn keys(&self, session: &str, keys: &[&str]) {
        let target = format!("={session}:");
        let mut a = vec!["send-keys", "-t", target.as_str()];
        a.extend_from_slice(keys);
        self.run(&a);
    }
    /// The pane, once `ok` holds for it (within 20 s).
    fn until(&self, session: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let p = self.pane(session);
            if ok(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "{what}; the pane:\n{p}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The rows of each left-hand panel of a captured pane: panel title → its rows' words.
fn panels(pane: &str) -> std::collections::BTreeMap<String, Vec<Vec<String>>> {
    let mut out: std::collections::BTreeMap<String, Vec<Vec<String>>> = Default::default();
    let mut current: Option<String> = None;
    for line in pane.lines() {
        let left: String = line.chars().take(54).collect();
        let title = ["Containers", "Images", "Volumes", "Networks"]
            .into_iter()
            .find(|t| left.contains(t) && (left.starts_with('┌') || left.starts_with('╭')));
        if let Some(t) = title {
            current = Some(t.to_owned());
            out.entry(t.to_owned()).or_default();
            continue;
        }
        if left.starts_with('└') || left.starts_with('╰') {
            current = None;
            continue;
        }
        if let (Some(c), Some(body)) = (&current, left.strip_prefix('│')) {
            // The panel's own text: up to its right border.
            let words: Vec<String> = body
                .split('│')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !words.is_empty() {
                out.get_mut(c).expect("panel").push(words);
            }
        }
    }
    out
}

#[test]
fn the_tui_in_tmux_and_beside_lazydocker() {
    let mut env = Env::start("berth-tui-", "{}");
    let run = |args: &[&str]| {
        let r = env.docker(args);
        assert_eq!(r.code, 0, "docker {args:?}: {}", r.err);
        r.out.trim().to_owned()
    };
    run(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while :; do echo \"tick $i\"; i=$((i+1)); sleep 0.3; done",
    ]);
    run(&["run", "-d", "--name", "db", "busybox", "sleep", "3600"]);
    run(&["volume", "create", "vol1"]);
    let started = |name: &str| run(&["inspect", "-f", "{{.State.StartedAt}}", name]);
    let before = started("web");

    let tmux = Tmux::new();
    let berth = env!("CARGO_BIN_EXE_berth");
    let host = env.daemon.host();
    tmux.start("b", &format!("BERTH_HOST={host} {berth} tui"));
    let pane = tmux.until("b", "both containers listed", |p| {
        p.contains("Containers (2)") && p.contains("web") && p.contains("db")
    });
    assert!(pane.contains("Logs │ Stats │ Env │ Config │ Top"), "{pane}");

    // A filter narrows the list to web; its logs stream.
    tmux.keys("b", &["/", "w", "e", "b", "Enter"]);
    tmux.until("b", "the filter", |p| p.contains("Containers (1) /web"));
    let first = tmux.until("b", "web's logs", |p| p.contains("tick 2"));
    let n = |p: &str| p.matches("tick ").count();
    tmux.until("b", "more logs", |p| {
        p.lines()
            .any(|l| l.contains("tick 1") && l.trim_end().ends_with('│'))
            && p != first
            && n(p) >= n(&first)
    });

    // A restart takes effect.
    tmux.keys("b", &["r"]);
    tmux.until("b", "the restart done", |p| p.contains("restart web: done"));
    assert_ne!(started("web"), before, "web was restarted");

    // An exec shell answers, and the TUI comes back.
    tmux.keys("b", &["E"]);
    std::thread::sleep(Duration::from_millis(1500));
    tmux.keys("b", &["echo in-$((40+2))", "Enter"]);
    tmux.until("b", "the shell's answer", |p| p.contains("in-42"));
    tmux.keys("b", &["exit", "Enter"]);
    tmux.until("b", "the TUI back", |p| p.contains("Containers (1) /web"));

    // A resize redraws to the new size.
    tmux.run(&["resize-window", "-t", "=b:", "-x", "100", "-y", "30"]);
    let p = tmux.until("b", "a redraw at 100 columns", |p| {
        p.lines()
            .next()
            .is_some_and(|l| l.chars().count() <= 100 && l.trim_end().ends_with('┐'))
    });
    assert!(p.lines().count() <= 30, "{p}");
    tmux.run(&["resize-window", "-t", "=b:", "-x", "160", "-y", "40"]);
    tmux.keys("b", &["Escape"]);

    // The daemon goes away and comes back: the TUI says so, then lists again.
    env.daemon.kill9();
    tmux.until("b", "the daemon's absence shown", |p| {
        p.contains("daemon unreachable")
    });
    env.daemon.restart();
    tmux.until("b", "the lists back after the restart", |p| {
        p.contains("Containers (2)") && !p.contains("unreachable")
    });

    // lazydocker against the same daemon lists the same things.
    tmux.start("l", &format!("DOCKER_HOST={host} lazydocker"));
    let lazy = tmux.until("l", "lazydocker's lists", |p| {
        p.contains("web") && p.contains("vol1")
    });
    let ours = tmux.until("b", "ours", |p| p.contains("vol1"));
    let (lz, us) = (panels(&lazy), panels(&ours));
    let set = |p: &std::collections::BTreeMap<String, Vec<Vec<String>>>,
               panel: &str,
               f: &dyn Fn(&Vec<String>) -> String|
     -> BTreeSet<String> {
        p.get(panel)
            .map(|rows| rows.iter().map(f).collect())
            .unwrap_or_default()
    };
    let second = |w: &Vec<String>| w.get(1).cloned().unwrap_or_default();
    let last = |w: &Vec<String>| w.last().cloned().unwrap_or_default();
    assert_eq!(
        set(&lz, "Containers", &second),
        set(&us, "Containers", &second),
        "containers:\n{lazy}\n{ours}"
    );
    assert_eq!(
        set(&lz, "Images", &|w| format!(
            "{}:{}",
            w[0],
            w.get(1).cloned().unwrap_or_default()
        )),
        set(&us, "Images", &last),
        "images:\n{lazy}\n{ours}"
    );
    assert_eq!(
        set(&lz, "Volumes", &last),
        set(&us, "Volumes", &last),
        "volumes:\n{lazy}\n{ours}"
    );
    assert_eq!(
        set(&lz, "Networks", &last),
        set(&us, "Networks", &last),
        "networks:\n{lazy}\n{ours}"
    );
    assert!(set(&us, "Containers", &second).contains("web"));
    tmux.keys("b", &["q"]);
}
