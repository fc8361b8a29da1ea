//! `--security-opt landlock=PROFILE`: a built-in profile (`readonly-except-volumes`,
//! `no-exec-writable`), a JSON profile inline, or a JSON file the daemon reads. Checked at
//! create (a file's profile is kept inline in the record, as Docker keeps a seccomp profile);
//! made into the runtime's annotation at each start, where built-in profiles are resolved
//! against the container's mounts and root filesystem.

use std::path::Path;

use berth_models::container::HostConfig;
use berth_runtime::landlock::{FsRule, Profile};

use super::bundle::{Mount, Spec};
use crate::{Error, Result};

pub const BUILTIN: [&str; 2] = ["readonly-except-volumes", "no-exec-writable"];

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

/// The value of the container's `landlock=` security option, if any.
pub fn option(hc: &HostConfig) -> Option<&str> {
    hc.security_opt.iter().flatten().find_map(|o| {
        o.strip_prefix("landlock=")
            .or_else(|| o.strip_prefix("landlock:"))
    })
}

/// Check the option at create; a profile file is replaced by its contents. Returns the
/// warnings for what this kernel cannot enforce.
pub fn check(hc: &mut HostConfig) -> Result<Vec<String>> {
    let Some(v) = option(hc).map(str::to_owned) else {
        return Ok(vec![]);
    };
    let profile = if BUILTIN.contains(&v.as_str()) {
        None
    } else if v.trim_start().starts_with('{') {
        Some(Profile::parse(&v).map_err(bad)?)
    } else if v.starts_with('/') {
        let text =
            std::fs::read_to_string(&v).map_err(|e| bad(format!("landlock profile {v}: {e}")))?;
        let p = Profile::parse(&text).map_err(|e| bad(format!("landlock profile {v}: {e}")))?;
        let inline = serde_json::to_string(&p).map_err(Error::internal)?;
        for o in hc.security_opt.iter_mut().flatten() {
            if o.starts_with("landlock=") || o.starts_with("landlock:") {
                *o = format!("landlock={inline}");
            }
        }
        Some(p)
    } else {
        return Err(bad(format!(
            "unknown landlock profile {v:?}: use {}, a JSON profile, or the absolute path of one",
            BUILTIN.join(", ")
        )));
    };
    if !super::is_berth_runtime(&hc.runtime) {
        return Err(bad(format!(
            "landlock profiles are applied by Berth's runtime, not {:?}",
            hc.runtime
        )));
    }
    let abi = berth_runtime::landlock::abi();
    let missing = match &profile {
        Some(p) => p.unenforced(abi),
        None => Profile {
            filesystem: Some(vec![]),
            ..Default::default()
        }
        .unenforced(abi),
    };
    Ok(missing
        .into_iter()
        .map(|m| format!("landlock: this kernel (ABI {abi}) cannot enforce {m}; the rest applies"))
        .collect())
}

fn rule(path: &str, access: &[&str], optional: bool) -> FsRule {
    FsRule {
        path: path.to_owned(),
        access: access.iter().map(|a| (*a).to_owned()).collect(),
        optional,
    }
}

/// Mount destinations the container may write to: volumes, binds and tmpfs not mounted
/// read-only (the engine's own /etc files, /dev, /proc and /sys aside).
fn writable(mounts: &[Mount]) -> Vec<String> {
    mounts
        .iter()
        .filter(|m| matches!(m.r#type.as_str(), "bind" | "tmpfs"))
        .filter(|m| !m.options.iter().any(|o| o == "ro"))
        .map(|m| m.destination.clone())
        .filter(|d| {
            !["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].contains(&d.as_str())
                && !["/dev", "/proc", "/sys"]
                    .iter()
                    .any(|p| d == p || d.starts_with(&format!("{p}/")))
        })
        .collect()
}

/// System directories whose programs may run under `no-exec-writable`.
const SYSTEM: [&str; 8] = [
    "bin", "sbin", "usr", "lib", "lib32", "lib64", "libx32", "opt",
];

/// The profile a start applies.
pub fn resolve(v: &str, mounts: &[Mount], rootfs: &Path) -> Result<Profile> {
    let vols = writable(mounts);
    let devices = [
        rule("/dev", &["read", "write"], false),
        rule("/proc", &["read", "write"], false),
    ];
    match v {
        "readonly-except-volumes" => {
            let mut fs = vec![rule("/", &["read", "execute"], false)];
            fs.extend(devices);
            fs.extend(
                vols.iter()
                    .map(|d| rule(d, &["read", "write", "execute"], false)),
            );
            Ok(Profile {
                filesystem: Some(fs),
                ..Default::default()
            })
        }
        "no-exec-writable" => {
            let mut fs = vec![rule("/", &["read"], false)];
            let entries = std::fs::read_dir(rootfs)
                .map_err(|e| Error::io(format!("list {}", rootfs.display()), e))?;
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if ["dev", "proc", "sys"].contains(&name.as_str()) {
                    continue;
                }
                let path = format!("/{name}");
                if SYSTEM.contains(&name.as_str()) {
                    fs.push(rule(&path, &["read", "execute"], true));
                } else {
                    fs.push(rule(&path, &["read", "write"], true));
                }
            }
            fs.extend(devices);
            fs.extend(vols.iter().map(|d| rule(d, &["read", "write"], false)));
            Ok(Profile {
                filesystem: Some(fs),
                ..Default::default()
            })
        }
        json => Profile::parse(json).map_err(bad),
    }
}

/// Put the container's profile into the spec's annotations.
pub fn annotate(spec: &mut Spec, hc: &HostConfig, rootfs: &Path) -> Result<()> {
    let Some(v) = option(hc) else {
        return Ok(());
    };
    let profile = resolve(v, &spec.mounts(), rootfs)?;
    let json = serde_json::to_string(&profile).map_err(Error::internal)?;
    spec.set(
        &format!("/annotations/{}", berth_runtime::landlock::ANNOTATION),
        json,
    );
    Ok(())
}
