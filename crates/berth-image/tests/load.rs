//! `load` of docker-save and OCI-layout archives built here: images, tags and unpacked layers
//! appear; a layer that does not match the config's diff_ids is refused with nothing recorded.

use berth_image::Digest;
use berth_image::archive::load;
use berth_image::images::Images;
use berth_image::snapshot::chain_ids;
use berth_testkit::{gzip, noise, tar_of as layer};
use serde_json::json;

fn archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    layer(
        &files
            .iter()
            .map(|(n, d)| (*n, d.as_slice()))
            .collect::<Vec<_>>(),
    )
}

struct Fixture {
    l1: Vec<u8>,
    l2_gz: Vec<u8>,
    config: Vec<u8>,
    diff_ids: Vec<Digest>,
}

fn fixture() -> Fixture {
    let l1 = layer(&[("bin/hello", b"hello"), ("etc/os-release", b"ID=test\n")]);
    let l2 = layer(&[("etc/os-release", b"ID=changed\n"), (".wh.bin", b"")]);
    let diff_ids = vec![Digest::of(&l1), Digest::of(&l2)];
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}
    }))
    .expect("config");
    Fixture {
        l1,
        l2_gz: gzip(&l2),
        config,
        diff_ids,
    }
}

fn docker_archive(f: &Fixture, tags: &[&str]) -> Vec<u8> {
    let manifest = json!([{"Config": "config.json", "RepoTags": tags, "Layers": ["l1/layer.tar", "l2/layer.tar"]}]);
    archive(&[
        ("config.json", f.config.clone()),
        ("l1/layer.tar", f.l1.clone()),
        ("l2/layer.tar", f.l2_gz.clone()),
        (
            "manifest.json",
            serde_json::to_vec(&manifest).expect("json"),
        ),
    ])
}

#[test]
fn docker_archive_loads_with_tags_and_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = Images::open(dir.path()).expect("open");
    let f = fixture();
    let loaded = load(
        &images,
        &docker_archive(&f, &["busybox:latest", "alpine:3.10"])[..],
    )
    .expect("load");
    assert_eq!(loaded.len(), 1);
    let img = &loaded[0];
    assert_eq!(img.id, Digest::of(&f.config).to_string());
    assert_eq!(img.tags, vec!["busybox:latest", "alpine:3.10"]);
    assert_eq!(images.resolve("busybox").expect("resolve").id, img.id);
    assert_eq!(
        images
            .resolve("docker.io/library/alpine:3.10")
            .expect("resolve")
            .id,
        img.id
    );
    assert_eq!(
        images
            .resolve(&img.id["sha256:".len()..][..12])
            .expect("short id")
            .id,
        img.id
    );
    assert!(images.resolve("nope").is_err());
    let chains = chain_ids(&f.diff_ids);
    let top = images.layers().path(&chains[1]);
    assert_eq!(
        std::fs::read(top.join("etc/os-release")).expect("layer 2"),
        b"ID=changed\n"
    );
    assert_eq!(
        std::fs::read(images.layers().path(&chains[0]).join("bin/hello")).expect("layer 1"),
        b"hello"
    );
    // Loading again is idempotent: the same image, layers not unpacked twice.
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&top).expect("meta").ino();
    load(&images, &docker_archive(&f, &["busybox:latest"])[..]).expect("reload");
    assert_eq!(std::fs::metadata(&top).expect("meta").ino(), ino);
    assert_eq!(images.list().expect("list").len(), 1);
    assert!(images.store().verify().expect("verify").is_empty());
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = Images::open(dir.path()).expect("open");
    let mut f = fixture();
    f.l1 = layer(&[("bin/hello", b"tampered")]);
    let e = load(&images, &docker_archive(&f, &["evil:latest"])[..]).expect_err("tampered layer");
    assert!(e.to_string().contains("diff_id"), "{e}");
    assert!(images.list().expect("list").is_empty(), "nothing recorded");
    let chains = chain_ids(&f.diff_ids);
    assert!(
        !images.layers().has(&chains[0]),
        "the bad layer is not committed"
    );
    // Verified layers unpacked in parallel may remain; nothing refers to them.
    images.gc().expect("gc");
    assert_eq!(
        std::fs::read_dir(dir.path().join("layers"))
            .expect("layers")
            .count(),
        0,
        "nothing left after gc"
    );
}

#[test]
fn oci_layout_archive_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = Images::open(dir.path()).expect("open");
    let f = fixture();
    let blob = |d: &[u8]| (format!("blobs/sha256/{}", Digest::of(d).hex()), d.to_vec());
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(&f.config).to_string(), "size": f.config.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::of(&f.l1).to_string(), "size": f.l1.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(&f.l2_gz).to_string(), "size": f.l2_gz.len()}
        ]
    }))
    .expect("manifest");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::of(&manifest).to_string(), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": "localhost:5000/app:v1"}}]
    }))
    .expect("index");
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        blob(&f.config),
        blob(&f.l1),
        blob(&f.l2_gz),
        blob(&manifest),
        ("index.json".into(), index),
    ];
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let loaded = load(&images, &gzip(&archive(&refs))[..]).expect("load");
    assert_eq!(loaded[0].tags, vec!["localhost:5000/app:v1"]);
    assert_eq!(loaded[0].id, Digest::of(&f.config).to_string());
    // A blob whose content does not match its name is refused.
    let mut bad = refs.clone();
    bad[2].1 = b"not the layer".to_vec();
    let dir2 = tempfile::tempdir().expect("tempdir");
    let images2 = Images::open(dir2.path()).expect("open");
    assert!(load(&images2, &archive(&bad)[..]).is_err());
    assert!(images2.list().expect("list").is_empty());
}

