//! A container's streams: its log (json-file, rotated files included) read, filtered and
//! followed for `logs`, and from the attach on for `attach`; its stdin through the shim's
//! control socket; terminal sizes. Output comes as [`Output`] chunks on a channel: the API
//! frames them (multiplexed or raw) for its clients.

use std::io::{BufRead, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Containers, Status};
use crate::util::Backoff;
use crate::{Error, Result};

/// Which stream a chunk belongs to (the multiplexing header's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
}

/// A chunk of a container's (or exec's) output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stream: Stream,
    pub data: Vec<u8>,
}

/// What a client gets to read (and maybe write).
pub struct Streams {
    /// A terminal: output is raw (one stream), not multiplexed.
    pub tty: bool,
    pub output: tokio::sync::mpsc::Receiver<Output>,
    pub stdin: Option<Stdin>,
}

/// Where a client's input goes.
pub enum Stdin {
    /// A container's stdin, through its shim (connected at the first use).
    Container {
        containers: Arc<Containers>,
        id: String,
        sock: Option<std::os::unix::net::UnixStream>,
    },
    /// An exec's stdin pipe: closed at the end of the client's input.
    Pipe(std::fs::File),
    /// An exec's terminal: kept at the end (a shell gets ^D).
    Terminal(std::fs::File),
}

impl Stdin {
    fn sock(&mut self) -> std::io::Result<Option<&mut std::os::unix::net::UnixStream>> {
        if let Stdin::Container {
            containers,
            id,
            sock,
        } = self
        {
            if sock.is_none() {
                *sock = Some(
                    containers
                        .shim_socket(id, Duration::from_secs(30))
                        .map_err(std::io::Error::other)?,
                );
            }
            return Ok(sock.as_mut());
        }
        Ok(None)
    }

    /// Pass `data` on.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if let Some(s) = self.sock()? {
            return s.write_all(&berth_shim::message(berth_shim::MSG_STDIN, data));
        }
        match self {
            Stdin::Pipe(f) | Stdin::Terminal(f) => f.write_all(data),
            Stdin::Container { .. } => Ok(()),
        }
    }

    /// The client's input ended.
    pub fn close(mut self) {
        if let Ok(Some(s)) = self.sock() {
            let _ = s.write_all(&berth_shim::message(berth_shim::MSG_STDIN_EOF, &[]));
            return;
        }
        if let Stdin::Terminal(f) = &mut self {
            // A terminal is not closed by the end of input: it gets ^D, like a shell.
            let _ = f.write_all(&[4]);
        }
    }
}

/// `logs`' choices.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// The last N entries (over all files) only.
    pub tail: Option<usize>,
    /// Unix seconds: entries from `since`, before `until`.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// `attach`'s choices.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub stdin: bool,
    /// Replay the log first (`logs=1`); else only what comes from now on.
    pub logs: bool,
}

