//! Thin, safe wrappers over Linux calls the runtime needs and the libraries lack or spell
//! awkwardly: `openat2(RESOLVE_IN_ROOT)` path resolution inside a rootfs, mounting onto a file
//! descriptor, `capset` of all three sets at once, `close_range`, session keyrings.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::error::{Error, Result};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Spec(format!("path {p:?} holds a NUL byte")))
}

/// Open `rel` inside the directory `root` as if `root` were `/`: `..` and symlinks (absolute or
/// not) can never leave it.
pub fn open_in_root(root: RawFd, rel: &Path, flags: i32) -> nix::Result<OwnedFd> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let path = CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: `path` is a valid C string and `how` a valid open_how of the size we pass.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: openat2 returned a new descriptor we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// The `/proc/self/fd/N` path of a descriptor, for calls that only take paths (mount).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The components of `rel` with `.` dropped and `..` applied lexically, never above the root.
fn clamp(rel: &Path) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n.to_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Create directory `rel` (and its parents) inside `root`, resolving every component inside
/// it (a symlink, even a dangling or absolute one, is followed as if `root` were `/`); returns
/// an `O_PATH` descriptor of the directory.
pub fn mkdir_all_in_root(root: RawFd, rel: &Path, mode: u32) -> Result<OwnedFd> {
    mkdir_rec(root, rel, mode, 0)
}

fn mkdir_rec(root: RawFd, rel: &Path, mode: u32, depth: u32) -> Result<OwnedFd> {
    if depth > 40 {
        return Err(Error::Sys {
            ctx: format!("mkdir {}", rel.display()),
            source: Errno::ELOOP,
        });
    }
    let comps = clamp(rel);
    let mut cur = PathBuf::from("/");
    let mut fd =
        open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| Error::Sys {
            ctx: "open rootfs".into(),
            source: e,
        })?;
    for (i, c) in comps.iter().enumerate() {
        let parent_path = cur.clone();
        cur.push(c);
        fd = match open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(f) => f,
            Err(Errno::ENOENT) => {
                let parent = open_in_root(root, &parent_path, libc::O_DIRECTORY).map_err(|e| {
                    Error::Sys {
                        ctx: format!("open {}", parent_path.display()),
                        source: e,
                    }
                })?;
                match nix::sys::stat::mkdirat(
                    &parent,
                    c.as_os_str(),
                    nix::sys::stat::Mode::from_bits_truncate(mode),
                ) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => {
                        // A dangling symlink: create what it points to, inside the root.
                        let target =
                            nix::fcntl::readlinkat(&parent, c.as_os_str()).map_err(|e| {
                                Error::Sys {
                                    ctx: format!("mkdir {}", cur.display()),
                                    source: e,
                                }
                            })?;
                        let target = Path::new(&target);
                        let mut next = if target.is_absolute() {
                            target.to_owned()
                        } else {
                            parent_path.join(target)
                        };
                        for rest in &comps[i + 1..] {
                            next.push(rest);
                        }
                        return mkdir_rec(root, &next, mode, depth + 1);
                    }
                    Err(e) => {
                        return Err(Error::Sys {
                            ctx: format!("mkdir {}", cur.display()),
                            source: e,
                        });
                    }
                }
                open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| {
                    Error::Sys {
                        ctx: format!("open {}", cur.display()),
                        source: e,
                    }
                })?
            }
            Err(e) => {
                return Err(Error::Sys {
                    ctx: format!("open {}", cur.display()),
                    source: e,
                });
            }
        };
    }
    Ok(fd)
}

/// Make sure a file exists at `rel` inside `root` (creating parents); an `O_PATH` descriptor.
pub fn mkfile_in_root(root: RawFd, rel: &Path) -> Result<OwnedFd> {
    if let Ok(fd) = open_in_root(root, rel, libc::O_PATH) {
        return Ok(fd);
    }
    let parent_rel = rel.parent().unwrap_or(Path::new("/"));
    let name = rel
        .file_name()
        .ok_or_else(|| Error::Spec(format!("mount destination {rel:?} has no file name")))?;
    mkdir_all_in_root(root, parent_rel, 0o755)?;
    let parent = open_in_root(root, parent_rel, libc::O_DIRECTORY).map_err(|e| Error::Sys {
        ctx: format!("open {}", parent_rel.display()),
        source: e,
    })?;
    match nix::fcntl::openat(
        &parent,
        name,
        nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(Error::Sys {
                ctx: format!("create {}", rel.display()),
                source: e,
            });
        }
    }
    open_in_root(root, rel, libc::O_PATH).map_err(|e| Error::Sys {
        ctx: format!("open {}", rel.display()),
        source: e,
    })
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

/// Path to C string, exported for the other modules.
pub fn path_cstr(p: &Path) -> Result<CString> {
    cstr(p)
}
