//! Start: mount the root filesystem, set up the network side, write the bundle, hand over
//! to a new `berth shim`; return once the container runs (or has failed to start). A start
//! that fails takes an auto-removed (`--rm`) container with it, as dockerd's does.

use std::path::PathBuf;
use std::time::Duration;

use berth_image::images::Images;

use super::state::{Action, Verdict};
use super::{Containers, Record, Status};
use crate::db::guard;
use crate::error::{IoContext, StartFailure};
use crate::networks::Links;
use crate::time::now_rfc3339;
use crate::util::{Backoff, random_hex};
use crate::{Error, Result};

impl Containers {
    /// Start a container. `Ok(false)`: it was running already (or another start is under
    /// way).
    pub fn start(self: &std::sync::Arc<Self>, images: &Images, id: &str) -> Result<bool> {
        // One start at a time per container (a user's and the restart policy's may race).
        if !guard(&self.starting).insert(id.to_owned()) {
            return Ok(false);
        }
        let r = self.start_locked(images, id);
        guard(&self.starting).remove(id);
        match r {
            Ok(true) => {
                if self.record(id).is_ok_and(|r| r.host_config.auto_remove) {
                    self.watch_auto_remove(id);
                }
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                // dockerd removes an auto-removed container whose start failed: a client
                // waiting for its removal (`docker run --rm`) must not wait forever.
                if let Ok(rec) = self.record(id) {
                    if rec.host_config.auto_remove && !self.state_of(&rec).alive() {
                        self.remember_exit(
                            id,
                            e.start_failure().map_or(125, |f| f.exit_code()).into(),
                        );
                        let _ = self.remove(id, true, true);
                    }
                }
                Err(e)
            }
        }
    }

    fn start_locked(&self, images: &Images, id: &str) -> Result<bool> {
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        if self.check(&rec, &st, Action::Start)? == Verdict::AlreadyDone {
            return Ok(false);
        }
        // The previous run's end (its `die`, its network) is settled before this run begins.
        self.note_exit_now(id);
        let mut rec = self.record(id)?;
        let dir = self.dir_of(id);
        let rootfs = dir.join("rootfs");
        super::quota::ensure_quota_mounted(&dir)?;
        // A stale shim.json (its shim was killed) would read as "running" once a new shim
        // takes its pid; exit.json stays until the new shim runs (state reads shim.json first).
        let _ = std::fs::remove_file(dir.join("shim.json"));
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
        match rec.id_maps() {
            Some(maps) => {
                let layers: Vec<std::path::PathBuf> = rec
                    .chains()
                    .iter()
                    .rev()
                    .map(|c| images.layers().path(c))
                    .collect();
                super::userns::mount_rootfs(
                    &layers,
                    &dir,
                    &dir.join("upper"),
                    &dir.join("work"),
                    &rootfs,
                    &maps,
                )?;
            }
            None => berth_image::snapshot::mount_rootfs(
                images.layers(),
                &rec.chains(),
                &dir.join("upper"),
                &dir.join("work"),
                &rootfs,
            )?,
        }
        let unmount = || {
            let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
        };
        let prepared = self.prepare(&mut rec, &rootfs);
        if let Err(e) = prepared {
            self.unstage_subpaths(id);
            unmount();
            return Err(e);
        }
        let runtime = super::runtime_of(&rec.host_config.runtime)?;
        std::fs::create_dir_all(&self.runtime_root)
            .ctx(|| format!("create {}", self.runtime_root.display()))?;
        // A leftover runtime state of an earlier run (its shim was killed) is cleared first.
        let _ = berth_runtime::container::delete(&self.berth_runtime_root(), id, true);
        // Marks this start's exit.json apart from an earlier one.
        let attempt = random_hex(8);
        let spawned = self
            .spawn_shim(&rec, &attempt, runtime, &rootfs)
            .inspect_err(|_| {
                self.networks.teardown(id);
                unmount();
            });
        let started = spawned.and_then(|shim| {
            self.await_shim(&rec, &attempt).inspect_err(|e| {
                if matches!(e, Error::Internal(m) if m.contains("did not start within")) {
                    // Nothing may stay behind a start that never came: the shim's session
                    // (it called setsid: its pid is the group's), the runtime's container,
                    // the network side, the root filesystem.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(shim as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    let _ = berth_runtime::container::delete(&self.berth_runtime_root(), id, true);
                    self.networks.teardown(id);
                    unmount();
                }
            })
        });
        // The container's mounts are made (or never will be): staged subpaths go.
        self.unstage_subpaths(id);
        started
    }

