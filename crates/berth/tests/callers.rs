//! Real callers use `berth-runtime` unchanged: Podman (`--runtime`) and Docker (`dockerd
//! --add-runtime`, then `docker run --runtime berth`). Each test runs its own instance with its
//! own storage, state, cgroup parent and — for dockerd — network namespace, and skips with a
//! clear message only when the caller is not installed (`apt-get install podman docker.io`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A temp dir with a `berth-runtime` symlink, a busybox rootfs tarball, and a unique name used
/// for the cgroup parent and network namespace; everything is removed on drop.
struct Sandbox {
    dir: tempfile::TempDir,
    name: String,
    netns: bool,
    pidfile: Option<PathBuf>,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-{tag}-"))
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_berth"),
            dir.path().join("berth-runtime"),
        )
        .expect("symlink");
        // `berth save` writes the image archives the callers load (docker-archive and
        // oci-archive): their `load` proves the formats. Podman names registry-less RepoTags
        // `localhost/…`, Docker `docker.io/library/…`; nothing is pulled.
        let archive = xtask::busybox_image(dir.path()).expect("busybox image");
        std::fs::write(dir.path().join("fixture.tar"), archive).expect("write archive");
        let daemon = berth_testkit::Daemon::start(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &dir.path().join("berth-data"),
            &dir.path().join("no-daemon.json"),
        );
        let berth = |args: &[&str]| {
            let o = Command::new(env!("CARGO_BIN_EXE_berth"))
                .env("BERTH_HOST", daemon.host())
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("berth");
            assert!(o.status.success(), "berth {args:?}: {}", text(&o));
        };
        berth(&["load", "-i", "fixture.tar"]);
        berth(&[
            "save",
            "-o",
            "busybox.tar",
            "busybox",
            "alpine:latest",
            "alpine:3.10",
        ]);
        berth(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            "busybox-oci.tar",
            "busybox",
        ]);
        let name = format!("berthtest-{tag}-{}", std::process::id());
        Sandbox {
            dir,
            name,
            netns: false,
            pidfile: None,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn runtime(&self) -> PathBuf {
        self.path("berth-runtime")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(pf) = &self.pidfile {
            if let Ok(pid) = std::fs::read_to_string(pf) {
                let pid: i32 = pid.trim().parse().unwrap_or(0);
                if pid > 0 {
                    // SAFETY: signalling the dockerd this test started (its own pid file).
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        // Unmount whatever the caller left under our directory, deepest first.
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(self.dir.path().to_str().unwrap_or("/nonexistent")))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix_umount(m);
        }
        // The callers' cgroups (podman's conmon, dockerd's containers) may stay busy for a moment
        // after their processes exit: remove deepest first, retrying for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        for entry in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = entry.path().join(&self.name);
            while parent.exists() && Instant::now() < deadline {
                remove_cgroup_tree(&parent);
                if parent.exists() {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        if self.netns {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.name])
                .status();
        }
    }
}

/// rmdir a cgroup and its children, deepest first (cgroup files cannot be removed, only dirs).
fn remove_cgroup_tree(dir: &Path) {
    for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if sub.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&sub.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn nix_umount(path: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).map_err(|_| std::io::Error::other("nul"))?;
    // SAFETY: umount2 of a mount point under the test's own directory.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn podman_runs_containers_with_berth_runtime() {
    if !have("podman") {
        eprintln!("skipped: podman is not installed (apt-get install -y podman)");
        return;
    }
    let sb = Sandbox::new("podman");
    // Podman asks for nofile/nproc 1048576 by default; root here cannot raise rlimits that high.
    std::fs::write(
        sb.path("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
    )
    .expect("conf");
    let podman = |args: &[&str]| -> Output {
        Command::new("podman")
            .env("CONTAINERS_CONF", sb.path("containers.conf"))
            .arg("--root")
            .arg(sb.path("storage"))
            .arg("--runroot")
            .arg(sb.path("run"))
            .arg("--tmpdir")
            .arg(sb.path("tmp"))
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--storage-driver",
                "vfs",
                "--runtime",
            ])
            .arg(sb.runtime())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("podman")
    };
    let o = podman(&["load", "-i", sb.path("busybox.tar").to_str().expect("utf8")]);
    assert!(
        o.status.success(),
        "podman load of Berth's archive: {}",
        text(&o)
    );
    let o = podman(&["rmi", "localhost/busybox:latest"]);
    assert!(o.status.success(), "podman rmi: {}", text(&o));
    let o = podman(&[
        "load",
        "-i",
        sb.path("busybox-oci.tar").to_str().expect("utf8"),
    ]);
    assert!(
        o.status.success(),
        "podman load of Berth's oci-archive: {}",
        text(&o)
    );
    let o = podman(&["image", "exists", "docker.io/library/busybox:latest"]);
    assert!(
        o.status.success(),
        "oci-archive loaded as busybox: {}",
        text(&o)
    );
    let o = podman(&[
        "tag",
        "docker.io/library/busybox:latest",
        "localhost/busybox:latest",
    ]);
    assert!(o.status.success(), "podman tag: {}", text(&o));
    let parent = format!("/{}", sb.name);
    let o = podman(&[
        "run",
        "--pull",
        "never",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
        "localhost/busybox:latest",
        "echo",
        "ok",
    ]);
    assert!(o.status.success(), "podman run: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
    let o = podman(&[
        "run",
        "--pull",
        "never",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
        "localhost/busybox:latest",
        "sh",
        "-c",
        "exit 9",
    ]);
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));
    let o = podman(&[
        "run",
        "--pull",
        "never",
        "-d",
        "--name",
        "bg",
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
        "localhost/busybox:latest",
        "sleep",
        "100",
    ]);
    assert!(o.status.success(), "podman run -d: {}", text(&o));
    let o = podman(&["exec", "bg", "sh", "-c", "echo exec-ok"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "exec-ok\n",
        "{}",
        text(&o)
    );
    let o = podman(&["rm", "-f", "-t", "0", "bg"]);
    assert!(o.status.success(), "podman rm: {}", text(&o));
}

