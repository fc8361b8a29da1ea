//! Container statistics in the Engine API's shape (`GET /containers/{id}/stats`), read from the
//! container's cgroup: v1 (`cpuacct`, `memory`, `pids`, `blkio` hierarchies) or v2 (one
//! directory), plus the host's CPU time from /proc/stat so every client can compute CPU%.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn num(p: &Path) -> u64 {
    read(p).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat).
fn kv(p: &Path) -> serde_json::Map<String, Value> {
    read(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), json!(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
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

/// One sample of the container's counters (cpu_stats, memory_stats, pids_stats, blkio_stats).
pub fn sample(cgroup_path: &str) -> Value {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        let d = Path::new("/sys/fs/cgroup").join(cgroup_path.trim_start_matches('/'));
        let cpu = kv(&d.join("cpu.stat"));
        let usage = cpu.get("usage_usec").and_then(Value::as_u64).unwrap_or(0) * 1000;
        let mem = kv(&d.join("memory.stat"));
        let limit = read(&d.join("memory.max"))
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        return json!({
            "cpu_stats": {
                "cpu_usage": {
                    "total_usage": usage,
                    "usage_in_kernelmode": cpu.get("system_usec").and_then(Value::as_u64).unwrap_or(0) * 1000,
                    "usage_in_usermode": cpu.get("user_usec").and_then(Value::as_u64).unwrap_or(0) * 1000,
                },
                "system_cpu_usage": system_cpu_ns(),
                "online_cpus": online_cpus(),
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
            },
            "memory_stats": {
                "usage": num(&d.join("memory.current")),
                "limit": limit.min(crate_mem_total()),
                "stats": mem,
            },
            "pids_stats": {"current": num(&d.join("pids.current")), "limit": read(&d.join("pids.max")).and_then(|s| s.trim().parse::<u64>().ok())},
            "blkio_stats": {"io_service_bytes_recursive": io_v2(&d.join("io.stat")), "io_serviced_recursive": null,
                "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
                "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
        });
    }
    let cpuacct = v1("cpuacct", cgroup_path);
    let mem = v1("memory", cgroup_path);
    let percpu: Vec<u64> = read(&cpuacct.join("cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let stat = kv(&cpuacct.join("cpuacct.stat"));
    let tick_ns = 10_000_000u64;
    let limit = num(&mem.join("memory.limit_in_bytes"));
    json!({
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": num(&cpuacct.join("cpuacct.usage")),
                "percpu_usage": percpu,
                "usage_in_kernelmode": stat.get("system").and_then(Value::as_u64).unwrap_or(0) * tick_ns,
                "usage_in_usermode": stat.get("user").and_then(Value::as_u64).unwrap_or(0) * tick_ns,
            },
            "system_cpu_usage": system_cpu_ns(),
            "online_cpus": online_cpus(),
            "throttling_data": kv(&v1("cpu", cgroup_path).join("cpu.stat")),
        },
        "memory_stats": {
            "usage": num(&mem.join("memory.usage_in_bytes")),
            "max_usage": num(&mem.join("memory.max_usage_in_bytes")),
            "failcnt": num(&mem.join("memory.failcnt")),
            "limit": limit.min(crate_mem_total()),
            "stats": kv(&mem.join("memory.stat")),
        },
        "pids_stats": {
            "current": num(&v1("pids", cgroup_path).join("pids.current")),
            "limit": read(&v1("pids", cgroup_path).join("pids.max")).and_then(|s| s.trim().parse::<u64>().ok()),
        },
        "blkio_stats": {
            "io_service_bytes_recursive": io_v1(&v1("blkio", cgroup_path).join("blkio.throttle.io_service_bytes_recursive")),
            "io_serviced_recursive": io_v1(&v1("blkio", cgroup_path).join("blkio.throttle.io_serviced_recursive")),
            "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
            "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null,
        },
    })
}

/// Docker reports a limit above the host's memory as the host's memory.
fn crate_mem_total() -> u64 {
    read(Path::new("/proc/meminfo"))
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// `MAJ:MIN Read 123` lines → `[{"major","minor","op","value"}]`.
fn io_v1(p: &Path) -> Value {
    let items: Vec<Value> = read(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let dev = f.next()?;
            let op = f.next()?;
            let value: u64 = f.next()?.parse().ok()?;
            let (maj, min) = dev.split_once(':')?;
            Some(json!({"major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?, "op": op, "value": value}))
        })
        .collect();
    if items.is_empty() {
        Value::Null
    } else {
        Value::from(items)
    }
}

/// `MAJ:MIN rbytes=… wbytes=…` → Docker's read/write entries.
fn io_v2(p: &Path) -> Value {
    let mut items = Vec::new();
    for l in read(p).unwrap_or_default().lines() {
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
            items.push(json!({"major": maj.parse::<u64>().unwrap_or(0), "minor": min.parse::<u64>().unwrap_or(0), "op": op, "value": v.parse::<u64>().unwrap_or(0)}));
        }
    }
    if items.is_empty() {
        Value::Null
    } else {
        Value::from(items)
    }
}
