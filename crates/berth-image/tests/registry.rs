//! Pull and push against a real registry (Debian's `docker-registry`) on 127.0.0.1: round trips
//! with identical digests, skipped and mounted blobs, manifest lists and platforms, credentials,
//! errors, and a pull killed with SIGKILL in the middle.

use std::path::Path;
use std::sync::Mutex;

use berth_image::Digest;
use berth_image::archive::load;
use berth_image::images::Images;
use berth_image::reference::Reference;
use berth_image::registry::{
    Credentials, Progress, PullOptions, PushOptions, Settings, check_login, pull, push,
};
use berth_testkit::{Registry, gzip, noise, tar_of, throttled_proxy};
use serde_json::json;

/// Records what a pull or push reported.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Progress for Log {
    fn update(&self, id: &str, status: &str, _: Option<(u64, u64)>) {
        self.0.lock().expect("log").push(format!("{id}: {status}"));
    }
    fn line(&self, text: &str) {
        self.0.lock().expect("log").push(text.to_owned());
    }
}

impl Log {
    fn has(&self, s: &str) -> bool {
        self.0.lock().expect("log").iter().any(|l| l.contains(s))
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A two-layer image (one plain, one gzip layer of `big` incompressible bytes) loaded into
/// `root` and tagged `tag`.
fn image(root: &Path, tag: &str, big: usize) -> (Images, berth_image::images::Image) {
    let l1 = tar_of(&[("bin/hello", b"hello"), ("etc/os-release", b"ID=test\n")]);
    let l2 = tar_of(&[("data/blob", &noise(big, 7))]);
    let diff_ids = [Digest::of(&l1).to_string(), Digest::of(&l2).to_string()];
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .expect("config");
    let manifest =
        json!([{"Config": "c.json", "RepoTags": [tag], "Layers": ["1/layer.tar", "2/layer.tar"]}]);
    let archive = tar_of(&[
        ("c.json", &config),
        ("1/layer.tar", &l1),
        ("2/layer.tar", &gzip(&l2)),
        (
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("json"),
        ),
    ]);
    let images = Images::open(root).expect("open");
    let img = load(&images, archive.as_slice()).expect("load").remove(0);
    (images, img)
}

fn r(s: &str) -> Reference {
    Reference::parse(s).expect("reference")
}

#[test]
fn push_then_pull_on_a_fresh_root_gives_identical_digests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::start(&dir.path().join("registry"), None);
    let name = format!("{}/team/app:v1", reg.host());
    let (a, img) = image(&dir.path().join("a"), &name, 1 << 20);
    let rt = rt();

    let log = Log::default();
    let pushed = rt
        .block_on(push(&a, &r(&name), &PushOptions::default(), &log))
        .expect("push");
    assert!(log.has("Pushed"), "{:?}", log.0);
    assert!(log.has(&format!("v1: digest: {}", pushed.digest)));

    // Fresh root: same config (image id), layers and manifest digest.
    let b = Images::open(&dir.path().join("b")).expect("open b");
    let log = Log::default();
    let pulled = rt
        .block_on(pull(&b, &r(&name), &PullOptions::default(), &log))
        .expect("pull");
    assert_eq!(pulled.image.id, img.id);
    assert_eq!(pulled.digest, pushed.digest);
    assert!(pulled.new);
    assert!(log.has("Pull complete") && log.has("v1: Pulling from team/app"));
    assert_eq!(
        pulled.image.repo_digests,
        vec![format!("{}/team/app@{}", reg.host(), pushed.digest)]
    );
    assert_eq!(pulled.image.chain_ids, img.chain_ids);
    let top = Digest::parse(pulled.image.chain_ids.last().expect("layer")).expect("digest");
    assert_eq!(
        std::fs::read(b.layers().path(&top).join("data/blob")).expect("content"),
        noise(1 << 20, 7)
    );
    assert!(b.check().expect("check").is_empty());

    // Again: nothing new. By digest: the same image.
    let log = Log::default();
    let again = rt
        .block_on(pull(&b, &r(&name), &PullOptions::default(), &log))
        .expect("pull again");
    assert!(!again.new);
    assert!(log.has("Already exists"));
    let by_digest = format!("{}/team/app@{}", reg.host(), pushed.digest);
    let d = rt
        .block_on(pull(
            &b,
            &r(&by_digest),
            &PullOptions::default(),
            &Log::default(),
        ))
        .expect("pull by digest");
    assert_eq!(d.image.id, img.id);

    // Push again: the registry has everything. To another repository: blobs are mounted.
    let log = Log::default();
    let again = rt
        .block_on(push(&a, &r(&name), &PushOptions::default(), &log))
        .expect("push again");
    assert_eq!(again.digest, pushed.digest, "pushes are reproducible");
    assert!(
        log.has("Layer already exists") && !log.has("Pushed"),
        "{:?}",
        log.0
    );
    let other = format!("{}/other/app:v2", reg.host());
    a.tag(&name, &r(&other)).expect("tag");
    let log = Log::default();
    let p2 = rt
        .block_on(push(&a, &r(&other), &PushOptions::default(), &log))
        .expect("push other");
    assert_eq!(p2.digest, pushed.digest);
    assert!(log.has("Mounted from team/app"), "{:?}", log.0);
}

#[test]
fn manifest_lists_resolve_to_the_platform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::start(&dir.path().join("registry"), None);
    let name = format!("{}/multi:one", reg.host());
    let (a, img) = image(&dir.path().join("a"), &name, 4096);
    let rt = rt();
    let pushed = rt
        .block_on(push(
            &a,
            &r(&name),
            &PushOptions::default(),
            &Log::default(),
        ))
        .expect("push");
    // A manifest list: amd64 is the image pushed; "arm64" points at it too (its config says
    // amd64, which a pull for arm64 must notice).
    let size = a.store().read(&pushed.digest).expect("manifest").len();
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": size,
             "digest": pushed.digest.to_string(), "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": size,
             "digest": pushed.digest.to_string(), "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    }))
    .expect("list");
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.docker.distribution.manifest.list.v2+json")
        .arg("--data-binary")
        .arg(format!("@{}", {
            let p = dir.path().join("list.json");
            std::fs::write(&p, &list).expect("write list");
            p.display().to_string()
        }))
        .arg(format!("http://{}/v2/multi/manifests/list", reg.host()))
        .status()
        .expect("curl");
    assert!(status.success(), "PUT manifest list");
    let b = Images::open(&dir.path().join("b")).expect("open");
    let listed = format!("{}/multi:list", reg.host());
    let pulled = rt
        .block_on(pull(
            &b,
            &r(&listed),
            &PullOptions::default(),
            &Log::default(),
        ))
        .expect("pull list");
    assert_eq!(pulled.image.id, img.id);
    assert_eq!(
        pulled.digest,
        Digest::of(&list),
        "the list's digest is the repo digest"
    );
    let opts = PullOptions {
        platform: Some(berth_image::registry::Platform::parse("linux/arm64").expect("platform")),
        ..Default::default()
    };
    let e = rt
        .block_on(pull(&b, &r(&listed), &opts, &Log::default()))
        .expect_err("config says amd64");
    assert!(
        e.to_string()
            .contains("does not match the specified platform"),
        "{e}"
    );
    let opts = PullOptions {
        platform: Some(berth_image::registry::Platform::parse("linux/s390x").expect("platform")),
        ..Default::default()
    };
    let e = rt
        .block_on(pull(&b, &r(&listed), &opts, &Log::default()))
        .expect_err("no s390x");
    assert_eq!(
        e.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
}

#[test]
fn credentials_are_required_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::start(&dir.path().join("registry"), Some(("alice", "s3cret")));
    let name = format!("{}/private:v1", reg.host());
    let (a, _) = image(&dir.path().join("a"), &name, 4096);
    let rt = rt();
    let settings = Settings::default();
    let e = rt
        .block_on(push(
            &a,
            &r(&name),
            &PushOptions::default(),
            &Log::default(),
        ))
        .expect_err("anonymous push");
    assert!(e.to_string().contains("unauthorized"), "{e}");
    let wrong = Credentials::Basic("alice".into(), "nope".into());
    let e = rt
        .block_on(check_login(&settings, &reg.host(), "alice", "nope"))
        .expect_err("wrong password");
    assert!(
        e.to_string()
            .contains("failed with status: 401 Unauthorized"),
        "{e}"
    );
    rt.block_on(check_login(&settings, &reg.host(), "alice", "s3cret"))
        .expect("login");
    let e = rt
        .block_on(push(
            &a,
            &r(&name),
            &PushOptions {
                credentials: wrong.clone(),
                ..Default::default()
            },
            &Log::default(),
        ))
        .expect_err("wrong credentials");
    assert!(e.to_string().contains("unauthorized"), "{e}");
    let good = Credentials::Basic("alice".into(), "s3cret".into());
    rt.block_on(push(
        &a,
        &r(&name),
        &PushOptions {
            credentials: good.clone(),
            ..Default::default()
        },
        &Log::default(),
    ))
    .expect("push with credentials");
    let b = Images::open(&dir.path().join("b")).expect("open");
    let e = rt
        .block_on(pull(
            &b,
            &r(&name),
            &PullOptions {
                credentials: wrong,
                ..Default::default()
            },
            &Log::default(),
        ))
        .expect_err("pull with wrong credentials");
    assert!(e.to_string().contains("unauthorized"), "{e}");
    assert!(b.list().expect("list").is_empty());
    rt.block_on(pull(
        &b,
        &r(&name),
        &PullOptions {
            credentials: good,
            ..Default::default()
        },
        &Log::default(),
    ))
    .expect("pull with credentials");
}

