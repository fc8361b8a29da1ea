//! Volumes through the daemon: named and anonymous volumes, copy-up and nocopy, read-only,
//! --volumes-from, image VOLUMEs, rm -v, in-use refusal, a daemon restart, bad input.

mod common;

use common::Env;

impl Env {
    fn new() -> Env {
        Env::start("berth-volumes-", "{}")
    }
}

#[test]
fn named_volumes_keep_data_across_containers_and_restarts() {
    let mut env = Env::new();
    assert_eq!(
        env.ok(&["volume", "create", "--label", "team=db", "data"]),
        "data\n"
    );
    // Copy-up: a new volume mounted on /etc shows the image's /etc.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/etc",
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd | head -1; echo kept > /etc/mine",
    ]);
    assert!(out.starts_with("root:"), "{out}");
    assert_eq!(
        env.ok(&["run", "--rm", "-v", "data:/x", "busybox", "cat", "/x/mine"]),
        "kept\n"
    );
    // nocopy: an empty volume stays empty (but for the mount points of /etc/hostname, hosts
    // and resolv.conf, bound over it as dockerd does).
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "fresh:/etc:nocopy",
        "busybox",
        "ls",
        "-A",
        "/etc",
    ]);
    assert_eq!(out, "hostname\nhosts\nresolv.conf\n");
    // ro.
    let r = env.berth(&[
        "run",
        "--rm",
        "-v",
        "data:/x:ro",
        "busybox",
        "touch",
        "/x/new",
    ]);
    assert_ne!(r.code, 0, "read-only volume");
    // --mount type=volume, with volume-nocopy and readonly.
    let out = env.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=data,dst=/m,readonly",
        "busybox",
        "sh",
        "-c",
        "cat /m/mine; touch /m/x 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "kept\nro\n");
    // --volumes-from.
    env.ok(&[
        "create",
        "--name",
        "owner",
        "-v",
        "data:/shared",
        "busybox",
        "true",
    ]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "owner:ro",
            "busybox",
            "cat",
            "/shared/mine"
        ]),
        "kept\n"
    );
    // In use (by a container, even a stopped one): refused with docker's message.
    let r = env.berth(&["volume", "rm", "data"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("remove data: volume is in use - ["),
        "{}",
        r.err
    );
    // Inspect shapes and filters.
    let v = env.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels.team}}",
        "data",
    ]);
    assert_eq!(v, "data local local db\n");
    assert_eq!(
        env.ok(&["volume", "ls", "-q", "--filter", "label=team=db"]),
        "data\n"
    );
    // A daemon killed with SIGKILL: the data is still there.
    env.daemon.kill9_and_restart();
    assert_eq!(
        env.ok(&["run", "--rm", "-v", "data:/x", "busybox", "cat", "/x/mine"]),
        "kept\n"
    );
    env.ok(&["rm", "owner"]);
    assert_eq!(env.ok(&["volume", "rm", "data", "fresh"]), "data\nfresh\n");
    // Bad input.
    let r = env.berth(&["volume", "inspect", "nope"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("get nope: no such volume"), "{}", r.err);
    let r = env.berth(&["run", "--rm", "-v", "bad/name:/x", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.err
            .contains("includes invalid characters for a local volume name"),
        "{}",
        r.err
    );
    let r = env.berth(&["run", "--rm", "-v", "data:relative", "busybox", "true"]);
    assert!(r.err.contains("mount path must be absolute"), "{}", r.err);
    let r = env.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,src=/no/such/dir,dst=/x",
        "busybox",
        "true",
    ]);
    assert!(
        r.err
            .contains("bind source path does not exist: /no/such/dir"),
        "{}",
        r.err
    );
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "", "nothing half-made");
    // A create refused late (a taken name) takes its new anonymous volume back; a bad storage
    // option leaves no container.
    env.ok(&["create", "--name", "dup", "busybox", "true"]);
    let r = env.berth(&["create", "--name", "dup", "-v", "/anon", "busybox", "true"]);
    assert!(r.err.contains("is already in use"), "{}", r.err);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
    let r = env.berth(&["create", "--storage-opt", "bogus=1", "busybox", "true"]);
    assert!(r.err.contains("Unknown option bogus"), "{}", r.err);
    assert_eq!(env.ok(&["ps", "-a", "-q"]).lines().count(), 1);
    env.ok(&["rm", "dup"]);
    // Local driver options: a tmpfs of 1 MiB, mounted at first use, unmounted at removal.
    env.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "small",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "small:/t",
        "busybox",
        "sh",
        "-c",
        "df -k /t | tail -1; dd if=/dev/zero of=/t/f bs=1k count=2048 2>&1; true",
    ]);
    assert!(
        out.contains("1024") && out.contains("No space left on device"),
        "{out}"
    );
    env.ok(&["volume", "rm", "small"]);
    // size= (Berth's own): a filesystem of the volume's own; ENOSPC inside, copy-up still works.
    env.ok(&["volume", "create", "--opt", "size=20m", "capped"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "capped:/etc",
        "busybox",
        "sh",
        "-c",
        "test -f /etc/passwd && echo copied; dd if=/dev/zero of=/etc/big bs=1M count=40 2>&1; true",
    ]);
    assert!(
        out.starts_with("copied\n") && out.contains("No space left on device"),
        "{out}"
    );
    let r = env.berth(&["volume", "create", "--opt", "size=1k", "tiny"]);
    assert!(r.err.contains("at least 16m"), "{}", r.err);
    env.ok(&["volume", "rm", "capped"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains("/volumes/small/"), "unmounted at removal");
}

