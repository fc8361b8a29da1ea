//! The container lifecycle: create (clone into namespaces, set up the rootfs, stop at the exec
//! fifo), start, run, exec, kill, delete, pause/resume, ps, update. Each changing operation is
//! transactional: [`create`] removes everything it made (state dir, cgroup, process) on any
//! error, and writes a preliminary state first so even a `kill -9` of the runtime leaves
//! something `delete` can clean up.

use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use serde_json::Value;

use crate::cgroups::{self, Cgroup};
use crate::error::{Context, Error, Result};
use crate::seccomp::{self, LoadedFilter, Profile};
use crate::spec::Bundle;
use crate::state::{self, EXEC_FIFO, Root, State, Status};
use crate::sync::{self, Channel};

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
}

/// A created container's init process.
pub struct Created {
    pub pid: i32,
    /// The pty master, when `run` in the foreground allocated the terminal itself.
    pub pty: Option<OwnedFd>,
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Undo a half-made `create` unless disarmed.
struct Undo<'a> {
    root: &'a Root,
    id: String,
    cgroup: Option<Box<dyn Cgroup>>,
    pid: Option<Pid>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = &self.cgroup {
            kill_cgroup(cg.as_ref());
            let _ = cg.destroy();
        }
        let _ = std::fs::remove_dir_all(self.root.container_dir(&self.id));
    }
}

/// What the cloned child needs.
struct ChildCtx<'a> {
    id: &'a str,
    /// The `net.` sysctls were written from outside (see `create`).
    net_sysctls_done: bool,
    spec: &'a Spec,
    rootfs: &'a Path,
    chan: Channel,
    joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    new_user: bool,
    new_mnt: bool,
    has_process: bool,
    new_cgroupns: bool,
    cgroup: &'a dyn Cgroup,
    fifo: OwnedFd,
    console: Option<UnixStream>,
    pty_to_parent: bool,
    seccomp: Option<LoadedFilter>,
    /// Connection to the seccomp agent at `listenerPath` (notify profiles only).
    notify: Option<UnixStream>,
    opts: &'a CreateOpts,
}

/// For a profile with `SCMP_ACT_NOTIFY`, connect to its `listenerPath` now, from the host side:
/// the container process sends the listener there once it has loaded the filter.
fn notify_connection(filter: Option<&LoadedFilter>) -> Result<Option<UnixStream>> {
    let Some(f) = filter.filter(|f| f.notify) else {
        return Ok(None);
    };
    let path = f
        .listener_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Error::Seccomp(
                "profile uses SCMP_ACT_NOTIFY but linux.seccomp.listenerPath is not set".into(),
            )
        })?;
    // A path longer than a socket address holds is reached through its directory.
    let p = std::path::Path::new(path);
    let res = if path.len() < 100 {
        UnixStream::connect(p)
    } else {
        let dir = std::fs::File::open(p.parent().unwrap_or(std::path::Path::new("/")))
            .ctx(|| format!("open the directory of seccomp listenerPath {path}"))?;
        UnixStream::connect(format!(
            "/proc/self/fd/{}/{}",
            dir.as_raw_fd(),
            p.file_name().unwrap_or_default().to_string_lossy()
        ))
    };
    Ok(Some(res.ctx(|| {
        format!("connect to seccomp listenerPath {path}")
    })?))
}

/// Compile (or take from the cache) the container's seccomp program.
fn compile_filter(profile: Option<&Profile>, root: &Root) -> Result<Option<LoadedFilter>> {
    profile
        .map(|p| seccomp::compile_cached(p, &root.dir.join(".seccomp-cache")))
        .transpose()
}

