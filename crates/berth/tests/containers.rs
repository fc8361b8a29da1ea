//! Containers through the daemon: `berth run/ps/logs/stop/rm/…` and the real docker CLI, exit
//! codes, errors, and a daemon killed with SIGKILL while containers run. Root: real containers.
//! (Filesystem operations, quotas, logs, df, init, other runtimes, attach and ps filters are in
//! containers_more.rs.)

mod ctr;

use std::process::{Command, Output, Stdio};

use ctr::{Env, api, docker_bin, text, under_pty};

#[test]
fn run_reports_output_and_exit_codes_like_docker() {
    let env = Env::new();
    let r = env.berth(&[
        "run",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        (r.code, r.out.as_str(), r.err.as_str()),
        (3, "out\n", "err\n")
    );
    let r = env.berth(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-h",
        "myhost",
        "-u",
        "nobody",
        "busybox",
        "sh",
        "-c",
        "echo $A $(pwd) $(hostname) $(id -u)",
    ]);
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "1 /tmp myhost 65534\n"),
        "{}",
        r.err
    );
    let r = env.berth(&["run", "busybox", "no-such-command"]);
    assert_eq!(r.code, 127, "{}", r.err);
    assert!(r.err.contains("executable file not found"), "{}", r.err);
    let r = env.berth(&["run", "--pull", "never", "no-such-image", "true"]);
    assert_eq!(r.code, 125, "{}", r.err);
    assert!(
        r.err.contains("No such image: no-such-image:latest"),
        "{}",
        r.err
    );
    // --rm removed its container; the others stay, exited, with their codes.
    let out = env.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    let mut st: Vec<String> = out
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    st.sort();
    assert_eq!(st, ["Exited (127)", "Exited (3)"], "{out}");
}

#[test]
fn detached_containers_list_log_stop_and_remove() {
    let env = Env::new();
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo ready; sleep 100",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let out = env.ok(&["ps"]);
    assert!(out.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{out}");
    assert!(out.contains(" web\n") && out.contains("Up "), "{out}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !env.ok(&["logs", "web"]).contains("ready") {
        assert!(std::time::Instant::now() < deadline, "no log output");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = env.berth(&["run", "-d", "--name", "web", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.err
            .contains("Conflict. The container name \"/web\" is already in use"),
        "{}",
        r.err
    );
    let r = env.berth(&["rm", "web"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .contains("container is running: stop the container before removing or force remove"),
        "{}",
        r.err
    );
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "web"])).expect("inspect");
    assert_eq!(v[0]["State"]["Status"], "running");
    assert!(v[0]["State"]["Pid"].as_i64().unwrap_or(0) > 0);
    assert_eq!(v[0]["Name"], "/web");
    // sh as PID 1 ignores SIGTERM: stop kills it after the timeout, 137 as with docker.
    assert_eq!(env.ok(&["stop", "-t", "1", "web"]), "web\n");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web"
        ]),
        "exited 137\n"
    );
    assert_eq!(env.ok(&["rm", "web"]), "web\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    let r = env.berth(&["logs", "web"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "Error response from daemon: No such container: web\n")
    );
}

#[test]
fn containers_survive_a_daemon_killed_with_sigkill() {
    let mut env = Env::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = env.ok(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            &format!(
                "echo start-{i}; trap 'echo bye-{i}; exit 0' TERM; while true; do sleep 0.1; done"
            ),
        ]);
        ids.push(id.trim().to_owned());
    }
    // An exec session, finished before the kill, and the events so far are in berth.db.
    env.ok(&["exec", &ids[0], "true"]);
    let exec_id = api(
        &env,
        "POST",
        &format!("/containers/{}/exec", ids[0]),
        r#"{"Cmd": ["sh", "-c", "exit 7"]}"#,
    )["Id"]
        .as_str()
        .expect("exec id")
        .to_owned();
    api(
        &env,
        "POST",
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach": true}"#,
    );
    let inspect_exec = |env: &Env| loop {
        let v = api(env, "GET", &format!("/exec/{exec_id}/json"), "");
        assert!(v["Running"].is_boolean(), "exec inspect: {v}");
        if v["Running"] == false {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(inspect_exec(&env)["ExitCode"], 7);
    let since = (berth_units::now() - 60).to_string();
    let until = (berth_units::now() + 1).to_string();
    let before = env.ok(&["events", "--since", &since, "--until", &until]);
    assert_eq!(before.matches("container start ").count(), 10, "{before}");
    env.daemon.kill9_and_restart();
    let v = inspect_exec(&env);
    assert_eq!(
        (&v["ExitCode"], &v["ContainerID"]),
        (&serde_json::json!(7), &serde_json::json!(ids[0]))
    );
    let after = env.ok(&["events", "--since", &since, "--until", &until]);
    assert_eq!(after, before, "events outlive the daemon");
    let out = env.ok(&["ps", "-q", "--no-trunc"]);
    for id in &ids {
        assert!(
            out.contains(id.as_str()),
            "{id} still running after the restart: {out}"
        );
    }
    // The re-adopted containers stop cleanly and their logs are complete.
    for (i, id) in ids.iter().enumerate() {
        env.ok(&["stop", id]);
        let logs = env.ok(&["logs", id]);
        assert_eq!(logs, format!("start-{i}\nbye-{i}\n"));
        assert_eq!(env.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]), "0\n");
    }
}

