//! Terminals: the container's pty is created inside the container (from its own devpts) and the
//! master end is sent to the caller over `--console-socket`, as runc does; `run` in the
//! foreground without a console socket proxies the pty to its own stdio instead.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

use crate::error::{Context, Result};

/// Open a pty in the container (call after `pivot_root`), make its slave our controlling
/// terminal and stdio, and return the master.
pub fn setup_pty(size: Option<(u16, u16)>) -> Result<OwnedFd> {
    let master = posix_openpt(
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
    )
    .ctx(|| "open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave = nix::fcntl::open(
        name.as_str(),
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {name}"))?;
    if let Some((h, w)) = size {
        let ws = libc::winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct from the pointer.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY takes an integer argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(crate::Error::Sys {
            ctx: "TIOCSCTTY".into(),
            source: nix::errno::Errno::last(),
        });
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which we intend to replace.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(crate::Error::Sys {
                ctx: "dup2 pty".into(),
                source: nix::errno::Errno::last(),
            });
        }
    }
    drop(slave);
    // SAFETY: the PtyMaster owns a valid descriptor; we take it over.
    Ok(unsafe { OwnedFd::from_raw_fd(master.into_raw_fd_compat()) })
}

trait IntoRawCompat {
    fn into_raw_fd_compat(self) -> i32;
}

impl IntoRawCompat for nix::pty::PtyMaster {
    fn into_raw_fd_compat(self) -> i32 {
        use std::os::fd::IntoRawFd;
        self.into_raw_fd()
    }
}

/// Send `master` to whoever listens on the console socket.
pub fn send_master(sock: &UnixStream, master: &OwnedFd) -> Result<()> {
    crate::sync::send_with_fd(sock.as_raw_fd(), b"/dev/ptmx", master.as_raw_fd())
        .ctx(|| "send pty master over console socket".into())
}

/// Copy between our stdio and a pty master until the master hangs up (foreground `run -t`).
pub fn proxy(master: &OwnedFd) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stdin = std::io::stdin();
    let is_tty = nix::unistd::isatty(&stdin).unwrap_or(false);
    let saved = if is_tty {
        nix::sys::termios::tcgetattr(&stdin).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut raw = t.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let m = fds[0].revents().unwrap_or(PollFlags::empty());
        let s = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if m.intersects(PollFlags::POLLIN) {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = nix::unistd::write(std::io::stdout(), &buf[..n]);
                }
            }
        } else if m.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break;
        }
        if s.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = nix::unistd::write(master, &buf[..n]);
                }
            }
        }
    }
    if let Some(t) = &saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, t);
    }
}
