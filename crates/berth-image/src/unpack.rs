//! Unpacking a layer tarball (gzip, zstd or plain) into a directory, safely.
//!
//! Every entry is created relative to a descriptor of its parent directory, and that parent is
//! opened with `openat2(RESOLVE_IN_ROOT)` from the layer directory: `..`, absolute paths and
//! symlinks — absolute or relative, planted by an earlier entry — are all resolved as if the layer
//! directory were `/`, so nothing can be created or linked outside it. Paths containing `..` are
//! refused outright; leading `/` is dropped (Docker's convention). Hard links must name an entry
//! inside the layer. OCI whiteouts become overlayfs whiteouts (`.wh.x` → a 0:0 character device
//! `x`; `.wh..wh..opq` → `trusted.overlay.opaque=y`), and `trusted.overlay.*` xattrs carried by
//! the archive itself are dropped so an image cannot steer the overlay.

use std::ffi::{CString, OsStr};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use tar::EntryType;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, Result, io};

/// Longest path accepted in a layer (the kernel's PATH_MAX).
pub const MAX_PATH: usize = 4096;

/// What an unpack did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

/// Compression of a layer blob, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// `r` decompressed, whatever its compression (detected from its first bytes).
pub fn decompressed<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(1 << 16, r);
    let head = io(br.fill_buf(), || "read compressed stream".into())?;
    Ok(match detect(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(io(zstd::stream::read::Decoder::with_buffer(br), || {
            "zstd".into()
        })?),
        Compression::None => Box::new(br),
    })
}

/// Unpack the layer `r` into the existing directory `dest`.
pub fn unpack(r: impl Read, dest: &Path) -> Result<Stats> {
    unpack_tar(decompressed(r)?, dest)
}

