//! Events (`GET /events`): what happened to containers and images, in the API's shape,
//! stored in berth.db (the last 10000, so `since` reaches back across daemon restarts) and
//! broadcast to live subscribers.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::params;
use serde_json::{Value, json};

/// How many events are kept.
const KEEP: i64 = 10_000;

pub struct Events {
    tx: tokio::sync::broadcast::Sender<Value>,
    db: Mutex<rusqlite::Connection>,
}

impl Events {
    /// The event log in `<data_root>/berth.db` (its own connection).
    pub fn open(data_root: &Path) -> crate::Result<Events> {
        let db = crate::open_db(
            data_root,
            "CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 time INTEGER NOT NULL,
                 event TEXT NOT NULL
             );",
        )?;
        Ok(Events {
            tx: tokio::sync::broadcast::channel(1024).0,
            db: Mutex::new(db),
        })
    }

    /// Record and broadcast one event. `attrs` are the actor's attributes (name, image, …).
    pub fn emit(&self, typ: &str, action: &str, id: &str, attrs: Value) {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut ev = json!({
            "Type": typ,
            "Action": action,
            "Actor": {"ID": id, "Attributes": attrs},
            "scope": "local",
            "time": d.as_secs(),
            "timeNano": d.as_nanos() as u64,
        });
        if typ == "container" {
            // The pre-1.22 fields docker still sends for containers.
            ev["status"] = json!(action);
            ev["id"] = json!(id);
            ev["from"] = ev["Actor"]["Attributes"]["image"].clone();
        }
        {
            // Stored before it is broadcast: a subscriber that reads the past and then listens
            // sees every event once (subscribe holds this lock while it does both).
            let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(seq) = db
                .prepare_cached("INSERT INTO events (time, event) VALUES (?1, ?2)")
                .and_then(|mut q| q.insert(params![d.as_secs() as i64, ev.to_string()]))
            {
                if seq % 100 == 0 {
                    let _ = db.execute("DELETE FROM events WHERE seq <= ?1", params![seq - KEEP]);
                }
            }
            let _ = self.tx.send(ev);
        }
    }

    /// Past events (from `since`, Unix seconds) and a receiver for the coming ones.
    pub fn subscribe(
        &self,
        since: Option<i64>,
    ) -> (Vec<Value>, tokio::sync::broadcast::Receiver<Value>) {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since {
            Some(s) => db
                .prepare_cached("SELECT event FROM events WHERE time >= ?1 ORDER BY seq")
                .and_then(|mut q| {
                    q.query_map(params![s], |r| r.get::<_, String>(0))
                        .map(|rows| {
                            rows.flatten()
                                .filter_map(|t| serde_json::from_str(&t).ok())
                                .collect()
                        })
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

/// Does `ev` pass Docker's event filters (`type`, `event`/`action`, `container`, `image`,
/// `label`)? Values of one key are alternatives; keys must all match.
pub fn matches(ev: &Value, filters: &[(String, String)]) -> bool {
    let keys: std::collections::BTreeSet<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.into_iter().all(|k| {
        filters
            .iter()
            .filter(|(fk, _)| fk == k)
            .any(|(_, v)| match k {
                "type" => ev["Type"] == v.as_str(),
                "event" | "action" => ev["Action"]
                    .as_str()
                    .is_some_and(|a| a == v || a.split(':').next() == Some(v)),
                "container" => {
                    ev["Type"] == "container"
                        && (ev["Actor"]["ID"]
                            .as_str()
                            .is_some_and(|id| id.starts_with(v.as_str()))
                            || ev["Actor"]["Attributes"]["name"] == v.as_str())
                }
                "image" => {
                    ev["Actor"]["Attributes"]["image"] == v.as_str()
                        || ev["Actor"]["ID"] == v.as_str()
                }
                "label" => {
                    let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                    ev["Actor"]["Attributes"][lk]
                        .as_str()
                        .is_some_and(|x| lv.is_empty() || x == lv)
                }
                _ => true,
            })
    })
}
