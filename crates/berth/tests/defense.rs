//! Defense in depth (issue 17), through the docker CLI: the defaults every container gets
//! (pids limit, memory ceiling, capabilities, seccomp, no-new-privileges, masked paths), as
//! seen from inside, in `inspect` and `info`, each overridable per container and in
//! daemon.json; Docker's namespace modes (`--pid`, `--ipc`, `--uts`, `--cgroupns`).

mod common;

use common::Env;

/// `docker run --rm busybox sh -c SCRIPT` (with `flags` before the image): its output.
fn inside(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let r = env.docker(&args);
    assert_eq!(r.code, 0, "docker {args:?}: {}{}", r.out, r.err);
    r.out
}

/// A line `Key:\tvalue` of /proc/self/status inside a container with `flags`.
fn status(env: &Env, flags: &[&str], key: &str) -> String {
    inside(
        env,
        flags,
        &format!("grep '^{key}:' /proc/self/status | cut -f2"),
    )
    .trim()
    .to_owned()
}

/// Docker's default capability set less AUDIT_WRITE, MKNOD, NET_RAW: Berth's 11.
const DEFAULT_CAPS: &str = "00000000800405fb";

#[test]
fn the_defaults_hold_inside_a_container_and_show_in_inspect_and_info() {
    let env = Env::start("berth-defense-", "{}");
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["info", "--format", "{{json .ContainerDefaults}}"]))
            .expect("info");
    assert_eq!(info["PidsLimit"], 2048);
    let ceiling = info["Memory"].as_i64().expect("memory");
    let total: i64 = std::fs::read_to_string("/proc/meminfo")
        .expect("meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .expect("MemTotal")
        * 1024;
    assert!(
        ceiling > 0 && ceiling < total && ceiling >= total * 8 / 10,
        "{ceiling} of {total}"
    );
    assert_eq!(info["NoNewPrivileges"], true);
    assert_eq!(info["SeccompProfile"], "builtin");
    let d = env.docker(&["info"]);
    assert!(
        d.out.contains("no-new-privileges") && d.out.contains("Profile: builtin"),
        "{}",
        d.out
    );

    // From inside a default container.
    let cg = inside(
        &env,
        &[],
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    let cg: Vec<&str> = cg.lines().collect();
    assert_eq!(cg[0], "2048");
    let limit: i64 = cg[1].parse().expect("limit");
    assert!(
        (limit - ceiling).abs() < 4096,
        "memory.limit_in_bytes {limit} vs {ceiling}"
    );
    assert_eq!(status(&env, &[], "CapEff"), DEFAULT_CAPS);
    assert_eq!(status(&env, &[], "NoNewPrivs"), "1");
    assert_eq!(status(&env, &[], "Seccomp"), "2");
    assert_eq!(
        inside(&env, &[], "wc -c < /proc/timer_list").trim(),
        "0",
        "masked"
    );
    assert!(inside(&env, &[], "touch /proc/sys/kernel/x 2>&1 || echo ro").contains("ro"));

    // Recorded in inspect as what holds.
    let id = env
        .docker(&["create", "busybox", "true"])
        .out
        .trim()
        .to_owned();
    let hc = env.docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{len .HostConfig.MaskedPaths}}",
        &id,
    ]);
    let f: Vec<&str> = hc.out.split_whitespace().collect();
    assert_eq!(f[0], "2048");
    assert_eq!(f[1], ceiling.to_string());
    assert_eq!(
        f[2],
        ceiling.to_string(),
        "no swap beyond the default ceiling"
    );
    assert_ne!(f[3], "0");

    // A fork bomb stops at the limit (read from the host's side of the cgroup: nothing can
    // fork inside); the host carries on.
    let bomb = env
        .docker(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "seq 3000 | xargs -P 3000 -n 1 sleep 600",
        ])
        .out
        .trim()
        .to_owned();
    let cg = format!("/sys/fs/cgroup/pids{}/{bomb}", env.daemon.cgroup_parent);
    let read = |f: &str| std::fs::read_to_string(format!("{cg}/{f}")).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !read("pids.events").starts_with("max ") || read("pids.events").trim() == "max 0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the bomb never hit the limit: {}",
            read("pids.current")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let current: i64 = read("pids.current").trim().parse().expect("pids.current");
    assert!((2040..=2048).contains(&current), "pids.current {current}");
    let logs = env.docker(&["logs", &bomb]);
    assert!(
        logs.err.contains("Resource temporarily unavailable"),
        "{}",
        logs.err
    );
    let r = env.docker(&["rm", "-f", &bomb]);
    assert_eq!(r.code, 0, "{}", r.err);

    // Each overridden per container.
    assert_eq!(
        inside(
            &env,
            &["--pids-limit", "50"],
            "cat /sys/fs/cgroup/pids/pids.max"
        )
        .trim(),
        "50"
    );
    assert_eq!(
        inside(&env, &["-m", "128m"], "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").trim(),
        format!("{}\n{}", 128 << 20, 256 << 20)
    );
    assert_eq!(
        status(
            &env,
            &["--security-opt", "no-new-privileges=false"],
            "NoNewPrivs"
        ),
        "0"
    );
    assert_eq!(
        status(&env, &["--security-opt", "seccomp=unconfined"], "Seccomp"),
        "0"
    );
    assert_eq!(
        status(&env, &["--cap-drop", "ALL"], "CapEff"),
        "0000000000000000"
    );
    assert_eq!(
        status(&env, &["--cap-add", "NET_RAW"], "CapEff"),
        "00000000800425fb"
    );
    // Privileged: every capability the host's root has (this host's lacks CAP_SYS_RESOURCE).
    let host_bounding = std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_owned()))
        .expect("CapBnd");
    assert_eq!(status(&env, &["--privileged"], "CapEff"), host_bounding);
    let unmasked = inside(
        &env,
        &["--security-opt", "systempaths=unconfined"],
        "wc -c < /proc/timer_list",
    );
    assert_ne!(unmasked.trim(), "0", "systempaths=unconfined unmasks");
}

