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
    # Input until its echo comes back (under load the first line can go before the daemon
    # reads the connection's input; cat echoes each one).
    raw.settimeout(1)
    got = b""
    for _ in range(20):
        raw.sendall(b"one\n")
        try:
            got += raw.recv(4096)
        except socket.timeout:
            pass
        if b"one" in got:
            break
    raw.settimeout(10)
    raw.sendall(keys)
    rest = b""
    while True:
        d = raw.recv(4096)
        if not d:
            break
        rest += d
    ct.reload()
    print("detached", ct.status)
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
    assert_eq!(out.matches("detached running\n").count(), 2, "{out}");
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

#[test]
fn legacy_links_give_variables_and_names_and_can_be_removed() {
    let env = Env::start("berth-compat-links-", "{}");
    let out = py(
        &env,
        r#"
db = c.containers.run("busybox", ["sleep", "60"], detach=True, name="db1", environment={"FOO": "1"}, ports={"5432/tcp": None})
app = c.containers.run("busybox", ["sh", "-c", "env | sort; sleep 60"], detach=True, name="app1", links={"db1": "my-db"})
time.sleep(1)
print(app.logs().decode())
api.remove_container("app1/my-db", link=True)
app.reload()
print("links", app.attrs["HostConfig"]["Links"], sorted(x.name for x in c.containers.list()))
try:
    api.remove_container("app1/nope", link=True)
except docker.errors.NotFound as e:
    print("missing", e.status_code)
# A link in a user network's endpoint: the DNS answers its alias, once the target exists.
net = c.networks.create("linknet")
me = c.containers.create("busybox", ["sleep", "60"], network="linknet",
    networking_config={"linknet": api.create_endpoint_config(links=[("upstream", "bar")])})
me.start()
me.reload()
print("endpoint links", me.attrs["NetworkSettings"]["Networks"]["linknet"]["Links"])
c.containers.run("busybox", ["sleep", "60"], detach=True, name="upstream", network="linknet")
r = me.exec_run(["nslookup", "bar"])
print("nslookup", r.exit_code)
for x in c.containers.list(all=True):
    x.remove(force=True)
net.remove()
"#,
    );
    assert!(out.contains("MY_DB_NAME=/app1/my-db"), "{out}");
    assert!(out.contains("MY_DB_ENV_FOO=1"), "{out}");
    assert!(out.contains("MY_DB_PORT=tcp://172."), "{out}");
    assert!(out.contains("MY_DB_PORT_5432_TCP_PORT=5432"), "{out}");
    // The target's PATH and HOME are not passed on.
    assert!(!out.contains("MY_DB_ENV_PATH"), "{out}");
    assert!(out.contains("links None ['app1', 'db1']"), "{out}");
    assert!(out.contains("missing 404"), "{out}");
    assert!(out.contains("endpoint links ['upstream:bar']"), "{out}");
    assert!(out.contains("nslookup 0"), "{out}");
}

#[test]
fn endpoint_settings_and_ipam_are_kept_as_given() {
    let env = Env::start("berth-compat-endpoint-", "{}");
    let out = py(
        &env,
        r#"
ct = api.create_container("busybox", ["sleep", "60"], mac_address="02:42:ac:11:00:0a")
api.start(ct)
print("mac", api.inspect_container(ct)["NetworkSettings"]["MacAddress"])
r = c.containers.run("busybox", ["ip", "link", "show", "eth0"], remove=True, mac_address="02:42:ac:11:00:0b")
print("inside", b"02:42:ac:11:00:0b" in r)
net = c.networks.create("optnet", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
    subnet="172.29.0.0/16", iprange="172.29.0.0/29", gateway="172.29.0.1", aux_addresses={"a": "172.29.0.2"})]))
