//! User namespaces (`--userns auto`, or the daemon's `default-userns`): each container gets
//! its own range of 65,536 host ids, recorded with it so that no two ranges overlap; root in
//! the container is the range's first id on the host. Images are not copied or chowned: the
//! rootfs's layers are idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP) under the overlay,
//! whose writable layer belongs to the range's root.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Error, Result};

/// Ranges start here (above the ids of the host's own users and of /etc/subuid's usual
/// first range), 65,536 apart.
pub const FIRST: u32 = 200_000;
pub const SIZE: u32 = 65_536;

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
                    "--userns auto: {} is not searchable by others, so the container's root (an unprivileged host id) cannot reach its files; chmod o+x {}",
                    d.display(),
                    d.display()
                )));
            }
        }
        p = d.parent();
    }
    Ok(())
}

/// The lowest free range not in `used` (bases).
pub fn allocate(used: &[u32]) -> Result<u32> {
    let mut base = FIRST;
    loop {
        if !used.iter().any(|u| u.abs_diff(base) < SIZE) {
            return Ok(base);
        }
        base = base
            .checked_add(SIZE)
            .filter(|b| b.checked_add(SIZE).is_some())
            .ok_or_else(|| Error::Conflict("no free user namespace range is left".into()))?;
    }
}

fn sys(ret: libc::c_long, what: &str) -> Result<libc::c_long> {
    if ret < 0 {
        Err(Error::io(what.to_owned(), std::io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

/// A user namespace whose ids 0..SIZE are host ids base..base+SIZE: made by a child that
/// unshares and waits while we write its maps and open its namespace.
fn userns_fd(base: u32) -> Result<OwnedFd> {
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
        let map = format!("0 {base} {SIZE}\n");
        for f in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{pid}/{f}"), &map)
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
    base: u32,
) -> Result<()> {
    unmount(dir);
    let ns = userns_fd(base)?;
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
        let owned = std::fs::metadata(d).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == base
        });
        if !owned {
            std::os::unix::fs::chown(d, Some(base), Some(base))
                .map_err(|e| Error::io(format!("chown {}", d.display()), e))?;
        }
    }
    berth_image::snapshot::mount_overlay(&lower, upper, work, rootfs)
        .inspect_err(|_| unmount(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_never_overlap() {
        assert_eq!(allocate(&[]).unwrap(), FIRST);
        assert_eq!(allocate(&[FIRST]).unwrap(), FIRST + SIZE);
        assert_eq!(allocate(&[FIRST + SIZE]).unwrap(), FIRST);
        assert_eq!(allocate(&[FIRST, FIRST + 2 * SIZE]).unwrap(), FIRST + SIZE);
        assert_eq!(allocate(&[FIRST + 10]).unwrap(), FIRST + 2 * SIZE);
    }
}
