//! `berth shim`: one single-threaded supervisor per running container. It creates and starts
//! the container through the runtime library (so it is the container's parent), owns its
//! stdout/stderr (pipes), writes them to the container's log in Docker's json-file format,
//! reaps the exit status and records it (`exit.json`, written atomically), then deletes the
//! runtime state and unmounts the root filesystem. It runs in its own session, so it outlives
//! the daemon; a restarted daemon finds it through `shim.json`.
//!
//! Files in the container directory (`--dir`): `shim.json` ([`ShimInfo`]), `exit.json`
//! ([`ExitInfo`]), `<id>-json.log` ([`LogEntry`] lines), `shim.log` (errors). `--attempt`
//! tells this start's exit.json from an earlier one.

mod log;
mod serve;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_runtime::container::{self, CreateOpts};
use berth_runtime::state::Root;
use serde::{Deserialize, Serialize};

pub use log::LogWriter;
pub use serve::{MSG_RESIZE, MSG_STDIN, MSG_STDIN_EOF, message};

/// The shim's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}: {1}")]
    Sys(String, #[source] nix::Error),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// Another runtime (`--runtime`) failed; its own words.
    #[error("{0}")]
    External(String),
}

/// `shim.json`: the shim runs, supervising the container's process 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShimInfo {
    /// The shim's pid.
    pub shim: i64,
    /// The container's process 1.
    pub pid: i64,
}

/// Why a start failed, for docker's exit codes (127, 126, 125).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartFailure {
    /// The command does not exist.
    NotFound,
    /// The command is not executable.
    NotExecutable,
    Other,
}

impl StartFailure {
    /// docker's exit code for it.
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::NotFound => 127,
            StartFailure::NotExecutable => 126,
            StartFailure::Other => 125,
        }
    }

    fn of(e: &Error) -> StartFailure {
        use berth_runtime::error::ExecFailure;
        match e {
            Error::Runtime(berth_runtime::Error::Exec { failure, .. }) => match failure {
                ExecFailure::NoSuchFile | ExecFailure::NotInPath => StartFailure::NotFound,
                ExecFailure::PermissionDenied => StartFailure::NotExecutable,
            },
            // Another runtime says it in words only (runc's and crun's, which docker's CLI
            // reads the same way).
            Error::External(m) => {
                if m.contains("executable file not found")
                    || m.contains("no such file or directory")
                {
                    StartFailure::NotFound
                } else if m.contains("permission denied") {
                    StartFailure::NotExecutable
                } else {
                    StartFailure::Other
                }
            }
            _ => StartFailure::Other,
        }
    }
}

/// `exit.json`: how the container's run ended (or why it never began: `error`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub code: i64,
    /// RFC 3339.
    pub finished: String,
    /// The start this is the end of (`--attempt`).
    #[serde(default)]
    pub attempt: String,
    /// The start's failure, if it never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<StartFailure>,
}

/// One line of the json-file log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

impl ShimInfo {
    /// The shim.json in `dir`, if there is one.
    pub fn read(dir: &Path) -> Option<ShimInfo> {
        serde_json::from_slice(&std::fs::read(dir.join("shim.json")).ok()?).ok()
    }
}

impl ExitInfo {
    /// The exit.json in `dir`, if there is one.
    pub fn read(dir: &Path) -> Option<ExitInfo> {
        serde_json::from_slice(&std::fs::read(dir.join("exit.json")).ok()?).ok()
    }

    /// Record it as `dir`'s exit.json (atomically: never half a file).
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        write_json(&dir.join("exit.json"), self)
    }
}

struct Args {
    id: String,
    bundle: PathBuf,
    root: PathBuf,
    dir: PathBuf,
    rootfs: Option<PathBuf>,
    attempt: String,
    tty: bool,
    stdin: bool,
    log_max_size: Option<u64>,
    log_max_file: u32,
    /// Another runc-compatible runtime (`--runtime`), used through its command line.
    runtime: Option<PathBuf>,
    /// `--seccomp-record FILE`: be the seccomp agent of a recording profile (its listener
    /// socket is `seccomp.sock` in `dir`) and write the profile it needed to FILE at the end.
    seccomp_record: Option<PathBuf>,
}

