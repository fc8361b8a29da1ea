//! The daemon's defaults for containers, from flags and the config file (flag and key may not
//! both be given, dockerd's rule): pids limit, memory ceiling, no-new-privileges, seccomp
//! profile, capabilities, masked and read-only paths, user namespaces.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use berth_engine::containers::Defaults;
use serde::Deserialize;

/// The flags that set defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Default pids limit of containers (0 or -1: none; default 2048)
    #[arg(long)]
    default_pids_limit: Option<i64>,
    /// Default memory ceiling of containers (`512m`, `4g`, bytes; 0: none; default: the
    /// host's memory less 10 %)
    #[arg(long)]
    default_memory: Option<String>,
    /// Set no_new_privs in containers (default true)
    #[arg(long, action = clap::ArgAction::Set)]
    no_new_privileges: Option<bool>,
    /// Seccomp profile of containers: a Docker JSON profile's path, `builtin` or `unconfined`
    #[arg(long)]
    seccomp_profile: Option<String>,
    /// Map containers' root to subordinate ids (dockerd's): default, USER, USER:GROUP or UID:GID
    #[arg(long)]
    userns_remap: Option<String>,
}

/// A size given as a number of bytes or as Docker writes sizes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(i64),
    Text(String),
}

/// The config file's keys for defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    default_pids_limit: Option<i64>,
    default_memory: Option<Size>,
    no_new_privileges: Option<bool>,
    seccomp_profile: Option<String>,
    default_capabilities: Option<Vec<String>>,
    default_masked_paths: Option<Vec<String>>,
    default_readonly_paths: Option<Vec<String>>,
    default_userns: Option<String>,
    userns_remap: Option<String>,
}

/// The config file's keys this module reads.
pub const KEYS: [&str; 9] = [
    "default-userns",
    "userns-remap",
    "default-pids-limit",
    "default-memory",
    "no-new-privileges",
    "seccomp-profile",
    "default-capabilities",
    "default-masked-paths",
    "default-readonly-paths",
];

fn size(v: &str, what: &str) -> Result<i64> {
    if v.trim() == "0" {
        return Ok(0);
    }
    berth_engine::util::parse_size(v)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| anyhow!("invalid {what} {v:?}: a size such as 512m or 4g"))
}

/// dockerd's rule: a key is given as a flag or in the config file, not both.
pub fn not_both(key: &str, flag: bool, in_file: bool) -> Result<()> {
    if flag && in_file {
        bail!(
            "the following directives are specified both as a flag and in the configuration file: {key}"
        );
    }
    Ok(())
}

/// A listener's `host:port` (a missing host: 127.0.0.1), or what is wrong with it.
pub fn listen_addr(a: &str, key: &str, example: &str) -> Result<std::net::SocketAddr> {
    let full = if a.starts_with(':') {
        format!("127.0.0.1{a}")
    } else {
        a.to_owned()
    };
    full.parse()
        .map_err(|_| anyhow!("invalid {key} {a:?}: host:port, e.g. {example}"))
}

/// The defaults the flags and the config file `file` make.
pub fn defaults(flags: &Flags, file: &serde_json::Value) -> Result<Defaults> {
    let f: File = serde_json::from_value(file.clone()).map_err(|e| anyhow!("config file: {e}"))?;
    let both = not_both;
    both(
        "default-pids-limit",
        flags.default_pids_limit.is_some(),
        f.default_pids_limit.is_some(),
    )?;
    both(
        "default-memory",
        flags.default_memory.is_some(),
        f.default_memory.is_some(),
    )?;
    both(
        "no-new-privileges",
        flags.no_new_privileges.is_some(),
        f.no_new_privileges.is_some(),
    )?;
    both(
        "userns-remap",
        flags.userns_remap.is_some(),
        f.userns_remap.is_some(),
    )?;
    both(
        "seccomp-profile",
        flags.seccomp_profile.is_some(),
        f.seccomp_profile.is_some(),
    )?;

    let mut d = Defaults::default();
    if let Some(p) = flags.default_pids_limit.or(f.default_pids_limit) {
        d.pids_limit = p.max(0);
    }
    d.memory = match (&flags.default_memory, &f.default_memory) {
        (Some(v), _) => size(v, "default-memory")?,
        (None, Some(Size::Text(v))) => size(v, "default-memory")?,
        (None, Some(Size::Bytes(n))) => (*n).max(0),
        (None, None) => Defaults::host_memory_ceiling(),
    };
    if d.memory != 0 && d.memory < 6 << 20 {
        bail!("invalid default-memory {}: the minimum is 6MB", d.memory);
    }
    if let Some(b) = flags.no_new_privileges.or(f.no_new_privileges) {
        d.no_new_privileges = b;
    }
    d.seccomp_profile = match flags.seccomp_profile.clone().or(f.seccomp_profile) {
        None => None,
        Some(p) if p == "builtin" || p == "unconfined" => Some(p),
        Some(path) => {
            let text = std::fs::read_to_string(PathBuf::from(&path))
                .map_err(|e| anyhow!("seccomp-profile {path}: {e}"))?;
            berth_runtime::seccomp::profile::Profile::from_json(text.as_bytes())
                .map_err(|e| anyhow!("seccomp-profile {path}: {e}"))?;
            Some(text)
        }
    };
    if let Some(caps) = f.default_capabilities {
        d.capabilities = Some(
            berth_engine::containers::host_config::cap_names(&caps)
                .map_err(|e| anyhow!("default-capabilities: {e}"))?,
        );
    }
    d.userns_auto = match f.default_userns.as_deref() {
        None | Some("host") | Some("") => false,
        Some("auto") => true,
        Some(o) => bail!("invalid default-userns {o:?}: use auto or host"),
    };
    if let Some(v) = flags.userns_remap.as_deref().or(f.userns_remap.as_deref()) {
        if !v.is_empty() {
            if d.userns_auto {
                bail!(
                    "default-userns auto and userns-remap {v:?} cannot both be set: each container gets a range of its own, or all share one"
                );
            }
            d.userns_remap = Some(crate::userns_remap::resolve(v)?);
        }
    }
    d.masked_paths = f.default_masked_paths;
    d.readonly_paths = f.default_readonly_paths;
    for p in d.masked_paths.iter().chain(&d.readonly_paths).flatten() {
        if !p.starts_with('/') {
            bail!("invalid default masked/read-only path {p:?}: it must be absolute");
        }
    }
    Ok(d)
}