print("ipam", net.attrs["IPAM"]["Config"])
ct2 = api.create_container("busybox", ["sleep", "60"])
api.connect_container_to_network(ct2, "optnet", mac_address="02:42:ac:11:00:02")
print("connected mac", api.inspect_container(ct2)["NetworkSettings"]["Networks"]["optnet"]["MacAddress"])
api.start(ct2)
print("address", api.inspect_container(ct2)["NetworkSettings"]["Networks"]["optnet"]["IPAddress"])
ct3 = c.containers.run("busybox", ["sleep", "60"], detach=True, network="optnet",
    networking_config={"optnet": api.create_endpoint_config(driver_opt={"key1": "a"})})
print("opts", ct3.attrs["NetworkSettings"]["Networks"]["optnet"]["DriverOpts"])
try:
    api.create_container("busybox", "true", mac_address="not-a-mac")
except docker.errors.APIError as e:
    print("bad mac", e.status_code)
for x in c.containers.list(all=True):
    x.remove(force=True)
net.remove()
"#,
    );
    assert!(out.contains("mac 02:42:ac:11:00:0a"), "{out}");
    assert!(out.contains("inside True"), "{out}");
    assert!(
        out.contains("'AuxiliaryAddresses': {'a': '172.29.0.2'}"),
        "{out}"
    );
    assert!(out.contains("connected mac 02:42:ac:11:00:02"), "{out}");
    // .1 is the gateway and .2 the auxiliary address: .3 is the first free one.
    assert!(out.contains("address 172.29.0.3"), "{out}");
    assert!(out.contains("opts {'key1': 'a'}"), "{out}");
    assert!(out.contains("bad mac 400"), "{out}");
}

#[test]
fn groups_log_drivers_restart_policy_exec_keys_and_commit_parent() {
    let env = Env::start("berth-compat-misc2-", "{}");
    let out = py(
        &env,
        r#"
print("groups", c.containers.run("busybox", ["id", "-G"], remove=True, group_add=[1000, "tty"]))
print("none", c.containers.run("busybox", ["echo", "hello"], log_config={"type": "none"}))
ct = c.containers.list(all=True, filters={"ancestor": "busybox"})[0]
try:
    ct.logs()
except docker.errors.APIError as e:
    print("logs", e.status_code, e.explanation)
ct.remove()
try:
    c.containers.create("busybox", "true", log_config={"type": "asdf"})
except docker.errors.APIError as e:
    print("driver", e.status_code, e.explanation)
r = c.containers.run("busybox", ["sleep", "1"], detach=True, restart_policy={"Name": "always"})
r.wait()
try:
    r.remove()
    print("removed")
except docker.errors.APIError as e:
    print("restarting", e.status_code, "stop the container before" in e.explanation.lower())
r.remove(force=True)
api._general_configs["detachKeys"] = "ctrl-x"
x = c.containers.run("busybox", ["sleep", "60"], detach=True)
e = api.exec_create(x.id, "cat", stdin=True, tty=True)
print("exec keys", api.exec_inspect(e["Id"])["DetachKeys"])
x.exec_run(["touch", "/made"])
img = x.commit()
print("parent", img.attrs["Parent"] == c.images.get("busybox").id)
print("listed", img.id in [i.id for i in c.images.list()])
x.remove(force=True)
c.images.remove(img.id)
print("kept", c.images.get("busybox").id[:7])
"#,
    );
    // The test image's /etc/group names tty 5 (and lists root in no group).
    assert!(out.contains("groups b'0 5 1000\\n'"), "{out}");
    assert!(out.contains("none None"), "{out}");
    assert!(
        out.contains("logs 501 configured logging driver does not support reading"),
        "{out}"
    );
    assert!(
        out.contains("driver 400 logger: no log driver named 'asdf' is registered"),
        "{out}"
    );
    assert!(out.contains("restarting 409 True"), "{out}");
    assert!(out.contains("exec keys ctrl-x"), "{out}");
    assert!(out.contains("parent True"), "{out}");
    assert!(out.contains("listed True"), "{out}");
    assert!(out.contains("kept sha256"), "{out}");
}
