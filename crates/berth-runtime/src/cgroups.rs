//! Control groups, v1 and v2 behind one trait. The runtime-spec resources are first turned into
//! a list of `(controller, file, value)` writes by pure functions (unit-tested for both versions,
//! since this machine only has v1 controllers), then written. Only cgroups the runtime created
//! are ever removed; parents such as `/berth` are left in place.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use crate::error::{Error, Result};

/// One write into a cgroup file. `controller` picks the v1 hierarchy ("" for v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: &str, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.to_owned(),
        value: value.to_string(),
    }
}

/// A container's cgroup.
pub trait Cgroup {
    /// Create the cgroup (and its missing parents).
    fn create(&self) -> Result<()>;
    /// Move a process into it.
    fn add(&self, pid: i32) -> Result<()>;
    /// Apply resource limits.
    fn apply(&self, r: &LinuxResources) -> Result<()>;
    /// Pids of all processes in it.
    fn pids(&self) -> Result<Vec<i32>>;
    fn freeze(&self, frozen: bool) -> Result<()>;
    fn frozen(&self) -> bool;
    /// Remove it (it must be empty).
    fn destroy(&self) -> Result<()>;
    /// The directory to bind into the container for `controller` ("" on v2).
    fn dir(&self, controller: &str) -> Option<PathBuf>;
    /// v1 hierarchies as (mount point name, dir) pairs; empty on v2.
    fn hierarchies(&self) -> Vec<(String, PathBuf)>;
    fn is_v2(&self) -> bool;
}

/// Check and normalise a `cgroupsPath`: absolute, no `..`. A relative path is taken from the
/// hierarchy's root (runc takes it from its own cgroup, which may be another service's). A
/// systemd-style `slice:prefix:name` is, under this cgroupfs driver, a path like any other, as
/// runc's cgroupfs driver takes it: one directory of that name.
pub fn normalize(path: &str) -> Result<String> {
    if path.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::Cgroup(format!("invalid cgroups path {path:?}")));
    }
    let p = path.trim_matches('/');
    if p.is_empty() {
        return Err(Error::Cgroup(format!("invalid cgroups path {path:?}")));
    }
    Ok(format!("/{p}"))
}

/// Is the unified (v2-only) hierarchy mounted at /sys/fs/cgroup?
pub fn is_unified() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The cgroup at `path` on this host.
pub fn open(path: &str) -> Result<Box<dyn Cgroup>> {
    let path = normalize(path)?;
    if is_unified() {
        Ok(Box::new(V2 {
            dir: Path::new("/sys/fs/cgroup").join(&path[1..]),
        }))
    } else {
        Ok(Box::new(V1 {
            path,
            mounts: v1_mounts(),
        }))
    }
}

/// v1 hierarchies: (controllers, mount point), from /proc/self/mountinfo.
fn v1_mounts() -> Vec<(Vec<String>, PathBuf)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        if post.next() != Some("cgroup") {
            continue;
        }
        let superopts = post.nth(1).unwrap_or("");
        let Some(mnt) = pre.split(' ').nth(4) else {
            continue;
        };
        // Named hierarchies (`name=systemd`) hold no controller, but runc places containers
        // in them too (systemd and tools that read it expect to find them there).
        let ctrls: Vec<String> = superopts
            .split(',')
            .filter(|o| KNOWN_V1.contains(o) || o.starts_with("name="))
            .map(str::to_owned)
            .collect();
        if !ctrls.is_empty()
            && !out
                .iter()
                .any(|(_, m): &(Vec<String>, PathBuf)| m == Path::new(mnt))
        {
            out.push((ctrls, PathBuf::from(mnt)));
        }
    }
    out
}

const KNOWN_V1: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
];

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::Cgroup(format!("read {}: {e}", p.display())))
}

fn write(p: &Path, v: &str) -> Result<()> {
    std::fs::write(p, v).map_err(|e| Error::Cgroup(format!("write {v:?} to {}: {e}", p.display())))
}

