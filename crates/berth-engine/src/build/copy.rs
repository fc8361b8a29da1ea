//! `COPY` and `ADD`: sources from the context, another stage or an image, checksummed for the
//! key; on a miss, written into an overlay of the stage's root filesystem (entries created
//! relative to directories opened inside that root, so no symlink of the image leads out of
//! it), with `--chown`/`--chmod`, `--exclude`, `--parents`; local archives of `ADD` unpacked.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_dockerfile::instructions::Copy;
use berth_dockerfile::stages::Step;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::context::{self, Source};
use super::solve::State;
use super::{Build, cache};
use crate::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(what, e)
}

fn nix_io(what: String) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::io(what, std::io::Error::from(e))
}

static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An overlay mount of a build: `lowers` (top first) with an upper of its own; unmounted and
/// removed (except the upper, which the caller takes) when dropped.
pub(super) struct Overlay {
    pub merged: PathBuf,
    pub upper: PathBuf,
    dir: PathBuf,
}

impl Overlay {
    pub fn mount(base: &Path, kind: &str, lowers: &[PathBuf]) -> Result<Overlay> {
        let dir = base.join(kind).join(
            SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .to_string(),
        );
        let (merged, upper, work, empty) = (
            dir.join("merged"),
            dir.join("upper"),
            dir.join("work"),
            dir.join("empty"),
        );
        std::fs::create_dir_all(&empty).map_err(io(format!("create {}", empty.display())))?;
        let lower: Vec<PathBuf> = if lowers.is_empty() {
            vec![empty]
        } else {
            lowers.to_vec()
        };
        berth_image::snapshot::mount_overlay(&lower, &upper, &work, &merged)?;
        Ok(Overlay { merged, upper, dir })
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(self.dir.join("work"));
        let _ = std::fs::remove_dir(&self.merged);
        let _ = std::fs::remove_dir_all(self.dir.join("empty"));
    }
}

/// The layer directories of a state, top first (overlay's order).
pub(super) fn lowers(b: &Build, st: &State) -> Vec<PathBuf> {
    st.chains
        .iter()
        .rev()
        .map(|c| b.engine.images.layers().path(c))
        .collect()
}

/// Owner of copied files: `--chown` resolved in the destination's /etc/passwd and /etc/group.
fn owner(root: &Path, spec: Option<&str>) -> Result<(u32, u32)> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return Ok((0, 0));
    };
    let (u, g) = spec
        .split_once(':')
        .map_or((spec, None), |(u, g)| (u, Some(g)));
    let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(root.join(file)).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() == Some(&name) && f.len() > 3 {
                Some((f[2].parse().ok()?, f[3].parse().ok()?))
            } else {
                None
            }
        })
    };
    let (uid, pgid) = match u.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => lookup("etc/passwd", u).ok_or_else(|| bad(format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {u}: no such user: {u}")))?,
    };
    let gid = match g {
        None => {
            if u.parse::<u32>().is_ok() {
                uid
            } else {
                pgid
            }
        }
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let text = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
                text.lines()
                    .find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.first() == Some(&g) && f.len() > 2).then(|| f[2].parse().ok()).flatten()
                    })
                    .ok_or_else(|| bad(format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}")))?
            }
        },
    };
    Ok((uid, gid))
}

fn parse_chmod(s: Option<&str>) -> Result<Option<u32>> {
    s.filter(|s| !s.is_empty())
        .map(|m| {
            u32::from_str_radix(m, 8)
                .ok()
                .filter(|v| *v <= 0o7777)
                .ok_or_else(|| bad(format!("invalid chmod parameter: {m}")))
        })
        .transpose()
}

struct Writer {
    root: OwnedFd,
    owner: (u32, u32),
    chmod: Option<u32>,
    clamp: Option<i64>,
    exclude: berth_dockerfile::ignore::Patterns,
}

impl Writer {
    fn dir(&self, rel: &Path) -> Result<OwnedFd> {
        berth_fs::mkdir_all_in_root(self.root.as_fd(), rel, 0o755, OFlag::O_RDONLY)
            .map_err(|e| bad(format!("cannot create directory {}: {e}", rel.display())))
    }

