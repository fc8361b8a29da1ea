//! Disk quotas on any host filesystem: a fixed-size ext4 image per container writable layer
//! (`--storage-opt size=`) or volume (`--opt size=`), loop-mounted. `mkfs.ext4` (e2fsprogs)
//! makes the filesystem — the one external program on this path, named in the error when
//! missing; the loop device is attached with the kernel's ioctls.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::IoContext;
use crate::{Error, Result};

/// A fixed-size ext4 image for the container's writable layer, mounted at `quota/`, with
/// `upper` and `work` pointing into it.
pub(crate) fn make_quota_fs(dir: &Path, bytes: u64) -> Result<()> {
    make_sized_fs(&dir.join("quota.img"), bytes)?;
    ensure_quota_mounted(dir)?;
    for d in ["quota/upper", "quota/work"] {
        std::fs::create_dir_all(dir.join(d)).ctx(|| format!("create {d}"))?;
    }
    std::os::unix::fs::symlink("quota/upper", dir.join("upper")).ctx(|| "link upper".into())?;
    std::os::unix::fs::symlink("quota/work", dir.join("work")).ctx(|| "link work".into())?;
    Ok(())
}

/// A filesystem of exactly `bytes` in the file `img`.
pub(crate) fn make_sized_fs(img: &Path, bytes: u64) -> Result<()> {
    let f = std::fs::File::create(img).ctx(|| format!("create {}", img.display()))?;
    f.set_len(bytes).ctx(|| format!("size {}", img.display()))?;
    drop(f);
    let out = std::process::Command::new("mkfs.ext4")
        .args([
            "-q",
            "-F",
            "-m",
            "0",
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
        ])
        .arg(img)
        .output()
        .map_err(|e| {
            Error::Internal(format!(
                "size limits need mkfs.ext4 (apt-get install e2fsprogs): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Internal(format!(
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Mount the container's quota filesystem if it has one and it is not mounted (after a host
/// reboot, or the first time).
pub(crate) fn ensure_quota_mounted(dir: &Path) -> Result<()> {
    let img = dir.join("quota.img");
    if !img.exists() {
        return Ok(());
    }
    mount_image(&img, &dir.join("quota"))
}

/// Loop-mount the filesystem image `img` on `mnt` unless something is mounted there already.
pub(crate) fn mount_image(img: &Path, mnt: &Path) -> Result<()> {
    std::fs::create_dir_all(mnt).ctx(|| format!("create {}", mnt.display()))?;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    if dev(mnt) != mnt.parent().and_then(dev) {
        return Ok(());
    }
    // The device stays open until mounted: autoclear would detach it at its last close.
    let (loopdev, _open) = attach_loop(img)?;
    let r = nix::mount::mount(
        Some(loopdev.as_path()),
        mnt,
        Some("ext4"),
        nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOSUID,
        None::<&str>,
    );
    // The device was attached with autoclear: it goes with its last user (the mount, or
    // now, if the mount failed and our descriptor closes).
    r.map_err(|e| Error::Internal(format!("mount {} on {}: {e}", img.display(), mnt.display())))
}

/// `struct loop_info64` of linux/loop.h.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` of linux/loop.h (LOOP_CONFIGURE, Linux 5.8).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// A free loop device bound to `img` (auto-cleared when unused). Hand-written against the
/// kernel's ABI: the loop crates generate their bindings with bindgen, which needs libclang.
fn attach_loop(img: &Path) -> Result<(std::path::PathBuf, std::fs::File)> {
    let backing = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .ctx(|| format!("open {}", img.display()))?;
    let ctl = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .ctx(|| "open /dev/loop-control".into())?;
    // Another process may take the free device between the two calls: try again.
    for _ in 0..16 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            return Err(Error::io(
                "find a free loop device",
                std::io::Error::last_os_error(),
            ));
        }
        let path = std::path::PathBuf::from(format!("/dev/loop{n}"));
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        // SAFETY: an all-zero loop_config is a valid value of this plain-data struct.
        let mut cfg: LoopConfig = unsafe { std::mem::zeroed() };
        cfg.fd = backing.as_raw_fd() as u32;
        cfg.info.flags = LO_FLAGS_AUTOCLEAR;
        // SAFETY: LOOP_CONFIGURE reads a loop_config that lives across the call.
        let r = unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CONFIGURE, &cfg as *const LoopConfig) };
        if r == 0 {
            return Ok((path, dev));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(Error::io(
                format!("attach {} to {}", img.display(), path.display()),
                e,
            ));
        }
    }
    Err(Error::Internal(format!(
        "no free loop device for {}",
        img.display()
    )))
}
