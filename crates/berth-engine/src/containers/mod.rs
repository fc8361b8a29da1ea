//! Containers: records in SQLite (`berth.db`, WAL; names unique by constraint), a directory each
//! (`containers/<id>/`: bundle, overlay upper/work, rootfs mount point, log, shim files), and one
//! `berth shim` per running container. State is derived, never cached: `exit.json` written by the
//! shim means exited; a live shim in `shim.json` means running; neither means created.
//!
//! One module per concern: `store` (records), `state` (the state enum and its rules), `create`,
//! `host_config` (HostConfig → OCI spec), `bundle`, `start`, `stop` (kill, stop, remove, wait),
//! `exec`, `io` (logs and attach), `health`, `restart` (policies and auto-removal), `inspect`
//! (inspect and list), `mounts` (volumes and mount points), `quota`, `ops` (pause, update,
//! rename, top, prune), `user`.

pub mod bundle;
pub mod connect;
pub mod create;
pub mod exec;
pub mod health;
pub mod host_config;
pub mod idmap;
pub mod inspect;
pub mod io;
mod landlock;
pub mod mounts;
mod namespaces;
pub mod ops;
pub mod quota;
pub mod record;
pub mod restart;
pub mod start;
pub mod state;
pub mod stop;
pub mod store;
pub mod user;
pub mod userns;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use record::{Record, VolumeMount, ZERO_TIME};
pub use state::{State, Status};

use crate::db::guard;
use crate::{Error, Result};

/// What the daemon's configuration sets for every container (each overridable per
/// container); recorded in a container's HostConfig at create where Docker has a field for it.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `pids.max` unless the container sets its own (`--pids-limit`; 0 or -1: unlimited).
    pub pids_limit: i64,
    /// Memory ceiling (bytes, no swap beyond it) of containers without `-m`; 0: none.
    pub memory: i64,
    /// `no_new_privs` unless `--security-opt no-new-privileges=false`.
    pub no_new_privileges: bool,
    /// A seccomp profile (Docker's JSON) in place of the built-in one, or `unconfined`.
    pub seccomp_profile: Option<String>,
    /// The capability set in place of Berth's default one.
    pub capabilities: Option<Vec<String>>,
    /// Masked and read-only paths in place of the defaults.
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    /// Containers get user namespaces of their own unless `--userns host`.
    pub userns_auto: bool,
    /// dockerd's `userns-remap`: the ranges every container without a `--userns` of its
    /// own is mapped to (shared by all of them).
    pub userns_remap: Option<idmap::IdMaps>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            pids_limit: 2048,
            memory: 0,
            no_new_privileges: true,
            seccomp_profile: None,
            capabilities: None,
            masked_paths: None,
            readonly_paths: None,
            userns_auto: false,
            userns_remap: None,
        }
    }
}

impl Defaults {
    /// The default memory ceiling: the host's memory less a reserve for the host itself
    /// (10 %, at least 256 MiB), so that no one container can take all of it.
    pub fn host_memory_ceiling() -> i64 {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
            .map_or(0, |kb| kb * 1024);
        let reserve = (total / 10).max(256 << 20);
        (total - reserve).max(0)
    }

    /// The capabilities a container starts from (before its `--cap-add`/`--cap-drop`).
    pub fn capability_base(&self) -> Vec<String> {
        match &self.capabilities {
            Some(c) => c.clone(),
            None => berth_runtime::spec::DEFAULT_CAPS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        }
    }
}

/// A shim known to run, and its pidfd where one could be had.
#[derive(Clone)]
struct KnownShim {
    info: berth_shim::ShimInfo,
    watched: Option<Arc<crate::util::Watched>>,
}

/// The container store and what the engine knows of running containers.
/// What is told of a removed container (its id).
pub type OnRemoved = Box<dyn Fn(&str) + Send + Sync>;