    /// Copy `src` (file, link or tree) to `dest` (a path in the root).
    fn copy(&self, src: &Path, dest: &Path, rel_for_exclude: &Path) -> Result<()> {
        let name = dest
            .file_name()
            .ok_or_else(|| bad(format!("invalid destination {}", dest.display())))?;
        let pd = self.dir(dest.parent().unwrap_or(Path::new("/")))?;
        self.copy_at(&pd, name, src, dest, rel_for_exclude)
    }

    /// Copy `src` to the entry `name` of the directory `pd` (`dest` is its path in the root,
    /// for messages and for directories that exist already). A tree's entries are made
    /// relative to the directory just made: no path walk per file.
    fn copy_at(
        &self,
        pd: &OwnedFd,
        name: &std::ffi::OsStr,
        src: &Path,
        dest: &Path,
        rel_for_exclude: &Path,
    ) -> Result<()> {
        if !self.exclude.is_empty() && self.exclude.excludes(&rel_for_exclude.to_string_lossy()) {
            return Ok(());
        }
        let m = std::fs::symlink_metadata(src).map_err(io(format!("stat {}", src.display())))?;
        if m.is_dir() {
            let d = match nix::sys::stat::mkdirat(pd.as_fd(), name, Mode::from_bits_truncate(0o755))
            {
                Ok(()) => nix::fcntl::openat(
                    pd.as_fd(),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(nix_io(format!("open {}", dest.display())))?,
                // There already (maybe a link of the image to a directory): resolved in the root.
                Err(_) => self.dir(dest)?,
            };
            self.meta(&d, &m, true)?;
            let mut names: Vec<_> = std::fs::read_dir(src)
                .map_err(io(format!("read {}", src.display())))?
                .flatten()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for n in names {
                self.copy_at(
                    &d,
                    &n,
                    &src.join(&n),
                    &dest.join(&n),
                    &rel_for_exclude.join(&n),
                )?;
            }
            return Ok(());
        }
        if m.file_type().is_symlink() {
            let target =
                std::fs::read_link(src).map_err(io(format!("readlink {}", src.display())))?;
            // Whatever is there (a file, a link of the image) is replaced, never followed.
            let _ =
                nix::unistd::unlinkat(pd.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
            nix::unistd::symlinkat(target.as_path(), pd.as_fd(), name)
                .map_err(nix_io(format!("symlink {}", dest.display())))?;
            let (u, g) = self.owner;
            let _ = nix::unistd::fchownat(
                pd.as_fd(),
                name,
                Some(u.into()),
                Some(g.into()),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            );
            return Ok(());
        }
        if !m.is_file() {
            return Ok(()); // devices, fifos, sockets of a context are not copied
        }
        // Whatever is there (a file, a link of the image) is replaced, never followed.
        let fd = berth_fs::create_new(pd, name, || {
            let _ =
                nix::unistd::unlinkat(pd.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        })
        .map_err(nix_io(format!("create {}", dest.display())))?;
        let mut out = std::fs::File::from(fd);
        let mut inp = std::fs::File::open(src).map_err(io(format!("open {}", src.display())))?;
        copy_data(&mut inp, &mut out, m.len())
            .map_err(io(format!("copy to {}", dest.display())))?;
        self.meta(&out.into(), &m, false)
    }

    fn meta(&self, fd: &OwnedFd, m: &std::fs::Metadata, dir: bool) -> Result<()> {
        let (u, g) = self.owner;
        nix::unistd::fchown(fd.as_fd(), Some(u.into()), Some(g.into()))
            .map_err(nix_io("chown".into()))?;
        let _ = dir;
        let mode = self.chmod.unwrap_or(m.permissions().mode() & 0o7777);
        nix::sys::stat::fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))
            .map_err(nix_io("chmod".into()))?;
        let t = self.clamp.map_or(m.mtime(), |c| m.mtime().min(c));
        let ts = nix::sys::time::TimeSpec::new(t, 0);
        let _ = nix::sys::stat::futimens(fd.as_fd(), &ts, &ts);
        Ok(())
    }
}

/// A context file's bytes into the layer: small ones (most) in one read and one write
/// (`io::copy` probes `copy_file_range` and `sendfile`, which do not apply from the context's
/// tmpfs to the layer's disk, at five system calls a file).
fn copy_data(inp: &mut std::fs::File, out: &mut std::fs::File, len: u64) -> std::io::Result<()> {
    use std::io::{Read, Write};
    if len <= 256 << 10 {
        let mut buf = Vec::with_capacity(len as usize + 1);
        inp.read_to_end(&mut buf)?;
        return out.write_all(&buf);
    }
    std::io::copy(inp, out).map(|_| ())
}

fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

impl Build<'_> {
    /// The root a `COPY --from` reads: a built stage or an image, mounted.
    pub(super) fn mount_source(
        &self,
        from: &str,
        done: &BTreeMap<usize, State>,
    ) -> Result<(Overlay, String)> {
        if let Some(j) = self.df.find(from) {
            let st = done
                .get(&j)
                .ok_or_else(|| bad(format!("stage {from} is not built before this step")))?;
            return Ok((
                Overlay::mount(&self.work, "from", &lowers(self, st))?,
                st.key.clone(),
            ));
        }
        let images = &self.engine.images;
        let img = match images.resolve(from) {
            Ok(i) => i,
            Err(_) => {
                self.pull(from)?;
                images.resolve(from)?
            }
        };
        self.engine
            .check_signature_policy(from, self.opts.content_trust)?;
        let ls: Vec<PathBuf> = img
            .chain_ids
            .iter()
            .rev()
            .filter_map(|c| berth_image::Digest::parse(c).ok())
            .map(|c| images.layers().path(&c))
            .collect();
        Ok((Overlay::mount(&self.work, "from", &ls)?, img.id.clone()))
    }

