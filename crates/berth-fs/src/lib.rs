//! Files inside a root directory — a container's rootfs, an image layer being unpacked — are
//! opened and created here, always resolved with `openat2(RESOLVE_IN_ROOT)`: `..`, absolute
//! paths and symlinks (absolute, relative, dangling) behave as if the root were `/`, so no path
//! can lead out of it. Shared by the runtime (mount targets) and the image unpacker (layer
//! entries).

use std::ffi::OsString;
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// A failed operation on `path` (relative to the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub op: &'static str,
    pub path: PathBuf,
    pub errno: Errno,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.op,
            self.path.display(),
            self.errno.desc()
        )
    }
}

impl std::error::Error for Error {}

fn err(op: &'static str, path: &Path, errno: Errno) -> Error {
    Error {
        op,
        path: path.to_owned(),
        errno,
    }
}

/// Open `rel` inside `root` as if `root` were `/`.
pub fn open_in_root(root: impl AsFd, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        match nix::fcntl::openat2(root.as_fd(), rel, how) {
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// The normal components of `rel` with `.` dropped and `..` applied lexically, never above the
/// root.
pub fn clamp(rel: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
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

/// Create directory `rel` and its parents inside `root` (a dangling symlink on the way is
/// followed, inside the root, and its target created); returns the directory opened with
/// `flags | O_DIRECTORY`.
pub fn mkdir_all_in_root(
    root: impl AsFd,
    rel: &Path,
    mode: u32,
    flags: OFlag,
) -> Result<OwnedFd, Error> {
    mkdir_rec(root.as_fd(), rel, mode, flags | OFlag::O_DIRECTORY, 0)
}

fn mkdir_rec(
    root: std::os::fd::BorrowedFd,
    rel: &Path,
    mode: u32,
    flags: OFlag,
    depth: u32,
) -> Result<OwnedFd, Error> {
    if depth > 40 {
        return Err(err("mkdir", rel, Errno::ELOOP));
    }
    let comps = clamp(rel);
    let mut cur = PathBuf::from("/");
    for (i, c) in comps.iter().enumerate() {
        let parent = cur.clone();
        cur.push(c);
        match open_in_root(root, &cur, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(_) => continue,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(err("open", &cur, e)),
        }
        let pfd = open_in_root(root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| err("open", &parent, e))?;
        match nix::sys::stat::mkdirat(&pfd, c.as_os_str(), Mode::from_bits_truncate(mode)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                // Something exists but does not open as a directory: a dangling symlink is
                // followed (inside the root); anything else is not a directory.
                let target = nix::fcntl::readlinkat(&pfd, c.as_os_str())
                    .map_err(|_| err("mkdir", &cur, Errno::ENOTDIR))?;
                let target = Path::new(&target);
                let mut next = if target.is_absolute() {
                    target.to_owned()
                } else {
                    parent.join(target)
                };
                for rest in &comps[i + 1..] {
                    next.push(rest);
                }
                return mkdir_rec(root, &next, mode, flags, depth + 1);
            }
            Err(e) => return Err(err("mkdir", &cur, e)),
        }
    }
    open_in_root(root, &cur, flags).map_err(|e| err("open", &cur, e))
}

/// Make sure a file exists at `rel` inside `root` (creating its parents); an `O_PATH`
/// descriptor of it.
pub fn mkfile_in_root(root: impl AsFd, rel: &Path) -> Result<OwnedFd, Error> {
    let root = root.as_fd();
    if let Ok(fd) = open_in_root(root, rel, OFlag::O_PATH) {
        return Ok(fd);
    }
    let name = rel
        .file_name()
        .ok_or_else(|| err("create", rel, Errno::EINVAL))?;
    let parent = mkdir_all_in_root(
        root,
        rel.parent().unwrap_or(Path::new("/")),
        0o755,
        OFlag::O_PATH,
    )?;
    match nix::fcntl::openat(
        &parent,
        name,
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(err("create", rel, e)),
    }
    open_in_root(root, rel, OFlag::O_PATH).map_err(|e| err("open", rel, e))
}

/// Create `name` in `dir` as a new regular file (write-only, never through a link). When
/// something is there, `clear` removes it and the create is tried once more: most entries are
/// new, so the common case is one system call (no removal first).
pub fn create_new(
    dir: impl AsFd,
    name: &std::ffi::OsStr,
    clear: impl FnOnce(),
) -> nix::Result<OwnedFd> {
    let create = || {
        nix::fcntl::openat(
            dir.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
    };
    match create() {
        Err(nix::errno::Errno::EEXIST) => {
            clear();
            create()
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_resolves_outside_the_root() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&outside).expect("outside");
        std::os::unix::fs::symlink(&outside, root.join("abs")).expect("symlink");
        std::os::unix::fs::symlink("../../../../outside", root.join("rel")).expect("symlink");
        let r = std::fs::File::open(&root).expect("open root");
        for p in ["abs/x/y", "rel/x", "../../outside/z", "/abs/w"] {
            mkdir_all_in_root(&r, Path::new(p), 0o755, OFlag::O_PATH).expect(p);
        }
        mkfile_in_root(&r, Path::new("abs/file")).expect("file");
        assert_eq!(
            std::fs::read_dir(&outside).expect("outside").count(),
            0,
            "nothing created outside"
        );
        let inside = root.join(outside.strip_prefix("/").expect("abs"));
        assert!(
            inside.join("x/y").is_dir()
                && inside.join("w").is_dir()
                && inside.join("file").is_file()
        );
        assert!(root.join("outside/x").is_dir() && root.join("outside/z").is_dir());
    }

    #[test]
    fn loops_and_files_in_the_way_are_errors() {
        let t = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("loop", t.path().join("loop")).expect("symlink");
        std::fs::write(t.path().join("file"), "").expect("file");
        let r = std::fs::File::open(t.path()).expect("open");
        assert_eq!(
            mkdir_all_in_root(&r, Path::new("loop/x"), 0o755, OFlag::O_PATH)
                .map_err(|e| e.errno)
                .err(),
            Some(Errno::ELOOP)
        );
        assert!(mkdir_all_in_root(&r, Path::new("file/x"), 0o755, OFlag::O_PATH).is_err());
    }
}
