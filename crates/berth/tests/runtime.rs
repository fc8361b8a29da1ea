//! End-to-end tests of `berth runtime` (the runc command line) with real containers: each test
//! has its own state root, bundle, cgroup parent and network namespace names, and removes them
//! even when it fails (see `rt`). Root: containers need namespaces, cgroups and mounts.

mod rt;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use rt::{World, copy_with_libs, err, out};
use serde_json::{Value, json};

#[test]
fn run_prints_output_and_returns_exit_code() {
    let w = World::new();
    let o = w.run("exit3", &["sh", "-c", "echo hello; exit 3"], |_| {});
    assert_eq!(out(&o), "hello\n", "{}", err(&o));
    assert_eq!(o.status.code(), Some(3));
    // SIGKILL from outside (pid 1 of a pid namespace cannot be killed from inside it).
    let b = w.bundle("killed", &["sleep", "300"], |_| {});
    let mut child = w
        .cmd()
        .args(["run", "--bundle", b.to_str().expect("utf8"), "killed"])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while w
        .berth(&["state", "killed"])
        .stdout
        .windows(9)
        .all(|x| x != b"\"running\"")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(w.berth(&["kill", "killed", "SIGKILL"]).status.success());
    assert_eq!(child.wait().expect("wait run").code(), Some(137));
    assert!(
        !w.root.join("exit3").exists() && !w.root.join("killed").exists(),
        "run removes its state"
    );
    assert!(
        w.cgroup_dirs().iter().all(|d| !d.join("exit3").exists()),
        "run removes its cgroup"
    );
}