fn procs_of(dir: &Path) -> Result<Vec<i32>> {
    Ok(read(&dir.join("cgroup.procs"))?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// Remove a cgroup dir; the kernel may need a moment after the last process exits.
fn rmdir_retry(dir: &Path) -> Result<()> {
    for i in 0..2500 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && i < 2499 => {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            Err(e) => return Err(Error::Cgroup(format!("remove {}: {e}", dir.display()))),
        }
    }
    Ok(())
}

fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let typ = d
        .typ()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_else(|| "a".into());
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "*".into());
    if typ == "a" && d.major().is_none() && d.minor().is_none() {
        return "a".into();
    }
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()))
}

/// Devices every container may use (as runc allows them): null, zero, full, random, urandom,
/// tty, ptmx, /dev/pts/*, and mknod of any device (creating a node does not open it).
pub const DEFAULT_DEVICE_RULES: [&str; 10] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// `pids.max` for a runtime-spec pids limit: none for 0 (unset), "max" for negative values.
fn pids_max(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".into()),
        l => Some(l.to_string()),
    }
}

/// The device rules of `r` in order, followed by the defaults every container gets (none when
/// `r` has no device rules at all).
pub fn device_rules(r: &LinuxResources) -> Vec<crate::devfilter::Rule> {
    let Some(devs) = r.devices().as_ref().filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    devs.iter()
        .filter_map(|d| crate::devfilter::parse(d.allow(), &device_rule(d)))
        .chain(
            DEFAULT_DEVICE_RULES
                .iter()
                .filter_map(|t| crate::devfilter::parse(true, t)),
        )
        .collect()
}

/// The v1 writes for `r`, in order.
pub fn v1_writes(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(devs) = r.devices() {
        for d in devs {
            let file = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            out.push(w("devices", file, device_rule(d)));
        }
        if !devs.is_empty() {
            for rule in DEFAULT_DEVICE_RULES {
                out.push(w("devices", "devices.allow", rule));
            }
        }
    }
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            out.push(w("memory", "memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap() {
            out.push(w("memory", "memory.memsw.limit_in_bytes", s));
        }
        if let Some(v) = m.kernel() {
            out.push(w("memory", "memory.kmem.limit_in_bytes", v));
        }
        if let Some(v) = m.kernel_tcp() {
            out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", v));
        }
        if let Some(v) = m.reservation() {
            out.push(w("memory", "memory.soft_limit_in_bytes", v));
        }
        if let Some(v) = m.swappiness().filter(|v| *v <= 100) {
            out.push(w("memory", "memory.swappiness", v));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.shares", v));
        }
        if let Some(v) = c.period().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_period_us", v));
        }
        if let Some(v) = c.quota().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_quota_us", v));
        }
        if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_period_us", v));
        }
        if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_runtime_us", v));
        }
        if let Some(v) = c.cpus().as_ref().filter(|v| !v.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", v));
        }
        if let Some(v) = c.mems().as_ref().filter(|v| !v.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", v));
        }
    }
    if let Some(v) = r.pids().and_then(|p| pids_max(p.limit())) {
        out.push(w("pids", "pids.max", v));
    }
    if let Some(b) = r.block_io() {
        // A weight of 0 means "not set" (Docker sends it).
        if let Some(v) = b.weight().filter(|v| *v != 0) {
            out.push(w("blkio", "blkio.weight", v));
        }
        if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
            out.push(w("blkio", "blkio.leaf_weight", v));
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(wt) = d.weight() {
                out.push(w(
                    "blkio",
                    "blkio.weight_device",
                    format!("{}:{} {wt}", d.major(), d.minor()),
                ));
            }
            if let Some(wt) = d.leaf_weight() {
                out.push(w(
                    "blkio",
                    "blkio.leaf_weight_device",
                    format!("{}:{} {wt}", d.major(), d.minor()),
                ));
            }
        }
        let thr = [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ];
        for (file, list) in thr {
            for d in list.iter().flatten() {
                out.push(w(
                    "blkio",
                    file,
                    format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                ));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w(
            "hugetlb",
            &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        ));
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            out.push(w("net_cls", "net_cls.classid", id));
        }
        for p in n.priorities().iter().flatten() {
            out.push(w(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            ));
        }
    }
    out
}

