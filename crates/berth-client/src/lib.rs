//! A client for the Docker Engine API over a unix socket: Berth's daemon, or any dockerd. It
//! negotiates the API version with `/_ping` (the lower of the server's and [`API_VERSION`]),
//! and returns dockerd's `{"message"}` errors as [`Error::Api`].

use std::io::{Read, Write};
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
pub use hyper::Method;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use berth_models as models;

/// An answer whose body is read later ([`body_json`], [`body_chunks`]).
pub type Reply = Response<Incoming>;

/// The newest API version this client speaks.
pub const API_VERSION: &str = "1.51";
/// The default socket of Berth's daemon.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered with an error.
    #[error("{message}")]
    Api { status: u16, message: String },
    /// The daemon could not be reached.
    #[error("Cannot connect to the Berth daemon at {host}. Is the berth daemon running?")]
    Connect { host: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A connection target and the negotiated API version.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    socket: PathBuf,
    version: String,
    /// Content trust is on (`DOCKER_CONTENT_TRUST`/`BERTH_CONTENT_TRUST`): every request asks
    /// the daemon to accept only images with a verified signature.
    content_trust: bool,
}

/// Whether `DOCKER_CONTENT_TRUST` or `BERTH_CONTENT_TRUST` is on (Go's ParseBool's truths,
/// as the docker CLI reads it).
pub fn content_trust_from_env() -> bool {
    ["BERTH_CONTENT_TRUST", "DOCKER_CONTENT_TRUST"]
        .iter()
        .any(|k| {
            std::env::var(k)
                .is_ok_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
        })
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl Client {
    /// `unix:///path` (or a bare path). TCP needs mutual TLS, which is not built yet.
    pub fn new(host: &str) -> Result<Client> {
        let socket = if let Some(p) = host.strip_prefix("unix://") {
            PathBuf::from(p)
        } else if host.starts_with('/') {
            PathBuf::from(host)
        } else {
            return Err(Error::Other(format!(
                "unsupported host {host:?}: only unix:// sockets are supported (TCP needs mutual TLS, not built yet)"
            )));
        };
        Ok(Client {
            host: host.to_owned(),
            socket,
            version: API_VERSION.to_owned(),
            content_trust: content_trust_from_env(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Ask the server for its API version and use the lower of the two.
    pub async fn negotiate(&mut self) -> Result<()> {
        let res = self.send(Method::GET, "/_ping", None, empty()).await?;
        if let Some(v) = res
            .headers()
            .get("api-version")
            .and_then(|h| h.to_str().ok())
        {
            if version_lt(v, API_VERSION) {
                self.version = v.to_owned();
            }
        }
        Ok(())
    }

    /// A new HTTP/1.1 connection to the daemon (upgradable, for hijacked streams).
    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<BoxBody>> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|_| Error::Connect {
                host: self.host.clone(),
            })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(other)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: Option<&[(&str, String)]>,
        body: BoxBody,
    ) -> Result<Response<Incoming>> {
        let mut sender = self.connect().await?;
        let uri = if path == "/_ping" {
            path.to_owned()
        } else {
            format!("/v{}{path}", self.version)
        };
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "api")
            .header(
                "User-Agent",
                concat!("Berth-Client/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers.unwrap_or_default() {
            b = b.header(*k, v);
        }
        if self.content_trust {
            b = b.header("X-Berth-Content-Trust", "1");
        }
        let req = b.body(body).map_err(other)?;
        sender.send_request(req).await.map_err(other)
    }

    /// A request; non-2xx answers become [`Error::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: BoxBody,
    ) -> Result<Response<Incoming>> {
        let res = self.send(method, path, Some(headers), body).await?;
        let status = res.status().as_u16();
        if status >= 400 {
            return Err(api_error(res).await);
        }
        Ok(res)
    }

    /// A request with an optional JSON body, answered with JSON as `T` (an empty answer is
    /// read as `null`: `()` or an `Option` take it).
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let (headers, b) = match body {
            Some(v) => (
                vec![("Content-Type", "application/json".to_owned())],
                full(serde_json::to_vec(v).map_err(other)?),
            ),
            None => (Vec::new(), empty()),
        };
        let res = self.call(method, path, &headers, b).await?;
        body_json(res).await
    }

    /// `GET` answered with JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(Method::GET, path, None::<&()>).await
    }

    /// A request without a body; its answer read as `T`.
    pub async fn send_empty<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<T> {
        self.json(method, path, None::<&()>).await
    }

    /// `POST` with a JSON body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T> {
        self.json(Method::POST, path, Some(body)).await
    }

    /// A request answered with a stream of JSON messages (pull, push, build); each goes to
    /// `on`. A message with `error` ends the stream as an error.
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: BoxBody,
        mut on: impl FnMut(&models::message::Message),
    ) -> Result<()> {
        self.lines(
            method,
            path,
            headers,
            body,
            |m: models::message::Message| {
                if !m.error.is_empty() {
                    return Err(Error::Api {
                        status: 500,
                        message: m.error,
                    });
                }
                if let Some(d) = m.error_detail.as_ref().filter(|d| !d.message.is_empty()) {
                    return Err(Error::Api {
                        status: 500,
                        message: d.message.clone(),
                    });
                }
                on(&m);
                Ok(())
            },
        )
        .await
    }

    /// A request answered with newline-separated JSON values (events, stats, message
    /// streams), each read as `T` and handed to `on` (whose error ends the stream).
    pub async fn lines<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: BoxBody,
        mut on: impl FnMut(T) -> Result<()>,
    ) -> Result<()> {
        let res = self.call(method, path, headers, body).await?;
        let mut body = res.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let mut handle = |line: &[u8]| -> Result<()> {
            let line = line.trim_ascii();
            if line.is_empty() {
                return Ok(());
            }
            let v: T = serde_json::from_slice(line)
                .map_err(|e| other(format!("bad JSON message from the daemon: {e}")))?;
            on(v)
        };
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(other)?;
            if let Some(d) = frame.data_ref() {
                buf.extend_from_slice(d);
                while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    handle(&line)?;
                }
            }
        }
        handle(&buf)
    }

    /// A request whose answer body is copied to `out` (e.g. `save`).
    pub async fn download(&self, path: &str, out: &mut dyn Write) -> Result<()> {
        let res = self.call(Method::GET, path, &[], empty()).await?;
        let mut body = res.into_body();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| other(format!("the daemon aborted the transfer: {e}")))?;
            if let Some(d) = frame.data_ref() {
                out.write_all(d).map_err(other)?;
            }
        }
        out.flush().map_err(other)
    }
}

