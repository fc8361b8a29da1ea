//! The container lifecycle: create (clone into namespaces, set up the rootfs, stop at the exec
//! fifo), start, run, exec, kill, delete, pause/resume, ps, update. Each changing operation is
//! transactional: [`create`] removes everything it made (state dir, cgroup, process) on any
//! error, and writes a preliminary state first so even a `kill -9` of the runtime leaves
//! something `delete` can clean up.

use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Process, Spec};
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
    Ok(Some(UnixStream::connect(path).ctx(|| {
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
    let ctx = ChildCtx {
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
    .ctx(|| "clone container process".into())?;
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
        Some(crate::process::plan(
            process,
            c.seccomp.clone(),
            c.opts.preserve_fds,
        )?)
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
    drop(f);
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

/// Release a created container's process.
pub fn start(root: &Root, id: &str) -> Result<()> {
    let st = root.load(id)?;
    match st.status(root) {
        Status::Created => {}
        s => {
            return Err(Error::BadState {
                id: id.into(),
                status: s.to_string(),
                msg: if s == Status::Stopped {
                    "cannot start a container that has stopped".into()
                } else {
                    "cannot start an already running container".into()
                },
            });
        }
    }
    let fifo = root.container_dir(id).join(EXEC_FIFO);
    let fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {}", fifo.display()))?;
    let mut buf = [0u8; 1];
    loop {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLIN,
        )];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        match nix::unistd::read(&fd, &mut buf) {
            Ok(1) => break,
            Ok(_) | Err(Errno::EAGAIN) => {
                if !st.alive() {
                    return Err(Error::BadState {
                        id: id.into(),
                        status: "stopped".into(),
                        msg: "container process exited before start".into(),
                    });
                }
            }
            Err(e) => {
                return Err(Error::Sys {
                    ctx: "read exec fifo".into(),
                    source: e,
                });
            }
        }
    }
    let _ = std::fs::remove_file(&fifo);
    if st.config.get("process").is_none_or(Value::is_null) {
        return Err(Error::Spec(format!(
            "cannot start container {id}: process is not set in config.json"
        )));
    }
    warn_hooks(&st, "poststart", Status::Running);
    Ok(())
}

/// Run the stored config's `poststart` or `poststop` hooks; their failures are warnings only
/// (runtime-spec).
fn warn_hooks(st: &State, which: &str, status: Status) {
    let spec: Option<Spec> = serde_json::from_value(st.config.clone()).ok();
    let Some(h) = spec.as_ref().and_then(|s| s.hooks().clone()) else {
        return;
    };
    let list = if which == "poststart" {
        h.poststart()
    } else {
        h.poststop()
    };
    if let Err(e) = crate::hooks::run(list.as_deref().unwrap_or_default(), &st.oci(status)) {
        eprintln!("berth-runtime: warning: {which} hook: {e}");
    }
}

static FORWARD_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn forward_signals(pid: i32) {
    FORWARD_PID.store(pid, Ordering::SeqCst);
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        let act = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(forward),
            nix::sys::signal::SaFlags::SA_RESTART,
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: the handler only calls kill(2).
        let _ = unsafe { nix::sys::signal::sigaction(sig, &act) };
    }
}

/// Wait for our child `pid`; the exit code as a shell reports it (128+N for signal N).
pub fn wait_exit(pid: i32) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    ctx: format!("wait for {pid}"),
                    source: e,
                });
            }
        }
    }
}

/// `run`: create, start and (unless detached) wait, then delete. Returns the exit code.
/// With `keep`, the stopped container stays (for `state` and `delete`).
pub fn run(root: &Root, o: &CreateOpts, detach: bool, keep: bool) -> Result<i32> {
    let c = create(root, o, !detach)?;
    if let Err(e) = start(root, &o.id) {
        let _ = delete(root, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    forward_signals(c.pid);
    if let Some(m) = &c.pty {
        crate::terminal::proxy(m);
    }
    let code = wait_exit(c.pid)?;
    if !keep {
        delete(root, &o.id, true)?;
    }
    Ok(code)
}

/// Parse a signal given as a name (`KILL`, `SIGKILL`) or a number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Other(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        let off: i32 = if rt.is_empty() {
            0
        } else {
            rt.trim_start_matches('+')
                .parse()
                .map_err(|_| Error::Other(format!("invalid signal {s:?}")))?
        };
        return Ok(libc::SIGRTMIN() + off);
    }
    name.parse::<Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::Other(format!("invalid signal {s:?}")))
}

fn send(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: kill(2) with a plain pid and signal number.
    if unsafe { libc::kill(pid, sig) } != 0 {
        let e = Errno::last();
        if e != Errno::ESRCH {
            return Err(Error::Sys {
                ctx: format!("kill {pid}"),
                source: e,
            });
        }
    }
    Ok(())
}

fn kill_cgroup(cg: &dyn Cgroup) {
    for p in cg.pids().unwrap_or_default() {
        let _ = send(p, libc::SIGKILL);
    }
    if cg.frozen() {
        let _ = cg.freeze(false);
    }
}

