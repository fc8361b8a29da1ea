//! Containers: records in SQLite (`berth.db`, WAL; names unique by constraint), a directory each
//! (`containers/<id>/`: bundle, overlay upper/work, rootfs mount point, log, shim files), and one
//! `berth shim` per running container. State is derived, never cached: `exit.json` written by the
//! shim means exited; a live shim in `shim.json` means running; neither means created.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_image::Digest;
use berth_image::images::Images;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use crate::time::{now_rfc3339, parse_rfc3339};
use crate::{Error, Result};

/// An exec session (a row of `execs` in berth.db; the terminal's master lives in memory).
#[derive(Debug, Clone)]
pub struct ExecSession {
    pub id: String,
    pub container: String,
    pub config: Value,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
    /// The terminal's master side, for `exec -t` (resizes go there).
    pub pty: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// `berth-init` (init/berth-init.c, built statically by build.rs): process 1 for `--init`.
const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// A container's health (in memory: it starts again from "starting" after a daemon restart).
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub status: &'static str,
    pub failing_streak: i64,
    pub log: std::collections::VecDeque<Value>,
    next_check: Option<std::time::Instant>,
    started: Option<std::time::Instant>,
    running_check: bool,
}

/// Poll intervals for watching a container: quick at first (most waits end within
/// milliseconds), then every 20 ms.
pub struct Backoff(u32);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(0)
    }

    pub fn step(&mut self) -> Duration {
        self.0 += 1;
        Duration::from_millis(match self.0 {
            0..=50 => 1,
            51..=100 => 5,
            _ => 20,
        })
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// The container store.
pub struct Containers {
    /// Terminal masters of running `exec -t` sessions.
    ptys: Mutex<std::collections::HashMap<String, std::sync::Arc<std::os::fd::OwnedFd>>>,
    /// The freezer hierarchy's directory for containers' cgroups, and whether it is v2.
    freezer: std::sync::OnceLock<Option<(PathBuf, bool)>>,
    /// Held by read-modify-write changes of records that race (a user's stop marking the
    /// container, the restart policy counting a restart): neither may undo the other.
    rmw: Mutex<()>,
    /// Containers being started: one start at a time per container.
    starting: Mutex<std::collections::HashSet<String>>,
    events: std::sync::Arc<crate::events::Events>,
    pub networks: std::sync::Arc<crate::networks::Networks>,
    pub volumes: std::sync::Arc<crate::volumes::Volumes>,
    /// The last status seen of each container (to report `die` once).
    seen: Mutex<std::collections::HashMap<String, &'static str>>,
    pub health: std::sync::Arc<Mutex<std::collections::HashMap<String, Health>>>,
    db: Mutex<rusqlite::Connection>,
    dir: PathBuf,
    runtime_root: PathBuf,
    cgroup_parent: String,
}

/// A container's derived state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: &'static str,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

impl State {
    pub fn running(&self) -> bool {
        self.status == "running"
    }

    /// Running or paused: its processes (and namespaces) exist.
    pub fn alive(&self) -> bool {
        self.status == "running" || self.status == "paused"
    }
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// `bytes` random bytes as hex (twice as many characters).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A name as Docker generates them (`adjective_surname`).
fn random_name() -> String {
    const A: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gifted", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "quirky", "serene", "tender", "vibrant", "zealous",
    ];
    const B: [&str; 16] = [
        "albattani",
        "babbage",
        "curie",
        "darwin",
        "euclid",
        "faraday",
        "galois",
        "hopper",
        "kepler",
        "lovelace",
        "meitner",
        "noether",
        "pascal",
        "ritchie",
        "turing",
        "wozniak",
    ];
    let r = random_hex(4);
    let n = usize::from_str_radix(&r, 16).unwrap_or(0);
    format!("{}_{}", A[n % 16], B[(n / 16) % 16])
}

fn valid_name(n: &str) -> bool {
    let n = n.trim_start_matches('/');
    n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn pid_alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

impl Containers {
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        cgroup_parent: &str,
        events: std::sync::Arc<crate::events::Events>,
        networks: std::sync::Arc<crate::networks::Networks>,
        volumes: std::sync::Arc<crate::volumes::Volumes>,
    ) -> Result<Containers> {
        let dir = data_root.join("containers");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let db = crate::open_db(
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
        db.execute(
            "UPDATE execs SET running = 0, exit_code = COALESCE(exit_code, 255) WHERE running = 1",
            [],
        )
        .map_err(internal)?;
        // Directories of containers whose removal was interrupted.
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(".removing-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(Containers {
            ptys: Mutex::new(std::collections::HashMap::new()),
            freezer: std::sync::OnceLock::new(),
            rmw: Mutex::new(()),
            starting: Mutex::new(std::collections::HashSet::new()),
            events,
            networks,
            volumes,
            seen: Mutex::new(std::collections::HashMap::new()),
            health: Default::default(),
            db: Mutex::new(db),
            dir,
            runtime_root: exec_root.join("runtime"),
            cgroup_parent: cgroup_parent.trim_end_matches('/').to_owned(),
        })
    }

    /// A container event with Docker's attributes (name, image, labels).
    pub fn emit(&self, id: &str, action: &str, extra: &[(&str, String)]) {
        let mut attrs = serde_json::Map::new();
        if let Ok(rec) = self.record(id) {
            attrs.insert(
                "name".into(),
                json!(
                    rec["Name"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches('/')
                ),
            );
            attrs.insert("image".into(), rec["Config"]["Image"].clone());
            for (k, v) in rec["Config"]["Labels"].as_object().into_iter().flatten() {
                attrs.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), json!(v));
        }
        self.events
            .emit("container", action, id, Value::Object(attrs));
    }

    /// Report containers that stopped since the last look (`die` with the exit code).
    pub fn watch_exits(&self) {
        for id in self.ids().unwrap_or_default() {
            self.note_exit(&id);
        }
    }

    /// Report one container's `die` if it stopped since the last look.
    fn note_exit(&self, id: &str) {
        // A container being started is its start's business (it notes the previous exit
        // itself): a late look here would tear down the new run's network. The set stays
        // locked meanwhile, so no start begins halfway through.
        let starting = self.starting.lock().unwrap_or_else(|p| p.into_inner());
        if starting.contains(id) {
            return;
        }
        self.note_exit_now(id);
        drop(starting);
    }

    fn note_exit_now(&self, id: &str) {
        let Ok(st) = self.state(id) else { return };
        let prev = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), st.status);
        if matches!(prev, Some("running" | "paused")) && st.status == "exited" {
            // Addresses and the namespace go back first: a restart may follow at once.
            self.networks.teardown(id);
            self.emit(id, "die", &[("exitCode", st.exit_code.to_string())]);
        }
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Full id of a container given its id, id prefix or name.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let db = self.db();
        let n = name.trim_start_matches('/');
        let by_name: Option<String> = db
            .query_row(
                "SELECT id FROM containers WHERE name = ?1 OR id = ?1",
                params![n],
                |r| r.get(0),
            )
            .optional()
            .map_err(internal)?;
        if let Some(id) = by_name {
            return Ok(id);
        }
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut st = db
                .prepare("SELECT id FROM containers WHERE id LIKE ?1 || '%' LIMIT 2")
                .map_err(internal)?;
            let ids: Vec<String> = st
                .query_map(params![n], |r| r.get(0))
                .map_err(internal)?
                .flatten()
                .collect();
            match ids.len() {
                1 => return Ok(ids[0].clone()),
                2 => {
                    return Err(Error::InvalidParameter(format!(
                        "multiple IDs found with provided prefix: {n}"
                    )));
                }
                _ => {}
            }
        }
        Err(Error::NotFound(format!("No such container: {name}")))
    }

    pub fn record(&self, id: &str) -> Result<Value> {
        let s: String = self
            .db()
            .query_row(
                "SELECT record FROM containers WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(internal)?
            .ok_or_else(|| Error::NotFound(format!("No such container: {id}")))?;
        serde_json::from_str(&s).map_err(internal)
    }

    fn save_record(&self, id: &str, rec: &Value) -> Result<()> {
        self.db()
            .execute(
                "UPDATE containers SET record = ?2 WHERE id = ?1",
                params![id, rec.to_string()],
            )
            .map_err(internal)?;
        Ok(())
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT id FROM containers ORDER BY created DESC")
            .map_err(internal)?;
        let ids = st
            .query_map([], |r| r.get(0))
            .map_err(internal)?
            .flatten()
            .collect();
        Ok(ids)
    }

    /// Create: the record and the directory, or neither.
    pub fn create(
        &self,
        images: &Images,
        body: &Value,
        name: Option<&str>,
    ) -> Result<(String, Vec<String>)> {
        let image_name = body["Image"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::InvalidParameter(
                    "config cannot be empty in order to create a container".into(),
                )
            })?;
        let img = images.resolve(image_name).map_err(|_| {
            let shown = berth_image::reference::Reference::parse(image_name)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| image_name.to_owned());
            Error::NotFound(format!("No such image: {shown}"))
        })?;
        let icfg: Value = images.config(&img).map_err(Error::from)?;
        let ic = &icfg["config"];
        // Entrypoint and Cmd as Docker merges them: a new entrypoint drops the image's Cmd.
        let user_ep = body["Entrypoint"]
            .as_array()
            .filter(|a| !a.is_empty())
            .cloned();
        let user_cmd = body["Cmd"].as_array().filter(|a| !a.is_empty()).cloned();
        let entrypoint = match (&user_ep, body["Entrypoint"].is_array()) {
            (Some(e), _) => e.clone(),
            (None, true) => Vec::new(),
            (None, false) => ic["Entrypoint"].as_array().cloned().unwrap_or_default(),
        };
        let cmd = match (&user_cmd, body["Entrypoint"].is_array()) {
            (Some(c), _) => c.clone(),
            (None, true) => Vec::new(),
            (None, false) => ic["Cmd"].as_array().cloned().unwrap_or_default(),
        };
        let mut argv: Vec<String> = entrypoint
            .iter()
            .chain(&cmd)
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if argv.is_empty() {
            return Err(Error::InvalidParameter("no command specified".into()));
        }
        let path = argv.remove(0);
        let generated = name.is_none_or(str::is_empty);
        let mut name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(Error::InvalidParameter(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.trim_start_matches('/').to_owned()
            }
            None => random_name(),
        };
        let id = random_hex(32);
        // Env: the image's, overridden by the request's, by variable name.
        let mut env: Vec<String> = ic["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        for e in body["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
        {
            let key = e.split('=').next().unwrap_or(e);
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.to_owned());
        }
        let mut config = body.clone();
        if let Some(o) = config.as_object_mut() {
            o.remove("HostConfig");
            o.remove("NetworkingConfig");
        }
        config["Env"] = json!(env);
        config["Cmd"] = json!(cmd);
        config["Entrypoint"] = if entrypoint.is_empty() {
            Value::Null
        } else {
            json!(entrypoint)
        };
        config["Image"] = json!(image_name);
        if config["WorkingDir"].as_str().is_none_or(str::is_empty) {
            config["WorkingDir"] = ic["WorkingDir"].clone();
        }
        if config["User"].as_str().is_none_or(str::is_empty) {
            config["User"] = ic["User"].clone();
        }
        if config["Hostname"].as_str().is_none_or(str::is_empty) {
            config["Hostname"] = json!(&id[..12]);
        }
        if !config["Healthcheck"].is_object() && ic["Healthcheck"].is_object() {
            config["Healthcheck"] = ic["Healthcheck"].clone();
        }
        let mut labels = ic["Labels"].as_object().cloned().unwrap_or_default();
        for (k, v) in body["Labels"].as_object().into_iter().flatten() {
            labels.insert(k.clone(), v.clone());
        }
        config["Labels"] = Value::Object(labels);
        let mut host_config = body["HostConfig"].clone();
        if !host_config.is_object() {
            host_config = json!({});
        }
        // The network mode: a network (by name or id, kept as given, as dockerd keeps it),
        // `host`, `none` or `container:<name|id>`; the others of NetworkingConfig must exist.
        let mode = match host_config["NetworkMode"].as_str().unwrap_or_default() {
            "" | "default" => "bridge".to_owned(),
            m => m.to_owned(),
        };
        let mut endpoints = body["NetworkingConfig"]["EndpointsConfig"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(v) = endpoints.remove("default") {
            endpoints.insert(
                if mode.starts_with("container:") {
                    "bridge".into()
                } else {
                    mode.clone()
                },
                v,
            );
        }
        for (k, v) in &endpoints {
            let default_bridge = k == "bridge"
                || self.networks.get(k).is_ok_and(|n| {
                    n["Options"]["com.docker.network.bridge.default_bridge"] == "true"
                });
            if default_bridge && v["Aliases"].as_array().is_some_and(|a| !a.is_empty()) {
                return Err(Error::InvalidParameter(
                    "network-scoped alias is supported only for containers in user defined networks".into(),
                ));
            }
            if default_bridge
                && v["IPAMConfig"]["IPv4Address"]
                    .as_str()
                    .is_some_and(|a| !a.is_empty())
            {
                return Err(Error::InvalidParameter(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
        }
        if let Some(target) = mode.strip_prefix("container:") {
            self.resolve(target)?;
            if !endpoints.is_empty() {
                return Err(Error::InvalidParameter(
                    "conflicting options: container type network can't be used with other networks"
                        .into(),
                ));
            }
            for (k, flag) in [("PortBindings", "port publishing"), ("Dns", "dns")] {
                if host_config[k].as_object().is_some_and(|o| !o.is_empty())
                    || host_config[k].as_array().is_some_and(|o| !o.is_empty())
                {
                    return Err(Error::InvalidParameter(format!(
                        "conflicting options: {flag} and the container type network mode"
                    )));
                }
            }
        } else {
            self.networks.get(&mode)?;
            for k in endpoints.keys() {
                self.networks.get(k)?;
            }
            if (mode == "host" || mode == "none") && endpoints.keys().any(|k| *k != mode) {
                return Err(Error::InvalidParameter(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
                ));
            }
        }
        if mode == "host" && body["Hostname"].as_str().is_none_or(str::is_empty) {
            config["Hostname"] = json!(
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
        }
        host_config["NetworkMode"] = json!(mode);
        // Links as dockerd records them: `/target:/me/alias`; the target must exist.
        let mut links = Vec::new();
        for l in host_config["Links"].as_array().cloned().unwrap_or_default() {
            let l = l.as_str().unwrap_or_default();
            let (target, alias) = match l.split_once(':') {
                Some((t, a)) => (t.trim_start_matches('/'), a.rsplit('/').next().unwrap_or(a)),
                None => (l.trim_start_matches('/'), l.trim_start_matches('/')),
            };
            let tid = self.resolve(target).map_err(|_| {
                Error::InvalidParameter(format!("Could not get container for {target}"))
            })?;
            let tname = self.name_of(&tid);
            links.push(json!(format!("/{tname}:/{name}/{alias}")));
        }
        host_config["Links"] = if links.is_empty() {
            Value::Null
        } else {
            json!(links)
        };
        for k in ["NetRateIngress", "NetRateEgress"] {
            if let Some(r) = host_config[k].as_str().filter(|r| !r.is_empty()) {
                berth_net::tc::parse_rate(r).map_err(|e| Error::InvalidParameter(e.to_string()))?;
                if mode == "host" || mode == "none" || mode.starts_with("container:") {
                    return Err(Error::InvalidParameter(format!(
                        "bandwidth limits need a network of the container's own (not {mode})"
                    )));
                }
            }
        }
        for (key, list) in host_config["PortBindings"]
            .as_object()
            .into_iter()
            .flatten()
        {
            crate::networks::normalize_port_key(key)?;
            for b in list.as_array().into_iter().flatten() {
                let hp = b["HostPort"].as_str().unwrap_or_default();
                for part in hp.split('-').filter(|p| !p.is_empty()) {
                    if part.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
                        return Err(Error::InvalidParameter(format!(
                            "invalid port specification: \"{hp}\""
                        )));
                    }
                }
            }
        }
        // Exposed ports: the image's, the request's and every published one.
        let mut exposed = ic["ExposedPorts"].as_object().cloned().unwrap_or_default();
        for k in body["ExposedPorts"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .chain(
                host_config["PortBindings"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k),
            )
        {
            exposed.insert(crate::networks::normalize_port_key(k)?, json!({}));
        }
        if !exposed.is_empty() {
            config["ExposedPorts"] = Value::Object(exposed);
        }
        if !endpoints.contains_key(&mode) && !mode.starts_with("container:") {
            endpoints.insert(mode.clone(), json!({}));
        }
        match host_config["RestartPolicy"]["Name"]
            .as_str()
            .unwrap_or("no")
        {
            "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
            other => {
                return Err(Error::InvalidParameter(format!(
                    "invalid restart policy '{other}'"
                )));
            }
        }
        if host_config["AutoRemove"].as_bool() == Some(true)
            && !matches!(
                host_config["RestartPolicy"]["Name"]
                    .as_str()
                    .unwrap_or("no"),
                "" | "no"
            )
        {
            return Err(Error::InvalidParameter(
                "can't create 'AutoRemove' container with restart policy".into(),
            ));
        }
        runtime_of(&host_config)?;
        let lc = &host_config["LogConfig"];
        match lc["Type"].as_str().unwrap_or("") {
            "" | "json-file" => {}
            other => {
                return Err(Error::InvalidParameter(format!(
                    "logging driver {other:?} is not supported (only json-file)"
                )));
            }
        }
        for (k, v) in lc["Config"].as_object().into_iter().flatten() {
            let ok = match k.as_str() {
                "max-size" => v.as_str().and_then(parse_size).is_some_and(|n| n > 0),
                "max-file" => v
                    .as_str()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n > 0),
                "compress" | "labels" | "env" | "tag" => true,
                _ => false,
            };
            if !ok {
                return Err(Error::InvalidParameter(format!("invalid log opt {k}={v}")));
            }
        }
        // Storage options are checked before anything is written, like the host settings.
        let quota = match host_config["StorageOpt"].as_object() {
            Some(o) => {
                for k in o.keys() {
                    if k != "size" {
                        return Err(Error::InvalidParameter(format!("Unknown option {k}")));
                    }
                }
                match o.get("size").and_then(Value::as_str) {
                    Some(v) => Some(parse_size(v).ok_or_else(|| {
                        Error::InvalidParameter(format!("invalid storage-opt size {v:?}"))
                    })?),
                    None => None,
                }
            }
            None => None,
        };
        if quota.is_some_and(|q| q < 16 << 20) {
            return Err(Error::InvalidParameter(
                "--storage-opt size= must be at least 16MB".into(),
            ));
        }
        // Bad host settings fail the create, as with dockerd (nothing is written yet).
        apply_host_config(&mut berth_runtime::spec::default_spec(), &host_config)?;
        // Volumes: `-v name:/dst`, `-v /dst`, `--mount type=volume`, the image's VOLUMEs,
        // `--volumes-from`; made now (as dockerd does), recorded as the container's mount points.
        let mount_points = self.mount_points(&host_config, &ic["Volumes"])?;
        let mut rec = json!({
            "Id": id,
            "Name": format!("/{name}"),
            "Created": now_rfc3339(),
            "Image": img.id,
            "ChainIds": img.chain_ids,
            "Path": path,
            "Args": argv,
            "Config": config,
            "HostConfig": host_config,
            "NetworkingConfig": {"EndpointsConfig": endpoints},
            "MountPoints": mount_points,
            "StartedAt": ZERO_TIME,
            "RestartCount": 0,
        });
        let dir = self.dir_of(&id);
        {
            let db = self.db();
            let mut r = db.execute(
                "INSERT INTO containers (id, name, created, record) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, rec["Created"].as_str(), rec.to_string()],
            );
            // A generated name that is taken: another one (Docker adds a number as well).
            let mut tries = 0;
            while generated
                && tries < 20
                && r.as_ref().is_err_and(|e| e.to_string().contains("UNIQUE"))
            {
                tries += 1;
                name = if tries < 10 {
                    random_name()
                } else {
                    format!("{}{}", random_name(), tries)
                };
                rec["Name"] = json!(format!("/{name}"));
                r = db.execute(
                    "INSERT INTO containers (id, name, created, record) VALUES (?1, ?2, ?3, ?4)",
                    params![id, name, rec["Created"].as_str(), rec.to_string()],
                );
            }
            if let Err(e) = r {
                self.forget_new_volumes(&rec);
                if e.to_string().contains("UNIQUE") {
                    let other: String = db
                        .query_row(
                            "SELECT id FROM containers WHERE name = ?1",
                            params![name],
                            |r| r.get(0),
                        )
                        .unwrap_or_default();
                    return Err(Error::Conflict(format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                return Err(internal(e));
            }
        }
        let made = (|| {
            for d in ["rootfs", "bundle"] {
                std::fs::create_dir_all(dir.join(d))?;
            }
            match quota {
                // The writable layer lives in a filesystem of its own, of exactly that size
                // (works on any host filesystem; the host's space is never at stake).
                Some(bytes) => make_quota_fs(&dir, bytes)?,
                None => {
                    std::fs::create_dir_all(dir.join("upper"))?;
                    std::fs::create_dir_all(dir.join("work"))?;
                }
            }
            std::fs::write(
                dir.join("hostname"),
                format!("{}\n", config["Hostname"].as_str().unwrap_or_default()),
            )?;
            std::fs::write(
                dir.join("hosts"),
                format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
                    config["Hostname"].as_str().unwrap_or_default()
                ),
            )?;
            // The log exists from the start, so clients attached before `start` can open it.
            std::fs::write(dir.join(format!("{id}-json.log")), b"")?;
            std::fs::write(
                dir.join("resolv.conf"),
                std::fs::read("/etc/resolv.conf").unwrap_or_default(),
            )
        })();
        if let Err(e) = made {
            self.forget_new_volumes(&rec);
            let _ = nix::mount::umount2(&dir.join("quota"), nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self
                .db()
                .execute("DELETE FROM containers WHERE id = ?1", params![id]);
            return Err(internal(format!("create {}: {e}", dir.display())));
        }
        self.emit(&id, "create", &[]);
        Ok((id, Vec::new()))
    }

    /// The state, derived from the shim's files.
    pub fn state(&self, id: &str) -> Result<State> {
        let rec = self.record(id)?;
        let dir = self.dir_of(id);
        let started_at = rec["StartedAt"].as_str().unwrap_or(ZERO_TIME).to_owned();
        if let Ok(d) = std::fs::read(dir.join("shim.json")) {
            let v: Value = serde_json::from_slice(&d).unwrap_or(Value::Null);
            let pid = v["pid"].as_i64().unwrap_or(0);
            if pid_alive(v["shim"].as_i64().unwrap_or(0)) {
                return Ok(State {
                    status: if self.paused(id) { "paused" } else { "running" },
                    pid,
                    exit_code: 0,
                    error: String::new(),
                    started_at,
                    finished_at: ZERO_TIME.into(),
                });
            }
            // The shim died without recording an exit (killed): the container is gone too.
            if dir.join("exit.json").exists() {
                // It did record one, just before going.
                return self.exited(&dir, started_at);
            }
            return Ok(State {
                status: "exited",
                pid: 0,
                exit_code: 255,
                error: "the container's supervisor died".into(),
                started_at,
                finished_at: ZERO_TIME.into(),
            });
        }
        if dir.join("exit.json").exists() {
            return self.exited(&dir, started_at);
        }
        Ok(State {
            status: if started_at != ZERO_TIME {
                "exited"
            } else {
                "created"
            },
            pid: 0,
            exit_code: if started_at != ZERO_TIME { 255 } else { 0 },
            error: String::new(),
            started_at,
            finished_at: ZERO_TIME.into(),
        })
    }

    fn exited(&self, dir: &Path, started_at: String) -> Result<State> {
        let v: Value = std::fs::read(dir.join("exit.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or(Value::Null);
        Ok(State {
            status: "exited",
            pid: 0,
            exit_code: v["code"].as_i64().unwrap_or(255),
            error: v["error"].as_str().unwrap_or_default().to_owned(),
            started_at,
            finished_at: v["finished"].as_str().unwrap_or(ZERO_TIME).to_owned(),
        })
    }

    /// Paused means frozen: the container's cgroup (the same path for every runtime) tells.
    /// The freezer's place is found once (finding it reads mountinfo, which grows with every
    /// running container, and `state` asks this for each of them every 100 ms).
    fn paused(&self, id: &str) -> bool {
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

    fn cgroup_of(&self, id: &str) -> String {
        format!("{}/{}", self.cgroup_parent, id)
    }

    /// Run another runtime's command (`pause`, `update`, …) on a container; its error text
    /// on failure.
    fn run_runtime(
        &self,
        rt: &Path,
        rec: &Value,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<()> {
        use std::io::Write as _;
        let id = rec["Id"].as_str().unwrap_or_default();
        let mut child = std::process::Command::new(rt)
            .arg("--root")
            .arg(self.runtime_root_of(rec)?)
            .args(args)
            .arg(id)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| internal(format!("{}: {e}", rt.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.unwrap_or_default().as_bytes());
        }
        let out = child.wait_with_output().map_err(internal)?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "{} {}: {}",
                rt.display(),
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The OCI bundle for a start: Berth's default spec with the container's process.
    fn write_bundle(
        &self,
        id: &str,
        rec: &Value,
        rootfs: &Path,
        netns: Option<&Path>,
        volume_mounts: Vec<Value>,
    ) -> Result<()> {
        let dir = self.dir_of(id);
        let c = &rec["Config"];
        let mut spec = berth_runtime::spec::default_spec();
        let mut args = vec![rec["Path"].clone()];
        args.extend(rec["Args"].as_array().cloned().unwrap_or_default());
        spec["process"]["args"] = json!(args);
        let tty = c["Tty"].as_bool().unwrap_or(false);
        spec["process"]["terminal"] = json!(tty);
        let mut env: Vec<String> = c["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        let hostname = c["Hostname"].as_str().unwrap_or_default();
        env.push(format!("HOSTNAME={hostname}"));
        if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        spec["process"]["env"] = json!(env);
        let cwd = c["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/");
        spec["process"]["cwd"] = json!(cwd);
        let (uid, gid) = resolve_user(rootfs, c["User"].as_str().unwrap_or_default())?;
        spec["process"]["user"] = json!({"uid": uid, "gid": gid});
        spec["root"] = json!({"path": rootfs, "readonly": rec["HostConfig"]["ReadonlyRootfs"].as_bool().unwrap_or(false)});
        spec["hostname"] = json!(hostname);
        let mounts = spec["mounts"].as_array_mut();
        if let Some(m) = mounts {
            for (f, dest) in [
                ("hostname", "/etc/hostname"),
                ("hosts", "/etc/hosts"),
                ("resolv.conf", "/etc/resolv.conf"),
            ] {
                m.push(json!({"destination": dest, "type": "bind", "source": dir.join(f), "options": ["rbind", "rprivate"]}));
            }
        }
        spec["linux"]["cgroupsPath"] = json!(self.cgroup_of(id));
        // The network namespace: the one made for the container (by path), or none of its
        // own (`host`).
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            match netns {
                Some(p) => {
                    for n in ns.iter_mut().filter(|n| n["type"] == "network") {
                        n["path"] = json!(p);
                    }
                }
                None => ns.retain(|n| n["type"] != "network"),
            }
        }
        if netns.is_none() {
            // The host's network settings are not the container's to change.
            if let Some(sys) = spec["linux"]["sysctl"].as_object_mut() {
                sys.retain(|k, _| !k.starts_with("net."));
            }
        }
        apply_host_config(&mut spec, &rec["HostConfig"])?;
        if let Some(m) = spec["mounts"].as_array_mut() {
            m.extend(volume_mounts);
            // Parents before children, as dockerd orders them: a volume on /etc goes under
            // the /etc/hosts, /etc/hostname and /etc/resolv.conf binds, not over them.
            m.sort_by_key(|x| {
                x["destination"]
                    .as_str()
                    .map(|d| d.split('/').filter(|c| !c.is_empty()).count())
                    .unwrap_or(0)
            });
        }
        if rec["HostConfig"]["Init"].as_bool() == Some(true) {
            // --init: Berth's static init as process 1, mounted where Docker mounts its own.
            let init = self.runtime_root.join("berth-init");
            if !init.exists() {
                std::fs::create_dir_all(&self.runtime_root).map_err(internal)?;
                let tmp = self
                    .runtime_root
                    .join(format!(".berth-init.{}", std::process::id()));
                std::fs::write(&tmp, INIT_BINARY).map_err(internal)?;
                std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .map_err(internal)?;
                std::fs::rename(&tmp, &init).map_err(internal)?;
            }
            if let Some(m) = spec["mounts"].as_array_mut() {
                m.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["bind", "ro", "nosuid", "nodev"]}));
            }
            let mut args = vec![json!("/sbin/docker-init"), json!("--")];
            args.extend(
                spec["process"]["args"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            spec["process"]["args"] = json!(args);
        }
        std::fs::write(
            dir.join("bundle/config.json"),
            serde_json::to_vec(&spec).map_err(internal)?,
        )
        .map_err(internal)
    }

    /// Start: mount the root filesystem, write the bundle, hand over to a new shim; returns
    /// once the container runs (or has failed to start). `Ok(false)`: it was running already.
    pub fn start(&self, images: &Images, id: &str) -> Result<bool> {
        // One start at a time per container (a user's and the restart policy's may race).
        if !self
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned())
        {
            return Ok(false);
        }
        let r = self.start_locked(images, id);
        self.starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        r
    }

    fn start_locked(&self, images: &Images, id: &str) -> Result<bool> {
        if self.state(id)?.running() {
            return Ok(false);
        }
        // The previous run's end (its `die`, its network) is settled before this run begins.
        self.note_exit_now(id);
        let mut rec = self.record(id)?;
        let dir = self.dir_of(id);
        let rootfs = dir.join("rootfs");
        let chains = chains_of(&rec);
        ensure_quota_mounted(&dir)?;
        // A stale shim.json (its shim was killed) would read as "running" once a new shim
        // takes its pid; exit.json stays until the new shim runs (state reads shim.json first).
        let _ = std::fs::remove_file(dir.join("shim.json"));
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
        berth_image::snapshot::mount_rootfs(
            images.layers(),
            &chains,
            &dir.join("upper"),
            &dir.join("work"),
            &rootfs,
        )?;
        // The network side: a namespace of its own (joined by path), or the host's, or
        // another container's; /etc/hosts and /etc/resolv.conf to match.
        let me = self;
        let links = self.links_in(&rec);
        for (tid, alias, tname) in &links {
            if !self.state(tid)?.running() {
                let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
                return Err(Error::InvalidParameter(format!(
                    "Cannot link to a non running container: /{tname} AS /{}/{alias}",
                    self.name_of(id)
                )));
            }
        }
        let setup = self.networks.setup(id, &rec, &links, &|target| {
            let other = me.resolve(target)?;
            let st = me.state(&other)?;
            if !st.running() {
                return Err(Error::Conflict(format!(
                    "cannot join network of a non running container: {other}"
                )));
            }
            let path = me
                .networks
                .netns_of(&other)
                .unwrap_or_else(|| PathBuf::from(format!("/proc/{}/ns/net", st.pid)));
            Ok((other, path))
        });
        let setup = match setup {
            Ok(s) => s,
            Err(e) => {
                let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
                return Err(e);
            }
        };
        let written = std::fs::write(dir.join("hosts"), &setup.hosts)
            .and_then(|_| std::fs::write(dir.join("resolv.conf"), &setup.resolv))
            .map_err(internal)
            .and_then(|_| self.volume_mounts(id, &mut rec, &rootfs))
            .and_then(|vm| self.write_bundle(id, &rec, &rootfs, setup.netns.as_deref(), vm));
        if let Err(e) = written {
            self.networks.teardown(id);
            let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
            return Err(e);
        }
        std::fs::create_dir_all(&self.runtime_root).map_err(internal)?;
        // A leftover runtime state of an earlier run (its shim was killed) is cleared first.
        let _ = berth_runtime::container::delete(
            &berth_runtime::state::Root::new(&self.runtime_root),
            id,
            true,
        );
        let runtime = runtime_of(&rec["HostConfig"])?;
        // Marks this start's exit.json apart from an earlier one.
        let attempt = random_hex(8);
        let mut cmd = std::process::Command::new("/proc/self/exe");
        cmd.arg("shim")
            .arg("--attempt")
            .arg(&attempt)
            .arg("--id")
            .arg(id)
            .arg("--bundle")
            .arg(dir.join("bundle"))
            .arg("--runtime-root")
            .arg(self.runtime_root_for(runtime.as_deref()))
            .arg("--dir")
            .arg(&dir)
            .arg("--rootfs")
            .arg(&rootfs)
            .args(
                rec["Config"]["Tty"]
                    .as_bool()
                    .filter(|t| *t)
                    .map(|_| "--tty"),
            )
            .args(
                rec["Config"]["OpenStdin"]
                    .as_bool()
                    .filter(|t| *t)
                    .map(|_| "--stdin"),
            )
            .args(log_args(&rec["HostConfig"]["LogConfig"]))
            .args(
                runtime
                    .map(|p| vec![std::ffi::OsString::from("--runtime"), p.into_os_string()])
                    .unwrap_or_default(),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid is async-signal-safe: the shim gets its own session, so it outlives
            // the daemon and its signals.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| internal(format!("start the shim: {e}")))?;
        // The shim reports through files; it is reaped here when it exits (it is our child),
        // in a thread so the daemon never accumulates zombies.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut backoff = Backoff::new();
        // StartedAt on a fresh read (a user's stop may have marked the record meanwhile).
        let started = |rec: &mut Value| {
            let _g = self.rmw.lock().unwrap_or_else(|p| p.into_inner());
            *rec = self.record(id)?;
            rec["StartedAt"] = json!(now_rfc3339());
            self.save_record(id, rec)
        };
        loop {
            if dir.join("shim.json").exists() {
                started(&mut rec)?;
                self.seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_owned(), "running");
                self.emit(id, "start", &[]);
                return Ok(true);
            }
            let exit: Option<Value> = std::fs::read(dir.join("exit.json"))
                .ok()
                .and_then(|d| serde_json::from_slice(&d).ok())
                .filter(|v: &Value| v["attempt"].as_str() == Some(attempt.as_str()));
            if let Some(v) = exit {
                started(&mut rec)?;
                self.networks.teardown(id);
                if let Some(e) = v["error"].as_str() {
                    return Err(start_error(e));
                }
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Err(internal("the container did not start within 30 s"));
            }
            std::thread::sleep(backoff.step());
        }
    }

    /// Send `signal` to the container's init.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let st = self.state(id)?;
        if !st.alive() {
            let name = self.record(id)?["Name"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            return Err(Error::Conflict(format!(
                "cannot kill container: {name}: container {id} is not running"
            )));
        }
        self.emit(id, "kill", &[("signal", signal.to_string())]);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(st.pid as i32),
            nix::sys::signal::Signal::try_from(signal)
                .map_err(|_| Error::InvalidParameter(format!("invalid signal: {signal}")))?,
        )
        .map_err(|e| internal(format!("kill: {e}")))?;
        // A frozen process cannot act on a signal: a paused container is thawed so it does
        // (as dockerd does for kill, stop and rm -f).
        if st.status == "paused" {
            let _ = self.pause(id, false);
        }
        Ok(())
    }

    /// Wait until the container is not running (up to `timeout`); true if it stopped.
    pub fn wait_stopped(&self, id: &str, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        let mut backoff = Backoff::new();
        loop {
            if !self.state(id)?.alive() {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(backoff.step());
        }
    }

    /// Stop: the stop signal, then SIGKILL after `timeout`. `Ok(false)`: it was not running.
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<bool> {
        if !self.state(id)?.alive() {
            return Ok(false);
        }
        let rec = self.record(id)?;
        let sig = rec["Config"]["StopSignal"]
            .as_str()
            .and_then(|s| berth_runtime::container::parse_signal(s).ok())
            .unwrap_or(libc::SIGTERM);
        let t = timeout
            .or(rec["Config"]["StopTimeout"].as_i64())
            .unwrap_or(10)
            .max(0);
        let _ = self.kill(id, sig);
        if !self.wait_stopped(id, Duration::from_secs(t as u64))? {
            let _ = self.kill(id, libc::SIGKILL);
            self.wait_stopped(id, Duration::from_secs(30))?;
        }
        self.note_exit(id);
        self.emit(id, "stop", &[]);
        Ok(true)
    }

    /// Remove: refused while running unless `force` (then killed first).
    /// Remove a container; with `volumes` (`rm -v`) its anonymous volumes go too (unless
    /// another container uses them).
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.alive() {
            if !force && st.status == "paused" {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is paused: unpause and then stop the container before attempting removal or force remove",
                    rec["Name"].as_str().unwrap_or_default()
                )));
            }
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    rec["Name"].as_str().unwrap_or_default()
                )));
            }
            let _ = self.kill(id, libc::SIGKILL);
            self.wait_stopped(id, Duration::from_secs(30))?;
        }
        self.note_exit(id);
        self.networks.teardown(id);
        self.emit(id, "destroy", &[]);
        // Process files of exec sessions run through another runtime.
        if let Ok(root) = self.runtime_root_of(&rec) {
            for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("exec-{}-", &id[..12]))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let dir = self.dir_of(id);
        let _ = nix::mount::umount2(&dir.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
        let _ = nix::mount::umount2(&dir.join("quota"), nix::mount::MntFlags::MNT_DETACH);
        // Anonymous volumes first (`rm -v`, `--rm`): a client that saw the container gone
        // sees them gone too. Other users keep them.
        if volumes {
            for m in rec["MountPoints"].as_array().into_iter().flatten() {
                let name = m["Name"].as_str().unwrap_or_default();
                let others = self.volume_users(name)?.into_iter().any(|u| u != id);
                if m["Anonymous"] == true && !others {
                    let _ = self.volumes.remove(name, &[]);
                }
            }
        }
        // The row goes first (the container is gone for every client), then the directory,
        // renamed so an interrupted removal is finished at the next start.
        {
            let db = self.db();
            db.execute("DELETE FROM containers WHERE id = ?1", params![id])
                .map_err(internal)?;
            db.execute("DELETE FROM execs WHERE container = ?1", params![id])
                .map_err(internal)?;
        }
        let gone = self.dir.join(format!(".removing-{id}"));
        if std::fs::rename(&dir, &gone).is_ok() {
            let _ = std::fs::remove_dir_all(&gone);
        }
        Ok(())
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir_of(id).join(format!("{id}-json.log"))
    }

    /// The rotated logs, oldest first (`…-json.log.N` … `.1`).
    pub fn rotated_logs(&self, id: &str) -> Vec<PathBuf> {
        let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(self.dir_of(id))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e
                    .file_name()
                    .to_string_lossy()
                    .strip_prefix(&format!("{id}-json.log."))?
                    .parse::<u32>()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        out.sort_by_key(|x| std::cmp::Reverse(x.0));
        out.into_iter().map(|(_, p)| p).collect()
    }

    /// `GET /containers/{id}/json`
    pub fn inspect(&self, id: &str) -> Result<Value> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        let dir = self.dir_of(id);
        let mut host_config = json!({
            "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "none", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "CapAdd": null, "CapDrop": null,
            "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null,
            "IpcMode": "private", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
            "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
            "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": "berth",
            "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
            "BlkioWeight": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "",
            "Devices": [], "MemoryReservation": 0, "MemorySwap": 0, "PidsLimit": null, "Ulimits": [],
            "KernelMemory": 0, "KernelMemoryTCP": 0, "CpuCount": 0, "CpuPercent": 0,
            "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [], "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
            "DeviceCgroupRules": null, "DeviceRequests": null, "MemorySwappiness": null,
            "OomKillDisable": false, "ConsoleSize": [0, 0], "Annotations": null,
            "MaskedPaths": berth_runtime::spec::MASKED_PATHS, "ReadonlyPaths": berth_runtime::spec::READONLY_PATHS,
        });
        if let (Some(h), Some(given)) = (host_config.as_object_mut(), rec["HostConfig"].as_object())
        {
            for (k, v) in given {
                h.insert(k.clone(), v.clone());
            }
        }
        let health = self.health_json(id, &rec);
        let exec_ids: Vec<String> = {
            let db = self.db();
            let mut q = db
                .prepare_cached("SELECT id FROM execs WHERE container = ?1 AND running = 1")
                .map_err(internal)?;
            q.query_map(params![id], |r| r.get(0))
                .map_err(internal)?
                .flatten()
                .collect()
        };
        let mut out = json!({
            "Id": rec["Id"],
            "Created": rec["Created"],
            "Path": rec["Path"],
            "Args": rec["Args"],
            "State": {
                "Status": st.status,
                "Running": st.status == "running" || st.status == "paused",
                "Paused": st.status == "paused",
                "Restarting": false,
                "OOMKilled": false,
                "Dead": false,
                "Pid": st.pid,
                "ExitCode": st.exit_code,
                "Error": st.error,
                "StartedAt": st.started_at,
                "FinishedAt": st.finished_at,
            },
            "Image": rec["Image"],
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": self.log_path(id),
            "Name": rec["Name"],
            "RestartCount": rec["RestartCount"],
            "Driver": "overlay",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if exec_ids.is_empty() { Value::Null } else { json!(exec_ids) },
            "HostConfig": host_config,
            "GraphDriver": {"Data": {"UpperDir": dir.join("upper"), "WorkDir": dir.join("work"), "MergedDir": dir.join("rootfs")}, "Name": "overlay"},
            "Mounts": self.mounts_json(&rec),
            "Config": full_config(&rec["Config"]),
            "NetworkSettings": self.networks.settings(id, &rec)?,
        });
        if let Some(h) = health {
            out["State"]["Health"] = h;
        }
        Ok(out)
    }

    /// `State.Health` for a container with a health check.
    fn health_json(&self, id: &str, rec: &Value) -> Option<Value> {
        let test = strings_of(&rec["Config"]["Healthcheck"]["Test"]);
        if test.is_empty() || test[0] == "NONE" {
            return None;
        }
        let h = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        let running = self.state(id).is_ok_and(|s| s.running());
        Some(match h {
            Some(h) => {
                json!({"Status": if running { h.status } else { "unhealthy" }, "FailingStreak": h.failing_streak, "Log": h.log})
            }
            None => {
                json!({"Status": if running { "starting" } else { "unhealthy" }, "FailingStreak": 0, "Log": []})
            }
        })
    }

    /// Run due health checks of running containers (each in its own thread, through
    /// `berth runtime exec`, with its timeout); report `health_status` changes as events.
    pub fn run_health_checks(self: &std::sync::Arc<Self>) {
        let ns = |v: &Value, default: u64| -> Duration {
            Duration::from_nanos(v.as_u64().filter(|n| *n > 0).unwrap_or(default))
        };
        for id in self.ids().unwrap_or_default() {
            let Ok(rec) = self.record(&id) else { continue };
            let hc = &rec["Config"]["Healthcheck"];
            let test = strings_of(&hc["Test"]);
            if test.is_empty()
                || test[0] == "NONE"
                || !self.state(&id).is_ok_and(|s| s.status == "running")
            {
                continue;
            }
            let interval = ns(&hc["Interval"], 30_000_000_000);
            let now = std::time::Instant::now();
            {
                let mut all = self.health.lock().unwrap_or_else(|p| p.into_inner());
                let h = all.entry(id.clone()).or_insert_with(|| Health {
                    status: "starting",
                    next_check: Some(now + interval),
                    started: Some(now),
                    ..Default::default()
                });
                if h.running_check || h.next_check.is_some_and(|t| t > now) {
                    continue;
                }
                h.running_check = true;
            }
            let cmd: Vec<String> = match test[0].as_str() {
                "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
                "CMD" => test[1..].to_vec(),
                _ => test.clone(),
            };
            let timeout = ns(&hc["Timeout"], 30_000_000_000);
            let retries = hc["Retries"].as_i64().filter(|r| *r > 0).unwrap_or(3);
            let start_period = ns(&hc["StartPeriod"], 0);
            let me = self.clone();
            std::thread::spawn(move || {
                let session = ExecSession {
                    id: String::new(),
                    container: id.clone(),
                    config: json!({"Cmd": cmd}),
                    running: false,
                    exit_code: None,
                    pid: 0,
                    pty: None,
                };
                let start = now_rfc3339();
                let (code, output) = match me.exec_command(&session) {
                    Ok(mut c) => run_with_timeout(&mut c, timeout),
                    Err(e) => (-1, e.to_string()),
                };
                let mut all = me.health.lock().unwrap_or_else(|p| p.into_inner());
                let Some(h) = all.get_mut(&id) else { return };
                h.running_check = false;
                h.next_check = Some(std::time::Instant::now() + interval);
                h.log.push_back(json!({"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": output}));
                while h.log.len() > 5 {
                    h.log.pop_front();
                }
                let before = h.status;
                if code == 0 {
                    h.failing_streak = 0;
                    h.status = "healthy";
                } else {
                    h.failing_streak += 1;
                    let in_start = h.started.is_some_and(|t| t.elapsed() < start_period);
                    if h.failing_streak >= retries && !in_start {
                        h.status = "unhealthy";
                    }
                }
                let after = h.status;
                drop(all);
                if after != before {
                    me.emit(&id, &format!("health_status: {after}"), &[]);
                }
            });
        }
    }

    /// The volumes a new container mounts (see `create`): `[{Type, Name, Destination, RW,
    /// Mode, NoCopy, Anonymous}]`, the volumes made as needed.
    fn mount_points(&self, hc: &Value, image_volumes: &Value) -> Result<Value> {
        let bad = |m: String| Error::InvalidParameter(m);
        let mut out: Vec<Value> = Vec::new();
        let add = |out: &mut Vec<Value>,
                   name: Option<&str>,
                   dst: &str,
                   rw: bool,
                   mode: &str,
                   nocopy: bool|
         -> Result<()> {
            if !dst.starts_with('/') {
                return Err(bad(format!(
                    "invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            if out.iter().any(|m| m["Destination"] == dst) {
                return Err(bad(format!("Duplicate mount point: {dst}")));
            }
            let v = self
                .volumes
                .create(&json!({"Name": name.unwrap_or_default()}))?;
            out.push(json!({
                "Type": "volume", "Name": v["Name"], "Destination": dst, "RW": rw, "Mode": mode,
                "NoCopy": nocopy, "Anonymous": name.is_none(),
            }));
            Ok(())
        };
        for b in strings_of(&hc["Binds"]) {
            let parts: Vec<&str> = b.split(':').collect();
            let (src, dst, opts) = match parts.as_slice() {
                [d] => (None, *d, ""),
                [s, d] => (Some(*s), *d, ""),
                [s, d, o] => (Some(*s), *d, *o),
                _ => continue,
            };
            if src.is_some_and(|s| s.starts_with('/')) {
                continue;
            }
            let rw = !opts.split(',').any(|o| o == "ro");
            let nocopy = opts.split(',').any(|o| o == "nocopy");
            add(&mut out, src, dst, rw, opts, nocopy)?;
        }
        for m in hc["Mounts"].as_array().into_iter().flatten() {
            if m["Type"] != "volume" {
                continue;
            }
            let src = m["Source"].as_str().filter(|s| !s.is_empty());
            add(
                &mut out,
                src,
                m["Target"].as_str().unwrap_or_default(),
                m["ReadOnly"].as_bool() != Some(true),
                "",
                m["VolumeOptions"]["NoCopy"].as_bool() == Some(true),
            )?;
        }
        // --volumes-from CONTAINER[:ro|rw]: its volumes (and binds, through its HostConfig).
        for vf in strings_of(&hc["VolumesFrom"]) {
            let (name, mode) = vf.split_once(':').unwrap_or((vf.as_str(), ""));
            let other = self.record(&self.resolve(name)?)?;
            for m in other["MountPoints"].as_array().into_iter().flatten() {
                let dst = m["Destination"].as_str().unwrap_or_default();
                if out.iter().any(|x| x["Destination"] == dst) {
                    continue;
                }
                let mut m = m.clone();
                match mode {
                    "ro" => m["RW"] = json!(false),
                    "rw" => m["RW"] = json!(true),
                    _ => {}
                }
                m["Anonymous"] = json!(false);
                m["NoCopy"] = json!(true);
                out.push(m);
            }
        }
        // The image's VOLUMEs not covered by a mount or bind: anonymous volumes.
        let bind_dsts: Vec<String> = strings_of(&hc["Binds"])
            .iter()
            .filter_map(|b| b.split(':').nth(1).map(str::to_owned))
            .chain(
                hc["Mounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["Target"].as_str().map(str::to_owned)),
            )
            .chain(
                hc["Tmpfs"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            )
            .collect();
        for (dst, _) in image_volumes.as_object().into_iter().flatten() {
            if out.iter().any(|m| m["Destination"] == dst.as_str()) || bind_dsts.contains(dst) {
                continue;
            }
            add(&mut out, None, dst, true, "", false)?;
        }
        Ok(json!(out))
    }

    /// `Mounts` of inspect and list: binds, tmpfs mounts and volumes, as dockerd shows them.
    fn mounts_json(&self, rec: &Value) -> Value {
        let hc = &rec["HostConfig"];
        let mut out = Vec::new();
        for b in strings_of(&hc["Binds"]) {
            let parts: Vec<&str> = b.split(':').collect();
            if let [src, dst, rest @ ..] = parts.as_slice() {
                if src.starts_with('/') {
                    let mode = rest.first().copied().unwrap_or("");
                    out.push(json!({
                        "Type": "bind", "Source": src, "Destination": dst, "Mode": mode,
                        "RW": !mode.split(',').any(|o| o == "ro"), "Propagation": "rprivate",
                    }));
                }
            }
        }
        for m in hc["Mounts"].as_array().into_iter().flatten() {
            match m["Type"].as_str().unwrap_or_default() {
                "bind" => out.push(json!({
                    "Type": "bind", "Source": m["Source"], "Destination": m["Target"], "Mode": "",
                    "RW": m["ReadOnly"] != true,
                    "Propagation": m["BindOptions"]["Propagation"].as_str().filter(|p| !p.is_empty()).unwrap_or("rprivate"),
                })),
                "tmpfs" => out.push(json!({
                    "Type": "tmpfs", "Source": "", "Destination": m["Target"], "Mode": "",
                    "RW": m["ReadOnly"] != true, "Propagation": "",
                })),
                _ => {}
            }
        }
        for m in rec["MountPoints"].as_array().into_iter().flatten() {
            let name = m["Name"].as_str().unwrap_or_default();
            out.push(json!({
                "Type": "volume", "Name": name, "Source": self.volumes.mountpoint(name),
                "Destination": m["Destination"], "Driver": "local", "Mode": m["Mode"],
                "RW": m["RW"], "Propagation": "",
            }));
        }
        json!(out)
    }

    /// `GET /containers/json`: summaries, newest first, with Docker's `filters` (`id`, `name`,
    /// `label`, `status`, `exited`, `ancestor`, `before`, `since`, `volume`, `network`,
    /// `health`, `publish`, `expose`), `limit` and `size`. Values of one key are alternatives;
    /// keys must all match. Unknown keys are refused, as dockerd does.
    pub fn list(
        &self,
        images: &Images,
        all: bool,
        filters: &[(String, String)],
        limit: Option<usize>,
        size: bool,
    ) -> Result<Vec<Value>> {
        const KEYS: [&str; 13] = [
            "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume",
            "network", "health", "publish", "expose",
        ];
        for (k, v) in filters {
            if !KEYS.contains(&k.as_str()) {
                return Err(Error::InvalidParameter(format!("invalid filter '{k}'")));
            }
            if k == "status"
                && ![
                    "created",
                    "restarting",
                    "running",
                    "removing",
                    "paused",
                    "exited",
                    "dead",
                ]
                .contains(&v.as_str())
            {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter 'status={v}'"
                )));
            }
        }
        let ids = self.ids()?;
        // `before`/`since` name containers: their creation times bound the list.
        let created_of = |key: &str| -> Result<String> {
            let id = self.resolve(key)?;
            Ok(self.record(&id)?["Created"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        };
        let mut bounds = Vec::new();
        for (k, v) in filters
            .iter()
            .filter(|(k, _)| k == "before" || k == "since")
        {
            bounds.push((k.clone(), created_of(v)?));
        }
        let image_ids: Vec<(String, String)> = filters
            .iter()
            .filter(|(k, _)| k == "ancestor")
            .map(|(_, v)| {
                let id = images
                    .resolve(v)
                    .map(|i| i.id.to_string())
                    .unwrap_or_default();
                (v.clone(), id)
            })
            .collect();
        let filter_all = filters.iter().any(|(k, _)| k == "status" || k == "exited");
        let mut out = Vec::new();
        for id in ids {
            let mut s = self.summary(&id)?;
            let st = self.state(&id)?;
            if !(all || filter_all || st.alive()) {
                continue;
            }
            let rec = self.record(&id)?;
            let created = rec["Created"].as_str().unwrap_or_default();
            let keys: std::collections::BTreeSet<&str> =
                filters.iter().map(|(k, _)| k.as_str()).collect();
            let ok = keys.into_iter().all(|key| {
                let vals = filters
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str());
                let mut vals = vals.peekable();
                match key {
                    "before" => bounds
                        .iter()
                        .filter(|(k, _)| k == "before")
                        .all(|(_, t)| created < t.as_str()),
                    "since" => bounds
                        .iter()
                        .filter(|(k, _)| k == "since")
                        .all(|(_, t)| created > t.as_str()),
                    _ => vals.any(|v| match key {
                        "id" => id.starts_with(v),
                        "name" => rec["Name"].as_str().is_some_and(|n| {
                            n.trim_start_matches('/')
                                .contains(v.trim_start_matches('/'))
                        }),
                        "label" => {
                            let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                            rec["Config"]["Labels"][lk]
                                .as_str()
                                .is_some_and(|x| !v.contains('=') || x == lv)
                        }
                        "status" => st.status == v,
                        "exited" => {
                            st.status == "exited" && v.parse::<i64>().ok() == Some(st.exit_code)
                        }
                        "ancestor" => image_ids.iter().any(|(name, iid)| {
                            name == v
                                && (!iid.is_empty() && rec["Image"] == iid.as_str()
                                    || rec["Config"]["Image"] == v)
                        }),
                        "volume" => {
                            rec["MountPoints"].as_array().is_some_and(|m| {
                                m.iter().any(|m| m["Name"] == v || m["Destination"] == v)
                            }) || strings_of(&rec["HostConfig"]["Binds"]).iter().any(|b| {
                                b.split(':').next() == Some(v) || b.split(':').nth(1) == Some(v)
                            })
                        }
                        "network" => crate::networks::networks_of(&rec).iter().any(|n| {
                            n == v || self.networks.id_of(n).is_ok_and(|i| i.starts_with(v))
                        }),
                        "health" => {
                            let h = self
                                .health_json(&id, &rec)
                                .map(|h| h["Status"].as_str().unwrap_or("none").to_owned())
                                .unwrap_or_else(|| "none".into());
                            h == v
                        }
                        "publish" | "expose" => {
                            let port = if v.contains('/') {
                                v.to_owned()
                            } else {
                                format!("{v}/tcp")
                            };
                            if key == "publish" {
                                rec["HostConfig"]["PortBindings"].get(&port).is_some()
                            } else {
                                rec["Config"]["ExposedPorts"].get(&port).is_some()
                            }
                        }
                        _ => false,
                    }),
                }
            });
            if !ok {
                continue;
            }
            if size {
                let rw = berth_image::snapshot::du(&self.dir_of(&id).join("upper/"));
                let image_size = images
                    .resolve(rec["Image"].as_str().unwrap_or_default())
                    .map(|i| i.size)
                    .unwrap_or(0);
                s["SizeRw"] = json!(rw);
                s["SizeRootFs"] = json!(rw + image_size);
            }
            out.push(s);
            if limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    /// A create that failed after its volumes were made: the anonymous ones go again.
    fn forget_new_volumes(&self, rec: &Value) {
        for m in rec["MountPoints"].as_array().into_iter().flatten() {
            if m["Anonymous"] == true {
                let _ = self
                    .volumes
                    .remove(m["Name"].as_str().unwrap_or_default(), &[]);
            }
        }
    }

    /// Containers (ids) whose mount points use volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for id in self.ids()? {
            let rec = self.record(&id)?;
            if rec["MountPoints"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["Name"] == name))
            {
                users.push(id);
            }
        }
        Ok(users)
    }

    /// Mount the container's volumes: a bind of each volume's directory, filled from the
    /// image on first use when empty (copy-up) unless `nocopy`.
    fn volume_mounts(&self, id: &str, rec: &mut Value, rootfs: &Path) -> Result<Vec<Value>> {
        let mut mounts = Vec::new();
        let mut copied = false;
        for m in rec["MountPoints"].as_array_mut().into_iter().flatten() {
            let name = m["Name"].as_str().unwrap_or_default().to_owned();
            let dst = m["Destination"].as_str().unwrap_or_default().to_owned();
            self.volumes.ensure_mounted(&name)?;
            let mp = self.volumes.mountpoint(&name);
            if m["NoCopy"] != true && m["Copied"] != true {
                if self.volumes.is_empty(&name) {
                    copy_up(rootfs, &dst, &mp)?;
                }
                m["Copied"] = json!(true);
                copied = true;
            }
            let mut o = vec!["rbind".to_owned(), "rprivate".to_owned()];
            if m["RW"] == false {
                o.push("ro".into());
            }
            mounts.push(json!({"destination": dst, "type": "bind", "source": mp, "options": o}));
        }
        if copied {
            self.save_record(id, rec)?;
        }
        Ok(mounts)
    }

    /// A container's links: (target id, alias, target name), for targets that still exist.
    pub fn links_of(&self, id: &str) -> Vec<(String, String, String)> {
        self.record(id)
            .map(|rec| self.links_in(&rec))
            .unwrap_or_default()
    }

    /// The links of a container record at hand.
    fn links_in(&self, rec: &Value) -> Vec<(String, String, String)> {
        rec["HostConfig"]["Links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                let (t, a) = l.as_str()?.split_once(':')?;
                let target = t.trim_start_matches('/');
                let alias = a.rsplit('/').next()?.to_owned();
                let tid = self.resolve(target).ok()?;
                Some((tid, alias, target.to_owned()))
            })
            .collect()
    }

    /// The name of a container (without the slash), or its id if it has none.
    pub fn name_of(&self, id: &str) -> String {
        self.record(id)
            .ok()
            .and_then(|r| {
                r["Name"]
                    .as_str()
                    .map(|n| n.trim_start_matches('/').to_owned())
            })
            .unwrap_or_else(|| id.to_owned())
    }

    /// Ids of the networks some container (running or not) is configured on.
    pub fn networks_in_use(&self) -> Result<std::collections::HashSet<String>> {
        let mut used = std::collections::HashSet::new();
        for id in self.ids()? {
            let rec = self.record(&id)?;
            for n in crate::networks::networks_of(&rec) {
                if let Ok(nid) = self.networks.id_of(&n) {
                    used.insert(nid);
                }
            }
        }
        Ok(used)
    }

    /// `network connect`: the network joins the container's configuration, and its running
    /// namespace at once.
    pub fn connect(&self, container: &str, network: &str, cfg: &Value) -> Result<()> {
        let id = self.resolve(container)?;
        let mut rec = self.record(&id)?;
        let net = self.networks.get(network)?;
        let name = net["Name"].as_str().unwrap_or_default().to_owned();
        let mode = rec["HostConfig"]["NetworkMode"]
            .as_str()
            .unwrap_or("bridge")
            .to_owned();
        if mode == "host" || name == "host" {
            return Err(Error::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if mode == "none" || name == "none" || mode.starts_with("container:") {
            return Err(Error::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            ));
        }
        let already = crate::networks::networks_of(&rec)
            .iter()
            .any(|n| self.networks.id_of(n).ok().as_deref() == net["Id"].as_str());
        if already {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {name}",
                self.name_of(&id)
            )));
        }
        let mut cfg = cfg.clone();
        if !cfg.is_object() {
            cfg = json!({});
        }
        if self.state(&id)?.alive() {
            self.networks.connect_running(&id, &rec, &name, &cfg)?;
        }
        rec["NetworkingConfig"]["EndpointsConfig"][name.as_str()] = cfg;
        self.save_record(&id, &rec)
    }

    /// `network disconnect`.
    pub fn disconnect(&self, container: &str, network: &str, _force: bool) -> Result<()> {
        let id = self.resolve(container)?;
        let mut rec = self.record(&id)?;
        let net = self.networks.get(network)?;
        let name = net["Name"].as_str().unwrap_or_default().to_owned();
        let key = crate::networks::networks_of(&rec)
            .into_iter()
            .find(|n| self.networks.id_of(n).ok().as_deref() == net["Id"].as_str());
        let Some(key) = key else {
            return Err(Error::Forbidden(format!(
                "container {id} is not connected to network {name}"
            )));
        };
        if name == "host" {
            return Err(Error::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if self.state(&id)?.alive() {
            self.networks.disconnect_running(&id, &name)?;
        }
        if let Some(m) = rec["NetworkingConfig"]["EndpointsConfig"].as_object_mut() {
            m.remove(&key);
        } else {
            rec["NetworkingConfig"]["EndpointsConfig"] = json!({});
        }
        self.save_record(&id, &rec)
    }

    /// `GET /containers/json` entry.
    pub fn summary(&self, id: &str) -> Result<Value> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        let now = crate::time::now();
        let ago = |t: &str| crate::time::human_duration(now - parse_rfc3339(t).unwrap_or(now));
        let health = match self.health_json(id, &rec) {
            Some(h) if st.status == "running" => match h["Status"].as_str().unwrap_or_default() {
                "starting" => " (health: starting)".to_owned(),
                s => format!(" ({s})"),
            },
            _ => String::new(),
        };
        let status = match st.status {
            "running" => format!("Up {}{health}", ago(&st.started_at)),
            "paused" => format!("Up {} (Paused)", ago(&st.started_at)),
            "created" => "Created".to_owned(),
            _ => format!("Exited ({}) {} ago", st.exit_code, ago(&st.finished_at)),
        };
        let mut command: Vec<String> = vec![rec["Path"].as_str().unwrap_or_default().to_owned()];
        command.extend(
            rec["Args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned)),
        );
        let ns = self.networks.settings(id, &rec)?;
        let mut ports = Vec::new();
        for (key, binds) in ns["Ports"].as_object().into_iter().flatten() {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let port: u64 = port.parse().unwrap_or(0);
            match binds.as_array() {
                Some(list) if !list.is_empty() => {
                    for b in list {
                        ports.push(json!({
                            "IP": b["HostIp"],
                            "PrivatePort": port,
                            "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u64>().ok()),
                            "Type": proto,
                        }));
                    }
                }
                _ => ports.push(json!({"PrivatePort": port, "Type": proto})),
            }
        }
        let networks = ns["Networks"].clone();
        Ok(json!({
            "Id": rec["Id"],
            "Names": [rec["Name"]],
            "Image": rec["Config"]["Image"],
            "ImageID": rec["Image"],
            "Command": command.join(" "),
            "Created": parse_rfc3339(rec["Created"].as_str().unwrap_or_default()).unwrap_or(0),
            "Ports": ports,
            "Labels": rec["Config"]["Labels"],
            "State": st.status,
            "Status": status,
            "HostConfig": {"NetworkMode": rec["HostConfig"]["NetworkMode"]},
            "NetworkSettings": {"Networks": networks},
            "Mounts": self.mounts_json(&rec),
        }))
    }

    /// A connection to the container's shim, for stdin and terminal sizes. Waits (up to
    /// `patience`) for the shim of a container that is about to start.
    pub fn shim_socket(
        &self,
        id: &str,
        patience: Duration,
    ) -> Result<std::os::unix::net::UnixStream> {
        let deadline = std::time::Instant::now() + patience;
        let mut backoff = Backoff::new();
        loop {
            let conn = berth_shim::short_path(&self.dir_of(id), "attach.sock")
                .map_err(std::io::Error::other)
                .and_then(|(p, _dir)| std::os::unix::net::UnixStream::connect(p));
            match conn {
                Ok(s) => return Ok(s),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(Error::Conflict(format!(
                        "container {id} is not running: {e}"
                    )));
                }
                Err(_) => std::thread::sleep(backoff.step()),
            }
        }
    }

    /// Set the container's terminal size.
    pub fn resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        use std::io::Write;
        let mut s = self.shim_socket(id, Duration::from_secs(0))?;
        let mut p = rows.to_be_bytes().to_vec();
        p.extend_from_slice(&cols.to_be_bytes());
        s.write_all(&berth_shim::message(berth_shim::MSG_RESIZE, &p))
            .map_err(internal)
    }

    /// `POST /containers/{id}/exec`: a session to start later.
    pub fn exec_create(&self, id: &str, body: &Value) -> Result<String> {
        if !self.state(id)?.running() {
            return Err(Error::Conflict(format!("container {id} is not running")));
        }
        if body["Cmd"].as_array().is_none_or(|c| c.is_empty()) {
            return Err(Error::InvalidParameter("No exec command specified".into()));
        }
        let exec_id = random_hex(32);
        self.db()
            .execute(
                "INSERT INTO execs (id, container, config, running, pid) VALUES (?1, ?2, ?3, 0, 0)",
                params![exec_id, id, body.to_string()],
            )
            .map_err(internal)?;
        Ok(exec_id)
    }

    fn exec_load(&self, db: &rusqlite::Connection, exec_id: &str) -> Result<ExecSession> {
        let row = db
            .query_row(
                "SELECT container, config, running, exit_code, pid FROM execs WHERE id = ?1",
                params![exec_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(internal)?;
        let (container, config, running, exit_code, pid) =
            row.ok_or_else(|| Error::NotFound(format!("No such exec instance: {exec_id}")))?;
        Ok(ExecSession {
            id: exec_id.to_owned(),
            container,
            config: serde_json::from_str(&config).map_err(internal)?,
            running,
            exit_code,
            pid,
            pty: self
                .ptys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(exec_id)
                .cloned(),
        })
    }

    pub fn exec_get(&self, exec_id: &str) -> Result<ExecSession> {
        self.exec_load(&self.db(), exec_id)
    }

    /// Change a session (running, exit code, pid, terminal) and store it.
    pub fn exec_update(&self, exec_id: &str, f: impl FnOnce(&mut ExecSession)) {
        let db = self.db();
        let Ok(mut s) = self.exec_load(&db, exec_id) else {
            return;
        };
        f(&mut s);
        let _ = db.execute(
            "UPDATE execs SET running = ?2, exit_code = ?3, pid = ?4 WHERE id = ?1",
            params![exec_id, s.running, s.exit_code, s.pid],
        );
        let mut ptys = self.ptys.lock().unwrap_or_else(|p| p.into_inner());
        match s.pty {
            Some(m) => ptys.insert(exec_id.to_owned(), m),
            None => ptys.remove(exec_id),
        };
    }

    /// Set an exec session's terminal size.
    pub fn exec_resize(&self, exec_id: &str, rows: u16, cols: u16) -> Result<()> {
        let s = self.exec_get(exec_id)?;
        if let Some(m) = &s.pty {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ on the exec's pty master with a valid winsize.
            unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(m.as_ref()),
                    libc::TIOCSWINSZ,
                    &ws,
                )
            };
        }
        Ok(())
    }

    /// The `berth runtime exec` command line for a session (run by the daemon as a child
    /// process: joining a container's namespaces needs a single-threaded process).
    pub fn exec_command(&self, s: &ExecSession) -> Result<std::process::Command> {
        let c = &s.config;
        let rec = self.record(&s.container)?;
        let runtime = runtime_of(&rec["HostConfig"])?;
        let rt_root = self.runtime_root_for(runtime.as_deref());
        let mut cmd = match runtime {
            None => {
                let mut cmd = std::process::Command::new("/proc/self/exe");
                cmd.arg("runtime");
                cmd
            }
            Some(p) => {
                // Other runtimes get the whole process as runtime-spec JSON (their command
                // lines differ in how they take a command): the container's, adjusted.
                let bundle: Value =
                    std::fs::read(self.dir_of(&s.container).join("bundle/config.json"))
                        .ok()
                        .and_then(|d| serde_json::from_slice(&d).ok())
                        .ok_or_else(|| internal("the container's bundle is gone"))?;
                let mut proc_ = bundle["process"].clone();
                proc_["args"] = json!(strings_of(&c["Cmd"]));
                proc_["terminal"] = json!(c["Tty"].as_bool() == Some(true));
                let mut env = strings_of(&proc_["env"]);
                env.extend(strings_of(&c["Env"]));
                proc_["env"] = json!(env);
                if let Some(w) = c["WorkingDir"].as_str().filter(|w| !w.is_empty()) {
                    proc_["cwd"] = json!(w);
                }
                if let Some(u) = c["User"].as_str().filter(|u| !u.is_empty()) {
                    let (uid, gid) = resolve_user(&self.dir_of(&s.container).join("rootfs"), u)?;
                    proc_["user"] = json!({"uid": uid, "gid": gid});
                }
                let file = rt_root.join(format!(
                    "exec-{}-{}.json",
                    &s.container[..12],
                    random_hex(8)
                ));
                std::fs::create_dir_all(file.parent().unwrap_or(Path::new("/")))
                    .map_err(internal)?;
                std::fs::write(&file, proc_.to_string()).map_err(internal)?;
                let tty = c["Tty"].as_bool() == Some(true);
                let mut cmd = if tty {
                    // A terminal needs a console socket, and runc-like runtimes take one only
                    // when detaching: a reaping wrapper waits for the detached process.
                    let mut cmd = std::process::Command::new("/proc/self/exe");
                    cmd.args(["shim", "--reap"])
                        .arg(file.with_extension("pid"))
                        .arg("--")
                        .arg(p);
                    cmd
                } else {
                    std::process::Command::new(p)
                };
                cmd.arg("--root").arg(&rt_root).arg("exec");
                if tty {
                    cmd.arg("-d")
                        .arg("--pid-file")
                        .arg(file.with_extension("pid"));
                }
                cmd.arg("--process").arg(&file).arg(&s.container);
                return Ok(cmd);
            }
        };
        cmd.arg("--root").arg(&rt_root).arg("exec");
        if let Some(w) = c["WorkingDir"].as_str().filter(|w| !w.is_empty()) {
            cmd.arg("--cwd").arg(w);
        }
        for e in strings_of(&c["Env"]) {
            cmd.arg("-e").arg(e);
        }
        if let Some(u) = c["User"].as_str().filter(|u| !u.is_empty()) {
            let (uid, gid) = resolve_user(&self.dir_of(&s.container).join("rootfs"), u)?;
            cmd.arg("-u").arg(format!("{uid}:{gid}"));
        }
        if c["Privileged"].as_bool() == Some(true) {
            for cap in ALL_CAPS {
                cmd.arg("--cap").arg(cap);
            }
        }
        if c["Tty"].as_bool() == Some(true) {
            cmd.arg("-t");
            if !c["Env"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|x| x.as_str().is_some_and(|x| x.starts_with("TERM=")))
            }) {
                cmd.arg("-e").arg("TERM=xterm");
            }
        }
        cmd.arg(&s.container).arg("--");
        for a in strings_of(&c["Cmd"]) {
            cmd.arg(a);
        }
        Ok(cmd)
    }

    /// Where a container's runtime keeps its state: Berth's root, or one per other runtime
    /// (their state layouts differ).
    fn runtime_root_of(&self, rec: &Value) -> Result<PathBuf> {
        Ok(self.runtime_root_for(runtime_of(&rec["HostConfig"])?.as_deref()))
    }

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

    fn runtime_root(&self) -> berth_runtime::state::Root {
        berth_runtime::state::Root::new(&self.runtime_root)
    }

    /// `update`: new resource limits (and restart policy) for a container, applied live when
    /// it runs and kept for its next start.
    pub fn update(&self, id: &str, changes: &Value) -> Result<()> {
        let mut rec = self.record(id)?;
        let allowed = [
            "Memory",
            "MemorySwap",
            "MemoryReservation",
            "NanoCpus",
            "CpuShares",
            "CpuQuota",
            "CpuPeriod",
            "CpusetCpus",
            "CpusetMems",
            "PidsLimit",
            "RestartPolicy",
            "BlkioWeight",
        ];
        for (k, v) in changes.as_object().into_iter().flatten() {
            if !allowed.contains(&k.as_str()) {
                continue;
            }
            // Docker's clients send zero for "unchanged".
            if v.is_null() || v == 0 || v == "" {
                continue;
            }
            rec["HostConfig"][k.as_str()] = v.clone();
        }
        let mut spec = berth_runtime::spec::default_spec();
        apply_host_config(&mut spec, &rec["HostConfig"])?;
        if self.state(id)?.running() {
            match runtime_of(&rec["HostConfig"])? {
                None => berth_runtime::container::update(
                    &self.runtime_root(),
                    id,
                    &spec["linux"]["resources"],
                )
                .map_err(internal),
                Some(rt) => self.run_runtime(
                    &rt,
                    &rec,
                    &["update", "--resources", "-"],
                    Some(&spec["linux"]["resources"].to_string()),
                ),
            }
            .map_err(|e| Error::InvalidParameter(format!("Cannot update container {id}: {e}")))?;
        }
        self.save_record(id, &rec)?;
        self.emit(id, "update", &[]);
        Ok(())
    }

    /// `pause` / `unpause` (the freezer).
    pub fn pause(&self, id: &str, frozen: bool) -> Result<()> {
        let st = self.state(id)?;
        if frozen && st.status != "running" {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        if !frozen && st.status != "paused" {
            return Err(Error::Conflict(format!("Container {id} is not paused")));
        }
        let rec = self.record(id)?;
        match runtime_of(&rec["HostConfig"])? {
            None => berth_runtime::container::pause(&self.runtime_root(), id, frozen)
                .map_err(internal)?,
            Some(rt) => {
                self.run_runtime(&rt, &rec, &[if frozen { "pause" } else { "resume" }], None)?
            }
        }
        self.emit(id, if frozen { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `rename`: the new name must be free (the database's constraint decides).
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        if !valid_name(new) {
            return Err(Error::InvalidParameter(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let new = new.trim_start_matches('/');
        let mut rec = self.record(id)?;
        let old = rec["Name"].as_str().unwrap_or_default().to_owned();
        if old.trim_start_matches('/') == new {
            return Err(Error::Conflict(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        rec["Name"] = json!(format!("/{new}"));
        let r = self.db().execute(
            "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1",
            params![id, new, rec.to_string()],
        );
        match r {
            Ok(_) => {
                self.emit(id, "rename", &[("oldName", old.clone())]);
                Ok(())
            }
            Err(e) if e.to_string().contains("UNIQUE") => Err(Error::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                self.resolve(new).unwrap_or_default()
            ))),
            Err(e) => Err(internal(e)),
        }
    }

    /// `container prune`: every stopped container; their ids and the bytes freed.
    pub fn prune(&self) -> Result<(Vec<String>, u64)> {
        let mut gone = Vec::new();
        let mut freed = 0;
        for id in self.ids()? {
            if matches!(self.state(&id)?.status, "running" | "paused") {
                continue;
            }
            freed += berth_image::snapshot::du(&self.dir_of(&id).join("upper/"));
            self.remove(&id, false, false)?;
            gone.push(id);
        }
        Ok((gone, freed))
    }

    /// `top`: `ps` of the container's processes (Docker's default columns).
    pub fn top(&self, id: &str, ps_args: &str) -> Result<Value> {
        if !self.state(id)?.running() {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        let pids = berth_runtime::cgroups::open(&self.cgroup_of(id))
            .and_then(|c| c.pids())
            .map_err(internal)?;
        let args: Vec<&str> = if ps_args.is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| internal(format!("ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
        let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
            Error::InvalidParameter("Couldn't find PID field in ps output".into())
        })?;
        let mut procs = Vec::new();
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(pid) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&pid) {
                continue;
            }
            // The last column keeps its spaces (the command line).
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|f| (*f).to_owned())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            procs.push(row);
        }
        Ok(json!({"Titles": titles, "Processes": procs}))
    }

    /// One statistics sample in the API's shape (without `precpu_stats`/`preread`).
    pub fn stats_sample(&self, id: &str) -> Result<Value> {
        let rec = self.record(id)?;
        let running = self.state(id)?.running();
        let mut v = if running {
            crate::stats::sample(&self.cgroup_of(id))
        } else {
            json!({
                "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                              "system_cpu_usage": 0, "online_cpus": 0, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
                "memory_stats": {}, "pids_stats": {}, "blkio_stats": {},
            })
        };
        v["read"] = json!(if running {
            now_rfc3339()
        } else {
            ZERO_TIME.to_owned()
        });
        v["name"] = rec["Name"].clone();
        v["id"] = json!(id);
        v["num_procs"] = json!(0);
        v["storage_stats"] = json!({});
        v["networks"] = json!({});
        Ok(v)
    }

    /// Remember that a user stopped the container (restart policies leave it alone).
    pub fn set_manually_stopped(&self, id: &str, stopped: bool) -> Result<()> {
        let _g = self.rmw.lock().unwrap_or_else(|p| p.into_inner());
        let mut rec = self.record(id)?;
        rec["ManuallyStopped"] = json!(stopped);
        self.save_record(id, &rec)
    }

    /// Apply restart policies: start the exited containers their policy says should run
    /// again (with Docker's doubling delay), and — at daemon start-up — the `always` and
    /// `unless-stopped` ones. Returns the ids restarted.
    pub fn apply_restart_policies(&self, images: &Images, daemon_start: bool) -> Vec<String> {
        let mut restarted = Vec::new();
        for id in self.ids().unwrap_or_default() {
            let (Ok(rec), Ok(st)) = (self.record(&id), self.state(&id)) else {
                continue;
            };
            if st.status != "exited" {
                continue;
            }
            let policy = rec["HostConfig"]["RestartPolicy"]["Name"]
                .as_str()
                .unwrap_or("no");
            let max = rec["HostConfig"]["RestartPolicy"]["MaximumRetryCount"]
                .as_i64()
                .unwrap_or(0);
            let count = rec["RestartCount"].as_i64().unwrap_or(0);
            let manual = rec["ManuallyStopped"].as_bool().unwrap_or(false);
            let never_started = rec["StartedAt"].as_str().unwrap_or(ZERO_TIME) == ZERO_TIME;
            let wanted = !never_started
                && match policy {
                    "always" => !manual || daemon_start,
                    "unless-stopped" => !manual,
                    "on-failure" => {
                        !manual && !daemon_start && st.exit_code != 0 && (max == 0 || count < max)
                    }
                    _ => false,
                };
            if !wanted {
                continue;
            }
            // Docker's back-off: 100 ms doubling per restart, at most a minute; not before the
            // delay has passed since the exit.
            let delay_ms = (100u64 << count.clamp(0, 10)).min(60_000);
            let finished = parse_rfc3339(&st.finished_at).unwrap_or(0);
            if !daemon_start && crate::time::now() * 1000 < finished * 1000 + delay_ms as i64 {
                continue;
            }
            {
                // Counted on a fresh read, unless a user stopped it meanwhile.
                let _g = self.rmw.lock().unwrap_or_else(|p| p.into_inner());
                let Ok(mut rec) = self.record(&id) else {
                    continue;
                };
                let manual = rec["ManuallyStopped"].as_bool() == Some(true);
                if manual && !(policy == "always" && daemon_start) {
                    continue;
                }
                rec["RestartCount"] = json!(count + 1);
                if self.save_record(&id, &rec).is_err() {
                    continue;
                }
            }
            if self.start(images, &id).is_ok() {
                restarted.push(id);
            }
        }
        restarted
    }

    /// Images in use by containers (for `rmi`): image id → a container's short id.
    pub fn user_of(&self, image_id: &str) -> Option<String> {
        self.ids().ok()?.into_iter().find_map(|id| {
            let rec = self.record(&id).ok()?;
            (rec["Image"] == image_id).then(|| id[..12].to_owned())
        })
    }
}

const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_name(c: &str) -> Result<String> {
    let up = c.to_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if full == "CAP_ALL" || ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::InvalidParameter(format!("invalid capability: {c}")))
    }
}

pub(crate) fn strings_of(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// The request's HostConfig onto Berth's default spec: resources, capabilities, security
/// options, rlimits, sysctls, mounts, devices. Anything Berth cannot honour is an error.
fn apply_host_config(spec: &mut Value, hc: &Value) -> Result<()> {
    let bad = |m: String| Error::InvalidParameter(m);
    let num = |k: &str| hc[k].as_i64().filter(|n| *n != 0);
    // Resources.
    let res = &mut spec["linux"]["resources"];
    if let Some(m) = num("Memory") {
        if m < 6 * 1024 * 1024 {
            return Err(bad("Minimum memory limit allowed is 6MB".into()));
        }
        res["memory"]["limit"] = json!(m);
        match num("MemorySwap") {
            Some(-1) => res["memory"]["swap"] = json!(-1),
            Some(sw) if sw < m => {
                return Err(bad(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
            Some(sw) => res["memory"]["swap"] = json!(sw),
            None => res["memory"]["swap"] = json!(m * 2),
        }
    }
    if let Some(r) = num("MemoryReservation") {
        res["memory"]["reservation"] = json!(r);
    }
    if let Some(n) = num("NanoCpus") {
        res["cpu"]["period"] = json!(100_000);
        res["cpu"]["quota"] = json!(n / 10_000);
    }
    if let Some(q) = num("CpuQuota") {
        res["cpu"]["quota"] = json!(q);
    }
    if let Some(p) = num("CpuPeriod") {
        res["cpu"]["period"] = json!(p);
    }
    if let Some(sh) = num("CpuShares") {
        res["cpu"]["shares"] = json!(sh);
    }
    for (k, f) in [("CpusetCpus", "cpus"), ("CpusetMems", "mems")] {
        if let Some(v) = hc[k].as_str().filter(|v| !v.is_empty()) {
            res["cpu"][f] = json!(v);
        }
    }
    if let Some(p) = hc["PidsLimit"].as_i64() {
        // Docker: 0 or -1 mean unlimited (Berth's default is 2048).
        res["pids"]["limit"] = json!(if p <= 0 { -1 } else { p });
    }
    // Capabilities.
    let privileged = hc["Privileged"].as_bool().unwrap_or(false);
    let mut caps: Vec<String> = if privileged {
        ALL_CAPS.iter().map(|c| (*c).to_owned()).collect()
    } else {
        berth_runtime::spec::DEFAULT_CAPS
            .iter()
            .map(|c| (*c).to_owned())
            .collect()
    };
    for d in strings_of(&hc["CapDrop"]) {
        let d = cap_name(&d)?;
        if d == "CAP_ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    for a in strings_of(&hc["CapAdd"]) {
        let a = cap_name(&a)?;
        if a == "CAP_ALL" {
            caps = ALL_CAPS.iter().map(|c| (*c).to_owned()).collect();
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set] = json!(caps);
    }
    // Seccomp follows the capabilities (Docker's profile grants syscalls by capability).
    let mut seccomp_profile = Some(berth_runtime::seccomp::default::profile());
    for opt in strings_of(&hc["SecurityOpt"]) {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match (k, v) {
            ("seccomp", "unconfined") => seccomp_profile = None,
            ("seccomp", "builtin" | "") => {}
            ("seccomp", json_text) => {
                seccomp_profile = Some(
                    berth_runtime::seccomp::profile::Profile::from_json(json_text.as_bytes())
                        .map_err(|e| bad(format!("Decoding seccomp profile failed: {e}")))?,
                )
            }
            ("no-new-privileges", "" | "true") => spec["process"]["noNewPrivileges"] = json!(true),
            ("no-new-privileges", "false") => spec["process"]["noNewPrivileges"] = json!(false),
            ("label", "disable") | ("apparmor", "unconfined") => {}
            ("label" | "apparmor", _) => {
                return Err(bad(format!(
                    "security option {opt:?} needs SELinux/AppArmor, which this host does not have"
                )));
            }
            _ => return Err(bad(format!("invalid --security-opt: {opt:?}"))),
        }
    }
    if privileged {
        seccomp_profile = None;
        spec["linux"]["maskedPaths"] = json!([]);
        spec["linux"]["readonlyPaths"] = json!([]);
        spec["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        if let Some(m) = spec["mounts"].as_array_mut() {
            for mount in m.iter_mut() {
                if mount["destination"] == "/sys" || mount["destination"] == "/sys/fs/cgroup" {
                    mount["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
                }
            }
        }
    }
    match seccomp_profile {
        None => {
            if let Some(l) = spec["linux"].as_object_mut() {
                l.remove("seccomp");
            }
        }
        Some(p) => {
            let resolved = p.resolve(&berth_runtime::seccomp::profile::Target::host(&caps));
            spec["linux"]["seccomp"] = serde_json::to_value(resolved).map_err(internal)?;
        }
    }
    // rlimits.
    for u in hc["Ulimits"].as_array().into_iter().flatten() {
        let name = u["Name"].as_str().unwrap_or_default();
        let typ = format!("RLIMIT_{}", name.to_uppercase());
        let (soft, hard) = (
            u["Soft"].as_i64().unwrap_or(0),
            u["Hard"].as_i64().unwrap_or(0),
        );
        if soft > hard {
            return Err(bad(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        let list = spec["process"]["rlimits"].as_array_mut();
        if let Some(l) = list {
            l.retain(|r| r["type"] != typ.as_str());
            l.push(json!({"type": typ, "soft": soft, "hard": hard}));
        }
    }
    if let Some(o) = hc["OomScoreAdj"].as_i64().filter(|o| *o != 0) {
        spec["process"]["oomScoreAdj"] = json!(o);
    }
    for (k, v) in hc["Sysctls"].as_object().into_iter().flatten() {
        spec["linux"]["sysctl"][k.as_str()] = v.clone();
    }
    // Mounts: -v /host:/ctr[:opts], --mount type=bind|tmpfs, --tmpfs, /dev/shm size.
    let mut extra: Vec<Value> = Vec::new();
    for b in strings_of(&hc["Binds"]) {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            // `-v /dst`: an anonymous volume (a mount point of the record).
            [_] => continue,
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => return Err(bad(format!("invalid volume specification: '{b}'"))),
        };
        if !src.starts_with('/') {
            // A named volume: checked and mounted as a mount point of the record.
            continue;
        }
        if !dst.starts_with('/') {
            return Err(bad(format!(
                "invalid volume specification: '{b}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        // `-v` creates a missing host directory, as Docker does (an existing file is bound).
        if std::fs::symlink_metadata(src).is_err() {
            std::fs::create_dir_all(src)
                .map_err(|e| bad(format!("create bind source {src}: {e}")))?;
        }
        let mut o = vec!["rbind".to_owned()];
        for opt in opts.split(',').filter(|x| !x.is_empty()) {
            match opt {
                "ro" | "rw" => o.push(opt.into()),
                "z" | "Z" => {}
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                    o.push(opt.into())
                }
                "nocopy" => {}
                _ => return Err(bad(format!("invalid mode: {opt}"))),
            }
        }
        if !o
            .iter()
            .any(|x| x.ends_with("private") || x.ends_with("shared") || x.ends_with("slave"))
        {
            o.push("rprivate".into());
        }
        for p in &o {
            check_propagation(src, p)?;
        }
        extra.push(json!({"destination": dst, "type": "bind", "source": src, "options": o}));
    }
    for m in hc["Mounts"].as_array().into_iter().flatten() {
        let target = m["Target"].as_str().unwrap_or_default();
        match m["Type"].as_str().unwrap_or_default() {
            "bind" => {
                let src = m["Source"].as_str().unwrap_or_default();
                if !Path::new(src).exists() {
                    return Err(bad(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                    )));
                }
                let mut o = vec!["rbind".to_owned()];
                if m["ReadOnly"].as_bool() == Some(true) {
                    o.push("ro".into());
                }
                let prop = m["BindOptions"]["Propagation"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("rprivate");
                check_propagation(src, prop)?;
                o.push(prop.to_owned());
                extra.push(
                    json!({"destination": target, "type": "bind", "source": src, "options": o}),
                );
            }
            "tmpfs" => {
                let mut o = vec!["nosuid".to_owned(), "nodev".to_owned()];
                if let Some(sz) = m["TmpfsOptions"]["SizeBytes"].as_i64() {
                    o.push(format!("size={sz}"));
                }
                if let Some(md) = m["TmpfsOptions"]["Mode"].as_i64() {
                    o.push(format!("mode={md:o}"));
                }
                extra.push(json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": o}));
            }
            // Volumes are the record's mount points.
            "volume" => {}
            t => return Err(bad(format!("mount type {t:?} is not supported yet"))),
        }
    }
    for (dst, opts) in hc["Tmpfs"].as_object().into_iter().flatten() {
        let mut o = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
        o.extend(
            opts.as_str()
                .unwrap_or_default()
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned),
        );
        extra.push(json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    if let Some(sz) = num("ShmSize") {
        if let Some(m) = spec["mounts"].as_array_mut() {
            for mount in m.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                mount["options"] = json!([
                    "nosuid",
                    "noexec",
                    "nodev",
                    "mode=1777",
                    format!("size={sz}")
                ]);
            }
        }
    }
    if let Some(m) = spec["mounts"].as_array_mut() {
        m.extend(extra);
    }
    // Devices.
    for d in hc["Devices"].as_array().into_iter().flatten() {
        let host = d["PathOnHost"].as_str().unwrap_or_default();
        let inner = d["PathInContainer"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or(host);
        let perms = d["CgroupPermissions"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or("rwm");
        let md = std::fs::metadata(host).map_err(|e| {
            bad(format!(
                "error gathering device information while adding custom device \"{host}\": {e}"
            ))
        })?;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let typ = if md.file_type().is_char_device() {
            "c"
        } else if md.file_type().is_block_device() {
            "b"
        } else {
            return Err(bad(format!("{host} is not a device")));
        };
        let rdev = md.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        spec["linux"]["devices"]
            .as_array_mut()
            .map(|a| a.push(json!({"path": inner, "type": typ, "major": major, "minor": minor, "fileMode": md.mode() & 0o777, "uid": 0, "gid": 0})))
            .unwrap_or_else(|| spec["linux"]["devices"] = json!([{"path": inner, "type": typ, "major": major, "minor": minor, "fileMode": md.mode() & 0o777, "uid": 0, "gid": 0}]));
        if let Some(r) = spec["linux"]["resources"]["devices"].as_array_mut() {
            r.push(json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": perms}));
        }
    }
    Ok(())
}

/// The start error Docker clients understand (`docker run` maps "executable file not found"
/// and "no such file" to exit 127, "permission denied" to 126).
fn start_error(e: &str) -> Error {
    Error::InvalidParameter(format!("failed to create task for container: {e}: unknown"))
}

/// The shim's log rotation arguments from `--log-opt max-size=…,max-file=…`.
fn log_args(lc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sz) = lc["Config"]["max-size"].as_str().and_then(parse_size) {
        out.push("--log-max-size".to_owned());
        out.push(sz.to_string());
        if let Some(n) = lc["Config"]["max-file"].as_str() {
            out.push("--log-max-file".to_owned());
            out.push(n.to_owned());
        }
    }
    out
}

/// A container's runtime: Berth's own (None) or another runc-compatible binary.
pub(crate) fn runtime_of(hc: &Value) -> Result<Option<PathBuf>> {
    match hc["Runtime"].as_str().unwrap_or("") {
        "" | "berth" | "berth-runtime" => Ok(None),
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

/// The chain ids of a container's image layers, bottom first.
pub(crate) fn chains_of(rec: &Value) -> Vec<Digest> {
    rec["ChainIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().and_then(|c| Digest::parse(c).ok()))
        .collect()
}

/// `64m`, `1g`, `1073741824` → bytes (binary units, as Docker's storage-opt).
pub(crate) fn parse_size(v: &str) -> Option<u64> {
    let l = v.trim().to_lowercase();
    let end = l.find(|c: char| !c.is_ascii_digit()).unwrap_or(l.len());
    let n: u64 = l[..end].parse().ok()?;
    let mul: u64 = match l[end..].trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// A fixed-size ext4 image for the container's writable layer, mounted at `quota/`, with
/// `upper` and `work` pointing into it.
fn make_quota_fs(dir: &Path, bytes: u64) -> std::io::Result<()> {
    make_sized_fs(&dir.join("quota.img"), bytes)?;
    ensure_quota_mounted(dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::create_dir_all(dir.join("quota/upper"))?;
    std::fs::create_dir_all(dir.join("quota/work"))?;
    std::os::unix::fs::symlink("quota/upper", dir.join("upper"))?;
    std::os::unix::fs::symlink("quota/work", dir.join("work"))?;
    Ok(())
}

/// A filesystem of exactly `bytes` in the file `img` (ext4: works on any host filesystem, and
/// the space is never the host's to run out of). Used for `--storage-opt size=` and volumes'
/// `--opt size=`.
pub(crate) fn make_sized_fs(img: &Path, bytes: u64) -> std::io::Result<()> {
    let f = std::fs::File::create(img)?;
    f.set_len(bytes)?;
    drop(f);
    let out = std::process::Command::new("mkfs.ext4")
        .args([
            "-q",
            "-F",
            "-m",
            "0",
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
        ])
        .arg(img)
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Loop-mount the filesystem image `img` on `mnt` unless something is mounted there already.
pub(crate) fn mount_image(img: &Path, mnt: &Path) -> Result<()> {
    std::fs::create_dir_all(mnt).map_err(internal)?;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    if dev(mnt) != mnt.parent().and_then(dev) {
        return Ok(());
    }
    let out = std::process::Command::new("mount")
        .args(["-o", "loop,nodev,nosuid"])
        .arg(img)
        .arg(mnt)
        .output()
        .map_err(|e| internal(format!("mount: {e}")))?;
    if !out.status.success() {
        return Err(internal(format!(
            "mount {}: {}",
            img.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Mount the container's quota filesystem if it has one and it is not mounted (after a host
/// reboot, or the first time).
fn ensure_quota_mounted(dir: &Path) -> Result<()> {
    let img = dir.join("quota.img");
    if !img.exists() {
        return Ok(());
    }
    mount_image(&img, &dir.join("quota"))
}

/// Run a command with a time limit; (exit code, combined output, at most 4 KiB).
fn run_with_timeout(cmd: &mut std::process::Command, timeout: Duration) -> (i64, String) {
    use std::io::Read;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let Ok(mut child) = cmd.spawn() else {
        return (-1, "cannot start the health check".into());
    };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut out);
                }
                out.truncate(4096);
                return (i64::from(st.code().unwrap_or(-1)), out);
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return (
                    -1,
                    format!("Health check exceeded timeout ({}s)", timeout.as_secs()),
                );
            }
        }
    }
}

/// `user`, `uid`, `user:group`, `uid:gid` → numeric ids, names looked up in the container's
/// /etc/passwd and /etc/group.
fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32)> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let read = |f: &str| berth_fs_read(rootfs, f).unwrap_or_default();
    let passwd = read("etc/passwd");
    let (uid, pgid) = match u.parse::<u32>() {
        Ok(n) => (
            n,
            passwd
                .lines()
                .find(|l| l.split(':').nth(2) == Some(u))
                .and_then(|l| l.split(':').nth(3)?.parse().ok())
                .unwrap_or(0),
        ),
        Err(_) => {
            let l = passwd
                .lines()
                .find(|l| l.split(':').next() == Some(u))
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "unable to find user {u}: no matching entries in passwd file"
                    ))
                })?;
            let f: Vec<&str> = l.split(':').collect();
            (
                f.get(2).and_then(|x| x.parse().ok()).unwrap_or(0),
                f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0),
            )
        }
    };
    let gid = match g {
        None => pgid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => read("etc/group")
                .lines()
                .find(|l| l.split(':').next() == Some(g))
                .and_then(|l| l.split(':').nth(2)?.parse().ok())
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}

/// Read a file of the container's root filesystem without following symlinks out of it.
fn berth_fs_read(rootfs: &Path, rel: &str) -> Option<String> {
    use std::io::Read;
    let root = std::fs::File::open(rootfs).ok()?;
    let fd = berth_fs::open_in_root(&root, Path::new(rel), nix::fcntl::OFlag::O_RDONLY).ok()?;
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).ok()?;
    Some(s)
}

fn full_config(c: &Value) -> Value {
    let mut out = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": {},
    });
    if let (Some(o), Some(src)) = (out.as_object_mut(), c.as_object()) {
        for (k, v) in src {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Copy-up: the image's content at `dst` (resolved inside the container's root, so its
/// symlinks cannot lead out) into an empty volume, keeping modes, owners, times and links.
fn copy_up(rootfs: &Path, dst: &str, volume: &Path) -> Result<()> {
    use nix::fcntl::OFlag;
    let root = std::fs::File::open(rootfs).map_err(internal)?;
    let Ok(fd) =
        berth_fs::open_in_root(&root, Path::new(dst), OFlag::O_DIRECTORY | OFlag::O_RDONLY)
    else {
        return Ok(()); // nothing there in the image
    };
    let src = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    // Hand-written (a few lines over std and nix) instead of `cp -a`: no process per start.
    fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
        for e in std::fs::read_dir(src)? {
            let e = e?;
            let (from, to) = (e.path(), dst.join(e.file_name()));
            let md = std::fs::symlink_metadata(&from)?;
            let ft = md.file_type();
            if ft.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            } else if ft.is_dir() {
                std::fs::create_dir(&to)?;
                copy_tree(&from, &to)?;
            } else if ft.is_file() {
                std::fs::copy(&from, &to)?;
            } else {
                continue; // devices, fifos, sockets stay in the image
            }
            let _ = std::os::unix::fs::lchown(&to, Some(md.uid()), Some(md.gid()));
            if !ft.is_symlink() {
                std::fs::set_permissions(
                    &to,
                    std::os::unix::fs::PermissionsExt::from_mode(md.mode()),
                )?;
            }
        }
        Ok(())
    }
    copy_tree(&src, volume).map_err(|e| internal(format!("copy-up of {dst}: {e}")))?;
    // The volume's root takes the image directory's owner and mode.
    if let Ok(md) = std::fs::metadata(&src) {
        let _ = std::os::unix::fs::chown(volume, Some(md.uid()), Some(md.gid()));
        let _ = std::fs::set_permissions(
            volume,
            std::os::unix::fs::PermissionsExt::from_mode(md.mode()),
        );
    }
    Ok(())
}

/// Shared or slave propagation needs a source on a mount that propagates (dockerd's check and
/// words): `path … is mounted on … but it is not a shared (or slave) mount`.
fn check_propagation(src: &str, prop: &str) -> Result<()> {
    let need_shared = matches!(prop, "shared" | "rshared");
    let need_slave = matches!(prop, "slave" | "rslave");
    if !need_shared && !need_slave {
        return Ok(());
    }
    let path = std::fs::canonicalize(src).unwrap_or_else(|_| PathBuf::from(src));
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // The mount that holds the path: the longest mount point that is a prefix of it.
    let holder = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let mp = *f.get(4)?;
            let sep = f.iter().position(|x| *x == "-")?;
            path.starts_with(mp)
                .then(|| (mp.to_owned(), f[6..sep].join(" ")))
        })
        .max_by_key(|(mp, _)| mp.len());
    let Some((mp, optional)) = holder else {
        return Ok(());
    };
    let shared = optional.contains("shared:");
    let slave = optional.contains("master:");
    if need_shared && !shared {
        return Err(Error::InvalidParameter(format!(
            "path {src} is mounted on {mp} but it is not a shared mount"
        )));
    }
    if need_slave && !shared && !slave {
        return Err(Error::InvalidParameter(format!(
            "path {src} is mounted on {mp} but it is not a shared or slave mount"
        )));
    }
    Ok(())
}