pub struct Containers {
    db: Mutex<rusqlite::Connection>,
    /// The records, parsed (`store::Cache`).
    cache: store::Cache,
    dir: PathBuf,
    exec_root: PathBuf,
    runtime_root: PathBuf,
    cgroup_parent: String,
    /// Swapped whole by a reload (containers made before keep what they recorded).
    defaults: std::sync::RwLock<Arc<Defaults>>,
    events: Arc<crate::events::Events>,
    pub networks: Arc<crate::networks::Networks>,
    pub volumes: Arc<crate::volumes::Volumes>,
    /// Terminal masters of running `exec -t` sessions.
    ptys: Mutex<HashMap<String, Arc<std::os::fd::OwnedFd>>>,
    /// The freezer hierarchy's directory for containers' cgroups, and whether it is v2.
    freezer: OnceLock<Option<(PathBuf, bool)>>,
    /// Held by read-modify-write changes of records that race (a user's stop marking the
    /// container, the restart policy counting a restart): neither may undo the other.
    rmw: Mutex<()>,
    /// The shims known to run (`shim_of`), and whether each container is frozen (`paused`).
    shims: Mutex<HashMap<String, KnownShim>>,
    frozen: Mutex<HashMap<String, bool>>,
    /// Containers being started: one start at a time per container.
    starting: Mutex<HashSet<String>>,
    /// Containers being removed (`removing`).
    removing: Mutex<HashSet<String>>,
    /// The last status seen of each container (to report `die` once).
    seen: Mutex<HashMap<String, Status>>,
    /// Health of running containers with a check (in memory: a daemon restart starts it again
    /// from `starting`).
    health: Mutex<HashMap<String, health::Health>>,
    /// Exit codes of containers removed after their exit (`wait?condition=removed`).
    removed_exits: Mutex<BTreeMap<String, i64>>,
    /// Told of each removed container (the stats history forgets it; set by the engine).
    pub on_removed: OnceLock<OnRemoved>,
}

impl Containers {
    /// The defaults now.
    pub fn defaults(&self) -> Arc<Defaults> {
        crate::db::read(&self.defaults).clone()
    }