#[test]
fn lifecycle_and_state_json() {
    let w = World::new();
    let b = w.bundle("life", &["sleep", "300"], |c| {
        c["annotations"] = json!({"org.example/key": "v"});
    });
    let pidfile = w.dir.path().join("pid");
    let o = w.berth(&[
        "create",
        "--bundle",
        b.to_str().expect("utf8"),
        "--pid-file",
        pidfile.to_str().expect("utf8"),
        "life",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let s = w.state("life");
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], "life");
    assert_eq!(s["ociVersion"], berth_runtime::OCI_VERSION);
    assert_eq!(
        s["bundle"],
        b.canonicalize().expect("bundle").to_str().expect("utf8")
    );
    assert_eq!(s["annotations"]["org.example/key"], "v");
    assert!(s["created"].as_str().is_some_and(|c| c.ends_with('Z')));
    assert!(s["rootfs"].as_str().is_some_and(|r| r.ends_with("rootfs")));
    assert_eq!(s["owner"], "root");
    let pid = s["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pid file"),
        pid.to_string()
    );
    let o = w.berth(&["delete", "life"]);
    assert!(
        !o.status.success(),
        "deleting a created container needs --force"
    );
    assert_eq!(
        w.state("life")["status"],
        "created",
        "a refused delete has no effect"
    );
    let o = w.berth(&["start", "life"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(w.state("life")["status"], "running");
    let o = w.berth(&["start", "life"]);
    assert!(!o.status.success(), "second start must fail");
    let o = w.berth(&["delete", "life"]);
    assert!(
        !o.status.success() && err(&o).contains("not stopped"),
        "{}",
        err(&o)
    );
    let o = w.berth(&["kill", "life", "KILL"]);
    assert!(o.status.success(), "{}", err(&o));
    for _ in 0..500 {
        if w.state("life")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let s = w.state("life");
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["pid"], 0);
    let o = w.berth(&["delete", "life"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = w.berth(&["state", "life"]);
    assert!(
        !o.status.success() && err(&o).contains("does not exist"),
        "{}",
        err(&o)
    );
    assert!(w.cgroup_dirs().iter().all(|d| !d.join("life").exists()));
}

#[test]
fn delete_force_kills_a_running_container() {
    let w = World::new();
    let b = w.bundle("forced", &["sleep", "300"], |_| {});
    let o = w.berth(&["run", "-d", "--bundle", b.to_str().expect("utf8"), "forced"]);
    assert!(o.status.success(), "{}", err(&o));
    let pid = w.state("forced")["pid"].as_i64().expect("pid");
    let o = w.berth(&["delete", "--force", "forced"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
    );
    assert!(!w.root.join("forced").exists());
}

#[test]
fn default_container_is_hardened() {
    let w = World::new();
    let script = r#"
        grep CapEff /proc/self/status
        grep '^Seccomp:' /proc/self/status
        echo 1 > /proc/sys/kernel/panic_on_oops 2>/dev/null && echo PROCSYS-WRITABLE
        echo x > /sys/kernel/uevent_helper 2>/dev/null && echo SYS-WRITABLE
        [ -s /proc/kcore ] && echo KCORE-VISIBLE
        mount -t tmpfs x /mnt 2>/dev/null && echo MOUNT-WORKS
        unshare -U true 2>/dev/null && echo UNSHARE-WORKS
        unshare -m true 2>/dev/null && echo UNSHARE-M-WORKS
        touch /rootfs-write 2>/dev/null && echo ROOT-WRITABLE
        mknod /dev/sda b 8 0 2>/dev/null && echo MKNOD-WORKS
        cat /proc/self/cgroup | grep pids
        ls /sys/fs/cgroup/pids/pids.max >/dev/null && cat /sys/fs/cgroup/pids/pids.max
        echo done
    "#;
    let o = w.run("hard", &["sh", "-c", script], |_| {});
    let text = out(&o);
    assert!(o.status.success(), "{text}{}", err(&o));
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP
    let want: u64 = [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31]
        .iter()
        .map(|b| 1u64 << b)
        .sum();
    assert!(text.contains(&format!("CapEff:\t{want:016x}")), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    for bad in [
        "PROCSYS-WRITABLE",
        "SYS-WRITABLE",
        "KCORE-VISIBLE",
        "MOUNT-WORKS",
        "UNSHARE-WORKS",
        "UNSHARE-M-WORKS",
        "ROOT-WRITABLE",
        "MKNOD-WORKS",
    ] {
        assert!(!text.contains(bad), "{bad}: {text}");
    }
    assert!(text.contains("\n2048\n"), "pids.max: {text}");
    assert!(text.ends_with("done\n"), "{text}");
}

#[test]
fn unprivileged_icmp_works_without_net_raw() {
    let mut w = World::new();
    let ns = w.netns();
    let b = w.bundle("ping", &["/usr/bin/ping", "-c", "1", "-W", "2", "127.0.0.1"], |c| {
        c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            {"type": "network", "path": format!("/var/run/netns/{ns}")}]);
    });
    // iputils ping with its libraries, copied without its file capabilities: it must fall back
    // to an unprivileged ICMP (SOCK_DGRAM) socket.
    copy_with_libs(Path::new("/usr/bin/ping"), &b.join("rootfs"));
    let o = w.berth(&["run", "--bundle", b.to_str().expect("utf8"), "ping"]);
    assert!(o.status.success(), "ping failed: {}{}", out(&o), err(&o));
    assert!(out(&o).contains("1 received"), "{}", out(&o));
}

#[test]
fn cve_2019_5736_runtime_runs_from_a_sealed_copy() {
    let w = World::new();
    let b = w.bundle("sealed", &["true"], |_| {});
    let o = w.berth(&["create", "--bundle", b.to_str().expect("utf8"), "sealed"]);
    assert!(o.status.success(), "{}", err(&o));
    // Until start, the container's init is still the runtime: its exe must be the sealed memfd.
    let pid = w.state("sealed")["pid"].as_i64().expect("pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe link");
    assert!(
        exe.to_string_lossy().starts_with("/memfd:berth-runtime"),
        "{exe:?}"
    );
    let f = std::fs::File::open(format!("/proc/{pid}/exe")).expect("open exe");
    // SAFETY: F_GET_SEALS on a valid descriptor.
    let seals = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::F_GET_SEALS) };
    assert!(seals & libc::F_SEAL_WRITE != 0, "seals {seals:#x}");
    let w2 = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(w2.is_err(), "the runtime image must not be writable");
}

#[test]
fn cve_2024_21626_no_leaked_fds_or_cwd() {
    let w = World::new();
    let o = w.run(
        "fds",
        &[
            "sh",
            "-c",
            "ls /proc/self/fd | tr '\\n' ' '; readlink /proc/self/cwd",
        ],
        |_| {},
    );
    assert!(o.status.success(), "{}", err(&o));
    // sh's stdio and the directory fd of ls itself.
    assert_eq!(out(&o), "0 1 2 3 /\n");
    // A host directory leaked to the runtime as fd 7, and a cwd pointing through it.
    let host_dir = std::fs::File::open("/sys/fs/cgroup").expect("open host dir");
    let b = w.bundle("cwd", &["pwd"], |c| {
        c["process"]["cwd"] = json!("/proc/self/fd/7")
    });
    let fd = std::os::fd::AsRawFd::as_raw_fd(&host_dir);
    let mut cmd = w.cmd();
    cmd.args(["run", "--bundle", b.to_str().expect("utf8"), "cwd"]);
    // SAFETY: dup2 in the child before exec, onto a descriptor number we choose.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 100) < 0 || libc::dup2(100, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().expect("run");
    assert!(
        !o.status.success(),
        "a cwd through a leaked fd must be refused: {}",
        out(&o)
    );
    assert!(!out(&o).contains("cgroup"), "{}", out(&o));
}

#[test]
fn preserve_fds_passes_exactly_the_requested_descriptors() {
    let w = World::new();
    let file = w.dir.path().join("passed");
    std::fs::write(&file, "through fd 3\n").expect("write");
    let f = std::fs::File::open(&file).expect("open");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let b = w.bundle(
        "pres",
        &["sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"],
        |_| {},
    );
    let mut cmd = w.cmd();
    cmd.args([
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.to_str().expect("utf8"),
        "pres",
    ]);
    // SAFETY: dup2 in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // Via a high number: `fd` itself may be 3 (and close-on-exec).
            libc::dup2(fd, 100);
            libc::dup2(100, 3);
            libc::dup2(100, 4);
            libc::close(100);
            Ok(())
        });
    }
    let o = cmd.output().expect("run");
    assert!(o.status.success(), "{}", err(&o));
    // fd 4 is ls's own directory: the runtime's fd 4 was not passed.
    assert_eq!(out(&o), "through fd 3\n0 1 2 3 4 ");
}

