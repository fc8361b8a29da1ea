//! Berth's engine: what the daemon does, independent of HTTP: images (list, inspect, history,
//! tag, remove, prune, load, save, import, pull, push, registry login checks) and containers
//! (create, start, stop, kill, wait, remove, inspect, list; records in SQLite, one shim per
//! running container), answering in the Engine API's JSON shapes.
#![recursion_limit = "512"]

pub mod containers;
pub mod events;
pub mod fsops;
pub mod images;
pub mod networks;
pub mod stats;
pub mod time;
pub mod volumes;

use std::path::PathBuf;

use berth_image::images::Images;
use berth_image::registry::Settings;

/// The kinds of failure the API maps to status codes (as dockerd's errdefs do).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status dockerd answers with for this kind.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::InvalidParameter(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotImplemented(_) => 501,
            Error::Internal(_) => 500,
        }
    }
}

impl From<berth_image::Error> for Error {
    fn from(e: berth_image::Error) -> Error {
        use berth_image::Error as E;
        let msg = e.to_string();
        match e {
            E::NoSuchImage(_) => Error::NotFound(msg),
            E::Conflict(_) => Error::Conflict(msg),
            E::Reference(_) | E::InvalidDigest(_) => Error::InvalidParameter(msg),
            E::Registry(m) if m.contains("not found: manifest unknown") => Error::NotFound(m),
            E::Registry(m) if m.contains("unauthorized") => Error::Unauthorized(m),
            E::Format(_) | E::Entry { .. } | E::DigestMismatch { .. } => {
                Error::InvalidParameter(msg)
            }
            _ => Error::Internal(msg),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A connection to the daemon's database (`<data-root>/berth.db`, WAL, a busy timeout), with
/// `schema` applied (its `CREATE TABLE IF NOT EXISTS` statements). Each store keeps its own.
pub(crate) fn open_db(data_root: &std::path::Path, schema: &str) -> Result<rusqlite::Connection> {
    let internal = |e: rusqlite::Error| Error::Internal(format!("berth.db: {e}"));
    let db = rusqlite::Connection::open(data_root.join("berth.db")).map_err(internal)?;
    db.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; {schema}"
    ))
    .map_err(internal)?;
    Ok(db)
}

/// Daemon settings the engine needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state (`--data-root`, default /var/lib/berth).
    pub data_root: PathBuf,
    /// Runtime state (`--exec-root`, default /run/berth).
    pub exec_root: PathBuf,
    pub registry: Settings,
    /// Parent cgroup of containers (`--cgroup-parent`, default /berth).
    pub cgroup_parent: String,
    /// Inter-container communication on the default bridge (`--icc`).
    pub icc: bool,
    /// Default DNS servers of containers and upstream of the embedded DNS server (`--dns`).
    pub dns: Vec<std::net::Ipv4Addr>,
}

/// The engine.
pub struct Engine {
    pub config: Config,
    pub images: Images,
    pub containers: std::sync::Arc<containers::Containers>,
    pub events: std::sync::Arc<events::Events>,
    pub networks: std::sync::Arc<networks::Networks>,
    pub volumes: std::sync::Arc<volumes::Volumes>,
}

impl Engine {
    pub fn open(config: Config) -> Result<Engine> {
        for d in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::Internal(format!("create {}: {e}", d.display())))?;
        }
        let images = Images::open(&config.data_root.join("image"))?;
        let events = std::sync::Arc::new(events::Events::open(&config.data_root)?);
        let networks = std::sync::Arc::new(networks::Networks::open(
            &config.data_root,
            &config.exec_root,
            config.icc,
            config.dns.clone(),
            events.clone(),
        )?);
        let volumes =
            std::sync::Arc::new(volumes::Volumes::open(&config.data_root, events.clone())?);
        let containers = std::sync::Arc::new(containers::Containers::open(
            &config.data_root,
            &config.exec_root,
            &config.cgroup_parent,
            events.clone(),
            networks.clone(),
            volumes.clone(),
        )?);
        // Bridges and firewall rules for what exists; endpoints of containers that stopped
        // while no daemon ran are given back.
        networks.reconcile(&|id| containers.state(id).is_ok_and(|s| s.running()))?;
        Ok(Engine {
            config,
            images,
            containers,
            events,
            networks,
            volumes,
        })
    }
}
