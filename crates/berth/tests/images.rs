//! The image commands through the `berth` binary: docker's output, flags and errors; save/load
//! and import round trips; push/pull/login against a real registry on 127.0.0.1, and Docker Hub
//! names through a registry mirror.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use berth_testkit::{Daemon, Registry, tar_of};

/// A test's directory and one daemon per named store (started on first use).
struct Env {
    daemons: std::cell::RefCell<std::collections::HashMap<String, Daemon>>,
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
            .prefix("berth-images-")
            .tempdir()
            .expect("tempdir");
        let archive = xtask::busybox_image(dir.path()).expect("busybox image");
        std::fs::write(dir.path().join("busybox.tar"), archive).expect("write");
        std::fs::create_dir_all(dir.path().join("docker-config")).expect("config dir");
        Env {
            daemons: Default::default(),
            dir,
        }
    }

    /// The daemon serving the store `root` (its socket).
    fn daemon(&self, root: &str) -> String {
        let mut d = self.daemons.borrow_mut();
        d.entry(root.to_owned())
            .or_insert_with(|| {
                Daemon::start_host_network(
                    std::path::Path::new(env!("CARGO_BIN_EXE_berth")),
                    &self.path(&format!("daemon-{root}")),
                    &self.path("daemon.json"),
                )
            })
            .host()
    }

    fn image_root(&self, root: &str) -> PathBuf {
        self.daemon(root);
        self.path(&format!("daemon-{root}/data/image"))
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `berth ARGS` with the data root `root` (a directory name inside the test's dir).
    fn berth_in(&self, root: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("BERTH_HOST", self.daemon(root))
            .env("PATH", path)
            .env("DOCKER_CONFIG", self.path("docker-config"))
            .current_dir(self.dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let o: Output = match stdin {
            Some(input) => {
                c.stdin(Stdio::piped());
                let mut child = c.spawn().expect("berth");
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(input.as_bytes())
                    .expect("stdin");
                child.wait_with_output().expect("berth")
            }
            None => c.stdin(Stdio::null()).output().expect("berth"),
        };
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: o
                .status
                .code()
                .unwrap_or(-100 - o.status.signal().unwrap_or(0)),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn berth(&self, args: &[&str]) -> Run {
        self.berth_in("root", args, None)
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.out, r.err);
        r.out
    }
}

fn id_of(env: &Env, root: &str, name: &str) -> String {
    let r = env.berth_in(root, &["image", "inspect", "-f", "{{.Id}}", name], None);
    assert_eq!(r.code, 0, "{}", r.err);
    r.out.trim().to_owned()
}

#[test]
fn image_commands_print_what_docker_prints() {
    let env = Env::new();
    let out = env.ok(&["load", "-i", "busybox.tar"]);
    assert_eq!(
        out,
        "Loaded image: busybox:latest\nLoaded image: alpine:latest\nLoaded image: alpine:3.10\n"
    );
    let id = id_of(&env, "root", "busybox");
    let short = &id["sha256:".len()..][..12];
    let out = env.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE"
    );
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("busybox      latest    ")
                && l.contains(&format!("   {short}   "))
                && l.ends_with("MB")),
        "{out}"
    );
    assert_eq!(env.ok(&["images", "-q"]), format!("{short}\n"));
    assert_eq!(
        env.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "-f",
            "reference=alp*"
        ]),
        "alpine:3.10\nalpine:latest\n"
    );
    assert_eq!(
        env.ok(&[
            "images",
            "--format",
            "table {{.Repository}}\\t{{.Tag}}",
            "alpine:3.*"
        ]),
        "REPOSITORY   TAG\nalpine       3.10\n"
    );
    assert_eq!(env.ok(&["images", "-f", "dangling=true", "-q"]), "");
    env.ok(&["tag", "busybox", "example.com/team/bb:v1"]);
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.RepoTags}} {{json .Config.Cmd}} {{len .RootFS.Layers}}",
            short
        ]),
        "[alpine:3.10 alpine:latest busybox:latest example.com/team/bb:v1] [\"sh\"] 1\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "busybox"])).expect("inspect JSON");
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Os"], "linux");
    assert!(v[0]["Config"]["Entrypoint"].is_null() && v[0]["RepoDigests"].is_array());
    let out = env.ok(&["history", "busybox"]);
    assert!(
        out.starts_with("IMAGE          CREATED        CREATED BY ")
            && out.contains(short)
            && out.contains("cargo xtask images"),
        "{out}"
    );

    // rmi: a tag goes, the image stays while other tags name it; by id it needs -f.
    assert_eq!(env.ok(&["rmi", "alpine:3.10"]), "Untagged: alpine:3.10\n");
    let r = env.berth(&["rmi", short]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .starts_with("Error response from daemon: conflict: unable to delete")
            && r.err.contains("must be forced"),
        "{}",
        r.err
    );
    let r = env.berth(&["rmi", "nope", "-f", short]);
    assert_eq!(r.code, 1, "one name failed");
    assert_eq!(
        r.err,
        "Error response from daemon: No such image: nope:latest\n"
    );
    assert!(
        r.out.contains("Untagged: busybox:latest") && r.out.contains(&format!("Deleted: {id}")),
        "{}",
        r.out
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
    // Nothing is left behind once the image is gone.
    let images = berth_image::images::Images::open(&env.image_root("root")).expect("open");
    assert!(images.store().list().is_empty(), "blobs collected");
    assert!(images.check().expect("check").is_empty());
}

