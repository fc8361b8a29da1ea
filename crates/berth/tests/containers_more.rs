//! Containers through the daemon, continued: diff/cp/export/commit, quotas, exec with a
//! terminal, update, log rotation, system df/prune, --init, other runtimes, attach, start -a,
//! ps filters and paused containers. Root: real containers.

mod ctr;

use std::path::Path;
use std::process::{Command, Stdio};

use ctr::{Env, under_pty};

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
    // Label filters all hold (Compose lists a project's containers this way).
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "label=tier",
            "--filter",
            "label=tier=front"
        ]),
        "web"
    );
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "label=tier=back",
            "--filter",
            "label=tier=front"
        ]),
        ""
    );
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
