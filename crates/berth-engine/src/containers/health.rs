//! Health checks (`HEALTHCHECK`, `--health-*`): each due check runs in the container through
//! the runtime's `exec`, with its timeout; `health_status` changes are events. The state lives
//! in memory: a restarted daemon starts again from `starting`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_models::container::{Health as HealthState, HealthcheckResult};

use super::{Containers, Record, State, Status};
use crate::db::guard;
use crate::time::now_rfc3339;

/// A container's health as the engine tracks it.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub status: &'static str,
    pub failing_streak: i64,
    pub log: VecDeque<HealthcheckResult>,
    next_check: Option<Instant>,
    started: Option<Instant>,
    running_check: bool,
}

/// The check's command line (`CMD-SHELL …` through `/bin/sh -c`), or None without a check.
pub fn check_command(rec: &Record) -> Option<Vec<String>> {
    let test = rec.config.healthcheck.as_ref()?.test.clone()?;
    match test.first().map(String::as_str) {
        None | Some("NONE") => None,
        Some("CMD-SHELL") => Some(vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]),
        Some("CMD") => Some(test[1..].to_vec()),
        Some(_) => Some(test),
    }
}

fn nanos(n: i64, default: u64) -> Duration {
    Duration::from_nanos(u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(default))
}

impl Containers {
    /// `State.Health` for a container with a health check.
    pub fn health_of(&self, rec: &Record, st: &State) -> Option<HealthState> {
        check_command(rec)?;
        let h = guard(&self.health).get(&rec.id).cloned();
        let running = st.status == Status::Running;
        Some(match h {
            Some(h) => HealthState {
                status: if running { h.status } else { "unhealthy" }.into(),
                failing_streak: h.failing_streak,
                log: h.log.into_iter().collect(),
            },
            None => HealthState {
                status: if running { "starting" } else { "unhealthy" }.into(),
                failing_streak: 0,
                log: Vec::new(),
            },
        })
    }

    /// Run due health checks of running containers (each in its own thread, with its
    /// timeout); report `health_status` changes as events.
    pub fn run_health_checks(self: &Arc<Self>) {
        for rec in self.records().unwrap_or_default() {
            let Some(cmd) = check_command(&rec) else {
                continue;
            };
            if self.state_of(&rec).status != Status::Running {
                continue;
            }
            let hc = rec.config.healthcheck.clone().unwrap_or_default();
            let interval = nanos(hc.interval, 30_000_000_000);
            let now = Instant::now();
            {
                let mut all = guard(&self.health);
                let h = all.entry(rec.id.clone()).or_insert_with(|| Health {
                    status: "starting",
                    next_check: Some(now + interval),
                    started: Some(now),
                    ..Default::default()
                });
                if h.running_check || h.next_check.is_some_and(|t| t > now) {
                    continue;
                }
                h.running_check = true;
            }
            let timeout = nanos(hc.timeout, 30_000_000_000);
            let retries = if hc.retries > 0 { hc.retries } else { 3 };
            let start_period = nanos(hc.start_period, 0);
            let me = self.clone();
            let id = rec.id.clone();
            std::thread::spawn(move || {
                let process = berth_models::exec::CreateRequest {
                    cmd: Some(cmd),
                    ..Default::default()
                };
                let start = now_rfc3339();
                let (code, output) = match me.exec_command(&id, &process) {
                    Ok(mut c) => run_with_timeout(&mut c, timeout),
                    Err(e) => (-1, e.to_string()),
                };
                let mut all = guard(&me.health);
                let Some(h) = all.get_mut(&id) else { return };
                h.running_check = false;
                h.next_check = Some(Instant::now() + interval);
                h.log.push_back(HealthcheckResult {
                    start,
                    end: now_rfc3339(),
                    exit_code: code,
                    output,
                });
                while h.log.len() > 5 {
                    h.log.pop_front();
                }
                let before = h.status;
                if code == 0 {
                    h.failing_streak = 0;
                    h.status = "healthy";
                } else {
                    h.failing_streak += 1;
                    let in_start = h.started.is_some_and(|t| t.elapsed() < start_period);
                    if h.failing_streak >= retries && !in_start {
                        h.status = "unhealthy";
                    }
                }
                let after = h.status;
                drop(all);
                if after != before {
                    me.emit(&id, &format!("health_status: {after}"), &[]);
                }
            });
        }
    }
}

/// Run a command with a time limit; (exit code, combined output, at most 4 KiB).
fn run_with_timeout(cmd: &mut std::process::Command, timeout: Duration) -> (i64, String) {
    use std::io::Read;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let Ok(mut child) = cmd.spawn() else {
        return (-1, "cannot start the health check".into());
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut out);
                }
                out.truncate(4096);
                return (i64::from(st.code().unwrap_or(-1)), out);
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return (
                    -1,
                    format!("Health check exceeded timeout ({}s)", timeout.as_secs()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_commands_as_docker_runs_them() {
        let mut r = Record::default();
        assert_eq!(check_command(&r), None);
        let set = |r: &mut Record, t: &[&str]| {
            r.config.healthcheck = Some(berth_models::container::HealthConfig {
                test: Some(t.iter().map(|s| (*s).to_owned()).collect()),
                ..Default::default()
            })
        };
        set(&mut r, &["NONE"]);
        assert_eq!(check_command(&r), None);
        set(&mut r, &["CMD-SHELL", "test -f /ok"]);
        assert_eq!(
            check_command(&r),
            Some(vec!["/bin/sh".into(), "-c".into(), "test -f /ok".into()])
        );
        set(&mut r, &["CMD", "true", "x"]);
        assert_eq!(check_command(&r), Some(vec!["true".into(), "x".into()]));
    }
}
