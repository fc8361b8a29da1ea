//! Ends: `kill`, `stop` (the stop signal, then SIGKILL), `remove`, `wait` for a condition,
//! and noticing exits (`die` once per run, the network given back).

use std::time::Duration;

use berth_models::container::{WaitError, WaitResponse};

use super::state::{Action, Verdict};
use super::{Containers, State, Status};
use crate::db::guard;
use crate::util::Backoff;
use crate::{Error, Result};

/// What `wait` waits for (`condition=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::InvalidParameter(format!(
                "invalid condition: \"{s}\""
            ))),
        }
    }
}

impl Containers {
    /// Report containers that stopped since the last look (`die` with the exit code).
    pub fn watch_exits(&self) {
        for rec in self.records().unwrap_or_default() {
            self.note_exit_of(&rec);
        }
    }

    /// Report one container's `die` if it stopped since the last look.
    pub(crate) fn note_exit(&self, id: &str) {
        if let Ok(rec) = self.record(id) {
            self.note_exit_of(&rec);
        }
    }

    fn note_exit_of(&self, rec: &super::Record) {
        let id = rec.id.as_str();
        // A container being started is its start's business (it notes the previous exit
        // itself): a late look here would tear down the new run's network. The set stays
        // locked meanwhile, so no start begins halfway through.
        let starting = guard(&self.starting);
        if starting.contains(id) {
            return;
        }
        self.note_exit_now_of(rec);
        drop(starting);
    }

    pub(crate) fn note_exit_now(&self, id: &str) {
        if let Ok(rec) = self.record(id) {
            self.note_exit_now_of(&rec);
        }
    }

    fn note_exit_now_of(&self, rec: &super::Record) {
        let id = rec.id.as_str();
        let mut st = self.observed(rec);
        if st.status == Status::Exited && self.reap_orphan(rec) {
            st = self.observed(rec);
        }
        let prev = guard(&self.seen).insert(id.to_owned(), st.status);
        let was_alive = matches!(prev, Some(Status::Running | Status::Paused));
        if was_alive && matches!(st.status, Status::Exited | Status::Restarting) {
            // Addresses and the namespace go back first: a restart may follow at once.
            self.networks.teardown(id);
            self.emit(id, "die", &[("exitCode", st.exit_code.to_string())]);
        }
    }

    /// A shim that died without recording the exit (`kill -9`, the OOM killer) leaves its
    /// container running unsupervised: kill it through the runtime (which checks the init's
    /// start time, so a reused pid is never hit) and record the end — 137 if it still ran.
    /// Whether there was such an orphan.
    fn reap_orphan(&self, rec: &super::Record) -> bool {
        let dir = self.dir_of(&rec.id);
        if dir.join("exit.json").exists() {
            return false;
        }
        let Some(shim) = berth_shim::ShimInfo::read(&dir) else {
            return false;
        };
        if crate::util::pid_alive(shim.shim) {
            return false;
        }
        let ran = crate::util::pid_alive(shim.pid)
            || crate::util::written_this_boot(&dir.join("shim.json"));
        match super::runtime_of(&rec.host_config.runtime) {
            Ok(None) => {
                let root = self.berth_runtime_root();
                if let Err(e) = berth_runtime::container::delete(&root, &rec.id, true) {
                    eprintln!("berth: clean up {} after its shim died: {e}", rec.id);
                }
            }
            Ok(Some(rt)) => {
                if let Err(e) = self.run_runtime(&rt, rec, &["delete", "--force"], None) {
                    eprintln!("berth: clean up {} after its shim died: {e}", rec.id);
                }
            }
            Err(_) => {}
        }
        let exit = berth_shim::ExitInfo {
            code: if ran { 137 } else { 255 },
            finished: crate::time::now_rfc3339(),
            ..Default::default()
        };
        if let Err(e) = exit.write(&dir) {
            eprintln!("berth: record the end of {}: {e}", rec.id);
        }
        true
    }

