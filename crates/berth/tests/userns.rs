//! User namespaces (issue 17), through the docker CLI where it can say it: `--userns auto`
//! (and the daemon's `default-userns`), explicit ranges, dockerd's `userns-remap`, idmapped
//! layers and named volumes, and ranges that may never overlap.

mod common;

use std::os::unix::fs::MetadataExt;

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

/// A test directory the containers' roots (unprivileged host ids) may pass through.
fn searchable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The first line of a container's /proc/self/uid_map: (container id, host id, size).
fn uid_map(env: &Env, id: &str) -> (u32, u32, u32) {
    let out = env.docker(&["exec", id, "cat", "/proc/self/uid_map"]).out;
    let n: Vec<u32> = out
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().expect("a number"))
        .collect();
    (n[0], n[1], n[2])
}

/// `docker run -d busybox sleep 60` with `flags`: the container's id.
fn sleeper(env: &Env, flags: &[&str]) -> String {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sleep", "60"]);
    let r = env.docker(&args);
    assert_eq!(r.code, 0, "docker {args:?}: {}", r.err);
    r.out.trim().to_owned()
}

#[test]
fn user_namespaces_map_root_to_a_range_of_its_own() {
    let env = Env::start("berth-userns-", r#"{"default-userns": "auto"}"#);
    // A directory the first range's root may write, and a file only host root may read.
    let shared = env.dir.path().join("shared");
    std::fs::create_dir_all(&shared).expect("dir");
    std::os::unix::fs::chown(&shared, Some(200_000), Some(200_000)).expect("chown");
    let secret = env.dir.path().join("secret");
    std::fs::write(&secret, "host root only").expect("secret");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // A directory above the data root that others cannot search keeps the range's root from
    // reaching its files: refused with what to do, nothing made.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let r = env.docker(&["run", "--rm", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.err.contains("is not searchable by others") && r.err.contains("chmod o+x"),
        "{}",
        r.err
    );
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let bind = format!("{}:/data", shared.display());
    let sec = format!("{}:/secret", secret.display());
    // The daemon's default (`default-userns: auto`) holds for the docker CLI's containers.
    let out = inside(
        &env,
        &["-v", &bind, "-v", &sec],
        "id -u; cat /proc/self/uid_map; touch /data/made && echo wrote; \
         cat /secret 2>/dev/null || echo secret-denied; echo x > /etc/x && echo rootfs-writable; \
         stat -c %u /bin/busybox",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {out}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map[0], "0");
    let base: u32 = map[1].parse().expect("host id");
    assert_eq!(map[2], "65536");
    assert!(base >= 200_000, "{out}");
    assert!(
        out.contains("wrote") && out.contains("secret-denied") && out.contains("rootfs-writable"),
        "{out}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("0"),
        "the image's files are root's inside: {out}"
    );
    let made = std::fs::metadata(shared.join("made")).expect("made");
    assert_eq!(made.uid(), base, "the container's root is host id {base}");
    // Ranges never overlap: two running containers, two ranges.
    let a = env
        .docker(&["run", "-d", "busybox", "sleep", "60"])
        .out
        .trim()
        .to_owned();
    let b = env
        .docker(&["run", "-d", "busybox", "sleep", "60"])
        .out
        .trim()
        .to_owned();
    let (ra, rb) = (uid_map(&env, &a).1, uid_map(&env, &b).1);
    assert!(ra.abs_diff(rb) >= 65536, "{ra} and {rb} overlap");
    // `--userns host` opts out; the image is never copied or chowned.
    let r = env.berth(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("4294967295"), "the host's map: {}", r.out);
    let r = env.berth(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        "--privileged",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.err.contains("incompatible with user namespaces"),
        "{}",
        r.err
    );
}

