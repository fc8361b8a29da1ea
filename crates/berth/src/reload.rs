//! Live reload, as dockerd's SIGHUP (and `POST /config/reload`, which answers with the
//! report): the config file is read and checked whole — a syntax error or a bad value keeps
//! every old setting, logged and reported. What may change live changes (registry mirrors and
//! insecure registries, concurrent transfers, debug and log level, the containers' defaults,
//! the stats history, the sandboxes, the dashboard's and the metrics' listeners, restarted);
//! other changed keys are reported as needing a restart. Running containers are not touched.

use std::sync::Arc;

use berth_engine::Engine;
use berth_models::system::ReloadReport;

use crate::daemon::Args;

/// A listener the daemon runs (the dashboard, the metrics): how to stop it.
struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }
}

#[derive(Default)]
pub struct Listeners {
    dashboard: Option<Running>,
    metrics: Option<Running>,
}

impl Listeners {
    /// Serve the dashboard with `s` (none: off), in place of the one running.
    pub async fn set_dashboard(
        &mut self,
        engine: &Arc<Engine>,
        s: Option<&berth_dashboard::Settings>,
    ) -> anyhow::Result<()> {
        if let Some(r) = self.dashboard.take() {
            r.stop().await;
        }
        let Some(s) = s else { return Ok(()) };
        let server = berth_dashboard::bind(engine.clone(), s)
            .await
            .map_err(|e| anyhow::anyhow!("dashboard-addr {}: {e}", s.addr))?;
        tracing::info!("dashboard listen on https://{}/", s.addr);
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
        self.dashboard = Some(Running { stop, task });
        Ok(())
    }

    /// Serve `/metrics` on `m` (address and token; none: off), in place of the one running.
    pub async fn set_metrics(
        &mut self,
        engine: &Arc<Engine>,
        m: Option<&(std::net::SocketAddr, String)>,
    ) -> anyhow::Result<()> {
        if let Some(r) = self.metrics.take() {
            r.stop().await;
        }
        let Some((addr, token)) = m.cloned() else {
            return Ok(());
        };
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("metrics-addr {addr}: {e}"))?;
        tracing::info!("metrics listen on http://{addr}/metrics");
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let e = engine.clone();
        let task = tokio::spawn(async move {
            let _ = berth_api::metrics::serve_tcp(e, l, token, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
        });
        self.metrics = Some(Running { stop, task });
        Ok(())
    }

    pub async fn stop_all(&mut self) {
        for r in [self.dashboard.take(), self.metrics.take()]
            .into_iter()
            .flatten()
        {
            r.stop().await;
        }
    }
}

/// What a reload compares against: the flags as given, the file as last applied.
pub struct State {
    pub orig: Args,
    pub file: serde_json::Value,
    pub listeners: Listeners,
}

/// The keys a reload applies.
fn live(key: &str) -> bool {
    [
        "registry-mirrors",
        "insecure-registries",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "debug",
        "log-level",
    ]
    .contains(&key)
        || crate::defaults::KEYS.contains(&key)
        || crate::monitoring::KEYS.contains(&key)
        || crate::web::KEYS.contains(&key)
}

fn changed(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = o.keys().chain(n.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| o.get(k) != n.get(k)).collect()
}

/// Read the config file again and apply what may change live.
pub async fn reload(st: &mut State, engine: &Arc<Engine>) -> ReloadReport {
    let mut report = ReloadReport::default();
    // Everything is read and checked before anything changes.
    let checked = (|| {
        let (a, file) = crate::daemon::resolve(st.orig.clone())?;
        let defaults = crate::defaults::defaults(&a.defaults, &file)?;
        let monitoring = crate::monitoring::settings(&a.monitoring, &file, &a.data_root)?;
        let web = crate::web::settings(&a.web, &file, &a.data_root)?;
        let level = if a.debug {
            tracing::Level::DEBUG
        } else {
            crate::log::parse_level(&a.log_level)
                .ok_or_else(|| anyhow::anyhow!("Unable to parse logging level: {}", a.log_level))?
        };
        anyhow::Ok((a, file, defaults, monitoring, web, level))
    })();
    let (a, file, defaults, monitoring, web, level) = match checked {
        Ok(v) => v,
        Err(e) => {
            report.error = format!("{e:#}");
            tracing::error!("Error reloading the configuration (the old one stays): {e:#}");
            return report;
        }
    };
    let keys = changed(&st.file, &file);
    let (applied, not_live): (Vec<String>, Vec<String>) =
        keys.iter().cloned().partition(|k| live(k));
    engine
        .live
        .set_registry(crate::daemon::registry_settings(&a));
    engine.set_defaults(defaults);
    engine.live.set_history(monitoring.history);
    engine.live.set_sandboxes(web.sandboxes);
    crate::log::set_level(level);
    let mut errors = Vec::new();
    if keys.iter().any(|k| k.starts_with("dashboard-")) {
        if let Err(e) = st
            .listeners
            .set_dashboard(engine, web.dashboard.as_ref())
            .await
        {
            errors.push(format!("{e:#}"));
        }
    }
    if keys.iter().any(|k| k.starts_with("metrics-")) {
        if let Err(e) = st
            .listeners
            .set_metrics(engine, monitoring.metrics.as_ref())
            .await
        {
            errors.push(format!("{e:#}"));
        }
    }
    st.file = file;
    for k in &not_live {
        tracing::warn!(
            "Reloaded configuration: {k} cannot change while the daemon runs (restart it)"
        );
    }
    tracing::info!(
        "Reloaded configuration: {}",
        serde_json::to_string(&applied).unwrap_or_default()
    );
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert("applied".to_owned(), applied.join(","));
    if !not_live.is_empty() {
        attrs.insert("not-live".to_owned(), not_live.join(","));
    }
    engine.events.emit("daemon", "reload", "", attrs);
    report.applied = applied;
    report.not_live = not_live;
    report.error = errors.join("; ");
    report
}
