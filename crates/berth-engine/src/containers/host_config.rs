//! `HostConfig` → the runtime spec: resources, capabilities, security options, rlimits,
//! sysctls, mounts, devices. Anything Berth cannot honour is an error, named.

use std::path::{Path, PathBuf};

use berth_models::container::HostConfig;

use super::Defaults;
use super::bundle::{Device, DeviceRule, Mount, Rlimit, Spec};
use crate::{Error, Result};

fn bad(m: String) -> Error {
    Error::InvalidParameter(m)
}

/// Every capability Linux has (for `--privileged`, `--cap-add ALL`).
pub const ALL_CAPS: [&str; 41] = [
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

/// `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN` (or `CAP_ALL`).
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
        Err(bad(format!("invalid capability: {c}")))
    }
}

/// The recording profile for `seccomp=record:FILE` (FILE checked).
fn recorder(file: &str) -> Result<berth_runtime::seccomp::Profile> {
    let parent = std::path::Path::new(file).parent();
    if !file.starts_with('/') || !parent.is_some_and(|p| p.is_dir()) {
        return Err(bad(format!(
            "seccomp=record:{file}: the profile's path must be absolute, in an existing directory of the daemon's host"
        )));
    }
    Ok(berth_runtime::seccomp::record::recording_profile(""))
}

/// `--security-opt seccomp=record:FILE`: where the recorded profile goes.
/// (`seccomp-record=FILE` is the same: the docker CLI reads any `seccomp=` value as a file.)
pub fn seccomp_record(hc: &HostConfig) -> Option<&str> {
    hc.security_opt.iter().flatten().find_map(|o| {
        o.strip_prefix("seccomp=record:")
            .or_else(|| o.strip_prefix("seccomp:record:"))
            .or_else(|| o.strip_prefix("seccomp-record="))
    })
}

