//! Namespace modes as Docker's: `--pid host|container:X`, `--ipc
//! private|shareable|none|host|container:X`, `--uts host`, `--cgroupns host|private`,
//! `--userns host` (`--network` is the networks' business). Checked and resolved at create
//! (`container:NAME` becomes `container:ID`, as dockerd records it), applied to the runtime
//! spec at each start (a joined container must be running then).

use std::path::{Path, PathBuf};

use berth_models::container::HostConfig;

use super::bundle::{Mount, Spec};
use super::{Containers, Record};
use crate::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

impl Containers {
    /// Check the modes of `hc` and resolve the containers they join.
    pub(super) fn check_namespace_modes(
        &self,
        hc: &mut HostConfig,
        hostname_asked: bool,
    ) -> Result<()> {
        let join = |m: &str| -> Result<Option<String>> {
            match m.strip_prefix("container:") {
                None => Ok(None),
                Some("") => Err(bad(format!("invalid mode {m:?}: name a container"))),
                Some(t) => self
                    .resolve(t)
                    .map(|id| Some(format!("container:{id}")))
                    .map_err(|_| bad(format!("No such container: {t}"))),
            }
        };
        match hc.pid_mode.as_str() {
            "" | "host" => {}
            m => match join(m)? {
                Some(j) => hc.pid_mode = j,
                None => return Err(bad(format!("invalid PID mode: {m}"))),
            },
        }
        match hc.ipc_mode.as_str() {
            "" | "private" | "shareable" | "none" | "host" => {}
            m => match join(m)? {
                Some(j) => hc.ipc_mode = j,
                None => return Err(bad(format!("Invalid IPC mode: {m}"))),
            },
        }
        match hc.uts_mode.as_str() {
            "" => {}
            "host" if hostname_asked => {
                return Err(bad("conflicting options: hostname and the UTS mode"));
            }
            "host" => {}
            m => return Err(bad(format!("invalid UTS mode: {m}"))),
        }
        match hc.cgroupns_mode.as_str() {
            "" | "private" | "host" => {}
            m => return Err(bad(format!("invalid cgroup namespace mode: {m}"))),
        }
        let defaults = self.defaults();
        if hc.userns_mode.is_empty() && defaults.userns_auto {
            hc.userns_mode = "auto".into();
        }
        let req = super::idmap::parse(&hc.userns_mode, defaults.userns_remap.is_some())?;
        if req != super::idmap::Request::Host {
            if !super::is_berth_runtime(&hc.runtime) {
                return Err(bad(format!(
                    "user namespaces are made by Berth's runtime and mounts, not {:?} (use --userns host)",
                    hc.runtime
                )));
            }
            if hc.privileged {
                return Err(bad(
                    "privileged mode is incompatible with user namespaces. You must run the container in the host namespace when running privileged mode (--userns host)",
                ));
            }
        }
        Ok(())
    }