#[test]
fn the_docker_cli_runs_containers_through_berth() {
    let env = Env::new();
    let docker = |args: &[&str]| -> Output {
        Command::new(docker_bin())
            .env("DOCKER_HOST", env.daemon.host())
            .env("DOCKER_CONFIG", env.dir.path().join("docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    };
    let o = docker(&[
        "run",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "oops\n");
    let o = docker(&["run", "--rm", "busybox", "echo", "gone"]);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(0), "gone\n"),
        "{}",
        text(&o)
    );
    let o = docker(&["run", "busybox", "nope"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o));
    let o = docker(&[
        "run",
        "-d",
        "--name",
        "bg",
        "busybox",
        "sh",
        "-c",
        "echo up; sleep 100",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("bg Up"),
        "{}",
        text(&o)
    );
    let o = docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.Config.Image}} {{.HostConfig.NetworkMode}}",
        "bg",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "true busybox bridge\n",
        "{}",
        text(&o)
    );
    let o = docker(&["stop", "-t", "1", "bg"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = docker(&["logs", "bg"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "up\n", "{}", text(&o));
    let o = docker(&["rm", "bg"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = docker(&["ps", "-a", "-q"]);
    let left = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(
        left,
        2,
        "the two foreground containers remain: {}",
        text(&o)
    );
}

#[test]
fn host_settings_reach_the_container() {
    let env = Env::new();
    let run = |args: &[&str]| -> String {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        env.ok(&a)
    };
    // --env-file and --label-file (comments and blank lines skipped; -e wins).
    let ef = env.dir.path().join("vars.env");
    std::fs::write(&ef, "# settings\nA=1\n\nB=2\n").expect("env file");
    let lf = env.dir.path().join("labels");
    std::fs::write(&lf, "team=db\n").expect("label file");
    let ef = ef.to_str().expect("utf8");
    assert_eq!(
        run(&[
            "--env-file",
            ef,
            "-e",
            "B=3",
            "--label-file",
            lf.to_str().expect("utf8"),
            "busybox",
            "sh",
            "-c",
            "echo $A $B"
        ]),
        "1 3\n"
    );
    let r = env.berth(&[
        "run",
        "--rm",
        "--env-file",
        "/no/such.env",
        "busybox",
        "true",
    ]);
    assert!(r.err.contains("open /no/such.env"), "{}", r.err);
    let out = run(&[
        "-m",
        "64m",
        "--pids-limit",
        "100",
        "--cpus",
        "0.5",
        "busybox",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    assert_eq!(out, "67108864\n100\n50000\n");
    let caps = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&["busybox", "sh", "-c", "grep CapEff /proc/self/status"]);
        run(&a)
    };
    assert_eq!(caps(&["--cap-drop", "ALL"]), "CapEff:\t0000000000000000\n");
    let with_admin = caps(&["--cap-add", "NET_ADMIN"]);
    let bits =
        u64::from_str_radix(with_admin.trim().trim_start_matches("CapEff:\t"), 16).expect("hex");
    assert!(bits & (1 << 12) != 0, "CAP_NET_ADMIN granted: {with_admin}");
    assert_eq!(
        caps(&[]).trim(),
        "CapEff:\t00000000800405fb",
        "Berth's 11 default capabilities"
    );
    assert_eq!(
        run(&[
            "--ulimit",
            "nofile=100:200",
            "busybox",
            "sh",
            "-c",
            "ulimit -n"
        ]),
        "100\n"
    );
    assert_eq!(
        run(&[
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status"
        ]),
        "Seccomp:\t0\n"
    );
    assert_eq!(
        run(&["busybox", "sh", "-c", "grep Seccomp: /proc/self/status"]),
        "Seccomp:\t2\n"
    );
    let host = env.dir.path().join("shared");
    std::fs::create_dir_all(&host).expect("dir");
    std::fs::write(host.join("hello"), "from the host\n").expect("file");
    let bind = format!("{}:/data:ro", host.display());
    assert_eq!(
        run(&[
            "-v",
            &bind,
            "busybox",
            "sh",
            "-c",
            "cat /data/hello; touch /data/x 2>/dev/null || echo read-only"
        ]),
        "from the host\nread-only\n"
    );
    // A single file binds too.
    let file_bind = format!("{}:/etc/greeting:ro", host.join("hello").display());
    assert_eq!(
        run(&["-v", &file_bind, "busybox", "cat", "/etc/greeting"]),
        "from the host\n"
    );
    assert_eq!(
        run(&[
            "--tmpfs",
            "/scratch:size=1m",
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "touch /x 2>/dev/null || echo ro-root; grep -c ' /scratch tmpfs ' /proc/mounts"
        ]),
        "ro-root\n1\n"
    );
    for (args, msg) in [
        (
            vec!["-m", "lots"],
            "invalid argument \"lots\" for \"-m, --memory\" flag",
        ),
        (vec!["--cap-add", "FOO"], "invalid capability: FOO"),
        (
            vec!["-v", "rel/ative:/x"],
            "includes invalid characters for a local volume name",
        ),
        (
            vec!["--security-opt", "apparmor=strict"],
            "needs SELinux/AppArmor",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(&args);
        a.extend_from_slice(&["busybox", "true"]);
        let r = env.berth(&a);
        assert_eq!(r.code, 125, "{args:?}: {}", r.err);
        assert!(r.err.contains(msg), "{args:?}: {}", r.err);
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "nothing half-created");
}

#[test]
fn exec_runs_commands_in_a_running_container() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "100"]);
    let r = env.berth(&[
        "exec",
        "box",
        "sh",
        "-c",
        "echo in $(hostname); echo oops >&2; exit 6",
    ]);
    assert_eq!((r.code, r.err.as_str()), (6, "oops\n"));
    assert!(r.out.starts_with("in "), "{}", r.out);
    assert_eq!(
        env.ok(&[
            "exec",
            "-e",
            "X=7",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "box",
            "sh",
            "-c",
            "echo $X $(pwd) $(id -u)"
        ]),
        "7 /tmp 65534\n"
    );
    let r = env.berth(&["exec", "box", "no-such-command"]);
    assert_eq!(r.code, 127, "{}{}", r.out, r.err);
    let o = Command::new(docker_bin())
        .env("DOCKER_HOST", env.daemon.host())
        .args(["exec", "box", "sh", "-c", "echo via docker; exit 3"])
        .output()
        .expect("docker exec");
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(3), "via docker\n"),
        "{}",
        text(&o)
    );
    env.ok(&["rm", "-f", "box"]);
    let r = env.berth(&["exec", "box", "true"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("No such container: box"), "{}", r.err);
}

#[test]
fn interactive_terminals_work_with_berth_and_docker() {
    let env = Env::new();
    for cli in ["berth", "docker"] {
        let mut cmd = env.client(cli);
        cmd.args(["run", "-it", "--rm", "busybox", "sh"]);
        let (out, code) = under_pty(
            &mut cmd,
            33,
            101,
            b"echo sum-$((40+2)); stty size; tty; exit 3\r",
            1500,
        );
        assert_eq!(code, 3, "{cli}: {out}");
        assert!(out.contains("sum-42"), "{cli}: {out}");
        assert!(
            out.contains("33 101"),
            "{cli}: the terminal size reached the container: {out}"
        );
        assert!(out.contains("/dev/pts/0"), "{cli}: {out}");
    }
    // -i without a terminal: stdin is a pipe, closed at its end.
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", env.daemon.host())
        .args([
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "read x; echo got: $x; cat; exit 4",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("berth run -i");
    {
        use std::io::Write;
        let mut i = c.stdin.take().expect("stdin");
        i.write_all(b"hello\nmore\n").expect("write");
    }
    let o = c.wait_with_output().expect("wait");
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(4), "got: hello\nmore\n")
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn restart_policies_pause_rename_top_and_prune() {
    let mut env = Env::new();
    let wait_for = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !f() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // on-failure:2 — two restarts, then it stays exited.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    wait_for("two restarts", &|| {
        env.ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "flaky",
        ]) == "2 exited\n"
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.RestartCount}}", "flaky"]),
        "2\n",
        "no third restart"
    );
    // always — restarted when it exits; a manual stop holds until the daemon restarts.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    wait_for("a restart", &|| {
        env.ok(&["inspect", "-f", "{{.RestartCount}}", "keeper"])
            .trim()
            .parse::<i32>()
            .unwrap_or(0)
            >= 1
    });
    env.ok(&["stop", "-t", "1", "keeper"]);
    let count = env.ok(&["inspect", "-f", "{{.RestartCount}}", "keeper"]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.RestartCount}}", "keeper"]),
        count,
        "stopped stays stopped"
    );
    env.daemon.kill9_and_restart();
    wait_for("restart after the daemon restart", &|| {
        env.ok(&["inspect", "-f", "{{.RestartCount}}", "keeper"]) != count
    });
    env.ok(&["rm", "-f", "keeper", "flaky"]);
    assert_eq!(
        env.berth(&["run", "--rm", "--restart", "always", "busybox", "true"])
            .err,
        "Error: Conflicting options: --restart and --rm\n"
    );

    // pause / unpause, rename, top.
    env.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "100"]);
    assert_eq!(env.ok(&["pause", "web"]), "web\n");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}}",
            "web"
        ]),
        "paused true\n"
    );
    assert!(env.ok(&["ps"]).contains("(Paused)"));
    env.ok(&["unpause", "web"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "web"]),
        "running\n"
    );
    env.ok(&["run", "-d", "--name", "other", "busybox", "sleep", "100"]);
    let r = env.berth(&["rename", "web", "other"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("is already in use"), "{}", r.err);
    env.ok(&["rename", "web", "web2"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.Name}}", "web2"]), "/web2\n");
    let top = env.ok(&["top", "web2"]);
    assert!(top.starts_with("UID") && top.contains("sleep 100"), "{top}");
    // prune: only stopped containers go.
    env.ok(&["stop", "-t", "0", "other"]);
    let out = env.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "web2\n");
    env.ok(&["rm", "-f", "web2"]);
}

