//! The build context: the client's tar kept whole in the build's (in-memory) directory and
//! indexed; the `.dockerignore` applied to the index (what it excludes is not there for any
//! step); sources of `COPY`/`ADD` resolved in the index with the context as root (symlinks
//! never lead out of it) and hashed by content for the cache — only the files a step uses.
//! Files are written out only when a step misses the cache and needs them
//! ([`Context::files`]): an unchanged context costs one sequential write and a pass over its
//! headers.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_dockerfile::ignore::Patterns;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

#[derive(Debug, Clone)]
enum Kind {
    File { offset: u64, size: u64 },
    Dir,
    Symlink(PathBuf),
    Other,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    mode: u32,
}

/// A received context: the tar, its index, and (once needed) its files.
pub struct Context {
    dir: PathBuf,
    tar: PathBuf,
    index: std::collections::BTreeMap<PathBuf, Entry>,
    /// Paths the `.dockerignore` excluded (removed from the files when they are written).
    excluded: Vec<PathBuf>,
    files: std::sync::Mutex<Option<PathBuf>>,
}

fn clamped(p: &Path) -> PathBuf {
    berth_fs::clamp(p).into_iter().collect()
}

impl Context {
    /// Receive the context (plain, gzip or zstd tar) into `dir`.
    pub fn receive(r: impl Read, dir: &Path) -> Result<Context> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let tar = dir.join("context.tar");
        let mut plain = berth_image::unpack::decompressed(r).map_err(|e| match e {
            berth_image::Error::Format(m) => {
                bad(format!("the build context is not a readable tar: {m}"))
            }
            other => other.into(),
        })?;
        let mut f =
            std::fs::File::create(&tar).map_err(|e| Error::io("write the build context", e))?;
        std::io::copy(&mut plain, &mut f).map_err(|e| Error::io("receive the build context", e))?;
        drop(f);
        let bad = |e: std::io::Error| bad(format!("the build context is not a readable tar: {e}"));
        let mut index = std::collections::BTreeMap::new();
        let file = std::fs::File::open(&tar).map_err(|e| Error::io("read the build context", e))?;
        let mut ar = tar::Archive::new(std::io::BufReader::new(file));
        for e in ar.entries_with_seek().map_err(bad)? {
            let e = e.map_err(bad)?;
            let path = clamped(&e.path().map_err(bad)?);
            if path.as_os_str().is_empty() {
                continue;
            }
            let h = e.header();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let kind = match h.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File {
                    offset: e.raw_file_position(),
                    size: e.size(),
                },
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink(
                    e.link_name()
                        .map_err(bad)?
                        .map(|l| l.into_owned())
                        .unwrap_or_default(),
                ),
                _ => Kind::Other,
            };
            // Parents a tar left implicit.
            for p in path.ancestors().skip(1) {
                if p.as_os_str().is_empty() {
                    break;
                }
                index.entry(p.to_owned()).or_insert(Entry {
                    kind: Kind::Dir,
                    mode: 0o755,
                });
            }
            index.insert(path, Entry { kind, mode });
        }
        Ok(Context {
            dir: dir.to_owned(),
            tar,
            index,
            excluded: Vec::new(),
            files: std::sync::Mutex::new(None),
        })
    }

    fn open(&self) -> Result<std::fs::File> {
        std::fs::File::open(&self.tar).map_err(|e| Error::io("read the build context", e))
    }

    fn content(&self, offset: u64, size: u64) -> Result<Vec<u8>> {
        content_at(&mut self.open()?, offset, size)
    }

    /// A file's content, by its path in the context (symlinks followed inside it).
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        let real = self.resolve_one(&clamped(Path::new(name))).ok()?;
        match self.index.get(&real)?.kind {
            Kind::File { offset, size } => self.content(offset, size).ok(),
            _ => None,
        }
    }

    /// The Dockerfile's text: `name` inside the context.
    pub fn dockerfile(&self, name: &str) -> Result<String> {
        let name = if name.is_empty() { "Dockerfile" } else { name };
        let text = self
            .read(name)
            .ok_or_else(|| bad(format!("Cannot locate specified Dockerfile: {name}")))?;
        String::from_utf8(text).map_err(|_| bad(format!("the Dockerfile {name} is not UTF-8 text")))
    }

    /// Apply `<dockerfile>.dockerignore` (or `.dockerignore`): excluded paths leave the
    /// context. Returns how many entries went.
    pub fn apply_ignore(&mut self, dockerfile: &str) -> usize {
        let own = format!(
            "{}.dockerignore",
            if dockerfile.is_empty() {
                "Dockerfile"
            } else {
                dockerfile
            }
        );
        let text = self
            .read(&own)
            .or_else(|| self.read(".dockerignore"))
            .unwrap_or_default();
        let pats = Patterns::parse(&String::from_utf8_lossy(&text));
        if pats.is_empty() {
            return 0;
        }
        let gone: Vec<PathBuf> = self
            .index
            .iter()
            .filter(|(p, e)| {
                let s = p.to_string_lossy();
                pats.excludes(&s) && !(matches!(e.kind, Kind::Dir) && pats.may_reinclude_below(&s))
            })
            .map(|(p, _)| p.clone())
            .collect();
        for p in &gone {
            self.index.remove(p);
        }
        let n = gone.len();
        self.excluded = gone;
        n
    }

    /// `rel` with its symlinks resolved in the index, the context as `/`.
    fn resolve_one(&self, rel: &Path) -> Result<PathBuf> {
        let mut todo: Vec<std::ffi::OsString> = rel
            .components()
            .rev()
            .map(|c| c.as_os_str().to_owned())
            .collect();
        let mut cur = PathBuf::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            let next = cur.join(&c);
            match self.index.get(&next).map(|e| &e.kind) {
                Some(Kind::Symlink(t)) => {
                    hops += 1;
                    if hops > 40 {
                        return Err(bad(format!(
                            "too many levels of symbolic links: {}",
                            rel.display()
                        )));
                    }
                    let base = if t.is_absolute() {
                        PathBuf::new()
                    } else {
                        cur.clone()
                    };
                    let target = clamped(&base.join(t));
                    todo.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
                    cur = PathBuf::new();
                }
                Some(_) => cur = next,
                None => return Err(bad(format!("{} not found", rel.display()))),
            }
        }
        Ok(cur)
    }

    /// The sources a `COPY` names (wildcards expanded, symlinks resolved in the context):
    /// their real paths in the context, in order.
    pub fn resolve(&self, names: &[String], what: &str) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for n in names {
            let rel = clamped(Path::new(n));
            let pattern = rel.to_string_lossy().into_owned();
            if pattern.contains(['*', '?', '[']) {
                let segs: Vec<&str> = pattern.split('/').collect();
                let found: Vec<PathBuf> = self
                    .index
                    .keys()
                    .filter(|p| {
                        let ps: Vec<String> = p
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        ps.len() == segs.len()
                            && segs
                                .iter()
                                .zip(&ps)
                                .all(|(s, c)| berth_dockerfile::shell::glob(s, c))
                    })
                    .cloned()
                    .collect();
                if found.is_empty() {
                    return Err(bad(format!(
                        "{what} failed: no source files were specified: {n} matches nothing in the build context"
                    )));
                }
                for f in found {
                    out.push(self.resolve_one(&f).unwrap_or(f));
                }
                continue;
            }
            if rel.as_os_str().is_empty() {
                out.push(PathBuf::new());
                continue;
            }
            let real = self.resolve_one(&rel).map_err(|_| {
                bad(format!(
                    "{what} failed: file not found in build context or excluded by .dockerignore: stat {n}: file does not exist"
                ))
            })?;
            out.push(real);
        }
        Ok(out)
    }

    /// A content checksum of sources (real paths in the context): names, types, modes, link
    /// targets and contents of everything at and below them — not mtimes, not owners.
    pub fn checksum(&self, sources: &[PathBuf]) -> Result<String> {
        let mut h = Sha256::new();
        let mut f = self.open()?;
        for s in sources {
            h.update(s.as_os_str().as_encoded_bytes());
            h.update([0]);
            let below = self
                .index
                .range(s.clone()..)
                .take_while(|(p, _)| s.as_os_str().is_empty() || p.starts_with(s));
            for (p, e) in below {
                let rel = p.strip_prefix(s).unwrap_or(p);
                h.update(rel.as_os_str().as_encoded_bytes());
                h.update(format!("\0{:o}\0", e.mode).as_bytes());
                match &e.kind {
                    Kind::File { offset, size } => {
                        h.update(b"f");
                        h.update(content_at(&mut f, *offset, *size)?);
                    }
                    Kind::Dir => h.update(b"d"),
                    Kind::Symlink(t) => {
                        h.update(b"l");
                        h.update(t.as_os_str().as_encoded_bytes());
                    }
                    Kind::Other => h.update(b"o"),
                }
                h.update([1]);
            }
        }
        Ok(format!("{:x}", h.finalize()))
    }

    /// The context's files on disk (in memory: the build's tmpfs), written the first time a
    /// step needs them.
    pub fn files(&self) -> Result<PathBuf> {
        let mut g = self
            .files
            .lock()
            .map_err(|_| Error::Internal("context lock poisoned".into()))?;
        if let Some(p) = g.as_ref() {
            return Ok(p.clone());
        }
        let dir = self.dir.join("files");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let f =
            std::fs::File::open(&self.tar).map_err(|e| Error::io("read the build context", e))?;
        berth_image::unpack::unpack(std::io::BufReader::with_capacity(1 << 20, f), &dir)?;
        for p in &self.excluded {
            let full = dir.join(p);
            let _ = std::fs::remove_dir_all(&full).or_else(|_| std::fs::remove_file(&full));
        }
        *g = Some(dir.clone());
        Ok(dir)
    }
}

