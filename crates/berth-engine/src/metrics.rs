//! What the daemon measures, typed: one pass over every live container's cgroup files and
//! network counters (for `/metrics` and the stats history alike), the engine's counters
//! (image pulls), container counts by state. Rendering them (Prometheus' text) is the API's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::containers::Status;
use crate::{Engine, Result};

/// One live container's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub id: String,
    /// Without the slash.
    pub name: String,
    /// The image as the container was created from it (a name, or an id).
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub paused: bool,
    /// Unix seconds.
    pub started: f64,
    pub cpu_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    pub memory_usage: u64,
    /// Usage less inactive file pages (cAdvisor's working set).
    pub memory_working_set: u64,
    /// The container's memory limit (0: none).
    pub memory_limit: u64,
    pub pids: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub net: Vec<Interface>,
}

/// An interface's counters (not `lo`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// The engine's own counters, counted as things happen.
#[derive(Debug, Default)]
pub struct Counters {
    pub pulls: AtomicU64,
    pub pull_failures: AtomicU64,
}

impl Counters {
    pub fn pulled(&self, ok: bool) {
        if ok { &self.pulls } else { &self.pull_failures }.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything `/metrics` shows of the engine.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Unix seconds when the pass began.
    pub time: f64,
    pub containers: Vec<Sample>,
    /// Containers by state (`running`, `paused`, `exited`, …), every state present.
    pub states: BTreeMap<String, u64>,
    pub images: u64,
    pub pulls: u64,
    pub pull_failures: u64,
    pub build_cache_entries: u64,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn num(p: &Path) -> u64 {
    read(p).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// The cgroup counters of `path` (relative to each hierarchy), v1 or v2.
fn cgroup_counters(path: &str, s: &mut Sample) {
    let rel = path.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    if crate::stats::is_v2() {
        let d = root.join(rel);
        let cpu = crate::stats::kv(&read(&d.join("cpu.stat")).unwrap_or_default());
        let g = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
        (s.cpu_ns, s.cpu_user_ns, s.cpu_system_ns) =
            (g("usage_usec"), g("user_usec"), g("system_usec"));
        s.memory_usage = num(&d.join("memory.current"));
        let m = crate::stats::kv(&read(&d.join("memory.stat")).unwrap_or_default());
        let inactive = m.get("inactive_file").copied().unwrap_or(0);
        s.memory_working_set = s.memory_usage.saturating_sub(inactive);
        s.pids = num(&d.join("pids.current"));
        for e in
            crate::stats::io_v2(&read(&d.join("io.stat")).unwrap_or_default()).unwrap_or_default()
        {
            match e.op.as_str() {
                "read" => s.blk_read += e.value,
                "write" => s.blk_write += e.value,
                _ => {}
            }
        }
        return;
    }
    let cpuacct = root.join("cpuacct").join(rel);
    s.cpu_ns = num(&cpuacct.join("cpuacct.usage"));
    let stat = crate::stats::kv(&read(&cpuacct.join("cpuacct.stat")).unwrap_or_default());
    let tick_ns = 10_000_000u64; // USER_HZ 100
    s.cpu_user_ns = stat.get("user").copied().unwrap_or(0) * tick_ns;
    s.cpu_system_ns = stat.get("system").copied().unwrap_or(0) * tick_ns;
    let mem = root.join("memory").join(rel);
    s.memory_usage = num(&mem.join("memory.usage_in_bytes"));
    let m = crate::stats::kv(&read(&mem.join("memory.stat")).unwrap_or_default());
    let inactive = m.get("total_inactive_file").copied().unwrap_or(0);
    s.memory_working_set = s.memory_usage.saturating_sub(inactive);
    s.pids = num(&root.join("pids").join(rel).join("pids.current"));
    let blkio = root
        .join("blkio")
        .join(rel)
        .join("blkio.throttle.io_service_bytes_recursive");
    for e in crate::stats::io_v1(&read(&blkio).unwrap_or_default()).unwrap_or_default() {
        match e.op.as_str() {
            "Read" => s.blk_read += e.value,
            "Write" => s.blk_write += e.value,
            _ => {}
        }
    }
}

/// The interfaces of the network namespace process `pid` is in (`lo` aside).
pub fn interfaces(pid: i64) -> Vec<Interface> {
    let text = read(Path::new(&format!("/proc/{pid}/net/dev"))).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let n: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if name == "lo" || n.len() < 12 {
            continue;
        }
        out.push(Interface {
            name: name.to_owned(),
            rx_bytes: n[0],
            rx_packets: n[1],
            tx_bytes: n[8],
            tx_packets: n[9],
        });
    }
    out
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Engine {
    /// One pass over every live (running or paused) container.
    pub fn sample_containers(&self) -> Result<(Vec<Sample>, BTreeMap<String, u64>)> {
        let c = &self.containers;
        let mut out = Vec::new();
        let mut states: BTreeMap<String, u64> = BTreeMap::new();
        for rec in c.records()? {
            let st = c.state_of(&rec);
            *states.entry(st.status.to_string()).or_default() += 1;
            if !st.alive() || st.pid <= 0 {
                continue;
            }
            let mut s = Sample {
                id: rec.id.clone(),
                name: rec.short_name().to_owned(),
                image: rec.config.image.clone(),
                labels: rec.config.labels.clone().unwrap_or_default(),
                paused: st.status == Status::Paused,
                started: berth_units::parse_rfc3339(&st.started_at).unwrap_or(0) as f64,
                memory_limit: u64::try_from(rec.host_config.resources.memory).unwrap_or(0),
                ..Default::default()
            };
            cgroup_counters(&c.cgroup_of(&rec.id), &mut s);
            s.net = interfaces(st.pid);
            out.push(s);
        }
        Ok((out, states))
    }

    /// What `/metrics` shows.
    pub fn metrics(&self) -> Result<Snapshot> {
        let time = unix_now();
        let (containers, mut states) = self.sample_containers()?;
        for s in [
            "created",
            "running",
            "paused",
            "restarting",
            "exited",
            "dead",
        ] {
            states.entry(s.to_owned()).or_default();
        }
        let cache_dir = self.images.root().join("buildcache");
        Ok(Snapshot {
            time,
            containers,
            states,
            images: self.images.list().map_or(0, |l| l.len() as u64),
            pulls: self.counters.pulls.load(Ordering::Relaxed),
            pull_failures: self.counters.pull_failures.load(Ordering::Relaxed),
            build_cache_entries: std::fs::read_dir(cache_dir)
                .map_or(0, |d| d.flatten().count() as u64),
        })
    }
}