/// The daemon's `{"message": …}` error (or its body as text) with the status.
async fn api_error(res: Response<Incoming>) -> Error {
    let status = res.status().as_u16();
    let bytes = match res.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return other(e),
    };
    let message = serde_json::from_slice::<models::ErrorResponse>(&bytes)
        .ok()
        .map(|e| e.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
    Error::Api { status, message }
}

fn version_lt(a: &str, b: &str) -> bool {
    let p = |v: &str| -> (u32, u32) {
        let (x, y) = v.split_once('.').unwrap_or((v, "0"));
        (x.parse().unwrap_or(0), y.parse().unwrap_or(0))
    };
    p(a) < p(b)
}

pub fn empty() -> BoxBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

pub fn full(data: Vec<u8>) -> BoxBody {
    Full::new(Bytes::from(data))
        .map_err(|never| match never {})
        .boxed()
}

/// A request body streamed from a blocking reader (a file, stdin), read on its own thread.
pub fn reader_body(mut r: impl Read + Send + 'static) -> BoxBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Frame<Bytes>>>(8);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Frame::data(Bytes::copy_from_slice(&buf[..n]))))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let s = tokio_stream_from(rx);
    BodyExt::boxed(StreamBody::new(s))
}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// Percent-encode a path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `?k=v&…` from pairs (empty values are kept).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    let q = s.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_versions() {
        assert!(Client::new("unix:///run/x.sock").is_ok());
        assert!(Client::new("tcp://1.2.3.4:2375").is_err());
        assert!(version_lt("1.41", "1.51") && !version_lt("1.51", "1.51"));
        assert_eq!(query(&[("a", "b c"), ("d", "")]), "?a=b+c&d=");
    }
}

impl Client {
    /// A request whose answer body is handed to `on` chunk by chunk (logs, attach streams).
    pub async fn raw_stream(
        &self,
        method: Method,
        path: &str,
        mut on: impl FnMut(&[u8]),
    ) -> Result<()> {
        let res = self.call(method, path, &[], empty()).await?;
        let mut body = res.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(other)?;
            if let Some(d) = frame.data_ref() {
                on(d);
            }
        }
        Ok(())
    }
}

/// Splits Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian length)
/// into (stream, payload) pieces; feed it bytes as they come.
#[derive(Debug, Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    pub fn push(&mut self, data: &[u8], mut out: impl FnMut(u8, &[u8])) {
        self.buf.extend_from_slice(data);
        loop {
            if self.buf.len() < 8 {
                return;
            }
            let len =
                u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                return;
            }
            let stream = self.buf[0];
            out(stream, &self.buf[8..8 + len]);
            self.buf.drain(..8 + len);
        }
    }
}

/// The JSON body of a response obtained with [`Client::call`], as `T` (empty: `null`).
pub async fn body_json<T: DeserializeOwned>(res: Response<Incoming>) -> Result<T> {
    let bytes = res.into_body().collect().await.map_err(other)?.to_bytes();
    let bytes: &[u8] = if bytes.trim_ascii().is_empty() {
        b"null"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| other(format!("bad JSON from the daemon: {e}")))
}

/// Feed a response's body to `on`, chunk by chunk.
pub async fn body_chunks(res: Response<Incoming>, mut on: impl FnMut(&[u8])) -> Result<()> {
    let mut body = res.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(other)?;
        if let Some(d) = frame.data_ref() {
            on(d);
        }
    }
    Ok(())
}

/// A hijacked connection (attach/exec): raw bytes both ways.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

impl Client {
    /// Send a request asking to take over the connection (`Upgrade: tcp`, as docker does) and
    /// return it once the daemon answered `101`.
    pub async fn hijack(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Hijacked> {
        let mut sender = self.connect().await?;
        let b = match body {
            Some(v) => full(serde_json::to_vec(v).map_err(other)?),
            None => empty(),
        };
        let req = Request::builder()
            .method(method)
            .uri(format!("/v{}{path}", self.version))
            .header("Host", "api")
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp")
            .header("Content-Type", "application/json")
            .body(b)
            .map_err(other)?;
        let res = sender.send_request(req).await.map_err(other)?;
        if res.status().as_u16() != 101 {
            return Err(api_error(res).await);
        }
        let up = hyper::upgrade::on(res).await.map_err(other)?;
        Ok(TokioIo::new(up))
    }
}
