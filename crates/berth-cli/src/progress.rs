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
