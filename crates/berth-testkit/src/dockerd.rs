//! Debian's dockerd (20.10) as an oracle: its own roots, socket, cgroup parent and network
//! namespace under a test's directory, stopped and cleaned up on drop; and a plain HTTP/1.1
//! client for unix sockets, to send both daemons the same requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dockerd of the test's own.
pub struct Dockerd {
    child: Child,
    pub dir: PathBuf,
    pub socket: PathBuf,
    cgroup_parent: String,
}

/// Whether dockerd is installed (CI installs Debian's docker.io).
pub fn dockerd_installed() -> bool {
    Path::new("/usr/sbin/dockerd").exists()
}

impl Dockerd {
    /// Start dockerd under `dir` (created), in a network namespace of its own, where its
    /// bridge and rules stay: nothing of it reaches the host's network.
    pub fn start(dir: &Path) -> Dockerd {
        std::fs::create_dir_all(dir).expect("dockerd dir");
        let ns = dir.join("netns");
        berth_net::netns::create(&ns).expect("dockerd's network namespace");
        berth_net::link::loopback_up(&ns).expect("loopback");
        let cgroup_parent = format!("/berthtest-dockerd-{}", std::process::id());
        let socket = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        // An empty config file: dockerd must not read the host's /etc/docker/daemon.json.
        std::fs::write(dir.join("daemon.json"), "{}").expect("dockerd config");
        // nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup
        // hierarchies.
        let child = Command::new("nsenter")
            .arg(format!("--net={}", ns.display()))
            .arg("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
            ])
            .arg(format!("--cgroup-parent={cgroup_parent}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let mut d = Dockerd {
            child,
            dir: dir.to_owned(),
            socket,
            cgroup_parent,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.socket.exists() && request(&d.socket, "GET", "/_ping", None).status == 200 {
                break;
            }
            if Instant::now() > deadline || d.child.try_wait().ok().flatten().is_some() {
                panic!(
                    "dockerd did not come up:\n{}",
                    std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: signalling the dockerd this fixture started. It stops its containers and
        // its containerd before it exits.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::unmount_below(&self.dir);
        berth_net::netns::remove(&self.dir.join("netns"));
        crate::remove_cgroup(&self.cgroup_parent);
    }
}

/// An HTTP response: status, headers (names lower-cased), body (de-chunked).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One request on a new connection (`Connection: close`), read to the end: a streaming
/// endpoint must end by itself (`stream=false`, `until`).
pub fn request(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> HttpResponse {
    let fail = |e: std::io::Error| HttpResponse {
        status: 0,
        headers: Vec::new(),
        body: e.to_string().into_bytes(),
    };
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if let Err(e) = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body)) {
        return fail(e);
    }
    let mut r = BufReader::new(s);
    let mut line = String::new();
    if let Err(e) = r.read_line(&mut line) {
        return fail(e);
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_lowercase(), v.trim().to_owned()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let mut raw = Vec::new();
    let _ = r.read_to_end(&mut raw);
    let body = if chunked { dechunk(&raw) } else { raw };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        raw = &raw[eol + 2..];
        if size == 0 || raw.len() < size {
            out.extend_from_slice(&raw[..size.min(raw.len())]);
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(dechunk(b"3\r\nab"), b"ab");
    }
}