/// Send `sig` to the container's init (or, with `all`, to every process in its cgroup).
pub fn kill(root: &Root, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = root.load(id)?;
    let status = st.status(root);
    if status == Status::Stopped && !all {
        return Err(Error::BadState {
            id: id.into(),
            status: status.to_string(),
            msg: "container not running".into(),
        });
    }
    if all {
        let cg = cgroups::open(&st.cgroup_path)?;
        for p in cg.pids().unwrap_or_default() {
            send(p, sig)?;
        }
        if sig == libc::SIGKILL && cg.frozen() {
            cg.freeze(false)?;
        }
        return Ok(());
    }
    send(st.pid, sig)
}

/// Remove a container: with `force`, kill it first if it still runs. Poststop hooks run last;
/// their failures are warnings.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    state::check_id(id)?;
    let st = match root.load(id) {
        Ok(s) => s,
        Err(Error::NotFound(_)) if root.container_dir(id).exists() => {
            // A create that died before writing any state: nothing but the directory exists.
            return std::fs::remove_dir_all(root.container_dir(id))
                .ctx(|| format!("remove {}", root.container_dir(id).display()));
        }
        Err(e) => return Err(e),
    };
    let status = st.status(root);
    if matches!(status, Status::Created | Status::Running | Status::Paused) && !force {
        return Err(Error::BadState {
            id: id.into(),
            status: status.to_string(),
            msg: "cannot delete a container that is not stopped (use --force)".into(),
        });
    }
    let cg = cgroups::open(&st.cgroup_path)?;
    if status != Status::Stopped && st.alive() {
        let _ = send(st.pid, libc::SIGKILL);
    }
    kill_cgroup(cg.as_ref());
    let deadline = Instant::now() + Duration::from_secs(10);
    while (st.alive() || !cg.pids().unwrap_or_default().is_empty()) && Instant::now() < deadline {
        kill_cgroup(cg.as_ref());
        std::thread::sleep(Duration::from_micros(200));
    }
    cg.destroy()?;
    std::fs::remove_dir_all(root.container_dir(id))
        .ctx(|| format!("remove {}", root.container_dir(id).display()))?;
    warn_hooks(&st, "poststop", Status::Stopped);
    Ok(())
}

/// `state`: the runtime-spec state document.
pub fn state(root: &Root, id: &str) -> Result<Value> {
    let st = root.load(id)?;
    Ok(st.oci(st.status(root)))
}

/// `pause` / `resume` through the freezer.
pub fn pause(root: &Root, id: &str, frozen: bool) -> Result<()> {
    let st = root.load(id)?;
    let status = st.status(root);
    let ok = if frozen {
        status == Status::Running
    } else {
        status == Status::Paused
    };
    if !ok {
        let msg = if frozen {
            "container not running"
        } else {
            "container not paused"
        };
        return Err(Error::BadState {
            id: id.into(),
            status: status.to_string(),
            msg: msg.into(),
        });
    }
    cgroups::open(&st.cgroup_path)?.freeze(frozen)
}

/// Pids of the container's processes (host pids).
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    let st = root.load(id)?;
    cgroups::open(&st.cgroup_path)?.pids()
}

/// `update`: apply new resources to a live container and remember them.
pub fn update(root: &Root, id: &str, resources: &Value) -> Result<()> {
    let mut st = root.load(id)?;
    let status = st.status(root);
    if status == Status::Stopped {
        return Err(Error::BadState {
            id: id.into(),
            status: status.to_string(),
            msg: "cannot update a stopped container".into(),
        });
    }
    let r: LinuxResources = serde_json::from_value(resources.clone())
        .map_err(|e| Error::Spec(format!("invalid resources: {e}")))?;
    cgroups::open(&st.cgroup_path)?.apply(&r)?;
    let cur = &mut st.config["linux"]["resources"];
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    if let (Some(cur), Some(new)) = (cur.as_object_mut(), resources.as_object()) {
        for (k, v) in new {
            cur.insert(k.clone(), v.clone());
        }
    }
    root.save(&st)
}

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOpts {
    pub id: String,
    pub process: Option<Process>,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
}

/// The container's process as the base of an `exec ID ARGS…` process.
pub fn base_process(root: &Root, id: &str) -> Result<Process> {
    let st = root.load(id)?;
    let spec: Spec = serde_json::from_value(st.config).map_err(|e| Error::Spec(e.to_string()))?;
    Ok(spec.process().clone().unwrap_or_default())
}

const NS_ORDER: [(&str, LinuxNamespaceType); 8] = [
    ("user", LinuxNamespaceType::User),
    ("ipc", LinuxNamespaceType::Ipc),
    ("uts", LinuxNamespaceType::Uts),
    ("net", LinuxNamespaceType::Network),
    ("cgroup", LinuxNamespaceType::Cgroup),
    ("pid", LinuxNamespaceType::Pid),
    ("time", LinuxNamespaceType::Time),
    ("mnt", LinuxNamespaceType::Mount),
];

