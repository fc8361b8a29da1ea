//! Instant sandboxes (instantbox's job): a throwaway container of an image the admin allows,
//! owned by a user, with the hardened defaults plus tight limits (CPU, memory, pids, disk),
//! no network, and a time to live after which the supervisor removes it. Sandboxes are plain
//! containers marked by labels: `dev.berth.sandbox.owner` and `dev.berth.sandbox.expires`.

use std::time::Duration;

use berth_models::container::{Config, CreateRequest, HostConfig};
use berth_models::dashboard::Sandbox;

use crate::{Engine, Error, Result};

pub const OWNER: &str = "dev.berth.sandbox.owner";
pub const EXPIRES: &str = "dev.berth.sandbox.expires";

/// The admin's settings (daemon.json `sandbox-*`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Images a sandbox may be made of (empty: sandboxes are off).
    pub images: Vec<String>,
    /// Live sandboxes per user.
    pub per_user: usize,
    pub ttl: Duration,
    /// Extensions never take a sandbox's end further than this from now.
    pub max_ttl: Duration,
    /// Bytes.
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    /// `--storage-opt size=` of the writable layer (empty: none; default 1g).
    pub disk: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            images: Vec::new(),
            per_user: 2,
            ttl: Duration::from_secs(30 * 60),
            max_ttl: Duration::from_secs(4 * 3600),
            memory: 256 << 20,
            nano_cpus: 1_000_000_000,
            pids: 128,
            disk: "1g".into(),
        }
    }
}

fn now() -> i64 {
    berth_units::now()
}

impl Engine {
    /// The sandboxes (of `owner`, or everyone's).
    pub fn sandboxes(&self, owner: Option<&str>) -> Result<Vec<Sandbox>> {
        let mut out = Vec::new();
        for rec in self.containers.records()? {
            let labels = rec.config.labels.clone().unwrap_or_default();
            let Some(o) = labels.get(OWNER) else { continue };
            if owner.is_some_and(|w| w != o) {
                continue;
            }
            out.push(Sandbox {
                id: rec.id.clone(),
                name: rec.short_name().to_owned(),
                image: rec.config.image.clone(),
                owner: o.clone(),
                created: rec.created.clone(),
                expires: labels
                    .get(EXPIRES)
                    .and_then(|e| e.parse().ok())
                    .unwrap_or(0),
                state: self.containers.state_of(&rec).status.to_string(),
            });
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// A new sandbox of `image` for `owner`, running (its shell comes by exec).
    pub fn sandbox_run(&self, owner: &str, image: &str, ttl_secs: i64) -> Result<Sandbox> {
        let s = self.live.sandboxes();
        if s.images.is_empty() {
            return Err(Error::Forbidden(
                "sandboxes are off: the daemon's sandbox-images allows no image".into(),
            ));
        }
        if !s.images.iter().any(|i| i == image) {
            return Err(Error::Forbidden(format!(
                "image {image:?} is not allowed for sandboxes (allowed: {})",
                s.images.join(", ")
            )));
        }
        // Counted and created under one lock: two quick clicks make one sandbox too many
        // never.
        static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = CREATING.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.sandboxes(Some(owner))?.len();
        if live >= s.per_user {
            return Err(Error::Conflict(format!(
                "user {owner} has {live} live sandboxes, the most allowed: remove one first"
            )));
        }
        let ttl = if ttl_secs > 0 {
            Duration::from_secs(ttl_secs as u64).min(s.max_ttl)
        } else {
            s.ttl
        };
        let expires = now() + ttl.as_secs() as i64;
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(OWNER.to_owned(), owner.to_owned());
        labels.insert(EXPIRES.to_owned(), expires.to_string());
        let mut storage = std::collections::BTreeMap::new();
        if !s.disk.is_empty() {
            storage.insert("size".to_owned(), s.disk.clone());
        }
        let req = CreateRequest {
            config: Config {
                image: image.to_owned(),
                cmd: Some(
                    [
                        "sh",
                        "-c",
                        "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done",
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
                hostname: "sandbox".into(),
                labels: Some(labels.into_iter().collect()),
                ..Default::default()
            },
            host_config: Some(HostConfig {
                network_mode: "none".into(),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(
                    [
                        "CHOWN",
                        "DAC_OVERRIDE",
                        "FOWNER",
                        "SETUID",
                        "SETGID",
                        "KILL",
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
                security_opt: Some(vec!["no-new-privileges".into()]),
                storage_opt: (!storage.is_empty()).then(|| storage.into_iter().collect()),
                resources: berth_models::container::Resources {
                    memory: s.memory,
                    memory_swap: s.memory,
                    nano_cpus: s.nano_cpus,
                    pids_limit: Some(s.pids),
                    ..Default::default()
                },
                ..Default::default()
            }),
            networking_config: None,
        };
        let created = self.create_container(req, None, false)?;
        if let Err(e) = self.containers.start(&self.images, &created.id) {
            let _ = self.containers.remove(&created.id, true, true);
            return Err(e);
        }
        self.sandboxes(Some(owner))?
            .into_iter()
            .find(|x| x.id == created.id)
            .ok_or_else(|| Error::Internal("the new sandbox vanished".into()))
    }

    /// The sandbox `name` when `owner` may touch it (None: an admin, any sandbox).
    fn sandbox_of(&self, owner: Option<&str>, name: &str) -> Result<Sandbox> {
        let id = self.containers.resolve(name)?;
        self.sandboxes(owner)?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::NotFound(format!("no such sandbox: {name}")))
    }

    pub fn sandbox_remove(&self, owner: Option<&str>, name: &str) -> Result<()> {
        let s = self.sandbox_of(owner, name)?;
        self.containers.remove(&s.id, true, true)
    }

    /// Give the sandbox `secs` more (never beyond the maximum from now): its new end.
    pub fn sandbox_extend(&self, owner: Option<&str>, name: &str, secs: i64) -> Result<i64> {
        let s = self.sandbox_of(owner, name)?;
        let max = now() + self.live.sandboxes().max_ttl.as_secs() as i64;
        let end = (s.expires.max(now()) + secs.max(0)).min(max);
        self.containers.update_record(&s.id, |r| {
            let labels = r.config.labels.get_or_insert_with(Default::default);
            labels.insert(EXPIRES.to_owned(), end.to_string());
            Some(())
        })?;
        Ok(end)
    }

    /// Remove every sandbox whose time is up (the supervisor's, each second).
    pub fn reap_sandboxes(&self) {
        let Ok(all) = self.sandboxes(None) else {
            return;
        };
        let t = now();
        for s in all.into_iter().filter(|s| s.expires > 0 && s.expires <= t) {
            if let Err(e) = self.containers.remove(&s.id, true, true) {
                tracing::warn!(
                    "sandbox {}: its time is up, but removing it failed: {e}",
                    s.name
                );
            } else {
                tracing::info!("sandbox {} of {} expired and was removed", s.name, s.owner);
            }
        }
    }
}
