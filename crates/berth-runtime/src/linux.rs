//! Thin, safe wrappers over Linux calls the runtime needs and the libraries lack or spell
//! awkwardly: `openat2(RESOLVE_IN_ROOT)` path resolution inside a rootfs, mounting onto a file
//! descriptor, `capset` of all three sets at once, `close_range`, session keyrings.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::error::{Error, Result};

fn borrow(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: callers pass descriptors they keep open for the duration of the call.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

fn fs_err(e: berth_fs::Error) -> Error {
    Error::Sys {
        ctx: format!("{} {}", e.op, e.path.display()),
        source: e.errno,
    }
}

/// Open `rel` inside the directory `root` as if `root` were `/` (see `berth_fs`).
pub fn open_in_root(root: RawFd, rel: &Path, flags: i32) -> nix::Result<OwnedFd> {
    berth_fs::open_in_root(
        borrow(root),
        rel,
        nix::fcntl::OFlag::from_bits_truncate(flags),
    )
}

/// The `/proc/self/fd/N` path of a descriptor, for calls that only take paths (mount).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Create directory `rel` (and its parents) inside `root`; an `O_PATH` descriptor of it.
pub fn mkdir_all_in_root(root: RawFd, rel: &Path, mode: u32) -> Result<OwnedFd> {
    berth_fs::mkdir_all_in_root(borrow(root), rel, mode, nix::fcntl::OFlag::O_PATH).map_err(fs_err)
}

/// Make sure a file exists at `rel` inside `root` (creating parents); an `O_PATH` descriptor.
pub fn mkfile_in_root(root: RawFd, rel: &Path) -> Result<OwnedFd> {
    berth_fs::mkfile_in_root(borrow(root), rel).map_err(fs_err)
}

/// mount(2) with a target given as a descriptor (so the target resolved safely is the one used).
pub fn mount_on_fd(
    src: Option<&Path>,
    target: &OwnedFd,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(src, &fd_path(target), fstype, flags, data)
}

/// Set the effective, permitted and inheritable capability sets in one `capset` call (the caps
/// crate sets one set per call, and an intermediate state can be refused by the kernel).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        Data {
            effective: lo(effective),
            permitted: lo(permitted),
            inheritable: lo(inheritable),
        },
        Data {
            effective: hi(effective),
            permitted: hi(permitted),
            inheritable: hi(inheritable),
        },
    ];
    // SAFETY: header and a two-element data array as capset(2) v3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    if r != 0 {
        return Err(Error::Sys {
            ctx: "capset".into(),
            source: Errno::last(),
        });
    }
    Ok(())
}

/// Mark every descriptor from `first` up close-on-exec (CVE-2024-21626: nothing of the runtime's
/// leaks into the container).
pub fn cloexec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range only changes descriptor flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r != 0 {
        return Err(Error::Sys {
            ctx: "close_range".into(),
            source: Errno::last(),
        });
    }
    Ok(())
}

/// Join a new anonymous session keyring named `name`, so the container cannot see the host's.
pub fn join_session_keyring(name: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let n = CString::new(name).map_err(|_| Error::Spec("keyring name holds NUL".into()))?;
    // SAFETY: keyctl with a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, n.as_ptr()) };
    // ENOSYS/EACCES: keyrings disabled or restricted (e.g. by a seccomp policy above us).
    if r < 0 && !matches!(Errno::last(), Errno::ENOSYS | Errno::EACCES | Errno::EPERM) {
        return Err(Error::Sys {
            ctx: "join session keyring".into(),
            source: Errno::last(),
        });
    }
    Ok(())
}