#[test]
fn the_daemons_defaults_come_from_daemon_json() {
    let env = Env::start(
        "berth-defense-json-",
        r#"{"default-pids-limit": 100, "default-memory": "64m", "no-new-privileges": false,
            "seccomp-profile": "unconfined", "default-capabilities": ["CHOWN", "kill"],
            "default-masked-paths": ["/proc/keys"]}"#,
    );
    let d: serde_json::Value =
        serde_json::from_str(&env.ok(&["info", "--format", "{{json .ContainerDefaults}}"]))
            .expect("info");
    assert_eq!(d["PidsLimit"], 100);
    assert_eq!(d["Memory"], 64 << 20);
    assert_eq!(
        d["Capabilities"],
        serde_json::json!(["CAP_CHOWN", "CAP_KILL"])
    );
    assert_eq!(
        inside(
            &env,
            &[],
            "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes"
        )
        .trim(),
        format!("100\n{}", 64 << 20)
    );
    assert_eq!(status(&env, &[], "NoNewPrivs"), "0");
    assert_eq!(status(&env, &[], "Seccomp"), "0");
    assert_eq!(status(&env, &[], "CapEff"), "0000000000000021");
    assert_eq!(inside(&env, &[], "wc -c < /proc/keys").trim(), "0");
    assert_ne!(inside(&env, &[], "wc -c < /proc/timer_list").trim(), "0");

    // A memory hog is stopped at the ceiling; `-m` wins over the default.
    let r = env.docker(&[
        "run",
        "--name",
        "hog",
        "busybox",
        "sh",
        "-c",
        "head -c 300m /dev/zero | tail",
    ]);
    assert_eq!(r.code, 137, "the hog: {}{}", r.out, r.err);
    let st = env.docker(&[
        "inspect",
        "--format",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        "hog",
    ]);
    assert!(st.out.contains("137"), "{}", st.out);
    let ok = env.docker(&[
        "run",
        "--rm",
        "-m",
        "512m",
        "busybox",
        "sh",
        "-c",
        "head -c 200m /dev/zero | tail | wc -c",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.err);
    assert_eq!(ok.out.trim(), (200u64 << 20).to_string());
}

