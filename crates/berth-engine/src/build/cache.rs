//! The build cache: a step's key (derived from its parent's key, the instruction, the
//! variables it uses and the content of the files it copies) → the image its result is.
//! Entries are files `<image-root>/buildcache/<key>.json` written whole (temporary file,
//! fsync, rename) only after the image they name is recorded, so a killed build never leaves
//! an entry that points at half a result; an entry whose image is gone is a miss.

use std::path::{Path, PathBuf};

use berth_image::images::Images;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// Changes whenever the meaning of keys changes.
const KEY_VERSION: &str = "berth-build-cache-v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub image: String,
    /// Unix seconds.
    pub created: i64,
    pub last_used: i64,
}

pub struct Cache {
    dir: PathBuf,
}

/// A key from its parts.
pub fn key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(KEY_VERSION);
    h.update([0]);
    h.update(parent);
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    format!("{:x}", h.finalize())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Cache {
    pub fn open(images: &Images) -> Result<Cache> {
        let dir = images.root().join("buildcache");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        // Temporary files of writers that died (`.<key>.json.<pid>.tmp`).
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_suffix(".tmp")
                .and_then(|n| n.rsplit('.').next())
                .and_then(|p| p.parse::<i64>().ok());
            if let Some(pid) = pid {
                if pid != i64::from(std::process::id()) && !crate::util::pid_alive(pid) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Cache { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The image of a key, if it is still there.
    pub fn get(&self, images: &Images, key: &str) -> Option<String> {
        let p = self.path(key);
        let mut e: Entry = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
        images.resolve(&e.image).ok()?;
        // The use time only orders pruning: written at most once a minute per entry.
        let t = now();
        if t - e.last_used > 60 {
            e.last_used = t;
            let _ = write_atomic(&p, &e);
        }
        Some(e.image)
    }

    /// Remember `key` → `image` (recorded already).
    pub fn put(&self, key: &str, image: &str) -> Result<()> {
        let t = now();
        write_atomic(
            &self.path(key),
            &Entry {
                image: image.to_owned(),
                created: t,
                last_used: t,
            },
        )
    }

    /// Every entry, with its key.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // (Temporary files of dead writers went when the cache was opened.)
            let Some(key) = name
                .strip_suffix(".json")
                .filter(|_| !name.starts_with('.'))
            else {
                continue;
            };
            if let Some(entry) = std::fs::read(e.path())
                .ok()
                .and_then(|d| serde_json::from_slice(&d).ok())
            {
                out.push((key.to_owned(), entry));
            }
        }
        out
    }

    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }
}

fn write_atomic(p: &Path, e: &Entry) -> Result<()> {
    use std::io::Write;
    let tmp = p.with_file_name(format!(
        ".{}.{}.tmp",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let data = serde_json::to_vec(e).map_err(|e| Error::Internal(e.to_string()))?;
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, p)
    })();
    r.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("write {}", p.display()), e)
    })
}