#[test]
fn symlinked_mount_targets_resolve_inside_the_rootfs() {
    let w = World::new();
    let outside = w.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside dir");
    let b = w.bundle(
        "symlink",
        &["sh", "-c", "cat /proc/mounts | grep -c /escape || true"],
        |c| {
            c["mounts"]
                .as_array_mut()
                .expect("mounts")
                .push(json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}));
            c["linux"]["maskedPaths"]
                .as_array_mut()
                .expect("masked")
                .push(json!("/masklink"));
        },
    );
    // /escape points at a host path (absolute symlink) and /masklink at a host file.
    std::os::unix::fs::symlink(&outside, b.join("rootfs/escape")).expect("symlink");
    let secret = w.dir.path().join("secret");
    std::fs::write(&secret, "host secret").expect("secret");
    std::os::unix::fs::symlink(&secret, b.join("rootfs/masklink")).expect("symlink");
    let o = w.berth(&["run", "--bundle", b.to_str().expect("utf8"), "symlink"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        !outside.join("x").exists(),
        "mount target created on the host"
    );
    assert!(
        b.join("rootfs")
            .join(outside.strip_prefix("/").expect("abs"))
            .join("x")
            .exists(),
        "target resolved inside rootfs"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).expect("secret"),
        "host secret"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(outside.to_str().expect("utf8")));
}