#[test]
fn bad_daemon_defaults_stop_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    for (config, want) in [
        (r#"{"default-memory": "lots"}"#, "default-memory"),
        (r#"{"default-memory": "1k"}"#, "minimum"),
        (r#"{"default-capabilities": ["CAP_NOPE"]}"#, "CAP_NOPE"),
        (
            r#"{"seccomp-profile": "/nonexistent.json"}"#,
            "/nonexistent.json",
        ),
        (r#"{"default-masked-paths": ["proc/keys"]}"#, "proc/keys"),
    ] {
        common::daemon_refuses(dir.path(), config, want, &[]);
    }
}

#[test]
fn namespace_modes_are_dockers() {
    let env = Env::start("berth-ns-", "{}");
    let ok = |args: &[&str]| {
        let r = env.docker(args);
        assert_eq!(r.code, 0, "docker {args:?}: {}", r.err);
        r.out
    };
    ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "300",
    ]);
    ok(&[
        "run",
        "-d",
        "--name",
        "joiner",
        "--pid",
        "container:donor",
        "--ipc",
        "container:donor",
        "--network",
        "container:donor",
        "busybox",
        "sleep",
        "301",
    ]);
    let donor_id = ok(&["inspect", "--format", "{{.Id}}", "donor"])
        .trim()
        .to_owned();
    assert_eq!(
        ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}",
            "joiner"
        ])
        .trim(),
        format!("container:{donor_id} container:{donor_id}")
    );
    // One PID namespace: each sees the other's processes; exec and top work.
    let ps = ok(&["exec", "joiner", "ps"]);
    assert!(ps.contains("sleep 300") && ps.contains("sleep 301"), "{ps}");
    let top = ok(&["top", "joiner"]);
    assert!(top.contains("sleep 301"), "{top}");
    // One IPC namespace and its /dev/shm.
    ok(&["exec", "donor", "sh", "-c", "echo shared > /dev/shm/x"]);
    assert_eq!(
        ok(&["exec", "joiner", "cat", "/dev/shm/x"]).trim(),
        "shared"
    );
    assert_eq!(
        ok(&["exec", "donor", "readlink", "/proc/self/ns/ipc"]),
        ok(&["exec", "joiner", "readlink", "/proc/self/ns/ipc"])
    );

    // The host's namespaces.
    let host_uts = nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        inside(&env, &["--uts", "host"], "hostname").trim(),
        host_uts
    );
    let host_pid = std::fs::read_link("/proc/self/ns/pid").expect("ns");
    assert_eq!(
        inside(&env, &["--pid", "host"], "readlink /proc/self/ns/pid").trim(),
        host_pid.display().to_string()
    );
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").expect("ns");
    assert_eq!(
        inside(&env, &["--ipc", "host"], "readlink /proc/self/ns/ipc").trim(),
        host_ipc.display().to_string()
    );
    let own = inside(&env, &[], "readlink /proc/self/ns/cgroup");
    let host_cg = std::fs::read_link("/proc/self/ns/cgroup").expect("ns");
    assert_ne!(own.trim(), host_cg.display().to_string());
    assert_eq!(
        inside(
            &env,
            &["--cgroupns", "host"],
            "readlink /proc/self/ns/cgroup"
        )
        .trim(),
        host_cg.display().to_string()
    );
    assert!(inside(&env, &["--ipc", "none"], "ls /dev/shm 2>&1 || true").contains("No such file"));

    // Refusals in dockerd's words.
    ok(&["run", "-d", "--name", "private", "busybox", "sleep", "300"]);
    let r = env.docker(&[
        "run",
        "--rm",
        "--ipc",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.err
            .contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
        "{}",
        r.err
    );
    ok(&["stop", "-t", "0", "private"]);
    let r = env.docker(&[
        "run",
        "--rm",
        "--pid",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("is not running"), "{}", r.err);
    let r = env.docker(&[
        "run",
        "--rm",
        "--pid",
        "container:nonexistent",
        "busybox",
        "true",
    ]);
    assert!(
        r.err.contains("No such container: nonexistent"),
        "{}",
        r.err
    );
    let r = env.docker(&[
        "run",
        "--rm",
        "--uts",
        "host",
        "--hostname",
        "x",
        "busybox",
        "true",
    ]);
    assert!(
        r.err
            .contains("conflicting options: hostname and the UTS mode"),
        "{}",
        r.err
    );
    let ps = ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(ps.lines().count(), 3, "refused runs leave nothing: {ps}");
    // Modes the docker CLI checks itself are checked by the daemon too (other clients).
    for (key, value, want) in [
        ("PidMode", "bogus", "invalid PID mode: bogus"),
        ("IpcMode", "bogus", "Invalid IPC mode: bogus"),
        ("UTSMode", "bogus", "invalid UTS mode: bogus"),
        (
            "CgroupnsMode",
            "bogus",
            "invalid cgroup namespace mode: bogus",
        ),
        ("UsernsMode", "bogus", "invalid user namespace mode: bogus"),
    ] {
        let body = serde_json::json!({"Image": "busybox", "HostConfig": {key: value}}).to_string();
        let o = std::process::Command::new("curl")
            .args(["-s", "--unix-socket"])
            .arg(&env.daemon.socket)
            .args([
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
                "http://x/containers/create",
            ])
            .output()
            .expect("curl");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(want), "{key}: {out}");
    }

    // As with dockerd, the donor can go; the processes in its PID namespace go with it.
    ok(&["rm", "-f", "donor"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st = ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "joiner",
        ]);
        if st.trim() == "exited 137" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "joiner: {st}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn landlock_profiles_confine_the_container_and_its_execs() {
    let env = Env::start("berth-landlock-", "{}");
    // Built-in: nothing but the volumes (and devices) may be written.
    let out = inside(
        &env,
        &[
            "--security-opt",
            "landlock=readonly-except-volumes",
            "-v",
            "ll-vol:/data",
        ],
        "echo x > /data/ok && echo volume-ok; echo x > /etc/nope 2>&1 || echo etc-denied; \
         echo x > /dev/null && echo devnull-ok; cat /etc/passwd > /dev/null && echo read-ok",
    );
    for want in ["volume-ok", "etc-denied", "devnull-ok", "read-ok"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // Built-in: programs run only from the system directories, which cannot be written.
    let out = inside(
        &env,
        &["--security-opt", "landlock=no-exec-writable"],
        "cp /bin/busybox /tmp/bb && echo copied; /tmp/bb true 2>/dev/null || echo tmp-exec-denied; \
         /bin/busybox true && echo bin-exec-ok; echo x > /bin/evil 2>/dev/null || echo bin-write-denied",
    );
    for want in [
        "copied",
        "tmp-exec-denied",
        "bin-exec-ok",
        "bin-write-denied",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // A custom profile from a file the daemon reads: paths, TCP ports, scopes.
    let profile = env.dir.path().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"filesystem":[{"path":"/","access":["read","execute"]},{"path":"/tmp","access":["read","write"]},
                          {"path":"/dev","access":["read","write"]}],
            "network":{"bind":[8080],"connect":[8080]},"scope":["signal","abstract-unix-socket"]}"#,
    )
    .expect("profile");
    let opt = format!("landlock={}", profile.display());
    let out = inside(
        &env,
        &["--security-opt", &opt],
        "echo x > /tmp/ok && echo tmp-ok; echo x > /etc/no 2>/dev/null || echo etc-denied; \
         (nc -l -p 8080 -e echo served &); sleep 0.3; nc 127.0.0.1 8080 </dev/null; \
         nc -l -p 9090 2>/dev/null || echo bind-9090-denied",
    );
    for want in ["tmp-ok", "etc-denied", "served", "bind-9090-denied"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // An exec'd process is held to the profile too; inspect shows the profile inline.
    let r = env.docker(&[
        "run",
        "-d",
        "--name",
        "confined",
        "--security-opt",
        &opt,
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let e = env.docker(&["exec", "confined", "sh", "-c", "echo x > /etc/no"]);
    assert_ne!(e.code, 0);
    assert!(e.err.contains("Permission denied"), "{}", e.err);
    let so = env.docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.SecurityOpt}}",
        "confined",
    ]);
    assert!(so.out.contains(r#"landlock={\"filesystem\""#), "{}", so.out);

    // Bad input: an unknown profile, a malformed one, a path the container lacks.
    let r = env.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "landlock=bogus",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.err.contains("unknown landlock profile \"bogus\""),
        "{}",
        r.err
    );
    std::fs::write(
        &profile,
        r#"{"filesystem":[{"path":"/tmp","access":["fly"]}]}"#,
    )
    .expect("p");
    let r = env.docker(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("unknown access \"fly\""), "{}", r.err);
    std::fs::write(
        &profile,
        r#"{"filesystem":[{"path":"/nonexistent","access":["read"]}]}"#,
    )
    .expect("p");
    let r = env.docker(&[
        "run",
        "--name",
        "nopath",
        "--security-opt",
        &opt,
        "busybox",
        "echo",
        "ran",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        !r.out.contains("ran"),
        "the program must not run: {}",
        r.out
    );
    assert!(r.err.contains("/nonexistent"), "{}", r.err);
}

#[test]
fn the_seccomp_recorder_writes_the_profile_a_workload_needs() {
    let env = Env::start("berth-seccomp-rec-", "{}");
    let workload = "echo hi > /tmp/x; cat /tmp/x; ls / > /dev/null";
    let file = env.dir.path().join("recorded.json");
    // The docker CLI reads any `seccomp=` value as a profile file: `seccomp-record=` it passes on.
    let out = inside(
        &env,
        &[
            "--security-opt",
            &format!("seccomp-record={}", file.display()),
        ],
        workload,
    );
    assert_eq!(out, "hi\n");
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("the recorded profile")).expect("json");
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    let names: Vec<String> =
        serde_json::from_value(p["syscalls"][0]["names"].clone()).expect("names");
    for want in ["execve", "openat", "write", "getdents64"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not recorded: {names:?}"
        );
    }
    for never in ["mkdir", "mkdirat", "mount", "ptrace", "reboot"] {
        assert!(
            !names.iter().any(|n| n == never),
            "{never} recorded: {names:?}"
        );
    }
    // Berth's CLI takes the issue's spelling.
    let file2 = env.dir.path().join("recorded2.json");
    let r = env.berth(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp=record:{}", file2.display()),
        "busybox",
        "sh",
        "-c",
        workload,
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(file2.exists());

    // The recorded profile runs the workload, and nothing outside it.
    let opt = format!("seccomp={}", file.display());
    assert_eq!(inside(&env, &["--security-opt", &opt], workload), "hi\n");
    let r = env.docker(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        &format!("{workload}; mkdir /tmp/d"),
    ]);
    assert_ne!(r.code, 0);
    assert!(r.err.contains("Operation not permitted"), "{}", r.err);

    // Bad input: a relative path, a directory that does not exist.
    for bad in [
        "seccomp-record=relative.json",
        "seccomp-record=/nonexistent/dir/p.json",
    ] {
        let r = env.docker(&["run", "--rm", "--security-opt", bad, "busybox", "true"]);
        assert_eq!(r.code, 125, "{bad}");
        assert!(
            r.err.contains("must be absolute, in an existing directory"),
            "{}",
            r.err
        );
    }
}
