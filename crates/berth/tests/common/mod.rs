//! A daemon of the test's own (own roots, socket, cgroup parent and network namespace) with
//! the busybox test image loaded, and Berth's and the docker CLI pointed at it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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
        Self::start_in(prefix, config, prepare, |_| Vec::new())
    }

    /// A daemon in the host's network namespace (to reach a registry on the host's loopback;
    /// it must run no container that touches the network).
    pub fn start_host_network(prefix: &str, config: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("daemon.json"), config).expect("config");
        let daemon = Daemon::start_host_network(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &dir.path().join("daemon"),
            &dir.path().join("daemon.json"),
        );
        Self::loaded(daemon, dir)
    }

    /// The same, the daemon's environment made by `env` from the test's directory.
    pub fn start_in(
        prefix: &str,
        config: &str,
        prepare: impl FnOnce(&Path),
        env: impl FnOnce(&Path) -> Vec<(String, String)>,
    ) -> Env {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("daemon.json"), config).expect("config");
        prepare(&dir.path().join("daemon"));
        let vars = env(dir.path());
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let daemon = Daemon::start_with_env(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &dir.path().join("daemon"),
            &dir.path().join("daemon.json"),
            &vars,
        );
        Self::loaded(daemon, dir)
    }

    /// The env of `daemon`, with the busybox test image loaded.
    fn loaded(daemon: Daemon, dir: tempfile::TempDir) -> Env {
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

/// A context directory inside the test's directory.
pub fn build_context(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.dir.path().join(name);
    for (p, text) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(&f, text).expect("write");
    }
    dir
}

/// Nothing of a build is left: no container, no build directory, no mount of the daemon's.
pub fn nothing_left_of_builds(env: &Env) {
    let ps = env.ok(&["ps", "-aq"]);
    assert!(ps.trim().is_empty(), "containers left: {ps}");
    let build = env
        .daemon
        .image_root()
        .parent()
        .expect("data")
        .join("build");
    let left: Vec<_> = std::fs::read_dir(&build)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "build directories left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let ours = build.display().to_string();
    assert!(!mounts.contains(&ours), "mounts left under {ours}");
}

/// `berth daemon` with `config` as its config file (and `env`) must refuse to start, saying
/// `want` on stderr: checked before the daemon opens anything, so it runs in the host's
/// namespaces with a private data root and touches nothing.
pub fn daemon_refuses(dir: &Path, config: &str, want: &str, env: &[(&str, &str)]) {
    std::fs::write(dir.join("daemon.json"), config).expect("config");
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "-H"])
        .arg(format!("unix://{}", dir.join("s.sock").display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .envs(env.iter().copied())
        .output()
        .expect("daemon");
    assert!(!o.status.success(), "{config} started");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(want), "{config}: {err}");
}
