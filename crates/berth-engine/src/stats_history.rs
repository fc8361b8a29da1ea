//! The stats history: every running container sampled each `interval` (one pass over all,
//! [`crate::metrics`]) into SQLite (`stats_samples` in berth.db), kept for `retention`;
//! a container's samples go with it. Read back as points with CPU % between neighbours.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_models::stats::HistoryPoint;

use crate::db;
use crate::metrics::Sample;
use crate::{Engine, Error, Result};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS stats_samples (
    id TEXT NOT NULL, t REAL NOT NULL, cpu_ns INTEGER NOT NULL, mem_usage INTEGER NOT NULL,
    mem_ws INTEGER NOT NULL, mem_limit INTEGER NOT NULL, pids INTEGER NOT NULL,
    blk_read INTEGER NOT NULL, blk_write INTEGER NOT NULL, net_rx INTEGER NOT NULL,
    net_tx INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS stats_samples_id_t ON stats_samples(id, t);
CREATE INDEX IF NOT EXISTS stats_samples_t ON stats_samples(t);";

/// How often and for how long (daemon.json `stats-interval`, `stats-retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Zero: no sampling.
    pub interval: Duration,
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(10),
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

pub struct History {
    db: Mutex<rusqlite::Connection>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl History {
    pub fn open(data_root: &std::path::Path) -> Result<History> {
        Ok(History {
            db: db::open(data_root, SCHEMA)?,
        })
    }

    /// Store one pass taken at `t` (Unix seconds) and drop what is older than `keep_from`.
    pub fn record(&self, t: f64, samples: &[Sample], keep_from: f64) -> Result<()> {
        let mut db = db::lock(&self.db);
        let tx = db.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO stats_samples VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for s in samples {
                let rx: u64 = s.net.iter().map(|n| n.rx_bytes).sum();
                let txb: u64 = s.net.iter().map(|n| n.tx_bytes).sum();
                ins.execute(rusqlite::params![
                    s.id,
                    t,
                    i(s.cpu_ns),
                    i(s.memory_usage),
                    i(s.memory_working_set),
                    i(s.memory_limit),
                    i(s.pids),
                    i(s.blk_read),
                    i(s.blk_write),
                    i(rx),
                    i(txb)
                ])?;
            }
        }
        tx.execute("DELETE FROM stats_samples WHERE t < ?1", [keep_from])?;
        tx.commit()?;
        Ok(())
    }

    /// A removed container's samples.
    pub fn forget(&self, id: &str) {
        let db = db::lock(&self.db);
        if let Err(e) = db.execute("DELETE FROM stats_samples WHERE id = ?1", [id]) {
            tracing::warn!("stats history: forget {id}: {e}");
        }
    }

    /// The points of container `id` from `since` (Unix seconds) on, oldest first; CPU % is
    /// of one CPU, between a point and the one before it (the first point read has none
    /// before it unless an earlier sample exists).
    pub fn points(&self, id: &str, since: f64) -> Result<Vec<HistoryPoint>> {
        let db = db::lock(&self.db);
        // One sample before `since` too: the first point's CPU % needs it.
        let mut q = db.prepare_cached(
            "SELECT t, cpu_ns, mem_usage, mem_ws, mem_limit, pids, blk_read, blk_write, net_rx, net_tx
             FROM stats_samples WHERE id = ?1 AND t >= COALESCE(
               (SELECT MAX(t) FROM stats_samples WHERE id = ?1 AND t < ?2), ?2)
             ORDER BY t",
        )?;
        let rows = q.query_map(rusqlite::params![id, since], |r| {
            Ok((
                r.get::<_, f64>(0)?,
                [
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ],
            ))
        })?;
        let mut out = Vec::new();
        let mut prev: Option<(f64, i64)> = None;
        for row in rows {
            let (t, v) = row?;
            let cpu = prev.map(|(pt, pc)| {
                let dt = t - pt;
                if dt > 0.0 {
                    ((v[0] - pc).max(0) as f64 / (dt * 1e9)) * 100.0
                } else {
                    0.0
                }
            });
            prev = Some((t, v[0]));
            if t < since {
                continue;
            }
            let u = |x: i64| u64::try_from(x).unwrap_or(0);
            out.push(HistoryPoint {
                time: berth_units::rfc3339_nano(t.floor() as i64, ((t.fract()) * 1e9) as u32),
                cpu_percent: cpu.unwrap_or(0.0),
                cpu_total_ns: u(v[0]),
                memory_usage: u(v[1]),
                memory_working_set: u(v[2]),
                memory_limit: u(v[3]),
                pids: u(v[4]),
                blk_read: u(v[5]),
                blk_write: u(v[6]),
                net_rx: u(v[7]),
                net_tx: u(v[8]),
            });
        }
        Ok(out)
    }
}

/// `since` as Unix seconds: a Go duration back from now (`1h`, `90s`), Unix seconds or
/// RFC 3339; empty: everything kept.
pub fn parse_since(since: &str) -> Result<f64> {
    if since.is_empty() {
        return Ok(0.0);
    }
    if let Some(ns) = berth_units::parse_go_duration(since) {
        return Ok(unix_now() - ns as f64 / 1e9);
    }
    if let Ok(n) = since.parse::<f64>() {
        return Ok(n);
    }
    berth_units::parse_rfc3339(since)
        .map(|s| s as f64)
        .ok_or_else(|| {
            Error::InvalidParameter(format!(
                "invalid since {since:?}: a duration (1h, 30m), Unix seconds or an RFC 3339 time"
            ))
        })
}

impl Engine {
    /// Start the sampler thread (once per daemon) with `settings`; a reload may change them
    /// (an interval of zero: no sampling until it is set).
    pub fn sample_stats(self: &Arc<Self>, settings: Settings) {
        self.live.set_history(settings);
        let e = self.clone();
        std::thread::spawn(move || {
            loop {
                let settings = e.live.history();
                if settings.interval.is_zero() {
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                std::thread::sleep(settings.interval);
                let t = unix_now();
                let pass = e.sample_containers().and_then(|(samples, _)| {
                    let keep_from = t - settings.retention.as_secs_f64();
                    e.history.record(t, &samples, keep_from)
                });
                if let Err(err) = pass {
                    tracing::warn!("stats history: {err}");
                }
            }
        });
    }

    /// `GET /containers/{id}/stats/history`.
    pub fn stats_history(&self, name: &str, since: &str) -> Result<Vec<HistoryPoint>> {
        let since = parse_since(since)?;
        let id = self.containers.resolve(name)?;
        self.history.points(&id, since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_come_back_with_cpu_percent_and_go_with_retention_and_removal() {
        let dir = tempfile::tempdir().expect("dir");
        let h = History::open(dir.path()).expect("open");
        let s = |id: &str, cpu: u64| Sample {
            id: id.into(),
            cpu_ns: cpu,
            memory_usage: 100,
            ..Default::default()
        };
        h.record(1000.0, &[s("a", 0), s("b", 5)], 0.0)
            .expect("record");
        h.record(1010.0, &[s("a", 5_000_000_000)], 0.0)
            .expect("record");
        h.record(1020.0, &[s("a", 5_000_000_000)], 0.0)
            .expect("record");
        let p = h.points("a", 0.0).expect("points");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].cpu_percent, 0.0);
        assert!(
            (p[1].cpu_percent - 50.0).abs() < 1e-9,
            "{}",
            p[1].cpu_percent
        );
        assert_eq!(p[2].cpu_percent, 0.0);
        // From 1005 on: the point at 1010 keeps its CPU % (the one before it is read).
        let p = h.points("a", 1005.0).expect("points");
        assert_eq!(p.len(), 2);
        assert!((p[0].cpu_percent - 50.0).abs() < 1e-9);
        // Retention drops the old; removal drops the container's.
        h.record(1030.0, &[], 1015.0).expect("record");
        assert_eq!(h.points("a", 0.0).expect("points").len(), 1);
        assert!(h.points("b", 0.0).expect("points").is_empty());
        h.forget("a");
        assert!(h.points("a", 0.0).expect("points").is_empty());
        assert!(parse_since("1h").expect("since") > 0.0);
        assert!(parse_since("yesterday").is_err());
    }
}