#[test]
fn bad_pulls_fail_with_one_clear_line_and_leave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::start(&dir.path().join("registry"), None);
    let b = Images::open(&dir.path().join("b")).expect("open");
    let rt = rt();
    let unknown = format!("{}/nothing:here", reg.host());
    let e = rt
        .block_on(pull(
            &b,
            &r(&unknown),
            &PullOptions::default(),
            &Log::default(),
        ))
        .expect_err("unknown");
    assert_eq!(
        e.to_string(),
        format!("manifest for {unknown} not found: manifest unknown")
    );
    let closed = format!("127.0.0.1:{}/x:y", berth_testkit::free_port());
    let e = rt
        .block_on(pull(
            &b,
            &r(&closed),
            &PullOptions::default(),
            &Log::default(),
        ))
        .expect_err("unreachable");
    assert!(e.to_string().contains("onnection refused"), "{e}");
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    // A digest that is not the manifest's.
    let name = format!("{}/team/app:v1", reg.host());
    let (a, _) = image(&dir.path().join("a"), &name, 4096);
    rt.block_on(push(
        &a,
        &r(&name),
        &PushOptions::default(),
        &Log::default(),
    ))
    .expect("push");
    let bogus = format!("{}/team/app@{}", reg.host(), Digest::of(b"bogus"));
    assert!(
        rt.block_on(pull(
            &b,
            &r(&bogus),
            &PullOptions::default(),
            &Log::default()
        ))
        .is_err()
    );
    assert!(b.list().expect("list").is_empty());
    assert!(b.check().expect("check").is_empty());
}

