//! Streaming helpers: container output as Docker's multiplexed (or, for terminals, raw)
//! streams, hijacked connections (`101 UPGRADED`) with the client's input passed on, JSON
//! message streams, and request/response bodies as blocking readers and writers for engine
//! work done in `spawn_blocking`.

use std::io::{Read, Write};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::containers::io::{Output, Stdin, Streams};
use bytes::Bytes;
use futures_util::StreamExt;

/// An 8-byte multiplexing header (stream 1 = stdout, 2 = stderr) and the payload.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn bytes_of(o: Output, raw: bool) -> Bytes {
    if raw {
        Bytes::from(o.data)
    } else {
        Bytes::from(frame(o.stream as u8, &o.data))
    }
}

/// Detach keys (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) as the bytes a terminal sends, as dockerd reads
/// `detachKeys`.
pub fn detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("Invalid detach keys ({spec}) provided");
    let mut out = Vec::new();
    for k in spec.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if k.len() == 1 && k.is_ascii() {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// The default detach keys (ctrl-p, ctrl-q).
pub const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// Input bytes with the detach sequence held back: bytes to pass on, and whether the whole
/// sequence came (the client detaches). A partial sequence is kept until it completes or
/// breaks (then it is passed on).
pub struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, matched: 0 }
    }

    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (data.to_vec(), false);
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// The client's hijacked input, copied into `t` (a blocking sink) until it ends — or until
/// the detach keys come, which ends the connection (`detached` fires) and leaves the
/// container's input open.
fn forward_stdin(
    mut input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    mut t: Stdin,
    keys: Vec<u8>,
    detached: tokio::sync::oneshot::Sender<()>,
) {
    use tokio::io::AsyncReadExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 << 10];
        let mut esc = Escape::new(keys);
        loop {
            match input.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None).await;
                    return;
                }
                Ok(n) => {
                    let (data, detach) = esc.feed(&buf[..n]);
                    if !data.is_empty() && tx.send(Some(data)).await.is_err() {
                        return;
                    }
                    if detach {
                        let _ = detached.send(());
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Some(data) => {
                    if t.write(&data).is_err() {
                        return;
                    }
                }
                None => {
                    t.close();
                    return;
                }
            }
        }
        // Detached: the input stays open for the next attach.
    });
}

/// A container's or exec's streams as the response: a hijacked connection when the client
/// asked for one (its input going to `stdin`), else a streamed body.
pub fn streams_response(
    s: Streams,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    detach: Vec<u8>,
) -> Response {
    let raw = s.tty;
    let content_type = if raw {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut rx = s.output;
    if let Some(on_upgrade) = upgrade {
        let stdin = s.stdin;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(upgraded);
            let (input, mut output) = tokio::io::split(io);
            // The first output goes at least 50 ms after the 101's headers: clients that read
            // the headers through a buffer and then the raw socket (docker-py) lose what
            // arrives in the same read as the headers; dockerd's first output (a log replay,
            // an exec's, after the runtime's exec) comes later than Berth's would.
            let first_after = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
            let mut first = true;
            let (detached_tx, mut detached) = tokio::sync::oneshot::channel();
            match stdin {
                Some(t) => forward_stdin(input, t, detach, detached_tx),
                None => drop(detached_tx),
            }
            use tokio::io::AsyncWriteExt;
            let mut watching = true;
            loop {
                let o = tokio::select! {
                    o = rx.recv() => o,
                    r = &mut detached, if watching => {
                        if r.is_ok() {
                            break; // detached: the connection ends, the container runs on
                        }
                        watching = false;
                        continue;
                    }
                };
                let Some(o) = o else { break };
                if first {
                    first = false;
                    tokio::time::sleep_until(first_after).await;
                }
                if output.write_all(&bytes_of(o, raw)).await.is_err() {
                    return;
                }
            }
            let _ = output.shutdown().await;
        });
        return (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONNECTION, "Upgrade"),
                (header::UPGRADE, "tcp"),
            ],
        )
            .into_response();
    }
    let body = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(move |o| Ok::<_, std::io::Error>(bytes_of(o, raw)));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

/// A body of JSON messages fed from a channel, each followed by `sep`.
pub fn json_lines<T: serde::Serialize + Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
    sep: &'static [u8],
) -> Response {
    let s = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |v| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.extend_from_slice(sep);
        Ok::<_, std::io::Error>(Bytes::from(b))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(s),
    )
        .into_response()
}

/// How much of a request body is read and dropped after its reader gave up (the engine
/// failed midway, e.g. on a full disk): a client still uploading then finishes and reads the
/// error, instead of seeing the connection close under its upload.
const DRAIN_LIMIT: usize = 1 << 30;

/// The request body as a blocking reader.
pub fn body_reader(body: Body) -> ChannelReader {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let mut s = body.into_data_stream();
        let mut drained = 0;
        while let Some(chunk) = s.next().await {
            if tx.is_closed() {
                drained += chunk.map_or(0, |c| c.len());
                if drained > DRAIN_LIMIT {
                    break;
                }
                continue;
            }
            let _ = tx.send(chunk.map_err(std::io::Error::other)).await;
        }
    });
    ChannelReader {
        rx,
        buf: Bytes::new(),
    }
}

pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    buf: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// A response body as a blocking writer.
pub struct ChannelWriter(pub tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body produced by blocking work (a tar, an image archive): an error midway ends it
/// aborted, so the client sees a truncated stream.
pub fn blocking_body(
    content_type: &'static str,
    f: impl FnOnce(std::io::BufWriter<ChannelWriter>) -> berth_engine::Result<()> + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let tx2 = tx.clone();
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(1 << 20, ChannelWriter(tx));
        if let Err(e) = f(w) {
            let _ = tx2.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}
