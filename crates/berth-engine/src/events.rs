//! Events (`GET /events`): what happened to containers and images, in the API's shape, kept
//! for late subscribers (the last 1000, for `since`) and broadcast to live ones.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Value, json};

pub struct Events {
    tx: tokio::sync::broadcast::Sender<Value>,
    recent: Mutex<VecDeque<Value>>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    pub fn new() -> Events {
        Events {
            tx: tokio::sync::broadcast::channel(1024).0,
            recent: Mutex::new(VecDeque::new()),
        }
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
            let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            r.push_back(ev.clone());
            while r.len() > 1000 {
                r.pop_front();
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Past events (from `since`, Unix seconds) and a receiver for the coming ones.
    pub fn subscribe(
        &self,
        since: Option<i64>,
    ) -> (Vec<Value>, tokio::sync::broadcast::Receiver<Value>) {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since {
            Some(s) => r
                .iter()
                .filter(|e| e["time"].as_i64().unwrap_or(0) >= s)
                .cloned()
                .collect(),
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
