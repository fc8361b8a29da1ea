//! The containers suites' world: a daemon of the test's own with the busybox image loaded,
//! Berth's CLI and the docker CLI pointed at it, curl on its socket, a pseudo-terminal.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_testkit::Daemon;

pub struct Env {
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("berth-containers-")
            .tempdir()
            .expect("tempdir");
        let daemon = Daemon::start(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &dir.path().join("daemon"),
            &dir.path().join("daemon.json"),
        );
        let archive = xtask::busybox_image(dir.path()).expect("busybox image");
        std::fs::write(dir.path().join("busybox.tar"), archive).expect("archive");
        let env = Env { daemon, dir };
        env.ok(&["load", "-q", "-i", "busybox.tar"]);
        env
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        use std::os::unix::process::ExitStatusExt;
        let o = Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", self.daemon.host())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("berth");
        Run {
            code: o
                .status
                .code()
                .unwrap_or(-100 - o.status.signal().unwrap_or(0)),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `berth` or the docker CLI, pointed at this test's daemon.
    pub fn client(&self, cli: &str) -> Command {
        let (bin, var) = if cli == "berth" {
            (PathBuf::from(env!("CARGO_BIN_EXE_berth")), "BERTH_HOST")
        } else {
            (docker_bin(), "DOCKER_HOST")
        };
        let mut c = Command::new(bin);
        c.env(var, self.daemon.host());
        c
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.out, r.err);
        r.out
    }
}

/// One API call through curl on the daemon's socket; the JSON answer (null if none).
pub fn api(env: &Env, method: &str, path: &str, body: &str) -> serde_json::Value {
    let host = env.daemon.host();
    let o = Command::new("curl")
        .args([
            "-sS",
            "--unix-socket",
            host.trim_start_matches("unix://"),
            "-X",
            method,
        ])
        .args(["-H", "Content-Type: application/json", "-d", body])
        .arg(format!("http://berth{path}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

pub fn docker_bin() -> PathBuf {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("the docker CLI (/usr/local/bin/docker)")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run `cmd` under a new pseudo-terminal of `rows`×`cols`, type `input` after `delay_ms`,
/// and return (everything it printed, its exit code).
pub fn under_pty(
    cmd: &mut Command,
    rows: u16,
    cols: u16,
    input: &[u8],
    delay_ms: u64,
) -> (String, i32) {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd};
    let pty = nix::pty::openpty(
        Some(&nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }),
        None,
    )
    .expect("openpty");
    let slave = pty.slave.as_raw_fd();
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec: a new session with the pty as controlling terminal
        // and stdio; only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                libc::ioctl(slave, libc::TIOCSCTTY, 0);
                libc::dup2(slave, 0);
                libc::dup2(slave, 1);
                libc::dup2(slave, 2);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn under a pty");
    drop(pty.slave);
    // SAFETY: the master fd is ours; the File takes it over.
    let mut master =
        unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(pty.master)) };
    let mut writer = master.try_clone().expect("clone");
    let input = input.to_vec();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = writer.write_all(&input);
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let code = child.wait().expect("wait").code().unwrap_or(-1);
    (String::from_utf8_lossy(&out).into_owned(), code)
}
