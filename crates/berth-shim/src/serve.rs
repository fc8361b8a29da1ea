//! The shim's event loop and its control protocol: container output into the log, control
//! messages from the daemon (stdin, its end, terminal sizes) into the container.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::LogEntry;
use crate::log::LogWriter;

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
pub(crate) fn serve(
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
        let entry = LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.to_owned(),
            time: berth_units::now_rfc3339(),
        };
        let mut b = serde_json::to_vec(&entry).unwrap_or_default();
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
