//! The seccomp recorder: a profile that lets every syscall through a notification
//! (`SCMP_ACT_NOTIFY`, answered "continue" by an agent that notes its name), and the
//! Docker-format profile that allows exactly what was noted.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use libseccomp::{ScmpArch, ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};

use super::profile::{Profile, Rule};

/// Syscalls the runtime itself makes between loading the filter and exec (handing the
/// listener to the agent, freeing memory, the parent-death signal): they cannot wait for an
/// agent that does not have the listener yet, so they pass unrecorded — and every recorded
/// profile allows them.
pub const RUNTIME_OWN: [&str; 10] = [
    "sendmsg",
    "close",
    "prctl",
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "futex",
    "rt_sigprocmask",
];

/// Every syscall the native architecture knows, by name, but the runtime's own.
fn all_names() -> Vec<String> {
    (0..1024)
        .filter_map(|n| {
            ScmpSyscall::from(n)
                .get_name_by_arch(ScmpArch::native())
                .ok()
        })
        .filter(|n| !RUNTIME_OWN.contains(&n.as_str()))
        .collect()
}

/// The recording profile (runtime-spec form): every syscall notifies the agent at
/// `listener_path`, which lets it continue.
pub fn recording_profile(listener_path: &str) -> Profile {
    Profile {
        default_action: "SCMP_ACT_ALLOW".into(),
        architectures: vec![native_arch().into()],
        listener_path: Some(listener_path.to_owned()),
        syscalls: vec![Rule {
            names: all_names(),
            action: "SCMP_ACT_NOTIFY".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn native_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "SCMP_ARCH_X86_64"
    } else if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else {
        "SCMP_ARCH_NATIVE"
    }
}

/// The Docker-format profile that allows `names` and refuses the rest with EPERM.
pub fn docker_profile(names: &BTreeSet<String>) -> serde_json::Value {
    let mut names = names.clone();
    names.extend(RUNTIME_OWN.iter().map(|n| (*n).to_owned()));
    let arches: Vec<&str> = if cfg!(target_arch = "x86_64") {
        vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else {
        vec![native_arch()]
    };
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": arches,
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    })
}

/// The agent: waits on `listener` for the runtime's connection (the listener descriptor comes
/// with it), then answers every notification with "continue", noting the syscall's name,
/// until `stop` is set (the container has ended). Returns the names.
pub fn record(listener: UnixListener, stop: Arc<AtomicBool>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let _ = listener.set_nonblocking(true);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(_) if stop.load(Ordering::Relaxed) => return names,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    };
    let _ = conn.set_nonblocking(false);
    let chan = crate::sync::Channel(OwnedFd::from(conn));
    let Ok((_, Some(fd))) = chan.recv_fd() else {
        return names;
    };
    loop {
        // Wait for a notification, looking at `stop` every 100 ms.
        let mut pfd = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {
                if stop.load(Ordering::Relaxed) {
                    return names;
                }
                continue;
            }
            Ok(_) => {}
            Err(_) => return names,
        }
        let revents = pfd[0].revents().unwrap_or(nix::poll::PollFlags::empty());
        if !revents.contains(nix::poll::PollFlags::POLLIN) {
            // POLLHUP: no task uses the filter any more.
            return names;
        }
        let Ok(req) = ScmpNotifReq::receive(fd.as_raw_fd()) else {
            continue;
        };
        let name = req
            .data
            .syscall
            .get_name_by_arch(req.data.arch)
            .unwrap_or_else(|_| format!("syscall-{}", i32::from(req.data.syscall)));
        names.insert(name);
        // SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel runs the syscall as if allowed. (A
        // task that died meanwhile makes this fail; nothing to do then.)
        let _ = ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::CONTINUE)
            .respond(fd.as_raw_fd());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_profile_compiles_and_names_every_syscall() {
        let p = recording_profile("/tmp/agent.sock");
        let names = &p.syscalls[0].names;
        assert!(names.iter().any(|n| n == "openat") && names.iter().any(|n| n == "execve"));
        let f = super::super::compile(&p).expect("compiles");
        assert!(f.notify);
        assert!(!names.iter().any(|n| n == "sendmsg"));
        let d = docker_profile(&BTreeSet::from(["read".to_owned(), "write".to_owned()]));
        let allowed = d["syscalls"][0]["names"].as_array().unwrap();
        assert!(allowed.contains(&"read".into()) && allowed.contains(&"sendmsg".into()));
    }
}
