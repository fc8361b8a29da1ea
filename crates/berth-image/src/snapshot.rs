//! Layer snapshots: each layer is unpacked once, into `layers/<chain-id>/`, where the chain id
//! identifies the layer together with everything below it (OCI image spec). Unpacking goes to a
//! temporary directory renamed into place, so a crash never leaves a half-unpacked layer under
//! its final name, and a layer shared by several images is unpacked only once.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Result, io};

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Chain ids of a stack of layers given their diff ids (bottom first).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                Digest::from_hasher(Sha256::new_with_prefix(format!("{prev} {d}").as_bytes()))
            }
        };
        out.push(next);
    }
    out
}

/// The layers directory.
#[derive(Debug, Clone)]
pub struct Layers {
    dir: PathBuf,
}

impl Layers {
    pub fn open(dir: &Path) -> Result<Layers> {
        io(std::fs::create_dir_all(dir), || {
            format!("create {}", dir.display())
        })?;
        // Leftovers of an unpack whose process died (`.tmp-<pid>-…`).
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(".tmp-") {
                if !crate::owner_alive(rest) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(Layers {
            dir: dir.to_owned(),
        })
    }

    pub fn path(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex())
    }

    pub fn has(&self, chain: &Digest) -> bool {
        self.path(chain).is_dir()
    }

    /// The unpacked size of a layer in bytes (recorded when it was unpacked; measured and
    /// recorded if that record is missing).
    pub fn size(&self, chain: &Digest) -> u64 {
        let rec = self.dir.join(format!("{}.size", chain.hex()));
        if let Some(n) = std::fs::read_to_string(&rec)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return n;
        }
        let n = du(&self.path(chain));
        let _ = std::fs::write(&rec, n.to_string());
        n
    }

    /// Remove every layer whose chain id (`sha256:…`) is not in `keep`.
    pub fn gc(&self, keep: &std::collections::HashSet<String>) -> Result<()> {
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let hex = name.trim_end_matches(".size");
            if hex.starts_with('.') || keep.contains(&format!("sha256:{hex}")) {
                continue;
            }
            let p = e.path();
            let r = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            io(r, || format!("remove layer {}", p.display()))?;
        }
        Ok(())
    }

    /// Unpack `blob` as the layer `chain` unless it is there already. With `diff_id`, the
    /// blob's uncompressed content must have that digest or nothing is committed.
    pub fn ensure(&self, chain: &Digest, blob: &Path, diff_id: Option<&Digest>) -> Result<PathBuf> {
        let dest = self.path(chain);
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            chain.hex()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        io(std::fs::create_dir(&tmp), || {
            format!("create {}", tmp.display())
        })?;
        let res = (|| {
            let f = io(std::fs::File::open(blob), || {
                format!("open {}", blob.display())
            })?;
            let stats = match diff_id {
                Some(d) => crate::unpack::unpack_verified(f, &tmp, d)?,
                None => crate::unpack::unpack(f, &tmp)?,
            };
            let _ = std::fs::write(
                self.dir.join(format!("{}.size", chain.hex())),
                stats.bytes.to_string(),
            );
            match std::fs::rename(&tmp, &dest) {
                Ok(()) => Ok(()),
                // Someone else finished the same layer first.
                Err(_) if dest.is_dir() => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    Ok(())
                }
                Err(e) => Err(crate::Error::Io {
                    ctx: format!("commit layer {chain}"),
                    source: e,
                }),
            }
        })();
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        res.map(|()| dest)
    }
}

/// Bytes of regular files under `dir` (not following symlinks).
pub fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// A container's root filesystem: an overlay of the image's layers (bottom first, as chain ids)
/// with the container's own `upper` and `work` directories, mounted on `target`.
pub fn mount_rootfs(
    layers: &Layers,
    chains: &[Digest],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<()> {
    if chains.is_empty() {
        return Err(crate::Error::Format(
            "an image without layers has no root filesystem".into(),
        ));
    }
    // overlayfs wants the top layer first.
    let lower: Vec<PathBuf> = chains.iter().rev().map(|c| layers.path(c)).collect();
    mount_overlay(&lower, upper, work, target)
}

/// An overlay of `lower` (top first) with `upper` and `work` (made if missing) on `target`.
pub fn mount_overlay(lower: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    for d in [upper, work, target] {
        io(std::fs::create_dir_all(d), || {
            format!("create {}", d.display())
        })?;
    }
    let lower: Vec<String> = lower.iter().map(|l| l.display().to_string()).collect();
    for l in &lower {
        if l.contains(',') || l.contains(':') {
            return Err(crate::Error::Format(format!(
                "layer path {l:?} cannot be used in overlay options"
            )));
        }
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| crate::Error::Io {
        ctx: format!("mount overlay on {}", target.display()),
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
