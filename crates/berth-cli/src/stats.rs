//! `stats`: CPU%, memory, network and block I/O, pids, computed from the API's samples as
//! every docker client computes them.

use anyhow::{Result, anyhow};
use berth_models::container::Summary;
use berth_models::stats::{HistoryPoint, Stats};
use clap::Args;
use serde::Serialize;

use crate::output::{print_formatted, short_id};
use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show the daemon's sampled history from this long ago (1h, 30m), Unix seconds or an
    /// RFC 3339 time, instead of live samples
    #[arg(long)]
    since: Option<String>,
    containers: Vec<String>,
}

/// `docker stats`' table: the columns shown by default, and every field a template may name.
const DEFAULT_COLUMNS: [(&str, &str); 8] = [
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];
const COLUMNS: [(&str, &str); 9] = [
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One row of `stats --since`: a sampled point of one container.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    pub time: String,
    #[serde(flatten)]
    pub row: Row,
}

fn history_row(p: &HistoryPoint, id: &str, name: &str, no_trunc: bool) -> HistoryRow {
    let used = p.memory_working_set as f64;
    let limit = p.memory_limit as f64;
    let id = short_id(id, no_trunc);
    let row = Row {
        container: id.clone(),
        id,
        name: name.trim_start_matches('/').to_owned(),
        cpu_perc: format!("{:.2}%", p.cpu_percent),
        mem_usage: if limit > 0.0 {
            format!(
                "{} / {}",
                crate::units::bytes_size(used),
                crate::units::bytes_size(limit)
            )
        } else {
            crate::units::bytes_size(used)
        },
        mem_perc: if limit > 0.0 {
            format!("{:.2}%", used / limit * 100.0)
        } else {
            "--".into()
        },
        net_io: format!(
            "{} / {}",
            crate::units::human_size(p.net_rx as f64),
            crate::units::human_size(p.net_tx as f64)
        ),
        block_io: format!(
            "{} / {}",
            crate::units::human_size(p.blk_read as f64),
            crate::units::human_size(p.blk_write as f64)
        ),
        pids: p.pids.to_string(),
    };
    HistoryRow {
        time: p.time.get(..19).unwrap_or(&p.time).replace('T', " "),
        row,
    }
}

/// `stats --since`: the history of each container, oldest first.
fn history(
    rt: &tokio::runtime::Runtime,
    c: &berth_client::Client,
    a: &StatsArgs,
    since: &str,
) -> Result<i32> {
    let list: Vec<Summary> = rt.block_on(c.get("/containers/json?all=1"))?;
    let wanted: Vec<(String, String)> = if a.containers.is_empty() {
        list.iter()
            .filter(|s| a.all || s.state == "running")
            .map(|s| (s.id.clone(), s.names.first().cloned().unwrap_or_default()))
            .collect()
    } else {
        let mut v = Vec::new();
        for n in &a.containers {
            let i: berth_models::container::Inspect =
                match rt.block_on(c.get(&format!("/containers/{n}/json"))) {
                    Ok(i) => i,
                    Err(e) => {
                        eprintln!("{}", crate::describe(&e.into()));
                        return Ok(1);
                    }
                };
            v.push((i.id, i.name));
        }
        v
    };
    let q = berth_client::query(&[("since", since)]);
    let mut rows = Vec::new();
    for (id, name) in wanted {
        let points: Vec<HistoryPoint> =
            match rt.block_on(c.get(&format!("/containers/{id}/stats/history{q}"))) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{}", crate::describe(&e.into()));
                    return Ok(1);
                }
            };
        rows.extend(
            points
                .iter()
                .map(|p| history_row(p, &id, &name, a.no_trunc)),
        );
    }
    print_formatted(
        a.format.as_deref(),
        &[&[("Time", "TIME")], &DEFAULT_COLUMNS[..]].concat(),
        &[&[("Time", "TIME")], &COLUMNS[..]].concat(),
        &rows,
    )?;
    Ok(0)
}

/// One `docker stats` row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    #[serde(rename = "ID")]
    pub id: String,
    pub container: String,
    pub name: String,
    #[serde(rename = "CPUPerc")]
    pub cpu_perc: String,
    pub mem_usage: String,
    pub mem_perc: String,
    #[serde(rename = "NetIO")]
    pub net_io: String,
    #[serde(rename = "BlockIO")]
    pub block_io: String,
    #[serde(rename = "PIDs")]
    pub pids: String,
}

/// One row from an API sample.
pub fn stats_row(s: &Stats, no_trunc: bool) -> Row {
    let (cpu, pre) = (&s.cpu_stats, &s.precpu_stats);
    let cpu_delta = cpu.cpu_usage.total_usage as f64 - pre.cpu_usage.total_usage as f64;
    let sys_delta = cpu.system_cpu_usage as f64 - pre.system_cpu_usage as f64;
    let ncpu = if cpu.online_cpus > 0 {
        cpu.online_cpus as f64
    } else {
        1.0
    };
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * ncpu * 100.0
    } else {
        0.0
    };
    let m = &s.memory_stats;
    // Docker subtracts the page cache: total_inactive_file (v1) or inactive_file (v2).
    let cache = m
        .stats
        .get("total_inactive_file")
        .or(m.stats.get("inactive_file"))
        .copied()
        .unwrap_or(0) as f64;
    let used = (m.usage as f64 - cache).max(0.0);
    let limit = m.limit as f64;
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_lowercase().as_str() {
            "read" => rd += e.value as f64,
            "write" => wr += e.value as f64,
            _ => {}
        }
    }
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|n| n.values()) {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    let id = short_id(&s.id, no_trunc);
    Row {
        container: id.clone(),
        id,
        name: s.name.trim_start_matches('/').to_owned(),
        cpu_perc: format!("{cpu_pct:.2}%"),
        mem_usage: format!(
            "{} / {}",
            crate::units::bytes_size(used),
            crate::units::bytes_size(limit)
        ),
        mem_perc: format!("{mem_pct:.2}%"),
        net_io: format!(
            "{} / {}",
            crate::units::human_size(rx),
            crate::units::human_size(tx)
        ),
        block_io: format!(
            "{} / {}",
            crate::units::human_size(rd),
            crate::units::human_size(wr)
        ),
        pids: s.pids_stats.current.to_string(),
    }
}

pub fn stats(g: &Global, a: StatsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    if let Some(since) = &a.since {
        return history(&rt, &c, &a, since);
    }
    loop {
        let names: Vec<String> = if a.containers.is_empty() {
            let list: Vec<Summary> = rt.block_on(c.get(if a.all {
                "/containers/json?all=1"
            } else {
                "/containers/json"
            }))?;
            list.into_iter().map(|s| s.id).collect()
        } else {
            a.containers.clone()
        };
        // Samples of all containers are taken at once (each takes a second).
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let c = c.clone();
                let path = format!("/containers/{n}/stats?stream=false");
                rt.spawn(async move { c.get::<Stats>(&path).await })
            })
            .collect();
        let mut rows = Vec::new();
        for h in handles {
            match rt.block_on(h).map_err(|e| anyhow!("stats: {e}"))? {
                Ok(s) => rows.push(stats_row(&s, a.no_trunc)),
                Err(e) => {
                    eprintln!("{}", crate::describe(&e.into()));
                    return Ok(1);
                }
            }
        }
        if !a.no_stream {
            // Clear the screen and home the cursor, as docker stats does.
            print!("\x1b[2J\x1b[H");
        }
        print_formatted(a.format.as_deref(), &DEFAULT_COLUMNS, &COLUMNS, &rows)?;
        if a.no_stream {
            return Ok(0);
        }
    }
}