#[test]
fn bad_input_fails_cleanly() {
    let w = World::new();
    type Breaker = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "badjson",
            Box::new(|b: &Path| std::fs::write(b.join("config.json"), "{ not json").expect("w")),
            "config.json",
        ),
        (
            "badns",
            Box::new(|b: &Path| {
                edit(b, |c| {
                    c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "bogus"}])
                })
            }),
            "bogus",
        ),
        (
            "norootfs",
            Box::new(|b: &Path| edit(b, |c| c["root"]["path"] = json!("nope"))),
            "nope",
        ),
        (
            "badseccomp",
            Box::new(|b: &Path| {
                edit(b, |c| {
                    c["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_WHATEVER")
                })
            }),
            "SCMP_ACT_WHATEVER",
        ),
        (
            "noexe",
            Box::new(|b: &Path| edit(b, |c| c["process"]["args"] = json!(["/no/such/binary"]))),
            "/no/such/binary",
        ),
        (
            "badversion",
            Box::new(|b: &Path| edit(b, |c| c["ociVersion"] = json!("invalid"))),
            "invalid",
        ),
        (
            "apparmor",
            Box::new(|b: &Path| {
                edit(b, |c| {
                    c["process"]["apparmorProfile"] = json!("berth-default")
                })
            }),
            "berth-default",
        ),
        (
            "hostsysctl",
            Box::new(|b: &Path| edit(b, |c| c["linux"]["sysctl"] = json!({"vm.swappiness": "1"}))),
            "vm.swappiness",
        ),
        (
            "badhook",
            Box::new(|b: &Path| {
                edit(b, |c| {
                    c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]})
                })
            }),
            "/bin/false",
        ),
    ];
    for (id, break_it, needle) in cases {
        let b = w.bundle(id, &["true"], |_| {});
        break_it(&b);
        let o = w.berth(&["create", "--bundle", b.to_str().expect("utf8"), id]);
        assert!(!o.status.success(), "{id} must fail");
        assert!(
            err(&o).contains(needle),
            "{id}: error should name {needle:?}: {}",
            err(&o)
        );
        assert_eq!(
            err(&o).trim().lines().count(),
            1,
            "{id}: one line: {}",
            err(&o)
        );
        assert!(!w.root.join(id).exists(), "{id}: state dir left behind");
        assert!(
            w.cgroup_dirs().iter().all(|d| !d.join(id).exists()),
            "{id}: cgroup left behind"
        );
    }
    // An id that exists already.
    let b = w.bundle("twice", &["sleep", "100"], |_| {});
    assert!(
        w.berth(&["create", "--bundle", b.to_str().expect("utf8"), "twice"])
            .status
            .success()
    );
    let o = w.berth(&["create", "--bundle", b.to_str().expect("utf8"), "twice"]);
    assert!(
        !o.status.success() && err(&o).contains("already exists"),
        "{}",
        err(&o)
    );
    assert_eq!(
        w.state("twice")["status"],
        "created",
        "the first container is untouched"
    );
}

fn edit(bundle: &Path, f: impl FnOnce(&mut Value)) {
    let p = bundle.join("config.json");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).expect("json")).expect("write");
}