#[test]
fn bad_input_gets_one_line_and_a_non_zero_exit() {
    let env = Env::new();
    let r = env.berth(&["image", "inspect", "nope"]);
    assert_eq!(
        (r.code, r.out.as_str(), r.err.as_str()),
        (1, "[]\n", "Error: No such image: nope\n")
    );
    let r = env.berth(&["tag", "nope", "x:y"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (
            1,
            "Error response from daemon: No such image: nope:latest\n"
        )
    );
    let r = env.berth(&["pull", "UPPER/Case"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.starts_with("Error: invalid reference format"),
        "{}",
        r.err
    );
    let r = env.berth(&["images", "--bogus"]);
    assert_eq!(r.code, 125, "usage errors exit 125 as docker's do");
    let r = env.berth(&["images", "-f", "colour=red"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "Error response from daemon: invalid filter 'colour'\n")
    );
    // A truncated archive: an error naming the problem, nothing recorded, the store consistent.
    let full = std::fs::read(env.path("busybox.tar")).expect("archive");
    std::fs::write(env.path("cut.tar"), &full[..full.len() / 2]).expect("cut");
    let r = env.berth(&["load", "-i", "cut.tar"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert_eq!(env.ok(&["images", "-q"]), "");
    // The docker CLI reads a failed load as dockerd sends it: an error message inside the
    // 200 stream (an HTTP error there reads as a malformed stream), one line, exit 1.
    let o = Command::new("/usr/local/bin/docker")
        .env("DOCKER_HOST", env.daemon("root"))
        .args(["load", "-i"])
        .arg(env.path("cut.tar"))
        .output()
        .expect("docker load");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("Extra data"), "{err}");
    let sock = env.daemon("root");
    let o = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--data-binary"])
        .arg(format!("@{}", env.path("cut.tar").display()))
        .args(["--unix-socket", sock.trim_start_matches("unix://")])
        .arg("http://berth/v1.51/images/load")
        .output()
        .expect("curl");
    let answer = String::from_utf8_lossy(&o.stdout);
    assert!(
        answer.ends_with("\n200") && answer.contains("\"errorDetail\""),
        "{answer}"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
    let images = berth_image::images::Images::open(&env.image_root("root")).expect("open");
    assert!(images.check().expect("check").is_empty());
    let r = env.berth(&["load", "-i", "missing.tar"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("missing.tar"), "{}", r.err);
}

#[test]
fn save_load_and_import_round_trip() {
    let env = Env::new();
    env.ok(&["load", "-i", "busybox.tar"]);
    let id = id_of(&env, "root", "busybox");
    env.ok(&["save", "-o", "docker.tar", "busybox"]);
    env.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        "oci.tar",
        "alpine:3.10",
    ]);
    for (root, file, name) in [
        ("a", "docker.tar", "busybox:latest"),
        ("b", "oci.tar", "alpine:3.10"),
    ] {
        let r = env.berth_in(root, &["load", "-i", file], None);
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(r.out, format!("Loaded image: {name}\n"));
        assert_eq!(id_of(&env, root, name), id, "same image id through {file}");
    }
    // From stdin too.
    let tar = std::fs::read(env.path("docker.tar")).expect("archive");
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", env.daemon("c"))
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("berth load");
    use std::io::Write;
    c.stdin
        .take()
        .expect("stdin")
        .write_all(&tar)
        .expect("write");
    let o = c.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert_eq!(id_of(&env, "c", "busybox"), id);

    // import: a rootfs tarball with changes.
    std::fs::write(
        env.path("rootfs.tar"),
        tar_of(&[("etc/motd", b"hello\n"), ("bin/tool", b"#!/bin/sh\n")]),
    )
    .expect("rootfs");
    let out = env.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/tool\", \"x\"]",
        "--change",
        "ENV A=b C=\"d e\"",
        "-c",
        "WORKDIR /srv",
        "-c",
        "EXPOSE 80",
        "-m",
        "from a test",
        "rootfs.tar",
        "imported:v1",
    ]);
    assert!(out.starts_with("sha256:") && out.len() == 72, "{out}");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{json .Config.Cmd}} {{.Config.Env}} {{.Config.WorkingDir}} {{.Config.ExposedPorts}} {{.Comment}}", "imported:v1"]),
        "[\"/bin/tool\",\"x\"] [A=b C=d e] /srv map[80/tcp:map[]] from a test\n"
    );
    let r = env.berth(&["import", "-c", "FROB x", "rootfs.tar"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("FROB is not a valid change command"),
        "{}",
        r.err
    );
    let r = env.berth(&["save", "-o", "never.tar", "nope"]);
    assert_eq!(r.code, 1);
    assert!(
        !env.path("never.tar").exists(),
        "no archive for a failed save"
    );
}