/// Create a container: everything up to the point where only `start` is missing.
pub fn create(root: &Root, o: &CreateOpts, foreground_tty: bool) -> Result<Created> {
    state::check_id(&o.id)?;
    let bundle = Bundle::load(&o.bundle)?;
    let spec = &bundle.spec;
    // `process` may be absent at create time; `start` then fails (runtime-spec).
    let process = spec.process().clone().unwrap_or_default();
    let has_process = spec.process().is_some();
    let terminal = has_process && process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && !foreground_tty {
        return Err(Error::Spec(
            "cannot allocate tty if runtime will detach without setting console socket".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Spec(
            "cannot use console socket if runtime will not detach or allocate tty".into(),
        ));
    }
    let unraisable = crate::process::unraisable_ambient(&process);
    if !unraisable.is_empty() {
        eprintln!(
            "berth-runtime: warning: ambient capabilities {} are not inheritable and permitted: not raised",
            unraisable.join(", ")
        );
    }
    let linux = spec.linux().clone().unwrap_or_default();
    let mut flags = CloneFlags::empty();
    let mut joins = Vec::new();
    let (mut pid_join, mut time_join, mut new_time, mut new_cgroupns, mut has_mnt) =
        (None, None, false, false, false);
    for ns in linux.namespaces().iter().flatten() {
        has_mnt |= ns.typ() == LinuxNamespaceType::Mount;
        match ns.path() {
            Some(p) => {
                let fd: OwnedFd = std::fs::File::open(p)
                    .ctx(|| format!("open {} namespace {}", ns.typ(), p.display()))?
                    .into();
                match ns.typ() {
                    LinuxNamespaceType::Pid => pid_join = Some(fd),
                    LinuxNamespaceType::Time => time_join = Some(fd),
                    t => joins.push((t, fd)),
                }
            }
            None => match ns.typ() {
                LinuxNamespaceType::Cgroup => new_cgroupns = true,
                LinuxNamespaceType::Time => new_time = true,
                t => flags |= ns_flag(t),
            },
        }
    }
    if !has_mnt {
        return Err(Error::Spec("a mount namespace is required".into()));
    }
    // Order of joins: the user namespace first (it grants the rights for the others), mount last.
    joins.sort_by_key(|(t, _)| match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    });
    let filter = compile_filter(bundle.seccomp.as_ref(), root)?;
    let notify = notify_connection(filter.as_ref())?;

    let dir = root.claim(&o.id)?;
    let mut undo = Undo {
        root,
        id: o.id.clone(),
        cgroup: None,
        pid: None,
        armed: true,
    };
    let cg_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("/berth/{}", o.id));
    let cg_path = cgroups::normalize(&cg_path)?;
    let mut st = State {
        id: o.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: owner_name(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cgroup_path: cg_path.clone(),
        config: bundle.raw.clone(),
    };
    // Written before anything else exists, so `delete` can always clean up after a crash.
    root.save(&st)?;
    let cg = cgroups::open(&cg_path)?;
    cg.create()?;
    undo.cgroup = Some(cgroups::open(&cg_path)?);
    if let Some(r) = linux.resources() {
        cg.apply(r)?;
    }
    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", fifo_path.display()))?;
    // Past the umask: a container root mapped to another host uid must be able to open it.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .ctx(|| format!("chmod {}", fifo_path.display()))?;
    let fifo: OwnedFd = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {}", fifo_path.display()))?;
    let console = match &o.console_socket {
        Some(p) => Some(
            UnixStream::connect(p).ctx(|| format!("connect to console socket {}", p.display()))?,
        ),
        None => None,
    };
    let (parent_chan, child_chan) = sync::pair()?;

    // The pid and time namespaces of a process are fixed at its creation: set them for our
    // children here.
    if let Some(fd) = &pid_join {
        nix::sched::setns(fd, CloneFlags::CLONE_NEWPID).ctx(|| "join pid namespace".into())?;
    }
    if let Some(fd) = &time_join {
        nix::sched::setns(fd, CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .ctx(|| "join time namespace".into())?;
    } else if new_time {
        nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .ctx(|| "new time namespace".into())?;
        write_time_offsets(&bundle.raw)?;
    }

    let new_user = flags.contains(CloneFlags::CLONE_NEWUSER);
    // A new user namespace cannot join namespaces its parent's owns (a daemon's network
    // namespace joined by path): the child is created inside them instead, as pid and time
    // above, and this thread goes back afterwards.
    let mut restore: Vec<(CloneFlags, OwnedFd)> = Vec::new();
    if new_user {
        let mut kept = Vec::new();
        for (t, fd) in joins {
            let kind = match t {
                LinuxNamespaceType::Network => Some("net"),
                LinuxNamespaceType::Ipc => Some("ipc"),
                LinuxNamespaceType::Uts => Some("uts"),
                _ => None,
            };
            match kind {
                Some(k) => {
                    let ours: OwnedFd = std::fs::File::open(format!("/proc/thread-self/ns/{k}"))
                        .ctx(|| format!("open our {k} namespace"))?
                        .into();
                    nix::sched::setns(&fd, ns_flag(t)).ctx(|| format!("join {t} namespace"))?;
                    restore.push((ns_flag(t), ours));
                }
                None => kept.push((t, fd)),
            }
        }
        joins = kept;
    }
    let net_joined_from_outside = restore.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWNET);
    if net_joined_from_outside {
        // This thread is in the joined network namespace now: its sysctls are written here,
        // with our privileges over it (/proc/sys/net is the opener's namespace's).
        for (k, v) in spec
            .linux()
            .as_ref()
            .and_then(|l| l.sysctl().clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k.starts_with("net."))
        {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            if let Err(e) = std::fs::write(&path, &v) {
                for (flag, fd) in &restore {
                    let _ = nix::sched::setns(fd, *flag);
                }
                return Err(e).ctx(|| format!("sysctl {k}={v}"));
            }
        }
    }
    let ctx = ChildCtx {
        net_sysctls_done: net_joined_from_outside,
        id: &o.id,
        spec,
        rootfs: &bundle.rootfs,
        chan: child_chan,
        joins,
        new_user,
        // A mount namespace joined by path gets the rootfs set up inside it too.
        new_mnt: has_mnt,
        has_process,
        new_cgroupns,
        cgroup: cg.as_ref(),
        fifo,
        console,
        pty_to_parent: terminal && foreground_tty && o.console_socket.is_none(),
        seccomp: filter,
        notify,
        opts: o,
    };
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: this process is single-threaded (the runtime starts no threads before create), so
    // the child gets a consistent copy of the address space, as with fork.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(|| child_main(&ctx)),
            &mut stack,
            flags,
            Some(libc::SIGCHLD),
        )
    }
    .ctx(|| "clone container process".into());
    for (flag, fd) in restore {
        let _ = nix::sched::setns(&fd, flag);
    }
    let pid = pid?;
    drop(ctx);
    undo.pid = Some(pid);
    if new_user {
        write_id_maps(pid, spec)?;
    }

    cg.add(pid.as_raw())?;
    parent_chan.send(b"go")?;
    let (msg, pty) = parent_chan.recv_fd()?;
    if msg != b"ready" {
        if let Some(e) = msg.strip_prefix(b"error:") {
            return Err(Error::from_wire(e));
        }
        return Err(Error::Init("container process exited during setup".into()));
    }
    st.pid = pid.as_raw();
    st.pid_start = state::pid_start_time(st.pid).unwrap_or(0);
    if let Some(h) = spec.hooks() {
        // The runtime-spec's hooks see the container as `created` (its process exists).
        let s = st.oci(Status::Created);
        crate::hooks::run(h.prestart().as_deref().unwrap_or_default(), &s)?;
        crate::hooks::run(h.create_runtime().as_deref().unwrap_or_default(), &s)?;
        crate::hooks::run(h.create_container().as_deref().unwrap_or_default(), &s)?;
    }
    root.save(&st)?;
    if let Some(p) = &o.pid_file {
        state::write_atomic(p, st.pid.to_string().as_bytes())?;
    }
    let mut cont = b"continue".to_vec();
    cont.extend(serde_json::to_vec(&st.oci(Status::Created)).unwrap_or_default());
    parent_chan.send(&cont)?;
    // Wait until the child no longer dies with us (it drops its parent-death signal first).
    parent_chan.expect(b"ack")?;
    undo.armed = false;
    Ok(Created { pid: st.pid, pty })
}

