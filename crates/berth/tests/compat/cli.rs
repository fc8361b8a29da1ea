//! The docker CLI (28.x) against Berth, as a user's session goes: one scenario through run,
//! ps, logs, exec, stats, images, save/load, networks, volumes, inspect, events, cp, commit,
//! system and build, with `--format` templates and the exit codes scripts depend on.

use crate::common::{Env, Run, build_context};

/// `docker ARGS`, which must succeed: its output.
fn ok(env: &Env, args: &[&str]) -> String {
    let r = env.docker(args);
    assert_eq!(r.code, 0, "docker {args:?}: {}{}", r.out, r.err);
    r.out
}

fn code(r: &Run) -> i32 {
    r.code
}

#[test]
fn a_docker_cli_session() {
    let env = Env::start("berth-compat-cli-", "{}");
    let since = ok(&env, &["system", "info", "--format", "{{.SystemTime}}"]);
    assert!(since.trim().contains('T'), "{since}");
    let v = ok(&env, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(v.trim().starts_with("1."), "{v}");

    // run, ps, logs, exec, exit codes.
    let id = ok(
        &env,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "127.0.0.1::80",
            "-e",
            "GREETING=hi",
            "-l",
            "tier=front",
            "busybox",
            "sh",
            "-c",
            "echo started; httpd -f -p 80",
        ],
    );
    assert_eq!(id.trim().len(), 64, "{id}");
    let ps = ok(
        &env,
        &[
            "ps",
            "--filter",
            "label=tier=front",
            "--format",
            "{{.Names}}|{{.Image}}|{{.Labels}}",
        ],
    );
    assert_eq!(ps.trim(), "web|busybox|tier=front");
    let ports = ok(&env, &["port", "web", "80"]);
    assert!(ports.trim().starts_with("127.0.0.1:"), "{ports}");
    let port = ports.trim().rsplit(':').next().expect("port").to_owned();
    let fetched = env.daemon.sh_in_netns(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/"
    ));
    assert_eq!(String::from_utf8_lossy(&fetched.stdout), "404");
    wait_for(|| ok(&env, &["logs", "web"]).contains("started"));
    assert_eq!(
        ok(&env, &["exec", "web", "sh", "-c", "echo $GREETING"]),
        "hi\n"
    );
    assert_eq!(code(&env.docker(&["exec", "web", "sh", "-c", "exit 3"])), 3);
    assert_eq!(
        code(&env.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 7"])),
        7
    );
    let missing = env.docker(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.code, 127, "{}", missing.err);
    let no_image = env.docker(&["run", "--rm", "--pull", "never", "no-such-image:1"]);
    assert_eq!(no_image.code, 125, "{}", no_image.err);
    assert!(no_image.err.contains("No such image"), "{}", no_image.err);
    let bad_flag = env.docker(&["run", "--memory", "lots", "busybox"]);
    assert_eq!(bad_flag.code, 125, "{}", bad_flag.err);
    assert_eq!(
        ok(
            &env,
            &["inspect", "-f", "{{.State.Status}} {{.Config.Env}}", "web"]
        )
        .split_whitespace()
        .next(),
        Some("running")
    );
    let stats = ok(
        &env,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}} {{.MemUsage}}",
            "web",
        ],
    );
    assert!(stats.starts_with("web "), "{stats}");
    assert!(stats.contains("MiB") || stats.contains("KiB"), "{stats}");
    let top = ok(&env, &["top", "web"]);
    assert!(top.contains("httpd"), "{top}");

    // cp in and out, commit, run the committed image.
    std::fs::write(env.dir.path().join("note.txt"), "copied in\n").expect("write");
    ok(&env, &["cp", "note.txt", "web:/tmp/note.txt"]);
    assert_eq!(
        ok(&env, &["exec", "web", "cat", "/tmp/note.txt"]),
        "copied in\n"
    );
    ok(&env, &["cp", "web:/tmp/note.txt", "back.txt"]);
    assert_eq!(
        std::fs::read_to_string(env.dir.path().join("back.txt")).expect("back"),
        "copied in\n"
    );
    ok(
        &env,
        &["commit", "-c", "ENV FROM_COMMIT=1", "web", "snap:1"],
    );
    assert_eq!(
        ok(
            &env,
            &[
                "run",
                "--rm",
                "snap:1",
                "sh",
                "-c",
                "cat /tmp/note.txt; echo $FROM_COMMIT"
            ]
        ),
        "copied in\n1\n"
    );
    let diff = ok(&env, &["diff", "web"]);
    assert!(diff.contains("A /tmp/note.txt"), "{diff}");

    // Images: list with templates, history, save and load.
    let images = ok(&env, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("busybox:latest") && images.contains("snap:1"),
        "{images}"
    );
    let hist = ok(&env, &["history", "--format", "{{.CreatedBy}}", "snap:1"]);
    assert!(hist.contains("httpd"), "{hist}");
    ok(&env, &["save", "-o", "snap.tar", "snap:1"]);
    ok(&env, &["rmi", "snap:1"]);
    let gone = env.docker(&["image", "inspect", "snap:1"]);
    assert_eq!(gone.code, 1, "{}", gone.out);
    let loaded = ok(&env, &["load", "-i", "snap.tar"]);
    assert!(loaded.contains("Loaded image: snap:1"), "{loaded}");

    // Networks and volumes: names resolve on a user network; a volume outlives containers.
    ok(&env, &["network", "create", "--label", "app=x", "backend"]);
    let nets = ok(
        &env,
        &[
            "network",
            "ls",
            "--filter",
            "label=app=x",
            "--format",
            "{{.Name}} {{.Driver}}",
        ],
    );
    assert_eq!(nets.trim(), "backend bridge");
    ok(
        &env,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "backend",
            "busybox",
            "sleep",
            "60",
        ],
    );
    let looked = ok(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "backend",
            "busybox",
            "nslookup",
            "db",
        ],
    );
    assert!(looked.contains("Name:"), "{looked}");
    ok(&env, &["network", "connect", "backend", "web"]);
    let nets_of_web = ok(
        &env,
        &[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "web",
        ],
    );
    assert_eq!(nets_of_web.trim(), "backend bridge");
    ok(&env, &["volume", "create", "data"]);
    ok(
        &env,
        &[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    );
    assert_eq!(
        ok(
            &env,
            &["run", "--rm", "-v", "data:/d:ro", "busybox", "cat", "/d/f"]
        ),
        "kept\n"
    );
    let ro = env.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/d:ro",
        "busybox",
        "touch",
        "/d/g",
    ]);
    assert_eq!(ro.code, 1, "{}", ro.err);
    let vol = ok(
        &env,
        &["volume", "inspect", "-f", "{{.Driver}} {{.Name}}", "data"],
    );
    assert_eq!(vol.trim(), "local data");

    // Build through the CLI (its classic builder without buildx).
    let ctx = build_context(
        &env,
        "app",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n",
            ),
            ("hello.txt", "built\n"),
        ],
    );
    ok(
        &env,
        &["build", "-q", "-t", "app:1", ctx.to_str().expect("utf-8")],
    );
    assert_eq!(ok(&env, &["run", "--rm", "app:1"]), "built\n");
    let broken = build_context(
        &env,
        "broken",
        &[("Dockerfile", "FROM busybox\nRUN exit 4\n")],
    );
    let failed = env.docker(&["build", broken.to_str().expect("utf-8")]);
    // The classic builder's client exits with the failed step's code.
    assert_eq!(failed.code, 4, "{}", failed.out);
    assert!(
        failed.err.contains("returned a non-zero code: 4"),
        "{}",
        failed.err
    );

    // Events over the session, with a template and filters.
    let until = ok(&env, &["system", "info", "--format", "{{.SystemTime}}"]);
    let events = ok(
        &env,
        &[
            "events",
            "--since",
            since.trim(),
            "--until",
            until.trim(),
            "--filter",
            "container=web",
            "--format",
            "{{.Type}} {{.Action}}",
        ],
    );
    for want in [
        "container create",
        "container start",
        "container exec_start",
        "container commit",
    ] {
        assert!(
            events.lines().any(|l| l.starts_with(want)),
            "{want} in {events}"
        );
    }

    // Stop, remove, prune; the system's view afterwards.
    ok(&env, &["stop", "-t", "1", "web", "db"]);
    let exited = ok(
        &env,
        &[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}",
        ],
    );
    assert_eq!(sorted(&exited), ["db", "web"]);
    ok(&env, &["volume", "rm", "data"]);
    ok(&env, &["rm", "web", "db"]);
    ok(&env, &["network", "rm", "backend"]);
    let df = ok(
        &env,
        &["system", "df", "--format", "{{.Type}} {{.TotalCount}}"],
    );
    assert!(df.contains("Containers 0"), "{df}");
    let pruned = ok(&env, &["system", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let no_such = env.docker(&["inspect", "web"]);
    assert_eq!(no_such.code, 1);
    assert!(
        no_such.err.contains("No such object: web"),
        "{}",
        no_such.err
    );
    // The daemon's log names each failed request, in dockerd's format.
    let log = std::fs::read_to_string(env.daemon.dir.join("daemon.log")).expect("daemon log");
    let line = log
        .lines()
        .find(|l| l.contains("Handler for GET /v1.") && l.contains("/containers/web/json"))
        .unwrap_or_else(|| panic!("no failed request logged:\n{log}"));
    assert!(line.starts_with("time=\""), "{line}");
    assert!(line.contains("level=info"), "{line}");
    assert!(line.contains("No such container: web"), "{line}");
    assert!(line.ends_with("status=404"), "{line}");
}

fn sorted(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
    v.sort();
    v
}

fn wait_for(mut f: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < end, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `--mount type=volume,…,volume-subpath=DIR` (API 1.45): only that directory of the volume,
/// resolved inside the volume (a symlink in it cannot lead to the host's files).
#[test]
fn volume_subpaths_stay_inside_the_volume() {
    let env = Env::start("berth-compat-subpath-", "{}");
    ok(&env, &["volume", "create", "sv"]);
    ok(
        &env,
        &[
            "run",
            "--rm",
            "-v",
            "sv:/d",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /d/sub && echo in-sub > /d/sub/f && echo top > /d/t && ln -s / /d/esc && ln -s ../.. /d/up",
        ],
    );
    let mount = |sub: &str| format!("type=volume,src=sv,dst=/m,volume-subpath={sub}");
    assert_eq!(
        ok(
            &env,
            &[
                "run",
                "--rm",
                "--mount",
                &mount("sub"),
                "busybox",
                "sh",
                "-c",
                "ls /m; echo new > /m/g"
            ]
        ),
        "f\n"
    );
    assert_eq!(
        ok(
            &env,
            &["run", "--rm", "-v", "sv:/d", "busybox", "cat", "/d/sub/g"]
        ),
        "new\n"
    );
    // Links out of the volume end at its root.
    for link in ["esc", "up"] {
        let ls = ok(
            &env,
            &[
                "run",
                "--rm",
                "--mount",
                &mount(link),
                "busybox",
                "ls",
                "/m",
            ],
        );
        assert_eq!(ls, "esc\nsub\nt\nup\n", "{link}");
    }
    let missing = env.docker(&["run", "--rm", "--mount", &mount("nope"), "busybox", "true"]);
    assert_eq!(missing.code, 125);
    assert!(
        missing
            .err
            .contains("cannot access subpath nope of volume sv"),
        "{}",
        missing.err
    );
    let outside = env.docker(&["run", "--rm", "--mount", &mount("../x"), "busybox", "true"]);
    assert_eq!(outside.code, 125);
    assert!(
        outside.err.contains("subpath must be a relative path"),
        "{}",
        outside.err
    );
    // `cp` reads the subpath too; no staging mount is left once containers run.
    ok(
        &env,
        &[
            "create",
            "--name",
            "cpsub",
            "--mount",
            &mount("sub"),
            "busybox",
        ],
    );
    ok(&env, &["cp", "cpsub:/m/f", "f.txt"]);
    assert_eq!(
        std::fs::read_to_string(env.dir.path().join("f.txt")).expect("copied"),
        "in-sub\n"
    );
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = env.daemon.dir.display().to_string();
    assert!(
        !info
            .lines()
            .any(|l| l.contains(&dir) && l.contains("/subpaths/")),
        "staging mounts left"
    );
}