    /// Choose and record (in `rec`) the maps of the new container's user namespace: a free
    /// range for `auto`, the asked ranges when no other container's overlap them, the
    /// daemon's remap ranges. The guard returned holds the choice until the record is in.
    pub(super) fn choose_id_maps(
        &self,
        rec: &mut Record,
    ) -> Result<Option<std::sync::MutexGuard<'static, ()>>> {
        use super::idmap::{self, Request};
        let remap = self.defaults().userns_remap.clone();
        let req = idmap::parse(&rec.host_config.userns_mode, remap.is_some())?;
        if req == Request::Host {
            return Ok(None);
        }
        super::userns::check_reachable(&self.dir_of(&rec.id))?;
        if req == Request::Remap {
            rec.userns = remap;
            return Ok(None);
        }
        let guard = super::userns::ALLOCATING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut taken: idmap::Taken = Vec::new();
        // The remap first: a range overlapping it is named as the remap's, not a container's.
        if let Some(m) = &remap {
            taken.extend(
                m.host_ranges()
                    .map(|x| ("the daemon's userns-remap".into(), *x)),
            );
        }
        for r in self.records()? {
            if let Some(m) = r.id_maps() {
                let who = format!("container {}", r.short_name());
                taken.extend(m.host_ranges().map(|x| (who.clone(), *x)));
            }
        }
        rec.userns = Some(match req {
            Request::Auto(size) => idmap::allocate(&taken, size)?,
            Request::Map(maps) => {
                idmap::check_free(&taken, &maps)?;
                maps
            }
            Request::Host | Request::Remap => unreachable!("handled above"),
        });
        Ok(Some(guard))
    }

    /// The running container a `container:ID` mode joins: its id and init's pid.
    fn joined(&self, id: &str, what: &str) -> Result<(String, i64)> {
        let st = self.state(id).map_err(|_| {
            bad(format!(
                "cannot join {what} of container {id}: it does not exist"
            ))
        })?;
        if !st.running() || st.pid <= 0 {
            return Err(Error::Conflict(format!("container {id} is not running")));
        }
        Ok((id.to_owned(), st.pid))
    }

    /// A fresh tmpfs for a shareable container's /dev/shm, in its directory; its path.
    fn mount_shm(&self, id: &str, size: i64) -> Result<String> {
        let path = self.dir_of(id).join("shm");
        let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let size = if size > 0 { size } else { 64 << 20 };
        nix::mount::mount(
            Some("shm"),
            &path,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            Some(format!("mode=1777,size={size}").as_str()),
        )
        .map_err(|e| Error::io(format!("mount {}", path.display()), e.into()))?;
        Ok(path.display().to_string())
    }

    /// Apply the record's namespace modes to `spec` (after the host config's settings).
    pub(super) fn apply_namespace_modes(&self, spec: &mut Spec, rec: &Record) -> Result<()> {
        let hc = &rec.host_config;
        let ns_of = |pid: i64, kind: &str| PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
        match hc.pid_mode.as_str() {
            "host" => spec.set_namespace("pid", None),
            m => {
                if let Some(t) = m.strip_prefix("container:") {
                    let (_, pid) = self.joined(t, "PID namespace")?;
                    spec.set_namespace("pid", Some(&ns_of(pid, "pid")));
                }
            }
        }
        let shm: Option<Option<String>> = match hc.ipc_mode.as_str() {
            "host" => {
                spec.set_namespace("ipc", None);
                Some(Some("/dev/shm".into()))
            }
            "none" => Some(None),
            m => match m.strip_prefix("container:") {
                Some(t) => {
                    let donor = self.record(t).map_err(|_| {
                        bad(format!(
                            "can't join IPC of container {t}: it does not exist"
                        ))
                    })?;
                    let (_, pid) = self.joined(t, "IPC namespace")?;
                    let mode = donor.host_config.ipc_mode.as_str();
                    if mode != "shareable" && mode != "host" {
                        return Err(bad(format!(
                            "can't join IPC of container {t}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                        )));
                    }
                    if mode == "host" {
                        spec.set_namespace("ipc", None);
                        Some(Some("/dev/shm".into()))
                    } else {
                        spec.set_namespace("ipc", Some(&ns_of(pid, "ipc")));
                        Some(Some(self.dir_of(t).join("shm").display().to_string()))
                    }
                }
                // A shareable IPC namespace's /dev/shm lives on the host, where the
                // containers that join it can bind it too (as dockerd keeps it).
                None if m == "shareable" => Some(Some(self.mount_shm(&rec.id, hc.shm_size)?)),
                None => None,
            },
        };
        if let Some(source) = shm {
            // /dev/shm follows the IPC namespace: the host's, the donor's, or none.
            let mut mounts: Vec<Mount> = spec
                .mounts()
                .into_iter()
                .filter(|m| m.destination != "/dev/shm")
                .collect();
            if let Some(src) = source {
                if !Path::new(&src).exists() {
                    return Err(bad(format!(
                        "{src} is not mounted, but must be for the IPC mode"
                    )));
                }
                mounts.push(Mount::bind(
                    src,
                    "/dev/shm",
                    ["rbind", "rprivate", "nosuid", "nodev", "noexec"]
                        .map(String::from)
                        .to_vec(),
                ));
            }
            spec.set_mounts(&mounts);
        }
        if hc.uts_mode == "host" {
            spec.set_namespace("uts", None);
            spec.remove("/hostname");
        }
        if hc.cgroupns_mode == "host" {
            spec.set_namespace("cgroup", None);
        }
        if let Some(maps) = rec.id_maps() {
            use super::idmap::IdMaps;
            spec.add_namespace("user");
            spec.set("/linux/uidMappings", IdMaps::spec(&maps.uids));
            spec.set("/linux/gidMappings", IdMaps::spec(&maps.gids));
        }
        Ok(())
    }
}
