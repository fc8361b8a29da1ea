//! Loading and validating a bundle's `config.json`, and Berth's default spec
//! (`berth runtime spec`): 11 capabilities, Docker's masked and read-only paths, the default
//! seccomp profile, a pids limit of 2048 and unprivileged ICMP.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::seccomp::profile::{Profile, Target};

/// Docker's 14 default capabilities minus NET_RAW, MKNOD and AUDIT_WRITE (as Podman).
pub const DEFAULT_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Docker's masked paths: hidden behind an empty read-only tmpfs (dirs) or /dev/null (files).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Berth's default pids limit (fork bombs).
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

/// A loaded bundle: the parsed spec, its raw JSON (for fields we read ourselves), and paths.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub raw: Value,
    pub rootfs: PathBuf,
    /// `linux.seccomp`, parsed and validated once.
    pub seccomp: Option<Profile>,
}

impl Bundle {
    /// Read and validate `<dir>/config.json`.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::Config {
            path: dir.to_owned(),
            msg: format!("bundle: {e}"),
        })?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).map_err(|e| Error::Config {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        let raw: Value = serde_json::from_slice(&data).map_err(|e| Error::Config {
            path: path.clone(),
            msg: format!("invalid JSON: {e}"),
        })?;
        let spec: Spec = serde_json::from_value(raw.clone()).map_err(|e| Error::Config {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        let root = spec.root().as_ref().ok_or_else(|| Error::Config {
            path: path.clone(),
            msg: "root.path is missing".into(),
        })?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        match std::fs::metadata(&rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::Spec(format!(
                    "rootfs {} is not a directory",
                    rootfs.display()
                )));
            }
            Err(e) => return Err(Error::Spec(format!("rootfs {}: {e}", rootfs.display()))),
        }
        let seccomp = seccomp_of(&raw)?;
        let b = Bundle {
            dir,
            spec,
            raw,
            rootfs,
            seccomp,
        };
        b.validate()?;
        Ok(b)
    }

    fn validate(&self) -> Result<()> {
        let s = &self.spec;
        let v = s.version();
        let semver = v.split('.').count() >= 2
            && v.split(['.', '-', '+'])
                .take(3)
                .all(|p| p.parse::<u32>().is_ok());
        if !v.starts_with("1.") || !semver {
            return Err(Error::Spec(format!(
                "unsupported ociVersion {v:?}: this runtime implements 1.x"
            )));
        }
        if let Some(p) = s.process() {
            if p.args().as_ref().is_none_or(|a| a.is_empty()) {
                return Err(Error::Spec("process.args must not be empty".into()));
            }
            if !p.cwd().is_absolute() {
                return Err(Error::Spec(format!(
                    "process.cwd {:?} must be an absolute path",
                    p.cwd()
                )));
            }
        }
        let linux = s.linux().as_ref();
        let nss = linux
            .and_then(|l| l.namespaces().as_ref())
            .cloned()
            .unwrap_or_default();
        let mut seen = HashSet::new();
        for ns in &nss {
            if !seen.insert(ns.typ()) {
                return Err(Error::Spec(format!("namespace {} listed twice", ns.typ())));
            }
            if let Some(p) = ns.path() {
                if !p.exists() {
                    return Err(Error::Spec(format!(
                        "{} namespace path {}: does not exist",
                        ns.typ(),
                        p.display()
                    )));
                }
            }
        }
        let has = |t: LinuxNamespaceType| nss.iter().any(|n| n.typ() == t);
        let maps = linux.is_some_and(|l| l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()));
        if maps && !has(LinuxNamespaceType::User) {
            return Err(Error::Spec(
                "uidMappings given without a user namespace".into(),
            ));
        }
        let new_user = nss
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
        if new_user && !maps {
            return Err(Error::Spec(
                "a new user namespace needs uidMappings and gidMappings".into(),
            ));
        }
        if s.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
            return Err(Error::Spec(
                "unable to set hostname without a private UTS namespace".into(),
            ));
        }
        for k in linux
            .and_then(|l| l.sysctl().as_ref())
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let own = |t| nss.iter().any(|n| n.typ() == t);
            let needs = if k.starts_with("net.") {
                Some((LinuxNamespaceType::Network, "network"))
            } else if k.starts_with("kernel.shm")
                || k.starts_with("kernel.msg")
                || k.starts_with("kernel.sem")
                || k.starts_with("fs.mqueue.")
            {
                Some((LinuxNamespaceType::Ipc, "ipc"))
            } else if k == "kernel.hostname" || k == "kernel.domainname" {
                Some((LinuxNamespaceType::Uts, "uts"))
            } else {
                None
            };
            match needs {
                Some((t, name)) if !own(t) => {
                    return Err(Error::Spec(format!(
                        "sysctl {k:?} is not allowed: the container has no {name} namespace of its own"
                    )));
                }
                Some(_) => {}
                None => {
                    return Err(Error::Spec(format!(
                        "sysctl {k:?} is not namespaced and would change the host: not allowed"
                    )));
                }
            }
        }
        if let Some(p) = s.process() {
            if let Some(profile) = p.apparmor_profile().as_ref().filter(|p| !p.is_empty()) {
                if !Path::new("/sys/kernel/security/apparmor").exists() {
                    return Err(Error::Unsupported(format!(
                        "apparmor profile {profile:?} requested but AppArmor is not enabled on this host"
                    )));
                }
                return Err(Error::Unsupported(format!(
                    "apparmor profile {profile:?}: AppArmor is not supported yet"
                )));
            }
            if let Some(label) = p.selinux_label().as_ref().filter(|l| !l.is_empty()) {
                return Err(Error::Unsupported(format!(
                    "selinux label {label:?} requested but SELinux is not enabled on this host"
                )));
            }
        }
        if let Some(l) = linux
            .and_then(|l| l.mount_label().as_ref())
            .filter(|l| !l.is_empty())
        {
            return Err(Error::Unsupported(format!(
                "selinux mount label {l:?} requested but SELinux is not enabled on this host"
            )));
        }
        for m in s.mounts().as_ref().map(Vec::as_slice).unwrap_or_default() {
            if !m.destination().is_absolute() {
                return Err(Error::Spec(format!(
                    "mount destination {:?} must be absolute",
                    m.destination()
                )));
            }
        }
        Ok(())
    }
}