#[test]
fn stats_report_cpu_memory_and_pids() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    let out = env.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], "busy", "{out}");
    let cpu: f64 = f[1].trim_end_matches('%').parse().expect("cpu%");
    assert!(cpu > 20.0, "a busy loop uses CPU: {out}");
    assert_eq!(f[4], "64MiB", "the memory limit: {out}");
    assert_eq!(f[5], "1", "{out}");
    // The docker CLI computes the same from the API (precpu_stats, online_cpus).
    let o = Command::new(docker_bin())
        .env("DOCKER_HOST", env.daemon.host())
        .args([
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.MemUsage}}",
        ])
        .output()
        .expect("docker stats");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("busy ")
            && String::from_utf8_lossy(&o.stdout).contains("/ 64MiB"),
        "{}",
        text(&o)
    );
    env.ok(&["rm", "-f", "busy"]);
}

#[test]
fn events_stream_what_happens() {
    let env = Env::new();
    let since = berth_units::now() - 1;
    // A live subscriber, filtered to containers.
    let mut live = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", env.daemon.host())
        .args([
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("berth events");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        env.berth(&["run", "--name", "evt", "busybox", "sh", "-c", "exit 2"])
            .code,
        2
    );
    env.ok(&["tag", "busybox", "evt-image:1"]);
    env.ok(&["rm", "evt"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = live.kill();
    let out = live.wait_with_output().expect("events output");
    let text = String::from_utf8_lossy(&out.stdout);
    let actions: Vec<&str> = text.lines().collect();
    for want in ["create evt", "start evt", "die evt", "destroy evt"] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    assert!(
        !text.contains("tag"),
        "type=container filters image events: {text}"
    );
    // Past events, bounded by --until: the stream ends by itself.
    let until = (berth_units::now() + 1).to_string();
    let out = env.ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        "event=die",
    ]);
    assert!(
        out.contains("container die ") && out.contains("exitCode=2"),
        "{out}"
    );
    assert!(!out.contains(" start "), "{out}");
    // The docker CLI reads the same stream.
    let o = Command::new(docker_bin())
        .env("DOCKER_HOST", env.daemon.host())
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until,
            "--filter",
            "type=image",
        ])
        .output()
        .expect("docker events");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("image tag"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn health_checks_report_status() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 100",
    ]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "svc"]),
        "starting\n"
    );
    let wait_for = |want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let s = env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "svc"]);
            if s.trim() == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "health {want}: now {s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_for("healthy");
    assert!(
        env.ok(&["ps", "--format", "{{.Status}}"])
            .contains("(healthy)")
    );
    env.ok(&["exec", "svc", "rm", "/tmp/ready"]);
    wait_for("unhealthy");
    let log = env.ok(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "svc"]);
    assert!(log.trim().parse::<i32>().unwrap_or(0) >= 2, "{log}");
    env.ok(&["rm", "-f", "svc"]);
    let r = env.berth(&[
        "run",
        "--rm",
        "--health-interval",
        "soon",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("invalid duration"), "{}", r.err);
}