#[test]
fn exec_pause_resume_ps_update() {
    let w = World::new();
    let b = w.bundle("busy", &["sleep", "300"], |_| {});
    let o = w.berth(&["run", "-d", "--bundle", b.to_str().expect("utf8"), "busy"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = w.berth(&[
        "exec",
        "busy",
        "sh",
        "-c",
        "echo in; grep CapEff /proc/self/status; exit 5",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(
        out(&o).starts_with("in\nCapEff:\t00000000800405fb"),
        "{}",
        out(&o)
    );
    let o = w.berth(&[
        "exec",
        "--user",
        "65534:65534",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "busy",
        "sh",
        "-c",
        "id -u; echo $FOO; pwd",
    ]);
    assert_eq!(out(&o), "65534\nbar\n/tmp\n", "{}", err(&o));
    let proc_file = w.dir.path().join("process.json");
    std::fs::write(&proc_file, json!({"args": ["hostname"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}).to_string()).expect("w");
    let o = w.berth(&[
        "exec",
        "--process",
        proc_file.to_str().expect("utf8"),
        "busy",
    ]);
    assert_eq!(out(&o), "berth\n", "{}", err(&o));
    let o = w.berth(&["exec", "busy", "/no/such"]);
    assert!(
        !o.status.success() && err(&o).contains("/no/such"),
        "{}",
        err(&o)
    );
    let o = w.berth(&["ps", "--format", "json", "busy"]);
    let pids: Vec<i64> = serde_json::from_slice(&o.stdout).expect("ps json");
    assert!(
        pids.contains(&w.state("busy")["pid"].as_i64().expect("pid")),
        "{pids:?}"
    );
    assert!(w.berth(&["pause", "busy"]).status.success());
    assert_eq!(w.state("busy")["status"], "paused");
    assert!(
        !w.berth(&["exec", "busy", "true"]).status.success(),
        "exec into a paused container"
    );
    assert!(w.berth(&["resume", "busy"]).status.success());
    assert_eq!(w.state("busy")["status"], "running");
    let o = w.berth(&["update", "--pids-limit", "77", "busy"]);
    assert!(o.status.success(), "{}", err(&o));
    let pids_max = Path::new("/sys/fs/cgroup/pids")
        .join(&w.cg_parent)
        .join("busy/pids.max");
    assert_eq!(
        std::fs::read_to_string(pids_max).expect("pids.max").trim(),
        "77"
    );
    let o = w.berth(&["kill", "--all", "busy", "9"]);
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn resources_reach_the_cgroup() {
    let w = World::new();
    let o = w.run("res", &["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us"], |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["linux"]["resources"]["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000});
    });
    assert_eq!(out(&o), "67108864\n512\n50000\n", "{}", err(&o));
}

#[test]
fn user_rlimits_hostname_and_readonly_root() {
    let w = World::new();
    let o = w.run(
        "user",
        &[
            "sh",
            "-c",
            "id; ulimit -n; hostname; umask; touch /x 2>/dev/null || echo ro",
        ],
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 63});
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
            c["hostname"] = json!("box");
        },
    );
    assert_eq!(
        out(&o),
        "uid=1000 gid=1000 groups=5(tty)\n256\nbox\n0077\nro\n",
        "{}",
        err(&o)
    );
}

#[test]
fn hooks_run_with_state_and_poststop_failure_only_warns() {
    let w = World::new();
    let log = w.dir.path().join("hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat >> {}; echo ' {name}' >> {}", log.display(), log.display())]});
    let check = r#"grep -c '"id":"hooked"' /dev/shm/started"#;
    let o = w.run("hooked", &["sh", "-c", check], |c| {
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "createContainer": [hook("createContainer")],
            // Runs inside the container (its own /bin/sh), just before the process.
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/shm/started"]}],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop"), {"path": "/bin/false"}],
        });
    });
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        out(&o),
        "1\n",
        "the startContainer hook ran in the container with the state"
    );
    assert!(
        err(&o).contains("poststop"),
        "a warning names the failed hook: {}",
        err(&o)
    );
    let text = std::fs::read_to_string(&log).expect("hook log");
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        assert!(
            text.contains(&format!(" {name}\n")),
            "{name} missing: {text}"
        );
    }
    assert!(text.contains("\"id\":\"hooked\""), "{text}");
}

