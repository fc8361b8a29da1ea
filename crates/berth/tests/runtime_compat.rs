//! `berth runtime` runs what runc runs: bundles written by `runc spec` and `crun spec`, the
//! `r`-prefixed root propagations containerd sends, systemd-style cgroups paths under the
//! cgroupfs driver, the named `name=systemd` hierarchy, poststart/poststop hooks that go on after
//! a failure, and a signal sent the moment `start` returns. Root: real containers (namespaces,
//! cgroups, mounts); each test owns its state root, bundles and cgroups (see `rt`).

mod rt;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rt::{World, err, out};
use serde_json::{Value, json};

/// `tool spec` in a fresh bundle with a busybox rootfs, then `edit` on its config.
fn foreign_bundle(w: &World, tool: &str, id: &str, edit: impl FnOnce(&mut Value)) -> String {
    let dir = w.dir.path().join(format!("{tool}-bundle"));
    std::fs::create_dir_all(&dir).expect("bundle dir");
    xtask::busybox_rootfs(&dir.join("rootfs")).expect("rootfs");
    let o = Command::new(tool)
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} spec: {e} (scripts/install-deps.sh --tests installs it)")
        });
    assert!(o.status.success(), "{tool} spec: {}", err(&o));
    let path = dir.join("config.json");
    let mut cfg: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("config")).expect("json");
    cfg["process"]["terminal"] = json!(false);
    cfg["linux"]["cgroupsPath"] = json!(format!("/{}/{id}", w.cg_parent));
    edit(&mut cfg);
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write");
    dir.display().to_string()
}

#[test]
fn bundles_from_runc_and_crun_spec_run() {
    let w = World::new();
    for tool in ["runc", "crun"] {
        let id = format!("from-{tool}");
        let b = foreign_bundle(&w, tool, &id, |c| {
            // Both list ambient capabilities with no inheritable ones: the kernel cannot raise
            // them. runc warns and goes on; so must we.
            assert!(
                !c["process"]["capabilities"]["ambient"]
                    .as_array()
                    .is_none_or(Vec::is_empty),
                "{tool}'s spec has ambient capabilities: {c}"
            );
            c["process"]["args"] = json!(["sh", "-c", "echo ran; grep CapAmb /proc/self/status"]);
        });
        let o = w.berth(&["run", "--bundle", &b, &id]);
        assert!(o.status.success(), "{tool}'s bundle: {}", err(&o));
        assert_eq!(
            out(&o),
            "ran\nCapAmb:\t0000000000000000\n",
            "{tool}'s bundle: {}",
            err(&o)
        );
        assert!(
            err(&o).contains("warning") && err(&o).contains("CAP_KILL"),
            "a warning names the ambient capabilities not raised: {}",
            err(&o)
        );
    }
}

/// The optional fields of the mountinfo line of `/` as the container sees it.
fn root_propagation(w: &World, id: &str, prop: &str) -> String {
    let o = w.run(
        id,
        &[
            "sh",
            "-c",
            "awk '$5 == \"/\" { print $7 }' /proc/self/mountinfo",
        ],
        |c| c["linux"]["rootfsPropagation"] = json!(prop),
    );
    assert!(o.status.success(), "rootfsPropagation {prop}: {}", err(&o));
    out(&o).trim().to_owned()
}

#[test]
fn r_propagations_containerd_sends_are_accepted() {
    let w = World::new();
    // Bidirectional mounts: `rshared`, the root a peer group of its own.
    assert!(
        root_propagation(&w, "rshared", "rshared").starts_with("shared:"),
        "rshared root"
    );
    // HostToContainer: `rslave`, receiving from the host's peer group. (The host's / may be
    // private, then the root is private too: either way not shared and accepted.)
    let slave = root_propagation(&w, "rslave", "rslave");
    assert!(!slave.starts_with("shared:"), "rslave root: {slave}");
    assert_eq!(root_propagation(&w, "rprivate", "rprivate"), "-");
    // The volumes themselves: a host directory shared in peer group N is, in the container,
    // in group N too with `rshared` (propagation both ways) and a slave of N with `rslave`.
    let host = w.dir.path().join("shared-src");
    std::fs::create_dir_all(&host).expect("host dir");
    let _m = HostMount::shared(&host);
    let group = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .find(|l| l.split(' ').nth(4) == host.to_str())
        .and_then(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("shared:"))
                .map(str::to_owned)
        })
        .expect("the host mount's peer group");
    for (id, prop, want) in [
        ("vol-rshared", "rshared", format!("shared:{group}")),
        ("vol-rslave", "rslave", format!("master:{group}")),
    ] {
        let o = w.run(
            id,
            &[
                "sh",
                "-c",
                "awk '$5 == \"/vol\" { print $7 }' /proc/self/mountinfo",
            ],
            |c| {
                c["linux"]["rootfsPropagation"] = json!(prop);
                c["mounts"].as_array_mut().expect("mounts").push(json!({
                    "destination": "/vol", "type": "bind", "source": host,
                    "options": ["rbind", prop]}));
            },
        );
        assert!(o.status.success(), "{prop} volume: {}", err(&o));
        assert_eq!(out(&o).trim(), want, "{prop} volume");
    }
    let o = w.run("bad", &["true"], |c| {
        c["linux"]["rootfsPropagation"] = json!("rsideways")
    });
    assert!(
        !o.status.success() && err(&o).contains("rsideways"),
        "an unknown propagation is named: {}",
        err(&o)
    );
}

