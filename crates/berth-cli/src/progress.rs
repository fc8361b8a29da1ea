//! Pull/push progress: a bar per layer on a terminal (indicatif), otherwise one plain line per
//! status change, as `docker pull` prints when its output is not a terminal.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use berth_image::registry::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct CliProgress {
    quiet: bool,
    bars: Option<MultiProgress>,
    state: Mutex<HashMap<String, (String, Option<ProgressBar>)>>,
}

impl CliProgress {
    pub fn new(quiet: bool) -> CliProgress {
        let bars = (!quiet && std::io::stdout().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        CliProgress {
            quiet,
            bars,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Print a line above the bars (or plainly).
    pub fn println(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
    }

    pub fn finish(&self) {
        if let Ok(st) = self.state.lock() {
            for (_, bar) in st.values() {
                if let Some(b) = bar {
                    b.finish();
                }
            }
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg:<18} {wide_bar:.cyan/blue} {bytes}/{total_bytes}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress for CliProgress {
    fn update(&self, id: &str, status: &str, bytes: Option<(u64, u64)>) {
        if self.quiet {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let entry = st
            .entry(id.to_owned())
            .or_insert_with(|| (String::new(), None));
        match &self.bars {
            Some(m) => {
                let bar = entry.1.get_or_insert_with(|| {
                    let b = m.add(ProgressBar::new(0));
                    b.set_style(style());
                    b.set_prefix(id.to_owned());
                    b
                });
                if let Some((done, total)) = bytes {
                    bar.set_length(total);
                    bar.set_position(done);
                }
                bar.set_message(status.to_owned());
            }
            None => {
                if entry.0 != status {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{id}: {status}");
                }
            }
        }
        entry.0 = status.to_owned();
    }

    fn line(&self, text: &str) {
        self.println(text);
    }
}

/// A build's output: as it comes (plain), or on a terminal a live view — finished steps one
/// line each with their time, the running step with the last lines of its output.
pub struct BuildView {
    tty: bool,
    current: Option<(String, std::time::Instant, String)>,
    tail: std::collections::VecDeque<String>,
    partial: String,
    drawn: usize,
}

impl BuildView {
    pub fn new(tty: bool) -> BuildView {
        BuildView {
            tty,
            current: None,
            tail: Default::default(),
            partial: String::new(),
            drawn: 0,
        }
    }

    pub fn text(&mut self, s: &str) {
        use std::io::Write;
        if !self.tty {
            print!("{s}");
            let _ = std::io::stdout().flush();
            return;
        }
        self.partial.push_str(s);
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            self.line(line.trim_end_matches('\n'));
        }
        self.redraw();
    }

    fn line(&mut self, l: &str) {
        if l.starts_with("Step ") {
            self.settle();
            self.current = Some((l.to_owned(), std::time::Instant::now(), String::new()));
        } else if let Some(st) = l.strip_prefix(" ---> ") {
            if let Some(c) = self.current.as_mut() {
                if !st.starts_with("Running in") && !st.starts_with("Removed intermediate") {
                    c.2 = st.to_owned();
                }
            }
        } else if l.starts_with("Successfully ")
            || l.starts_with("[Warning]")
            || l.starts_with("[WARNING]")
            || self.current.is_none()
        {
            self.settle();
            self.clear();
            println!("{l}");
        } else {
            self.tail.push_back(l.to_owned());
            if self.tail.len() > 6 {
                self.tail.pop_front();
            }
        }
    }

    fn clear(&mut self) {
        if self.drawn > 0 {
            print!("\x1b[{}F\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    /// The running step is done: one permanent line.
    fn settle(&mut self) {
        if let Some((h, t, status)) = self.current.take() {
            self.clear();
            let status = if status.is_empty() {
                String::new()
            } else {
                format!("  ({status})")
            };
            println!(
                "\x1b[34m=> {h}{status}\x1b[0m  {:.1}s",
                t.elapsed().as_secs_f64()
            );
            self.tail.clear();
        }
    }

    fn redraw(&mut self) {
        use std::io::Write;
        self.clear();
        let Some((h, t, _)) = &self.current else {
            return;
        };
        let mut n = 0;
        println!("=> {h}  {:.1}s", t.elapsed().as_secs_f64());
        n += 1;
        for l in &self.tail {
            let cut: String = l.chars().take(120).collect();
            println!("\x1b[2m   {cut}\x1b[0m");
            n += 1;
        }
        self.drawn = n;
        let _ = std::io::stdout().flush();
    }

    pub fn finish(&mut self) {
        if self.tty {
            if !self.partial.is_empty() {
                let p = std::mem::take(&mut self.partial);
                self.line(&p);
            }
            self.settle();
            self.clear();
        }
    }
}
