//! User namespaces' mounts (the ranges are [`super::idmap`]'s business). Images are not
//! copied or chowned: the rootfs's layers are idmapped mounts (mount_setattr
//! MOUNT_ATTR_IDMAP) under the overlay, whose writable layer belongs to the range's root;
//! named volumes are idmapped the same way, so they keep unshifted ids on disk.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::idmap::IdMaps;
use crate::{Error, Result};

/// Held while a range is chosen and recorded.
pub static ALLOCATING: Mutex<()> = Mutex::new(());

/// The container's root (a host id of its range) must be able to reach its root filesystem:
/// every directory above the container's must be searchable by others.
pub fn check_reachable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut p = dir.parent();
    while let Some(d) = p {
        if let Ok(m) = std::fs::metadata(d) {
            if m.permissions().mode() & 0o001 == 0 {
                return Err(Error::InvalidParameter(format!(
                    "a container with a user namespace cannot reach its files: {} is not searchable by others (the container's root is an unprivileged host id); chmod o+x {}",
                    d.display(),
                    d.display()
                )));
            }
        }
        p = d.parent();
    }
    Ok(())
}

fn sys(ret: libc::c_long, what: &str) -> Result<libc::c_long> {
    if ret < 0 {
        Err(Error::io(what.to_owned(), std::io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

/// A user namespace with the maps `maps`: made by a child that unshares and waits while we
/// write its maps and open its namespace.
fn userns_fd(maps: &IdMaps) -> Result<OwnedFd> {
    let (ready_r, ready_w) = nix::unistd::pipe().map_err(|e| Error::io("pipe", e.into()))?;
    let (done_r, done_w) = nix::unistd::pipe().map_err(|e| Error::io("pipe", e.into()))?;
    // SAFETY: the child only calls async-signal-safe functions (unshare, write, read, _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io("fork", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: plain syscalls on descriptors we hold; the child never returns.
        unsafe {
            // Our copies of the parent's ends: `done` must see EOF when the parent closes its.
            libc::close(done_w.as_raw_fd());
            libc::close(ready_r.as_raw_fd());
            let ok = libc::unshare(libc::CLONE_NEWUSER) == 0;
            let b = [u8::from(ok)];
            libc::write(ready_w.as_raw_fd(), b.as_ptr().cast(), 1);
            let mut x = [0u8; 1];
            libc::read(done_r.as_raw_fd(), x.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    drop(ready_w);
    drop(done_r);
    let mut b = [0u8; 1];
    let got = nix::unistd::read(&ready_r, &mut b).unwrap_or(0);
    let res = (|| {
        if got != 1 || b[0] != 1 {
            return Err(Error::Internal("could not make a user namespace".into()));
        }
        for (f, m) in [("uid_map", &maps.uids), ("gid_map", &maps.gids)] {
            std::fs::write(format!("/proc/{pid}/{f}"), IdMaps::lines(m))
                .map_err(|e| Error::io(format!("write {f} of a user namespace"), e))?;
        }
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))
            .map_err(|e| Error::io("open a user namespace", e))?;
        Ok(OwnedFd::from(f))
    })();
    drop(done_w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    res
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// Mount `src` at `dst` (made if missing) as seen through the user namespace `ns`.
fn idmapped(src: &Path, dst: &Path, ns: &OwnedFd) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| Error::io(format!("create {}", dst.display()), e))?;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Internal(format!("{} holds a NUL byte", p.display())))
    };
    let (csrc, cdst) = (c(src)?, c(dst)?);
    // SAFETY: open_tree with a NUL-terminated path; the result is a descriptor we own.
    let tree = sys(
        unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                csrc.as_ptr(),
                (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
            )
        },
        &format!("open_tree {}", src.display()),
    )?;
    // SAFETY: open_tree returned a new descriptor.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: ns.as_raw_fd() as u64,
    };
    let empty = c"";
    sys(
        // SAFETY: mount_setattr reads `attr` (of the size given) and the empty path.
        unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_EMPTY_PATH as libc::c_uint,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        },
        &format!("idmap {}", src.display()),
    )?;
    sys(
        // SAFETY: move_mount of our detached tree onto a NUL-terminated path.
        unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                cdst.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH as libc::c_uint,
            )
        },
        &format!("mount {}", dst.display()),
    )?;
    Ok(())
}

/// Unmount what [`mount_rootfs`] mounted under `dir/idmapped`.
pub fn unmount(dir: &Path) {
    let d = dir.join("idmapped");
    if let Ok(entries) = std::fs::read_dir(&d) {
        for e in entries.flatten() {
            let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// The container's root filesystem for a user namespace starting at `base`: each layer an
/// idmapped mount under `dir/idmapped`, the overlay over them, the writable layer owned by
/// the range's root.
pub fn mount_rootfs(
    layers: &[PathBuf],
    dir: &Path,
    upper: &Path,
    work: &Path,
    rootfs: &Path,
    maps: &IdMaps,
) -> Result<()> {
    unmount(dir);
    let ns = userns_fd(maps)?;
    let mut lower = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let dst = dir.join("idmapped").join(format!("l{i}"));
        if let Err(e) = idmapped(l, &dst, &ns) {
            unmount(dir);
            return Err(e);
        }
        lower.push(dst);
    }
    for d in [upper, work] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(format!("create {}", d.display()), e))?;
        let (uid, gid) = maps.root();
        let owned = std::fs::metadata(d).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == uid && m.gid() == gid
        });
        if !owned {
            std::os::unix::fs::chown(d, Some(uid), Some(gid))
                .map_err(|e| Error::io(format!("chown {}", d.display()), e))?;
        }
    }
    berth_image::snapshot::mount_overlay(&lower, upper, work, rootfs)
        .inspect_err(|_| unmount(dir))?;
    Ok(())
}

/// A volume's directory `src` as the container's user namespace sees it, mounted at
/// `dir/idmapped/NAME` for the runtime to bind: the volume keeps unshifted ids on disk (root's
/// files are 0's), so containers of any range share it.
pub fn idmap_volume(dir: &Path, name: &str, src: &Path, maps: &IdMaps) -> Result<PathBuf> {
    let ns = userns_fd(maps)?;
    let dst = dir.join("idmapped").join(name);
    let _ = nix::mount::umount2(&dst, nix::mount::MntFlags::MNT_DETACH);
    idmapped(src, &dst, &ns)?;
    Ok(dst)
}
