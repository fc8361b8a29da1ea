//! Through the Python SDK (PyPI `docker`), as its users call it.

use crate::common::Env;

/// Run `code` with `c` (a `DockerClient`) and `api` (its `APIClient`) at the test's daemon;
/// its standard output. The script must succeed.
fn py(env: &Env, code: &str) -> String {
    let script = format!(
        "import docker, time, io, tarfile, socket\nc = docker.DockerClient(base_url={host:?}, timeout=30)\napi = c.api\n{code}\n",
        host = env.daemon.host()
    );
    let o = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "python failed:\n{code}\n{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn swarm_and_plugin_probes_answer_as_a_dockerd_outside_a_swarm() {
    let env = Env::start("berth-compat-swarm-", "{}");
    let out = py(
        &env,
        r#"
for f in (lambda: c.swarm.leave(), lambda: c.nodes.list(), lambda: c.services.list(), lambda: c.secrets.list(), lambda: c.configs.list()):
    try:
        f(); print("no error")
    except docker.errors.APIError as e:
        print(e.status_code, e.explanation)
print("plugins", c.plugins.list())
"#,
    );
    assert!(
        out.contains("503 This node is not part of a swarm"),
        "{out}"
    );
    assert_eq!(
        out.matches("503 This node is not a swarm manager").count(),
        4,
        "{out}"
    );
    assert!(out.contains("plugins []"), "{out}");
}

#[test]
fn exec_framing_follows_the_start_request() {
    let env = Env::start("berth-compat-exec-", "{}");
    let out = py(
        &env,
        r#"
ct = c.containers.run("busybox", ["sleep", "60"], detach=True)
e = api.exec_create(ct.id, ["echo", "hi"], tty=True)
print(repr(api.exec_start(e["Id"])))
e = api.exec_create(ct.id, ["sh", "-c", "echo out; echo err >&2"])
print(repr(api.exec_start(e["Id"], demux=True)))
ct.remove(force=True)
"#,
    );
    // A terminal's output, multiplexed because the start said Tty: false.
    assert!(out.contains("b'hi\\r\\n'"), "{out}");
    assert!(out.contains("(b'out\\n', b'err\\n')"), "{out}");
}

#[test]
fn kill_answers_once_the_exit_is_recorded() {
    let env = Env::start("berth-compat-kill-", "{}");
    let out = py(
        &env,
        r#"
for i in range(5):
    ct = c.containers.run("busybox", ["sleep", "60"], detach=True)
    ct.kill()
    ct.reload()
    print(ct.status, ct.attrs["State"]["ExitCode"])
    ct.remove()
"#,
    );
    assert_eq!(out.matches("exited 137").count(), 5, "{out}");
}

#[test]
fn detach_keys_end_an_attach_and_leave_the_container_running() {
    let env = Env::start("berth-compat-detach-", "{}");
    let out = py(
        &env,
        r#"
def detach(params, keys):
    ct = c.containers.run("busybox", ["cat"], detach=True, stdin_open=True)
    s = api.attach_socket(ct.id, params=dict(stdin=1, stdout=1, stream=1, **params))
    raw = s._sock
    raw.settimeout(10)
    raw.sendall(b"one\n")
    got = b""
    while b"one" not in got:
        got += raw.recv(4096)
    raw.sendall(keys)
    rest = b""
    while True:
        d = raw.recv(4096)
        if not d:
            break
        rest += d
    ct.reload()
    print("detached", ct.status, rest.count(b"one"))
    ct.remove(force=True)
detach({}, b"\x10\x11")
detach({"detachKeys": "ctrl-x,z"}, b"\x18z")
try:
    api.attach_socket(c.containers.run("busybox", ["cat"], detach=True, stdin_open=True).id, params={"stdin": 1, "stream": 1, "detachKeys": "ctrl-"})
    print("no error")
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)
"#,
    );
    assert_eq!(out.matches("detached running 0").count(), 2, "{out}");
    assert!(
        out.contains("400 Invalid detach keys (ctrl-) provided"),
        "{out}"
    );
}