fn parse(args: &[std::ffi::OsString]) -> Result<Args, Error> {
    let mut it = args.iter();
    let (mut id, mut bundle, mut root, mut dir, mut rootfs) = (None, None, None, None, None);
    let mut attempt = String::new();
    let (mut tty, mut stdin) = (false, false);
    let (mut log_max_size, mut log_max_file) = (None, 1u32);
    let mut runtime = None;
    let mut seccomp_record = None;
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| Error::Usage(format!("{} needs a value", a.to_string_lossy())))
        };
        match a.to_str() {
            Some("--id") => id = Some(val()?.display().to_string()),
            Some("--bundle") => bundle = Some(val()?),
            Some("--runtime-root") => root = Some(val()?),
            Some("--dir") => dir = Some(val()?),
            Some("--rootfs") => rootfs = Some(val()?),
            Some("--attempt") => attempt = val()?.display().to_string(),
            Some("--tty") => tty = true,
            Some("--runtime") => runtime = Some(val()?),
            Some("--seccomp-record") => seccomp_record = Some(val()?),
            Some("--log-max-size") => {
                log_max_size = val()?.to_str().and_then(|v| v.parse().ok());
            }
            Some("--log-max-file") => {
                log_max_file = val()?.to_str().and_then(|v| v.parse().ok()).unwrap_or(1);
            }
            Some("--stdin") => stdin = true,
            _ => {
                return Err(Error::Usage(format!(
                    "unknown argument {}",
                    a.to_string_lossy()
                )));
            }
        }
    }
    Ok(Args {
        id: id.ok_or_else(|| Error::Usage("--id is required".into()))?,
        bundle: bundle.ok_or_else(|| Error::Usage("--bundle is required".into()))?,
        root: root.ok_or_else(|| Error::Usage("--runtime-root is required".into()))?,
        dir: dir.ok_or_else(|| Error::Usage("--dir is required".into()))?,
        rootfs,
        attempt,
        tty,
        stdin,
        log_max_size,
        log_max_file,
        runtime,
        seccomp_record,
    })
}

use berth_units::now_rfc3339;

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), Error> {
    let data =
        serde_json::to_vec(v).map_err(|e| Error::Io(path.display().to_string(), e.into()))?;
    write_atomic(path, &data).map_err(|e| Error::Io(format!("write {}", path.display()), e))
}

/// `berth shim --reap PIDFILE -- RUNTIME ARGS…`: run a detaching runtime command (`exec -d`
/// of another runtime, for a terminal through a console socket) as a child subreaper, then
/// wait for the process it left behind (named by PIDFILE) and exit with its status.
fn reap_main(args: &[std::ffi::OsString]) -> i32 {
    let (Some(pid_file), Some(prog)) = (args.first(), args.get(2)) else {
        eprintln!("berth shim --reap: usage: --reap PIDFILE -- PROGRAM ARGS...");
        return 2;
    };
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER and an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let st = std::process::Command::new(prog).args(&args[3..]).status();
    match st {
        Ok(s) if s.success() => {}
        Ok(s) => return s.code().unwrap_or(126),
        Err(e) => {
            eprintln!("{}: {e}", Path::new(prog).display());
            return 126;
        }
    }
    let pid = std::fs::read_to_string(Path::new(pid_file))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let _ = std::fs::remove_file(Path::new(pid_file));
    match pid.map(container::wait_exit) {
        Some(Ok(code)) => code,
        _ => {
            eprintln!("the runtime left no process to wait for");
            126
        }
    }
}

