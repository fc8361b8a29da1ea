//! exec: a new process in a running container's namespaces, cgroup and security setup.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use serde_json::Value;

use super::*;
use crate::cgroups;
use crate::error::{Context, Error, Result};
use crate::seccomp::LoadedFilter;
use crate::state::{self, Root, Status};
use crate::sync::{self, Channel};

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
    let landlock = crate::landlock::from_annotations(st.annotations.iter())?;
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
                Confinement {
                    filter,
                    notify,
                    landlock,
                },
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

/// What confines an exec'd process besides its spec: the container's seccomp filter (with the
/// connection to its agent) and its Landlock profile.
struct Confinement {
    filter: Option<LoadedFilter>,
    notify: Option<(UnixStream, Value)>,
    landlock: Option<crate::landlock::Profile>,
}

fn exec_child(
    chan: &Channel,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    process: &Process,
    confinement: Confinement,
    console: Option<&UnixStream>,
    o: &ExecOpts,
) -> Result<std::convert::Infallible> {
    let Confinement {
        filter,
        notify,
        landlock,
    } = confinement;
    chan.expect(b"go")?;
    // The user namespace last: namespaces its parent owns (a network namespace the daemon
    // made) can only be joined with the privileges we have before entering it.
    let (user, rest): (Vec<_>, Vec<_>) = joins
        .iter()
        .partition(|(t, _)| *t == LinuxNamespaceType::User);
    for (t, fd) in rest.into_iter().chain(user) {
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
    // An exec'd process is held to the container's Landlock profile too.
    plan.landlock = landlock;
    crate::process::finalize_and_exec(&plan)
}
