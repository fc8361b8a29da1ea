//! Containers through the daemon: `berth run/ps/logs/stop/rm/…` and the real docker CLI, exit
//! codes, errors, and a daemon killed with SIGKILL while containers run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_testkit::Daemon;

struct Env {
    daemon: Daemon,
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Env {
    fn new() -> Env {
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

    fn berth(&self, args: &[&str]) -> Run {
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
    fn client(&self, cli: &str) -> Command {
        let (bin, var) = if cli == "berth" {
            (PathBuf::from(env!("CARGO_BIN_EXE_berth")), "BERTH_HOST")
        } else {
            (docker_bin(), "DOCKER_HOST")
        };
        let mut c = Command::new(bin);
        c.env(var, self.daemon.host());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.out, r.err);
        r.out
    }
}

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

/// One API call through curl on the daemon's socket; the JSON answer (null if none).
fn api(env: &Env, method: &str, path: &str, body: &str) -> serde_json::Value {
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

fn docker_bin() -> PathBuf {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("the docker CLI (/usr/local/bin/docker)")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

/// Run `cmd` under a new pseudo-terminal of `rows`×`cols`, type `input` after `delay_ms`,
/// and return (everything it printed, its exit code).
fn under_pty(
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

#[test]
fn diff_cp_export_and_commit() {
    let env = Env::new();
    env.ok(&["run", "--name", "fs", "busybox", "sh", "-c", "echo new > /etc/added; rm /etc/group; echo x >> /etc/passwd; mkdir -p /data; echo payload > /data/file"]);
    let diff = env.ok(&["diff", "fs"]);
    for want in [
        "A /etc/added",
        "D /etc/group",
        "C /etc/passwd",
        "A /data/file",
    ] {
        assert!(diff.lines().any(|l| l == want), "{want} in {diff}");
    }
    // cp out of a stopped container: a file, a directory, into a directory.
    let out = env.dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    env.ok(&[
        "cp",
        "fs:/data/file",
        out.join("copied").to_str().expect("utf8"),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("copied")).expect("copied"),
        "payload\n"
    );
    env.ok(&["cp", "fs:/data", out.to_str().expect("utf8")]);
    assert_eq!(
        std::fs::read_to_string(out.join("data/file")).expect("dir copy"),
        "payload\n"
    );
    // A symlink inside the container that points at the host's /etc resolves inside.
    env.ok(&[
        "run", "--name", "trap", "busybox", "ln", "-s", "/etc", "/escape",
    ]);
    env.ok(&[
        "cp",
        "trap:/escape/passwd",
        out.join("pw").to_str().expect("utf8"),
    ]);
    let pw = std::fs::read_to_string(out.join("pw")).expect("pw");
    assert!(
        pw.starts_with("root:x:0:0:root:/root:/bin/sh"),
        "the container's passwd, not the host's: {pw}"
    );
    // cp into a running container.
    env.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "100"]);
    std::fs::write(out.join("in.txt"), "to the container\n").expect("in");
    env.ok(&[
        "cp",
        out.join("in.txt").to_str().expect("utf8"),
        "live:/tmp/",
    ]);
    assert_eq!(
        env.ok(&["exec", "live", "cat", "/tmp/in.txt"]),
        "to the container\n"
    );
    env.ok(&["rm", "-f", "live"]);
    // export: the merged filesystem.
    env.ok(&["export", "-o", "fs.tar", "fs"]);
    let list = Command::new("tar")
        .arg("tf")
        .arg(env.dir.path().join("fs.tar"))
        .output()
        .expect("tar");
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(
        names.contains("etc/added")
            && names.contains("bin/busybox")
            && !names.contains("etc/group\n"),
        "{names}"
    );
    // commit: the changes become an image.
    let id = env.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/data/file\"]",
        "fs",
        "committed:v1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(env.ok(&["run", "--rm", "committed:v1"]), "payload\n");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "committed:v1",
            "sh",
            "-c",
            "cat /etc/added; test -e /etc/group || echo gone"
        ]),
        "new\ngone\n"
    );
    env.ok(&["rm", "fs", "trap"]);
}

