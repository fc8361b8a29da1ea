//! A daemon of the test's own (own roots, socket, cgroup parent and network namespace) with
//! the busybox test image loaded, and Berth's and the docker CLI pointed at it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

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
    /// A daemon whose config file holds `config`, its test dir named after `prefix`.
    pub fn start(prefix: &str, config: &str) -> Env {
        Self::start_prepared(prefix, config, |_| {})
    }

    /// The same, with `prepare` given the daemon's directory before the daemon starts (to
    /// mount something under it: the daemon's drop undoes every mount below it).
    pub fn start_prepared(prefix: &str, config: &str, prepare: impl FnOnce(&Path)) -> Env {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("daemon.json"), config).expect("config");
        prepare(&dir.path().join("daemon"));
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

    fn cli(&self, bin: &str, var: &str, args: &[&str]) -> Run {
        let o = Command::new(bin)
            .env(var, self.daemon.host())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("client");
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        self.cli(env!("CARGO_BIN_EXE_berth"), "BERTH_HOST", args)
    }

    pub fn docker(&self, args: &[&str]) -> Run {
        self.cli("/usr/local/bin/docker", "DOCKER_HOST", args)
    }

    /// `berth ARGS`, which must succeed: its output.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.out, r.err);
        r.out
    }
}
