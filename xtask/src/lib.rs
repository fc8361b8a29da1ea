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
