//! The vulnerability database: OSV records imported into SQLite (one transaction per import:
//! nothing half-imported), indexed by ecosystem and package name. A malformed record is
//! skipped with a warning that names it; a file that is not a database is refused as such.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};
use serde::Deserialize;

use crate::Error;

/// One OSV record, the fields the scanner uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Osv {
    pub id: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub modified: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub severity: Vec<Severity>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Severity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Affected {
    pub package: PackageRef,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// A record about one package.
pub struct Entry {
    pub id: String,
    pub summary: String,
    pub severity: String,
    pub score: Option<f64>,
    pub affected: Affected,
}

pub struct Db {
    conn: Connection,
}

/// Names compared as their ecosystem compares them (PyPI's PEP 503 normalisation).
pub fn normal_name(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        berth_sbom::pep503(name)
    } else {
        name.to_owned()
    }
}

impl Db {
    /// Open (creating when `create`) the database at `path`.
    pub fn open(path: &Path, create: bool) -> Result<Db, Error> {
        let bad = |e: rusqlite::Error| Error::Db(format!("{}: {e}", path.display()));
        if !create && !path.exists() {
            return Err(Error::Db(format!(
                "{}: no vulnerability database (import one with `berth scan db import`)",
                path.display()
            )));
        }
        if create {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)
                    .map_err(|e| Error::Db(format!("{}: {e}", d.display())))?;
            }
        }
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        };
        let conn = Connection::open_with_flags(path, flags).map_err(bad)?;
        if create {
            conn.execute_batch(
                "PRAGMA journal_mode=WAL;
                 CREATE TABLE IF NOT EXISTS vuln (id TEXT PRIMARY KEY, summary TEXT NOT NULL, severity TEXT NOT NULL, score REAL, aliases TEXT NOT NULL, modified TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS affected (vuln_id TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS affected_by_package ON affected (ecosystem, name);
                 CREATE INDEX IF NOT EXISTS affected_by_vuln ON affected (vuln_id);
                 CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )
            .map_err(|e| Error::Db(format!("{}: not a vulnerability database: {e}", path.display())))?;
        }
        // A file that is not a database fails here, whatever its name.
        conn.query_row("SELECT count(*) FROM vuln", [], |r| r.get::<_, i64>(0))
            .map_err(|e| {
                Error::Db(format!(
                    "{}: not a vulnerability database: {e}",
                    path.display()
                ))
            })?;
        Ok(Db { conn })
    }

    /// Import OSV records from a JSON file (one record or a list), a directory of them
    /// (recursively) or an OSV ecosystem zip (`all.zip`). Returns (records imported, warnings
    /// for the records skipped).
    pub fn import(&mut self, source: &Path) -> Result<(usize, Vec<String>), Error> {
        let io = |p: &Path, e: std::io::Error| Error::Db(format!("{}: {e}", p.display()));
        // (where it came from, its bytes)
        let mut docs: Vec<(String, Vec<u8>)> = Vec::new();
        if source.is_dir() {
            let mut files = Vec::new();
            let mut todo = vec![source.to_path_buf()];
            while let Some(d) = todo.pop() {
                for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))?.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        todo.push(p);
                    } else if p.extension().is_some_and(|x| x == "json") {
                        files.push(p);
                    }
                }
            }
            files.sort();
            for f in files {
                let b = std::fs::read(&f).map_err(|e| io(&f, e))?;
                docs.push((f.display().to_string(), b));
            }
        } else if source.extension().is_some_and(|x| x == "zip") {
            let f = std::fs::File::open(source).map_err(|e| io(source, e))?;
            let mut z = zip::ZipArchive::new(f)
                .map_err(|e| Error::Db(format!("{}: not a zip archive: {e}", source.display())))?;
            for i in 0..z.len() {
                let mut entry = z
                    .by_index(i)
                    .map_err(|e| Error::Db(format!("{}: entry {i}: {e}", source.display())))?;
                let entry_name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
                if !entry_name.ends_with(".json") {
                    continue;
                }
                let name = format!("{}:{entry_name}", source.display());
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut b)
                    .map_err(|e| Error::Db(format!("{name}: {e}")))?;
                docs.push((name, b));
            }
        } else if source.is_file() {
            let b = std::fs::read(source).map_err(|e| io(source, e))?;
            docs.push((source.display().to_string(), b));
        } else {
            return Err(Error::Db(format!(
                "{}: no such file or directory",
                source.display()
            )));
        }
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        for (from, text) in &docs {
            let value: serde_json::Value = match serde_json::from_slice(text) {
                Ok(v) => v,
                Err(e) => {
                    warnings.push(format!("skipping {from}: not JSON: {e}"));
                    continue;
                }
            };
            let items = match value {
                serde_json::Value::Array(a) => a,
                v => vec![v],
            };
            for (i, item) in items.into_iter().enumerate() {
                let label = item
                    .get("id")
                    .and_then(|x| x.as_str())
                    .map_or_else(|| format!("record {i}"), str::to_owned);
                match serde_json::from_value::<Osv>(item) {
                    Ok(r) if !r.id.is_empty() => records.push(r),
                    Ok(_) => warnings.push(format!("skipping {from} ({label}): no id")),
                    Err(e) => warnings.push(format!("skipping {from} ({label}): {e}")),
                }
            }
        }
        let tx = self
            .conn
            .transaction()
            .map_err(|e| Error::Db(e.to_string()))?;
        for r in &records {
            let (severity, score) = crate::severity_of(r);
            tx.execute("DELETE FROM affected WHERE vuln_id = ?1", params![r.id])
                .and_then(|_| {
                    tx.execute(
                        "INSERT OR REPLACE INTO vuln (id, summary, severity, score, aliases, modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![r.id, r.summary, severity, score, r.aliases.join(","), r.modified],
                    )
                })
                .map_err(|e| Error::Db(format!("{}: {e}", r.id)))?;
            for a in &r.affected {
                let data = serde_json::to_string(a).map_err(|e| Error::Db(e.to_string()))?;
                tx.execute(
                    "INSERT INTO affected (vuln_id, ecosystem, name, data) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        r.id,
                        a.package.ecosystem,
                        normal_name(&a.package.ecosystem, &a.package.name),
                        data
                    ],
                )
                .map_err(|e| Error::Db(format!("{}: {e}", r.id)))?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('updated', ?1)",
            params![berth_sbom_now()],
        )
        .map_err(|e| Error::Db(e.to_string()))?;
        tx.commit().map_err(|e| Error::Db(e.to_string()))?;
        Ok((records.len(), warnings))
    }

    /// (records, affected entries, last import).
    pub fn status(&self) -> Result<(i64, i64, String), Error> {
        let q = |sql: &str| -> Result<i64, Error> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| Error::Db(e.to_string()))
        };
        let updated = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'updated'", [], |r| {
                r.get(0)
            })
            .unwrap_or_default();
        Ok((
            q("SELECT count(*) FROM vuln")?,
            q("SELECT count(*) FROM affected")?,
            updated,
        ))
    }

    /// The records about a package.
    pub fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<Entry>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT v.id, v.summary, v.severity, v.score, a.data FROM affected a JOIN vuln v ON v.id = a.vuln_id WHERE a.ecosystem = ?1 AND a.name = ?2",
            )
            .map_err(|e| Error::Db(e.to_string()))?;
        let rows = stmt
            .query_map(params![ecosystem, normal_name(ecosystem, name)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(|e| Error::Db(e.to_string()))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, summary, sev, score, data) = row.map_err(|e| Error::Db(e.to_string()))?;
            if let Ok(affected) = serde_json::from_str::<Affected>(&data) {
                out.push(Entry {
                    id,
                    summary,
                    severity: sev,
                    score,
                    affected,
                });
            }
        }
        Ok(out)
    }
}

fn berth_sbom_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_secs().to_string()
}
