//! A build's progress as BuildKit's `Status` stream: vertexes (one per step, plus the
//! context transfer and the export), their logs and warnings. The builder reports the classic
//! builder's text (`Step 2/5 : RUN …`, the step's output, ` ---> Using cache`); [`StepSink`]
//! turns it into vertexes. Every message is kept so a `Status` call that comes late gets all.

use std::sync::Mutex;

use sha2::Digest as _;
use tokio::sync::watch;

use crate::grpc::Out;
use crate::proto::{StatusResponse, Timestamp, Vertex, VertexLog, VertexWarning};

#[derive(Default)]
struct Log {
    items: Vec<StatusResponse>,
    done: bool,
    n: u64,
}

/// One build's status messages.
pub struct Progress {
    build: String,
    log: Mutex<Log>,
    tx: watch::Sender<usize>,
}

/// A vertex being reported.
#[derive(Clone)]
pub struct Step {
    v: Vertex,
}

impl Progress {
    pub fn new(build: &str) -> Progress {
        Progress {
            build: build.to_owned(),
            log: Mutex::new(Log::default()),
            tx: watch::channel(0).0,
        }
    }

    fn push(&self, r: StatusResponse) {
        let n = match self.log.lock() {
            Ok(mut l) => {
                l.items.push(r);
                l.items.len()
            }
            Err(_) => return,
        };
        self.tx.send_replace(n);
    }

    /// Start a vertex named `name`.
    pub fn start(&self, name: &str) -> Step {
        let n = match self.log.lock() {
            Ok(mut l) => {
                l.n += 1;
                l.n
            }
            Err(_) => 0,
        };
        let digest = format!(
            "sha256:{:x}",
            sha2::Sha256::digest(format!("{}/{n}/{name}", self.build))
        );
        let v = Vertex {
            digest,
            name: name.to_owned(),
            started: Some(Timestamp::now()),
            ..Default::default()
        };
        self.push(StatusResponse {
            vertexes: vec![v.clone()],
            ..Default::default()
        });
        Step { v }
    }

    /// End a vertex (with an error text when it failed).
    pub fn complete(&self, s: &Step, cached: bool, error: &str) {
        let mut v = s.v.clone();
        v.cached = cached;
        v.completed = Some(Timestamp::now());
        v.error = error.to_owned();
        self.push(StatusResponse {
            vertexes: vec![v],
            ..Default::default()
        });
    }

    /// Output of a vertex: `stream` 1 is standard output, 2 standard error.
    pub fn log(&self, s: &Step, stream: i64, msg: &[u8]) {
        self.push(StatusResponse {
            logs: vec![VertexLog {
                vertex: s.v.digest.clone(),
                timestamp: Some(Timestamp::now()),
                stream,
                msg: msg.to_vec(),
            }],
            ..Default::default()
        });
    }

