//! Events (`GET /events`): what happened to containers, images, networks and volumes, stored
//! in berth.db (the last 10000, so `since` reaches back across daemon restarts) and broadcast
//! to live subscribers.

use std::path::Path;
use std::sync::Mutex;

use berth_models::events::{Actor, Message};
use berth_models::{Filters, Map};
use rusqlite::params;

/// How many events are kept.
const KEEP: i64 = 10_000;

pub struct Events {
    tx: tokio::sync::broadcast::Sender<Message>,
    db: Mutex<rusqlite::Connection>,
}

/// The filter keys `/events` takes.
pub const FILTER_KEYS: [&str; 15] = [
    "type",
    "event",
    "action",
    "container",
    "image",
    "label",
    "network",
    "volume",
    "scope",
    "daemon",
    "plugin",
    "node",
    "service",
    "secret",
    "config",
];

impl Events {
    /// The event log in `<data_root>/berth.db` (its own connection).
    pub fn open(data_root: &Path) -> crate::Result<Events> {
        let db = crate::db::open(
            data_root,
            "CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 time INTEGER NOT NULL,
                 event TEXT NOT NULL
             );",
        )?;
        Ok(Events {
            tx: tokio::sync::broadcast::channel(1024).0,
            db,
        })
    }

    /// Record and broadcast one event. `attrs` are the actor's attributes (name, image, …).
    pub fn emit(&self, typ: &str, action: &str, id: &str, attrs: Map) {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut ev = Message {
            r#type: typ.to_owned(),
            action: action.to_owned(),
            actor: Actor {
                id: id.to_owned(),
                attributes: attrs,
            },
            scope: "local".into(),
            time: d.as_secs() as i64,
            time_nano: d.as_nanos() as i64,
            ..Default::default()
        };
        if typ == "container" {
            // The pre-1.22 fields docker still sends for containers.
            ev.status = action.to_owned();
            ev.id = id.to_owned();
            ev.from = ev
                .actor
                .attributes
                .get("image")
                .cloned()
                .unwrap_or_default();
        }
        // Stored before it is broadcast: a subscriber that reads the past and then listens
        // sees every event once (subscribe holds this lock while it does both).
        let db = crate::db::lock(&self.db);
        if let Ok(text) = serde_json::to_string(&ev) {
            if let Ok(seq) = db
                .prepare_cached("INSERT INTO events (time, event) VALUES (?1, ?2)")
                .and_then(|mut q| q.insert(params![ev.time, text]))
            {
                if seq % 100 == 0 {
                    let _ = db.execute("DELETE FROM events WHERE seq <= ?1", params![seq - KEEP]);
                }
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Past events (from `since`, Unix seconds) and a receiver for the coming ones.
    pub fn subscribe(
        &self,
        since: Option<i64>,
    ) -> (Vec<Message>, tokio::sync::broadcast::Receiver<Message>) {
        let db = crate::db::lock(&self.db);
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
/// `label`, `network`, `volume`)? Values of one key are alternatives (all `label`s must hold);
/// keys must all match.
pub fn matches(ev: &Message, f: &Filters) -> bool {
    let attrs = &ev.actor.attributes;
    let attr = |k: &str| attrs.get(k).map(String::as_str);
    // Label filters all hold (dockerd's MatchKVList); other keys' values are alternatives.
    f.get("label")
        .iter()
        .all(|v| berth_models::filters::label_matches(Some(attrs), v))
        && f.keys().filter(|k| *k != "label").all(|k| {
            f.get(k).iter().any(|v| match k {
                "type" => ev.r#type == *v,
                "event" | "action" => {
                    ev.action == *v || ev.action.split(':').next() == Some(v.as_str())
                }
                "container" => {
                    ev.r#type == "container"
                        && (ev.actor.id.starts_with(v.as_str()) || attr("name") == Some(v.as_str()))
                }
                "image" => attr("image") == Some(v.as_str()) || ev.actor.id == *v,
                "network" | "volume" => {
                    ev.r#type == k
                        && (ev.actor.id.starts_with(v.as_str()) || attr("name") == Some(v))
                }
                _ => true,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(typ: &str, action: &str, name: &str) -> Message {
        let mut attributes = Map::new();
        attributes.insert("name".into(), name.into());
        attributes.insert("image".into(), "busybox".into());
        attributes.insert("tier".into(), "web".into());
        Message {
            r#type: typ.into(),
            action: action.into(),
            actor: Actor {
                id: "abc123".into(),
                attributes,
            },
            ..Default::default()
        }
    }

    #[test]
    fn filters_pick_events_as_dockerd_does() {
        let f = |s: &str| Filters::parse(Some(s)).expect("filters");
        let die = ev("container", "die", "web");
        let health = ev("container", "health_status: healthy", "web");
        assert!(matches(&die, &f(r#"{"type":["container"]}"#)));
        assert!(!matches(&die, &f(r#"{"type":["image"]}"#)));
        assert!(matches(&die, &f(r#"{"event":["die","start"]}"#)));
        assert!(matches(&health, &f(r#"{"event":["health_status"]}"#)));
        assert!(matches(&die, &f(r#"{"container":["abc"]}"#)));
        assert!(matches(&die, &f(r#"{"container":["web"]}"#)));
        assert!(!matches(&die, &f(r#"{"container":["db"]}"#)));
        assert!(matches(&die, &f(r#"{"label":["tier=web"]}"#)));
        assert!(!matches(&die, &f(r#"{"label":["tier=db"]}"#)));
        assert!(!matches(&die, &f(r#"{"label":["tier=web","tier=db"]}"#)));
        assert!(matches(&die, &f(r#"{"label":["tier=web","image"]}"#)));
        assert!(!matches(
            &die,
            &f(r#"{"type":["container"],"event":["start"]}"#)
        ));
        assert!(matches(&die, &f("{}")));
    }
}
