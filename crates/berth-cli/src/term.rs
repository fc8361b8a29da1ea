//! Terminals and hijacked connections: our terminal in raw mode, stdin to the container and
//! its output back (raw with a terminal, demultiplexed without), window-size changes passed
//! on, ctrl-p ctrl-q detaching; `run -it`, `start -i` and `attach`.

use std::io::Write;

use anyhow::Result;
use berth_client::{Client, Demux, Method};
use berth_models::container::Inspect;
use clap::Args;

use crate::run::start::{post_empty, start_failure, wait_request, waited_code};
use crate::{Global, connect};

/// Resize the container's (or exec's) terminal at `resize_path` to ours.
pub fn resize(rt: &tokio::runtime::Runtime, c: &Client, resize_path: &str) {
    if let Some((h, w)) = term_size() {
        let _ = post_empty(rt, c, &format!("{resize_path}?h={h}&w={w}"));
    }
}

/// The terminal size of our stdout, if it is a terminal.
pub fn term_size() -> Option<(u16, u16)> {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize for a terminal fd.
    let r = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Our terminal in raw mode for the lifetime of the guard.
pub struct RawMode(pub Option<nix::sys::termios::Termios>);

impl RawMode {
    pub fn enable() -> RawMode {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return RawMode(None);
        }
        let stdin = std::io::stdin();
        let Ok(orig) = nix::sys::termios::tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = orig.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Copy our stdin to a hijacked connection and its output to our stdout (raw with a terminal,
/// demultiplexed without) until it ends; SIGWINCH resizes through `resize_path`; ctrl-p
/// ctrl-q detaches (returns true).
pub fn pump(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    io: berth_client::Hijacked,
    tty: bool,
    resize_path: &str,
) -> Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut input, mut output) = tokio::io::split(io);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let det = detached.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut last = 0u8;
        loop {
            match std::io::stdin().read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tty {
                        for b in &buf[..n] {
                            if last == 0x10 && *b == 0x11 {
                                det.store(true, std::sync::atomic::Ordering::SeqCst);
                                let _ = tx.blocking_send(None);
                                return;
                            }
                            last = *b;
                        }
                    }
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let c2 = c.clone();
    let resize_path = resize_path.to_owned();
    rt.block_on(async move {
        let det = detached.clone();
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                match m {
                    Some(d) => {
                        if output.write_all(&d).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        // Half-close: the other side sees the end of its stdin.
                        let _ = output.shutdown().await;
                        return;
                    }
                }
            }
        });
        if tty {
            tokio::spawn(async move {
                let Ok(mut sig) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                else {
                    return;
                };
                while sig.recv().await.is_some() {
                    if let Some((h, w)) = term_size() {
                        let _ = c2
                            .send_empty::<Option<serde_json::Value>>(
                                Method::POST,
                                &format!("{resize_path}?h={h}&w={w}"),
                            )
                            .await;
                    }
                }
            });
        }
        let mut d = Demux::default();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            if det.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let n = tokio::select! {
                r = input.read(&mut buf) => r.unwrap_or(0),
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => continue,
            };
            if n == 0 {
                break;
            }
            if tty {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(&buf[..n]);
                let _ = o.flush();
            } else {
                d.push(&buf[..n], crate::run::start::write_stream);
            }
        }
        writer.abort();
        Ok::<bool, anyhow::Error>(det.load(std::sync::atomic::Ordering::SeqCst))
    })
}

/// `run -i`/`-it`: stdin goes to the container over the hijacked attach connection, output
/// comes back raw (with a terminal) or multiplexed; ctrl-p ctrl-q detaches.
pub fn run_interactive(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    id: &str,
    tty: bool,
    rm: bool,
) -> Result<i32> {
    let io = rt.block_on(c.hijack(
        Method::POST,
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        None::<&()>,
    ))?;
    let waited = wait_request(rt, c, id, if rm { "removed" } else { "next-exit" })?;
    if let Err(e) = post_empty(rt, c, &format!("/containers/{id}/start")) {
        let e = anyhow::Error::from(e);
        eprintln!("berth: {}", crate::describe(&e));
        return Ok(start_failure(&e));
    }
    let resize_path = format!("/containers/{id}/resize");
    if tty {
        resize(rt, c, &resize_path);
    }
    let raw = if tty {
        RawMode::enable()
    } else {
        RawMode(None)
    };
    let detached = pump(rt, c, io, tty, &resize_path)?;
    let code = if detached {
        0
    } else {
        waited_code(rt, waited)?
    };
    drop(raw);
    Ok(code)
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    container: String,
}

/// `attach`: the container's output from now on (and our stdin unless `--no-stdin`); with a
/// terminal, ctrl-p ctrl-q detaches. Exits with the container's code when it stops.
pub fn attach(g: &Global, a: AttachArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let info: Inspect = rt.block_on(c.get(&format!("/containers/{}/json", a.container)))?;
    let tty = info.config.tty;
    let id = info.id;
    if !info.state.running {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let stdin = if a.no_stdin { "0" } else { "1" };
    let io = rt.block_on(c.hijack(
        Method::POST,
        &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1&stdin={stdin}"),
        None::<&()>,
    ))?;
    let waited = wait_request(&rt, &c, &id, "not-running")?;
    let resize_path = format!("/containers/{id}/resize");
    if tty {
        resize(&rt, &c, &resize_path);
    }
    let raw = if tty {
        RawMode::enable()
    } else {
        RawMode(None)
    };
    let detached = pump(&rt, &c, io, tty, &resize_path)?;
    drop(raw);
    if detached {
        return Ok(0);
    }
    waited_code(&rt, waited)
}

/// Read a line from the terminal with echo off.
pub fn read_secret(text: &str, no_tty: &str) -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| anyhow::anyhow!("{no_tty}"))?;
    let old = tcgetattr(&tty).map_err(|e| anyhow::anyhow!("terminal: {e}"))?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&tty, SetArg::TCSANOW, &quiet).map_err(|e| anyhow::anyhow!("terminal: {e}"))?;
    let mut w = &tty;
    let _ = w.write_all(text.as_bytes());
    let mut line = String::new();
    let res = std::io::BufRead::read_line(&mut std::io::BufReader::new(&tty), &mut line);
    let _ = tcsetattr(&tty, SetArg::TCSANOW, &old);
    let _ = w.write_all(b"\n");
    res.map_err(|e| anyhow::anyhow!("read from the terminal: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