    /// Links, the network side, /etc/hosts and resolv.conf, volumes, the bundle.
    fn prepare(&self, rec: &mut Record, rootfs: &std::path::Path) -> Result<()> {
        let dir = self.dir_of(&rec.id);
        let links = self.links_in(rec);
        for (tid, alias, tname) in &links {
            if !self.state(tid)?.running() {
                return Err(Error::InvalidParameter(format!(
                    "Cannot link to a non running container: /{tname} AS /{}/{alias}",
                    rec.short_name()
                )));
            }
        }
        // The network side: a namespace of its own (joined by path), or the host's, or
        // another container's.
        let setup = self.networks.setup(&rec.id, rec, &links, &|target| {
            let other = self.resolve(target)?;
            let st = self.state(&other)?;
            if !st.running() {
                return Err(Error::Conflict(format!(
                    "cannot join network of a non running container: {other}"
                )));
            }
            let path = self
                .networks
                .netns_of(&other)
                .unwrap_or_else(|| PathBuf::from(format!("/proc/{}/ns/net", st.pid)));
            Ok((other, path))
        })?;
        let written = std::fs::write(dir.join("hosts"), &setup.hosts)
            .and_then(|_| std::fs::write(dir.join("resolv.conf"), &setup.resolv))
            .ctx(|| format!("write {}/hosts", dir.display()))
            .and_then(|_| self.volume_mounts(rec, rootfs))
            .and_then(|vm| self.write_bundle(rec, rootfs, setup.netns.as_deref(), vm));
        if written.is_err() {
            self.networks.teardown(&rec.id);
        }
        written
    }

    /// `berth shim …` in a session of its own (it outlives the daemon and its signals).
    fn spawn_shim(
        &self,
        rec: &Record,
        attempt: &str,
        runtime: Option<PathBuf>,
        rootfs: &std::path::Path,
    ) -> Result<u32> {
        let dir = self.dir_of(&rec.id);
        self.forget_shim(&rec.id);
        let mut cmd = std::process::Command::new("/proc/self/exe");
        cmd.arg("shim")
            .arg("--attempt")
            .arg(attempt)
            .arg("--id")
            .arg(&rec.id)
            .arg("--bundle")
            .arg(dir.join("bundle"))
            .arg("--runtime-root")
            .arg(self.runtime_root_for(runtime.as_deref()))
            .arg("--dir")
            .arg(&dir)
            .arg("--rootfs")
            .arg(rootfs)
            .args(rec.config.tty.then_some("--tty"))
            .args(rec.config.open_stdin.then_some("--stdin"))
            .args(log_args(&rec.host_config.log_config))
            .args(
                super::host_config::seccomp_record(&rec.host_config)
                    .map(|f| vec!["--seccomp-record".to_owned(), f.to_owned()])
                    .unwrap_or_default(),
            )
            .args(
                runtime
                    .map(|p| vec![std::ffi::OsString::from("--runtime"), p.into_os_string()])
                    .unwrap_or_default(),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid is async-signal-safe: the shim gets its own session.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| Error::io("start the shim", e))?;
        let pid = child.id();
        // The shim reports through files; it is reaped here when it exits (it is our child),
        // in a thread so the daemon never accumulates zombies.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(pid)
    }