#[test]
fn push_pull_and_login_through_a_real_registry() {
    let env = Env::new();
    let reg = Registry::start(&env.path("registry"), Some(("bob", "hunter2")));
    env.ok(&["load", "-i", "busybox.tar"]);
    let name = format!("{}/team/busybox:v1", reg.host());
    env.ok(&["tag", "busybox", &name]);
    let r = env.berth(&["push", &name]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("unauthorized") && r.err.lines().count() == 1,
        "{}",
        r.err
    );
    let r = env.berth_in(
        "root",
        &["login", "-u", "bob", "--password-stdin", &reg.host()],
        Some("wrong\n"),
    );
    assert_eq!(r.code, 1);
    assert!(r.err.contains("401"), "{}", r.err);
    assert!(
        !env.path("docker-config/config.json").exists(),
        "nothing stored"
    );
    let r = env.berth_in(
        "root",
        &["login", "-u", "bob", "--password-stdin", &reg.host()],
        Some("hunter2\n"),
    );
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "Login Succeeded\n"),
        "{}",
        r.err
    );
    let cfg = std::fs::read_to_string(env.path("docker-config/config.json")).expect("config");
    assert!(cfg.contains(&reg.host()), "{cfg}");

    let out = env.ok(&["push", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "The push refers to repository [{}/team/busybox]",
            reg.host()
        )
    );
    assert!(out.contains(": Pushed"), "{out}");
    let last = lines.last().expect("digest line");
    assert!(
        last.starts_with("v1: digest: sha256:") && last.contains(" size: "),
        "{out}"
    );
    let digest = last.split_whitespace().nth(2).expect("digest").to_owned();

    // A fresh root pulls the same image and the same digest.
    let r = env.berth_in("fresh", &["pull", &name], None);
    assert_eq!(r.code, 0, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from team/busybox");
    assert!(r.out.contains("Pull complete"), "{}", r.out);
    assert!(
        lines.contains(&format!("Digest: {digest}").as_str()),
        "{}",
        r.out
    );
    assert!(lines.contains(&format!("Status: Downloaded newer image for {name}").as_str()));
    assert_eq!(lines.last(), Some(&name.as_str()));
    assert_eq!(id_of(&env, "fresh", &name), id_of(&env, "root", "busybox"));
    let r = env.berth_in(
        "fresh",
        &["images", "--digests", "--format", "{{.Digest}}"],
        None,
    );
    assert_eq!(r.out, format!("{digest}\n"));
    let r = env.berth_in("fresh", &["pull", "-q", &name], None);
    assert_eq!(r.out, format!("{name}\n"));
    let r = env.berth_in("fresh", &["pull", &name], None);
    assert!(
        r.out
            .contains(&format!("Status: Image is up to date for {name}")),
        "{}",
        r.out
    );
    let r = env.berth_in(
        "fresh",
        &["pull", &format!("{}/team/busybox:nope", reg.host())],
        None,
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err,
        format!(
            "Error response from daemon: manifest for {}/team/busybox:nope not found: manifest unknown\n",
            reg.host()
        )
    );

    assert_eq!(
        env.ok(&["logout", &reg.host()]),
        format!("Removing login credentials for {}\n", reg.host())
    );
    assert_eq!(
        env.ok(&["logout", &reg.host()]),
        format!("Not logged in to {}\n", reg.host())
    );
    let r = env.berth_in("other", &["pull", &name], None);
    assert_eq!(r.code, 1, "credentials are gone");
    assert!(r.err.contains("unauthorized"), "{}", r.err);

    let r = env.berth(&["push", &format!("{}/never/tagged:x", reg.host())]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .contains("An image does not exist locally with the tag"),
        "{}",
        r.err
    );
    let port = berth_testkit::free_port();
    let r = env.berth(&["pull", &format!("127.0.0.1:{port}/x:y")]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("onnection refused") && r.err.lines().count() == 1,
        "{}",
        r.err
    );
}