#[test]
fn killed_mid_pull_leaves_a_consistent_store_and_a_retry_completes() {
    // The child: re-executed test binary that only pulls, until it is killed.
    if let (Ok(root), Ok(name)) = (
        std::env::var("BERTH_PULL_ROOT"),
        std::env::var("BERTH_PULL_REF"),
    ) {
        let images = Images::open(Path::new(&root)).expect("open");
        let _ = rt().block_on(pull(
            &images,
            &r(&name),
            &PullOptions::default(),
            &Log::default(),
        ));
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::start(&dir.path().join("registry"), None);
    let name = format!("{}/big:v1", reg.host());
    let (a, img) = image(&dir.path().join("a"), &name, 8 << 20);
    let rt = rt();
    rt.block_on(push(
        &a,
        &r(&name),
        &PushOptions::default(),
        &Log::default(),
    ))
    .expect("push");
    // Through a proxy at 8 MiB/s the pull takes about a second: kill it at several points.
    let slow = throttled_proxy(reg.port, 8 << 20);
    let slow_name = format!("127.0.0.1:{slow}/big:v1");
    let root = dir.path().join("b");
    let exe = std::env::current_exe().expect("test binary");
    let mut interrupted_downloads = 0;
    for delay_ms in [20u64, 150, 400, 800] {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "killed_mid_pull_leaves_a_consistent_store_and_a_retry_completes",
                "--nocapture",
            ])
            .env("BERTH_PULL_ROOT", &root)
            .env("BERTH_PULL_REF", &slow_name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn puller");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if std::fs::read_dir(root.join("ingest")).is_ok_and(|d| d.count() > 0) {
            interrupted_downloads += 1;
        }
        let images = Images::open(&root).expect("reopen");
        assert_eq!(
            images.check().expect("check"),
            Vec::<String>::new(),
            "consistent after a kill at {delay_ms} ms"
        );
        assert_eq!(
            std::fs::read_dir(root.join("ingest"))
                .expect("ingest")
                .count(),
            0,
            "partial downloads of dead pullers are removed on open"
        );
    }
    assert!(
        interrupted_downloads > 0,
        "no kill hit a download in progress"
    );
    let images = Images::open(&root).expect("reopen");
    let pulled = rt
        .block_on(pull(
            &images,
            &r(&slow_name),
            &PullOptions::default(),
            &Log::default(),
        ))
        .expect("retry completes");
    assert_eq!(pulled.image.id, img.id);
    assert!(images.check().expect("check").is_empty());
}