#[test]
fn named_volumes_are_idmapped_and_ranges_are_chosen_or_refused() {
    let env = Env::start("berth-usernsvol-", r#"{"default-userns": "auto"}"#);
    searchable(env.dir.path());
    // A named volume keeps unshifted ids on disk: root's file is 0's on the host, and a
    // container of another range reads and writes it as its root.
    inside(&env, &["-v", "shared:/data"], "echo one > /data/f");
    let vol = env.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "shared"]);
    let f = std::path::Path::new(vol.trim()).join("f");
    assert_eq!(
        std::fs::metadata(&f).expect("f").uid(),
        0,
        "unshifted on disk"
    );
    let a = sleeper(&env, &["-v", "shared:/data"]);
    let out = env.docker(&[
        "exec",
        &a,
        "sh",
        "-c",
        "stat -c %u /data/f; echo two >> /data/f && cat /data/f",
    ]);
    assert_eq!(out.out, "0\none\ntwo\n", "{}", out.err);
    // Copy-up from the (idmapped) image: the volume gets the image's owners, unshifted.
    inside(&env, &["-v", "bins:/bin"], "true");
    let vol = env.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "bins"]);
    let bb = std::path::Path::new(vol.trim()).join("busybox");
    assert_eq!(std::fs::metadata(&bb).expect("busybox").uid(), 0);
    assert_eq!(
        inside(&env, &["-v", "bins:/bin"], "stat -c %u:%g /bin/busybox").trim(),
        "0:0"
    );

    // `auto:size=N` and an explicit range (Berth's CLI: the docker CLI knows only host).
    let (_, ra, _) = uid_map(&env, &a);
    let r = env.berth(&[
        "run",
        "--rm",
        "--userns",
        "auto:size=1024",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let n: Vec<&str> = r.out.split_whitespace().collect();
    assert_eq!(n[2], "1024", "{}", r.out);
    let free = (ra + 10 * 65536).to_string();
    let map = format!("0:{free}:65536");
    let r = env.berth(&[
        "run",
        "--rm",
        "--uidmap",
        &map,
        "busybox",
        "cat",
        "/proc/self/uid_map",
        "/proc/self/gid_map",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        r.out.split_whitespace().collect::<Vec<_>>(),
        ["0", &free, "65536", "0", &free, "65536"]
    );

    // Bad input: a range that overlaps a container's, one with host root, nonsense; nothing
    // is created.
    let count = || env.ok(&["ps", "-aq"]).lines().count();
    let before = count();
    let overlap = format!("map:0:{}:100", ra + 50);
    for (flags, want) in [
        (vec!["--userns", overlap.as_str()], "overlaps container "),
        (vec!["--uidmap", "0:0:65536"], "maps host root"),
        (vec!["--userns", "auto:size=x"], "not a positive number"),
        (
            vec!["--userns", "keep-id"],
            "invalid user namespace mode: keep-id",
        ),
        (
            vec!["--userns", "auto", "--uidmap", "0:300000:10"],
            "cannot both be given",
        ),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&["busybox", "true"]);
        let r = env.berth(&args);
        assert_eq!(r.code, 125, "{flags:?}: {}", r.out);
        assert!(r.err.contains(want), "{flags:?}: {}", r.err);
    }
    assert_eq!(count(), before, "nothing was created");
}

#[test]
fn userns_remap_maps_every_container_to_the_subordinate_ids() {
    // The host's /etc/subuid is not touched: the daemon reads (and adds to) files of the test.
    let env = Env::start_in(
        "berth-remap-",
        r#"{"userns-remap": "default"}"#,
        |_| {},
        |dir| {
            searchable(dir);
            std::fs::write(dir.join("subuid"), "alice:100000:65536\n").expect("subuid");
            vec![
                (
                    "BERTH_SUBUID_FILE".into(),
                    dir.join("subuid").display().to_string(),
                ),
                (
                    "BERTH_SUBGID_FILE".into(),
                    dir.join("subgid").display().to_string(),
                ),
            ]
        },
    );
    // dockerd's `default`: dockremap's range, added where none was.
    for f in ["subuid", "subgid"] {
        let text = std::fs::read_to_string(env.dir.path().join(f)).expect(f);
        assert!(text.contains("dockremap:165536:65536"), "{f}: {text}");
    }
    let info = env.docker(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.out.contains("name=userns"), "{}", info.out);
    // Every container shares the one range (dockerd's remap).
    let a = sleeper(&env, &[]);
    let b = sleeper(&env, &[]);
    assert_eq!(uid_map(&env, &a), (0, 165_536, 65_536));
    assert_eq!(uid_map(&env, &b), (0, 165_536, 65_536));
    assert_eq!(inside(&env, &[], "id -u").trim(), "0");
    // `--userns host` opts out; privileged needs it.
    assert!(inside(&env, &["--userns", "host"], "cat /proc/self/uid_map").contains("4294967295"));
    let r = env.docker(&["run", "--rm", "--privileged", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.err
            .contains("privileged mode is incompatible with user namespaces"),
        "{}",
        r.err
    );
    // An auto range stays clear of the remap range.
    let r = env.berth(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let base: u32 = r
        .out
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .expect("base");
    assert!(base >= 165_536 + 65_536, "{base} overlaps the remap range");
    let r = env.berth(&[
        "run",
        "--rm",
        "--userns",
        "map:0:170000:10",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.err.contains("overlaps the daemon's userns-remap"),
        "{}",
        r.err
    );
}

#[test]
fn bad_userns_remap_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("subuid"), "alice:100000:65536\n").expect("subuid");
    std::fs::write(dir.path().join("subgid"), "alice:100000:65536\n").expect("subgid");
    for (config, want) in [
        (
            r#"{"userns-remap": "nosuchuser-berth"}"#,
            "no such user: nosuchuser-berth",
        ),
        // root exists but has no subordinate ids here.
        (r#"{"userns-remap": "root"}"#, "no subordinate uid ranges"),
        (r#"{"userns-remap": ":x"}"#, "invalid userns-remap"),
        (
            r#"{"userns-remap": "default", "default-userns": "auto"}"#,
            "cannot both be set",
        ),
    ] {
        let (uid, gid) = (dir.path().join("subuid"), dir.path().join("subgid"));
        common::daemon_refuses(
            dir.path(),
            config,
            want,
            &[
                ("BERTH_SUBUID_FILE", uid.to_str().expect("path")),
                ("BERTH_SUBGID_FILE", gid.to_str().expect("path")),
            ],
        );
    }
}
