//! The daemon under load and faults: lists raced against removals, memory over rounds of
//! load, `kill -9` of the daemon in the middle of a load and of a shim. Needs root (a daemon
//! of the test's own, real containers).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Env;

/// One HTTP/1.0 request on the daemon's socket: the status and the body. (A test helper: it
/// must see the status of every answer, which the CLIs turn into exit codes.)
fn call(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    try_call(socket, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The same; a connection that fails is an error (the daemon may be down).
fn try_call(socket: &Path, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "{method} /v1.41{path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn created_id(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("create answer");
    v["Id"].as_str().expect("Id").to_owned()
}

/// Lists of containers, networks, volumes and images answer 200 with every entry that still
/// exists while other clients remove them (dockerd skips what vanished; it never fails a list).
#[test]
fn lists_never_fail_while_objects_go() {
    let env = Env::start("berth-load-", "{}");
    let sock = env.daemon.socket.clone();
    let mut ids = Vec::new();
    for i in 0..40 {
        let cmd = if i % 4 == 0 {
            r#"["sleep","100"]"#
        } else {
            r#"["true"]"#
        };
        let (code, body) = call(
            &sock,
            "POST",
            "/containers/create",
            &format!(r#"{{"Image":"busybox","Cmd":{cmd},"HostConfig":{{"NetworkMode":"none"}}}}"#),
        );
        assert_eq!(code, 201, "{body}");
        let id = created_id(&body);
        if i % 4 == 0 {
            let (code, body) = call(&sock, "POST", &format!("/containers/{id}/start"), "");
            assert_eq!(code, 204, "{body}");
        }
        ids.push(id);
    }
    let named = |kind: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let name = format!("race{kind}{i}");
                let body = format!(r#"{{"Name":"{name}"}}"#);
                let (code, answer) = call(&sock, "POST", &format!("/{kind}s/create"), &body);
                assert_eq!(code, 201, "{answer}");
                name
            })
            .collect()
    };
    let nets = named("network", 8);
    let vols = named("volume", 8);
    let done = Arc::new(AtomicBool::new(false));
    let lists = Arc::new(AtomicU64::new(0));
    let listers: Vec<_> = (0..3)
        .map(|_| {
            let (sock, done, lists) = (sock.clone(), done.clone(), lists.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    for path in [
                        "/containers/json?all=1",
                        "/networks",
                        "/volumes",
                        "/images/json",
                    ] {
                        let (code, body) = call(&sock, "GET", path, "");
                        let parsed = serde_json::from_str::<serde_json::Value>(&body).is_ok();
                        if code != 200 || !parsed {
                            failures.push(format!("{path}: {code} {body}"));
                        }
                        lists.fetch_add(1, Ordering::Relaxed);
                    }
                }
                failures
            })
        })
        .collect();
    // Removals from four clients at once.
    let chunks: Vec<Vec<String>> = ids.chunks(10).map(<[String]>::to_vec).collect();
    let removers: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                for id in chunk {
                    let (code, body) =
                        call(&sock, "DELETE", &format!("/containers/{id}?force=1"), "");
                    assert_eq!(code, 204, "remove {id}: {body}");
                }
            })
        })
        .collect();
    for (n, v) in nets.iter().zip(&vols) {
        let (code, body) = call(&sock, "DELETE", &format!("/networks/{n}"), "");
        assert_eq!(code, 204, "{body}");
        let (code, body) = call(&sock, "DELETE", &format!("/volumes/{v}"), "");
        assert_eq!(code, 204, "{body}");
    }
    for r in removers {
        r.join().expect("remover");
    }
    done.store(true, Ordering::Relaxed);
    let failures: Vec<String> = listers
        .into_iter()
        .flat_map(|l| l.join().expect("lister"))
        .collect();
    assert!(failures.is_empty(), "lists failed: {failures:#?}");
    assert!(
        lists.load(Ordering::Relaxed) >= 40,
        "too few lists raced the removals"
    );
    let (_, body) = call(&sock, "GET", "/containers/json?all=1", "");
    assert_eq!(body.trim(), "[]");
}

