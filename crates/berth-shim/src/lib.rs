//! `berth shim`: one single-threaded supervisor per running container. It creates and starts
//! the container through the runtime library (so it is the container's parent), owns its
//! stdout/stderr (pipes), writes them to the container's log in Docker's json-file format,
//! reaps the exit status and records it (`exit.json`, written atomically), then deletes the
//! runtime state and unmounts the root filesystem. It runs in its own session, so it outlives
//! the daemon; a restarted daemon finds it through `shim.json`.
//!
//! Files in the container directory (`--dir`): `shim.json` (`{"shim": pid, "pid": init pid}`),
//! `exit.json` (`{"code": N, "finished": RFC 3339, "attempt": …, "error"?}`), `<id>-json.log`,
//! `shim.log` (errors). `--attempt` tells this start's exit.json from an earlier one.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_runtime::container::{self, CreateOpts};
use berth_runtime::state::Root;

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
}

fn parse(args: &[std::ffi::OsString]) -> Result<Args, String> {
    let mut it = args.iter();
    let (mut id, mut bundle, mut root, mut dir, mut rootfs) = (None, None, None, None, None);
    let mut attempt = String::new();
    let (mut tty, mut stdin) = (false, false);
    let (mut log_max_size, mut log_max_file) = (None, 1u32);
    let mut runtime = None;
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{} needs a value", a.to_string_lossy()))
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
            Some("--log-max-size") => {
                log_max_size = val()?.to_str().and_then(|v| v.parse().ok());
            }
            Some("--log-max-file") => {
                log_max_file = val()?.to_str().and_then(|v| v.parse().ok()).unwrap_or(1);
            }
            Some("--stdin") => stdin = true,
            _ => return Err(format!("unknown argument {}", a.to_string_lossy())),
        }
    }
    Ok(Args {
        id: id.ok_or("--id is required")?,
        bundle: bundle.ok_or("--bundle is required")?,
        root: root.ok_or("--runtime-root is required")?,
        dir: dir.ok_or("--dir is required")?,
        rootfs,
        attempt,
        tty,
        stdin,
        log_max_size,
        log_max_file,
        runtime,
    })
}

use berth_units::now_rfc3339;

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
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
            let _ = write_atomic(
                &a.dir.join("exit.json"),
                serde_json::json!({"code": 127, "finished": now_rfc3339(), "error": e, "attempt": a.attempt})
                    .to_string()
                    .as_bytes(),
            );
            if let Some(r) = &a.rootfs {
                let _ = nix::mount::umount2(r, nix::mount::MntFlags::MNT_DETACH);
            }
            1
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