pub fn main(args: &[std::ffi::OsString]) -> i32 {
    if args.first().is_some_and(|a| a == "--reap") {
        return reap_main(&args[1..]);
    }
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth shim: {e}");
            return 2;
        }
    };
    // The container must never see the host's berth binary as /proc/self/exe (CVE-2019-5736).
    if let Err(e) = berth_runtime::exe::ensure_sealed() {
        eprintln!("berth shim: {e}");
        return 1;
    }
    match run(&a) {
        Ok(()) => 0,
        Err(e) => {
            let _ = std::fs::write(a.dir.join("shim.log"), format!("{e}\n"));
            // A start that failed is an exit with Docker's code for it.
            let failure = StartFailure::of(&e);
            let _ = ExitInfo {
                code: i64::from(failure.exit_code()),
                finished: now_rfc3339(),
                attempt: a.attempt.clone(),
                error: Some(e.to_string()),
                failure: Some(failure),
            }
            .write(&a.dir);
            if let Some(r) = &a.rootfs {
                let _ = nix::mount::umount2(r, nix::mount::MntFlags::MNT_DETACH);
            }
            1
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Sys("pipe".into(), e))
}

fn dup_onto(fd: &impl AsFd, target: i32) -> Result<(), Error> {
    // SAFETY: dup2 onto a standard descriptor number; the source is a valid open fd.
    if unsafe { libc::dup2(fd.as_fd().as_raw_fd(), target) } < 0 {
        return Err(Error::Io("dup2".into(), std::io::Error::last_os_error()));
    }
    Ok(())
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let w = what.into();
    move |e| Error::Io(w, e)
}

fn run(a: &Args) -> Result<(), Error> {
    let root = Root::new(&a.root);
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(io("/dev/null"))?;
    let opts = CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        ..Default::default()
    };
    // Clients (the daemon) send stdin and terminal sizes here; bound before the container
    // runs so an attach made before the start finds it.
    let sock_path = a.dir.join("attach.sock");
    let _ = std::fs::remove_file(&sock_path);
    let listener = std::os::unix::net::UnixListener::bind(short_path(&a.dir, "attach.sock")?.0)
        .map_err(io(format!("bind {}", sock_path.display())))?;
    listener
        .set_nonblocking(true)
        .map_err(io("attach socket"))?;
    if let Some(rt) = &a.runtime {
        return run_external(a, rt, &null, listener, &sock_path);
    }
    let recorder = a
        .seccomp_record
        .as_ref()
        .map(|_| Recorder::start(a))
        .transpose()?;
    let (outputs, stdin_w, pty, created) = if a.tty {
        // The runtime opens the pty inside the container and hands us its master.
        dup_onto(&null, 0)?;
        let created = container::create(&root, &opts, true)?;
        let master = created
            .pty
            .as_ref()
            .map(|m| m.try_clone())
            .transpose()
            .map_err(io("pty"))?
            .ok_or_else(|| Error::External("the runtime returned no terminal".into()))?;
        let out = master.try_clone().map_err(io("pty"))?;
        (vec![(out, "stdout")], None, Some(master), created)
    } else {
        let (outputs, in_w, created) =
            with_stdio(a, &null, || container::create(&root, &opts, false))?;
        let created = created?;
        (outputs, in_w, None, created)
    };
    if let Err(e) = container::start(&root, &a.id) {
        let _ = container::delete(&root, &a.id, true);
        return Err(e.into());
    }
    supervise(
        a,
        created.pid,
        outputs,
        stdin_w,
        pty,
        listener,
        &sock_path,
        || {
            let _ = container::delete(&root, &a.id, true);
            if let (Some(r), Some(file)) = (recorder, &a.seccomp_record) {
                r.finish(file);
            }
        },
    )
}

/// The seccomp agent of a recording profile, on a thread of its own.
struct Recorder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<std::collections::BTreeSet<String>>,
}