    pub fn warn(&self, s: &Step, text: &str) {
        self.push(StatusResponse {
            warnings: vec![VertexWarning {
                vertex: s.v.digest.clone(),
                level: 1,
                short: text.as_bytes().to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        });
    }

    /// No more messages: `Status` streams end once they have sent what there is.
    pub fn finish(&self) {
        let n = match self.log.lock() {
            Ok(mut l) => {
                l.done = true;
                l.items.len()
            }
            Err(_) => return,
        };
        self.tx.send_replace(n + 1);
    }

    /// The messages so far and those to come, as a `Status` answer.
    pub fn subscribe(self: &std::sync::Arc<Self>) -> Out<StatusResponse> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let me = self.clone();
        let mut changes = self.tx.subscribe();
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let (batch, done) = match me.log.lock() {
                    Ok(l) => (l.items[sent..].to_vec(), l.done),
                    Err(_) => return,
                };
                sent += batch.len();
                for r in batch {
                    if tx.send(Ok(r)).await.is_err() {
                        return;
                    }
                }
                if done {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// The builder's text output as vertexes.
pub struct StepSink {
    pub progress: std::sync::Arc<Progress>,
    /// The vertex output goes to until the next step starts, and whether it was cached.
    cur: Mutex<Option<(Step, bool)>>,
    /// Where text before the first step goes (warnings of the Dockerfile).
    pub first: Step,
    pub image: Mutex<Option<String>>,
}

impl StepSink {
    pub fn new(progress: std::sync::Arc<Progress>, first: Step) -> StepSink {
        StepSink {
            progress,
            cur: Mutex::new(None),
            first,
            image: Mutex::new(None),
        }
    }

    /// End the step being reported (`error` when the build failed in it).
    pub fn end(&self, error: &str) {
        if let Ok(mut c) = self.cur.lock() {
            if let Some((s, cached)) = c.take() {
                self.progress.complete(&s, cached, error);
            }
        }
    }

    fn current(&self) -> Step {
        self.cur
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(s, _)| s.clone()))
            .unwrap_or_else(|| self.first.clone())
    }
}

/// `Step 2/5 : RUN x` → `[2/5] RUN x`.
fn step_name(line: &str) -> Option<String> {
    let rest = line.strip_prefix("Step ")?;
    let (count, text) = rest.split_once(" : ")?;
    let (a, b) = count.split_once('/')?;
    if a.parse::<u32>().is_err() || b.parse::<u32>().is_err() {
        return None;
    }
    Some(format!("[{count}] {}", text.trim_end()))
}

impl berth_engine::build::Sink for StepSink {
    fn stream(&self, text: &str) {
        if let Some(name) = step_name(text) {
            self.end("");
            let s = self.progress.start(&name);
            if let Ok(mut c) = self.cur.lock() {
                *c = Some((s, false));
            }
            return;
        }
        if let Some(meta) = text.strip_prefix(" ---> ") {
            if meta.starts_with("Using cache") {
                if let Ok(mut c) = self.cur.lock() {
                    if let Some((_, cached)) = c.as_mut() {
                        *cached = true;
                    }
                }
            }
            // Running in / Removed intermediate container / the step's image id.
            return;
        }
        if text.starts_with("Successfully built ") || text.starts_with("Successfully tagged ") {
            return;
        }
        for w in ["[WARNING]: ", "[Warning] "] {
            if let Some(w) = text.strip_prefix(w) {
                self.progress.warn(&self.current(), w.trim_end());
                return;
            }
        }
        let s = self.current();
        match text
            .strip_prefix("\x1b[91m")
            .and_then(|t| t.strip_suffix("\x1b[0m"))
        {
            Some(err) => self.progress.log(&s, 2, err.as_bytes()),
            None => self.progress.log(&s, 1, text.as_bytes()),
        }
    }

    fn aux_id(&self, id: &str) {
        if let Ok(mut i) = self.image.lock() {
            *i = Some(id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::build::Sink;
    use std::sync::Arc;

    #[test]
    fn classic_text_becomes_vertexes_with_logs() {
        let p = Arc::new(Progress::new("b"));
        let first = p.start("[internal] load build definition from Dockerfile");
        let s = StepSink::new(p.clone(), first);
        s.stream("Step 1/2 : FROM busybox\n");
        s.stream(" ---> 0123\n");
        s.stream("Step 2/2 : RUN echo hi\n");
        s.stream(" ---> Using cache\n");
        s.stream("hi\n");
        s.stream("\x1b[91moops\n\x1b[0m");
        s.end("");
        p.finish();
        let l = p.log.lock().expect("log");
        let names: Vec<&str> = l
            .items
            .iter()
            .flat_map(|r| r.vertexes.iter().map(|v| v.name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                "[internal] load build definition from Dockerfile",
                "[1/2] FROM busybox",
                "[1/2] FROM busybox",
                "[2/2] RUN echo hi",
                "[2/2] RUN echo hi",
            ]
        );
        let last = l.items.iter().rev().find(|r| !r.vertexes.is_empty());
        assert!(last.expect("vertex").vertexes[0].cached);
        let logs: Vec<(i64, &[u8])> = l
            .items
            .iter()
            .flat_map(|r| r.logs.iter().map(|g| (g.stream, g.msg.as_slice())))
            .collect();
        assert_eq!(logs, vec![(1, &b"hi\n"[..]), (2, &b"oops\n"[..])]);
        assert!(l.done);
    }
}