/// Run a new process in a running container. Returns its exit code (0 when detached).
pub fn exec(root: &Root, o: &ExecOpts) -> Result<i32> {
    let st = root.load(&o.id)?;
    let status = st.status(root);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::BadState {
            id: o.id.clone(),
            status: status.to_string(),
            msg: format!("cannot exec in a {status} container"),
        });
    }
    let process = match &o.process {
        Some(p) => p.clone(),
        None => base_process(root, &o.id)?,
    };
    let terminal = process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && o.detach {
        return Err(Error::Spec(
            "cannot allocate tty if runtime will detach without setting console socket".into(),
        ));
    }
    let filter = compile_filter(crate::spec::seccomp_of(&st.config)?.as_ref(), root)?;
    let notify = notify_connection(filter.as_ref())?.map(|s| (s, st.oci(status)));
    let cg = cgroups::open(&st.cgroup_path)?;
    let mut joins = Vec::new();
    for (name, t) in NS_ORDER {
        let theirs = format!("/proc/{}/ns/{name}", st.pid);
        let same = match (
            std::fs::metadata(&theirs),
            std::fs::metadata(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.ino() == b.ino() && a.dev() == b.dev()
            }
            _ => true,
        };
        if !same {
            let fd: OwnedFd = std::fs::File::open(&theirs)
                .ctx(|| format!("open {theirs}"))?
                .into();
            joins.push((t, fd));
        }
    }
    for (t, fd) in &joins {
        if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            nix::sched::setns(fd, ns_flag(*t)).ctx(|| format!("join {t} namespace"))?;
        }
    }
    let console = match &o.console_socket {
        Some(p) => Some(
            UnixStream::connect(p).ctx(|| format!("connect to console socket {}", p.display()))?,
        ),
        None => None,
    };
    let (parent, child) = sync::pair()?;
    // SAFETY: single-threaded process; the child only runs code that is safe after fork.
    let pid = match unsafe { nix::unistd::fork() }.ctx(|| "fork".into())? {
        nix::unistd::ForkResult::Child => {
            drop(parent);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            let e = exec_child(
                &child,
                &joins,
                &process,
                filter,
                notify,
                console.as_ref(),
                o,
            )
            .unwrap_err();
            let _ = child.send(&e.to_wire());
            // SAFETY: leave the forked child without running the parent's destructors.
            unsafe { libc::_exit(127) };
        }
        nix::unistd::ForkResult::Parent { child: pid } => pid,
    };
    drop(child);
    if let Err(e) = cg.add(pid.as_raw()) {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(e);
    }
    parent.send(b"go")?;
    // The child's end is close-on-exec: end-of-file means the exec succeeded.
    let (msg, pty) = parent.recv_fd()?;
    let mut pty = pty;
    if msg.starts_with(b"pty") {
        let (m2, _) = parent.recv_fd()?;
        if let Some(e) = m2.strip_prefix(b"error:") {
            let _ = waitpid(pid, None);
            return Err(Error::from_wire(e));
        }
    } else if let Some(e) = msg.strip_prefix(b"error:") {
        let _ = waitpid(pid, None);
        return Err(Error::from_wire(e));
    } else {
        pty = None;
    }
    if let Some(p) = &o.pid_file {
        state::write_atomic(p, pid.as_raw().to_string().as_bytes())?;
    }
    if o.detach {
        return Ok(0);
    }
    forward_signals(pid.as_raw());
    if let Some(m) = &pty {
        crate::terminal::proxy(m);
    }
    wait_exit(pid.as_raw())
}

fn exec_child(
    chan: &Channel,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    process: &Process,
    filter: Option<LoadedFilter>,
    notify: Option<(UnixStream, Value)>,
    console: Option<&UnixStream>,
    o: &ExecOpts,
) -> Result<std::convert::Infallible> {
    chan.expect(b"go")?;
    for (t, fd) in joins {
        if !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            nix::sched::setns(fd, ns_flag(*t)).ctx(|| format!("join {t} namespace"))?;
        }
        if *t == LinuxNamespaceType::User {
            nix::unistd::setresgid(0.into(), 0.into(), 0.into()).ctx(|| "setgid 0".into())?;
            nix::unistd::setresuid(0.into(), 0.into(), 0.into()).ctx(|| "setuid 0".into())?;
        }
    }
    nix::unistd::chdir("/").ctx(|| "chdir /".into())?;
    if process.terminal() == Some(true) {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let master = crate::terminal::setup_pty(size)?;
        match console {
            Some(sock) => crate::terminal::send_master(sock, &master)?,
            None => chan.send_fd(b"pty", Some(master.as_raw_fd()))?,
        }
    }
    crate::process::set_rlimits(process)?;
    let mut plan = crate::process::plan(process, filter, o.preserve_fds)?;
    plan.notify = notify;
    crate::process::finalize_and_exec(&plan)
}

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