#[test]
fn storage_quota_limits_the_writable_layer() {
    let env = Env::new();
    let r = env.berth(&[
        "run",
        "--name",
        "small",
        "--storage-opt",
        "size=64m",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M count=100 2>&1; echo rc=$?",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("No space left on device") && !r.out.contains("rc=0"),
        "{}",
        r.out
    );
    // Other containers are not limited by it.
    let r = env.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M count=80 2>/dev/null; echo rc=$?",
    ]);
    assert_eq!(r.out, "rc=0\n", "{}", r.err);
    // The limited container's data survives a stop and can be inspected.
    let diff = env.ok(&["diff", "small"]);
    assert!(diff.contains("A /big"), "{diff}");
    let quota = env.daemon.dir.join("data/containers");
    env.ok(&["rm", "small"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(quota.to_str().expect("utf8")),
        "the quota filesystem is unmounted"
    );
    let r = env.berth(&["run", "--rm", "--storage-opt", "size=1m", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("at least 16MB"), "{}", r.err);
    let r = env.berth(&[
        "run",
        "--rm",
        "--storage-opt",
        "colour=red",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("Unknown option colour"), "{}", r.err);
}

#[test]
fn exec_with_a_terminal_and_with_stdin() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "100"]);
    for cli in ["berth", "docker"] {
        let mut cmd = env.client(cli);
        cmd.args(["exec", "-it", "box", "sh"]);
        let (out, code) = under_pty(
            &mut cmd,
            40,
            120,
            b"echo in-$((6*7)); stty size; exit 5\r",
            1000,
        );
        assert_eq!(code, 5, "{cli}: {out}");
        assert!(
            out.contains("in-42") && out.contains("40 120"),
            "{cli}: {out}"
        );
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", env.daemon.host())
        .args(["exec", "-i", "box", "sh", "-c", "cat; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("exec -i");
    {
        use std::io::Write;
        c.stdin
            .take()
            .expect("stdin")
            .write_all(b"piped through\n")
            .expect("write");
    }
    let o = c.wait_with_output().expect("wait");
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(3), "piped through\n")
    );
    env.ok(&["rm", "-f", "box"]);
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let env = Env::new();
    env.ok(&[
        "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "100",
    ]);
    assert_eq!(
        env.ok(&[
            "update",
            "-m",
            "128m",
            "--memory-swap",
            "256m",
            "--pids-limit",
            "50",
            "upd"
        ]),
        "upd\n"
    );
    assert_eq!(
        env.ok(&[
            "exec",
            "upd",
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max"
        ]),
        "134217728\n50\n"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "upd"
        ]),
        "134217728 50\n"
    );
    env.ok(&["rm", "-f", "upd"]);
}

#[test]
fn logs_rotate_and_filter_by_time() {
    let env = Env::new();
    // ~100 bytes per entry, rotation at 2 KiB, three files at most.
    let r = env.berth(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let logs = env.ok(&["logs", "chatty"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert!(
        lines.len() < 200 && lines.len() > 20,
        "rotation dropped the oldest: {}",
        lines.len()
    );
    assert_eq!(lines.last(), Some(&"line-199"));
    let n: Vec<u32> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("line-")?.parse().ok())
        .collect();
    assert!(
        n.windows(2).all(|w| w[1] == w[0] + 1),
        "in order across the rotated files"
    );
    let files = std::fs::read_dir(env.daemon.dir.join("data/containers"))
        .expect("containers")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .filter(|f| f.file_name().to_string_lossy().contains("-json.log"))
        .count();
    assert_eq!(files, 3, "max-file=3");
    assert_eq!(
        env.ok(&["logs", "--tail", "2", "chatty"]),
        "line-198\nline-199\n"
    );
    let future = (berth_units::now() + 3600).to_string();
    assert_eq!(env.ok(&["logs", "--since", &future, "chatty"]), "");
    assert_eq!(
        env.ok(&["logs", "--until", &future, "chatty"]),
        env.ok(&["logs", "chatty"])
    );
    assert_eq!(
        env.ok(&["logs", "--until", "1h", "chatty"]),
        "",
        "until an hour ago: nothing"
    );
    let r = env.berth(&["run", "--rm", "--log-driver", "syslog", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.err.contains("logging driver \"syslog\" is not supported"),
        "{}",
        r.err
    );
}

#[test]
fn system_df_and_prune() {
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/f bs=1k count=512 2>/dev/null",
    ]);
    env.ok(&[
        "run", "-d", "--name", "keep", "-v", "used:/u", "busybox", "sleep", "100",
    ]);
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "idle:/i",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/i/f bs=1k count=256 2>/dev/null",
    ]);
    let df = env.ok(&["system", "df"]);
    let lines: Vec<&str> = df.lines().collect();
    assert!(
        lines[0].starts_with("TYPE")
            && lines[1].starts_with("Images ")
            && lines[2].starts_with("Containers "),
        "{df}"
    );
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((cols[1], cols[2]), ("2", "1"), "{df}");
    // Two volumes, one in use; the idle one's 256 kB are reclaimable.
    let cols: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        (cols[0], cols[1], cols[2], cols[3]),
        ("Local", "Volumes", "2", "1"),
        "{df}"
    );
    assert!(lines[3].contains("262.1kB (100%)"), "{df}");
    env.ok(&["network", "create", "unused"]);
    env.ok(&["run", "--name", "anon", "-v", "/scratch", "busybox", "true"]);
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.starts_with("Deleted Containers:\n")
            && out.contains("Deleted Networks:\nunused\n")
            && out.contains("Deleted Volumes:\n")
            && out.contains("Total reclaimed space: "),
        "{out}"
    );
    assert!(
        !out.contains("Total reclaimed space: 0B"),
        "the stopped container's 512 kB: {out}"
    );
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep\n");
    let info = env.ok(&["info"]);
    assert!(
        info.contains(" Running: 1") && info.contains("Images: 1"),
        "{info}"
    );
    env.ok(&["rm", "-f", "keep"]);
    env.ok(&["volume", "rm", "used", "idle"]);
}

