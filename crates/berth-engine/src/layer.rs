//! An overlay upper directory as an image layer: a tar with overlay whiteouts turned back into
//! OCI ones (`.wh.name`, `.wh..wh..opq`), entries in a stable order; with a clamp time
//! (`SOURCE_DATE_EPOCH`) no entry is newer than it, so the same content gives the same digest.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::Digest;
use berth_image::images::Images;

use crate::{Error, Result};

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

pub(crate) fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

pub(crate) fn opaque(p: &Path) -> bool {
    let mut buf = [0u8; 2];
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: lgetxattr into a local buffer of the given size; the name is a C string.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Every path under `dir` (relative, sorted, parents first).
pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        names.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        for e in names {
            let r = rel.join(e.file_name());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(r.clone());
            }
            out.push(r);
        }
    }
    out.sort();
    out
}

fn empty_entry(b: &mut tar::Builder<impl Write>, name: &Path, mtime: u64) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, name, std::io::empty())
        .map_err(internal)
}

/// Write `upper` as an uncompressed layer blob (its digest is also its diff id).
pub fn write_layer(images: &Images, upper: &Path, clamp: Option<i64>) -> Result<Digest> {
    let mut w = images.store().writer(None)?;
    {
        let mut sw = StoreWrite(&mut w);
        let mut b = tar::Builder::new(&mut sw);
        b.follow_symlinks(false);
        let clamp_to = |t: i64| -> u64 {
            let t = t.max(0);
            clamp.map_or(t, |c| t.min(c.max(0))) as u64
        };
        for rel in walk(upper) {
            let p = upper.join(&rel);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let mtime = clamp_to(m.mtime());
            if is_whiteout(&m) {
                let name = rel.parent().unwrap_or(Path::new("")).join(format!(
                    ".wh.{}",
                    rel.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ));
                empty_entry(&mut b, &name, mtime)?;
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
            h.set_mtime(mtime);
            if m.file_type().is_symlink() {
                let target = std::fs::read_link(&p).map_err(internal)?;
                b.append_link(&mut h, &rel, &target).map_err(internal)?;
            } else if m.is_file() {
                let f = std::fs::File::open(&p).map_err(internal)?;
                b.append_data(&mut h, &rel, f).map_err(internal)?;
            } else {
                b.append_data(&mut h, &rel, std::io::empty())
                    .map_err(internal)?;
            }
            if m.is_dir() && opaque(&p) {
                empty_entry(&mut b, &rel.join(".wh..wh..opq"), mtime)?;
            }
        }
        b.finish().map_err(internal)?;
    }
    Ok(w.commit()?)
}

/// The store's blob writer as an `io::Write`.
pub(crate) struct StoreWrite<'a>(pub(crate) &'a mut berth_image::store::Writer);

impl Write for StoreWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
