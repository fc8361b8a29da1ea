//! The content store: `blobs/sha256/<hex>`, one file per blob. A blob is written to
//! `ingest/` while its digest is computed, checked against the expected one, and only then
//! renamed into place — so a partially written or corrupt blob is never visible, and two
//! concurrent ingests of the same blob both succeed (the rename is atomic, the content equal).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, Result, io};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// One blob being written; see [`Store::writer`].
pub struct Writer {
    store: Store,
    tmp: PathBuf,
    file: Option<std::fs::File>,
    hash: Sha256,
    expected: Option<Digest>,
    written: u64,
    committed: bool,
}

impl Writer {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hash.update(data);
        self.written += data.len() as u64;
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| Error::Format("blob writer already committed".into()))?;
        io(f.write_all(data), || {
            format!("write {}", self.tmp.display())
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verify the digest (if one was expected), make the blob durable and visible.
    pub fn commit(mut self) -> Result<Digest> {
        let actual = Digest::from_hasher(self.hash.clone());
        if let Some(e) = &self.expected {
            if *e != actual {
                return Err(Error::DigestMismatch {
                    expected: e.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let f = self
            .file
            .take()
            .ok_or_else(|| Error::Format("blob writer already committed".into()))?;
        io(f.sync_all(), || format!("sync {}", self.tmp.display()))?;
        drop(f);
        io(std::fs::rename(&self.tmp, self.store.path(&actual)), || {
            format!("commit {actual}")
        })?;
        self.committed = true;
        Ok(actual)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not committed (error or abandoned): nothing of it may remain.
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A content store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store at `root`. Leftover ingests of a crashed writer are
    /// removed.
    pub fn open(root: &Path) -> Result<Store> {
        let s = Store {
            root: root.to_owned(),
        };
        io(std::fs::create_dir_all(s.blobs()), || {
            format!("create {}", s.blobs().display())
        })?;
        io(std::fs::create_dir_all(s.ingest()), || {
            format!("create {}", s.ingest().display())
        })?;
        // Ingests of writers that died (named `<pid>-…`); live writers keep theirs.
        for e in std::fs::read_dir(s.ingest())
            .into_iter()
            .flatten()
            .flatten()
        {
            if !crate::owner_alive(&e.file_name().to_string_lossy()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(s)
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    fn ingest(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Where the blob `d` lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs().join(d.hex())
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Read a whole blob.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        std::fs::read(self.path(d)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(d.to_string()),
            _ => Error::Io {
                ctx: format!("read {d}"),
                source: e,
            },
        })
    }

    /// Store what `r` yields. With `expected`, the content must have that digest, or nothing is
    /// stored and [`Error::DigestMismatch`] is returned.
    pub fn ingest_from(&self, mut r: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        if let Some(d) = expected.filter(|d| self.has(d)) {
            return Ok(d.clone());
        }
        let mut w = self.writer(expected.cloned())?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = io(r.read(&mut buf), || "read blob content".into())?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
        w.commit()
    }

    /// A writer for one new blob: content goes to `ingest/`, [`Writer::commit`] verifies it and
    /// makes it visible; dropping the writer uncommitted removes what was written.
    pub fn writer(&self, expected: Option<Digest>) -> Result<Writer> {
        let tmp = self.ingest().join(format!(
            "{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let file = io(std::fs::File::create(&tmp), || {
            format!("create {}", tmp.display())
        })?;
        Ok(Writer {
            store: self.clone(),
            tmp,
            file: Some(file),
            hash: Sha256::new(),
            expected,
            written: 0,
            committed: false,
        })
    }

    /// Store `data`.
    pub fn ingest_bytes(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        self.ingest_from(data, expected)
    }

    /// Every blob in the store.
    pub fn list(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = std::fs::read_dir(self.blobs())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
            })
            .collect();
        out.sort();
        out
    }

    /// Remove every blob not in `keep`, and abandoned ingests. Returns the removed digests.
    pub fn gc(&self, keep: &HashSet<Digest>) -> Result<Vec<Digest>> {
        let mut removed = Vec::new();
        for d in self.list() {
            if !keep.contains(&d) {
                io(std::fs::remove_file(self.path(&d)), || {
                    format!("remove {d}")
                })?;
                removed.push(d);
            }
        }
        for e in std::fs::read_dir(self.ingest())
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_file(e.path());
        }
        Ok(removed)
    }

    /// Check every blob's content against its name; the digests of blobs that do not match.
    pub fn verify(&self) -> Result<Vec<Digest>> {
        let mut bad = Vec::new();
        for d in self.list() {
            let mut f = io(std::fs::File::open(self.path(&d)), || format!("open {d}"))?;
            let mut h = Sha256::new();
            io(std::io::copy(&mut f, &mut h), || format!("read {d}"))?;
            if Digest::from_hasher(h) != d {
                bad.push(d);
            }
        }
        Ok(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_verifies_and_commits_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let d = s.ingest_bytes(b"hello", None).expect("ingest");
        assert_eq!(s.read(&d).expect("read"), b"hello");
        let wrong = Digest::of(b"other");
        let e = s.ingest_bytes(b"hello!", Some(&wrong)).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(
            !s.has(&wrong) && !s.has(&Digest::of(b"hello!")),
            "nothing of a bad ingest is visible"
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("ingest"))
                .expect("ingest dir")
                .count(),
            0
        );
        assert!(s.verify().expect("verify").is_empty());
    }

    #[test]
    fn concurrent_ingests_of_one_blob_are_safe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let data = vec![7u8; 1 << 20];
        let want = Digest::of(&data);
        std::thread::scope(|sc| {
            for _ in 0..8 {
                sc.spawn(|| s.ingest_bytes(&data, Some(&want)).expect("ingest"));
            }
        });
        assert_eq!(s.list(), vec![want.clone()]);
        assert!(s.verify().expect("verify").is_empty());
    }

    #[test]
    fn gc_keeps_only_referenced_blobs_and_verify_finds_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let a = s.ingest_bytes(b"a", None).expect("a");
        let b = s.ingest_bytes(b"b", None).expect("b");
        std::fs::write(dir.path().join("ingest/leftover"), b"half").expect("leftover");
        let removed = s.gc(&HashSet::from([a.clone()])).expect("gc");
        assert_eq!(removed, vec![b]);
        assert_eq!(s.list(), vec![a.clone()]);
        assert!(!dir.path().join("ingest/leftover").exists());
        std::fs::write(s.path(&a), b"tampered").expect("tamper");
        assert_eq!(s.verify().expect("verify"), vec![a]);
    }
}
