//! Container state on disk: `<root>/<id>/state.json`, written atomically (temp file + rename),
//! and the container's status, derived from the live process rather than stored, so a crash or
//! `kill -9` can never leave a stale status behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Context, Error, Result};

/// Where runc keeps its state by default is /run/runc; ours.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
/// The fifo `start` opens to release the container process.
pub const EXEC_FIFO: &str = "exec.fifo";

/// What the runtime remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init process (0 before it exists).
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/pid/stat), to tell it from a reused pid.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cgroups path the container was created in.
    pub cgroup_path: String,
    /// The bundle's config.json as it was at create time (hooks, resources, process).
    pub config: Value,
}

/// The lifecycle states of the runtime-spec (plus `paused`, as runc reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// A state root (`--root`): one directory per container.
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
}

/// Is `id` a valid container id (it becomes a path component and a cgroup name)?
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_owned()))
    }
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Claim `id`: creating its directory is the atomic step that makes a second `create` of the
    /// same id fail.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .ctx(|| format!("create state root {}", self.dir.display()))?;
        let dir = self.container_dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_owned()))
            }
            Err(e) => Err(e).ctx(|| format!("create {}", dir.display())),
        }
    }

    pub fn load(&self, id: &str) -> Result<State> {
        check_id(id)?;
        let path = self.container_dir(id).join("state.json");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_owned()));
            }
            Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::Other(format!("{}: corrupt state: {e}", path.display())))
    }

    pub fn save(&self, st: &State) -> Result<()> {
        let dir = self.container_dir(&st.id);
        write_atomic(
            &dir.join("state.json"),
            &serde_json::to_vec(st).expect("state serializes"),
        )
    }

    /// Ids of all containers with a state file.
    pub fn list(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }
}

/// Write a file so that readers see either the old or the whole new content.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let res = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        // No fsync: the rename makes the update atomic for readers and against a crash of the
        // runtime; state normally lives on tmpfs (/run) and does not outlive a reboot anyway.
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.ctx(|| format!("write {}", path.display()))
}

/// Start time of a process (jiffies since boot), `None` if it does not exist or is a zombie.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

impl State {
    /// Is the container's init process still the one we started?
    pub fn alive(&self) -> bool {
        self.pid > 0 && pid_start_time(self.pid) == Some(self.pid_start)
    }

    /// The status, derived from the process, the exec fifo and the freezer.
    pub fn status(&self, root: &Root) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if root.container_dir(&self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if crate::cgroups::open(&self.cgroup_path).is_ok_and(|c| c.frozen()) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The runtime-spec state document (what `state` prints and hooks read on stdin).
    pub fn oci(&self, status: Status) -> Value {
        let mut v = json!({
            "ociVersion": crate::OCI_VERSION,
            "id": self.id,
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "status": status.to_string(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = json!(self.annotations);
        }
        v
    }
}

/// Now, as RFC 3339 in UTC with nanoseconds (as runc prints `created`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-from-civil inverse; a 10-line formula is not worth a date crate here.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("abc-1.2_x+y").is_ok());
        for bad in ["", "..", "a/b", "a b", "x\n"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_looks_right() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn own_process_has_a_start_time() {
        assert!(pid_start_time(std::process::id() as i32).is_some());
        assert!(pid_start_time(i32::MAX).is_none());
    }
}
