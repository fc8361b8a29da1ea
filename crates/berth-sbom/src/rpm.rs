//! rpm's SQLite database (`rpmdb.sqlite`, RHEL 9, Fedora 33+, openSUSE): each row of its
//! `Packages` table is an rpm header — an index of (tag, type, offset, count) entries over a
//! data store — read here for the name, epoch, version, release, arch, licence and source rpm.

use crate::os::Distro;
use crate::view::View;
use crate::{Kind, Package, purl};

const NAME: i32 = 1000;
const VERSION: i32 = 1001;
const RELEASE: i32 = 1002;
const EPOCH: i32 = 1003;
const LICENSE: i32 = 1014;
const ARCH: i32 = 1022;
const SOURCERPM: i32 = 1044;

const T_INT32: i32 = 4;
const T_STRING: i32 = 6;
const T_STRING_ARRAY: i32 = 8;
const T_I18NSTRING: i32 = 9;

/// The fields Berth reads from one header blob.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i32>,
    pub arch: String,
    pub license: String,
    pub source_rpm: String,
}

fn be(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parse a header blob (as rpmdb.sqlite stores it: no leading magic).
pub fn header(blob: &[u8]) -> Option<Header> {
    let il = usize::try_from(be(blob, 0)?).ok()?;
    let dl = usize::try_from(be(blob, 4)?).ok()?;
    let data_at = 8 + il.checked_mul(16)?;
    let data = blob.get(data_at..data_at.checked_add(dl)?)?;
    let mut h = Header::default();
    for i in 0..il {
        let e = 8 + i * 16;
        let (tag, ty, off) = (be(blob, e)?, be(blob, e + 4)?, be(blob, e + 8)?);
        let off = usize::try_from(off).ok()?;
        let string = || -> Option<String> {
            let rest = data.get(off..)?;
            let end = rest.iter().position(|b| *b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        let is_str = matches!(ty, T_STRING | T_STRING_ARRAY | T_I18NSTRING);
        match tag {
            NAME if is_str => h.name = string()?,
            VERSION if is_str => h.version = string()?,
            RELEASE if is_str => h.release = string()?,
            ARCH if is_str => h.arch = string()?,
            LICENSE if is_str => h.license = string()?,
            SOURCERPM if is_str => h.source_rpm = string()?,
            EPOCH if ty == T_INT32 => h.epoch = be(data, off),
            _ => {}
        }
    }
    Some(h)
}

pub fn packages(v: &View, distro: Option<&Distro>) -> Vec<Package> {
    let mut out = Vec::new();
    let dbs: Vec<String> = v
        .files()
        .filter(|f| f.path.ends_with("rpm/rpmdb.sqlite"))
        .map(|f| f.path.to_owned())
        .collect();
    for path in dbs {
        let Some(bytes) = v.read(&path) else { continue };
        // SQLite reads a file: the database goes to a private temporary one.
        let Ok(tmp) = tempfile_with(&bytes) else {
            continue;
        };
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            tmp.path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            continue;
        };
        let Ok(mut stmt) = conn.prepare("SELECT blob FROM Packages") else {
            continue;
        };
        let Ok(rows) = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)) else {
            continue;
        };
        for blob in rows.flatten() {
            let Some(h) = header(&blob) else { continue };
            if h.name.is_empty() || h.name == "gpg-pubkey" {
                continue;
            }
            let version = match h.epoch {
                Some(e) if e > 0 => format!("{e}:{}-{}", h.version, h.release),
                _ => format!("{}-{}", h.version, h.release),
            };
            let purl = purl(
                "rpm",
                distro.map(|d| d.id.as_str()).unwrap_or_default(),
                &h.name,
                &format!("{}-{}", h.version, h.release),
                &[
                    ("arch", h.arch.clone()),
                    (
                        "epoch",
                        h.epoch
                            .filter(|e| *e > 0)
                            .map(|e| e.to_string())
                            .unwrap_or_default(),
                    ),
                    ("upstream", h.source_rpm.clone()),
                    ("distro", distro.map(Distro::qualifier).unwrap_or_default()),
                ],
            );
            out.push(Package {
                name: h.name.clone(),
                version,
                kind: Kind::Rpm,
                locations: vec![format!("/{path}")],
                layer: v.layer_of(&path).unwrap_or_default().to_owned(),
                licenses: if h.license.is_empty() {
                    Vec::new()
                } else {
                    vec![h.license.clone()]
                },
                purl,
                source: h.source_rpm,
                source_version: String::new(),
                arch: h.arch,
            });
        }
    }
    out
}

/// A private temporary file holding `bytes` (removed when dropped).
struct Tmp(std::path::PathBuf);

impl Tmp {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_with(bytes: &[u8]) -> std::io::Result<Tmp> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("berth-rpmdb-{}-{n}.sqlite", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)?;
    f.write_all(bytes)?;
    Ok(Tmp(p))
}

/// A header blob with the given (tag, type, value) entries (strings, or an INT32): for tests
/// and fixtures.
pub fn make_header(entries: &[(i32, &str)], epoch: Option<i32>) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    let mut count: i32 = 0;
    if let Some(e) = epoch {
        while data.len() % 4 != 0 {
            data.push(0);
        }
        index.extend([EPOCH, T_INT32, data.len() as i32, 1]);
        data.extend(e.to_be_bytes());
        count += 1;
    }
    for (tag, s) in entries {
        index.extend([*tag, T_STRING, data.len() as i32, 1]);
        data.extend(s.as_bytes());
        data.push(0);
        count += 1;
    }
    let mut out = Vec::new();
    out.extend(count.to_be_bytes());
    out.extend((data.len() as i32).to_be_bytes());
    for v in index {
        out.extend(v.to_be_bytes());
    }
    out.extend(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips() {
        let b = make_header(
            &[
                (NAME, "bash"),
                (VERSION, "5.1.8"),
                (RELEASE, "6.el9"),
                (ARCH, "x86_64"),
                (LICENSE, "GPLv3+"),
                (SOURCERPM, "bash-5.1.8-6.el9.src.rpm"),
            ],
            Some(1),
        );
        let h = header(&b).expect("header");
        assert_eq!(h.name, "bash");
        assert_eq!(h.epoch, Some(1));
        assert_eq!(h.source_rpm, "bash-5.1.8-6.el9.src.rpm");
        assert!(header(&b[..10]).is_none(), "a truncated blob");
    }
}
