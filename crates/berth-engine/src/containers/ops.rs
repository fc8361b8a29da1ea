//! The smaller operations: `pause`/`unpause` (the freezer), `update` (live limits), `rename`,
//! `container prune`, `top`, and statistics samples.

use berth_models::container::{PruneResponse, Top, UpdateRequest};
use berth_models::stats::Stats;

use super::state::Action;
use super::store::Claim;
use super::{Containers, Record, Status, ZERO_TIME};
use crate::time::now_rfc3339;
use crate::util::valid_name;
use crate::{Error, Result};

impl Containers {
    /// Run another runtime's command (`pause`, `update`, …) on a container; its error text
    /// on failure.
    pub(super) fn run_runtime(
        &self,
        rt: &std::path::Path,
        rec: &Record,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<()> {
        use std::io::Write as _;
        let mut child = std::process::Command::new(rt)
            .arg("--root")
            .arg(self.runtime_root_of(rec)?)
            .args(args)
            .arg(&rec.id)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(rt.display().to_string(), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.unwrap_or_default().as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io(rt.display().to_string(), e))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "{} {}: {}",
                rt.display(),
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// `pause` / `unpause` (the freezer).
    pub fn pause(&self, id: &str, frozen: bool) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        self.check(
            &rec,
            &st,
            if frozen {
                Action::Pause
            } else {
                Action::Unpause
            },
        )?;
        match self.set_frozen(&rec, frozen) {
            // It ended between the look and the freeze: what the look would say now.
            Err(Error::Runtime(berth_runtime::Error::NotFound(_))) => {
                return Err(Error::Conflict(format!("Container {id} is not running")));
            }
            r => r?,
        }
        self.emit_for(&rec, if frozen { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// Freeze or thaw through the container's runtime, whatever the engine's intent (a
    /// removal thaws a paused container so its SIGKILL lands).
    pub(super) fn set_frozen(&self, rec: &Record, frozen: bool) -> Result<()> {
        let id = rec.id.as_str();
        match super::runtime_of(&rec.host_config.runtime)? {
            None => berth_runtime::container::pause(&self.berth_runtime_root(), id, frozen)?,
            Some(rt) => {
                self.run_runtime(&rt, rec, &[if frozen { "pause" } else { "resume" }], None)?
            }
        }
        crate::db::guard(&self.frozen).insert(id.to_owned(), frozen);
        Ok(())
    }

    /// `update`: new resource limits (and restart policy) for a container, applied live when
    /// it runs and kept for its next start. Docker's clients send zero for "unchanged".
    pub fn update(&self, id: &str, u: &UpdateRequest) -> Result<()> {
        let mut rec = self.record(id)?;
        let r = &u.resources;
        let hr = &mut rec.host_config.resources;
        fn take<T: PartialEq + Default + Clone>(dst: &mut T, src: &T) {
            if *src != T::default() {
                *dst = src.clone();
            }
        }
        take(&mut hr.memory, &r.memory);
        take(&mut hr.memory_swap, &r.memory_swap);
        take(&mut hr.memory_reservation, &r.memory_reservation);
        take(&mut hr.nano_cpus, &r.nano_cpus);
        take(&mut hr.cpu_shares, &r.cpu_shares);
        take(&mut hr.cpu_quota, &r.cpu_quota);
        take(&mut hr.cpu_period, &r.cpu_period);
        take(&mut hr.cpuset_cpus, &r.cpuset_cpus);
        take(&mut hr.cpuset_mems, &r.cpuset_mems);
        take(&mut hr.blkio_weight, &r.blkio_weight);
        if let Some(p) = r.pids_limit.filter(|p| *p != 0) {
            hr.pids_limit = Some(p);
        }
        if let Some(p) = &u.restart_policy {
            if !p.name.is_empty() {
                if rec.host_config.auto_remove && p.name != "no" {
                    return Err(Error::InvalidParameter(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                    ));
                }
                rec.host_config.restart_policy = p.clone();
            }
        }
        let mut spec = super::bundle::Spec::default_spec();
        super::host_config::apply(&mut spec, &rec.host_config, &self.defaults())?;
        if self.state_of(&rec).status == Status::Running {
            let resources = spec.resources();
            match super::runtime_of(&rec.host_config.runtime)? {
                None => {
                    berth_runtime::container::update(&self.berth_runtime_root(), id, &resources)
                        .map_err(Error::from)
                }
                Some(rt) => self.run_runtime(
                    &rt,
                    &rec,
                    &["update", "--resources", "-"],
                    Some(&resources.to_string()),
                ),
            }
            .map_err(|e| Error::InvalidParameter(format!("Cannot update container {id}: {e}")))?;
        }
        let hc = rec.host_config.clone();
        self.update_record(id, |r| {
            r.host_config = hc;
            Some(())
        })?;
        self.emit_for(&rec, "update", &[]);
        Ok(())
    }

    /// `rename`: the new name must be free (the database's constraint decides).
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        if !valid_name(new) {
            return Err(Error::InvalidParameter(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let new = new.trim_start_matches('/');
        let _g = crate::db::guard(&self.rmw);
        let mut rec = self.record(id)?;
        let old = rec.name.clone();
        if rec.short_name() == new {
            return Err(Error::Conflict(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        rec.name = format!("/{new}");
        match self.save_renamed(&rec)? {
            Claim::Claimed => {
                self.emit_for(&rec, "rename", &[("oldName", old)]);
                Ok(())
            }
            Claim::TakenBy(other) => Err(Error::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            ))),
        }
    }

    /// `DELETE /containers/{parent}/{alias}?link=1`: the legacy link `alias` of `parent` goes
    /// (both containers stay), as dockerd's.
    pub fn remove_link(&self, path: &str) -> Result<()> {
        let path = path.trim_start_matches('/');
        let Some((parent, alias)) = path.rsplit_once('/') else {
            return Err(Error::Conflict(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        };
        let pid = self.resolve(parent)?;
        let removed = self.update_record(&pid, |rec| {
            let before = rec.host_config.links.as_ref().map_or(0, Vec::len);
            let links: Vec<String> = rec
                .host_config
                .links
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|l| l.rsplit('/').next() != Some(alias))
                .collect();
            let changed = links.len() != before;
            rec.host_config.links = (!links.is_empty()).then_some(links);
            changed.then_some(())
        })?;
        removed.ok_or_else(|| Error::NotFound(format!("No such container: /{parent}/{alias}")))
    }

    /// `container prune`: every stopped container; their ids and the bytes freed.
    pub fn prune(&self) -> Result<PruneResponse> {
        let mut gone = Vec::new();
        let mut freed = 0;
        for rec in self.records()? {
            if !matches!(
                self.state_of(&rec).status,
                Status::Created | Status::Exited | Status::Dead
            ) {
                continue;
            }
            freed += berth_image::snapshot::du(&self.dir_of(&rec.id).join("upper/"));
            match self.remove(&rec.id, false, false) {
                Ok(()) => gone.push(rec.id.clone()),
                // Gone or started meanwhile: not this prune's.
                Err(Error::NoSuchContainer(_) | Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(PruneResponse {
            containers_deleted: (!gone.is_empty()).then_some(gone),
            space_reclaimed: freed,
        })
    }

    /// `top`: `ps` of the container's processes (Docker's default columns), as dockerd runs
    /// it: on the host, filtered by the container's cgroup.
    pub fn top(&self, id: &str, ps_args: &str) -> Result<Top> {
        if self.state(id)?.status != Status::Running {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        let pids = berth_runtime::cgroups::open(&self.cgroup_of(id)).and_then(|c| c.pids())?;
        let args: Vec<&str> = if ps_args.is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| Error::io("ps (procps)", e))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    /// One statistics sample in the API's shape, with `prev`'s CPU counters as
    /// `precpu_stats` (a client computes CPU% from the two).
    pub fn stats(&self, id: &str, prev: Option<&Stats>) -> Result<Stats> {
        let rec = self.record(id)?;
        let state = self.state_of(&rec);
        let running = state.status == Status::Running;
        let mut s = if running {
            crate::stats::sample(&self.cgroup_of(id))
        } else {
            Stats::default()
        };
        s.read = if running {
            now_rfc3339()
        } else {
            ZERO_TIME.to_owned()
        };
        s.name = rec.name.clone();
        s.id = id.to_owned();
        s.networks = Some(if running {
            interface_stats(state.pid)
        } else {
            Default::default()
        });
        if let Some(p) = prev {
            s.precpu_stats = p.cpu_stats.clone();
            s.preread = p.read.clone();
        } else {
            s.preread = ZERO_TIME.to_owned();
        }
        Ok(s)
    }
}

/// The container's interfaces (not `lo`) and their counters, from its network namespace's
/// `/proc/PID/net/dev`, as dockerd reports them.
fn interface_stats(
    pid: i64,
) -> std::collections::BTreeMap<String, berth_models::stats::NetworkStats> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if n.len() < 12 {
            continue;
        }
        out.insert(
            name.to_owned(),
            berth_models::stats::NetworkStats {
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            },
        );
    }
    out
}

/// `ps` output → the rows of the container's processes (the last column keeps its spaces).
fn parse_ps(text: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::InvalidParameter("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_filtered_to_the_container() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:01 ? 00:00:00 sleep 100 now\n";
        let t = parse_ps(text, &[42]).expect("parsed");
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0][7], "sleep 100 now");
        assert!(parse_ps("USER COMMAND\n", &[1]).is_err());
    }
}
