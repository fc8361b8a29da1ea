//! The build context: the client's tar unpacked into the build's own directory, the
//! `.dockerignore` applied (what it excludes is not there for any step), the Dockerfile read,
//! and source paths of `COPY`/`ADD` resolved inside it — never outside — and hashed by content
//! for the cache (only the files a step uses).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_dockerfile::ignore::Patterns;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

/// Unpack the context (plain, gzip or zstd tar) into `dir`.
pub fn receive(r: impl Read, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    berth_image::unpack::unpack(r, dir).map_err(|e| match e {
        berth_image::Error::Format(m) => {
            bad(format!("the build context is not a readable tar: {m}"))
        }
        other => other.into(),
    })?;
    Ok(())
}

/// The Dockerfile's text: `name` inside the context (its path clamped to the context).
pub fn dockerfile(dir: &Path, name: &str) -> Result<String> {
    let name = if name.is_empty() { "Dockerfile" } else { name };
    let rel: PathBuf = berth_fs::clamp(Path::new(name)).into_iter().collect();
    let p = dir.join(&rel);
    let text = std::fs::read(&p)
        .map_err(|_| bad(format!("Cannot locate specified Dockerfile: {name}")))?;
    String::from_utf8(text).map_err(|_| bad(format!("the Dockerfile {name} is not UTF-8 text")))
}

/// Apply `<dockerfile>.dockerignore` (or `.dockerignore`): excluded paths are removed.
/// Returns how many entries went.
pub fn apply_ignore(dir: &Path, dockerfile: &str) -> Result<usize> {
    let own = format!(
        "{}.dockerignore",
        if dockerfile.is_empty() {
            "Dockerfile"
        } else {
            dockerfile
        }
    );
    let text = std::fs::read_to_string(dir.join(&own))
        .or_else(|_| std::fs::read_to_string(dir.join(".dockerignore")))
        .unwrap_or_default();
    let pats = Patterns::parse(&text);
    if pats.is_empty() {
        return Ok(0);
    }
    let mut removed = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))
            .into_iter()
            .flatten()
            .flatten()
        {
            let r = rel.join(e.file_name());
            let s = r.to_string_lossy();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if pats.excludes(&s) {
                if is_dir && pats.may_reinclude_below(&s) {
                    stack.push(r);
                    continue;
                }
                let p = e.path();
                let res = if is_dir {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                res.map_err(|e| Error::io(format!("remove {}", p.display()), e))?;
                removed += 1;
            } else if is_dir {
                stack.push(r);
            }
        }
    }
    Ok(removed)
}

/// A source of `COPY`/`ADD` found in a source root: the path on the host and its name in the
/// root (for the cache key and for the destination's naming).
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub rel: PathBuf,
}

/// The sources a `COPY` names, in `root` (wildcards expanded; `..` never leaves the root).
/// Symlinks are resolved inside the root.
pub fn sources(root: &Path, names: &[String], what: &str) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for n in names {
        let rel: PathBuf = berth_fs::clamp(Path::new(n)).into_iter().collect();
        let pattern = rel.to_string_lossy().into_owned();
        if pattern.contains(['*', '?', '[']) {
            let mut found = Vec::new();
            glob_walk(
                root,
                Path::new(""),
                &pattern.split('/').collect::<Vec<_>>(),
                &mut found,
            );
            if found.is_empty() {
                return Err(bad(format!(
                    "{what} failed: no source files were specified: {n} matches nothing in the build context"
                )));
            }
            found.sort();
            out.extend(found.into_iter().map(|r| Source {
                path: root.join(&r),
                rel: r,
            }));
            continue;
        }
        let p = root.join(&rel);
        if std::fs::symlink_metadata(&p).is_err() {
            return Err(bad(format!(
                "{what} failed: file not found in build context or excluded by .dockerignore: stat {n}: file does not exist"
            )));
        }
        out.push(Source {
            path: inside(root, &p, n)?,
            rel,
        });
    }
    for s in &mut out {
        s.path = inside(root, &s.path, &s.rel.to_string_lossy())?;
    }
    Ok(out)
}

/// `p` with its symlinks resolved, refused if that leaves `root` (a context's symlink may
/// point anywhere on the daemon's host).
fn inside(root: &Path, p: &Path, name: &str) -> Result<PathBuf> {
    let Ok(real) = p.canonicalize() else {
        // A dangling link is copied as a link.
        return Ok(p.to_owned());
    };
    let croot = root
        .canonicalize()
        .map_err(|e| Error::io(format!("resolve {}", root.display()), e))?;
    if !real.starts_with(&croot) {
        return Err(bad(format!(
            "forbidden path outside the build context: {name} ({})",
            real.display()
        )));
    }
    Ok(real)
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