/// VmRSS of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One round of load: `clients` threads for `secs`, listing, inspecting and running short
/// containers. Returns the number of failed requests.
fn load_round(sock: &Path, running: &[String], clients: usize, secs: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..clients)
        .map(|n| {
            let sock = sock.to_owned();
            let running = running.to_vec();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                let mut i = n;
                while Instant::now() < deadline {
                    i += 1;
                    let id = &running[i % running.len()];
                    let answer = match i % 4 {
                        0 => try_call(&sock, "GET", "/containers/json?all=1", ""),
                        1 => try_call(&sock, "GET", &format!("/containers/{id}/json"), ""),
                        2 => try_call(&sock, "GET", "/containers/json", ""),
                        _ => cycle(&sock),
                    };
                    match answer {
                        Ok((code, body)) if code >= 300 => errors.push(format!("{code} {body}")),
                        Ok(_) => {}
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                errors
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect()
}

/// create → start → wait → remove of a short container; the first answer that is not a
/// success.
fn cycle(sock: &Path) -> std::io::Result<(u16, String)> {
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}"#;
    let id = match create_and_start(sock, body)? {
        Ok(id) => id,
        Err(answer) => return Ok(answer),
    };
    let r = try_call(sock, "POST", &format!("/containers/{id}/wait"), "")?;
    if r.0 != 200 {
        return Ok(r);
    }
    try_call(sock, "DELETE", &format!("/containers/{id}"), "")
}

/// The daemon's memory returns to its level after a load: a second and a third round like
/// the first do not grow it (a leak would, by the requests served).
#[test]
fn memory_stays_flat_over_rounds_of_load() {
    let env = Env::start("berth-load-", "{}");
    let sock = env.daemon.socket.clone();
    let running: Vec<String> = (0..10)
        .map(|_| {
            env.ok(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"])
                .trim()
                .to_owned()
        })
        .collect();
    let pid = env.daemon.pid();
    let mut after = Vec::new();
    for round in 0..3 {
        let errors = load_round(&sock, &running, 16, 8);
        assert!(errors.is_empty(), "round {round}: {errors:?}");
        std::thread::sleep(Duration::from_secs(2));
        after.push(rss_kb(pid));
    }
    assert!(
        after[2] as f64 <= after[0] as f64 * 1.5 && after[1] as f64 <= after[0] as f64 * 1.5,
        "RSS after each round (kB): {after:?}"
    );
    let mut rm = vec!["rm", "-f"];
    rm.extend(running.iter().map(String::as_str));
    env.ok(&rm);
}

fn inspect(env: &Env, id: &str) -> serde_json::Value {
    let (code, body) = call(
        &env.daemon.socket,
        "GET",
        &format!("/containers/{id}/json"),
        "",
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("inspect")
}

fn ppid(pid: i64) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `pid` still runs (a zombie has ended).
fn running(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// Directories under the daemon's cgroup parent, in every v1 hierarchy and in v2.
fn cgroups_under(parent: &str) -> Vec<String> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let base = h.path().join(parent.trim_start_matches('/'));
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// `kill -9` of a shim: the container is reported exited with a SIGKILL's code (137, as
/// containerd reports a dead shim's task), its processes and cgroups go, and `rm` leaves
/// nothing mounted.
#[test]
fn a_killed_shim_ends_its_container_and_leaks_nothing() {
    let env = Env::start("berth-load-", "{}");
    let id = env
        .ok(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"])
        .trim()
        .to_owned();
    let pid = inspect(&env, &id)["State"]["Pid"].as_i64().expect("pid");
    let shim = ppid(pid);
    assert!(shim > 1, "shim of {pid}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the shim");
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = loop {
        let v = inspect(&env, &id);
        if v["State"]["Status"] == "exited" || Instant::now() > deadline {
            break v["State"].clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["ExitCode"], 137, "{state}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(pid), "the container's process {pid} still runs");
    // The exit is final: the next looks agree.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inspect(&env, &id)["State"]["ExitCode"], 137);
    let left = cgroups_under(&env.daemon.cgroup_parent);
    assert!(
        left.iter().all(|c| !c.contains(&id)),
        "cgroups left: {left:?}"
    );
    env.ok(&["rm", &id]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&id), "mounts left for {id}");
}

/// `kill -9` of the daemon in the middle of a load: after the restart every running
/// container still runs and is listed, the clients' next requests succeed, and once all is
/// removed nothing is left (containers, mounts, cgroups, runtime state, veths).
#[test]
fn a_daemon_killed_mid_load_loses_nothing_and_leaves_nothing() {
    let mut env = Env::start("berth-load-", "{}");
    let sock = env.daemon.socket.clone();
    let mut long = Vec::new();
    for net in ["none", "none", "none", "bridge", "bridge"] {
        let id = env.ok(&["run", "-d", "--network", net, "busybox", "sleep", "1000"]);
        long.push(id.trim().to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let execs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|n| {
            let (sock, stop, long) = (sock.clone(), stop.clone(), long.clone());
            let execs = execs.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // Errors are expected while the daemon is down: a client retries.
                    if n % 4 == 3 {
                        // Published ports (firewall rules) and exec sessions made and unmade.
                        let _ = port_cycle(&sock);
                        if let Ok(id) = detached_exec(&sock, &long[n % long.len()]) {
                            execs.lock().expect("execs").push(id);
                        }
                    } else {
                        load_round(&sock, &long, 1, 1);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    env.daemon.kill9_and_restart();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    // Every long-running container runs and is listed.
    let listed = env.ok(&["ps", "-q", "--no-trunc"]);
    for id in &long {
        assert!(listed.contains(id.as_str()), "{id} not listed: {listed}");
        assert_eq!(inspect(&env, id)["State"]["Status"], "running");
    }
    // A client's retry succeeds.
    let errors = load_round(&sock, &long, 2, 2);
    assert!(errors.is_empty(), "after the restart: {errors:?}");
    // Whatever the killed daemon left half-made can be removed, and then nothing remains.
    let all = env.ok(&["ps", "-aq", "--no-trunc"]);
    let ids: Vec<&str> = all.split_whitespace().collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().copied());
    env.ok(&rm);
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    let data = env.daemon.dir.join("data");
    let leftover: Vec<String> = std::fs::read_dir(data.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftover.is_empty(), "container dirs left: {leftover:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root = env.daemon.dir.display().to_string();
    let ours: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&root) && !l.contains("/netns"))
        .collect();
    assert!(ours.is_empty(), "mounts left: {ours:#?}");
    let left = cgroups_under(&env.daemon.cgroup_parent);
    assert!(left.is_empty(), "cgroups left: {left:?}");
    let runtime_state: Vec<_> = std::fs::read_dir(env.daemon.dir.join("exec/runtime"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .collect();
    // (`.seccomp-cache` holds compiled profiles, not a container's state.)
    assert!(
        runtime_state.is_empty(),
        "runtime state left: {runtime_state:?}"
    );
    let links = env.daemon.sh_in_netns("ip -o link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("veth"), "veths left: {links}");
    // No firewall rule for a published port or a container's address is left.
    let rules = env.daemon.sh_in_netns("nft list ruleset");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(!rules.contains("dnat to"), "port rules left: {rules}");
    // No exec session of a removed container is left.
    let execs = execs.lock().expect("execs");
    assert!(!execs.is_empty(), "the load made exec sessions");
    for id in execs.iter() {
        let (code, body) = call(&sock, "GET", &format!("/exec/{id}/json"), "");
        assert_eq!(code, 404, "exec {id} left: {body}");
    }
}

/// create → start → remove of a container with a published port on the default bridge.
fn port_cycle(sock: &Path) -> std::io::Result<(u16, String)> {
    let body = r#"{"Image":"busybox","Cmd":["sleep","5"],"ExposedPorts":{"80/tcp":{}},
        "HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":""}]}}}"#;
    let id = match create_and_start(sock, body)? {
        Ok(id) => id,
        Err(answer) => return Ok(answer),
    };
    try_call(sock, "DELETE", &format!("/containers/{id}?force=1"), "")
}

/// Create a container from `body` and start it: its id, or the first answer that is not a
/// success.
fn create_and_start(sock: &Path, body: &str) -> std::io::Result<Result<String, (u16, String)>> {
    let (code, body) = try_call(sock, "POST", "/containers/create", body)?;
    if code != 201 {
        return Ok(Err((code, body)));
    }
    let id = created_id(&body);
    let r = try_call(sock, "POST", &format!("/containers/{id}/start"), "")?;
    if r.0 != 204 {
        return Ok(Err(r));
    }
    Ok(Ok(id))
}

/// An exec session started detached in container `id`: its id.
fn detached_exec(sock: &Path, id: &str) -> std::io::Result<String> {
    let (code, body) = try_call(
        sock,
        "POST",
        &format!("/containers/{id}/exec"),
        r#"{"Cmd":["sleep","3"]}"#,
    )?;
    if code != 201 {
        return Err(std::io::Error::other(format!("{code} {body}")));
    }
    let exec = created_id(&body);
    let (code, body) = try_call(
        sock,
        "POST",
        &format!("/exec/{exec}/start"),
        r#"{"Detach":true}"#,
    )?;
    if code != 200 {
        return Err(std::io::Error::other(format!("{code} {body}")));
    }
    Ok(exec)
}

/// Whether an error names a full disk (the kernel's ENOSPC or SQLite's SQLITE_FULL).
fn says_full(err: &str) -> bool {
    let e = err.to_lowercase();
    e.contains("no space left on device") || e.contains("disk is full")
}

/// A full disk under the data root: creating, running and loading fail with an error that
/// says so, nothing half-made is left (records, names, directories, images), what ran still
/// runs and is listed, and once space is back everything works again — also after a restart.
#[test]
fn a_full_disk_fails_clearly_and_recovers() {
    // The data root on a small tmpfs of its own (the daemon's drop unmounts it).
    let mut env = Env::start_prepared("berth-full-", "{}", |dir| {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data root");
        nix::mount::mount(
            Some("tmpfs"),
            &data,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=48m"),
        )
        .expect("tmpfs data root");
    });
    let data = env.daemon.dir.join("data");
    let before = env
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "before",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    // Fill the disk: a file as large as it can get.
    let filler = data.join("filler");
    {
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0x5a_u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let dirs = |data: &Path| -> Vec<String> {
        std::fs::read_dir(data.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let dirs_before = dirs(&data);
    for args in [
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "during",
            "busybox",
            "sleep",
            "1000",
        ][..],
        &[
            "create",
            "--network",
            "none",
            "--name",
            "during",
            "busybox",
            "true",
        ][..],
    ] {
        let r = env.berth(args);
        assert_ne!(r.code, 0, "{args:?} on a full disk: {}", r.out);
        assert!(
            says_full(&r.err),
            "{args:?}: the error names the cause: {}",
            r.err
        );
    }
    // The docker CLI's run says the same.
    let r = env.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "during",
        "busybox",
        "true",
    ]);
    assert_ne!(r.code, 0, "docker run on a full disk: {}", r.out);
    assert!(says_full(&r.err), "{}", r.err);
    // An image that does not fit: refused, and not listed.
    let big = berth_testkit::tar_of(&[("big", &berth_testkit::noise(4 << 20, 7))]);
    std::fs::write(env.dir.path().join("big.tar"), &big).expect("big.tar");
    // (Larger than the socket's buffers: the daemon fails while the client still uploads,
    // and the client must still get the daemon's error, not a closed connection.)
    let huge = berth_testkit::tar_of(&[("huge", &berth_testkit::noise(24 << 20, 8))]);
    std::fs::write(env.dir.path().join("huge.tar"), &huge).expect("huge.tar");
    for file in ["big.tar", "huge.tar"] {
        let r = env.berth(&["import", file, "big:1"]);
        assert_ne!(r.code, 0, "import on a full disk: {}", r.out);
        assert!(says_full(&r.err), "{}", r.err);
    }
    // Nothing half-made; what ran runs.
    assert_eq!(dirs(&data), dirs_before, "container directories");
    let all = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.trim(), "before", "containers listed on a full disk");
    assert!(
        !env.ok(&["images", "--format", "{{.Repository}}"])
            .contains("big")
    );
    assert_eq!(inspect(&env, &before)["State"]["Status"], "running");

    // Space is back: the name is free, runs and imports work.
    std::fs::remove_file(&filler).expect("remove filler");
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        "during",
        "busybox",
        "true",
    ]);
    env.ok(&["import", "big.tar", "big:1"]);
    let after = env
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "after",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    // Every record reads back after a restart.
    env.daemon.kill9_and_restart();
    for id in [&before, &after] {
        assert_eq!(inspect(&env, id)["State"]["Status"], "running", "{id}");
    }
    let all = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = all.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["after", "before"]);
    env.ok(&["rm", "-f", "before", "after"]);
}

/// The nice value of a thread or process (`/proc/…/stat` field 19).
fn nice_of(stat_path: &str) -> Option<i64> {
    let s = std::fs::read_to_string(stat_path).ok()?;
    s.rsplit_once(") ")?.1.split(' ').nth(16)?.parse().ok()
}

/// The API's threads answer first on a busy host (raised above the daemon's priority), while
/// the engine's heavy work, the shims it spawns and the containers run at the daemon's own:
/// a container never inherits the raise.
#[test]
fn api_threads_go_first_and_containers_do_not() {
    let env = Env::start("berth-load-", "{}");
    let id = env
        .ok(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"])
        .trim()
        .to_owned();
    inspect(&env, &id);
    let daemon = env.daemon.pid();
    let nice = nice_of(&format!("/proc/{daemon}/stat")).expect("daemon's nice");
    let threads: Vec<(String, i64)> = std::fs::read_dir(format!("/proc/{daemon}/task"))
        .expect("threads")
        .flatten()
        .filter_map(|t| {
            let p = t.path();
            let name = std::fs::read_to_string(p.join("comm")).ok()?;
            Some((
                name.trim().to_owned(),
                nice_of(&p.join("stat").display().to_string())?,
            ))
        })
        .collect();
    assert!(
        threads
            .iter()
            .any(|(n, v)| n == "berth-api-read" && *v == nice - 5),
        "a read thread 5 levels up: {threads:?}"
    );
    let pid = inspect(&env, &id)["State"]["Pid"].as_i64().expect("pid");
    let shim = ppid(pid);
    assert_eq!(
        nice_of(&format!("/proc/{shim}/stat")),
        Some(nice),
        "the shim"
    );
    assert_eq!(
        nice_of(&format!("/proc/{pid}/stat")),
        Some(nice),
        "the container"
    );
    let out = env.ok(&["exec", &id, "cat", "/proc/self/stat"]);
    let exec_nice: i64 = out
        .rsplit_once(") ")
        .and_then(|(_, r)| r.split(' ').nth(16)?.parse().ok())
        .expect("exec's nice");
    assert_eq!(exec_nice, nice, "an exec'd process");
    env.ok(&["rm", "-f", &id]);
}
