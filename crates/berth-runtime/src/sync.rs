//! The parent ↔ container-init handshake: a `SOCK_SEQPACKET` socketpair carrying short messages
//! (and, for terminals, one file descriptor).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::{Context, Error, Result};

/// One end of the handshake socket.
#[derive(Debug)]
pub struct Channel(pub OwnedFd);

/// A connected pair (parent end, child end).
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair".into())?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub fn send(&self, msg: &[u8]) -> Result<()> {
        self.send_fd(msg, None)
    }

    pub fn send_fd(&self, msg: &[u8], fd: Option<RawFd>) -> Result<()> {
        let iov = [IoSlice::new(msg)];
        let fds;
        let cmsg: Vec<ControlMessage> = match fd {
            Some(f) => {
                fds = [f];
                vec![ControlMessage::ScmRights(&fds)]
            }
            None => Vec::new(),
        };
        socket::sendmsg::<()>(
            self.0.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .ctx(|| "sync: send".into())?;
        Ok(())
    }

    /// Receive one message; an empty message means the other end is gone.
    pub fn recv(&self) -> Result<Vec<u8>> {
        Ok(self.recv_fd()?.0)
    }

    pub fn recv_fd(&self) -> Result<(Vec<u8>, Option<OwnedFd>)> {
        let mut buf = vec![0u8; 65536];
        let mut cbuf = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match socket::recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => {
                    let mut fd = None;
                    for c in m.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: SCM_RIGHTS delivered new descriptors that we now own.
                            fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                        }
                    }
                    break (m.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Sys {
                        ctx: "sync: receive".into(),
                        source: e,
                    });
                }
            }
        };
        buf.truncate(n);
        Ok((buf, fd))
    }

    /// Wait for `want`; an error message from the other side becomes [`Error::Init`].
    pub fn expect(&self, want: &[u8]) -> Result<()> {
        let m = self.recv()?;
        if m == want {
            return Ok(());
        }
        if let Some(e) = m.strip_prefix(b"error:") {
            return Err(Error::from_wire(e));
        }
        if m.is_empty() {
            return Err(Error::Init("container process exited during setup".into()));
        }
        Err(Error::Init(format!(
            "unexpected message {:?}",
            String::from_utf8_lossy(&m)
        )))
    }
}

/// Send `data` with one descriptor (SCM_RIGHTS) over the unix socket `sock`.
pub fn send_with_fd(sock: RawFd, data: &[u8], fd: RawFd) -> nix::Result<()> {
    let iov = [IoSlice::new(data)];
    let fds = [fd];
    socket::sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
}