#[test]
fn docker_hub_names_are_pulled_through_a_mirror() {
    let env = Env::new();
    let mirror = Registry::start(&env.path("mirror"), None);
    env.ok(&["load", "-i", "busybox.tar"]);
    let in_mirror = format!("{}/library/busybox:latest", mirror.host());
    env.ok(&["tag", "busybox", &in_mirror]);
    env.ok(&["push", &in_mirror]);
    std::fs::write(
        env.path("daemon.json"),
        format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, mirror.host()),
    )
    .expect("daemon.json");
    let r = env.berth_in("fresh", &["pull", "busybox"], None);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.starts_with("Using default tag: latest\n"),
        "{}",
        r.out
    );
    assert_eq!(
        r.out.lines().last(),
        Some("docker.io/library/busybox:latest")
    );
    assert_eq!(
        id_of(&env, "fresh", "busybox"),
        id_of(&env, "root", "busybox")
    );
}

#[test]
fn credential_helpers_store_get_and_erase() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let reg = Registry::start(&env.path("registry"), Some(("carol", "pa55")));
    // A credential helper speaking Docker's protocol, keeping one secret in a file.
    std::fs::create_dir_all(env.path("bin")).expect("bin");
    let helper = env.path("bin/docker-credential-berthtest");
    let store = env.path("helper-store.json");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n store) cat > {s} ;;\n get) [ -f {s} ] && cat {s} || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n erase) rm -f {s} ;;\nesac\n",
            s = store.display()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        env.path("docker-config/config.json"),
        r#"{"credsStore": "berthtest"}"#,
    )
    .expect("config");
    let r = env.berth_in(
        "root",
        &["login", "-u", "carol", "--password-stdin", &reg.host()],
        Some("pa55"),
    );
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "Login Succeeded\n"),
        "{}",
        r.err
    );
    let stored = std::fs::read_to_string(&store).expect("the helper stored the secret");
    assert!(
        stored.contains("\"Secret\":\"pa55\"") && stored.contains("carol"),
        "{stored}"
    );
    let cfg = std::fs::read_to_string(env.path("docker-config/config.json")).expect("config");
    assert!(
        !cfg.contains("pa55") && !cfg.contains("auths"),
        "no secret in config.json: {cfg}"
    );
    env.ok(&["load", "-i", "busybox.tar"]);
    let name = format!("{}/helped:v1", reg.host());
    env.ok(&["tag", "busybox", &name]);
    env.ok(&["push", &name]);
    env.ok(&["logout", &reg.host()]);
    assert!(!store.exists(), "logout erased the secret");
    let r = env.berth_in("fresh", &["pull", &name], None);
    assert_eq!(r.code, 1, "no credentials left: {}", r.out);
}