fn dup_onto(fd: &impl AsFd, target: i32) -> Result<(), String> {
    // SAFETY: dup2 onto a standard descriptor number; the source is a valid open fd.
    if unsafe { libc::dup2(fd.as_fd().as_raw_fd(), target) } < 0 {
        return Err(format!("dup2: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn run(a: &Args) -> Result<(), String> {
    let root = Root::new(&a.root);
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
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
        .map_err(|e| format!("bind {}: {e}", sock_path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("attach socket: {e}"))?;
    if let Some(rt) = &a.runtime {
        return run_external(a, rt, &null, listener, &sock_path);
    }
    let (outputs, stdin_w, pty, created) = if a.tty {
        // The runtime opens the pty inside the container and hands us its master.
        dup_onto(&null, 0)?;
        let created = container::create(&root, &opts, true).map_err(|e| e.to_string())?;
        let master = created
            .pty
            .as_ref()
            .map(|m| m.try_clone())
            .transpose()
            .map_err(|e| format!("pty: {e}"))?
            .ok_or("the runtime returned no terminal")?;
        let out = master.try_clone().map_err(|e| format!("pty: {e}"))?;
        (vec![(out, "stdout")], None, Some(master), created)
    } else {
        let (outputs, in_w, created) =
            with_stdio(a, &null, || container::create(&root, &opts, false))?;
        let created = created.map_err(|e| e.to_string())?;
        (outputs, in_w, None, created)
    };
    if let Err(e) = container::start(&root, &a.id) {
        let _ = container::delete(&root, &a.id, true);
        return Err(e.to_string());
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
        },
    )
}

/// Pipes for the container's stdio (stdin only with `--stdin`) on our 0, 1, 2 while `f`
/// creates the container (which inherits them), then /dev/null again: afterwards only the
/// container holds the pipes' other ends. Returns the outputs, stdin's write end, `f`'s result.
#[allow(clippy::type_complexity)]
fn with_stdio<T>(
    a: &Args,
    null: &std::fs::File,
    f: impl FnOnce() -> T,
) -> Result<(Vec<(OwnedFd, &'static str)>, Option<OwnedFd>, T), String> {
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
) -> Result<(), String> {
    write_atomic(
        &a.dir.join("shim.json"),
        serde_json::json!({"shim": std::process::id(), "pid": pid})
            .to_string()
            .as_bytes(),
    )
    .map_err(|e| format!("write shim.json: {e}"))?;
    // The previous run's exit is history now (state reads shim.json first meanwhile).
    let _ = std::fs::remove_file(a.dir.join("exit.json"));
    let log = LogWriter::open(
        a.dir.join(format!("{}-json.log", a.id)),
        a.log_max_size,
        a.log_max_file,
    )?;
    serve(outputs, stdin_w, pty, listener, log);
    let code = container::wait_exit(pid).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(sock_path);
    cleanup();
    if let Some(r) = &a.rootfs {
        let _ = nix::mount::umount2(r, nix::mount::MntFlags::MNT_DETACH);
    }
    write_atomic(
        &a.dir.join("exit.json"),
        serde_json::json!({"code": code, "finished": now_rfc3339(), "attempt": a.attempt})
            .to_string()
            .as_bytes(),
    )
    .map_err(|e| format!("write exit.json: {e}"))?;
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
) -> Result<(), String> {
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
        let console = std::os::unix::net::UnixListener::bind(&short)
            .map_err(|e| format!("console socket: {e}"))?;
        console
            .set_nonblocking(true)
            .map_err(|e| format!("console socket: {e}"))?;
        let mut child = create()
            .arg("--console-socket")
            .arg(&short)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", rt.display()))?;
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
                Err(e) => return Err(format!("{}: {e}", rt.display())),
            }
        };
        let _ = std::fs::remove_file(a.dir.join("console.sock"));
        if !status.success() {
            let mut msg = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut msg);
            }
            return Err(format!("{} create: {}", rt.display(), msg.trim()));
        }
        let master = master.ok_or("the runtime sent no terminal")?;
        let out = master.try_clone().map_err(|e| format!("pty: {e}"))?;
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
            return Err(format!("{} create: {}", rt.display(), msg.trim()));
        }
        (outputs, in_w, None)
    };
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or("the runtime wrote no pid file")?;
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
        return Err(format!(
            "{} start: {}",
            rt.display(),
            started
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_default()
        ));
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
pub fn short_path(dir: &Path, name: &str) -> Result<(PathBuf, OwnedFd), String> {
    let fd: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| format!("open {}: {e}", dir.display()))?
        .into();
    Ok((
        PathBuf::from(format!("/proc/self/fd/{}/{name}", fd.as_raw_fd())),
        fd,
    ))
}

/// The json-file log with Docker's rotation (`max-size`, `max-file`): when the file reaches
/// the size, `log.N-1` → `log.N`, …, `log` → `log.1`, and a new `log` starts.
pub struct LogWriter {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
}