/// One json-file entry as a chunk, if it passes the stream and time filters.
fn render(line: &str, o: &LogOptions) -> Option<Output> {
    let e: berth_shim::LogEntry = serde_json::from_str(line).ok()?;
    let stream = if e.stream == "stderr" {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    if (stream == Stream::Stdout && !o.stdout) || (stream == Stream::Stderr && !o.stderr) {
        return None;
    }
    if o.since.is_some() || o.until.is_some() {
        let secs = crate::time::parse_rfc3339(&e.time).unwrap_or(0);
        if o.since.is_some_and(|s| secs < s) || o.until.is_some_and(|u| secs >= u) {
            return None;
        }
    }
    let mut data = Vec::with_capacity(e.log.len() + e.time.len() + 1);
    if o.timestamps {
        data.extend_from_slice(e.time.as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(e.log.as_bytes());
    Some(Output { stream, data })
}

impl Containers {
    /// `GET /containers/{id}/logs`.
    pub fn logs(self: &Arc<Self>, id: &str, o: LogOptions) -> Result<Streams> {
        if !o.stdout && !o.stderr {
            return Err(Error::InvalidParameter(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        if self.record(id)?.host_config.log_config.r#type == "none" {
            return Err(Error::NotImplemented(
                "configured logging driver does not support reading".into(),
            ));
        }
        self.follow(id, o, false, true, false)
    }

    /// `POST /containers/{id}/attach`: output from now on (or the whole log with `logs`)
    /// until the container's next exit — attached to a stopped container, it waits for the
    /// start that follows (`start -a`); with `stdin`, the client's input goes to the
    /// container.
    pub fn attach(self: &Arc<Self>, id: &str, a: AttachOptions) -> Result<Streams> {
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        self.check(&rec, &st, super::state::Action::Attach)?;
        let o = LogOptions {
            stdout: a.stdout,
            stderr: a.stderr,
            follow: true,
            ..Default::default()
        };
        self.follow(id, o, true, a.logs, a.stdin)
    }

    fn follow(
        self: &Arc<Self>,
        id: &str,
        o: LogOptions,
        attach: bool,
        replay: bool,
        stdin: bool,
    ) -> Result<Streams> {
        let rec = self.record(id)?;
        let tty = rec.config.tty;
        let before = self.state_of(&rec);
        let path = self.log_path(id);
        let rotated = if attach {
            Vec::new()
        } else {
            self.rotated_logs(id)
        };
        // Opened now and kept open: the output stays readable even if the container (and
        // its log) is removed right after it exits (`--rm`).
        let reader = std::fs::File::open(&path).ok().map(std::io::BufReader::new);
        let (tx, rx) = tokio::sync::mpsc::channel::<Output>(64);
        let me = self.clone();
        let id2 = id.to_owned();
        std::thread::spawn(move || {
            me.follow_thread(&id2, &o, attach, replay, before, path, rotated, reader, tx)
        });
        Ok(Streams {
            tty,
            output: rx,
            stdin: stdin.then(|| Stdin::Container {
                containers: self.clone(),
                id: id.to_owned(),
                sock: None,
            }),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn follow_thread(
        &self,
        id: &str,
        o: &LogOptions,
        attach: bool,
        replay: bool,
        before: super::State,
        path: PathBuf,
        rotated: Vec<PathBuf>,
        mut reader: Option<std::io::BufReader<std::fs::File>>,
        tx: tokio::sync::mpsc::Sender<Output>,
    ) {
        let send = |b: Output| tx.blocking_send(b).is_ok();
        // What is already written: rotated files (oldest first), then the current one;
        // `tail` counts entries over all of them.
        let mut history: Vec<String> = Vec::new();
        for p in &rotated {
            history.extend(
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| format!("{l}\n")),
            );
        }
        if let Some(r) = reader.as_mut() {
            let mut line = String::new();
            while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
                if !line.ends_with('\n') {
                    // An entry being written: leave it for the follow loop.
                    let back = line.len() as i64;
                    let _ = r.seek_relative(-back);
                    break;
                }
                history.push(std::mem::take(&mut line));
            }
        }
        let skip = if replay {
            o.tail.map_or(0, |n| history.len().saturating_sub(n))
        } else {
            history.len()
        };
        for l in &history[skip..] {
            if let Some(b) = render(l, o) {
                if !send(b) {
                    return;
                }
            }
        }
        let mut partial = String::new();
        let mut backoff = Backoff::new();
        loop {
            // Checked before reading: once it has stopped, this read gets everything.
            let now = self.state(id).ok();
            if reader.is_none() {
                reader = std::fs::File::open(&path).ok().map(std::io::BufReader::new);
            }
            if let Some(r) = reader.as_mut() {
                loop {
                    match r.read_line(&mut partial) {
                        Ok(n) if n > 0 && partial.ends_with('\n') => {
                            let line = std::mem::take(&mut partial);
                            if let Some(b) = render(&line, o) {
                                if !send(b) {
                                    return;
                                }
                            }
                        }
                        // The end, or an entry still being written (kept in `partial`).
                        Ok(_) | Err(_) => break,
                    }
                }
            }
            // Rotated under us: continue with the new file.
            if let (Some(r), Ok(cur)) = (reader.as_ref(), std::fs::metadata(&path)) {
                if r.get_ref().metadata().is_ok_and(|m| m.ino() != cur.ino()) && partial.is_empty()
                {
                    reader = std::fs::File::open(&path).ok().map(std::io::BufReader::new);
                    continue;
                }
            }
            let done = match now.as_ref().map(|s| s.status) {
                Some(Status::Running | Status::Paused | Status::Removing) => false,
                // Attached before the start: keep waiting for it to run.
                Some(Status::Created | Status::Restarting) => !attach,
                Some(Status::Exited) if attach => {
                    before.status != Status::Exited
                        || now
                            .as_ref()
                            .is_some_and(|n| n.finished_at != before.finished_at)
                }
                _ => true,
            };
            if !o.follow || done {
                return;
            }
            std::thread::sleep(backoff.step());
        }
    }

    /// The rotated logs, oldest first (`…-json.log.N` … `.1`).
    pub fn rotated_logs(&self, id: &str) -> Vec<PathBuf> {
        let prefix = format!("{id}-json.log.");
        let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(self.dir_of(id))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e
                    .file_name()
                    .to_string_lossy()
                    .strip_prefix(&prefix)?
                    .parse::<u32>()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        out.sort_by_key(|x| std::cmp::Reverse(x.0));
        out.into_iter().map(|(_, p)| p).collect()
    }

    /// A connection to the container's shim, for stdin and terminal sizes. Waits (up to
    /// `patience`) for the shim of a container that is about to start.
    pub fn shim_socket(
        &self,
        id: &str,
        patience: Duration,
    ) -> Result<std::os::unix::net::UnixStream> {
        let deadline = std::time::Instant::now() + patience;
        let mut backoff = Backoff::new();
        loop {
            let conn = berth_shim::short_path(&self.dir_of(id), "attach.sock")
                .map_err(std::io::Error::other)
                .and_then(|(p, _dir)| std::os::unix::net::UnixStream::connect(p));
            match conn {
                Ok(s) => return Ok(s),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(Error::Conflict(format!(
                        "container {id} is not running: {e}"
                    )));
                }
                Err(_) => std::thread::sleep(backoff.step()),
            }
        }
    }

    /// Set the container's terminal size.
    pub fn resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let mut s = self.shim_socket(id, Duration::from_secs(0))?;
        let mut p = rows.to_be_bytes().to_vec();
        p.extend_from_slice(&cols.to_be_bytes());
        s.write_all(&berth_shim::message(berth_shim::MSG_RESIZE, &p))
            .map_err(|e| Error::io("resize", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entries_render_with_their_filters() {
        let line = r#"{"log":"hi\n","stream":"stderr","time":"2026-01-02T03:04:05.000000006Z"}"#;
        let all = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let o = render(line, &all).expect("shown");
        assert_eq!(
            (o.stream, o.data.as_slice()),
            (Stream::Stderr, &b"hi\n"[..])
        );
        let only_out = LogOptions {
            stdout: true,
            ..Default::default()
        };
        assert!(render(line, &only_out).is_none());
        let stamped = LogOptions {
            timestamps: true,
            ..all.clone()
        };
        assert_eq!(
            render(line, &stamped).expect("shown").data,
            b"2026-01-02T03:04:05.000000006Z hi\n"
        );
        let t = crate::time::parse_rfc3339("2026-01-02T03:04:05Z").expect("time");
        let later = LogOptions {
            since: Some(t + 1),
            ..all.clone()
        };
        assert!(render(line, &later).is_none());
        let before = LogOptions {
            until: Some(t),
            ..all
        };
        assert!(render(line, &before).is_none());
        assert!(render("not json", &only_out).is_none());
    }
}
