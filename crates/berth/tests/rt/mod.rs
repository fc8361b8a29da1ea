//! A world for end-to-end tests of `berth runtime`: its own state root, bundles, cgroup parent
//! and network namespace names, removed on drop even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

pub static SEQ: AtomicU32 = AtomicU32::new(0);

/// One test's world.
pub struct World {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub cg_parent: String,
    pub netns: Vec<String>,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-rt-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let root = dir.path().join("state");
        let cg_parent = format!(
            "berthtest-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        World {
            dir,
            root,
            cg_parent,
            netns: Vec::new(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("runtime").arg("--root").arg(&self.root);
        c
    }

    /// Run a command to completion. stdout and stderr go through files, not pipes: a created
    /// container inherits them and keeps them open long after `create` returns.
    pub fn berth(&self, args: &[&str]) -> Output {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let (o, e) = (
            self.dir.path().join(format!("out{n}")),
            self.dir.path().join(format!("err{n}")),
        );
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).expect("out file"))
            .stderr(std::fs::File::create(&e).expect("err file"))
            .status()
            .expect("run berth");
        Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        }
    }

    /// A bundle named `id` whose process runs `args`; `edit` may change the config.
    pub fn bundle(&self, id: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let b = self.dir.path().join(format!("bundle-{id}"));
        let mut cfg = berth_runtime::spec::default_spec();
        cfg["process"]["terminal"] = json!(false);
        cfg["process"]["args"] = json!(args);
        cfg["linux"]["cgroupsPath"] = json!(format!("/{}/{id}", self.cg_parent));
        edit(&mut cfg);
        std::fs::create_dir_all(&b).expect("bundle dir");
        xtask::bundle(&b, &serde_json::to_string_pretty(&cfg).expect("json")).expect("bundle");
        b
    }

    pub fn run(&self, id: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> Output {
        let b = self.bundle(id, args, edit);
        self.berth(&["run", "--bundle", b.to_str().expect("utf8"), id])
    }

    pub fn state(&self, id: &str) -> Value {
        let o = self.berth(&["state", id]);
        assert!(
            o.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).expect("state json")
    }

    pub fn netns(&mut self) -> String {
        let name = format!("{}-ns{}", self.cg_parent, self.netns.len());
        sh(&format!(
            "ip netns add {name} && ip netns exec {name} ip link set lo up"
        ));
        self.netns.push(name.clone());
        name
    }

    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(&self.cg_parent))
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = id.file_name().to_string_lossy().into_owned();
            if !id.starts_with('.') {
                let _ = self.berth(&["delete", "--force", &id]);
            }
        }
        for d in self.cgroup_dirs() {
            for sub in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if sub.path().is_dir() {
                    let _ = std::fs::remove_dir(sub.path());
                }
            }
            let _ = std::fs::remove_dir(&d);
        }
        for n in &self.netns {
            let _ = Command::new("ip").args(["netns", "delete", n]).status();
        }
    }
}

/// Copy a dynamically linked binary and the libraries ldd lists into a rootfs.
pub fn copy_with_libs(bin: &Path, rootfs: &Path) {
    assert!(
        bin.exists(),
        "{} is missing: apt-get install -y iputils-ping",
        bin.display()
    );
    let ldd = Command::new("ldd").arg(bin).output().expect("ldd");
    let mut files = vec![bin.to_owned()];
    for l in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(p) = l.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    for f in files {
        let dest = rootfs.join(f.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&f, &dest).expect("copy");
    }
}

pub fn sh(script: &str) {
    let s = Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .expect("sh");
    assert!(s.success(), "{script}");
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
