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
}

fn parse(args: &[std::ffi::OsString]) -> Result<Args, String> {
    let mut it = args.iter();
    let (mut id, mut bundle, mut root, mut dir, mut rootfs) = (None, None, None, None, None);
    let mut attempt = String::new();
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
    })
}

use berth_units::now_rfc3339;

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

pub fn main(args: &[std::ffi::OsString]) -> i32 {
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
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    // The container inherits 0, 1, 2: stdin from /dev/null, stdout and stderr into our pipes.
    dup_onto(&null, 0)?;
    dup_onto(&out_w, 1)?;
    dup_onto(&err_w, 2)?;
    let opts = CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        ..Default::default()
    };
    let created = container::create(&root, &opts, false);
    // From here on only the container holds the pipes' write ends.
    dup_onto(&null, 1)?;
    dup_onto(&null, 2)?;
    drop(out_w);
    drop(err_w);
    let created = created.map_err(|e| e.to_string())?;
    if let Err(e) = container::start(&root, &a.id) {
        let _ = container::delete(&root, &a.id, true);
        return Err(e.to_string());
    }
    write_atomic(
        &a.dir.join("shim.json"),
        serde_json::json!({"shim": std::process::id(), "pid": created.pid})
            .to_string()
            .as_bytes(),
    )
    .map_err(|e| format!("write shim.json: {e}"))?;
    // The previous run's exit is history now (state reads shim.json first meanwhile).
    let _ = std::fs::remove_file(a.dir.join("exit.json"));
    let log_path = a.dir.join(format!("{}-json.log", a.id));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("open {}: {e}", log_path.display()))?;
    copy_output(out_r, err_r, log);
    let code = container::wait_exit(created.pid).map_err(|e| e.to_string())?;
    let _ = container::delete(&root, &a.id, true);
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

/// Copy both streams into the json-file log until both are closed, one entry per line (a
/// partial line is written when 16 KiB accumulate, as Docker does).
fn copy_output(out: OwnedFd, err: OwnedFd, mut log: std::fs::File) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut open = [Some(out), Some(err)];
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let names = ["stdout", "stderr"];
    let mut buf = vec![0u8; 32 << 10];
    let emit = |log: &mut std::fs::File, stream: &str, line: &[u8]| {
        let entry = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": stream,
            "time": now_rfc3339(),
        });
        let mut b = entry.to_string().into_bytes();
        b.push(b'\n');
        let _ = log.write_all(&b);
    };
    while open.iter().any(Option::is_some) {
        let mut fds: Vec<PollFd> = Vec::new();
        let mut which = Vec::new();
        for (i, f) in open.iter().enumerate() {
            if let Some(f) = f {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                which.push(i);
            }
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<usize> = fds
            .iter()
            .zip(&which)
            .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, i)| *i)
            .collect();
        drop(fds);
        for i in ready {
            let Some(f) = &open[i] else { continue };
            match nix::unistd::read(f, &mut buf) {
                Ok(0) | Err(_) => {
                    if !pending[i].is_empty() {
                        let rest = std::mem::take(&mut pending[i]);
                        emit(&mut log, names[i], &rest);
                    }
                    open[i] = None;
                }
                Ok(n) => {
                    pending[i].extend_from_slice(&buf[..n]);
                    while let Some(p) = pending[i].iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending[i].drain(..=p).collect();
                        emit(&mut log, names[i], &line);
                    }
                    if pending[i].len() >= 16 << 10 {
                        let chunk = std::mem::take(&mut pending[i]);
                        emit(&mut log, names[i], &chunk);
                    }
                }
            }
        }
    }
}