fn content_at(f: &mut std::fs::File, offset: u64, size: u64) -> Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("read the build context", e))?;
    let mut buf = vec![0u8; size as usize];
    f.read_exact(&mut buf)
        .map_err(|e| Error::io("read the build context", e))?;
    Ok(buf)
}

/// A source of `COPY`/`ADD` found in a source root: the path on the host and its name in the
/// root (for the cache key and for the destination's naming).
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub rel: PathBuf,
}

/// The sources a `COPY` names in a root on disk (a stage's or an image's, or the context's
/// files): wildcards expanded, each resolved inside the root (its symlinks cannot lead out).
pub fn sources(root: &Path, names: &[String], what: &str) -> Result<Vec<Source>> {
    use std::os::fd::AsRawFd;
    let rootfd =
        std::fs::File::open(root).map_err(|e| Error::io(format!("open {}", root.display()), e))?;
    let mut found: Vec<PathBuf> = Vec::new();
    for n in names {
        let rel = clamped(Path::new(n));
        let pattern = rel.to_string_lossy().into_owned();
        if pattern.contains(['*', '?', '[']) {
            let mut f = Vec::new();
            glob_walk(
                root,
                Path::new(""),
                &pattern.split('/').collect::<Vec<_>>(),
                &mut f,
            );
            if f.is_empty() {
                return Err(bad(format!(
                    "{what} failed: no source files were specified: {n} matches nothing in the build context"
                )));
            }
            f.sort();
            found.extend(f);
        } else {
            found.push(rel);
        }
    }
    let mut out = Vec::new();
    for rel in found {
        let fd = berth_fs::open_in_root(
            &rootfd,
            &rel,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        )
        .map_err(|_| {
            bad(format!(
                "{what} failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
                rel.display()
            ))
        })?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|e| Error::io(format!("resolve {}", rel.display()), e))?;
        if !real.starts_with(root) {
            return Err(bad(format!(
                "forbidden path outside the build context: {}",
                rel.display()
            )));
        }
        out.push(Source { path: real, rel });
    }
    Ok(out)
}

