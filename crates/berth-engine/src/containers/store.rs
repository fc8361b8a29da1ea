//! Container records in berth.db: `containers(id, name UNIQUE, created, record JSON)`, and the
//! lookups by name, id and id prefix Docker allows.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

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

/// Parsed records by id, kept in step with the table: every write updates both while it holds
/// the connection's lock, so reads (lists, inspect, the supervisor's sweeps) neither query
/// SQLite nor parse JSON. Loaded on first use; `None` until then.
pub(super) type Cache = RwLock<Option<HashMap<String, Arc<Record>>>>;

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
        let n = name.trim_start_matches('/');
        let hex = !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit());
        let hit = self.cached(|m| {
            if let Some(r) = m.get(n) {
                return Ok(Some(r.id.clone()));
            }
            if let Some(r) = m.values().find(|r| r.short_name() == n) {
                return Ok(Some(r.id.clone()));
            }
            if !hex {
                return Ok(None);
            }
            let mut ids = m.keys().filter(|id| id.starts_with(n));
            match (ids.next(), ids.next()) {
                (Some(one), None) => Ok(Some(one.clone())),
                (Some(_), Some(_)) => Err(Error::InvalidParameter(format!(
                    "multiple IDs found with provided prefix: {n}"
                ))),
                _ => Ok(None),
            }
        })??;
        if let Some(id) = hit {
            return Ok(id);
        }
        // Not among the parsed records: a damaged one may still hold the name (record() then
        // says what is wrong with it).
        let db = self.db();
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
        if let Some(r) = self.cached(|m| m.get(id).cloned())? {
            return Ok((*r).clone());
        }
        // Not cached: absent, or damaged (which the table's text names).
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

    /// Every record, newest first. A damaged record is left out here (inspect names it), not
    /// the whole list.
    pub fn records(&self) -> Result<Vec<Arc<Record>>> {
        let mut v: Vec<Arc<Record>> = self.cached(|m| m.values().cloned().collect())?;
        v.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
        Ok(v)
    }

    /// `f` over the cache, loaded first if need be.
    fn cached<T>(&self, f: impl FnOnce(&HashMap<String, Arc<Record>>) -> T) -> Result<T> {
        if let Some(m) = crate::db::read(&self.cache).as_ref() {
            return Ok(f(m));
        }
        // Loaded under the connection's lock: no write slips between the read and the fill.
        let db = self.db();
        let mut w = crate::db::write(&self.cache);
        if w.is_none() {
            let mut q = db.prepare_cached("SELECT id, record FROM containers")?;
            let rows: Vec<(String, String)> = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            *w = Some(
                rows.into_iter()
                    .filter_map(|(id, t)| parse(&id, &t).ok().map(|r| (id, Arc::new(r))))
                    .collect(),
            );
        }
        Ok(f(w.as_ref().expect("filled above")))
    }

    /// Applies a write to the cache (called with the connection's lock held).
    fn cache_put(&self, rec: &Record) {
        if let Some(m) = crate::db::write(&self.cache).as_mut() {
            m.insert(rec.id.clone(), Arc::new(rec.clone()));
        }
    }

    pub(crate) fn save_record(&self, rec: &Record) -> Result<()> {
        let text = serde_json::to_string(rec).map_err(Error::internal)?;
        let db = self.db();
        if db.execute(
            "UPDATE containers SET record = ?2 WHERE id = ?1",
            params![rec.id, text],
        )? > 0
        {
            self.cache_put(rec);
        }
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
            Ok(_) => {
                self.cache_put(rec);
                Ok(Claim::Claimed)
            }
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
        if let Some(m) = crate::db::write(&self.cache).as_mut() {
            m.remove(id);
        }
        db.execute("DELETE FROM execs WHERE container = ?1", params![id])?;
        self.forget_shim(id);
        Ok(())
    }

    /// A new name for a record, unless it is taken.
    pub(crate) fn save_renamed(&self, rec: &Record) -> Result<Claim> {
        let text = serde_json::to_string(rec).map_err(Error::internal)?;
        let db = self.db();
        let r = db.execute(
            "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1",
            params![rec.id, rec.short_name(), text],
        );
        if matches!(r, Ok(n) if n > 0) {
            self.cache_put(rec);
        }
        // The connection's guard ends here: the conflict's lookup takes it again.
        drop(db);
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
        Ok(self.records()?.iter().map(|r| r.id.clone()).collect())
    }

    /// The name of a container (without the slash), or its id if it has none.
    pub fn name_of(&self, id: &str) -> String {
        if let Ok(Some(name)) = self.cached(|m| m.get(id).map(|r| r.short_name().to_owned())) {
            return name;
        }
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
            .map(|r| r.id.clone())
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
