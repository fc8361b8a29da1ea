//! `<data-root>/berth.db`: SQLite in WAL mode, one connection per store, each applying its
//! own `CREATE TABLE IF NOT EXISTS` schema.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::Result;

/// A connection with the engine's pragmas and `schema` applied.
pub fn open(data_root: &Path, schema: &str) -> Result<Mutex<rusqlite::Connection>> {
    let db = rusqlite::Connection::open(data_root.join("berth.db"))?;
    db.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; {schema}"
    ))?;
    Ok(Mutex::new(db))
}

/// The connection, even if a thread panicked while holding it (SQLite rolled back its
/// unfinished transaction; the connection stays usable).
pub fn lock(db: &Mutex<rusqlite::Connection>) -> MutexGuard<'_, rusqlite::Connection> {
    db.lock().unwrap_or_else(|p| p.into_inner())
}

/// A cache's read and write sides, poisoned or not (as [`guard`]).
pub fn read<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub fn write<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Any mutex, poisoned or not (the data it guards is kept consistent by its users).
pub fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