    /// Send `signal` to the container's init.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let rec = self.record(id)?;
        // Its processes decide (a removal kills before it removes).
        let st = self.observed(&rec);
        self.check(&rec, &st, Action::Kill)?;
        let sig = nix::sys::signal::Signal::try_from(signal)
            .map_err(|_| Error::InvalidParameter(format!("invalid signal: {signal}")))?;
        self.emit_for(&rec, "kill", &[("signal", signal.to_string())]);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid as i32), sig)
            .map_err(|e| Error::Internal(format!("kill: {e}")))?;
        // A frozen process cannot act on a signal: a paused container is thawed so it does
        // (as dockerd does for kill, stop and rm -f).
        if st.status == Status::Paused {
            if let Err(e) = self.set_frozen(&rec, false) {
                eprintln!("berth: thaw {id} for a signal: {e}");
            }
        }
        // SIGKILL answers once the exit is recorded (dockerd's Kill waits up to 10 s): an
        // inspect or rm right after sees the container stopped. Other signals do not wait.
        if sig == nix::sys::signal::Signal::SIGKILL {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut backoff = Backoff::new();
            while std::time::Instant::now() < deadline {
                let now = self.observed(&self.record(id)?);
                if !now.alive() || now.pid != st.pid {
                    break;
                }
                std::thread::sleep(backoff.step());
            }
        }
        Ok(())
    }

    /// Wait until the container is not alive (up to `timeout`); true if it stopped.
    pub fn wait_stopped(&self, id: &str, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        let mut backoff = Backoff::new();
        loop {
            if !self.observed(&self.record(id)?).alive() {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(backoff.step());
        }
    }

    /// Stop: the stop signal, then SIGKILL after `timeout` (the container's `StopTimeout`,
    /// else 10 s). A user's stop also keeps restart policies away (`manual`).
    /// `Ok(false)`: it was not running.
    pub fn stop(&self, id: &str, timeout: Option<i64>, manual: bool) -> Result<bool> {
        if manual {
            self.set_manually_stopped(id, true)?;
        }
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        if self.check(&rec, &st, Action::Stop)? == Verdict::AlreadyDone {
            return Ok(false);
        }
        if st.status == Status::Restarting {
            // Waiting for its policy's restart: it stays stopped now.
            self.update_record(id, |r| {
                r.restarting = false;
                Some(())
            })?;
            self.emit_for(&rec, "stop", &[]);
            return Ok(true);
        }
        let sig = (!rec.config.stop_signal.is_empty())
            .then(|| berth_runtime::container::parse_signal(&rec.config.stop_signal).ok())
            .flatten()
            .unwrap_or(libc::SIGTERM);
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10).max(0);
        let _ = self.kill(id, sig);
        if !self.wait_stopped(id, Duration::from_secs(t as u64))? {
            let _ = self.kill(id, libc::SIGKILL);
            self.wait_stopped(id, Duration::from_secs(30))?;
        }
        self.note_exit(id);
        self.emit_for(&rec, "stop", &[]);
        Ok(true)
    }

    /// Remember that a user stopped (or started) the container: restart policies leave a
    /// stopped one alone.
    pub fn set_manually_stopped(&self, id: &str, stopped: bool) -> Result<()> {
        self.update_record(id, |r| {
            r.manually_stopped = stopped;
            if stopped {
                r.restarting = false;
            }
            Some(())
        })?;
        Ok(())
    }

    /// Remove a container: refused while running unless `force` (then killed first); with
    /// `volumes` (`rm -v`) its anonymous volumes go too, unless another container uses them.
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        self.check(&rec, &st, Action::Remove { force })?;
        if !guard(&self.removing).insert(id.to_owned()) {
            return Err(Error::Conflict(format!(
                "removal of container {} is already in progress",
                rec.short_name()
            )));
        }
        let r = self.remove_now(&rec, &st, volumes);
        guard(&self.removing).remove(id);
        r
    }

    fn remove_now(&self, rec: &super::Record, st: &State, volumes: bool) -> Result<()> {
        let id = rec.id.as_str();
        if st.alive() {
            let _ = self.kill(id, libc::SIGKILL);
            // Never a record gone while its processes run on.
            if !self.wait_stopped(id, Duration::from_secs(30))? {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": could not kill it",
                    rec.short_name()
                )));
            }
        }
        self.note_exit(id);
        self.networks.teardown(id);
        self.emit_for(rec, "destroy", &[]);
        // Process files of exec sessions run through another runtime.
        if let Ok(root) = self.runtime_root_of(rec) {
            let prefix = format!("exec-{}-", rec.short_id());
            for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let dir = self.dir_of(id);
        let _ = nix::mount::umount2(&dir.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
        let _ = nix::mount::umount2(&dir.join("quota"), nix::mount::MntFlags::MNT_DETACH);
        let _ = nix::mount::umount2(&dir.join("shm"), nix::mount::MntFlags::MNT_DETACH);
        super::userns::unmount(&dir);
        // Anonymous volumes first (`rm -v`, `--rm`): a client that saw the container gone
        // sees them gone too. Other users keep them.
        if volumes {
            for m in rec.mount_points.iter().filter(|m| m.anonymous) {
                let others = self.volume_users(&m.name)?.into_iter().any(|u| u != id);
                if !others {
                    let _ = self.volumes.remove(&m.name, &[]);
                }
            }
        }
        // The row goes first (the container is gone for every client), then the directory,
        // renamed so an interrupted removal is finished at the next start.
        self.delete_record(id)?;
        if let Some(f) = self.on_removed.get() {
            f(id);
        }
        guard(&self.health).remove(id);
        guard(&self.seen).remove(id);
        let gone = self.dir.join(format!(".removing-{id}"));
        if std::fs::rename(&dir, &gone).is_ok() {
            let _ = std::fs::remove_dir_all(&gone);
        }
        Ok(())
    }

    /// Keep the exit code of a container about to be removed (`wait?condition=removed`).
    pub(crate) fn remember_exit(&self, id: &str, code: i64) {
        let mut m = guard(&self.removed_exits);
        if m.len() > 1000 {
            m.clear();
        }
        m.insert(id.to_owned(), code);
    }

    /// Wait for `cond` (checked every few milliseconds) and answer as dockerd does; `before`
    /// is the state when the client asked (`next-exit` waits for an exit after it).
    pub async fn wait(
        self: &std::sync::Arc<Self>,
        id: &str,
        cond: WaitCondition,
        before: &State,
    ) -> WaitResponse {
        let mut backoff = Backoff::new();
        loop {
            let me = self.clone();
            let i = id.to_owned();
            let st = tokio::task::spawn_blocking(move || me.state(&i))
                .await
                .unwrap_or_else(|j| Err(Error::Internal(j.to_string())));
            let done = match (cond, st) {
                (WaitCondition::Removed, Err(Error::NoSuchContainer(_))) => {
                    let code = guard(&self.removed_exits)
                        .get(id)
                        .copied()
                        .unwrap_or(before.exit_code);
                    Some(Ok(code))
                }
                // Removed meanwhile (auto-remove): its recorded exit.
                (_, Err(Error::NoSuchContainer(_)))
                    if guard(&self.removed_exits).contains_key(id) =>
                {
                    guard(&self.removed_exits).get(id).copied().map(Ok)
                }
                (_, Err(e)) => Some(Err(e)),
                (WaitCondition::NotRunning, Ok(s))
                    if !s.alive() && s.status != Status::Removing =>
                {
                    Some(Ok(s.exit_code))
                }
                (WaitCondition::NextExit, Ok(s))
                    if matches!(s.status, Status::Exited | Status::Restarting)
                        && (!matches!(before.status, Status::Exited | Status::Restarting)
                            || s.finished_at != before.finished_at) =>
                {
                    Some(Ok(s.exit_code))
                }
                _ => None,
            };
            match done {
                Some(Ok(code)) => {
                    return WaitResponse {
                        status_code: code,
                        error: None,
                    };
                }
                Some(Err(e)) => {
                    return WaitResponse {
                        status_code: -1,
                        error: Some(WaitError {
                            message: e.to_string(),
                        }),
                    };
                }
                None => tokio::time::sleep(backoff.step()).await,
            }
        }
    }
}