#[test]
fn user_namespace_with_mappings() {
    let w = World::new();
    let o = w.run(
        "userns",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u; ls /proc/1/exe >/dev/null && echo procok",
        ],
        |c| {
            let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
            ns.push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            // Only gids mapped into the user namespace may be named.
            c["linux"]["sysctl"]["net.ipv4.ping_group_range"] = json!("0 65535");
        },
    );
    let text = out(&o);
    assert!(o.status.success(), "{text}{}", err(&o));
    assert!(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .starts_with(&["0", "100000", "65536", "0"]),
        "{text}"
    );
}

#[test]
fn version_features_and_spec() {
    let w = World::new();
    let o = w.berth(&["--version"]);
    let v = out(&o);
    assert!(
        v.starts_with("berth-runtime version ") && v.contains("\nspec: 1."),
        "{v}"
    );
    let f: Value = serde_json::from_slice(&w.berth(&["features"]).stdout).expect("features json");
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    assert!(
        f["linux"]["namespaces"]
            .as_array()
            .is_some_and(|n| n.len() == 8)
    );
    let dir = w.dir.path().join("specdir");
    std::fs::create_dir(&dir).expect("dir");
    assert!(
        w.berth(&["spec", "--bundle", dir.to_str().expect("utf8")])
            .status
            .success()
    );
    let again = w.berth(&["spec", "--bundle", dir.to_str().expect("utf8")]);
    assert!(!again.status.success(), "spec refuses to overwrite");
    let o = w.berth(&["--systemd-cgroup", "state", "x"]);
    assert!(
        !o.status.success() && err(&o).contains("systemd"),
        "{}",
        err(&o)
    );
    let o = w.berth(&["--log-format", "json", "state", "nosuch"]);
    let line: Value = serde_json::from_str(err(&o).trim()).expect("json error line");
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().is_some_and(|m| m.contains("nosuch")));
}

#[test]
fn invoked_as_berth_runtime_symlink() {
    let w = World::new();
    let link = w.dir.path().join("berth-runtime");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), &link).expect("symlink");
    let o = Command::new(&link).arg("--version").output().expect("run");
    assert!(out(&o).starts_with("berth-runtime version"), "{}", out(&o));
}

#[test]
fn seccomp_notify_hands_the_listener_to_the_agent() {
    use std::os::fd::AsRawFd;
    let w = World::new();
    let sock = w.dir.path().join("agent.sock");
    let agent = std::os::unix::net::UnixListener::bind(&sock).expect("bind agent socket");
    let b = w.bundle("notify", &["sh", "-c", "mkdir /tmp/x; echo after"], |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": sock,
            "listenerMetadata": "hello",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let run = w
        .cmd()
        .args(["run", "--bundle", b.to_str().expect("utf8"), "notify"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let (conn, _) = agent
        .accept()
        .expect("the runtime connects to listenerPath");
    // One message: JSON plus the listener descriptor.
    let (data, fd) = recv_with_fd(&conn);
    let m: Value = serde_json::from_slice(&data).expect("json");
    assert_eq!(m["fds"], json!(["seccompFd"]));
    assert_eq!(m["metadata"], "hello");
    assert_eq!(m["state"]["id"], "notify");
    // Answer the container's mkdir with EACCES.
    let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).expect("a notification");
    let name = req.data.syscall.get_name().expect("syscall name");
    assert!(name.starts_with("mkdir"), "{name}");
    libseccomp::ScmpNotifResp::new_error(
        req.id,
        -libc::EACCES,
        libseccomp::ScmpNotifRespFlags::empty(),
    )
    .respond(fd.as_raw_fd())
    .expect("respond");
    let o = run.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("Permission denied"),
        "the agent's answer reached the process: {}",
        err(&o)
    );
    assert_eq!(out(&o), "after\n");
}

/// Receive one message and the descriptor sent with it over a unix socket.
fn recv_with_fd(conn: &std::os::unix::net::UnixStream) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = vec![0u8; 65536];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; we point it at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "nothing received");
    // SAFETY: the first control message of a successful recvmsg.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(
            !c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS,
            "no descriptor"
        );
        std::os::fd::OwnedFd::from_raw_fd(std::ptr::read_unaligned(
            libc::CMSG_DATA(c).cast::<i32>(),
        ))
    };
    buf.truncate(n as usize);
    (buf, fd)
}