impl Recorder {
    /// Listen on `seccomp.sock` in the container's directory before the runtime connects.
    fn start(a: &Args) -> Result<Recorder, Error> {
        let path = a.dir.join("seccomp.sock");
        let _ = std::fs::remove_file(&path);
        let (short, _dir) = short_path(&a.dir, "seccomp.sock")?;
        let l = std::os::unix::net::UnixListener::bind(&short)
            .map_err(io(format!("bind {}", path.display())))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || berth_runtime::seccomp::record::record(l, s));
        Ok(Recorder { stop, thread })
    }

    /// The container ended: write the profile it needed (atomically).
    fn finish(self, file: &Path) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let names = self.thread.join().unwrap_or_default();
        let profile = berth_runtime::seccomp::record::docker_profile(&names);
        let data = serde_json::to_vec_pretty(&profile).unwrap_or_default();
        let _ = write_atomic(file, &data);
    }
}

/// Pipes for the container's stdio (stdin only with `--stdin`) on our 0, 1, 2 while `f`
/// creates the container (which inherits them), then /dev/null again: afterwards only the
/// container holds the pipes' other ends. Returns the outputs, stdin's write end, `f`'s result.
#[allow(clippy::type_complexity)]
fn with_stdio<T>(
    a: &Args,
    null: &std::fs::File,
    f: impl FnOnce() -> T,
) -> Result<(Vec<(OwnedFd, &'static str)>, Option<OwnedFd>, T), Error> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (in_r, in_w) = if a.stdin {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    match &in_r {
        Some(r) => dup_onto(r, 0)?,
        None => dup_onto(null, 0)?,
    }
    dup_onto(&out_w, 1)?;
    dup_onto(&err_w, 2)?;
    let r = f();
    dup_onto(null, 0)?;
    dup_onto(null, 1)?;
    dup_onto(null, 2)?;
    drop((out_w, err_w, in_r));
    Ok((vec![(out_r, "stdout"), (err_r, "stderr")], in_w, r))
}