/// cgroup v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), as runc converts it.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + (shares.saturating_sub(2) * 9999) / 262_142
    }
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// The v2 writes for `r`, in order. Device rules need an eBPF program on v2 and are not
/// expressed as file writes (see [`V2::apply`]).
pub fn v2_writes(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            out.push(w(
                "",
                "memory.max",
                if l < 0 { "max".into() } else { l.to_string() },
            ));
            // v1's memsw is memory+swap; v2's swap.max is swap alone.
            if let Some(s) = m.swap() {
                let v = if s < 0 {
                    "max".into()
                } else {
                    (s - l.max(0)).max(0).to_string()
                };
                out.push(w("", "memory.swap.max", v));
            }
        }
        if let Some(v) = m.reservation() {
            out.push(w("", "memory.low", v));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|v| *v != 0) {
            out.push(w("", "cpu.weight", shares_to_weight(s)));
        }
        if c.quota().is_some() || c.period().is_some() {
            let q = c
                .quota()
                .filter(|q| *q > 0)
                .map(|q| q.to_string())
                .unwrap_or_else(|| "max".into());
            out.push(w(
                "",
                "cpu.max",
                format!("{q} {}", c.period().unwrap_or(100_000)),
            ));
        }
        if let Some(v) = c.idle() {
            out.push(w("", "cpu.idle", v));
        }
        if let Some(v) = c.cpus().as_ref().filter(|v| !v.is_empty()) {
            out.push(w("", "cpuset.cpus", v));
        }
        if let Some(v) = c.mems().as_ref().filter(|v| !v.is_empty()) {
            out.push(w("", "cpuset.mems", v));
        }
    }
    if let Some(v) = r.pids().and_then(|p| pids_max(p.limit())) {
        out.push(w("", "pids.max", v));
    }
    if let Some(b) = r.block_io() {
        if let Some(v) = b.weight() {
            out.push(w(
                "",
                "io.weight",
                format!("default {}", blkio_to_io_weight(v)),
            ));
        }
        let thr = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        for (key, list) in thr {
            for d in list.iter().flatten() {
                out.push(w(
                    "",
                    "io.max",
                    format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                ));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w("", &format!("hugetlb.{}.max", h.page_size()), h.limit()));
    }
    out
}

/// cgroup v1: one directory per hierarchy.
pub struct V1 {
    path: String,
    mounts: Vec<(Vec<String>, PathBuf)>,
}

impl V1 {
    fn dirs(&self) -> impl Iterator<Item = (&Vec<String>, PathBuf)> {
        self.mounts
            .iter()
            .map(|(c, m)| (c, m.join(&self.path[1..])))
    }
}