/// The `linux.seccomp` of a raw config (a bundle's, or one stored in a container's state).
pub fn seccomp_of(raw: &Value) -> Result<Option<Profile>> {
    match raw.pointer("/linux/seccomp") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let p = Profile::deserialize(v)
                .map_err(|e| Error::Seccomp(format!("invalid linux.seccomp: {e}")))?;
            p.validate()?;
            Ok(Some(p))
        }
    }
}

fn strings(list: &[&str]) -> Vec<Value> {
    list.iter().map(|s| Value::from(*s)).collect()
}

/// Berth's default `config.json` (what `berth runtime spec` writes): runc's layout with Berth's
/// hardening defaults.
pub fn default_spec() -> Value {
    let caps = strings(&DEFAULT_CAPS);
    let owned: Vec<String> = DEFAULT_CAPS.iter().map(|c| (*c).to_owned()).collect();
    let seccomp = crate::seccomp::default::profile().resolve(&Target::host(&owned));
    json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}],
                "pids": {"limit": DEFAULT_PIDS_LIMIT}
            },
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "sysctl": {"net.ipv4.ping_group_range": "0 2147483647"},
            "maskedPaths": strings(&MASKED_PATHS),
            "readonlyPaths": strings(&READONLY_PATHS),
            "seccomp": serde_json::to_value(seccomp).expect("a profile always serializes")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_a_spec() {
        let v = default_spec();
        let s: Spec = serde_json::from_value(v.clone()).expect("default spec is a valid spec");
        let caps = s
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().clone())
            .and_then(|c| c.bounding().clone());
        assert_eq!(caps.map(|c| c.len()), Some(11));
        assert_eq!(v.pointer("/linux/resources/pids/limit"), Some(&json!(2048)));
        let p: Profile =
            serde_json::from_value(v.pointer("/linux/seccomp").cloned().unwrap_or_default())
                .expect("profile");
        assert!(p.arch_map.is_empty() && !p.syscalls.is_empty());
    }
}
