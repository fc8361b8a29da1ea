//! Development tasks shared by `cargo xtask` and the test suites: building test bundles offline
//! from Debian's `busybox-static` (no registry is reachable from CI).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Make `dir` a minimal busybox root filesystem: the static binary, one symlink per applet,
/// /etc/passwd and /etc/group, and empty mount points.
pub fn busybox_rootfs(dir: &Path) -> Result<()> {
    let bb = Path::new(BUSYBOX);
    if !bb.exists() {
        bail!(
            "{BUSYBOX} not found: install Debian's busybox-static (apt-get install -y busybox-static)"
        );
    }
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("create {}", bin.display()))?;
    std::fs::copy(bb, bin.join("busybox")).context("copy busybox")?;
    let out = std::process::Command::new(bb)
        .arg("--list")
        .output()
        .context("busybox --list")?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet == "busybox" || applet.is_empty() {
            continue;
        }
        let link = bin.join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link)
                .with_context(|| format!("symlink {}", link.display()))?;
        }
    }
    for d in ["proc", "sys", "dev", "etc", "tmp", "root", "mnt", "var"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )?;
    Ok(())
}

/// Make `dir` an OCI bundle: a busybox rootfs and `config` as config.json.
pub fn bundle(dir: &Path, config: &str) -> Result<PathBuf> {
    busybox_rootfs(&dir.join("rootfs"))?;
    std::fs::write(dir.join("config.json"), config)?;
    Ok(dir.to_owned())
}

/// A `docker save`-format archive of a busybox image (tags: busybox:latest, alpine:latest,
/// alpine:3.10 — names client test suites expect), built offline from busybox-static.
pub fn busybox_image(work: &Path) -> Result<Vec<u8>> {
    let rootfs = work.join("busybox-rootfs");
    busybox_rootfs(&rootfs)?;
    let layer = berth_image::archive::tar_dir(&rootfs)?;
    let _ = std::fs::remove_dir_all(&rootfs);
    let diff_id = berth_image::Digest::of(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"]
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cargo xtask images (Debian busybox-static)"}]
    });
    let config = serde_json::to_vec(&config)?;
    let mut out = Vec::new();
    berth_image::archive::write_docker_archive(
        &mut out,
        &[berth_image::archive::ArchiveImage {
            config: &config,
            layers: vec![&layer],
            tags: ["busybox:latest", "alpine:latest", "alpine:3.10"]
                .map(String::from)
                .to_vec(),
        }],
    )?;
    Ok(out)
}

/// A `docker save`-format archive of a minimal Debian 12 image (`mmdebstrap --variant=minbase`
/// from the host's apt sources), its one layer gzip-compressed; tagged debian:bookworm,
/// debian:12 and debian:latest. Written to `out`; returns (archive, compressed layer) paths.
pub fn debian_image(work: &Path, out: &Path) -> Result<(PathBuf, PathBuf)> {
    use sha2::Digest as _;
    use std::io::{Read, Write};
    std::fs::create_dir_all(work)?;
    let raw = work.join("debian-rootfs.tar");
    let status = std::process::Command::new("mmdebstrap")
        .args(["--variant=minbase", "--mode=root", "--quiet", "bookworm"])
        .arg(&raw)
        .status()
        .context("run mmdebstrap (apt-get install mmdebstrap)")?;
    if !status.success() {
        anyhow::bail!("mmdebstrap failed: {status}");
    }
    // gzip the layer while hashing its uncompressed content (the diff id).
    let gz_path = work.join("debian-layer.tar.gz");
    let mut src = std::fs::File::open(&raw)?;
    let mut enc = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(std::fs::File::create(&gz_path)?),
        flate2::Compression::default(),
    );
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        enc.write_all(&buf[..n])?;
    }
    enc.finish()?.flush()?;
    std::fs::remove_file(&raw)?;
    let diff_id = format!("sha256:{:x}", h.finalize());
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["bash"]
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "cargo xtask images (mmdebstrap --variant=minbase bookworm)"}]
    }))?;
    let config_hex = format!("{:x}", sha2::Sha256::digest(&config));
    let layer_name = format!("{}/layer.tar", diff_id.trim_start_matches("sha256:"));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": ["debian:bookworm", "debian:12", "debian:latest"],
        "Layers": [layer_name],
    }]))?;
    std::fs::create_dir_all(out)?;
    let archive = out.join("debian.tar");
    let mut b = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(&archive)?));
    let mut add = |name: &str, data: &mut dyn Read, len: u64| -> Result<()> {
        let mut hd = tar::Header::new_gnu();
        hd.set_path(name)?;
        hd.set_size(len);
        hd.set_mode(0o644);
        hd.set_cksum();
        b.append(&hd, data)?;
        Ok(())
    };
    add(
        &format!("{config_hex}.json"),
        &mut config.as_slice(),
        config.len() as u64,
    )?;
    let len = std::fs::metadata(&gz_path)?.len();
    add(&layer_name, &mut std::fs::File::open(&gz_path)?, len)?;
    add(
        "manifest.json",
        &mut manifest.as_slice(),
        manifest.len() as u64,
    )?;
    b.into_inner()?.flush()?;
    let layer = out.join("debian-layer.tar.gz");
    std::fs::rename(&gz_path, &layer)?;
    Ok((archive, layer))
}