impl Cgroup for V1 {
    fn create(&self) -> Result<()> {
        for (ctrls, dir) in self.dirs() {
            if ctrls.iter().any(|c| c == "cpuset") {
                // A new cpuset cgroup starts empty and refuses tasks: copy the parent's sets down.
                let mut missing = Vec::new();
                let mut d = dir.as_path();
                while !d.exists() {
                    missing.push(d.to_owned());
                    d = d.parent().unwrap_or(Path::new("/"));
                }
                for m in missing.iter().rev() {
                    std::fs::create_dir(m)
                        .or_else(|e| if m.exists() { Ok(()) } else { Err(e) })
                        .map_err(|e| Error::Cgroup(format!("create {}: {e}", m.display())))?;
                    let parent = m.parent().unwrap_or(Path::new("/"));
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        if read(&m.join(f)).is_ok_and(|v| v.is_empty()) {
                            write(&m.join(f), &read(&parent.join(f))?)?;
                        }
                    }
                }
            } else {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::Cgroup(format!("create {}: {e}", dir.display())))?;
            }
        }
        Ok(())
    }

    fn add(&self, pid: i32) -> Result<()> {
        for (_, dir) in self.dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let writes = v1_writes(r);
        let mut i = 0;
        while i < writes.len() {
            let x = &writes[i];
            let Some(dir) = self.dir(x.controller) else {
                return Err(Error::Cgroup(format!(
                    "{} needs the {} controller, which is not mounted",
                    x.file, x.controller
                )));
            };
            let res = write(&dir.join(&x.file), &x.value);
            // Raising memory.limit above memsw (or lowering memsw below it) fails until the other
            // is written: write the pair in the other order.
            if res.is_err() && x.file == "memory.limit_in_bytes" {
                if let Some(next) = writes
                    .get(i + 1)
                    .filter(|n| n.file == "memory.memsw.limit_in_bytes")
                {
                    write(&dir.join(&next.file), &next.value)?;
                    write(&dir.join(&x.file), &x.value)?;
                    i += 2;
                    continue;
                }
            }
            if res.is_err()
                && x.file == "memory.memsw.limit_in_bytes"
                && !dir.join(&x.file).exists()
            {
                return Err(Error::Cgroup(
                    "memory swap limit set but swap accounting is disabled on this host".into(),
                ));
            }
            res?;
            i += 1;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let dir = self
            .dir("pids")
            .or_else(|| self.dir("memory"))
            .or_else(|| self.dirs().next().map(|(_, d)| d));
        match dir {
            Some(d) => procs_of(&d),
            None => Ok(Vec::new()),
        }
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let dir = self
            .dir("freezer")
            .ok_or_else(|| Error::Cgroup("the freezer controller is not mounted".into()))?;
        let want = if frozen { "FROZEN" } else { "THAWED" };
        for _ in 0..1000 {
            write(&dir.join("freezer.state"), want)?;
            if read(&dir.join("freezer.state"))? == want {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(Error::Cgroup(format!(
            "freezer of {} did not reach {want}",
            self.path
        )))
    }

    fn frozen(&self) -> bool {
        self.dir("freezer")
            .is_some_and(|d| read(&d.join("freezer.state")).is_ok_and(|s| s == "FROZEN"))
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for (_, dir) in self.dirs() {
            if let Err(e) = rmdir_retry(&dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn dir(&self, controller: &str) -> Option<PathBuf> {
        self.dirs()
            .find(|(c, _)| c.iter().any(|x| x == controller))
            .map(|(_, d)| d)
    }

    fn hierarchies(&self) -> Vec<(String, PathBuf)> {
        self.mounts
            .iter()
            .map(|(c, m)| {
                let name = m
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| c.join(","));
                (name, m.join(&self.path[1..]))
            })
            .collect()
    }

    fn is_v2(&self) -> bool {
        false
    }
}

/// cgroup v2: one directory.
pub struct V2 {
    dir: PathBuf,
}

impl Cgroup for V2 {
    fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::Cgroup(format!("create {}: {e}", self.dir.display())))?;
        // Enable the controllers the root offers in every ancestor below the root.
        let root = Path::new("/sys/fs/cgroup");
        let avail = read(&root.join("cgroup.controllers")).unwrap_or_default();
        let enable: String = avail.split_whitespace().map(|c| format!("+{c} ")).collect();
        let mut d = self.dir.parent();
        let mut ancestors = Vec::new();
        while let Some(p) = d.filter(|p| p.starts_with(root)) {
            ancestors.push(p.to_owned());
            d = p.parent();
        }
        for a in ancestors.iter().rev() {
            let _ = write(&a.join("cgroup.subtree_control"), enable.trim());
        }
        Ok(())
    }

    fn add(&self, pid: i32) -> Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        for x in v2_writes(r) {
            write(&self.dir.join(&x.file), &x.value)?;
        }
        // Device rules on v2 are an eBPF program attached to the cgroup.
        let rules = device_rules(r);
        if !rules.is_empty() {
            crate::devfilter::attach(&self.dir, &rules)?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        procs_of(&self.dir)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        write(
            &self.dir.join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
        )?;
        for _ in 0..1000 {
            if self.frozen() == frozen {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(Error::Cgroup(format!(
            "{} did not {}",
            self.dir.display(),
            if frozen { "freeze" } else { "thaw" }
        )))
    }

    fn frozen(&self) -> bool {
        read(&self.dir.join("cgroup.events")).is_ok_and(|e| e.lines().any(|l| l == "frozen 1"))
    }

    fn destroy(&self) -> Result<()> {
        rmdir_retry(&self.dir)
    }

    fn dir(&self, _controller: &str) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn hierarchies(&self) -> Vec<(String, PathBuf)> {
        Vec::new()
    }

    fn is_v2(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("resources")
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize("berth/x").ok().as_deref(), Some("/berth/x"));
        assert_eq!(normalize("/a/b/").ok().as_deref(), Some("/a/b"));
        assert!(normalize("/a/../b").is_err());
        assert!(normalize("").is_err());
        assert_eq!(
            normalize("machine.slice:libpod:abc").ok().as_deref(),
            Some("/machine.slice:libpod:abc")
        );
    }

    #[test]
    fn v1_maps_every_resource() {
        let r = res(
            r#"{"memory":{"limit":1048576,"swap":2097152,"reservation":1000,"swappiness":10},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
            "pids":{"limit":2048},
            "blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1024}]},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":200,"access":"rw"}]}"#,
        );
        let ws = v1_writes(&r);
        let has = |c: &str, f: &str, v: &str| {
            ws.iter()
                .any(|x| x.controller == c && x.file == f && x.value == v)
        };
        assert!(has("devices", "devices.deny", "a"));
        assert!(has("devices", "devices.allow", "c 10:200 rw"));
        assert!(has("devices", "devices.allow", "c 136:* rwm"));
        assert!(has("memory", "memory.limit_in_bytes", "1048576"));
        assert!(has("memory", "memory.memsw.limit_in_bytes", "2097152"));
        assert!(has("cpu", "cpu.shares", "512"));
        assert!(has("cpu", "cpu.cfs_quota_us", "50000"));
        assert!(has("cpuset", "cpuset.cpus", "0"));
        assert!(has("pids", "pids.max", "2048"));
        assert!(has("blkio", "blkio.weight", "500"));
        assert!(has("blkio", "blkio.throttle.read_bps_device", "8:0 1024"));
        // The period is written before the quota (a quota above the old period may be refused).
        let pos = |f: &str| ws.iter().position(|x| x.file == f);
        assert!(pos("cpu.cfs_period_us") < pos("cpu.cfs_quota_us"));
    }

    #[test]
    fn v2_converts_units() {
        let r = res(
            r#"{"memory":{"limit":1000,"swap":3000},"cpu":{"shares":1024,"quota":50000,"period":100000},
            "pids":{"limit":-1},"blockIO":{"weight":500,"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":10}]}}"#,
        );
        let ws = v2_writes(&r);
        let get = |f: &str| ws.iter().find(|x| x.file == f).map(|x| x.value.clone());
        assert_eq!(get("memory.max").as_deref(), Some("1000"));
        assert_eq!(get("memory.swap.max").as_deref(), Some("2000"));
        assert_eq!(get("cpu.weight").as_deref(), Some("39"));
        assert_eq!(get("cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(get("pids.max").as_deref(), Some("max"));
        assert_eq!(get("io.weight").as_deref(), Some("default 4950"));
        assert_eq!(get("io.max").as_deref(), Some("8:0 wiops=10"));
    }
}
