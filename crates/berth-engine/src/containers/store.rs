//! Container records in berth.db: `containers(id, name UNIQUE, created, record JSON)`, and the
//! lookups by name, id and id prefix Docker allows.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{OptionalExtension, params};

use super::{Containers, Record};
use crate::db::lock;
use crate::{Error, Result};

/// The tables of containers and their exec sessions.
pub(super) fn open(data_root: &Path) -> Result<Mutex<rusqlite::Connection>> {
    let db = crate::db::open(
        data_root,
        "CREATE TABLE IF NOT EXISTS containers (
             id TEXT PRIMARY KEY,
             name TEXT NOT NULL UNIQUE,
             created TEXT NOT NULL,
             record TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS execs (
             id TEXT PRIMARY KEY,
             container TEXT NOT NULL,
             config TEXT NOT NULL,
             running INTEGER NOT NULL,
             exit_code INTEGER,
             pid INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS execs_container ON execs(container);",
    )?;
    // Sessions that ran under the previous daemon lost their streams with it: ended, with
    // the code of a lost supervisor (as containers whose shim died).
    lock(&db).execute(
        "UPDATE execs SET running = 0, exit_code = COALESCE(exit_code, 255) WHERE running = 1",
        [],
    )?;
    Ok(db)
}

fn parse(id: &str, text: &str) -> Result<Record> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("the record of container {id} is damaged: {e}")))
}

/// Whether a container name was claimed, or which container holds it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    Claimed,
    TakenBy(String),
}

impl Containers {
    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        lock(&self.db)
    }

    /// Full id of a container given its id, id prefix or name.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let db = self.db();
        let n = name.trim_start_matches('/');
        let exact: Option<String> = db
            .query_row(
                "SELECT id FROM containers WHERE name = ?1 OR id = ?1",
                params![n],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = exact {
            return Ok(id);
        }
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut st = db.prepare("SELECT id FROM containers WHERE id LIKE ?1 || '%' LIMIT 2")?;
            let ids: Vec<String> = st
                .query_map(params![n], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match ids.as_slice() {
                [one] => return Ok(one.clone()),
                [_, _] => {
                    return Err(Error::InvalidParameter(format!(
                        "multiple IDs found with provided prefix: {n}"
                    )));
                }
                _ => {}
            }
        }
        Err(Error::NoSuchContainer(name.to_owned()))
    }

    /// The record of a container by full id.
    pub fn record(&self, id: &str) -> Result<Record> {
        let text: String = self
            .db()
            .query_row(
                "SELECT record FROM containers WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::NoSuchContainer(id.to_owned()))?;
        parse(id, &text)
    }

    /// Every record, newest first (one query).
    pub fn records(&self) -> Result<Vec<Record>> {
        let db = self.db();
        let mut q = db.prepare_cached("SELECT id, record FROM containers ORDER BY created DESC")?;
        let rows: Vec<(String, String)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        drop(q);
        drop(db);
        // A damaged record is skipped here (inspect names it), not the whole list.
        Ok(rows
            .into_iter()
            .filter_map(|(id, t)| parse(&id, &t).ok())
            .collect())
    }

    pub(crate) fn save_record(&self, rec: &Record) -> Result<()> {
        let text = serde_json::to_string(rec).map_err(Error::internal)?;
        self.db().execute(
            "UPDATE containers SET record = ?2 WHERE id = ?1",
            params![rec.id, text],
        )?;
        Ok(())
    }

    /// Change a record on a fresh read, under the lock that orders such changes (a user's stop
    /// and the restart policy's count must not undo each other).
    pub(crate) fn update_record<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Record) -> Option<T>,
    ) -> Result<Option<T>> {
        let _g = crate::db::guard(&self.rmw);
        let mut rec = self.record(id)?;
        let r = f(&mut rec);
        if r.is_some() {
            self.save_record(&rec)?;
        }
        Ok(r)
    }

    /// Insert a new record, unless its name is taken.
    pub(crate) fn insert(&self, rec: &Record) -> Result<Claim> {
        let text = serde_json::to_string(rec).map_err(Error::internal)?;
        let db = self.db();
        match db.execute(
            "INSERT INTO containers (id, name, created, record) VALUES (?1, ?2, ?3, ?4)",
            params![rec.id, rec.short_name(), rec.created, text],
        ) {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) if crate::error::is_unique_violation(&e) => {
                let other: String = db
                    .query_row(
                        "SELECT id FROM containers WHERE name = ?1",
                        params![rec.short_name()],
                        |r| r.get(0),
                    )
                    .unwrap_or_default();
                Ok(Claim::TakenBy(other))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The row and the container's exec sessions go (the container is gone for every client).
    pub(crate) fn delete_record(&self, id: &str) -> Result<()> {
        let db = self.db();
        db.execute("DELETE FROM containers WHERE id = ?1", params![id])?;
        db.execute("DELETE FROM execs WHERE container = ?1", params![id])?;
        Ok(())
    }

    /// A new name for a record, unless it is taken.
    pub(crate) fn save_renamed(&self, rec: &Record) -> Result<Claim> {
        let text = serde_json::to_string(rec).map_err(Error::internal)?;
        // The connection's guard ends with the statement: the conflict's lookup takes it again.
        let r = self.db().execute(
            "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1",
            params![rec.id, rec.short_name(), text],
        );
        match r {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) if crate::error::is_unique_violation(&e) => Ok(Claim::TakenBy(
                self.resolve(rec.short_name()).unwrap_or_default(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Ids of every container, newest first.
    pub fn ids(&self) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare_cached("SELECT id FROM containers ORDER BY created DESC")?;
        let ids = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// The name of a container (without the slash), or its id if it has none.
    pub fn name_of(&self, id: &str) -> String {
        self.db()
            .query_row(
                "SELECT name FROM containers WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| id.to_owned())
    }

    /// A container using image `image_id` (its short id), for `rmi`'s refusal.
    pub fn user_of(&self, image_id: &str) -> Option<String> {
        self.records()
            .ok()?
            .into_iter()
            .find(|r| r.image == image_id)
            .map(|r| r.short_id().to_owned())
    }

    /// Containers (ids) whose mount points use volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| r.mount_points.iter().any(|m| m.name == name))
            .map(|r| r.id)
            .collect())
    }

    /// Ids of the networks some container (running or not) is configured on.
    pub fn networks_in_use(&self) -> Result<HashSet<String>> {
        let mut used = HashSet::new();
        for rec in self.records()? {
            for n in crate::networks::networks_of(&rec) {
                if let Ok(nid) = self.networks.id_of(&n) {
                    used.insert(nid);
                }
            }
        }
        Ok(used)
    }
}
