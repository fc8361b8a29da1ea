//! Volumes of the `local` driver: a directory each (`<data-root>/volumes/<name>/_data`, as
//! dockerd lays them out), records in berth.db (`volumes(name, record)` in Docker's shape).
//! Named volumes are made by `volume create` or on first use; anonymous ones (`-v /path`,
//! an image's `VOLUME`) get a random 64-hex name and the `com.docker.volume.anonymous` label.
//! A new, empty volume is filled from the image's content at its mount point on first use
//! (copy-up) unless `nocopy`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_models::Map;
use berth_models::volume::{CreateRequest, Volume};
use rusqlite::{OptionalExtension, params};

use crate::db::lock;
use crate::error::IoContext;
use crate::time::now_rfc3339;
use crate::{Error, Result};

/// The label dockerd puts on anonymous volumes.
pub const ANONYMOUS: &str = "com.docker.volume.anonymous";

/// The filter keys of `GET /volumes` (and prune's, with `all`).
pub const FILTER_KEYS: [&str; 5] = ["name", "label", "dangling", "driver", "all"];

pub struct Volumes {
    db: Mutex<rusqlite::Connection>,
    dir: PathBuf,
    events: std::sync::Arc<crate::events::Events>,
}

fn driver_attrs() -> Map {
    [("driver".to_owned(), "local".to_owned())].into()
}

impl Volumes {
    pub fn open(
        data_root: &Path,
        events: std::sync::Arc<crate::events::Events>,
    ) -> Result<Volumes> {
        let dir = data_root.join("volumes");
        std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        let db = crate::db::open(
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
        Ok(Volumes { db, dir, events })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        lock(&self.db)
    }

    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn find(&self, name: &str) -> Result<Option<Volume>> {
        let text: Option<String> = self
            .db()
            .query_row(
                "SELECT record FROM volumes WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(Error::internal))
            .transpose()
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.find(name)?
            .ok_or_else(|| Error::NoSuchVolume(name.to_owned()))
    }

    /// `POST /volumes/create` (and first use): an existing volume of that name is returned
    /// as it is, as dockerd does.
    pub fn create(&self, req: CreateRequest) -> Result<Volume> {
        let anonymous = req.name.is_empty();
        let name = if anonymous {
            crate::util::random_hex(32)
        } else {
            req.name.clone()
        };
        if !crate::util::valid_name(&name) || name.starts_with('/') {
            return Err(Error::InvalidParameter(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        if let Some(v) = self.find(&name)? {
            return Ok(v);
        }
        let driver = if req.driver.is_empty() {
            "local"
        } else {
            &req.driver
        };
        if driver != "local" {
            return Err(Error::NotFound(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let opts = req.driver_opts.clone().unwrap_or_default();
        if let Some(k) = opts
            .keys()
            .find(|k| !["type", "device", "o", "size"].contains(&k.as_str()))
        {
            return Err(Error::InvalidParameter(format!(
                "create {name}: invalid option key: {k:?}"
            )));
        }
        // `size` (Berth's own): a filesystem of that size of the volume's own.
        let size = match opts.get("size") {
            Some(sz) => {
                if opts.contains_key("type") {
                    return Err(Error::InvalidParameter(format!(
                        "create {name}: size cannot be combined with type"
                    )));
                }
                Some(
                    crate::util::parse_size(sz)
                        .filter(|b| *b >= 16 << 20)
                        .ok_or_else(|| {
                            Error::InvalidParameter(format!(
                                "create {name}: invalid size {sz:?} (at least 16m)"
                            ))
                        })?,
                )
            }
            None => None,
        };
        let mountpoint = self.mountpoint(&name);
        let mut labels = req.labels.clone().unwrap_or_default();
        if anonymous {
            labels.entry(ANONYMOUS.into()).or_default();
        }
        let rec = Volume {
            created_at: now_rfc3339(),
            driver: "local".into(),
            labels,
            mountpoint: mountpoint.display().to_string(),
            name: name.clone(),
            options: (!opts.is_empty()).then_some(opts),
            scope: "local".into(),
            usage_data: None,
        };
        std::fs::create_dir_all(&mountpoint).ctx(|| format!("create {}", mountpoint.display()))?;
        if let Some(b) = size {
            let img = self.dir.join(&name).join("fs.img");
            let made = crate::containers::quota::make_sized_fs(&img, b)
                .and_then(|_| crate::containers::quota::mount_image(&img, &mountpoint));
            if let Err(e) = made {
                let _ = std::fs::remove_dir_all(self.dir.join(&name));
                return Err(e);
            }
            // An empty volume is empty (copy-up looks): mkfs's lost+found goes.
            let _ = std::fs::remove_dir(mountpoint.join("lost+found"));
        }
        let text = serde_json::to_string(&rec).map_err(Error::internal)?;
        // The connection's guard ends with the statement: a conflict reads the other's.
        let r = self.db().execute(
            "INSERT INTO volumes (name, record) VALUES (?1, ?2)",
            params![name, text],
        );
        match r {
            Ok(_) => {}
            // A concurrent create of the same name: theirs stands.
            Err(e) if crate::error::is_unique_violation(&e) => return self.get(&name),
            Err(e) => {
                let _ = std::fs::remove_dir_all(self.dir.join(&name));
                return Err(e.into());
            }
        }
        self.events.emit("volume", "create", &name, driver_attrs());
        Ok(rec)
    }

    /// Mount a volume with driver options (`type`, `device`, `o`, as the local driver takes
    /// them: e.g. a tmpfs with a size) on its mountpoint if not mounted yet.
    pub fn ensure_mounted(&self, name: &str) -> Result<()> {
        let img = self.dir.join(name).join("fs.img");
        if img.exists() {
            return crate::containers::quota::mount_image(&img, &self.mountpoint(name));
        }
        let rec = self.get(name)?;
        let opts = rec.options.unwrap_or_default();
        let Some(typ) = opts.get("type").filter(|t| !t.is_empty()) else {
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
        let device = opts.get("device").unwrap_or(typ);
        let data = opts.get("o").map(String::as_str).unwrap_or_default();
        nix::mount::mount(
            Some(device.as_str()),
            &mp,
            Some(typ.as_str()),
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
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])?;
        let gone = self.dir.join(format!(".removing-{name}"));
        if std::fs::rename(self.dir.join(name), &gone).is_ok() {
            let _ = std::fs::remove_dir_all(&gone);
        }
        self.events.emit("volume", "destroy", name, driver_attrs());
        Ok(())
    }

    /// Every volume's record.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let db = self.db();
        let mut q = db.prepare_cached("SELECT record FROM volumes ORDER BY name")?;
        let rows: Vec<String> = q
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect())
    }

    /// The bytes a volume holds (for `system df`).
    pub fn size(&self, name: &str) -> u64 {
        berth_image::snapshot::du(&self.mountpoint(name))
    }
}