/// A bind mount of a directory onto itself, made shared (a host-side volume source, as
/// Kubernetes' Bidirectional volumes have); unmounted on drop.
struct HostMount(std::path::PathBuf);

impl HostMount {
    fn shared(dir: &Path) -> HostMount {
        use nix::mount::{MsFlags, mount};
        mount::<Path, Path, str, str>(Some(dir), dir, None, MsFlags::MS_BIND, None)
            .expect("bind the host dir");
        let m = HostMount(dir.to_owned());
        mount::<str, Path, str, str>(None, dir, None, MsFlags::MS_SHARED, None)
            .expect("make it shared");
        m
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Removes top-level cgroups of one name in every hierarchy, even when the test fails.
struct TopCgroup(String);

impl TopCgroup {
    fn dirs(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(&self.0))
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for TopCgroup {
    fn drop(&mut self) {
        for d in self.dirs() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn systemd_style_cgroups_path_is_a_cgroupfs_path_and_name_systemd_holds_the_container() {
    let w = World::new();
    // Podman's and the kubelet's systemd form, given to a cgroupfs runtime: runc makes one
    // directory of that name.
    let name = format!("{}.slice:berth:box", w.cg_parent);
    let guard = TopCgroup(name.clone());
    let b = w.bundle("slice", &["sleep", "100"], |c| {
        c["linux"]["cgroupsPath"] = json!(name)
    });
    let o = w.berth(&["run", "-d", "--bundle", b.to_str().expect("utf8"), "slice"]);
    assert!(o.status.success(), "run -d: {}", err(&o));
    let pid = w.state("slice")["pid"].as_i64().expect("pid");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let line = |h: &str| {
        cgroups
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|x| x == h))
            })
            .map(|l| l.splitn(3, ':').nth(2).unwrap_or("").to_owned())
    };
    assert_eq!(
        line("pids").as_deref(),
        Some(&*format!("/{name}")),
        "{cgroups}"
    );
    let named_systemd = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("name=systemd"));
    if named_systemd {
        assert_eq!(
            line("name=systemd").as_deref(),
            Some(&*format!("/{name}")),
            "runc places the container in the name=systemd hierarchy too: {cgroups}"
        );
    } else {
        eprintln!("no name=systemd hierarchy on this host: only the cgroupfs path is checked");
    }
    let o = w.berth(&["delete", "--force", "slice"]);
    assert!(o.status.success(), "delete: {}", err(&o));
    assert!(
        guard.dirs().is_empty(),
        "delete removes the cgroup from every hierarchy: {:?}",
        guard.dirs()
    );
}

#[test]
fn poststart_and_poststop_hooks_all_run_when_one_fails() {
    let w = World::new();
    let log = w.dir.path().join("hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]});
    let fail = json!({"path": "/bin/false"});
    let o = w.run("hooks", &["true"], |c| {
        c["hooks"] = json!({
            "poststart": [hook("poststart-1"), fail, hook("poststart-2")],
            "poststop": [fail, hook("poststop-1"), fail, hook("poststop-2")],
        });
    });
    assert!(
        o.status.success(),
        "hook failures are warnings: {}",
        err(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&log).expect("hook log"),
        "poststart-1\npoststart-2\npoststop-1\npoststop-2\n",
        "every hook after a failed one still ran: {}",
        err(&o)
    );
    assert_eq!(
        err(&o).matches("warning").count(),
        3,
        "one warning per failed hook: {}",
        err(&o)
    );
}

#[test]
fn a_signal_sent_as_start_returns_reaches_the_containers_handler() {
    // runtime-tools' killsig: a shell traps the signal; `kill` follows `start` at once. The
    // kernel drops a signal to a pid-namespace init without a handler, so a signal that arrives
    // before the program runs, or before the shell's `trap`, would be lost.
    let w = World::new();
    let b = w.bundle(
        "sig",
        &["sh", "-c", "trap 'touch /got' USR1; sleep 10 & wait $!"],
        |c| c["root"]["readonly"] = json!(false),
    );
    let bundle = b.to_str().expect("utf8");
    let got = b.join("rootfs/got");
    for round in 0..20 {
        let _ = std::fs::remove_file(&got);
        let o = w.berth(&["create", "--bundle", bundle, "sig"]);
        assert!(o.status.success(), "create: {}", err(&o));
        let o = w.berth(&["start", "sig"]);
        assert!(o.status.success(), "start: {}", err(&o));
        let o = w.berth(&["kill", "sig", "USR1"]);
        assert!(o.status.success(), "kill: {}", err(&o));
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.state("sig")["status"] != "stopped" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let handled = Path::new(&got).exists();
        let o = w.berth(&["delete", "--force", "sig"]);
        assert!(o.status.success(), "delete: {}", err(&o));
        assert!(
            handled,
            "round {round}: the USR1 sent right after start was lost"
        );
    }
}
