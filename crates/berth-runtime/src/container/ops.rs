//! start, run, kill, delete, state, pause/resume, ps and update of a created container.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Spec};
use serde_json::Value;

use super::*;
use crate::cgroups::{self, Cgroup};
use crate::error::{Context, Error, Result};
use crate::state::{self, EXEC_FIFO, Root, State, Status};

/// Release a created container's process; returns once it runs the container's program.
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
    // The init writes one byte, then holds the fifo open until it execs the container's
    // program: read the byte, then to end-of-file. (With no writer yet, a non-blocking read
    // returns 0 as well: the byte comes first.)
    let mut buf = [0u8; 1];
    let mut got_byte = false;
    loop {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLIN,
        )];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        match nix::unistd::read(&fd, &mut buf) {
            Ok(1) => got_byte = true,
            Ok(0) if got_byte => break,
            Ok(_) | Err(Errno::EAGAIN) => {
                if !st.alive() {
                    if got_byte {
                        // Started, and already gone (e.g. its exec failed): started all the same.
                        break;
                    }
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
    crate::hooks::run_all(list.as_deref().unwrap_or_default(), &st.oci(status), which);
}

static FORWARD_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

pub(super) fn forward_signals(pid: i32) {
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

pub(super) fn kill_cgroup(cg: &dyn Cgroup) {
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
    await_handler(root, &st, sig);
    send(st.pid, sig)
}

/// The kernel drops a signal sent to a pid-namespace init that has no handler for it (SIGKILL and
/// SIGSTOP aside). Right after `start`, the container's program may not have installed its
/// handlers yet (a shell's `trap` runs some milliseconds after the exec), and a `kill` that
/// quickly would be lost. So an init started less than a second ago, that neither catches nor
/// ignores `sig`, gets up to 500 ms to install a handler before the signal goes out (a shell
/// on a loaded 2-core host can take over 100 ms to reach its `trap`).
fn await_handler(root: &Root, st: &State, sig: i32) {
    if sig == libc::SIGKILL || sig == libc::SIGSTOP || !(1..=64).contains(&sig) {
        return;
    }
    // `start` removes the exec fifo: the directory's mtime is when the program was released.
    let started = std::fs::metadata(root.container_dir(&st.id)).and_then(|m| m.modified());
    let young = started
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < Duration::from_secs(1));
    if !young {
        return;
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Some(w) = signal_wants(st.pid, sig) {
        if w != Disposition::Default || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Disposition {
    Default,
    Caught,
    Ignored,
}

/// How `pid`, if it is the init of its pid namespace, disposes of `sig`; `None` for any other
/// process (the kernel delivers to those whatever their handlers).
fn signal_wants(pid: i32, sig: i32) -> Option<Disposition> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    if field("NSpid:")?.split_whitespace().last()? != "1" {
        return None;
    }
    let bit = 1u64 << (sig - 1);
    let mask = |name| field(name).and_then(|v| u64::from_str_radix(v, 16).ok());
    Some(if mask("SigCgt:")? & bit != 0 {
        Disposition::Caught
    } else if mask("SigIgn:")? & bit != 0 {
        Disposition::Ignored
    } else {
        Disposition::Default
    })
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