#[test]
fn written_docker_archives_load_back_with_identical_digests() {
    let f = fixture();
    let l2 = {
        let mut d = flate2::read::GzDecoder::new(&f.l2_gz[..]);
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut v).expect("gunzip");
        v
    };
    let mut out = Vec::new();
    berth_image::archive::write_docker_archive(
        &mut out,
        &[berth_image::archive::ArchiveImage {
            config: &f.config,
            layers: vec![&f.l1, &l2],
            tags: vec!["busybox:latest".into(), "alpine:3.10".into()],
        }],
    )
    .expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let images = Images::open(dir.path()).expect("open");
    let loaded = load(&images, &out[..]).expect("load");
    assert_eq!(loaded[0].id, Digest::of(&f.config).to_string());
    assert_eq!(
        loaded[0].chain_ids,
        chain_ids(&f.diff_ids)
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(loaded[0].tags, vec!["busybox:latest", "alpine:3.10"]);
}

#[test]
fn killed_mid_load_leaves_a_consistent_store_and_a_retry_completes() {
    // The child: re-executed test binary that only loads, until it is killed.
    if let (Ok(root), Ok(file)) = (
        std::env::var("BERTH_LOAD_ROOT"),
        std::env::var("BERTH_LOAD_FILE"),
    ) {
        let images = Images::open(std::path::Path::new(&root)).expect("open");
        let _ = load(&images, std::fs::File::open(file).expect("archive"));
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut layers = Vec::new();
    for i in 0..6 {
        let data = noise(6 << 20, i + 1);
        layers.push(layer(&[(&format!("data{i}"), &data)]));
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})).expect("config");
    let mut files: Vec<(String, Vec<u8>)> = vec![("config.json".into(), config.clone())];
    for (i, l) in layers.iter().enumerate() {
        files.push((format!("l{i}/layer.tar"), l.clone()));
    }
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(
            &json!([{"Config": "config.json", "RepoTags": ["big:latest"], "Layers": names}]),
        )
        .expect("manifest"),
    ));
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let archive_path = dir.path().join("big.tar");
    std::fs::write(&archive_path, archive(&refs)).expect("archive");
    let root = dir.path().join("root");
    let exe = std::env::current_exe().expect("test binary");
    for delay_ms in [5u64, 60, 300, 900, 1800] {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "killed_mid_load_leaves_a_consistent_store_and_a_retry_completes",
                "--nocapture",
            ])
            .env("BERTH_LOAD_ROOT", &root)
            .env("BERTH_LOAD_FILE", &archive_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn loader");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Reopening cleans interrupted work; what is visible must be consistent.
        let images = Images::open(&root).expect("reopen");
        assert!(
            images.store().verify().expect("verify").is_empty(),
            "no corrupt blob after kill at {delay_ms} ms"
        );
        for img in images.list().expect("list") {
            for c in &img.chain_ids {
                assert!(
                    images
                        .layers()
                        .path(&Digest::parse(c).expect("digest"))
                        .is_dir(),
                    "recorded image with a missing layer"
                );
            }
        }
        let tmp = std::fs::read_dir(root.join("layers"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(tmp, 0, "half-unpacked layers are removed on open");
    }
    let images = Images::open(&root).expect("reopen");
    let loaded = load(
        &images,
        std::fs::File::open(&archive_path).expect("archive"),
    )
    .expect("retry completes");
    assert_eq!(loaded[0].tags, vec!["big:latest"]);
    let top = Digest::parse(loaded[0].chain_ids.last().expect("layer")).expect("digest");
    assert!(images.layers().path(&top).join("data5").is_file());
    assert!(images.store().verify().expect("verify").is_empty());
}

#[test]
fn a_container_rootfs_is_an_overlay_of_the_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = Images::open(&dir.path().join("images")).expect("open");
    let f = fixture();
    let img = load(&images, &docker_archive(&f, &["t:1"])[..])
        .expect("load")
        .remove(0);
    let chains: Vec<Digest> = img
        .chain_ids
        .iter()
        .map(|c| Digest::parse(c).expect("digest"))
        .collect();
    let c = dir.path().join("container");
    let rootfs = c.join("rootfs");
    berth_image::snapshot::mount_rootfs(
        images.layers(),
        &chains,
        &c.join("upper"),
        &c.join("work"),
        &rootfs,
    )
    .expect("mount");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _u = Unmount(rootfs.clone());
    assert_eq!(
        std::fs::read(rootfs.join("etc/os-release")).expect("top layer wins"),
        b"ID=changed\n"
    );
    assert!(
        !rootfs.join("bin").exists(),
        "the whiteout hides the lower layer's bin/"
    );
    std::fs::write(rootfs.join("new"), b"x").expect("write");
    assert!(
        c.join("upper/new").is_file(),
        "writes land in the container's upper dir"
    );
    let lower = images.layers().path(&chains[0]);
    assert!(
        !lower.join("new").exists() && lower.join("bin/hello").is_file(),
        "layers are untouched"
    );
}
