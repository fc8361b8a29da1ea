//! The API audit log: every mutating request (who by its socket peer's credentials, what,
//! on which object, with what result) appended to `<data-root>/audit.log`, one JSON line per
//! entry, each carrying the hash of the one before and its own: editing, removing or
//! reordering any entry breaks the chain, and `audit.head` (the last sequence number and hash,
//! replaced atomically) shows entries cut off the end.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// One request, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub method: String,
    pub path: String,
    /// The object the request names (a container, image, network, volume, exec).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// A dashboard user's request: `NAME@ADDRESS` (the socket's callers have none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The previous entry's hash (64 zeros for the first).
    pub prev: String,
    /// sha256 of `prev` and this entry's other fields.
    pub hash: String,
}

/// What a request was, for [`AuditLog::append`].
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub method: String,
    pub path: String,
    pub target: String,
    pub status: u16,
    pub error: String,
    pub user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn digest(e: &Entry) -> String {
    let mut body = serde_json::json!([
        e.seq, e.time, e.uid, e.gid, e.pid, e.method, e.path, e.target, e.status, e.error, e.prev
    ]);
    // Entries without a user hash as they did before the field existed.
    if !e.user.is_empty() {
        if let Some(a) = body.as_array_mut() {
            a.push(serde_json::Value::String(e.user.clone()));
        }
    }
    let h = Sha256::digest(body.to_string().as_bytes());
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The log of a data root.
pub struct AuditLog {
    path: PathBuf,
    head_path: PathBuf,
    state: Mutex<Head>,
}

/// The result of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Verification {
    pub entries: u64,
    pub ok: bool,
    /// Where the chain breaks, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl AuditLog {
    /// Open (or start) the log in `dir`; a line torn by a crash mid-write is dropped.
    pub fn open(dir: &std::path::Path) -> Result<AuditLog> {
        let path = dir.join("audit.log");
        let head_path = dir.join("audit.head");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        if !data.is_empty() && !data.ends_with(b"\n") {
            let keep = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            eprintln!(
                "berth: audit log: dropping a torn last line ({} bytes)",
                data.len() - keep
            );
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
            f.set_len(keep as u64)
                .map_err(|e| Error::io(format!("truncate {}", path.display()), e))?;
        }
        let last = data
            .split(|b| *b == b'\n')
            .rev()
            .find(|l| !l.is_empty() && l.ends_with(b"}"))
            .and_then(|l| serde_json::from_slice::<Entry>(l).ok());
        let head = last.map_or_else(
            || Head {
                seq: 0,
                hash: GENESIS.into(),
            },
            |e| Head {
                seq: e.seq,
                hash: e.hash,
            },
        );
        Ok(AuditLog {
            path,
            head_path,
            state: Mutex::new(head),
        })
    }

    /// The log's text (empty before the first entry).
    fn text(&self) -> Result<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::io(format!("read {}", self.path.display()), e)),
        }
    }

    /// Append one request.
    pub fn append(&self, r: Request) -> Result<()> {
        let mut head = crate::db::guard(&self.state);
        let mut e = Entry {
            seq: head.seq + 1,
            time: crate::time::now_rfc3339(),
            uid: r.uid,
            gid: r.gid,
            pid: r.pid,
            method: r.method,
            path: r.path,
            target: r.target,
            status: r.status,
            error: r.error,
            user: r.user,
            prev: head.hash.clone(),
            hash: String::new(),
        };
        e.hash = digest(&e);
        let mut line = serde_json::to_vec(&e).map_err(Error::internal)?;
        line.push(b'\n');
        // One write of the whole line in append mode: lines never interleave.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|er| Error::io(format!("append to {}", self.path.display()), er))?;
        *head = Head {
            seq: e.seq,
            hash: e.hash,
        };
        let tmp = self.head_path.with_extension("tmp");
        let data = serde_json::to_vec(&*head).map_err(Error::internal)?;
        std::fs::write(&tmp, data)
            .and_then(|_| std::fs::rename(&tmp, &self.head_path))
            .map_err(|er| Error::io(format!("write {}", self.head_path.display()), er))
    }

    /// The entries at or after `since` (Unix seconds or RFC 3339; empty: all).
    pub fn entries(&self, since: &str) -> Result<Vec<Entry>> {
        let since = since
            .parse::<i64>()
            .map_or_else(|_| since.to_owned(), berth_units::rfc3339);
        let since = since.as_str();
        let text = self.text()?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
            // By the second: `since` may carry no fraction.
            .filter(|e| since.is_empty() || e.time.get(..19) >= since.get(..19))
            .collect())
    }

    /// Check the chain from the first entry to the head.
    pub fn verify(&self) -> Result<Verification> {
        let text = self.text()?;
        let bad = |n: u64, p: String| Verification {
            entries: n,
            ok: false,
            problem: Some(p),
        };
        let mut prev = GENESIS.to_owned();
        let mut n = 0u64;
        for (i, line) in text.lines().enumerate() {
            let e: Entry = match serde_json::from_str(line) {
                Ok(e) => e,
                Err(err) => return Ok(bad(n, format!("line {}: not an entry: {err}", i + 1))),
            };
            if e.seq != n + 1 {
                return Ok(bad(
                    n,
                    format!(
                        "line {}: entry {} where {} was due (removed or reordered)",
                        i + 1,
                        e.seq,
                        n + 1
                    ),
                ));
            }
            if e.prev != prev {
                return Ok(bad(
                    n,
                    format!(
                        "line {}: entry {} does not follow the one before",
                        i + 1,
                        e.seq
                    ),
                ));
            }
            if digest(&e) != e.hash {
                return Ok(bad(
                    n,
                    format!("line {}: entry {} was changed", i + 1, e.seq),
                ));
            }
            prev = e.hash;
            n += 1;
        }
        let head: Option<Head> = std::fs::read(&self.head_path)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok());
        if let Some(h) = head {
            if h.seq != n || h.hash != prev {
                return Ok(bad(
                    n,
                    format!(
                        "the log ends at entry {n}, but entry {} was written (entries removed from the end)",
                        h.seq
                    ),
                ));
            }
        }
        Ok(Verification {
            entries: n,
            ok: true,
            problem: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> Request {
        Request {
            method: "POST".into(),
            path: path.into(),
            status: 204,
            ..Default::default()
        }
    }

    #[test]
    fn any_edit_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for p in ["/containers/a/start", "/containers/b/stop", "/images/c/tag"] {
            log.append(req(p)).unwrap();
        }
        assert_eq!(log.verify().unwrap().entries, 3);
        assert!(log.verify().unwrap().ok);
        let path = dir.path().join("audit.log");
        let orig = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = orig.lines().collect();
        let check = |text: String, want: &str| {
            std::fs::write(&path, text).unwrap();
            let v = AuditLog::open(dir.path()).unwrap().verify().unwrap();
            assert!(!v.ok, "{want}");
            assert!(
                v.problem.as_deref().unwrap_or_default().contains(want),
                "{v:?}"
            );
        };
        check(
            orig.replace("/containers/b/stop", "/containers/x/stop"),
            "changed",
        );
        check(
            format!("{}\n{}\n", lines[0], lines[2]),
            "removed or reordered",
        );
        check(
            format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]),
            "removed or reordered",
        );
        check(
            format!("{}\n{}\n", lines[0], lines[1]),
            "removed from the end",
        );
        // Back to the original; a torn line from a crash is dropped on open.
        std::fs::write(&path, format!("{orig}{{\"seq\":4,")).unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        assert!(log.verify().unwrap().ok);
        log.append(req("/volumes/create")).unwrap();
        assert_eq!(log.verify().unwrap().entries, 4);
        assert_eq!(log.entries("").unwrap().len(), 4);
    }
}
