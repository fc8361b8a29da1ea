//! Fixtures shared by Berth's integration tests: a real registry (Debian's `docker-registry`) on
//! 127.0.0.1 with its own storage, optionally behind htpasswd; a TCP proxy that throttles so a
//! test can kill a client mid-transfer; tar/gzip helpers and deterministic incompressible data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tar of `(name, content)` regular files.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).expect("path");
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gz");
    gz.finish().expect("gz")
}

/// Incompressible bytes, deterministic (xorshift).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether Debian's registry is installed (tests that need it fail loudly when it is not: CI
/// installs it).
pub fn registry_binary() -> PathBuf {
    let p = PathBuf::from("/usr/bin/docker-registry");
    assert!(
        p.exists(),
        "docker-registry is not installed (apt-get install docker-registry)"
    );
    p
}

/// A registry process on 127.0.0.1:port, storing under its own directory; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Registry {
    /// Start a registry storing in `dir`; with `user`, only that user/password may use it
    /// (htpasswd, bcrypt).
    pub fn start(dir: &Path, user: Option<(&str, &str)>) -> Registry {
        let bin = registry_binary();
        std::fs::create_dir_all(dir).expect("registry dir");
        let port = free_port();
        let mut auth = String::new();
        if let Some((u, p)) = user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.join("htpasswd"), &out.stdout).expect("htpasswd file");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).expect("config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let child = Command::new(bin)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on 127.0.0.1 to `target` that passes at most `rate` bytes per second from the
/// target to the client (requests go through unthrottled). Lives as long as the test process.
pub fn throttled_proxy(target: u16, rate: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (mut c2, mut up2) = (
                c.try_clone().expect("clone"),
                up.try_clone().expect("clone"),
            );
            let mut c = c;
            let mut up = up;
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut up2);
                let _ = up2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let chunk = (rate / 20).max(1);
                let mut buf = vec![0u8; chunk];
                loop {
                    match up.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// A `berth daemon` with its own data root, exec root and socket under `dir`; stopped (SIGTERM,
/// then SIGKILL) on drop.
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    pub dir: PathBuf,
}

impl Daemon {
    /// Start `berth` (the binary) as a daemon in `dir`, reading `config` as its config file.
    pub fn start(berth: &Path, dir: &Path, config: &Path) -> Daemon {
        std::fs::create_dir_all(dir).expect("daemon dir");
        let socket = dir.join("berth.sock");
        let log = std::fs::File::create(dir.join("daemon.log")).expect("log");
        let child = Command::new(berth)
            .arg("daemon")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("berth.pid"))
            .arg("--config-file")
            .arg(config)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berth daemon");
        let mut d = Daemon {
            child,
            socket,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&d.socket).is_err() {
            if Instant::now() > deadline || d.child.try_wait().ok().flatten().is_some() {
                panic!(
                    "berth daemon did not start: {}",
                    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// `unix:///…/berth.sock`
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's image store.
    pub fn image_root(&self) -> PathBuf {
        self.dir.join("data/image")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
    }
}