/// Unpack the layer `r` into `dest` in one pass while hashing its uncompressed content, which
/// must have the digest `diff_id` (else [`Error::DigestMismatch`]; the caller discards `dest`).
pub fn unpack_verified(r: impl Read, dest: &Path, diff_id: &Digest) -> Result<Stats> {
    let mut hr = HashingReader {
        inner: decompressed(r)?,
        hash: Sha256::new(),
    };
    let stats = unpack_tar(&mut hr, dest)?;
    // The tar reader stops at the end-of-archive blocks; the digest covers everything.
    io(std::io::copy(&mut hr, &mut std::io::sink()), || {
        "read layer".into()
    })?;
    let got = Digest::from_hasher(hr.hash);
    if got != *diff_id {
        return Err(Error::DigestMismatch {
            expected: format!("layer diff_id {diff_id}"),
            actual: got.to_string(),
        });
    }
    Ok(stats)
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn unpack_tar(reader: impl Read, dest: &Path) -> Result<Stats> {
    let root: OwnedFd = io(std::fs::File::open(dest), || {
        format!("open layer dir {}", dest.display())
    })?
    .into();
    let mut u = Unpacker {
        root,
        dirs: Vec::new(),
        stats: Stats::default(),
        parent: None,
    };
    let mut archive = tar::Archive::new(reader);
    // What cannot be read as a tar is the archive's fault (a client's bad upload, a damaged
    // layer), not the host's: a format error.
    let bad = |e: std::io::Error| Error::Format(format!("invalid tar archive: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        u.entry(&mut entry)?;
    }
    // Directory times last: creating their children changed them.
    for (fd, mtime) in u.dirs.iter().rev() {
        let t = nix::sys::time::TimeSpec::new(*mtime, 0);
        let _ = nix::sys::stat::futimens(fd, &t, &t);
    }
    Ok(u.stats)
}

struct Unpacker {
    root: OwnedFd,
    /// Directories and their mtimes, applied at the end.
    dirs: Vec<(OwnedFd, i64)>,
    stats: Stats,
    /// The last parent directory resolved (entries come directory by directory): reused
    /// until an entry replaces it or one of its ancestors.
    parent: Option<(PathBuf, OwnedFd)>,
}

fn entry_err(path: &Path, msg: impl ToString) -> Error {
    Error::Entry {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// The entry's path as normal components: leading `/` and `.` dropped, `..` refused.
pub fn sanitize(p: &Path) -> Result<PathBuf> {
    if p.as_os_str().len() > MAX_PATH {
        let start = String::from_utf8_lossy(&p.as_os_str().as_bytes()[..64]).into_owned();
        return Err(entry_err(Path::new(&format!("{start}…")), "path too long"));
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(entry_err(p, "path escapes the layer (..)")),
            Component::Prefix(_) => return Err(entry_err(p, "invalid path")),
        }
    }
    Ok(out)
}

fn in_root(root: &OwnedFd, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    berth_fs::open_in_root(root, rel, flags)
}

impl Unpacker {
    /// The directory `rel` (created with its parents if missing), resolved inside the root.
    fn dir(&self, rel: &Path) -> Result<OwnedFd> {
        berth_fs::mkdir_all_in_root(&self.root, rel, 0o755, OFlag::O_RDONLY)
            .map_err(|e| entry_err(rel, format!("parent directory: {e}")))
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> Result<()> {
        let raw = io(e.path(), || "entry path".into())?.into_owned();
        let path = sanitize(&raw)?;
        self.stats.entries += 1;
        if path.as_os_str().is_empty() {
            return Ok(()); // the layer root itself
        }
        let (parent, name) = split(&path)?;
        let nb0 = name.as_bytes();
        let replaced = match nb0.strip_prefix(b".wh.") {
            Some(t) if nb0 != b".wh..wh..opq" => parent.join(OsStr::from_bytes(t)),
            _ => path.clone(),
        };
        if self
            .parent
            .as_ref()
            .is_some_and(|(p, _)| p.starts_with(&replaced))
        {
            self.parent = None;
        }
        let pfd = match &self.parent {
            Some((p, fd)) if p == parent => fd
                .try_clone()
                .map_err(|er| entry_err(&path, format!("parent directory: {er}")))?,
            _ => {
                let fd = self.dir(parent)?;
                if let Ok(keep) = fd.try_clone() {
                    self.parent = Some((parent.to_owned(), keep));
                }
                fd
            }
        };
        let kind = e.header().entry_type();
        let nb = name.as_bytes();
        if nb == b".wh..wh..opq" {
            return set_xattr(&pfd, None, "trusted.overlay.opaque", b"y")
                .map_err(|er| entry_err(&path, er));
        }
        if let Some(target) = nb.strip_prefix(b".wh.") {
            let target = OsStr::from_bytes(target);
            remove(&pfd, target).map_err(|er| entry_err(&path, er))?;
            return nix::sys::stat::mknodat(
                &pfd,
                target,
                nix::sys::stat::SFlag::S_IFCHR,
                Mode::empty(),
                0,
            )
            .map_err(|er| entry_err(&path, format!("whiteout: {er}")));
        }
        let h = e.header().clone();
        let mode = Mode::from_bits_truncate(io(h.mode(), || "mode".into())? & 0o7777);
        // Empty numeric fields read as 0, as in Go's archive/tar (Docker).
        let uid = h.uid().unwrap_or(0) as u32;
        let gid = h.gid().unwrap_or(0) as u32;
        let mtime = h.mtime().unwrap_or(0) as i64;
        let xattrs = xattrs_of(e)?;
        match kind {
            EntryType::Directory => {
                match nix::sys::stat::fstatat(&pfd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                {
                    Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                    Ok(_) => {
                        remove(&pfd, name).map_err(|er| entry_err(&path, er))?;
                        mkdir(&pfd, name, &path)?;
                    }
                    Err(_) => mkdir(&pfd, name, &path)?,
                }
                let fd = nix::fcntl::openat(
                    &pfd,
                    name,
                    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|er| entry_err(&path, format!("open dir: {er}")))?;
                finish_fd(&fd, uid, gid, mode, &xattrs).map_err(|er| entry_err(&path, er))?;
                self.dirs.push((fd, mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                // Most entries are new: what is there is removed only when the create says so.
                let mut removed = Ok(());
                let fd = berth_fs::create_new(&pfd, name, || removed = remove(&pfd, name));
                removed.map_err(|er| entry_err(&path, er))?;
                let fd = fd.map_err(|er| entry_err(&path, format!("create: {er}")))?;
                let mut f = std::fs::File::from(fd);
                let n = copy_sparse(e, &mut f)
                    .map_err(|er| entry_err(&path, format!("write: {er}")))?;
                self.stats.bytes += n;
                let fd = OwnedFd::from(f);
                finish_fd(&fd, uid, gid, mode, &xattrs).map_err(|er| entry_err(&path, er))?;
                let t = nix::sys::time::TimeSpec::new(mtime, 0);
                let _ = nix::sys::stat::futimens(&fd, &t, &t);
            }
            EntryType::Symlink => {
                let target = io(e.link_name(), || "link name".into())?
                    .ok_or_else(|| entry_err(&path, "symlink without target"))?;
                remove(&pfd, name).map_err(|er| entry_err(&path, er))?;
                // The target is stored as text; it is never followed outside the root.
                nix::unistd::symlinkat(target.as_ref(), &pfd, name)
                    .map_err(|er| entry_err(&path, format!("symlink: {er}")))?;
                let _ = nix::unistd::fchownat(
                    &pfd,
                    name,
                    Some(uid.into()),
                    Some(gid.into()),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                );
                for (k, v) in &xattrs {
                    set_xattr(&pfd, Some(name), k, v).map_err(|er| entry_err(&path, er))?;
                }
                let t = nix::sys::time::TimeSpec::new(mtime, 0);
                let _ = nix::sys::stat::utimensat(
                    &pfd,
                    name,
                    &t,
                    &t,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            }
            EntryType::Link => {
                let target = io(e.link_name(), || "link name".into())?
                    .ok_or_else(|| entry_err(&path, "hard link without target"))?;
                let target = sanitize(&target)?;
                // The linked-to entry must be in the layer; intermediate symlinks resolve inside it.
                let tfd = in_root(&self.root, &target, OFlag::O_PATH | OFlag::O_NOFOLLOW).map_err(
                    |er| {
                        entry_err(
                            &path,
                            format!("hard link target {}: {er}", target.display()),
                        )
                    },
                )?;
                remove(&pfd, name).map_err(|er| entry_err(&path, er))?;
                let cname = CString::new(nb).map_err(|_| entry_err(&path, "NUL in name"))?;
                // SAFETY: linkat with AT_EMPTY_PATH links the file `tfd` refers to; valid C strings.
                let r = unsafe {
                    libc::linkat(
                        tfd.as_raw_fd(),
                        c"".as_ptr(),
                        pfd.as_raw_fd(),
                        cname.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                };
                if r != 0 {
                    return Err(entry_err(
                        &path,
                        format!("hard link: {}", std::io::Error::last_os_error()),
                    ));
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind_flag = match kind {
                    EntryType::Char => nix::sys::stat::SFlag::S_IFCHR,
                    EntryType::Block => nix::sys::stat::SFlag::S_IFBLK,
                    _ => nix::sys::stat::SFlag::S_IFIFO,
                };
                let major = io(h.device_major(), || "device".into())?.unwrap_or(0);
                let minor = io(h.device_minor(), || "device".into())?.unwrap_or(0);
                remove(&pfd, name).map_err(|er| entry_err(&path, er))?;
                nix::sys::stat::mknodat(
                    &pfd,
                    name,
                    kind_flag,
                    mode,
                    nix::sys::stat::makedev(major.into(), minor.into()),
                )
                .map_err(|er| entry_err(&path, format!("mknod: {er}")))?;
                let _ = nix::unistd::fchownat(
                    &pfd,
                    name,
                    Some(uid.into()),
                    Some(gid.into()),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                );
                let _ = nix::sys::stat::fchmodat(
                    &pfd,
                    name,
                    mode,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                );
            }
            // PAX/GNU headers are consumed by the tar crate; anything else is skipped.
            _ => {}
        }
        Ok(())
    }
}

fn split(p: &Path) -> Result<(&Path, &OsStr)> {
    let name = p.file_name().ok_or_else(|| entry_err(p, "no file name"))?;
    Ok((p.parent().unwrap_or(Path::new("")), name))
}

fn mkdir(pfd: &OwnedFd, name: &OsStr, path: &Path) -> Result<()> {
    nix::sys::stat::mkdirat(pfd, name, Mode::from_bits_truncate(0o755))
        .map_err(|er| entry_err(path, format!("mkdir: {er}")))
}

/// A failed filesystem call while applying an entry: what was done, and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {errno}")]
struct FsError {
    op: String,
    errno: Errno,
}

impl FsError {
    fn at(op: &'static str) -> impl Fn(Errno) -> FsError {
        move |errno| FsError {
            op: op.to_owned(),
            errno,
        }
    }
}

/// Remove `name` in `dir` (recursively for directories); absent is fine.
fn remove(dir: &OwnedFd, name: &OsStr) -> std::result::Result<(), FsError> {
    match nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => {
            let sub = nix::fcntl::openat(
                dir,
                name,
                OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(FsError::at("open for removal"))?;
            let mut d = nix::dir::Dir::from_fd(sub).map_err(FsError::at("read dir"))?;
            let names: Vec<Vec<u8>> = d
                .iter()
                .flatten()
                .map(|e| e.file_name().to_bytes().to_vec())
                .filter(|n| n != b"." && n != b"..")
                .collect();
            let sub = nix::fcntl::openat(
                dir,
                name,
                OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(FsError::at("open for removal"))?;
            for n in names {
                remove(&sub, OsStr::from_bytes(&n))?;
            }
            nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::RemoveDir)
                .map_err(FsError::at("rmdir"))
        }
        Err(e) => Err(FsError::at("remove existing")(e)),
    }
}

/// Ownership, then mode (chown clears set-id bits), then xattrs.
fn finish_fd(
    fd: &OwnedFd,
    uid: u32,
    gid: u32,
    mode: Mode,
    xattrs: &[(String, Vec<u8>)],
) -> std::result::Result<(), FsError> {
    nix::unistd::fchown(fd, Some(uid.into()), Some(gid.into())).map_err(FsError::at("chown"))?;
    nix::sys::stat::fchmod(fd, mode).map_err(FsError::at("chmod"))?;
    for (k, v) in xattrs {
        fset_xattr(fd, k, v)?;
    }
    Ok(())
}

fn fset_xattr(fd: &OwnedFd, key: &str, value: &[u8]) -> std::result::Result<(), FsError> {
    let k = CString::new(key).map_err(|_| FsError::at("NUL in xattr name")(Errno::EINVAL))?;
    // SAFETY: fsetxattr on an open descriptor with valid buffers.
    xattr_result(key, unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Set an xattr on `dir` itself or, without following it, on `name` inside it.
fn set_xattr(
    dir: &OwnedFd,
    name: Option<&OsStr>,
    key: &str,
    value: &[u8],
) -> std::result::Result<(), FsError> {
    let Some(name) = name else {
        return fset_xattr(dir, key, value);
    };
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    let p = CString::new(p).map_err(|_| FsError::at("NUL in name")(Errno::EINVAL))?;
    let k = CString::new(key).map_err(|_| FsError::at("NUL in xattr name")(Errno::EINVAL))?;
    // SAFETY: valid C strings and buffer; `name` is a single component (no '/').
    xattr_result(key, unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

fn xattr_result(key: &str, r: libc::c_int) -> std::result::Result<(), FsError> {
    if r != 0 {
        return Err(FsError {
            op: format!("xattr {key}"),
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// `SCHILY.xattr.*` PAX records, minus overlayfs' own `trusted.overlay.*`.
fn xattrs_of<R: Read>(e: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = io(e.pax_extensions(), || "pax headers".into())? {
        for ext in exts {
            let ext = io(ext, || "pax header".into())?;
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    if !name.starts_with("trusted.overlay.") {
                        out.push((name.to_owned(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Copy file data, leaving holes where whole blocks are zero (sparse files stay sparse).
fn copy_sparse(r: &mut impl Read, f: &mut std::fs::File) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let mut holes = false;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|b| *b == 0) {
            f.seek(SeekFrom::Current(n as i64))?;
            holes = true;
        } else {
            f.write_all(&buf[..n])?;
        }
        total += n as u64;
    }
    // A trailing hole needs the length set; a file without holes has it already.
    if holes {
        f.set_len(total)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_roots_and_refuses_parents() {
        assert_eq!(
            sanitize(Path::new("/etc/passwd")).ok(),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(
            sanitize(Path::new("./a/./b")).ok(),
            Some(PathBuf::from("a/b"))
        );
        assert!(sanitize(Path::new("a/../../x")).is_err());
        assert!(sanitize(Path::new(&"a/".repeat(3000))).is_err());
    }

    #[test]
    fn compression_is_detected() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(detect(b"ustar"), Compression::None);
    }
}