/// The caller's user name (from /etc/passwd directly: NSS would load modules on the hot path).
fn owner_name() -> String {
    let uid = nix::unistd::getuid().as_raw();
    crate::process::passwd_entry("/etc/passwd", uid)
        .map(|f| f[0].clone())
        .unwrap_or_else(|| uid.to_string())
}

fn write_id_maps(pid: Pid, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let uid = fmt(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = fmt(linux.and_then(|l| l.gid_mappings().as_ref()));
    std::fs::write(format!("/proc/{pid}/uid_map"), &uid)
        .ctx(|| format!("write uid_map {uid:?}"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), &gid)
        .ctx(|| format!("write gid_map {gid:?}"))?;
    Ok(())
}

fn write_time_offsets(raw: &Value) -> Result<()> {
    let Some(offs) = raw.pointer("/linux/timeOffsets").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut out = String::new();
    for (clock, v) in offs {
        let secs = v.get("secs").and_then(Value::as_i64).unwrap_or(0);
        let nanos = v.get("nanosecs").and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!("{clock} {secs} {nanos}\n"));
    }
    std::fs::write("/proc/self/timens_offsets", &out).ctx(|| format!("write time offsets {out:?}"))
}

fn child_main(c: &ChildCtx) -> isize {
    // If the runtime dies during setup, so do we.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let plan = match child_setup(c) {
        Ok(p) => p,
        Err(e) => {
            let _ = c.chan.send(&e.to_wire());
            return 1;
        }
    };
    let e = child_run(c, plan).unwrap_err();
    let _ = writeln!(std::io::stderr(), "berth-runtime: {e}");
    127
}

