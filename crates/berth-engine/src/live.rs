//! What the daemon's configuration may change while it runs (a reload: SIGHUP, or
//! `POST /config/reload`): registry mirrors and insecure registries, concurrent transfers, the
//! containers' defaults, the stats history's sampling and the sandboxes' settings. Each is an
//! `Arc` behind a lock: readers take the current one, a reload swaps it whole; running
//! containers are never touched.

use std::sync::{Arc, RwLock};

use berth_image::registry::Settings as Registry;

use crate::containers::Defaults;
use crate::db::{read, write};
use crate::{sandboxes, stats_history};

pub struct Live {
    registry: RwLock<Arc<Registry>>,
    history: RwLock<stats_history::Settings>,
    sandboxes: RwLock<Arc<sandboxes::Settings>>,
    /// Where a reload is asked for (the daemon answers each request with its report).
    pub reload: std::sync::OnceLock<tokio::sync::mpsc::Sender<ReloadRequest>>,
}

/// A reload asked for through the API: the report comes back on it.
pub type ReloadRequest = tokio::sync::oneshot::Sender<berth_models::system::ReloadReport>;

impl Live {
    pub fn new(c: &crate::Config) -> Live {
        Live {
            registry: RwLock::new(Arc::new(c.registry.clone())),
            history: RwLock::new(stats_history::Settings::default()),
            sandboxes: RwLock::new(Arc::new(c.sandboxes.clone())),
            reload: std::sync::OnceLock::new(),
        }
    }

    pub fn registry(&self) -> Arc<Registry> {
        read(&self.registry).clone()
    }

    pub fn set_registry(&self, r: Registry) {
        *write(&self.registry) = Arc::new(r);
    }

    pub fn history(&self) -> stats_history::Settings {
        *read(&self.history)
    }

    pub fn set_history(&self, h: stats_history::Settings) {
        *write(&self.history) = h;
    }

    pub fn sandboxes(&self) -> Arc<sandboxes::Settings> {
        read(&self.sandboxes).clone()
    }

    pub fn set_sandboxes(&self, s: sandboxes::Settings) {
        *write(&self.sandboxes) = Arc::new(s);
    }
}

impl crate::Engine {
    /// The containers' defaults now.
    pub fn defaults(&self) -> Arc<Defaults> {
        self.containers.defaults()
    }

    /// New defaults for containers created from now on.
    pub fn set_defaults(&self, d: Defaults) {
        self.containers.set_defaults(d);
    }
}