#[test]
fn attach_without_a_stream_returns_the_log_and_ends() {
    let env = Env::start("berth-compat-attach-", "{}");
    let out = py(
        &env,
        r#"
for i in range(5):
    ct = c.containers.run("busybox", ["echo", "logged"], detach=True)
    ct.wait()
    print(repr(api.attach(ct.id, logs=True, stream=False)))
    print(repr(api.attach(ct.id, logs=False, stream=False)))
"#,
    );
    // Every call returns (it used to hang); the replay arrives unless the client was not
    // scheduled before it came (docker-py reads the 101's headers through a buffer and then
    // the raw socket: what lands with the headers is lost, against dockerd as well).
    assert_eq!(out.lines().count(), 10, "{out}");
    assert!(out.contains("b'logged\\n'\nb''"), "{out}");
    assert!(!out.contains("b'logged\\n'\nb'logged"), "{out}");
}

#[test]
fn archives_reach_volumes_and_binds() {
    let env = Env::start("berth-compat-archive-", "{}");
    let bind = env.dir.path().join("bind");
    std::fs::create_dir_all(&bind).expect("bind dir");
    std::fs::write(bind.join("host.txt"), "from the host\n").expect("write");
    let out = py(
        &env,
        &format!(
            r#"
def tar_of(name, data):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    return b.getvalue()
def read(ct, path):
    bits, stat = ct.get_archive(path)
    t = tarfile.open(fileobj=io.BytesIO(b"".join(bits)))
    return t.extractfile(t.getmembers()[0]).read()
ct = c.containers.create("busybox", ["sleep", "60"], volumes={{"vol": {{"bind": "/data", "mode": "rw"}}, {bind:?}: {{"bind": "/mnt/b", "mode": "ro"}}}})
print("put", ct.put_archive("/data", tar_of("x.txt", b"into the volume\n")))
print(read(ct, "/data/x.txt"))
print(read(ct, "/mnt/b/host.txt"))
try:
    ct.put_archive("/mnt/b", tar_of("y.txt", b"no"))
except docker.errors.APIError as e:
    print("ro", e.status_code)
ct.start()
print(read(ct, "/data/x.txt"))
print(c.containers.run("busybox", ["cat", "/data/x.txt"], volumes={{"vol": {{"bind": "/data"}}}}, remove=True))
ct.remove(force=True)
"#,
            bind = bind.display().to_string()
        ),
    );
    assert!(out.contains("put True"), "{out}");
    assert_eq!(out.matches("b'into the volume\\n'").count(), 3, "{out}");
    assert!(out.contains("b'from the host\\n'"), "{out}");
    assert!(out.contains("ro 403"), "{out}");
    assert!(!bind.join("y.txt").exists(), "a read-only bind was written");
}

#[test]
fn loads_changes_and_anonymous_volumes() {
    let env = Env::start("berth-compat-misc-", "{}");
    let save = env.dir.path().join("bb.tar");
    env.ok(&["save", "-o", save.to_str().expect("utf-8"), "busybox"]);
    let out = py(
        &env,
        &format!(
            r#"
imgs = c.images.load(open({save:?}, "rb").read())
print("loaded", sorted(set(t for i in imgs for t in i.tags)))
try:
    c.images.load(b"not a tar at all" * 100)
    print("no error")
except (docker.errors.ImageLoadError, docker.errors.APIError) as e:
    print("bad load", type(e).__name__)
img = c.images.get("busybox")
res = c.images.load(b"".join(img.save()))
print("by id", len(res), res[0].id == img.id)
ct = c.containers.run("busybox", ["sh", "-c", "echo a > /x"], detach=True)
ct.wait()
print("diff", ct.diff())
"#,
            save = save.display().to_string()
        ),
    );
    assert!(
        out.contains("loaded ['alpine:3.10', 'alpine:latest', 'busybox:latest']"),
        "{out}"
    );
    assert!(out.contains("bad load"), "{out}");
    // Saved by id: no names in the archive, one image loaded (dockerd's save).
    assert!(out.contains("by id 1 True"), "{out}");
    assert!(out.contains("diff [{'Path': '/x', 'Kind': 1}]"), "{out}");
    // `docker run -v /dst`: an anonymous volume (the create's Config.Volumes).
    let r = env.docker(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo a > /anon/x && cat /anon/x",
    ]);
    assert_eq!((r.code, r.out.as_str()), (0, "a\n"), "{}", r.err);
    let mounts = env.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}",
        "anon",
    ]);
    assert_eq!(mounts.trim(), "volume /anon");
}