#[test]
fn init_reaps_and_forwards_signals() {
    let env = Env::new();
    // With --init, the command is not process 1: docker-init is, and it reaps orphans.
    let out = env.ok(&[
        "run", "--rm", "--init", "busybox", "sh", "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; (sleep 0.1 &); sleep 0.5; ps -o stat,comm | grep -c Z || true",
    ]);
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("/sbin/docker-init -- sh")),
        "{out}"
    );
    assert_eq!(lines.next(), Some("0"), "no zombies: {out}");
    // sh as process 1 ignores SIGTERM; under the init, SIGTERM reaches it and stops it quickly.
    env.ok(&[
        "run", "-d", "--init", "--name", "term", "busybox", "sleep", "100",
    ]);
    // The init has its handlers once its child runs (a signal before that meets process 1
    // with none, under load too).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !env.ok(&["top", "term"]).contains("sleep 100") {
        assert!(
            std::time::Instant::now() < deadline,
            "the init's child runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    env.ok(&["stop", "-t", "10", "term"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "SIGTERM was forwarded"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "term"]),
        "143\n"
    );
    env.ok(&["rm", "term"]);
    let r = env.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(r.code, 7);
}

#[test]
fn other_runtimes_run_containers_under_the_shim() {
    let env = Env::new();
    let runc = ["/usr/sbin/runc", "/usr/bin/runc"]
        .iter()
        .find(|p| Path::new(p).exists());
    let Some(runc) = runc else {
        panic!("runc is needed (apt-get install runc)");
    };
    let r = env.berth(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "echo via runc; exit 4",
    ]);
    assert_eq!((r.code, r.out.as_str()), (4, "via runc\n"), "{}", r.err);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "rc",
        "--runtime",
        runc,
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(
        env.ok(&["exec", "-e", "Z=9", "rc", "sh", "-c", "echo $Z"]),
        "9\n"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.HostConfig.Runtime}}",
            "rc"
        ]),
        format!("running {runc}\n")
    );
    let mut cmd = env.client("berth");
    cmd.args(["exec", "-it", "rc", "sh"]);
    let (out, code) = under_pty(&mut cmd, 19, 55, b"stty size; exit 2\r", 800);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("19 55"), "{out}");
    // pause, top and update go through runc (or the container's cgroup) too.
    env.ok(&["pause", "rc"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "rc"]),
        "paused\n"
    );
    env.ok(&["unpause", "rc"]);
    assert!(env.ok(&["top", "rc"]).contains("sleep 100"));
    env.ok(&["update", "--pids-limit", "33", "rc"]);
    let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", "rc"]);
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).expect("cgroup");
    let pids_path = cg
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_owned()))
        .expect("pids cgroup");
    assert_eq!(
        std::fs::read_to_string(format!("/sys/fs/cgroup/pids{pids_path}/pids.max"))
            .expect("pids.max")
            .trim(),
        "33"
    );
    env.ok(&["stop", "-t", "1", "rc"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "rc"]),
        "137\n"
    );
    // A terminal: runc hands the pty to the shim over a console socket.
    let mut cmd = env.client("berth");
    cmd.args(["run", "-it", "--rm", "--runtime", "runc", "busybox", "sh"]);
    let (out, code) = under_pty(&mut cmd, 21, 77, b"stty size; tty; exit 6\r", 1000);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("21 77") && out.contains("/dev/pts/0"), "{out}");
    env.ok(&["rm", "rc"]);
    let r = env.berth(&[
        "run",
        "--rm",
        "--runtime",
        "no-such-runtime",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.err
            .contains("unknown or invalid runtime name: no-such-runtime"),
        "{}",
        r.err
    );
}

