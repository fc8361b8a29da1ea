//! Exec sessions (`docker exec`): rows of `execs` in berth.db (so `exec inspect` survives a
//! daemon restart), run by `berth runtime exec` as a child of the daemon (joining a
//! container's namespaces needs a single-threaded process) or by another runtime's `exec`;
//! a terminal's master stays in memory for resizes.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_models::exec::{CreateRequest, Inspect, ProcessConfig, StartRequest};
use rusqlite::{OptionalExtension, params};

use super::io::{Output, Stdin, Stream, Streams};
use super::state::Action;
use super::{Containers, host_config::ALL_CAPS};
use crate::db::guard;
use crate::error::IoContext;
use crate::util::{Backoff, random_hex};
use crate::{Error, Result};

/// An exec session.
#[derive(Debug, Clone)]
pub struct ExecSession {
    pub id: String,
    pub container: String,
    pub config: CreateRequest,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// The prefix of the runtime's own errors on its stderr (not the command's output).
const RUNTIME_ERROR: &[u8] = b"berth-runtime: ";

impl Containers {
    /// `POST /containers/{id}/exec`: a session to start later.
    pub fn exec_create(&self, id: &str, req: CreateRequest) -> Result<String> {
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        self.check(&rec, &st, Action::Exec)?;
        if req.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::InvalidParameter("No exec command specified".into()));
        }
        let exec_id = random_hex(32);
        let config = serde_json::to_string(&req).map_err(Error::internal)?;
        self.db().execute(
            "INSERT INTO execs (id, container, config, running, pid) VALUES (?1, ?2, ?3, 0, 0)",
            params![exec_id, id, config],
        )?;
        if let Ok(s) = self.exec_get(&exec_id) {
            self.exec_event(&s, "exec_create", &[]);
        }
        Ok(exec_id)
    }

    pub fn exec_get(&self, exec_id: &str) -> Result<ExecSession> {
        let row = self
            .db()
            .query_row(
                "SELECT container, config, running, exit_code, pid FROM execs WHERE id = ?1",
                params![exec_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?;
        let (container, config, running, exit_code, pid) =
            row.ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?;
        Ok(ExecSession {
            id: exec_id.to_owned(),
            container,
            config: serde_json::from_str(&config).unwrap_or_default(),
            running,
            exit_code,
            pid,
        })
    }

    /// Running exec sessions of a container (`ExecIDs`).
    pub fn exec_ids(&self, container: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut q =
            db.prepare_cached("SELECT id FROM execs WHERE container = ?1 AND running = 1")?;
        let ids = q
            .query_map(params![container], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<Inspect> {
        let s = self.exec_get(exec_id)?;
        let cmd = s.config.cmd.clone().unwrap_or_default();
        Ok(Inspect {
            can_remove: false,
            container_id: s.container,
            detach_keys: s.config.detach_keys.clone(),
            exit_code: s.exit_code,
            id: s.id,
            open_stderr: s.config.attach_stderr,
            open_stdin: s.config.attach_stdin,
            open_stdout: s.config.attach_stdout,
            process_config: ProcessConfig {
                arguments: cmd.iter().skip(1).cloned().collect(),
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                privileged: s.config.privileged,
                tty: s.config.tty,
                user: s.config.user.clone(),
            },
            running: s.running,
            pid: s.pid,
        })
    }

    /// Record a session's start (`running`) or its end (the exit code), with dockerd's
    /// event for it (`exec_start: CMD`, `exec_die`).
    fn exec_set(&self, exec_id: &str, running: bool, exit_code: Option<i64>, pid: i64) {
        let _ = self.db().execute(
            "UPDATE execs SET running = ?2, exit_code = ?3, pid = ?4 WHERE id = ?1",
            params![exec_id, running, exit_code, pid],
        );
        if let Ok(s) = self.exec_get(exec_id) {
            match exit_code {
                Some(code) => self.exec_event(&s, "exec_die", &[("exitCode", code.to_string())]),
                None => self.exec_event(&s, "exec_start", &[]),
            }
        }
    }

    /// An exec session's event: `exec_create` and `exec_start` carry the command after the
    /// action (`exec_start: sh -c …`), as dockerd's do.
    fn exec_event(&self, s: &ExecSession, action: &str, extra: &[(&str, String)]) {
        let Ok(rec) = self.record(&s.container) else {
            return;
        };
        let action = if action == "exec_die" {
            action.to_owned()
        } else {
            let cmd = s.config.cmd.clone().unwrap_or_default().join(" ");
            format!("{action}: {cmd}")
        };
        let mut attrs: Vec<(&str, String)> = vec![("execID", s.id.clone())];
        attrs.extend(extra.iter().cloned());
        self.emit_for(&rec, &action, &attrs);
    }

    /// Set an exec session's terminal size.
    pub fn exec_resize(&self, exec_id: &str, rows: u16, cols: u16) -> Result<()> {
        self.exec_get(exec_id)?;
        if let Some(m) = guard(&self.ptys).get(exec_id) {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ on the exec's pty master with a valid winsize.
            unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(m.as_ref()),
                    libc::TIOCSWINSZ,
                    &ws,
                )
            };
        }
        Ok(())
    }

    /// `POST /exec/{id}/start`: the session's process runs; its output (and stdin, when
    /// attached) come back as streams. `Ok(None)`: detached.
    pub fn exec_start(
        self: &Arc<Self>,
        exec_id: &str,
        req: &StartRequest,
    ) -> Result<Option<Streams>> {
        let s = self.exec_get(exec_id)?;
        if s.running || s.exit_code.is_some() {
            return Err(Error::Conflict(format!(
                "Exec {} is already running or has run",
                s.id
            )));
        }
        let rec = self.record(&s.container)?;
        self.check(&rec, &self.state_of(&rec), Action::Exec)?;
        if s.config.tty {
            return self.exec_tty(s, req.detach).map(Some);
        }
        let detach = req.detach;
        let mut cmd = self.exec_command(&s.container, &s.config)?;
        let with_stdin = s.config.attach_stdin && !detach;
        cmd.stdin(if with_stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::io("exec", e))?;
        self.exec_set(&s.id, true, None, i64::from(child.id()));
        let stdin = child
            .stdin
            .take()
            .map(|i| Stdin::Pipe(std::fs::File::from(std::os::fd::OwnedFd::from(i))));
        let want_out = s.config.attach_stdout && !detach;
        let want_err = s.config.attach_stderr && !detach;
        let (tx, rx) = tokio::sync::mpsc::channel::<Output>(64);
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let me = self.clone();
        std::thread::spawn(move || {
            // Both pipes are read to the end (a full pipe would stall the process).
            let runtime_failed = Arc::new(Mutex::new(false));
            let failed = runtime_failed.clone();
            let tx_err = tx.clone();
            let t = std::thread::spawn(move || {
                let mut first = true;
                pump(err, |data| {
                    // The runtime's own error comes first, marked.
                    if first && data.starts_with(RUNTIME_ERROR) {
                        *guard(&failed) = true;
                    }
                    first = false;
                    if want_err {
                        let _ = tx_err.blocking_send(Output {
                            stream: Stream::Stderr,
                            data: data.to_vec(),
                        });
                    }
                    true
                });
            });
            pump(out, |data| {
                if want_out {
                    let _ = tx.blocking_send(Output {
                        stream: Stream::Stdout,
                        data: data.to_vec(),
                    });
                }
                true
            });
            let _ = t.join();
            let status = child.wait().ok().and_then(|s| s.code());
            // The runtime could not run the command: its codes (127 not found, 126 not
            // executable), as docker's.
            let code = match (status, *guard(&runtime_failed)) {
                (Some(c @ (126 | 127)), true) => i64::from(c),
                (_, true) => 126,
                (Some(c), false) => i64::from(c),
                (None, false) => 126,
            };
            me.exec_set(&s.id, false, Some(code), 0);
        });
        if detach {
            return Ok(None);
        }
        Ok(Some(Streams {
            tty: false,
            output: rx,
            stdin,
        }))
    }

    /// `exec -t`: the runtime hands the new terminal's master over a console socket; output
    /// comes from it, input goes to it, resizes act on it.
    fn exec_tty(self: &Arc<Self>, s: ExecSession, detach: bool) -> Result<Streams> {
        // A console socket in the exec root, reached through our own /proc/<pid>/fd (short).
        let dir = self.exec_root.clone();
        let name = format!("console-{}.sock", &s.id[..12]);
        let path = dir.join(&name);
        let _ = std::fs::remove_file(&path);
        let dirf = std::fs::File::open(&dir).ctx(|| format!("open {}", dir.display()))?;
        let short = format!(
            "/proc/{}/fd/{}/{name}",
            std::process::id(),
            std::os::fd::AsRawFd::as_raw_fd(&dirf)
        );
        let listener =
            std::os::unix::net::UnixListener::bind(&short).ctx(|| "exec: console socket".into())?;
        let cmd = self.exec_command(&s.container, &s.config)?;
        // `exec -t` without --console-socket proxies to its own stdio; give it the socket.
        let mut fixed = std::process::Command::new(cmd.get_program());
        for a in cmd.get_args() {
            fixed.arg(a);
            if a == "exec" {
                fixed.arg("--console-socket").arg(&short);
            }
        }
        fixed
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = fixed.spawn().map_err(|e| Error::io("exec", e))?;
        // Wait for the runtime's connection while it lives (a failing runtime never calls).
        let master = (|| {
            listener.set_nonblocking(true).ok()?;
            let mut b = Backoff::new();
            for _ in 0..2000 {
                if let Ok((sock, _)) = listener.accept() {
                    sock.set_nonblocking(false).ok()?;
                    return berth_shim::recv_fd(&sock);
                }
                if child.try_wait().ok()?.is_some() {
                    return None;
                }
                std::thread::sleep(b.step());
            }
            None
        })();
        drop(dirf);
        let _ = std::fs::remove_file(&path);
        let Some(master) = master else {
            let _ = child.kill();
            let mut err_text = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err_text);
            }
            let _ = child.wait();
            return Err(Error::Internal(format!("exec: {}", err_text.trim())));
        };
        let master = Arc::new(master);
        guard(&self.ptys).insert(s.id.clone(), master.clone());
        self.exec_set(&s.id, true, None, i64::from(child.id()));
        let stdin = master
            .try_clone()
            .ok()
            .filter(|_| !detach)
            .map(|fd| Stdin::Terminal(std::fs::File::from(fd)));
        let (tx, rx) = tokio::sync::mpsc::channel::<Output>(64);
        let reader = master.try_clone().map(std::fs::File::from);
        let me = self.clone();
        std::thread::spawn(move || {
            // EIO once the exec's process (and every holder of the terminal) is gone.
            pump(reader.ok(), |data| {
                detach
                    || tx
                        .blocking_send(Output {
                            stream: Stream::Stdout,
                            data: data.to_vec(),
                        })
                        .is_ok()
            });
            let code = child
                .wait()
                .ok()
                .and_then(|s| s.code())
                .map_or(126, i64::from);
            guard(&me.ptys).remove(&s.id);
            me.exec_set(&s.id, false, Some(code), 0);
        });
        Ok(Streams {
            tty: true,
            output: rx,
            stdin,
        })
    }

    /// The `runtime exec` command line for a process in a container (run by the daemon as a
    /// child process).
    pub fn exec_command(
        &self,
        container: &str,
        c: &CreateRequest,
    ) -> Result<std::process::Command> {
        let rec = self.record(container)?;
        let runtime = super::runtime_of(&rec.host_config.runtime)?;
        let rt_root = self.runtime_root_for(runtime.as_deref());
        let rootfs = self.dir_of(container).join("rootfs");
        let args = c.cmd.clone().unwrap_or_default();
        let env = c.env.clone().unwrap_or_default();
        let Some(rt) = runtime else {
            let mut cmd = std::process::Command::new("/proc/self/exe");
            cmd.arg("runtime").arg("--root").arg(&rt_root).arg("exec");
            if !c.working_dir.is_empty() {
                cmd.arg("--cwd").arg(&c.working_dir);
            }
            for e in &env {
                cmd.arg("-e").arg(e);
            }
            if !c.user.is_empty() {
                let (uid, gid) = super::user::resolve(&rootfs, &c.user)?;
                cmd.arg("-u").arg(format!("{uid}:{gid}"));
            }
            if c.privileged {
                for cap in ALL_CAPS {
                    cmd.arg("--cap").arg(cap);
                }
            }
            if c.tty {
                cmd.arg("-t");
                if !env.iter().any(|x| x.starts_with("TERM=")) {
                    cmd.arg("-e").arg("TERM=xterm");
                }
            }
            cmd.arg(container).arg("--").args(&args);
            return Ok(cmd);
        };
        // Other runtimes get the whole process as runtime-spec JSON (their command lines
        // differ in how they take a command): the container's, adjusted.
        let bundle = self.dir_of(container).join("bundle/config.json");
        let spec: serde_json::Value = std::fs::read(&bundle)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .ok_or_else(|| Error::Internal("the container's bundle is gone".into()))?;
        let mut p = super::bundle::Spec(spec.get("process").cloned().unwrap_or_default());
        p.set("/args", &args);
        p.set("/terminal", c.tty);
        let mut full_env = p.strings("/env");
        full_env.extend(env);
        p.set("/env", &full_env);
        if !c.working_dir.is_empty() {
            p.set("/cwd", &c.working_dir);
        }
        if !c.user.is_empty() {
            let (uid, gid) = super::user::resolve(&rootfs, &c.user)?;
            p.set("/user/uid", uid);
            p.set("/user/gid", gid);
        }
        let file = rt_root.join(format!("exec-{}-{}.json", &container[..12], random_hex(8)));
        std::fs::create_dir_all(file.parent().unwrap_or(Path::new("/")))
            .ctx(|| format!("create {}", rt_root.display()))?;
        std::fs::write(&file, p.0.to_string()).ctx(|| format!("write {}", file.display()))?;
        let mut cmd = if c.tty {
            // A terminal needs a console socket, and runc-like runtimes take one only when
            // detaching: a reaping wrapper waits for the detached process.
            let mut cmd = std::process::Command::new("/proc/self/exe");
            cmd.args(["shim", "--reap"])
                .arg(file.with_extension("pid"))
                .arg("--")
                .arg(rt);
            cmd
        } else {
            std::process::Command::new(rt)
        };
        cmd.arg("--root").arg(&rt_root).arg("exec");
        if c.tty {
            cmd.arg("-d")
                .arg("--pid-file")
                .arg(file.with_extension("pid"));
        }
        cmd.arg("--process").arg(&file).arg(container);
        Ok(cmd)
    }
}

/// Read `r` to its end in chunks, handing each to `f` until it says stop.
fn pump(r: Option<impl Read>, mut f: impl FnMut(&[u8]) -> bool) {
    let Some(mut r) = r else { return };
    let mut buf = vec![0u8; 32 << 10];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 || !f(&buf[..n]) {
            break;
        }
    }
}