/// The rest of a container's life: announce it (`shim.json`), log its output and serve its
/// control socket until the output ends, reap it, clean up (`cleanup`: the runtime's state),
/// unmount its root and record the exit (`exit.json`).
#[allow(clippy::too_many_arguments)]
fn supervise(
    a: &Args,
    pid: i32,
    outputs: Vec<(OwnedFd, &'static str)>,
    stdin_w: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    listener: std::os::unix::net::UnixListener,
    sock_path: &Path,
    cleanup: impl FnOnce(),
) -> Result<(), Error> {
    write_json(
        &a.dir.join("shim.json"),
        &ShimInfo {
            shim: i64::from(std::process::id()),
            pid: i64::from(pid),
        },
    )?;
    // The previous run's exit is history now (state reads shim.json first meanwhile).
    let _ = std::fs::remove_file(a.dir.join("exit.json"));
    let log = LogWriter::open(
        a.dir.join(format!("{}-json.log", a.id)),
        a.log_max_size,
        a.log_max_file,
    )?;
    serve::serve(outputs, stdin_w, pty, listener, log);
    let code = container::wait_exit(pid)?;
    let _ = std::fs::remove_file(sock_path);
    cleanup();
    if let Some(r) = &a.rootfs {
        let _ = nix::mount::umount2(r, nix::mount::MntFlags::MNT_DETACH);
    }
    ExitInfo {
        code: i64::from(code),
        finished: now_rfc3339(),
        attempt: a.attempt.clone(),
        error: None,
        failure: None,
    }
    .write(&a.dir)?;
    let _ = std::fs::remove_file(a.dir.join("shim.json"));
    Ok(())
}

/// `--runtime runc|crun|PATH`: the same supervision around another runc-compatible runtime's
/// `create`/`start`/`delete`. The shim is the child subreaper, so the container's init (whose
/// parent, the runtime, exits after `create`) becomes its child and is reaped here.
fn run_external(
    a: &Args,
    rt: &Path,
    null: &std::fs::File,
    listener: std::os::unix::net::UnixListener,
    sock_path: &Path,
) -> Result<(), Error> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER and an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let pid_file = a.dir.join("init.pid");
    let _ = std::fs::remove_file(&pid_file);
    let create = || {
        let mut c = std::process::Command::new(rt);
        c.arg("--root")
            .arg(&a.root)
            .arg("create")
            .arg("--bundle")
            .arg(&a.bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&a.id);
        c
    };
    let (outputs, in_w, pty) = if a.tty {
        // The runtime hands the terminal's master over a console socket during `create`.
        // The runtime connects from its own process: /proc/<our pid>, not /proc/self.
        let (short, _keep) = short_path(&a.dir, "console.sock")?;
        let short = PathBuf::from(short.to_string_lossy().replacen(
            "/proc/self/",
            &format!("/proc/{}/", std::process::id()),
            1,
        ));
        let _ = std::fs::remove_file(a.dir.join("console.sock"));
        let console =
            std::os::unix::net::UnixListener::bind(&short).map_err(io("console socket"))?;
        console
            .set_nonblocking(true)
            .map_err(io("console socket"))?;
        let mut child = create()
            .arg("--console-socket")
            .arg(&short)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(io(rt.display().to_string()))?;
        let mut master = None;
        let status = loop {
            if master.is_none() {
                if let Ok((s, _)) = console.accept() {
                    let _ = s.set_nonblocking(false);
                    master = recv_fd(&s);
                }
            }
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(1)),
                Err(e) => return Err(Error::Io(rt.display().to_string(), e)),
            }
        };
        let _ = std::fs::remove_file(a.dir.join("console.sock"));
        if !status.success() {
            let mut msg = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut msg);
            }
            return Err(Error::External(format!(
                "{} create: {}",
                rt.display(),
                msg.trim()
            )));
        }
        let master =
            master.ok_or_else(|| Error::External("the runtime sent no terminal".into()))?;
        let out = master.try_clone().map_err(io("pty"))?;
        (vec![(out, "stdout")], None, Some(master))
    } else {
        let (outputs, in_w, status) = with_stdio(a, null, || create().status())?;
        if !status.as_ref().is_ok_and(|s| s.success()) {
            // The runtime's complaint went to what would have been the container's stderr.
            let mut msg = String::new();
            if let Some((err_r, _)) = outputs.into_iter().nth(1) {
                let mut f = std::fs::File::from(err_r);
                let _ = std::io::Read::read_to_string(&mut f, &mut msg);
            }
            return Err(Error::External(format!(
                "{} create: {}",
                rt.display(),
                msg.trim()
            )));
        }
        (outputs, in_w, None)
    };
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::External("the runtime wrote no pid file".into()))?;
    let started = std::process::Command::new(rt)
        .arg("--root")
        .arg(&a.root)
        .arg("start")
        .arg(&a.id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output();
    if !started.as_ref().is_ok_and(|o| o.status.success()) {
        let _ = std::process::Command::new(rt)
            .arg("--root")
            .arg(&a.root)
            .args(["delete", "-f"])
            .arg(&a.id)
            .output();
        return Err(Error::External(format!(
            "{} start: {}",
            rt.display(),
            started
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_default()
        )));
    }
    supervise(a, pid, outputs, in_w, pty, listener, sock_path, || {
        let _ = std::process::Command::new(rt)
            .arg("--root")
            .arg(&a.root)
            .args(["delete", "-f"])
            .arg(&a.id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    })
}

/// One descriptor passed with SCM_RIGHTS (a console socket's terminal master).
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> Option<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just gave us this descriptor; we own it now.
                return Some(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    None
}

/// A unix socket path that fits in `sun_path` however deep `dir` is: through an open
/// descriptor of the directory (`/proc/self/fd/N/name`). Keep the returned fd while using it.
pub fn short_path(dir: &Path, name: &str) -> Result<(PathBuf, OwnedFd), Error> {
    let fd: OwnedFd = std::fs::File::open(dir)
        .map_err(io(format!("open {}", dir.display())))?
        .into();
    Ok((
        PathBuf::from(format!("/proc/self/fd/{}/{name}", fd.as_raw_fd())),
        fd,
    ))
}