#[test]
fn anonymous_volumes_image_volumes_and_rm_v() {
    let env = Env::new();
    // An image with a VOLUME: its containers get an anonymous volume there, filled from the
    // image.
    env.ok(&[
        "create",
        "--name",
        "base",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data && echo seed > /data/f",
    ]);
    env.ok(&["start", "-a", "base"]);
    env.ok(&["commit", "--change", "VOLUME /data", "base", "withvol"]);
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "withvol",
        "sh",
        "-c",
        "cat /data/f; sleep 100",
    ]);
    let mounts: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "{{json .Mounts}}", "user"]))
            .expect("json");
    let m = &mounts[0];
    assert_eq!(
        (
            m["Type"].as_str(),
            m["Destination"].as_str(),
            m["RW"].as_bool()
        ),
        (Some("volume"), Some("/data"), Some(true))
    );
    let anon = m["Name"].as_str().expect("name").to_owned();
    assert_eq!(anon.len(), 64);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.ok(&["logs", id.trim()]), "seed\n");
    let label = env.ok(&["volume", "inspect", "-f", "{{json .Labels}}", &anon]);
    assert_eq!(label, "{\"com.docker.volume.anonymous\":\"\"}\n");
    // -v /path: another anonymous one; rm -v takes both along, named ones stay.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "two",
        "-v",
        "/scratch",
        "-v",
        "keep:/keep",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).lines().count(), 3);
    env.ok(&["rm", "-f", "-v", "two"]);
    let left = env.ok(&["volume", "ls", "-q"]);
    assert!(
        left.contains("keep") && left.contains(&anon) && left.lines().count() == 2,
        "{left}"
    );
    // --rm removes the anonymous volumes too.
    env.ok(&["run", "--rm", "-v", "/tmpvol", "busybox", "true"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // prune: anonymous unused ones; --all: named too.
    env.ok(&["rm", "-f", "user", "base"]);
    let out = env.ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anon) && !out.contains("keep"), "{out}");
    let out = env.ok(&["volume", "prune", "-f", "--all"]);
    assert!(out.contains("keep"), "{out}");
    // The docker CLI through Berth: same commands, same shapes.
    let d = env.docker(&["volume", "create", "viadocker"]);
    assert_eq!((d.code, d.out.as_str()), (0, "viadocker\n"), "{}", d.err);
    let d = env.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", "viadocker"]);
    assert!(
        d.out.trim().ends_with("/volumes/viadocker/_data"),
        "{}{}",
        d.out,
        d.err
    );
    let d = env.docker(&[
        "run",
        "--rm",
        "-v",
        "viadocker:/v",
        "busybox",
        "sh",
        "-c",
        "echo hi > /v/f",
    ]);
    assert_eq!(d.code, 0, "{}", d.err);
    let d = env.docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert_eq!(d.out, "viadocker\n", "{}", d.err);
    let d = env.docker(&["volume", "rm", "viadocker"]);
    assert_eq!(d.code, 0, "{}", d.err);
}
