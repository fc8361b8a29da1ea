//! Berth's engine: what the daemon does, independent of HTTP — images, containers (records
//! in SQLite, one shim per running container), exec sessions, logs, networks, volumes,
//! events, restart policies, health checks and auto-removal — answering in the Engine API's
//! typed shapes (`berth-models`). The API crate only parses, calls and serializes.

pub mod audit;
pub mod audit_log;
pub mod build;
pub mod containers;
mod db;
pub mod error;
pub mod events;
pub mod fsops;
pub mod images;
pub mod layer;
pub mod live;
pub mod metrics;
pub mod mirrors;
pub mod networks;
pub mod sandboxes;
pub mod scan;
pub mod stats;
pub mod stats_history;
pub mod supervisor;
pub mod system;
pub mod time;
pub mod trust;
pub mod users;
pub mod util;
pub mod volumes;

use std::path::PathBuf;
use std::sync::Arc;

use berth_image::images::Images;
use berth_image::registry::Settings;

pub use berth_image::registry::Settings as RegistrySettings;
pub use error::{Error, Kind, Result, StartFailure};

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
    /// What every container gets unless it says otherwise.
    pub defaults: containers::Defaults,
    /// Vulnerability scanning: the database and the policy.
    pub scan: scan::ScanPolicy,
    /// The signature policy.
    pub trust: trust::TrustConfig,
    /// What the daemon knows of itself (for `berth audit`).
    pub facts: audit::DaemonFacts,
    /// Which images sandboxes may be, and their limits.
    pub sandboxes: sandboxes::Settings,
}

/// The engine.
pub struct Engine {
    pub config: Config,
    /// Every mutating API request, hash-chained.
    pub audit: audit_log::AuditLog,
    pub images: Images,
    pub containers: Arc<containers::Containers>,
    pub events: Arc<events::Events>,
    pub networks: Arc<networks::Networks>,
    pub volumes: Arc<volumes::Volumes>,
    /// Counted as things happen (image pulls), for `/metrics`.
    pub counters: metrics::Counters,
    /// Running containers' sampled counters (`stats --since`).
    pub history: Arc<stats_history::History>,
    /// The dashboard's users.
    pub users: users::Users,
    /// What a reload of the daemon's configuration may change (`live.rs`).
    pub live: live::Live,
}

impl Engine {
    pub fn open(config: Config) -> Result<Engine> {
        for d in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("create {}", d.display()), e))?;
        }
        let images = Images::open(&config.data_root.join("image"))?;
        let events = Arc::new(events::Events::open(&config.data_root)?);
        let networks = Arc::new(networks::Networks::open(
            &config.data_root,
            &config.exec_root,
            config.icc,
            config.dns.clone(),
            events.clone(),
        )?);
        let volumes = Arc::new(volumes::Volumes::open(&config.data_root, events.clone())?);
        let containers = Arc::new(containers::Containers::open(
            &config.data_root,
            &config.exec_root,
            &config.cgroup_parent,
            config.defaults.clone(),
            events.clone(),
            networks.clone(),
            volumes.clone(),
        )?);
        // Network policies select containers by labels: the networks ask the containers
        // (weakly: the containers own the networks).
        let weak = Arc::downgrade(&containers);
        let _ = networks.labels.set(Box::new(move |id: &str| {
            weak.upgrade()
                .and_then(|c| c.record(id).ok())
                .and_then(|r| r.config.labels.clone())
                .unwrap_or_default()
        }));
        let users = users::Users::open(&config.data_root)?;
        let live = live::Live::new(&config);
        // A removed container's samples go with it.
        let history = Arc::new(stats_history::History::open(&config.data_root)?);
        let h = history.clone();
        let _ = containers
            .on_removed
            .set(Box::new(move |id: &str| h.forget(id)));
        // Bridges and firewall rules for what exists; endpoints of containers that stopped
        // while no daemon ran are given back.
        networks.reconcile(&|id| containers.state(id).is_ok_and(|s| s.running()))?;
        Ok(Engine {
            audit: audit_log::AuditLog::open(&config.data_root)?,
            config,
            images,
            containers,
            events,
            networks,
            volumes,
            counters: metrics::Counters::default(),
            history,
            users,
            live,
        })
    }
}