#[test]
fn attach_to_a_running_container() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "echoer",
        "busybox",
        "sh",
        "-c",
        "echo before; while read l; do echo got:$l; [ \"$l\" = quit ] && exit 6; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", env.daemon.host())
        .args(["attach", "echoer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("berth attach");
    {
        use std::io::Write;
        let mut i = c.stdin.take().expect("stdin");
        std::thread::sleep(std::time::Duration::from_millis(300));
        i.write_all(b"hello\nquit\n").expect("write");
    }
    let o = c.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(6));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out, "got:hello\ngot:quit\n",
        "only what came after attaching"
    );
    env.ok(&["rm", "echoer"]);
}

#[test]
fn start_attached_reruns_a_stopped_container() {
    let env = Env::new();
    let r = env.berth(&[
        "run",
        "--name",
        "again",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    assert_eq!((r.code, r.out.as_str()), (3, "run\n"));
    let r = env.berth(&["start", "-a", "again"]);
    assert_eq!(
        (r.code, r.out.as_str()),
        (3, "run\n"),
        "only the new run's output: {}",
        r.err
    );
    let r = env.berth(&["attach", "again"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("You cannot attach to a stopped container"),
        "{}",
        r.err
    );
    env.ok(&["rm", "again"]);
    // start -i: stdin reaches the container, as with run -i.
    env.ok(&[
        "create",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "read x; echo got $x; exit 4",
    ]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", env.daemon.host())
        .args(["start", "-i", "reader"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start -i");
    {
        use std::io::Write;
        let mut i = c.stdin.take().expect("stdin");
        i.write_all(b"hello\n").expect("write");
    }
    let o = c.wait_with_output().expect("wait");
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(4), "got hello\n")
    );
    env.ok(&["rm", "reader"]);
}

#[test]
fn ps_filters_sizes_and_limits() {
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "-v",
        "cache:/cache",
        "busybox",
        "sleep",
        "100",
    ]);
    let r = env.berth(&[
        "run",
        "--name",
        "failed",
        "-l",
        "tier=back",
        "busybox",
        "sh",
        "-c",
        "echo x > /f; exit 3",
    ]);
    assert_eq!(r.code, 3, "{}", r.err);
    env.ok(&[
        "create",
        "--name",
        "fresh",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let names = |args: &[&str]| {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = env.ok(&a).lines().map(str::to_owned).collect();
        v.sort();
        v.join(" ")
    };
    assert_eq!(names(&[]), "web");
    assert_eq!(names(&["-a"]), "failed fresh web");
    assert_eq!(names(&["-a", "--filter", "label=tier"]), "failed web");
    assert_eq!(names(&["-a", "--filter", "label=tier=back"]), "failed");
    assert_eq!(names(&["--filter", "status=exited"]), "failed");
    assert_eq!(names(&["--filter", "status=created"]), "fresh");
    assert_eq!(names(&["--filter", "exited=3"]), "failed");
    assert_eq!(names(&["-a", "--filter", "name=fre"]), "fresh");
    assert_eq!(names(&["-a", "--filter", "volume=cache"]), "web");
    assert_eq!(names(&["-a", "--filter", "network=none"]), "fresh");
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        "failed fresh web"
    );
    assert_eq!(names(&["-a", "--filter", "since=failed"]), "fresh");
    assert_eq!(names(&["-a", "--filter", "before=failed"]), "web");
    assert_eq!(
        names(&["--filter", "status=exited", "--filter", "status=running"]),
        "failed web"
    );
    // -l, -n: the newest, stopped ones included.
    assert_eq!(names(&["-l"]), "fresh");
    assert_eq!(names(&["-n", "2"]), "failed fresh");
    // -s: the writable layer and the whole.
    let sizes = env.ok(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        "name=failed",
        "--format",
        "{{.Size}}",
    ]);
    assert!(
        sizes.contains(" (virtual ") && !sizes.starts_with("0B"),
        "{sizes}"
    );
    // Bad filters, docker's words; the docker CLI asks the same.
    let r = env.berth(&["ps", "--filter", "bogus=1"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("invalid filter 'bogus'"), "{}", r.err);
    let o = env
        .client("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=tier=front",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "web\n");
    env.ok(&["rm", "-f", "-v", "web", "failed", "fresh"]);
}

#[test]
fn paused_containers_stop_die_and_are_removed_by_force_only() {
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "p1", "busybox", "sleep", "100"]);
    env.ok(&["pause", "p1"]);
    let r = env.berth(&["rm", "p1"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("container is paused"), "{}", r.err);
    // stop reaches a paused container (thawed after the signal), as docker's does.
    env.ok(&["stop", "-t", "1", "p1"]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "p1"
        ]),
        "exited 137\n"
    );
    env.ok(&["start", "p1"]);
    env.ok(&["pause", "p1"]);
    env.ok(&["rm", "-f", "p1"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}
