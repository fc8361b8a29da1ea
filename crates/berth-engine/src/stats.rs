//! Container statistics (`GET /containers/{id}/stats`), read from the container's cgroup:
//! v1 (`cpuacct`, `memory`, `pids`, `blkio` hierarchies) or v2 (one directory), plus the
//! host's CPU time from /proc/stat so every client can compute CPU%.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_models::stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, PidsStats, Stats, ThrottlingData,
};

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn num(p: &Path) -> u64 {
    read(p).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat).
pub fn kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse::<u64>().ok()?))
        })
        .collect()
}

fn kv_file(p: &Path) -> BTreeMap<String, u64> {
    kv(&read(p).unwrap_or_default())
}

/// Host CPU time in nanoseconds (the `cpu` line of /proc/stat), as dockerd reports
/// `system_cpu_usage`.
pub fn system_cpu_ns() -> u64 {
    let tick = 100u64; // USER_HZ: 100 on Linux (sysconf(_SC_CLK_TCK))
    read(Path::new("/proc/stat"))
        .and_then(|s| {
            let l = s.lines().next()?.to_owned();
            let total: u64 = l
                .split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum();
            Some(total * (1_000_000_000 / tick))
        })
        .unwrap_or(0)
}

fn online_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Where a cgroup lives: `/sys/fs/cgroup/<controller>/<path>` on v1 (the `cpu` hierarchy is
/// often co-mounted with `cpuacct`), `/sys/fs/cgroup/<path>` on v2.
fn v1(controller: &str, path: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}

/// Docker reports a limit above the host's memory as the host's memory.
fn mem_total() -> u64 {
    read(Path::new("/proc/meminfo"))
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// Is /sys/fs/cgroup one v2 hierarchy (else: v1 controllers, maybe v2 beside them)?
pub fn is_v2() -> bool {
    static V2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V2.get_or_init(|| Path::new("/sys/fs/cgroup/cgroup.controllers").exists())
}

/// One sample of the container's counters.
pub fn sample(cgroup_path: &str) -> Stats {
    if is_v2() {
        let d = Path::new("/sys/fs/cgroup").join(cgroup_path.trim_start_matches('/'));
        let cpu = kv_file(&d.join("cpu.stat"));
        let g = |k: &str| cpu.get(k).copied().unwrap_or(0);
        let limit = read(&d.join("memory.max"))
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        return Stats {
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: g("usage_usec") * 1000,
                    percpu_usage: None,
                    usage_in_kernelmode: g("system_usec") * 1000,
                    usage_in_usermode: g("user_usec") * 1000,
                },
                system_cpu_usage: system_cpu_ns(),
                online_cpus: online_cpus(),
                throttling_data: ThrottlingData {
                    periods: g("nr_periods"),
                    throttled_periods: g("nr_throttled"),
                    throttled_time: g("throttled_usec") * 1000,
                },
            },
            memory_stats: MemoryStats {
                usage: num(&d.join("memory.current")),
                limit: limit.min(mem_total()),
                stats: kv_file(&d.join("memory.stat")),
                ..Default::default()
            },
            pids_stats: PidsStats {
                current: num(&d.join("pids.current")),
                limit: read(&d.join("pids.max")).and_then(|s| s.trim().parse::<u64>().ok()),
            },
            blkio_stats: BlkioStats {
                io_service_bytes_recursive: io_v2(&read(&d.join("io.stat")).unwrap_or_default()),
                ..Default::default()
            },
            ..Default::default()
        };
    }
    let cpuacct = v1("cpuacct", cgroup_path);
    let mem = v1("memory", cgroup_path);
    let percpu: Vec<u64> = read(&cpuacct.join("cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let stat = kv_file(&cpuacct.join("cpuacct.stat"));
    let tick_ns = 10_000_000u64;
    let throttle = kv_file(&v1("cpu", cgroup_path).join("cpu.stat"));
    let t = |k: &str| throttle.get(k).copied().unwrap_or(0);
    let blkio = v1("blkio", cgroup_path);
    Stats {
        cpu_stats: CpuStats {
            cpu_usage: CpuUsage {
                total_usage: num(&cpuacct.join("cpuacct.usage")),
                percpu_usage: (!percpu.is_empty()).then_some(percpu),
                usage_in_kernelmode: stat.get("system").copied().unwrap_or(0) * tick_ns,
                usage_in_usermode: stat.get("user").copied().unwrap_or(0) * tick_ns,
            },
            system_cpu_usage: system_cpu_ns(),
            online_cpus: online_cpus(),
            throttling_data: ThrottlingData {
                periods: t("nr_periods"),
                throttled_periods: t("nr_throttled"),
                throttled_time: t("throttled_time"),
            },
        },
        memory_stats: MemoryStats {
            usage: num(&mem.join("memory.usage_in_bytes")),
            max_usage: num(&mem.join("memory.max_usage_in_bytes")),
            failcnt: num(&mem.join("memory.failcnt")),
            limit: num(&mem.join("memory.limit_in_bytes")).min(mem_total()),
            stats: kv_file(&mem.join("memory.stat")),
        },
        pids_stats: PidsStats {
            current: num(&v1("pids", cgroup_path).join("pids.current")),
            limit: read(&v1("pids", cgroup_path).join("pids.max"))
                .and_then(|s| s.trim().parse::<u64>().ok()),
        },
        blkio_stats: BlkioStats {
            io_service_bytes_recursive: io_v1(
                &read(&blkio.join("blkio.throttle.io_service_bytes_recursive")).unwrap_or_default(),
            ),
            io_serviced_recursive: io_v1(
                &read(&blkio.join("blkio.throttle.io_serviced_recursive")).unwrap_or_default(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `MAJ:MIN Read 123` lines → entries (None when there are none, as dockerd sends null).
pub fn io_v1(text: &str) -> Option<Vec<BlkioEntry>> {
    let items: Vec<BlkioEntry> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (maj, min) = f.next()?.split_once(':')?;
            let op = f.next()?;
            let value: u64 = f.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: op.to_owned(),
                value,
            })
        })
        .collect();
    (!items.is_empty()).then_some(items)
}

/// `MAJ:MIN rbytes=… wbytes=…` → Docker's read/write entries.
pub fn io_v2(text: &str) -> Option<Vec<BlkioEntry>> {
    let mut items = Vec::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        for kvp in f {
            let (k, v) = kvp.split_once('=').unwrap_or((kvp, "0"));
            let op = match k {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            items.push(BlkioEntry {
                major: maj.parse().unwrap_or(0),
                minor: min.parse().unwrap_or(0),
                op: op.to_owned(),
                value: v.parse().unwrap_or(0),
            });
        }
    }
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_files_parse() {
        let m = kv("cache 10\nrss 20\nbad line\n");
        assert_eq!(m.get("rss"), Some(&20));
        assert_eq!(m.len(), 2);
        let v1 = io_v1("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n").expect("entries");
        assert_eq!(v1.len(), 2);
        assert_eq!(
            (v1[0].major, v1[0].op.as_str(), v1[0].value),
            (8, "Read", 4096)
        );
        assert!(io_v1("").is_none());
        let v2 = io_v2("259:0 rbytes=100 wbytes=200 rios=1\n").expect("entries");
        assert_eq!(v2.len(), 2);
        assert_eq!((v2[1].op.as_str(), v2[1].value), ("write", 200));
        assert!(system_cpu_ns() > 0);
    }
}