/// Capability names as Docker accepts them, in their full form (`net_admin` → `CAP_NET_ADMIN`).
pub fn cap_names(names: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for n in names {
        let c = cap_name(n)?;
        if c == "CAP_ALL" {
            return Err(bad(format!("invalid capability: {n} (list them)")));
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Every capability the daemon itself may grant (`--privileged`, `--cap-add ALL`): those in
/// its bounding set. A host whose root lacks one (this one lacks CAP_SYS_RESOURCE) would
/// otherwise fail every privileged start with EPERM from capset.
fn all_caps() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| (*c).to_owned())
        .collect()
}

/// The capability set of a container: Berth's default (or all, privileged), minus `CapDrop`,
/// plus `CapAdd`.
pub fn capabilities(hc: &HostConfig, d: &Defaults) -> Result<Vec<String>> {
    let mut caps: Vec<String> = if hc.privileged {
        all_caps()
    } else {
        d.capability_base()
    };
    for d in hc.cap_drop.iter().flatten() {
        let d = cap_name(d)?;
        if d == "CAP_ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    for a in hc.cap_add.iter().flatten() {
        let a = cap_name(a)?;
        if a == "CAP_ALL" {
            caps = all_caps();
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

/// The pids limit a container gets: its own (`-1`: unlimited), else the daemon's default.
/// `0` counts as unset: the docker CLI sends it when `--pids-limit` is not given.
pub fn pids_limit(hc: &HostConfig, d: &Defaults) -> i64 {
    match hc.resources.pids_limit {
        Some(p) if p < 0 => -1,
        Some(p) if p > 0 => p,
        _ if d.pids_limit > 0 => d.pids_limit,
        _ => -1,
    }
}

/// Apply `hc` to `spec`.
pub fn apply(spec: &mut Spec, hc: &HostConfig, defaults: &Defaults) -> Result<()> {
    resources(spec, hc, defaults)?;
    let caps = capabilities(hc, defaults)?;
    for set in ["bounding", "effective", "permitted"] {
        spec.set(&format!("/process/capabilities/{set}"), &caps);
    }
    if let Some(m) = &hc.masked_paths {
        spec.set("/linux/maskedPaths", m);
    }
    if let Some(r) = &hc.readonly_paths {
        spec.set("/linux/readonlyPaths", r);
    }
    security(spec, hc, &caps, defaults)?;
    rlimits(spec, hc)?;
    if hc.oom_score_adj != 0 {
        spec.set("/process/oomScoreAdj", hc.oom_score_adj);
    }
    for (k, v) in hc.sysctls.iter().flatten() {
        spec.set_sysctl(k, v);
    }
    mounts(spec, hc)?;
    devices(spec, hc)
}

fn resources(spec: &mut Spec, hc: &HostConfig, defaults: &Defaults) -> Result<()> {
    let r = &hc.resources;
    let nz = |n: i64| (n != 0).then_some(n);
    if let Some(m) = nz(r.memory) {
        if m < 6 * 1024 * 1024 {
            return Err(bad("Minimum memory limit allowed is 6MB".into()));
        }
        spec.set("/linux/resources/memory/limit", m);
        let swap = match nz(r.memory_swap) {
            Some(-1) => -1,
            Some(sw) if sw < m => {
                return Err(bad(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
            Some(sw) => sw,
            None => m * 2,
        };
        spec.set("/linux/resources/memory/swap", swap);
    }
    if let Some(x) = nz(r.memory_reservation) {
        spec.set("/linux/resources/memory/reservation", x);
    }
    if let Some(n) = nz(r.nano_cpus) {
        spec.set("/linux/resources/cpu/period", 100_000);
        spec.set("/linux/resources/cpu/quota", n / 10_000);
    }
    if let Some(q) = nz(r.cpu_quota) {
        spec.set("/linux/resources/cpu/quota", q);
    }
    if let Some(p) = nz(r.cpu_period) {
        spec.set("/linux/resources/cpu/period", p);
    }
    if let Some(s) = nz(r.cpu_shares) {
        spec.set("/linux/resources/cpu/shares", s);
    }
    if !r.cpuset_cpus.is_empty() {
        spec.set("/linux/resources/cpu/cpus", &r.cpuset_cpus);
    }
    if !r.cpuset_mems.is_empty() {
        spec.set("/linux/resources/cpu/mems", &r.cpuset_mems);
    }
    spec.set("/linux/resources/pids/limit", pids_limit(hc, defaults));
    Ok(())
}

/// Seccomp follows the capabilities (Docker's profile grants syscalls by capability);
/// `--security-opt` chooses the profile and no-new-privileges; `--privileged` lifts the
/// confinement.
fn security(spec: &mut Spec, hc: &HostConfig, caps: &[String], d: &Defaults) -> Result<()> {
    let mut profile = match d.seccomp_profile.as_deref() {
        None | Some("builtin") => Some(berth_runtime::seccomp::default::profile()),
        Some("unconfined") => None,
        Some(json) => Some(
            berth_runtime::seccomp::profile::Profile::from_json(json.as_bytes())
                .map_err(|e| bad(format!("the daemon's seccomp profile: {e}")))?,
        ),
    };
    spec.set("/process/noNewPrivileges", d.no_new_privileges);
    for opt in hc.security_opt.iter().flatten() {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match (k, v) {
            ("seccomp", "unconfined") => profile = None,
            // The recorder: every syscall goes to the shim's agent, which lets it through and
            // notes it (the listener path is the container's, set by the bundle).
            ("seccomp", v) if v.starts_with("record:") => {
                profile = Some(recorder(&v["record:".len()..])?);
            }
            ("seccomp-record", file) => profile = Some(recorder(file)?),

            ("seccomp", "builtin" | "") => {}
            ("seccomp", json_text) => {
                profile = Some(
                    berth_runtime::seccomp::profile::Profile::from_json(json_text.as_bytes())
                        .map_err(|e| bad(format!("Decoding seccomp profile failed: {e}")))?,
                )
            }
            ("no-new-privileges", "" | "true") => spec.set("/process/noNewPrivileges", true),
            ("no-new-privileges", "false") => spec.set("/process/noNewPrivileges", false),
            // The masked and read-only paths go (Docker's `systempaths=unconfined`).
            ("systempaths", "unconfined") => {
                spec.set("/linux/maskedPaths", Vec::<String>::new());
                spec.set("/linux/readonlyPaths", Vec::<String>::new());
            }
            ("label", "disable") | ("apparmor", "unconfined") => {}
            // Checked at create, applied by the runtime (containers/landlock.rs).
            ("landlock", _) => {}
            ("label" | "apparmor", _) => {
                return Err(bad(format!(
                    "security option {opt:?} needs SELinux/AppArmor, which this host does not have"
                )));
            }
            _ => return Err(bad(format!("invalid --security-opt: {opt:?}"))),
        }
    }
    if hc.privileged {
        profile = None;
        spec.set("/linux/maskedPaths", Vec::<String>::new());
        spec.set("/linux/readonlyPaths", Vec::<String>::new());
        spec.set(
            "/linux/resources/devices",
            [DeviceRule {
                allow: true,
                r#type: None,
                major: None,
                minor: None,
                access: "rwm".into(),
            }],
        );
        for dst in ["/sys", "/sys/fs/cgroup"] {
            spec.set_mount_options(
                dst,
                ["nosuid", "noexec", "nodev", "rw"]
                    .map(String::from)
                    .to_vec(),
            );
        }
    }
    match profile {
        None => spec.remove("/linux/seccomp"),
        Some(p) => {
            let owned: Vec<String> = caps.to_vec();
            let resolved = p.resolve(&berth_runtime::seccomp::profile::Target::host(&owned));
            spec.set("/linux/seccomp", &resolved);
        }
    }
    Ok(())
}

fn rlimits(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let mut list = spec.rlimits();
    for u in hc.resources.ulimits.iter().flatten() {
        if u.soft > u.hard {
            return Err(bad(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
        let typ = format!("RLIMIT_{}", u.name.to_uppercase());
        list.retain(|r| r.r#type != typ);
        list.push(Rlimit {
            r#type: typ,
            // -1: unlimited (RLIM_INFINITY).
            soft: u64::try_from(u.soft).unwrap_or(u64::MAX),
            hard: u64::try_from(u.hard).unwrap_or(u64::MAX),
        });
    }
    spec.set("/process/rlimits", &list);
    Ok(())
}

/// Mounts: `-v /host:/ctr[:opts]`, `--mount type=bind|tmpfs`, `--tmpfs`, the /dev/shm size.
/// Volumes are the record's mount points (bound at start).
fn mounts(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let mut extra: Vec<Mount> = Vec::new();
    for b in hc.binds.iter().flatten() {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            // `-v /dst`: an anonymous volume.
            [_] => continue,
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => return Err(bad(format!("invalid volume specification: '{b}'"))),
        };
        if !src.starts_with('/') {
            // A named volume.
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
                "ro" | "rw" | "shared" | "rshared" | "slave" | "rslave" | "private"
                | "rprivate" => o.push(opt.into()),
                "z" | "Z" | "nocopy" => {}
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
        extra.push(Mount::bind(src, dst, o));
    }
    for m in hc.mounts.iter().flatten() {
        match m.r#type.as_str() {
            "bind" => {
                if !Path::new(&m.source).exists() {
                    return Err(bad(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                let mut o = vec!["rbind".to_owned()];
                if m.read_only {
                    o.push("ro".into());
                }
                let prop = m
                    .bind_options
                    .as_ref()
                    .map(|b| b.propagation.as_str())
                    .filter(|p| !p.is_empty())
                    .unwrap_or("rprivate");
                check_propagation(&m.source, prop)?;
                o.push(prop.to_owned());
                extra.push(Mount::bind(&m.source, &m.target, o));
            }
            "tmpfs" => {
                let mut o = vec!["nosuid".to_owned(), "nodev".to_owned()];
                if let Some(t) = &m.tmpfs_options {
                    if t.size_bytes != 0 {
                        o.push(format!("size={}", t.size_bytes));
                    }
                    if t.mode != 0 {
                        o.push(format!("mode={:o}", t.mode));
                    }
                }
                extra.push(Mount::tmpfs(&m.target, o));
            }
            "volume" => {}
            t => return Err(bad(format!("mount type {t:?} is not supported yet"))),
        }
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        let mut o = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
        o.extend(opts.split(',').filter(|x| !x.is_empty()).map(str::to_owned));
        extra.push(Mount::tmpfs(dst, o));
    }
    if hc.shm_size != 0 {
        spec.set_mount_options(
            "/dev/shm",
            vec![
                "nosuid".into(),
                "noexec".into(),
                "nodev".into(),
                "mode=1777".into(),
                format!("size={}", hc.shm_size),
            ],
        );
    }
    spec.add_mounts(extra);
    Ok(())
}

fn devices(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for d in hc.resources.devices.iter().flatten() {
        let host = d.path_on_host.as_str();
        let inner = if d.path_in_container.is_empty() {
            host
        } else {
            &d.path_in_container
        };
        let perms = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            &d.cgroup_permissions
        };
        let md = std::fs::metadata(host).map_err(|e| {
            bad(format!(
                "error gathering device information while adding custom device \"{host}\": {e}"
            ))
        })?;
        let typ = if md.file_type().is_char_device() {
            "c"
        } else if md.file_type().is_block_device() {
            "b"
        } else {
            return Err(bad(format!("{host} is not a device")));
        };
        let (major, minor) = (libc::major(md.rdev()), libc::minor(md.rdev()));
        spec.add_device(
            Device {
                path: inner.to_owned(),
                r#type: typ.into(),
                major: u64::from(major),
                minor: u64::from(minor),
                file_mode: md.mode() & 0o777,
                uid: 0,
                gid: 0,
            },
            DeviceRule {
                allow: true,
                r#type: Some(typ.into()),
                major: Some(u64::from(major)),
                minor: Some(u64::from(minor)),
                access: perms.to_owned(),
            },
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
        return Err(bad(format!(
            "path {src} is mounted on {mp} but it is not a shared mount"
        )));
    }
    if need_slave && !shared && !slave {
        return Err(bad(format!(
            "path {src} is mounted on {mp} but it is not a shared or slave mount"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! HostConfig → spec, checked without root on the spec the engine would write.
    use super::*;

    fn spec_of(json: &str) -> Result<serde_json::Value> {
        let hc: HostConfig = serde_json::from_str(json).expect("host config");
        let mut s = Spec::default_spec();
        apply(&mut s, &hc, &Defaults::default())?;
        Ok(s.0)
    }

    fn at<'a>(v: &'a serde_json::Value, p: &str) -> &'a serde_json::Value {
        v.pointer(p).unwrap_or(&serde_json::Value::Null)
    }

    #[test]
    fn defaults_hold_when_nothing_is_asked() {
        let s = spec_of("{}").expect("spec");
        assert_eq!(at(&s, "/linux/resources/pids/limit"), 2048);
        assert_eq!(
            at(&s, "/process/capabilities/bounding")
                .as_array()
                .map(Vec::len),
            Some(11)
        );
        assert!(at(&s, "/linux/seccomp").is_object());
        assert_eq!(at(&s, "/process/noNewPrivileges"), true);
        // The docker CLI's 0 is "not given"; -1 is unlimited.
        let s = spec_of(r#"{"PidsLimit": 0}"#).expect("spec");
        assert_eq!(at(&s, "/linux/resources/pids/limit"), 2048);
        let s = spec_of(r#"{"PidsLimit": -1}"#).expect("spec");
        assert_eq!(at(&s, "/linux/resources/pids/limit"), -1);
        let s = spec_of(r#"{"PidsLimit": 100}"#).expect("spec");
        assert_eq!(at(&s, "/linux/resources/pids/limit"), 100);
    }

    #[test]
    fn resources_caps_and_security_options() {
        let s = spec_of(
            r#"{"Memory": 67108864, "NanoCpus": 1500000000, "CpuShares": 512,
                "CapAdd": ["net_admin"], "CapDrop": ["CHOWN"],
                "SecurityOpt": ["no-new-privileges=false"],
                "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                "Sysctls": {"net.ipv4.ip_forward": "1"}, "OomScoreAdj": 10}"#,
        )
        .expect("spec");
        assert_eq!(at(&s, "/linux/resources/memory/limit"), 67108864);
        assert_eq!(at(&s, "/linux/resources/memory/swap"), 134217728);
        assert_eq!(at(&s, "/linux/resources/cpu/quota"), 150000);
        assert_eq!(at(&s, "/linux/resources/cpu/shares"), 512);
        let caps = at(&s, "/process/capabilities/effective").to_string();
        assert!(
            caps.contains("CAP_NET_ADMIN") && !caps.contains("CAP_CHOWN"),
            "{caps}"
        );
        assert_eq!(at(&s, "/process/noNewPrivileges"), false);
        let rl = at(&s, "/process/rlimits").to_string();
        assert!(rl.contains("RLIMIT_NOFILE") && rl.contains("20"), "{rl}");
        assert_eq!(at(&s, "/linux/sysctl/net.ipv4.ip_forward"), "1");
        assert_eq!(at(&s, "/process/oomScoreAdj"), 10);
        let s = spec_of(r#"{"Privileged": true}"#).expect("spec");
        assert!(at(&s, "/linux/seccomp").is_null());
        // Every capability the test's own bounding set holds (all 41 on most hosts).
        let held = (0..41u32)
            .filter(|b| {
                std::fs::read_to_string("/proc/self/status")
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("CapBnd:"))
                            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                    })
                    .is_some_and(|m| m & (1 << b) != 0)
            })
            .count();
        assert_eq!(
            at(&s, "/process/capabilities/bounding")
                .as_array()
                .map(Vec::len),
            Some(held)
        );
        assert_eq!(at(&s, "/linux/maskedPaths"), &serde_json::json!([]));
        let s = spec_of(r#"{"SecurityOpt": ["seccomp=unconfined"]}"#).expect("spec");
        assert!(at(&s, "/linux/seccomp").is_null());
    }

    #[test]
    fn bad_settings_are_named() {
        let e = |j: &str| spec_of(j).expect_err("refused").to_string();
        assert_eq!(
            e(r#"{"Memory": 1000}"#),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(e(r#"{"CapAdd": ["FLY"]}"#), "invalid capability: FLY");
        assert_eq!(
            e(r#"{"SecurityOpt": ["bogus"]}"#),
            "invalid --security-opt: \"bogus\""
        );
        assert!(
            e(r#"{"SecurityOpt": ["seccomp={nope"]}"#)
                .starts_with("Decoding seccomp profile failed")
        );
        assert_eq!(
            e(r#"{"Ulimits": [{"Name": "nofile", "Soft": 30, "Hard": 20}]}"#),
            "ulimit soft limit must be less than or equal to hard limit: 30 > 20"
        );
        assert_eq!(e(r#"{"Binds": ["/tmp:/x:bogus"]}"#), "invalid mode: bogus");
        assert_eq!(
            e(r#"{"Mounts": [{"Type": "npipe", "Target": "/x"}]}"#),
            "mount type \"npipe\" is not supported yet"
        );
    }

    #[test]
    fn mounts_become_spec_mounts() {
        let s = spec_of(
            r#"{"Binds": ["/tmp:/host-tmp:ro"], "Tmpfs": {"/run": "size=1m"},
                "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096, "Mode": 448}}],
                "ShmSize": 1048576}"#,
        )
        .expect("spec");
        let m: Vec<Mount> = serde_json::from_value(at(&s, "/mounts").clone()).expect("mounts");
        let o = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(
            m.contains(&Mount::bind(
                "/tmp",
                "/host-tmp",
                o(&["rbind", "ro", "rprivate"])
            )),
            "{m:?}"
        );
        assert!(
            m.contains(&Mount::tmpfs(
                "/run",
                o(&["nosuid", "nodev", "noexec", "size=1m"])
            )),
            "{m:?}"
        );
        assert!(
            m.contains(&Mount::tmpfs(
                "/t",
                o(&["nosuid", "nodev", "size=4096", "mode=700"])
            )),
            "{m:?}"
        );
        let shm = m.iter().find(|x| x.destination == "/dev/shm").expect("shm");
        assert!(shm.options.contains(&"size=1048576".to_owned()), "{shm:?}");
    }

    /// The whole spec for a typical `docker run`'s HostConfig, against a reviewed snapshot
    /// (`snapshots/host_config.json`; the seccomp profile stands in as its default action and
    /// rule count). `BERTH_UPDATE_SNAPSHOTS=1` rewrites it; the diff is then reviewed.
    #[test]
    fn a_typical_host_config_matches_its_snapshot() {
        let mut s = spec_of(
            r#"{"Memory": 268435456, "MemorySwap": -1, "NanoCpus": 500000000,
                "PidsLimit": 0, "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"],
                "Binds": ["/srv/data:/data:ro"], "Tmpfs": {"/run": ""},
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "Sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
                "ReadonlyRootfs": true, "ShmSize": 67108864, "OomScoreAdj": 100,
                "SecurityOpt": ["no-new-privileges"]}"#,
        )
        .expect("spec");
        if let Some(sc) = s.pointer_mut("/linux/seccomp") {
            let rules = sc["syscalls"].as_array().map_or(0, Vec::len);
            *sc = serde_json::json!({"defaultAction": sc["defaultAction"], "rules": rules});
        }
        let got = serde_json::to_string_pretty(&s).expect("json") + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/containers/snapshots/host_config.json"
        );
        if std::env::var_os("BERTH_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(path, &got).expect("write snapshot");
        }
        let want = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            got == want,
            "the spec differs from {path} (BERTH_UPDATE_SNAPSHOTS=1 rewrites it):\n{got}"
        );
    }
}
