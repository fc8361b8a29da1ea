//! Volumes of the `local` driver: a directory each (`<data-root>/volumes/<name>/_data`, as
//! dockerd lays them out), records in berth.db (`volumes(name, record)` in Docker's shape).
//! Named volumes are made by `volume create` or on first use; anonymous ones (`-v /path`,
//! an image's `VOLUME`) get a random 64-hex name and the `com.docker.volume.anonymous` label.
//! A new, empty volume is filled from the image's content at its mount point on first use
//! (copy-up) unless `nocopy`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use crate::time::now_rfc3339;
use crate::{Error, Result};

/// The label dockerd puts on anonymous volumes.
pub const ANONYMOUS: &str = "com.docker.volume.anonymous";

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// Docker's rule for volume names.
pub fn valid_name(n: &str) -> bool {
    n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

pub struct Volumes {
    db: Mutex<rusqlite::Connection>,
    dir: PathBuf,
    events: std::sync::Arc<crate::events::Events>,
}

impl Volumes {
    pub fn open(
        data_root: &Path,
        events: std::sync::Arc<crate::events::Events>,
    ) -> Result<Volumes> {
        let dir = data_root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let db = crate::open_db(
            data_root,
            "CREATE TABLE IF NOT EXISTS volumes (
                 name TEXT PRIMARY KEY,
                 record TEXT NOT NULL
             );",
        )?;
        // Directories of volumes whose removal was interrupted.
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(".removing-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(Volumes {
            db: Mutex::new(db),
            dir,
            events,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn find(&self, name: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .db()
            .query_row(
                "SELECT record FROM volumes WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(internal)?;
        text.map(|t| serde_json::from_str(&t).map_err(internal))
            .transpose()
    }

    pub fn get(&self, name: &str) -> Result<Value> {
        self.find(name)?
            .ok_or_else(|| Error::NotFound(format!("get {name}: no such volume")))
    }

    /// `POST /volumes/create` (and first use): an existing volume of that name is returned
    /// as it is, as dockerd does.
    pub fn create(&self, body: &Value) -> Result<Value> {
        let name = match body["Name"].as_str().filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => crate::containers::random_hex(32),
        };
        if !valid_name(&name) {
            return Err(Error::InvalidParameter(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        if let Some(v) = self.find(&name)? {
            return Ok(v);
        }
        let driver = body["Driver"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or("local");
        if driver != "local" {
            return Err(Error::NotFound(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let opts = body["DriverOpts"].as_object().cloned().unwrap_or_default();
        for k in opts.keys() {
            if !["type", "device", "o", "size"].contains(&k.as_str()) {
                return Err(Error::InvalidParameter(format!(
                    "create {name}: invalid option key: {k:?}"
                )));
            }
        }
        // `size` (Berth's own): a filesystem of that size of the volume's own.
        let size = match opts.get("size").and_then(|v| v.as_str()) {
            Some(sz) => {
                if opts.contains_key("type") {
                    return Err(Error::InvalidParameter(format!(
                        "create {name}: size cannot be combined with type"
                    )));
                }
                let b = crate::containers::parse_size(sz)
                    .filter(|b| *b >= 16 << 20)
                    .ok_or_else(|| {
                        Error::InvalidParameter(format!(
                            "create {name}: invalid size {sz:?} (at least 16m)"
                        ))
                    })?;
                Some(b)
            }
            None => None,
        };
        let mountpoint = self.mountpoint(&name);
        let mut labels = body["Labels"].as_object().cloned().unwrap_or_default();
        if body["Name"].as_str().is_none_or(str::is_empty) && !labels.contains_key(ANONYMOUS) {
            labels.insert(ANONYMOUS.into(), json!(""));
        }
        let rec = json!({
            "CreatedAt": now_rfc3339(),
            "Driver": "local",
            "Labels": labels,
            "Mountpoint": mountpoint,
            "Name": name,
            "Options": if opts.is_empty() { Value::Null } else { Value::Object(opts) },
            "Scope": "local",
        });
        std::fs::create_dir_all(&mountpoint).map_err(internal)?;
        if let Some(b) = size {
            let img = self.dir.join(&name).join("fs.img");
            let made = crate::containers::make_sized_fs(&img, b)
                .map_err(internal)
                .and_then(|_| crate::containers::mount_image(&img, &mountpoint));
            if let Err(e) = made {
                let _ = std::fs::remove_dir_all(self.dir.join(&name));
                return Err(e);
            }
            // An empty volume is empty (copy-up looks): mkfs's lost+found goes.
            let _ = std::fs::remove_dir(mountpoint.join("lost+found"));
        }
        let r = self.db().execute(
            "INSERT INTO volumes (name, record) VALUES (?1, ?2)",
            params![name, rec.to_string()],
        );
        match r {
            Ok(_) => {}
            // A concurrent create of the same name: theirs stands.
            Err(e) if e.to_string().contains("UNIQUE") => return self.get(&name),
            Err(e) => {
                let _ = std::fs::remove_dir_all(self.dir.join(&name));
                return Err(internal(e));
            }
        }
        self.events
            .emit("volume", "create", &name, json!({"driver": "local"}));
        Ok(rec)
    }

    /// Mount a volume with driver options (`type`, `device`, `o`, as the local driver takes
    /// them: e.g. a tmpfs with a size) on its mountpoint if not mounted yet.
    pub fn ensure_mounted(&self, name: &str) -> Result<()> {
        let img = self.dir.join(name).join("fs.img");
        if img.exists() {
            return crate::containers::mount_image(&img, &self.mountpoint(name));
        }
        let rec = self.get(name)?;
        let opts = &rec["Options"];
        let Some(typ) = opts["type"].as_str().filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let mp = self.mountpoint(name);
        let mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(&*mp.to_string_lossy()));
        if mounted {
            return Ok(());
        }
        let device = opts["device"].as_str().unwrap_or(typ);
        let data = opts["o"].as_str().unwrap_or_default();
        nix::mount::mount(
            Some(device),
            &mp,
            Some(typ),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some(data),
        )
        .map_err(|e| {
            Error::Internal(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {device}:{} , data: {data}: {e}",
                mp.display(),
                mp.display()
            ))
        })
    }

    /// Is the volume empty (never written: copy-up fills it)?
    pub fn is_empty(&self, name: &str) -> bool {
        std::fs::read_dir(self.mountpoint(name)).is_ok_and(|mut d| d.next().is_none())
    }

    /// `DELETE /volumes/{name}`; `users` are the containers that use it (refused unless
    /// empty).
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        self.get(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        let _ = nix::mount::umount2(&self.mountpoint(name), nix::mount::MntFlags::MNT_DETACH);
        // The record goes first; the directory is renamed away, then deleted.
        self.db()
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])
            .map_err(internal)?;
        let gone = self.dir.join(format!(".removing-{name}"));
        if std::fs::rename(self.dir.join(name), &gone).is_ok() {
            let _ = std::fs::remove_dir_all(&gone);
        }
        self.events
            .emit("volume", "destroy", name, json!({"driver": "local"}));
        Ok(())
    }

    /// Every volume's record, with Docker's filters (`name`, `label`, `dangling`, `driver`,
    /// `anonymous`/`all` for prune are the caller's).
    pub fn list(&self) -> Result<Vec<Value>> {
        let db = self.db();
        let mut q = db
            .prepare_cached("SELECT record FROM volumes ORDER BY name")
            .map_err(internal)?;
        let rows = q
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(internal)?;
        Ok(rows
            .flatten()
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect())
    }

    /// The bytes a volume holds (for `system df` and `volume inspect --size` later).
    pub fn size(&self, name: &str) -> u64 {
        berth_image::snapshot::du(&self.mountpoint(name))
    }
}