    /// Wait for the shim to say the container runs (`shim.json`) or ended (this attempt's
    /// `exit.json`).
    fn await_shim(&self, rec: &Record, attempt: &str) -> Result<bool> {
        let id = rec.id.as_str();
        let dir = self.dir_of(id);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut backoff = Backoff::new();
        // StartedAt on a fresh read (a user's stop may have marked the record meanwhile).
        let started = || {
            self.update_record(id, |r| {
                r.started_at = now_rfc3339();
                r.restarting = false;
                Some(())
            })
        };
        loop {
            if dir.join("shim.json").exists() {
                started()?;
                guard(&self.seen).insert(id.to_owned(), Status::Running);
                self.emit(id, "start", &[]);
                return Ok(true);
            }
            let exit = berth_shim::ExitInfo::read(&dir).filter(|e| e.attempt == attempt);
            if let Some(e) = exit {
                started()?;
                self.networks.teardown(id);
                if let Some(message) = e.error {
                    return Err(Error::Start {
                        message,
                        failure: e.failure.unwrap_or(StartFailure::Other),
                    });
                }
                // It ran and ended before we looked: both events, in order.
                guard(&self.seen).insert(id.to_owned(), Status::Exited);
                self.emit(id, "start", &[]);
                self.emit(id, "die", &[("exitCode", e.code.to_string())]);
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Internal(
                    "the container did not start within 30 s".into(),
                ));
            }
            std::thread::sleep(backoff.step());
        }
    }

    /// A container's links: (target id, alias, target name), for targets that still exist.
    /// With the links of its user-network endpoints (`EndpointSettings.Links`, `target:alias`),
    /// whose targets may come later: the DNS server resolves them when asked.
    pub fn links_of(&self, id: &str) -> Links {
        let Ok(rec) = self.record(id) else {
            return Vec::new();
        };
        let mut out = self.links_in(&rec);
        for ep in rec.networking_config.endpoints_config.values() {
            for l in ep.links.iter().flatten() {
                let (target, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
                let target = target.trim_start_matches('/');
                if let Ok(tid) = self.resolve(target) {
                    out.push((tid, alias.to_owned(), target.to_owned()));
                }
            }
        }
        out
    }

    /// The variables legacy links give on the default bridge, as dockerd's: per link
    /// `<ALIAS>_NAME`, `<ALIAS>_PORT…` for the target's exposed ports (at its address on the
    /// bridge), and `<ALIAS>_ENV_<NAME>` for the target's own variables (not HOME or PATH).
    pub(crate) fn link_env(&self, rec: &Record) -> Vec<String> {
        if rec.network_mode() != "bridge" {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (tid, alias, _) in self.links_in(rec) {
            let Ok(target) = self.record(&tid) else {
                continue;
            };
            let a = alias.to_uppercase().replace('-', "_");
            let ip = self.networks.default_bridge_ip(&tid);
            let mut ports: Vec<(u16, String)> = target
                .config
                .exposed_ports
                .iter()
                .flatten()
                .filter_map(|(k, _)| {
                    let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                    Some((p.parse().ok()?, proto.to_owned()))
                })
                .collect();
            ports.sort();
            if let (Some(ip), Some((p, proto))) = (ip, ports.first()) {
                out.push(format!("{a}_PORT={proto}://{ip}:{p}"));
            }
            for (p, proto) in ports.iter().filter(|_| ip.is_some()) {
                let ip = ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                let up = proto.to_uppercase();
                out.push(format!("{a}_PORT_{p}_{up}={proto}://{ip}:{p}"));
                out.push(format!("{a}_PORT_{p}_{up}_ADDR={ip}"));
                out.push(format!("{a}_PORT_{p}_{up}_PORT={p}"));
                out.push(format!("{a}_PORT_{p}_{up}_PROTO={proto}"));
            }
            out.push(format!("{a}_NAME=/{}/{alias}", rec.short_name()));
            for v in target.config.env.iter().flatten() {
                if let Some((k, val)) = v.split_once('=') {
                    if k != "HOME" && k != "PATH" {
                        out.push(format!("{a}_ENV_{k}={val}"));
                    }
                }
            }
        }
        out
    }

    pub(crate) fn links_in(&self, rec: &Record) -> Links {
        rec.link_targets()
            .into_iter()
            .filter_map(|(target, alias)| {
                let tid = self.resolve(&target).ok()?;
                Some((tid, alias, target))
            })
            .collect()
    }
}

impl Error {
    /// The class of a failed start, if this is one.
    pub fn start_failure(&self) -> Option<StartFailure> {
        match self {
            Error::Start { failure, .. } => Some(*failure),
            _ => None,
        }
    }
}

/// The shim's log rotation arguments from `--log-opt max-size=…,max-file=…`.
/// With the `none` driver nothing is kept for `logs`: attach still reads the output through
/// the log file, which stays one small file.
fn log_args(cfg: &berth_models::container::LogConfig) -> Vec<String> {
    let opts = &cfg.config;
    let mut out = Vec::new();
    if cfg.r#type == "none" {
        return ["--log-max-size", "1048576", "--log-max-file", "1"]
            .map(str::to_owned)
            .to_vec();
    }
    if let Some(sz) = opts
        .get("max-size")
        .and_then(|s| crate::util::parse_size(s))
    {
        out.push("--log-max-size".to_owned());
        out.push(sz.to_string());
        if let Some(n) = opts.get("max-file") {
            out.push("--log-max-file".to_owned());
            out.push(n.clone());
        }
    }
    out
}
