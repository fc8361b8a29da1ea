//! The daemon's web settings, from flags and the config file (not both): the dashboard's
//! listener (`dashboard-addr`, off by default; TLS always, with a given certificate or one
//! generated), its sessions, and the sandboxes' allow-list and limits.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use berth_engine::sandboxes::Settings as Sandboxes;
use serde::Deserialize;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebFlags {
    /// Serve the web dashboard on this address (host:port; a missing host is 127.0.0.1)
    #[arg(long)]
    dashboard_addr: Option<String>,
    /// The dashboard's TLS certificate (PEM; default: one generated and kept in DATA_ROOT)
    #[arg(long)]
    dashboard_tls_cert: Option<PathBuf>,
    /// The dashboard's TLS key (PEM)
    #[arg(long)]
    dashboard_tls_key: Option<PathBuf>,
}

/// A size given as a number of bytes or as Docker writes sizes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(i64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    dashboard_addr: Option<String>,
    dashboard_tls_cert: Option<PathBuf>,
    dashboard_tls_key: Option<PathBuf>,
    dashboard_session_timeout: Option<String>,
    dashboard_login_attempts: Option<u32>,
    sandbox_images: Option<Vec<String>>,
    sandbox_per_user: Option<usize>,
    sandbox_ttl: Option<String>,
    sandbox_max_ttl: Option<String>,
    sandbox_memory: Option<Size>,
    sandbox_cpus: Option<f64>,
    sandbox_pids: Option<i64>,
    sandbox_disk: Option<String>,
}

/// The config file's keys this module reads.
pub const KEYS: [&str; 13] = [
    "dashboard-addr",
    "dashboard-tls-cert",
    "dashboard-tls-key",
    "dashboard-session-timeout",
    "dashboard-login-attempts",
    "sandbox-images",
    "sandbox-per-user",
    "sandbox-ttl",
    "sandbox-max-ttl",
    "sandbox-memory",
    "sandbox-cpus",
    "sandbox-pids",
    "sandbox-disk",
];

pub struct Web {
    pub dashboard: Option<berth_dashboard::Settings>,
    pub sandboxes: Sandboxes,
}

fn duration(v: &str, key: &str) -> Result<Duration> {
    berth_units::parse_go_duration(v)
        .filter(|n| *n > 0)
        .map(|n| Duration::from_nanos(n as u64))
        .ok_or_else(|| anyhow!("invalid {key} {v:?}: a duration such as 30m or 4h"))
}

pub fn settings(
    flags: &WebFlags,
    file: &serde_json::Value,
    data_root: &std::path::Path,
) -> Result<Web> {
    let f: File = serde_json::from_value(file.clone()).map_err(|e| anyhow!("config file: {e}"))?;
    for (key, flag, in_file) in [
        (
            "dashboard-addr",
            flags.dashboard_addr.is_some(),
            f.dashboard_addr.is_some(),
        ),
        (
            "dashboard-tls-cert",
            flags.dashboard_tls_cert.is_some(),
            f.dashboard_tls_cert.is_some(),
        ),
        (
            "dashboard-tls-key",
            flags.dashboard_tls_key.is_some(),
            f.dashboard_tls_key.is_some(),
        ),
    ] {
        crate::defaults::not_both(key, flag, in_file)?;
    }
    let mut s = Sandboxes::default();
    if let Some(v) = f.sandbox_images {
        s.images = v;
    }
    if let Some(v) = f.sandbox_per_user {
        s.per_user = v;
    }
    if let Some(v) = &f.sandbox_ttl {
        s.ttl = duration(v, "sandbox-ttl")?;
    }
    if let Some(v) = &f.sandbox_max_ttl {
        s.max_ttl = duration(v, "sandbox-max-ttl")?;
    }
    if s.ttl > s.max_ttl {
        bail!("sandbox-ttl is longer than sandbox-max-ttl");
    }
    match f.sandbox_memory {
        Some(Size::Bytes(n)) => s.memory = n,
        Some(Size::Text(t)) => {
            s.memory = berth_engine::util::parse_size(&t)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| anyhow!("invalid sandbox-memory {t:?}: a size such as 256m"))?;
        }
        None => {}
    }
    if s.memory < 6 << 20 {
        bail!("invalid sandbox-memory {}: the minimum is 6MB", s.memory);
    }
    if let Some(c) = f.sandbox_cpus {
        if !(c > 0.0 && c <= 1024.0) {
            bail!("invalid sandbox-cpus {c}: more than 0");
        }
        s.nano_cpus = (c * 1e9) as i64;
    }
    if let Some(p) = f.sandbox_pids {
        if p < 1 {
            bail!("invalid sandbox-pids {p}: at least 1");
        }
        s.pids = p;
    }
    if let Some(d) = f.sandbox_disk {
        if !d.is_empty() && berth_engine::util::parse_size(&d).is_none() {
            bail!("invalid sandbox-disk {d:?}: a size such as 1g");
        }
        s.disk = d;
    }
    let addr = flags.dashboard_addr.clone().or(f.dashboard_addr);
    let dashboard = match addr.filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => {
            let addr = crate::defaults::listen_addr(&a, "dashboard-addr", "127.0.0.1:8443")?;
            let cert = flags.dashboard_tls_cert.clone().or(f.dashboard_tls_cert);
            let key = flags.dashboard_tls_key.clone().or(f.dashboard_tls_key);
            let tls = match (cert, key) {
                (Some(c), Some(k)) => berth_dashboard::Tls::Files { cert: c, key: k },
                (None, None) => berth_dashboard::Tls::Generated {
                    dir: data_root.join("dashboard-tls"),
                },
                _ => bail!("dashboard-tls-cert and dashboard-tls-key go together"),
            };
            let session_timeout = match &f.dashboard_session_timeout {
                Some(v) => duration(v, "dashboard-session-timeout")?,
                None => Duration::from_secs(30 * 60),
            };
            let s = berth_dashboard::Settings {
                addr,
                tls,
                session_timeout,
                login_attempts: f.dashboard_login_attempts.unwrap_or(5).max(1),
            };
            berth_dashboard::check(&s)?;
            Some(s)
        }
    };
    Ok(Web {
        dashboard,
        sandboxes: s,
    })
}