fn glob_walk(root: &Path, rel: &Path, segs: &[&str], out: &mut Vec<PathBuf>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(rel.to_owned());
        return;
    };
    if !first.contains(['*', '?', '[']) {
        let r = rel.join(first);
        if std::fs::symlink_metadata(root.join(&r)).is_ok() {
            glob_walk(root, &r, rest, out);
        }
        return;
    }
    for e in std::fs::read_dir(root.join(rel))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if berth_dockerfile::shell::glob(first, &name) {
            glob_walk(root, &rel.join(&name), rest, out);
        }
    }
}

/// A content checksum of sources: names, types, modes, link targets and file contents, in a
/// stable order (not mtimes, not owners: the context's files are copied as root's unless
/// `--chown` says otherwise).
pub fn checksum(sources: &[Source]) -> Result<String> {
    let mut h = Sha256::new();
    for s in sources {
        h.update(s.rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        hash_tree(&s.path, Path::new(""), &mut h)?;
    }
    Ok(format!("{:x}", h.finalize()))
}

fn hash_tree(path: &Path, rel: &Path, h: &mut Sha256) -> Result<()> {
    let m = std::fs::symlink_metadata(path)
        .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update(format!("\0{:o}\0", m.permissions().mode() | (m.mode() & 0o170000)).as_bytes());
    if m.file_type().is_symlink() {
        let t = std::fs::read_link(path).unwrap_or_default();
        h.update(t.as_os_str().as_encoded_bytes());
    } else if m.is_file() {
        let mut f = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        std::io::copy(&mut f, h).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    } else if m.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            hash_tree(&path.join(&n), &rel.join(&n), h)?;
        }
    }
    h.update([1]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(entries: &[(&str, Option<&str>, Option<&str>, u64)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content, link, mtime) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(*mtime);
            match (content, link) {
                (_, Some(t)) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    b.append_link(&mut h, path, t).expect("link");
                }
                (Some(c), None) => {
                    h.set_size(c.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append_data(&mut h, path, c.as_bytes()).expect("file");
                }
                (None, None) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    h.set_cksum();
                    b.append_data(&mut h, path, std::io::empty()).expect("dir");
                }
            }
        }
        b.into_inner().expect("tar")
    }

    fn ctx(t: &[u8], dir: &Path) -> Context {
        Context::receive(t, dir).expect("receive")
    }

    #[test]
    fn index_resolves_inside_the_context_and_ignores() {
        let d = tempfile::tempdir().expect("tmp");
        let t = tar(&[
            ("Dockerfile", Some("FROM x\n"), None, 1),
            (
                ".dockerignore",
                Some("*.log\nsecret/\n!secret/keep\n"),
                None,
                1,
            ),
            ("etc/passwd", Some("ctx\n"), None, 1),
            ("link", None, Some("/etc"), 1),
            ("rel", None, Some("../../etc"), 1),
            ("a.log", Some("x"), None, 1),
            ("secret/key", Some("k"), None, 1),
            ("secret/keep", Some("kept"), None, 1),
        ]);
        let mut c = ctx(&t, d.path());
        assert_eq!(c.dockerfile("").expect("df"), "FROM x\n");
        c.apply_ignore("Dockerfile");
        let r = c
            .resolve(&["link/passwd".into(), "rel/passwd".into()], "COPY")
            .expect("resolve");
        assert_eq!(
            r,
            [PathBuf::from("etc/passwd"), PathBuf::from("etc/passwd")]
        );
        assert!(
            c.resolve(&["a.log".into()], "COPY").is_err(),
            "ignored file resolved"
        );
        assert!(c.resolve(&["secret/key".into()], "COPY").is_err());
        assert_eq!(
            c.resolve(&["secret/keep".into()], "COPY")
                .expect("exception")
                .len(),
            1
        );
        assert_eq!(c.resolve(&["etc/*".into()], "COPY").expect("glob").len(), 1);
        assert!(
            c.resolve(&["*.log".into()], "COPY").is_err(),
            "an ignored file matched"
        );
        let files = c.files().expect("files");
        assert!(files.join("etc/passwd").is_file() && !files.join("a.log").exists());
        assert!(files.join("secret/keep").is_file() && !files.join("secret/key").exists());
    }

    #[test]
    fn checksums_see_content_not_mtimes() {
        let d = tempfile::tempdir().expect("tmp");
        let a = ctx(
            &tar(&[("src/a", Some("1"), None, 1), ("src/b", Some("2"), None, 1)]),
            &d.path().join("a"),
        );
        let b = ctx(
            &tar(&[
                ("src/a", Some("1"), None, 999),
                ("src/b", Some("2"), None, 5),
            ]),
            &d.path().join("b"),
        );
        let c = ctx(
            &tar(&[("src/a", Some("1"), None, 1), ("src/b", Some("3"), None, 1)]),
            &d.path().join("c"),
        );
        let sum = |x: &Context| {
            let r = x.resolve(&["src".into()], "COPY").expect("resolve");
            x.checksum(&r).expect("sum")
        };
        assert_eq!(sum(&a), sum(&b));
        assert_ne!(sum(&a), sum(&c));
    }
}
