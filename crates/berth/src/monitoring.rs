//! The daemon's monitoring settings, from flags and the config file (not both, dockerd's
//! rule): the metrics listener (`metrics-addr`, dockerd's key; off by default) and the token
//! it wants, the stats history's sampling interval and retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use berth_engine::stats_history::Settings as History;
use serde::Deserialize;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct MonitoringFlags {
    /// Serve /metrics on this TCP address (host:port; a missing host is 127.0.0.1), behind a
    /// bearer token
    #[arg(long)]
    metrics_addr: Option<String>,
    /// The file holding the metrics listener's bearer token (default: DATA_ROOT/metrics-token,
    /// made when missing)
    #[arg(long)]
    metrics_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    metrics_addr: Option<String>,
    metrics_token_file: Option<PathBuf>,
    stats_interval: Option<String>,
    stats_retention: Option<String>,
}

/// The config file's keys this module reads.
pub const KEYS: [&str; 4] = [
    "metrics-addr",
    "metrics-token-file",
    "stats-interval",
    "stats-retention",
];

/// What the daemon serves and samples.
#[derive(Debug)]
pub struct Monitoring {
    /// The metrics listener's address and token.
    pub metrics: Option<(std::net::SocketAddr, String)>,
    pub history: History,
}

fn duration(v: &str, key: &str) -> Result<Duration> {
    if v.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    berth_units::parse_go_duration(v)
        .filter(|n| *n >= 0)
        .map(|n| Duration::from_nanos(n as u64))
        .ok_or_else(|| anyhow!("invalid {key} {v:?}: a duration such as 10s, 5m or 24h"))
}

/// The settings the flags and config file `file` make; `data_root` holds a generated token.
pub fn settings(
    flags: &MonitoringFlags,
    file: &serde_json::Value,
    data_root: &Path,
) -> Result<Monitoring> {
    let f: File = serde_json::from_value(file.clone()).map_err(|e| anyhow!("config file: {e}"))?;
    for (key, flag, in_file) in [
        (
            "metrics-addr",
            flags.metrics_addr.is_some(),
            f.metrics_addr.is_some(),
        ),
        (
            "metrics-token-file",
            flags.metrics_token_file.is_some(),
            f.metrics_token_file.is_some(),
        ),
    ] {
        crate::defaults::not_both(key, flag, in_file)?;
    }
    let mut history = History::default();
    if let Some(v) = &f.stats_interval {
        history.interval = duration(v, "stats-interval")?;
    }
    if let Some(v) = &f.stats_retention {
        history.retention = duration(v, "stats-retention")?;
    }
    if !history.interval.is_zero() && history.interval < Duration::from_secs(1) {
        bail!("invalid stats-interval: at least 1s (or 0: no history)");
    }
    let addr = flags.metrics_addr.clone().or(f.metrics_addr);
    let metrics = match addr.filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => {
            let sa = crate::defaults::listen_addr(&a, "metrics-addr", "127.0.0.1:9323")?;
            let path = flags
                .metrics_token_file
                .clone()
                .or(f.metrics_token_file)
                .unwrap_or_else(|| data_root.join("metrics-token"));
            Some((sa, token(&path)?))
        }
    };
    Ok(Monitoring { metrics, history })
}

/// The token in `path`, made (32 random bytes, hex, mode 0600) when the file is missing.
fn token(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
        Ok(_) => bail!("metrics token file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("metrics token file {}: {e}", path.display()),
    }
    // A secret: from the kernel's generator, or no token (and no listener) at all.
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .context("read /dev/urandom for the metrics token")?;
    let t: String = b.iter().map(|x| format!("{x:02x}")).collect();
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{t}\n").as_bytes()))
        .with_context(|| format!("write the metrics token to {}", path.display()))?;
    tracing::info!("metrics token written to {}", path.display());
    Ok(t)
}