impl LogWriter {
    fn open(path: PathBuf, max_size: Option<u64>, max_file: u32) -> Result<LogWriter, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter {
            path,
            file,
            size,
            max_size,
            max_file: max_file.max(1),
        })
    }

    fn write(&mut self, entry: &[u8]) {
        let _ = self.file.write_all(entry);
        self.size += entry.len() as u64;
        if self.max_size.is_some_and(|m| self.size >= m) {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_file <= 1 {
            // Only one file: start it again.
            let _ = self.file.set_len(0);
            self.size = 0;
            return;
        }
        let _ = std::fs::remove_file(name(self.max_file - 1));
        for n in (1..self.max_file - 1).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        let _ = std::fs::rename(&self.path, name(1));
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}

/// Control messages on the attach socket: `[kind][len: u32 BE][payload]`.
pub const MSG_STDIN: u8 = 0;
/// The client's stdin ended (half-close): the container's stdin is closed.
pub const MSG_STDIN_EOF: u8 = 1;
/// Terminal size: payload rows (u16 BE), cols (u16 BE).
pub const MSG_RESIZE: u8 = 2;

/// Encode one control message.
pub fn message(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(5 + payload.len());
    m.push(kind);
    m.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

struct Client {
    stream: std::os::unix::net::UnixStream,
    buf: Vec<u8>,
}

/// The shim's event loop: container output into the json-file log (one entry per line; a
/// partial line when 16 KiB accumulate, as Docker does), control messages from clients into
/// the container's stdin and terminal. Returns when all output has ended.
fn serve(
    outputs: Vec<(OwnedFd, &'static str)>,
    mut stdin_w: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    listener: std::os::unix::net::UnixListener,
    mut log: LogWriter,
) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::Read;
    let mut open: Vec<Option<(OwnedFd, &'static str)>> = outputs.into_iter().map(Some).collect();
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); open.len()];
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; 32 << 10];
    let emit = |log: &mut LogWriter, stream: &str, line: &[u8]| {
        let entry = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": stream,
            "time": now_rfc3339(),
        });
        let mut b = entry.to_string().into_bytes();
        b.push(b'\n');
        log.write(&b);
    };
    while open.iter().any(Option::is_some) {
        // Poll: outputs, then the listener, then clients.
        let mut fds: Vec<PollFd> = Vec::new();
        let mut kinds: Vec<(u8, usize)> = Vec::new();
        for (i, o) in open.iter().enumerate() {
            if let Some((f, _)) = o {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                kinds.push((0, i));
            }
        }
        fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        kinds.push((1, 0));
        for (i, c) in clients.iter().enumerate() {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
            kinds.push((2, i));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<(u8, usize)> = fds
            .iter()
            .zip(&kinds)
            .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, k)| *k)
            .collect();
        drop(fds);
        let mut gone = Vec::new();
        for (kind, i) in ready {
            match kind {
                0 => {
                    let Some((f, name)) = &open[i] else { continue };
                    let name = *name;
                    match nix::unistd::read(f, &mut buf) {
                        // EIO: the terminal's last user went away.
                        Ok(0) | Err(_) => {
                            if !pending[i].is_empty() {
                                let rest = std::mem::take(&mut pending[i]);
                                emit(&mut log, name, &rest);
                            }
                            open[i] = None;
                        }
                        Ok(n) => {
                            pending[i].extend_from_slice(&buf[..n]);
                            while let Some(p) = pending[i].iter().position(|b| *b == b'\n') {
                                let line: Vec<u8> = pending[i].drain(..=p).collect();
                                emit(&mut log, name, &line);
                            }
                            // A terminal shows prompts without newlines: flush them too.
                            if pending[i].len() >= 16 << 10
                                || (pty.is_some() && !pending[i].is_empty())
                            {
                                let chunk = std::mem::take(&mut pending[i]);
                                emit(&mut log, name, &chunk);
                            }
                        }
                    }
                }
                1 => {
                    while let Ok((stream, _)) = listener.accept() {
                        let _ = stream.set_nonblocking(true);
                        clients.push(Client {
                            stream,
                            buf: Vec::new(),
                        });
                    }
                }
                _ => {
                    let c = &mut clients[i];
                    match c.stream.read(&mut buf) {
                        Ok(0) => gone.push(i),
                        Ok(n) => {
                            c.buf.extend_from_slice(&buf[..n]);
                            while c.buf.len() >= 5 {
                                let len =
                                    u32::from_be_bytes([c.buf[1], c.buf[2], c.buf[3], c.buf[4]])
                                        as usize;
                                if c.buf.len() < 5 + len {
                                    break;
                                }
                                let kind = c.buf[0];
                                let payload: Vec<u8> = c.buf[5..5 + len].to_vec();
                                c.buf.drain(..5 + len);
                                handle(kind, &payload, &mut stdin_w, pty.as_ref());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => gone.push(i),
                    }
                }
            }
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
    }
}

fn handle(kind: u8, payload: &[u8], stdin_w: &mut Option<OwnedFd>, pty: Option<&OwnedFd>) {
    match kind {
        MSG_STDIN => {
            let target = pty.or(stdin_w.as_ref());
            if let Some(t) = target {
                let mut off = 0;
                while off < payload.len() {
                    match nix::unistd::write(t, &payload[off..]) {
                        Ok(n) => off += n,
                        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                        Err(_) => break,
                    }
                }
            }
        }
        MSG_STDIN_EOF => {
            if pty.is_some() {
                // A terminal gets ^D; the container's shell decides.
                if let Some(t) = pty {
                    let _ = nix::unistd::write(t, &[4u8]);
                }
            } else {
                *stdin_w = None;
            }
        }
        MSG_RESIZE if payload.len() == 4 => {
            if let Some(t) = pty {
                let ws = libc::winsize {
                    ws_row: u16::from_be_bytes([payload[0], payload[1]]),
                    ws_col: u16::from_be_bytes([payload[2], payload[3]]),
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
                unsafe { libc::ioctl(t.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
            }
        }
        _ => {}
    }
}