#[test]
fn console_socket_receives_the_pty_master() {
    use std::io::Read;
    let w = World::new();
    let sock = w.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let b = w.bundle("tty", &["sh", "-c", "tty; echo tty-ok"], |c| {
        c["process"]["terminal"] = json!(true)
    });
    let o = w.berth(&[
        "create",
        "--console-socket",
        sock.to_str().expect("utf8"),
        "--bundle",
        b.to_str().expect("utf8"),
        "tty",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let (conn, _) = listener.accept().expect("accept");
    let master = std::fs::File::from(recv_with_fd(&conn).1);
    assert!(w.berth(&["start", "tty"]).status.success());
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    // The master reads until the container's side closes (then EIO).
    let mut m = master;
    while let Ok(n) = m.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("/dev/pts/0") && text.contains("tty-ok"),
        "{text}"
    );
    // Without a console socket, a detached terminal cannot work.
    let b2 = w.bundle("tty2", &["true"], |c| {
        c["process"]["terminal"] = json!(true)
    });
    let o = w.berth(&["create", "--bundle", b2.to_str().expect("utf8"), "tty2"]);
    assert!(
        !o.status.success() && err(&o).contains("console socket"),
        "{}",
        err(&o)
    );
}

#[test]
fn no_pivot_and_keep() {
    let w = World::new();
    let b = w.bundle(
        "nopivot",
        &["sh", "-c", "ls /bin/busybox && exit 4"],
        |_| {},
    );
    let o = w.berth(&[
        "run",
        "--no-pivot",
        "--keep",
        "--bundle",
        b.to_str().expect("utf8"),
        "nopivot",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    assert_eq!(out(&o), "/bin/busybox\n");
    assert_eq!(
        w.state("nopivot")["status"],
        "stopped",
        "--keep leaves the stopped container"
    );
    assert!(w.berth(&["delete", "nopivot"]).status.success());
}

#[test]
fn escape_attempts_fail_under_the_default_profile() {
    let w = World::new();
    let b = w.bundle(
        "probe",
        &["/probe", &std::process::id().to_string()],
        |_| {},
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/escape_probe.c");
    let built = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(b.join("rootfs/probe"))
        .arg(&src)
        .output()
        .expect("gcc is needed (apt-get install -y gcc libc6-dev)");
    assert!(built.status.success(), "gcc: {}", err(&built));
    let o = w.berth(&["run", "--bundle", b.to_str().expect("utf8"), "probe"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let result = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or("missing")
            .to_owned()
    };
    for name in [
        "keyctl",
        "add_key",
        "open_by_handle_at",
        "unshare_user",
        "unshare_mount",
        "clone_newns",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "init_module",
        "setns",
    ] {
        assert_eq!(result(name), "Operation not permitted", "{name}: {text}");
    }
    assert_eq!(result("ptrace_host"), "No such process", "{text}");
    // clone3 cannot be filtered by its flags: ENOSYS makes libc fall back to clone.
    assert_eq!(result("clone3"), "Function not implemented", "{text}");
}

#[test]
fn time_namespace_offsets_and_domainname() {
    let w = World::new();
    let o = w.run(
        "timens",
        &[
            "sh",
            "-c",
            "cut -d. -f1 /proc/uptime; cat /proc/sys/kernel/domainname",
        ],
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("ns")
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
            c["domainname"] = json!("example.test");
        },
    );
    let text = out(&o);
    assert!(o.status.success(), "{text}{}", err(&o));
    let uptime: u64 = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("uptime");
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .expect("uptime")
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("host uptime");
    assert!(
        uptime >= host + 864000 - 5,
        "boottime offset applied: {uptime} vs host {host}"
    );
    assert_eq!(text.lines().nth(1), Some("example.test"));
}