#[test]
fn docker_runs_containers_with_berth_runtime() {
    if !have("dockerd") || !have("docker") {
        eprintln!("skipped: dockerd or docker is not installed (apt-get install -y docker.io)");
        return;
    }
    let mut sb = Sandbox::new("docker");
    // dockerd's own network namespace, so no firewall rule of its reaches the host's.
    let ok = Command::new("ip")
        .args(["netns", "add", &sb.name])
        .status()
        .expect("ip");
    assert!(ok.success());
    sb.netns = true;
    let _ = Command::new("ip")
        .args(["netns", "exec", &sb.name, "ip", "link", "set", "lo", "up"])
        .status();
    let sock = sb.path("docker.sock");
    sb.pidfile = Some(sb.path("docker.pid"));
    let log = std::fs::File::create(sb.path("dockerd.log")).expect("log");
    // nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup hierarchies.
    let mut daemon = Command::new("nsenter");
    daemon
        .arg(format!("--net=/var/run/netns/{}", sb.name))
        .arg("dockerd")
        .arg("--data-root")
        .arg(sb.path("data"))
        .arg("--exec-root")
        .arg(sb.path("exec"))
        .arg("--pidfile")
        .arg(sb.path("docker.pid"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--storage-driver=vfs",
        ])
        .arg(format!("--cgroup-parent=/{}", sb.name))
        .arg(format!("--add-runtime=berth={}", sb.runtime().display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    let mut child = daemon.spawn().expect("start dockerd");
    let docker = |args: &[&str]| -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !docker(&["version"]).status.success() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let log = std::fs::read_to_string(sb.path("dockerd.log")).unwrap_or_default();
            panic!("dockerd did not come up:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = docker(&["load", "-i", sb.path("busybox.tar").to_str().expect("utf8")]);
    assert!(
        o.status.success(),
        "docker load of Berth's archive: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("alpine:3.10"),
        "{}",
        text(&o)
    );
    let o = docker(&[
        "run",
        "--pull",
        "never",
        "--runtime",
        "berth",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo ok; grep -c . /proc/self/status >/dev/null",
    ]);
    assert!(o.status.success(), "docker run: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
    let o = docker(&[
        "run",
        "--pull",
        "never",
        "--runtime",
        "berth",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    let o = docker(&[
        "run",
        "--pull",
        "never",
        "--runtime",
        "berth",
        "-d",
        "--name",
        "bg",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]);
    assert!(o.status.success(), "docker run -d: {}", text(&o));
    let o = docker(&["exec", "bg", "echo", "exec-ok"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "exec-ok\n",
        "{}",
        text(&o)
    );
    let o = docker(&["rm", "-f", "bg"]);
    assert!(o.status.success(), "docker rm: {}", text(&o));
    // docker save → Berth's load: the same image id, the layer unpacked.
    let saved = sb.path("saved.tar");
    let o = docker(&[
        "save",
        "-o",
        saved.to_str().expect("utf8"),
        "busybox:latest",
    ]);
    assert!(o.status.success(), "docker save: {}", text(&o));
    let daemons: Vec<(&str, berth_testkit::Daemon)> = ["from-docker", "berth-data"]
        .iter()
        .map(|r| {
            (
                *r,
                berth_testkit::Daemon::start(
                    Path::new(env!("CARGO_BIN_EXE_berth")),
                    &sb.path(r),
                    &sb.path("no-daemon.json"),
                ),
            )
        })
        .collect();
    let berth = |root: &str, args: &[&str]| {
        let host = daemons
            .iter()
            .find(|(r, _)| *r == root)
            .map(|(_, d)| d.host())
            .expect("daemon");
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", host)
            .args(args)
            .output()
            .expect("berth")
    };
    let o = berth(
        "from-docker",
        &["load", "-i", saved.to_str().expect("utf8")],
    );
    assert!(
        o.status.success(),
        "berth load of docker save: {}",
        text(&o)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Loaded image: busybox:latest\n"
    );
    let ids = |root: &str| {
        let o = berth(root, &["images", "-q", "--no-trunc", "busybox"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(
        ids("from-docker"),
        ids("berth-data"),
        "docker kept the image id"
    );
    assert!(ids("berth-data").starts_with("sha256:"));
    let o = berth("from-docker", &["history", "-q", "busybox"]);
    assert!(o.status.success(), "{}", text(&o));

    // Container inspect shapes: every field dockerd sends, Berth sends too (clients index
    // them directly). The same docker CLI asks both daemons for the same container.
    let o = docker(&[
        "create",
        "--name",
        "shape",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1",
    ]);
    assert!(o.status.success(), "docker create: {}", text(&o));
    let theirs: serde_json::Value =
        serde_json::from_slice(&docker(&["inspect", "shape"]).stdout).expect("dockerd inspect");
    let berth_host = daemons
        .iter()
        .find(|(r, _)| *r == "from-docker")
        .map(|(_, d)| d.host())
        .expect("daemon");
    let via_berth = |args: &[&str]| {
        Command::new("docker")
            .env("DOCKER_HOST", &berth_host)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    };
    let o = via_berth(&[
        "create",
        "--name",
        "shape",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1",
    ]);
    assert!(
        o.status.success(),
        "docker create through Berth: {}",
        text(&o)
    );
    let ours: serde_json::Value =
        serde_json::from_slice(&via_berth(&["inspect", "shape"]).stdout).expect("berth inspect");
    let mut missing = Vec::new();
    for section in [
        "",
        "State",
        "Config",
        "HostConfig",
        "NetworkSettings",
        "GraphDriver",
    ] {
        let (t, o) = if section.is_empty() {
            (&theirs[0], &ours[0])
        } else {
            (&theirs[0][section], &ours[0][section])
        };
        for k in t.as_object().into_iter().flatten().map(|(k, _)| k) {
            if o.get(k).is_none() {
                missing.push(format!("{section}.{k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields dockerd sends and Berth does not: {missing:?}"
    );
    // Network shapes: `network inspect` and a container's endpoint on a user network.
    let mut missing = Vec::new();
    for (i, run) in [&docker as &dyn Fn(&[&str]) -> Output, &via_berth]
        .iter()
        .enumerate()
    {
        let o = run(&["network", "create", "--subnet", "10.150.0.0/24", "shapenet"]);
        assert!(o.status.success(), "network create ({i}): {}", text(&o));
        let o = run(&[
            "create",
            "--name",
            "netshape",
            "--network",
            "shapenet",
            "--network-alias",
            "al",
            "busybox",
            "true",
        ]);
        assert!(
            o.status.success(),
            "create on a network ({i}): {}",
            text(&o)
        );
    }
    let json_of =
        |o: Output| -> serde_json::Value { serde_json::from_slice(&o.stdout).expect("json") };
    let (tn, on) = (
        json_of(docker(&["network", "inspect", "shapenet"])),
        json_of(via_berth(&["network", "inspect", "shapenet"])),
    );
    let (tc, oc) = (
        json_of(docker(&["inspect", "netshape"])),
        json_of(via_berth(&["inspect", "netshape"])),
    );
    for (what, t, o) in [
        ("network", &tn[0], &on[0]),
        ("network.IPAM", &tn[0]["IPAM"], &on[0]["IPAM"]),
        (
            "network.IPAM.Config",
            &tn[0]["IPAM"]["Config"][0],
            &on[0]["IPAM"]["Config"][0],
        ),
        (
            "endpoint",
            &tc[0]["NetworkSettings"]["Networks"]["shapenet"],
            &oc[0]["NetworkSettings"]["Networks"]["shapenet"],
        ),
    ] {
        for k in t.as_object().into_iter().flatten().map(|(k, _)| k) {
            if o.get(k).is_none() {
                missing.push(format!("{what}.{k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "network fields dockerd sends and Berth does not: {missing:?}"
    );
    // Volume shapes: `volume inspect`, `volume ls`'s entries, and a volume mount in inspect.
    for run in [&docker as &dyn Fn(&[&str]) -> Output, &via_berth] {
        let o = run(&["volume", "create", "--label", "k=v", "shapevol"]);
        assert!(o.status.success(), "volume create: {}", text(&o));
        let o = run(&[
            "create",
            "--name",
            "volshape",
            "-v",
            "shapevol:/data",
            "busybox",
            "true",
        ]);
        assert!(o.status.success(), "create with a volume: {}", text(&o));
    }
    let (tv, ov) = (
        json_of(docker(&["volume", "inspect", "shapevol"])),
        json_of(via_berth(&["volume", "inspect", "shapevol"])),
    );
    let (tm, om) = (
        json_of(docker(&["inspect", "-f", "{{json .Mounts}}", "volshape"])),
        json_of(via_berth(&[
            "inspect",
            "-f",
            "{{json .Mounts}}",
            "volshape",
        ])),
    );
    let mut missing = Vec::new();
    for (what, t, o) in [("volume", &tv[0], &ov[0]), ("mount", &tm[0], &om[0])] {
        for k in t.as_object().into_iter().flatten().map(|(k, _)| k) {
            if o.get(k).is_none() {
                missing.push(format!("{what}.{k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "volume fields dockerd sends and Berth does not: {missing:?}"
    );
    for run in [&docker as &dyn Fn(&[&str]) -> Output, &via_berth] {
        let _ = run(&["rm", "volshape"]);
        let _ = run(&["volume", "rm", "shapevol"]);
    }
    // Volume behaviour side by side (the same docker CLI, the same commands): copy-up,
    // nocopy, ro, --volumes-from, bind propagation.
    let host_dir = sb.path("propagation");
    std::fs::create_dir_all(&host_dir).expect("dir");
    let rshared = format!("{}:/p:rshared", host_dir.display());
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "cu:/etc",
            "busybox",
            "sh",
            "-c",
            "test -s /etc/passwd && echo copied; echo mine > /etc/mine",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "cu:/v",
            "busybox",
            "cat",
            "/v/mine",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "nc:/etc:nocopy",
            "busybox",
            "sh",
            "-c",
            "ls -A /etc | wc -l",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "cu:/v:ro",
            "busybox",
            "sh",
            "-c",
            "touch /v/x 2>/dev/null || echo read-only",
        ],
        vec![
            "create",
            "--network",
            "none",
            "--name",
            "vfrom",
            "-v",
            "cu:/shared",
            "busybox",
            "true",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--volumes-from",
            "vfrom:ro",
            "busybox",
            "sh",
            "-c",
            "cat /shared/mine; touch /shared/y 2>/dev/null || echo read-only",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &rshared,
            "busybox",
            "sh",
            "-c",
            "grep -c ' /p .*shared:' /proc/self/mountinfo",
        ],
    ];
    let mut outs = Vec::new();
    for run in [&docker as &dyn Fn(&[&str]) -> Output, &via_berth] {
        let mut out = String::new();
        for st in &steps {
            let o = run(st);
            // Ids differ by nature; outputs and errors must not.
            let stdout = if st[0] == "create" {
                String::new()
            } else {
                String::from_utf8_lossy(&o.stdout).into_owned()
            };
            out.push_str(&format!(
                "{st:?} -> {stdout}{}{}",
                String::from_utf8_lossy(&o.stderr),
                if o.status.success() { "" } else { "(failed)\n" }
            ));
        }
        let _ = run(&["rm", "vfrom"]);
        let _ = run(&["volume", "rm", "cu", "nc"]);
        outs.push(out);
    }
    assert_eq!(outs[1], outs[0], "Berth's volumes behave as dockerd's");
    assert_eq!(
        oc[0]["NetworkSettings"]["Networks"]["shapenet"]["Aliases"],
        tc[0]["NetworkSettings"]["Networks"]["shapenet"]["Aliases"],
        "aliases as dockerd shows them"
    );
    for run in [&docker as &dyn Fn(&[&str]) -> Output, &via_berth] {
        let _ = run(&["rm", "netshape"]);
        let _ = run(&["network", "rm", "shapenet"]);
    }
    let _ = via_berth(&["rm", "shape"]);
    let _ = docker(&["rm", "shape"]);
    drop(sb);
    let _ = child.wait();
}

/// containerd (as Kubernetes reaches a runtime): its runc v2 shim with `berth-runtime` as the
/// runc binary, a bundle containerd writes, the `rshared` root propagation and `rslave` mounts
/// it sends for Bidirectional and HostToContainer volumes, exit codes, exec and kill.
#[test]
fn containerd_runs_containers_with_berth_runtime() {
    if !have("containerd") || !have("ctr") {
        eprintln!("skipped: containerd is not installed (apt-get install -y containerd)");
        return;
    }
    let mut sb = Sandbox::new("containerd");
    let ok = Command::new("ip")
        .args(["netns", "add", &sb.name])
        .status()
        .expect("ip");
    assert!(ok.success());
    sb.netns = true;
    let sock = sb.path("containerd.sock");
    let config = sb.path("containerd.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"{sock}.debug\"\n[metrics]\n  address = \"\"\n",
            root = sb.path("root").display(),
            state = sb.path("state").display(),
            sock = sock.display(),
        ),
    )
    .expect("config");
    let log = std::fs::File::create(sb.path("containerd.log")).expect("log");
    let child = Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{}", sb.name))
        .arg("containerd")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start containerd");
    let ns = sb.name.clone();
    let ctr = |args: &[&str]| -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&sock)
            .args(["--namespace", &ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr")
    };
    // Tasks and containers go before containerd does (their shims would outlive it).
    let ids = ["c-run", "c-exit", "c-bg"];
    let _stop = Stopper(
        child,
        Box::new(|| {
            for id in ids {
                let _ = ctr(&["task", "kill", "-s", "KILL", id]);
                let _ = ctr(&["task", "rm", "-f", id]);
                let _ = ctr(&["container", "rm", id]);
            }
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ctr(&["version"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "containerd did not come up:\n{}",
            std::fs::read_to_string(sb.path("containerd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = ctr(&[
        "images",
        "import",
        "--snapshotter",
        "native",
        sb.path("busybox.tar").to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "ctr images import: {}", text(&o));
    let image = "docker.io/library/busybox:latest";
    let runtime = sb.runtime().display().to_string();
    let host_dir = sb.path("shared");
    std::fs::create_dir_all(&host_dir).expect("shared dir");
    let mount = format!(
        "type=bind,src={},dst=/shared,options=rbind:rslave",
        host_dir.display()
    );
    let run = |id: &str, extra: &[&str], cmd: &[&str]| {
        let cg = format!("/{}/{id}", sb.name);
        let mut args = vec![
            "run",
            "--snapshotter",
            "native",
            "--runc-binary",
            &runtime,
            "--cgroup",
            &cg,
        ];
        args.extend_from_slice(extra);
        args.push(image);
        args.push(id);
        args.extend_from_slice(cmd);
        ctr(&args)
    };
    let o = run(
        "c-run",
        &["--rm", "--rootfs-propagation", "rshared", "--mount", &mount],
        &[
            "sh",
            "-c",
            "echo ok; awk '$5 == \"/\" { print $7 }' /proc/self/mountinfo; ls /shared",
        ],
    );
    assert!(o.status.success(), "ctr run: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("ok"), "{}", text(&o));
    assert!(
        lines.next().is_some_and(|l| l.starts_with("shared:")),
        "rshared root: {}",
        text(&o)
    );
    let o = run("c-exit", &["--rm"], &["sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "exit code: {}", text(&o));
    // An init gets only the signals it handles (the kernel's rule for pid-namespace inits).
    let o = run(
        "c-bg",
        &["-d"],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"],
    );
    assert!(o.status.success(), "ctr run -d: {}", text(&o));
    let o = ctr(&["task", "exec", "--exec-id", "e1", "c-bg", "echo", "exec-ok"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "exec-ok\n",
        "ctr task exec: {}",
        text(&o)
    );
    let o = ctr(&["task", "kill", "-s", "TERM", "c-bg"]);
    assert!(o.status.success(), "ctr task kill: {}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = ctr(&["task", "ls"]);
        let t = text(&o);
        if t.lines()
            .any(|l| l.starts_with("c-bg") && l.contains("STOPPED"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "c-bg did not stop on TERM: {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = ctr(&["task", "rm", "c-bg"]);
    assert!(o.status.success(), "ctr task rm: {}", text(&o));
}

/// A daemon the test started: `before` runs, then SIGTERM, then SIGKILL after 20 s.
struct Stopper<'a>(std::process::Child, Box<dyn Fn() + 'a>);

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        (self.1)();
        // SAFETY: signalling the child this test spawned.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.0.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