/// Namespaces, rootfs, terminal, sysctls, exe lookup: everything that can fail and should make
/// `create` fail.
fn child_setup(c: &ChildCtx) -> Result<Option<crate::process::Plan>> {
    c.chan.expect(b"go")?;
    for (t, fd) in &c.joins {
        nix::sched::setns(fd, ns_flag(*t)).ctx(|| format!("join {t} namespace"))?;
    }
    if c.new_user || c.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User) {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .ctx(|| "become root in user namespace".into())?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .ctx(|| "become root in user namespace".into())?;
    }
    if c.new_cgroupns {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "new cgroup namespace".into())?;
    }
    if let Some(h) = c.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = c.spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        let n =
            std::ffi::CString::new(d).map_err(|_| Error::Spec("domainname holds NUL".into()))?;
        // SAFETY: a valid buffer and its length.
        if unsafe { libc::setdomainname(n.as_ptr(), d.len()) } != 0 {
            return Err(Error::Sys {
                ctx: format!("setdomainname {d:?}"),
                source: Errno::last(),
            });
        }
    }
    if !c.opts.no_new_keyring {
        crate::linux::join_session_keyring(c.id)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let process = c.spec.process().clone().unwrap_or_default();
    if c.new_mnt {
        let rctx = crate::rootfs::Ctx {
            spec: c.spec,
            rootfs: c.rootfs,
            cgroup: c.cgroup,
            new_cgroupns: c.new_cgroupns,
            in_userns: c.new_user || c.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User),
        };
        crate::rootfs::prepare(&rctx)?;
        crate::rootfs::pivot(c.rootfs, c.opts.no_pivot)?;
    }
    if c.has_process && process.terminal() == Some(true) {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let master = crate::terminal::setup_pty(size)?;
        if let Some(sock) = &c.console {
            crate::terminal::send_master(sock, &master)?;
        } else if c.pty_to_parent {
            // Sent with "ready" below.
            return finish_setup(c, &process, Some(master));
        }
    }
    finish_setup(c, &process, None)
}

fn finish_setup(
    c: &ChildCtx,
    process: &Process,
    pty: Option<OwnedFd>,
) -> Result<Option<crate::process::Plan>> {
    for (k, v) in c
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default()
    {
        // A joined network namespace is not ours to change from a new user namespace: the
        // runtime wrote its sysctls from outside.
        if c.net_sysctls_done && k.starts_with("net.") {
            continue;
        }
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, &v).ctx(|| format!("sysctl {k}={v}"))?;
    }
    if c.new_mnt {
        crate::rootfs::finish(c.spec)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .ctx(|| format!("oom_score_adj {adj}"))?;
    }
    let plan = if c.has_process {
        crate::process::set_rlimits(process)?;
        let mut plan = crate::process::plan(process, c.seccomp.clone(), c.opts.preserve_fds)?;
        plan.landlock = crate::landlock::from_annotations(c.spec.annotations().iter().flatten())?;
        Some(plan)
    } else {
        None
    };
    c.chan
        .send_fd(b"ready", pty.as_ref().map(|p| p.as_raw_fd()))?;
    Ok(plan)
}

/// After `create` returned: wait for `start`, run startContainer hooks, exec.
fn child_run(
    c: &ChildCtx,
    mut plan: Option<crate::process::Plan>,
) -> Result<std::convert::Infallible> {
    let msg = c.chan.recv()?;
    let state = msg
        .strip_prefix(b"continue")
        .ok_or_else(|| Error::Init("runtime went away before the container was created".into()))?;
    let state: Value = serde_json::from_slice(state).unwrap_or(Value::Null);
    if let (Some(p), Some(sock)) = (plan.as_mut(), &c.notify) {
        let sock = sock.try_clone().ctx(|| "seccomp listener socket".into())?;
        p.notify = Some((sock, state.clone()));
    }
    nix::sys::prctl::set_pdeathsig(None).ctx(|| "clear parent-death signal".into())?;
    c.chan.send(b"ack")?;
    // Opening the fifo for writing blocks until `start` opens it for reading.
    let path = format!("/proc/self/fd/{}", c.fifo.as_raw_fd());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .ctx(|| "open exec fifo (is /proc mounted?)".into())?;
    f.write_all(b"0").ctx(|| "write exec fifo".into())?;
    // `f` stays open (close-on-exec) until the exec: `start` reads to end-of-file, so it returns
    // only once the container's process runs its own program, as runc's does. A signal sent in
    // between would reach this pid 1 without a handler, and the kernel drops such signals.
    if let Some(h) = c.spec.hooks() {
        let mut s = state;
        s["status"] = "running".into();
        crate::hooks::run(h.start_container().as_deref().unwrap_or_default(), &s)?;
    }
    match plan {
        Some(p) => crate::process::finalize_and_exec(&p),
        // No process to run: `start` reports the error; the container just stops.
        // SAFETY: exit the cloned child without running the parent's destructors.
        None => unsafe { libc::_exit(0) },
    }
}

mod exec;
mod ops;

pub use exec::*;
pub use ops::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL").ok(), Some(9));
        assert_eq!(parse_signal("SIGTERM").ok(), Some(15));
        assert_eq!(parse_signal("term").ok(), Some(15));
        assert_eq!(parse_signal("9").ok(), Some(9));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