    pub fn set_defaults(&self, d: Defaults) {
        *crate::db::write(&self.defaults) = Arc::new(d);
    }

    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        cgroup_parent: &str,
        defaults: Defaults,
        events: Arc<crate::events::Events>,
        networks: Arc<crate::networks::Networks>,
        volumes: Arc<crate::volumes::Volumes>,
    ) -> Result<Containers> {
        let dir = data_root.join("containers");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let db = store::open(data_root)?;
        // Directories of containers whose removal was interrupted.
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(".removing-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(Containers {
            db,
            cache: Default::default(),
            dir,
            exec_root: exec_root.to_owned(),
            runtime_root: exec_root.join("runtime"),
            cgroup_parent: cgroup_parent.trim_end_matches('/').to_owned(),
            defaults: std::sync::RwLock::new(Arc::new(defaults)),
            events,
            networks,
            volumes,
            ptys: Mutex::default(),
            freezer: OnceLock::new(),
            rmw: Mutex::new(()),
            shims: Mutex::default(),
            frozen: Mutex::default(),
            starting: Mutex::default(),
            removing: Mutex::default(),
            seen: Mutex::default(),
            health: Mutex::default(),
            removed_exits: Mutex::default(),
            on_removed: OnceLock::new(),
        })
    }

    /// A container event with Docker's attributes (name, image, labels) and `extra`.
    pub fn emit(&self, id: &str, action: &str, extra: &[(&str, String)]) {
        match self.record(id) {
            Ok(rec) => self.emit_for(&rec, action, extra),
            Err(_) => self.emit_attrs(id, action, berth_models::Map::new(), extra),
        }
    }

    /// The same, for a record at hand.
    pub(crate) fn emit_for(&self, rec: &Record, action: &str, extra: &[(&str, String)]) {
        let mut attrs = rec.labels().clone();
        attrs.insert("name".into(), rec.short_name().to_owned());
        attrs.insert("image".into(), rec.config.image.clone());
        self.emit_attrs(&rec.id, action, attrs, extra);
    }

    fn emit_attrs(
        &self,
        id: &str,
        action: &str,
        mut attrs: berth_models::Map,
        extra: &[(&str, String)],
    ) {
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.events.emit("container", action, id, attrs);
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir_of(id).join(format!("{id}-json.log"))
    }

    pub(crate) fn cgroup_of(&self, id: &str) -> String {
        format!("{}/{}", self.cgroup_parent, id)
    }

    /// Where a container's runtime keeps its state: Berth's root, or one per other runtime
    /// (their state layouts differ).
    fn runtime_root_for(&self, runtime: Option<&Path>) -> PathBuf {
        match runtime {
            None => self.runtime_root.clone(),
            Some(p) => {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.runtime_root.with_file_name(format!("runtime-{name}"))
            }
        }
    }

    fn runtime_root_of(&self, rec: &Record) -> Result<PathBuf> {
        Ok(self.runtime_root_for(runtime_of(&rec.host_config.runtime)?.as_deref()))
    }

    fn berth_runtime_root(&self) -> berth_runtime::state::Root {
        berth_runtime::state::Root::new(&self.runtime_root)
    }

    /// The state, derived from the shim's files, the freezer and the record.
    pub fn state(&self, id: &str) -> Result<State> {
        let rec = self.record(id)?;
        Ok(self.state_of(&rec))
    }

    /// The same, for a record at hand.
    pub fn state_of(&self, rec: &Record) -> State {
        let mut st = self.observed(rec);
        if guard(&self.removing).contains(&rec.id) {
            st.status = Status::Removing;
        } else if st.status == Status::Exited
            && rec.host_config.restart_policy.name != "no"
            && matches!(
                restart::decide(rec, &st, false),
                restart::Decision::Restart { .. }
            )
        {
            // From its exit on, as dockerd shows it: the policy will start it again (the
            // supervisor does, after the delay).
            st.status = Status::Restarting;
        }
        st
    }

    /// The state its processes are in, without the engine's intent (`removing`): what
    /// waits for an exit look at.
    pub(crate) fn observed(&self, rec: &Record) -> State {
        let dir = self.dir_of(&rec.id);
        let started_at = rec.started_at.clone();
        let exited = |started_at: String| {
            let e = berth_shim::ExitInfo::read(&dir);
            State {
                status: Status::Exited,
                pid: 0,
                exit_code: e.as_ref().map_or(255, |e| e.code),
                error: e.as_ref().and_then(|e| e.error.clone()).unwrap_or_default(),
                started_at,
                finished_at: e.map_or_else(|| ZERO_TIME.to_owned(), |e| e.finished),
            }
        };
        let mut st = if let Some((shim, alive)) = self.shim_of(&rec.id, &dir) {
            if alive {
                State {
                    status: if self.paused(&rec.id) {
                        Status::Paused
                    } else {
                        Status::Running
                    },
                    pid: shim.pid,
                    exit_code: 0,
                    error: String::new(),
                    started_at,
                    finished_at: ZERO_TIME.into(),
                }
            } else if dir.join("exit.json").exists() {
                // It recorded its exit just before going.
                exited(started_at)
            } else {
                // The shim died without recording an exit (killed): the supervisor kills what
                // it left running (`reap_orphan`), a SIGKILL's end (137) as containerd reports
                // it — also when the workload went down with its shim before anyone looked;
                // a shim of an earlier boot (the host rebooted) is 255.
                State {
                    status: Status::Exited,
                    pid: 0,
                    exit_code: if crate::util::pid_alive(shim.pid)
                        || crate::util::written_this_boot(&dir.join("shim.json"))
                    {
                        137
                    } else {
                        255
                    },
                    error: "the container's supervisor died".into(),
                    started_at,
                    finished_at: ZERO_TIME.into(),
                }
            }
        } else if dir.join("exit.json").exists() {
            exited(started_at)
        } else if rec.ever_started() {
            State {
                status: Status::Exited,
                pid: 0,
                exit_code: 255,
                error: String::new(),
                started_at,
                finished_at: ZERO_TIME.into(),
            }
        } else {
            State {
                status: Status::Created,
                pid: 0,
                exit_code: 0,
                error: String::new(),
                started_at,
                finished_at: ZERO_TIME.into(),
            }
        };
        if st.status == Status::Exited && rec.restarting {
            st.status = Status::Restarting;
        }
        st
    }

    /// The shim's info and whether it runs. The info of a running shim is remembered: it
    /// changes only with a new start ([`Containers::forget_shim`]), after the shim ends.
    fn shim_of(&self, id: &str, dir: &Path) -> Option<(berth_shim::ShimInfo, bool)> {
        let known = guard(&self.shims).get(id).cloned();
        if let Some(k) = known {
            let alive = k
                .watched
                .as_ref()
                .and_then(|w| w.alive())
                .unwrap_or_else(|| crate::util::pid_alive(k.info.shim));
            if alive {
                return Some((k.info, true));
            }
            guard(&self.shims).remove(id);
        }
        let s = berth_shim::ShimInfo::read(dir)?;
        let alive = crate::util::pid_alive(s.shim);
        if alive {
            // (Only live shims are watched: an exited container's look opens nothing.)
            let k = KnownShim {
                info: s.clone(),
                watched: crate::util::Watched::open(s.shim).map(Arc::new),
            };
            guard(&self.shims).insert(id.to_owned(), k);
        }
        Some((s, alive))
    }

    /// A new shim is coming (start), or the container went: what was remembered of it goes.
    pub(crate) fn forget_shim(&self, id: &str) {
        guard(&self.shims).remove(id);
        guard(&self.frozen).remove(id);
    }

    /// Paused means frozen: the container's cgroup (the same path for every runtime) tells,
    /// read once per start and then kept as `pause`/`unpause` change it.
    fn paused(&self, id: &str) -> bool {
        if let Some(f) = guard(&self.frozen).get(id) {
            return *f;
        }
        let f = self.frozen_now(id);
        guard(&self.frozen).insert(id.to_owned(), f);
        f
    }

    /// Paused means frozen: the container's cgroup (the same path for every runtime) tells.
    /// The freezer's place is found once (finding it reads mountinfo, which grows with every
    /// running container, and the supervisor asks this for each of them every 100 ms).
    fn frozen_now(&self, id: &str) -> bool {
        let base = self.freezer.get_or_init(|| {
            let probe = berth_runtime::cgroups::open(&self.cgroup_of("probe")).ok()?;
            let dir = probe.dir("freezer")?;
            Some((dir.parent()?.to_path_buf(), probe.is_v2()))
        });
        match base {
            Some((d, false)) => std::fs::read_to_string(d.join(id).join("freezer.state"))
                .is_ok_and(|s| s.trim() == "FROZEN"),
            Some((d, true)) => std::fs::read_to_string(d.join(id).join("cgroup.events"))
                .is_ok_and(|e| e.lines().any(|l| l == "frozen 1")),
            None => false,
        }
    }

    /// Check `action` against the container's state (Docker's rules, see [`state::check`]).
    pub(crate) fn check(
        &self,
        rec: &Record,
        st: &State,
        action: state::Action,
    ) -> Result<state::Verdict> {
        state::check(st.status, action, rec.short_name(), &rec.id)
    }
}

/// Whether `name` (HostConfig.Runtime) is Berth's own runtime: what only it does (Landlock,
/// the seccomp recorder, user namespaces) needs it.
pub(crate) fn is_berth_runtime(name: &str) -> bool {
    matches!(name, "" | "berth" | "berth-runtime")
}

/// A container's runtime: Berth's own (None) or another runc-compatible binary.
pub(crate) fn runtime_of(name: &str) -> Result<Option<PathBuf>> {
    match name {
        n if is_berth_runtime(n) => Ok(None),
        name if name.starts_with('/') => {
            if Path::new(name).is_file() {
                Ok(Some(PathBuf::from(name)))
            } else {
                Err(Error::InvalidParameter(format!(
                    "unknown or invalid runtime name: {name}"
                )))
            }
        }
        name => std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(Some)
            .ok_or_else(|| {
                Error::InvalidParameter(format!("unknown or invalid runtime name: {name}"))
            }),
    }
}
