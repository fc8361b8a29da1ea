//! Fixtures shared by Berth's integration tests: a real registry (Debian's `docker-registry`) on
//! 127.0.0.1 with its own storage, optionally behind htpasswd; a TCP proxy that throttles so a
//! test can kill a client mid-transfer; tar/gzip helpers and deterministic incompressible data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod dockerd;

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

/// A `berth daemon` with its own data root, exec root, socket and cgroup parent
/// (`/berthtest-<pid>-<n>`) under `dir`, in a network namespace of its own (`dir/netns`: its
/// bridges, veths and nftables tables never meet the host's or another test's). On drop: the daemon stops (SIGTERM, then SIGKILL),
/// its containers are killed (their shims outlive daemons by design), their mounts undone and
/// the cgroup parent removed.
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    pub dir: PathBuf,
    pub cgroup_parent: String,
    berth: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
}

static DAEMON_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Daemon {
    /// Start `berth` (the binary) as a daemon in `dir`, reading `config` as its config file,
    /// in a network namespace of its own.
    pub fn start(berth: &Path, dir: &Path, config: &Path) -> Daemon {
        Self::start_with(berth, dir, config, true)
    }

    /// A daemon in the host's network namespace, for tests that reach a registry on the
    /// host's loopback and run no containers (an idle daemon touches no network setting).
    pub fn start_host_network(berth: &Path, dir: &Path, config: &Path) -> Daemon {
        Self::start_with(berth, dir, config, false)
    }

    /// A daemon (in a namespace of its own) with `env` in its environment.
    pub fn start_with_env(berth: &Path, dir: &Path, config: &Path, env: &[(&str, &str)]) -> Daemon {
        Self::start_inner(berth, dir, config, true, env)
    }

    fn start_with(berth: &Path, dir: &Path, config: &Path, own_netns: bool) -> Daemon {
        Self::start_inner(berth, dir, config, own_netns, &[])
    }

    fn start_inner(
        berth: &Path,
        dir: &Path,
        config: &Path,
        own_netns: bool,
        env: &[(&str, &str)],
    ) -> Daemon {
        let cgroup_parent = format!(
            "/berthtest-{}-{}",
            std::process::id(),
            DAEMON_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        std::fs::create_dir_all(dir).expect("daemon dir");
        if own_netns {
            let ns = dir.join("netns");
            berth_net::netns::create(&ns).expect("the daemon's network namespace");
            berth_net::link::loopback_up(&ns).expect("loopback in the daemon's namespace");
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = Self::spawn(berth, dir, config, &cgroup_parent, &env);
        let mut d = Daemon {
            child,
            socket: dir.join("berth.sock"),
            dir: dir.to_owned(),
            cgroup_parent,
            berth: berth.to_owned(),
            config: config.to_owned(),
            env,
        };
        d.wait_ready();
        d
    }

    /// Kill the daemon with SIGKILL (its containers keep running) and start it again.
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.restart();
    }

    /// Kill the daemon with SIGKILL (its containers keep running).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the (stopped or killed) daemon again on the same state.
    pub fn restart(&mut self) {
        self.child = Self::spawn(
            &self.berth,
            &self.dir,
            &self.config,
            &self.cgroup_parent,
            &self.env,
        );
        self.wait_ready();
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the daemon process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if Instant::now() > deadline || self.child.try_wait().ok().flatten().is_some() {
                panic!(
                    "berth daemon did not start: {}",
                    std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(
        berth: &Path,
        dir: &Path,
        config: &Path,
        cgroup_parent: &str,
        env: &[(String, String)],
    ) -> Child {
        std::fs::create_dir_all(dir).expect("daemon dir");
        let socket = dir.join("berth.sock");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .expect("log");
        let ns = dir.join("netns");
        let mut cmd = if ns.exists() {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg(berth);
            c
        } else {
            Command::new(berth)
        };
        cmd.arg("daemon")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("berth.pid"))
            .arg("--config-file")
            .arg(config)
            .arg("--cgroup-parent")
            .arg(cgroup_parent)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berth daemon")
    }

    /// `unix:///…/berth.sock`
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Stop the daemon as a service manager would (SIGTERM; it exits gracefully), keeping
    /// its directory and namespace for inspection. Drop cleans up as usual.
    pub fn stop(&mut self) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// The daemon's network namespace (its "host" network: published ports answer on its
    /// loopback).
    pub fn netns(&self) -> PathBuf {
        self.dir.join("netns")
    }

    /// A shell command run in the daemon's network namespace.
    pub fn sh_in_netns(&self, cmd: &str) -> std::process::Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.netns().display()))
            .args(["sh", "-c", cmd])
            .output()
            .expect("nsenter")
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
        // Containers outlive the daemon: kill them and wait for their shims to finish.
        let containers = self.dir.join("data/containers");
        let mut shims = Vec::new();
        for e in std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(d) = std::fs::read_to_string(e.path().join("shim.json")) {
                let num = |k: &str| {
                    d.split(&format!("\"{k}\":"))
                        .nth(1)
                        .and_then(|r| r.split([',', '}']).next())
                        .and_then(|n| n.trim().parse::<i32>().ok())
                };
                if let Some(pid) = num("pid") {
                    // SAFETY: signalling a container init this test's daemon started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                // A paused container dies only once thawed (its freezer, v1 or v2).
                let rel = format!(
                    "{}/{}",
                    self.cgroup_parent.trim_start_matches('/'),
                    e.file_name().to_string_lossy()
                );
                let _ = std::fs::write(
                    format!("/sys/fs/cgroup/freezer/{rel}/freezer.state"),
                    "THAWED",
                );
                let _ = std::fs::write(format!("/sys/fs/cgroup/{rel}/cgroup.freeze"), "0");
                if let Some(shim) = num("shim") {
                    shims.push(shim);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while shims
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Mounts left under our directory (root filesystems), deepest first.
        unmount_below(&self.dir);
        berth_net::netns::remove(&self.netns());
        remove_cgroup(&self.cgroup_parent);
    }
}

/// Lazily unmount every mount below `dir` (a test's own directory), deepest first.
pub fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut ours: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in ours {
        if let Ok(c) = std::ffi::CString::new(m) {
            // SAFETY: lazily unmounting a mount below a test's own directory.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Remove a cgroup (and what is below it) from every hierarchy: v1 controllers and v2.
pub fn remove_cgroup(path: &str) {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel.contains("..") {
        return;
    }
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = e.path().join(rel);
        if dir.is_dir() {
            remove_cgroup_tree(&dir);
        }
    }
    let v2 = Path::new("/sys/fs/cgroup").join(rel);
    if v2.is_dir() {
        remove_cgroup_tree(&v2);
    }
}

fn remove_cgroup_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            remove_cgroup_tree(&e.path());
        }
    }
    // Whatever still runs in it is a container of this test's daemon (the parent is unique to
    // the test): it goes first, then the directory, once its last process has exited.
    for _ in 0..250 {
        for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
        {
            // SAFETY: signalling a process in this test's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