    pub(super) fn copy_step(
        &self,
        st: &mut State,
        c: &Copy,
        step: &Step,
        done: &BTreeMap<usize, State>,
        used: &str,
    ) -> Result<()> {
        let what = if c.add { "ADD" } else { "COPY" };
        // Sources: URLs (ADD only) are fetched only when reachable; none is here.
        for s in &c.sources {
            if c.add
                && (s.starts_with("http://")
                    || s.starts_with("https://")
                    || s.starts_with("git@")
                    || s.ends_with(".git"))
            {
                return Err(bad(format!(
                    "{what} failed: cannot fetch {s}: remote sources are not reachable from this daemon (no network access for builds to {s}); download it into the context instead"
                )));
            }
            if !c.add && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(bad(format!(
                    "{what} failed: source can't be a URL for COPY ({s})"
                )));
            }
        }
        // What is copied from a stage or an image is keyed by its content, not by how the
        // stage got there: a rebuilt stage that made the same files is a cache hit.
        let (from_mount, _) = match &c.from {
            Some(f) => {
                let (m, k) = self.mount_source(f, done)?;
                (Some(m), k)
            }
            None => (None, String::new()),
        };
        // Sources of the context are resolved and hashed in its index; a stage's or an
        // image's in its mounted root.
        let (count, sum) = match (&from_mount, c.heredocs.is_empty()) {
            (_, false) => (0, String::new()),
            (None, true) => {
                let reals = self.ctx.resolve(&c.sources, what)?;
                (reals.len(), self.ctx.checksum(&reals)?)
            }
            (Some(m), true) => {
                let s = context::sources(&m.merged, &c.sources, what)?;
                (s.len(), context::checksum(&s)?)
            }
        };
        let multiple = count > 1 || c.sources.iter().any(|s| s.contains(['*', '?', '[']));
        if multiple && !c.dest.ends_with('/') {
            return Err(bad(format!(
                "When using {what} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let heredocs: Vec<String> = c
            .heredocs
            .iter()
            .map(|h| format!("{}\0{}", h.name, h.content))
            .collect();
        let key = cache::key(
            &st.key,
            &[
                what,
                &format!("{c:?}"),
                &sum,
                &heredocs.join("\0"),
                &st.config().working_dir,
                used,
            ],
        );
        let created_by = format!("{} # buildkit", step.text);
        self.layer_step(st, key, created_by, |st| {
            let sources = match (&from_mount, c.heredocs.is_empty()) {
                (_, false) => Vec::new(),
                (None, true) => context::sources(&self.ctx.files()?, &c.sources, what)?,
                (Some(m), true) => context::sources(&m.merged, &c.sources, what)?,
            };
            let ov = Overlay::mount(&self.work, "root", &lowers(self, st))?;
            let root = nix::fcntl::open(
                &ov.merged,
                OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(nix_io(format!("open {}", ov.merged.display())))?;
            let w = Writer {
                owner: owner(&ov.merged, c.chown.as_deref())?,
                chmod: parse_chmod(c.chmod.as_deref())?,
                clamp: self.epoch,
                exclude: berth_dockerfile::ignore::Patterns::parse(&c.exclude.join("\n")),
                root,
            };
            let wd = st.config().working_dir.clone();
            let dest = if c.dest.starts_with('/') {
                PathBuf::from(&c.dest)
            } else {
                Path::new(if wd.is_empty() { "/" } else { &wd }).join(&c.dest)
            };
            let dest_is_dir = c.dest.ends_with('/')
                || c.dest == "."
                || berth_fs::open_in_root(
                    w.root.as_fd(),
                    &dest,
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY,
                )
                .is_ok();
            for h in &c.heredocs {
                let target = if dest_is_dir {
                    dest.join(&h.name)
                } else {
                    dest.clone()
                };
                let tmp = self.work.join(format!(
                    "heredoc-{}",
                    SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                ));
                let content = h.text();
                std::fs::write(&tmp, content).map_err(io(format!("write {}", tmp.display())))?;
                let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644));
                w.copy(&tmp, &target, Path::new(&h.name))?;
                let _ = std::fs::remove_file(&tmp);
            }
            for s in &sources {
                self.copy_one(&w, s, &dest, dest_is_dir, c)?;
            }
            let upper = ov.upper.clone();
            drop(ov);
            Ok(upper)
        })?;
        drop(from_mount);
        Ok(())
    }

    fn copy_one(
        &self,
        w: &Writer,
        s: &Source,
        dest: &Path,
        dest_is_dir: bool,
        c: &Copy,
    ) -> Result<()> {
        let m = std::fs::metadata(&s.path)
            .or_else(|_| std::fs::symlink_metadata(&s.path))
            .map_err(io(format!("stat {}", s.path.display())))?;
        let base = s.rel.file_name().map(PathBuf::from).unwrap_or_default();
        let sub = if c.parents {
            s.rel.parent().map(Path::to_owned).unwrap_or_default()
        } else {
            PathBuf::new()
        };
        if c.add && m.is_file() && is_archive(&s.path) {
            let dir = w.dir(&dest.join(&sub))?;
            let target = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
            let f =
                std::fs::File::open(&s.path).map_err(io(format!("open {}", s.path.display())))?;
            berth_image::unpack::unpack(f, &target).map_err(|e| {
                bad(format!(
                    "ADD failed: cannot unpack {}: {e}",
                    s.rel.display()
                ))
            })?;
            return Ok(());
        }
        if m.is_dir() {
            // A directory's content goes to the destination, not the directory itself.
            // --exclude patterns apply below the directory, relative to it (as BuildKit).
            return w.copy(&s.path, &dest.join(&sub), Path::new(""));
        }
        let target = if dest_is_dir {
            dest.join(&sub).join(base)
        } else {
            dest.to_owned()
        };
        w.copy(&s.path, &target, &s.rel)
    }
}

/// A copy of `src` (a file or a tree, links kept as links) at `dst`: what a read-write bind
/// mount of a step binds, so its writes are its own.
pub(super) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(src).map_err(io(format!("stat {}", src.display())))?;
    if m.file_type().is_symlink() {
        let t = std::fs::read_link(src).map_err(io(format!("readlink {}", src.display())))?;
        return std::os::unix::fs::symlink(t, dst)
            .map_err(io(format!("symlink {}", dst.display())));
    }
    if m.is_dir() {
        std::fs::create_dir_all(dst).map_err(io(format!("create {}", dst.display())))?;
        for e in std::fs::read_dir(src)
            .map_err(io(format!("read {}", src.display())))?
            .flatten()
        {
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
    } else if m.is_file() {
        std::fs::copy(src, dst).map_err(io(format!("copy {}", src.display())))?;
    }
    let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.permissions().mode()));
    Ok(())
}
