//! Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`, with Docker's
//! doubling delay, shown as `restarting` meanwhile) and auto-removal (`--rm`): the engine's
//! duties after an exit, also for exits that happened while no daemon ran.

use std::sync::Arc;

use berth_image::images::Images;

use super::{Containers, Record, State, Status};
use crate::time::parse_rfc3339;
use crate::util::Backoff;

/// What a policy says of an exited container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Leave it stopped.
    Stay,
    /// Start it again once `delay_ms` have passed since its exit.
    Restart { delay_ms: u64 },
}

/// Docker's rules: `always` restarts (a manual stop holds until the daemon restarts),
/// `unless-stopped` unless a user stopped it, `on-failure` after a non-zero exit up to its
/// count; never a container that never ran. The delay doubles from 100 ms per restart, at
/// most a minute.
pub fn decide(rec: &Record, st: &State, daemon_start: bool) -> Decision {
    let p = &rec.host_config.restart_policy;
    let manual = rec.manually_stopped;
    let wanted = rec.ever_started()
        && match p.name.as_str() {
            "always" => !manual || daemon_start,
            "unless-stopped" => !manual,
            "on-failure" => {
                !manual
                    && !daemon_start
                    && st.exit_code != 0
                    && (p.maximum_retry_count == 0 || rec.restart_count < p.maximum_retry_count)
            }
            _ => false,
        };
    if !wanted {
        return Decision::Stay;
    }
    let delay_ms = if daemon_start {
        0
    } else {
        (100u64 << rec.restart_count.clamp(0, 10)).min(60_000)
    };
    Decision::Restart { delay_ms }
}

impl Containers {
    /// Apply restart policies: start the exited containers their policy says should run
    /// again (after the delay; `restarting` meanwhile), and — at daemon start-up — the
    /// `always` and `unless-stopped` ones. Returns the ids restarted.
    pub fn apply_restart_policies(
        self: &Arc<Self>,
        images: &Images,
        daemon_start: bool,
    ) -> Vec<String> {
        let mut restarted = Vec::new();
        for rec in self.records().unwrap_or_default() {
            let st = self.state_of(&rec);
            if !matches!(st.status, Status::Exited | Status::Restarting) {
                continue;
            }
            let Decision::Restart { delay_ms } = decide(&rec, &st, daemon_start) else {
                if rec.restarting {
                    let _ = self.update_record(&rec.id, |r| {
                        r.restarting = false;
                        Some(())
                    });
                }
                continue;
            };
            let finished_ms = parse_rfc3339(&st.finished_at).unwrap_or(0) * 1000;
            if crate::time::now() * 1000 < finished_ms + delay_ms as i64 {
                if !rec.restarting {
                    let _ = self.update_record(&rec.id, |r| {
                        (!r.manually_stopped).then(|| r.restarting = true)
                    });
                }
                continue;
            }
            // Counted on a fresh read, unless a user stopped it meanwhile.
            let counted = self.update_record(&rec.id, |r| {
                let name = r.host_config.restart_policy.name.clone();
                if r.manually_stopped && !(name == "always" && daemon_start) {
                    r.restarting = false;
                    return None;
                }
                r.restart_count += 1;
                Some(())
            });
            if !matches!(counted, Ok(Some(()))) {
                continue;
            }
            if self.start(images, &rec.id).is_ok() {
                restarted.push(rec.id.clone());
            }
        }
        restarted
    }

    /// `--rm`: remove the container once it has exited (a thread watching it closely, so a
    /// client waiting for the removal hears at once).
    pub(crate) fn watch_auto_remove(self: &Arc<Self>, id: &str) {
        let me = self.clone();
        let id = id.to_owned();
        std::thread::spawn(move || {
            let mut backoff = Backoff::new();
            loop {
                match me.state(&id) {
                    Ok(s) if s.alive() => std::thread::sleep(backoff.step()),
                    Ok(s) if s.status == Status::Removing => return,
                    Ok(s) => {
                        me.auto_remove(&id, &s);
                        return;
                    }
                    Err(_) => return,
                }
            }
        });
    }

    fn auto_remove(&self, id: &str, st: &State) {
        // Its end is reported first (`die`), then it goes, anonymous volumes with it.
        self.note_exit(id);
        self.remember_exit(id, st.exit_code);
        let _ = self.remove(id, true, true);
    }

    /// Auto-removed containers that exited unwatched (while no daemon ran, or between the
    /// watcher's looks) go now.
    pub fn remove_exited_auto_removed(&self) {
        for rec in self.records().unwrap_or_default() {
            if !rec.host_config.auto_remove || !rec.ever_started() {
                continue;
            }
            if crate::db::guard(&self.starting).contains(&rec.id) {
                continue;
            }
            let st = self.state_of(&rec);
            if st.status == Status::Exited {
                self.auto_remove(&rec.id, &st);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::ZERO_TIME;

    fn rec(policy: &str, max: i64, count: i64, manual: bool) -> Record {
        let mut r = Record {
            started_at: "2026-01-01T00:00:00Z".into(),
            restart_count: count,
            manually_stopped: manual,
            ..Default::default()
        };
        r.host_config.restart_policy.name = policy.into();
        r.host_config.restart_policy.maximum_retry_count = max;
        r
    }

    fn exited(code: i64) -> State {
        State {
            status: Status::Exited,
            pid: 0,
            exit_code: code,
            error: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
        }
    }

    #[test]
    fn policies_decide_as_dockers() {
        use Decision::*;
        assert_eq!(decide(&rec("no", 0, 0, false), &exited(1), false), Stay);
        assert_eq!(
            decide(&rec("always", 0, 0, false), &exited(0), false),
            Restart { delay_ms: 100 }
        );
        assert_eq!(
            decide(&rec("always", 0, 3, false), &exited(0), false),
            Restart { delay_ms: 800 }
        );
        assert_eq!(
            decide(&rec("always", 0, 30, false), &exited(0), false),
            Restart { delay_ms: 60_000 }
        );
        // A user's stop holds, except `always` at daemon start.
        assert_eq!(decide(&rec("always", 0, 0, true), &exited(0), false), Stay);
        assert_eq!(
            decide(&rec("always", 0, 0, true), &exited(0), true),
            Restart { delay_ms: 0 }
        );
        assert_eq!(
            decide(&rec("unless-stopped", 0, 0, true), &exited(0), true),
            Stay
        );
        // on-failure: non-zero exits, up to the count, not at daemon start.
        assert_eq!(
            decide(&rec("on-failure", 0, 0, false), &exited(0), false),
            Stay
        );
        assert!(matches!(
            decide(&rec("on-failure", 2, 1, false), &exited(3), false),
            Restart { .. }
        ));
        assert_eq!(
            decide(&rec("on-failure", 2, 2, false), &exited(3), false),
            Stay
        );
        assert_eq!(
            decide(&rec("on-failure", 0, 0, false), &exited(3), true),
            Stay
        );
        // Never one that never ran.
        let mut never = rec("always", 0, 0, false);
        never.started_at = ZERO_TIME.into();
        assert_eq!(decide(&never, &exited(0), true), Stay);
    }
}
