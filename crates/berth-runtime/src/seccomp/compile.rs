//! Compile a resolved profile to a BPF program with libseccomp, cache programs on disk by the
//! SHA-256 of their inputs, and load a program into the calling thread.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use sha2::{Digest, Sha256};

use super::profile::Profile;
use crate::error::{Error, Result};

/// A compiled filter, ready to load in the container process.
#[derive(Debug, Clone)]
pub struct LoadedFilter {
    /// The BPF program (an array of `struct sock_filter`, host byte order).
    pub bpf: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*` to load it with.
    pub flags: u32,
    /// The profile uses `SCMP_ACT_NOTIFY`: load with a listener and send it to `listener_path`.
    pub notify: bool,
    pub listener_path: Option<String>,
    pub listener_metadata: Option<String>,
}

pub(crate) fn parse_action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.unwrap_or(libc::EPERM as u32) as i32;
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno),
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno as u16),
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_NOTIFY" => ScmpAction::Notify,
        other => return Err(Error::Seccomp(format!("unknown action {other:?}"))),
    })
}

pub(crate) fn parse_arch(name: &str) -> Result<ScmpArch> {
    Ok(match name {
        "SCMP_ARCH_X86" => ScmpArch::X86,
        "SCMP_ARCH_X86_64" => ScmpArch::X8664,
        "SCMP_ARCH_X32" => ScmpArch::X32,
        "SCMP_ARCH_ARM" => ScmpArch::Arm,
        "SCMP_ARCH_AARCH64" => ScmpArch::Aarch64,
        "SCMP_ARCH_MIPS" => ScmpArch::Mips,
        "SCMP_ARCH_MIPS64" => ScmpArch::Mips64,
        "SCMP_ARCH_MIPS64N32" => ScmpArch::Mips64N32,
        "SCMP_ARCH_MIPSEL" => ScmpArch::Mipsel,
        "SCMP_ARCH_MIPSEL64" => ScmpArch::Mipsel64,
        "SCMP_ARCH_MIPSEL64N32" => ScmpArch::Mipsel64N32,
        "SCMP_ARCH_PPC" => ScmpArch::Ppc,
        "SCMP_ARCH_PPC64" => ScmpArch::Ppc64,
        "SCMP_ARCH_PPC64LE" => ScmpArch::Ppc64Le,
        "SCMP_ARCH_S390" => ScmpArch::S390,
        "SCMP_ARCH_S390X" => ScmpArch::S390X,
        "SCMP_ARCH_RISCV64" => ScmpArch::Riscv64,
        "SCMP_ARCH_PARISC" => ScmpArch::Parisc,
        "SCMP_ARCH_PARISC64" => ScmpArch::Parisc64,
        other => return Err(Error::Seccomp(format!("unknown architecture {other:?}"))),
    })
}

pub(crate) fn parse_op(name: &str, value: u64, value_two: u64) -> Result<(ScmpCompareOp, u64)> {
    Ok(match name {
        "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, value),
        "SCMP_CMP_LT" => (ScmpCompareOp::Less, value),
        "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, value),
        "SCMP_CMP_EQ" => (ScmpCompareOp::Equal, value),
        "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, value),
        "SCMP_CMP_GT" => (ScmpCompareOp::Greater, value),
        // Docker and the runtime-spec: `value` is the mask, `valueTwo` the expected result.
        "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(value), value_two),
        other => return Err(Error::Seccomp(format!("unknown operator {other:?}"))),
    })
}

fn flag_bits(flags: &[String]) -> Result<u32> {
    let mut bits = 0;
    for f in flags {
        bits |= match f.as_str() {
            // The container process is single-threaded at load time: TSYNC adds nothing.
            "SECCOMP_FILTER_FLAG_TSYNC" => 0,
            "SECCOMP_FILTER_FLAG_LOG" => 2,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => 32,
            other => return Err(Error::Seccomp(format!("unknown flag {other:?}"))),
        };
    }
    Ok(bits)
}

fn seccomp_err(what: &str, e: libseccomp::error::SeccompError) -> Error {
    Error::Seccomp(format!("{what}: {e}"))
}

/// Compile a resolved (runtime-spec form) profile into a BPF program.
pub fn compile(p: &Profile) -> Result<LoadedFilter> {
    p.validate()?;
    let default = parse_action(&p.default_action, p.default_errno_ret)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| seccomp_err("init", e))?;
    // We set no_new_privs ourselves, when the spec asks for it.
    ctx.set_ctl_nnp(false).map_err(|e| seccomp_err("nnp", e))?;
    for a in &p.architectures {
        let arch = parse_arch(a)?;
        if arch != ScmpArch::native() {
            ctx.add_arch(arch)
                .map_err(|e| seccomp_err(&format!("add architecture {a}"), e))?;
        }
    }
    let mut notify = default == ScmpAction::Notify;
    for rule in &p.syscalls {
        let action = parse_action(&rule.action, rule.errno_ret)?;
        if action == default {
            continue;
        }
        notify |= action == ScmpAction::Notify;
        let mut conds = Vec::with_capacity(rule.args.len());
        for a in &rule.args {
            let (op, datum) = parse_op(&a.op, a.value, a.value_two)?;
            conds.push(ScmpArgCompare::new(a.index, op, datum));
        }
        // libseccomp rejects two conditions on one argument in a rule; as runc does, such a rule
        // becomes one rule per condition (any of them matches).
        let mut idx: Vec<u32> = rule.args.iter().map(|a| a.index).collect();
        idx.sort_unstable();
        let split = idx.windows(2).any(|w| w[0] == w[1]);
        let names = rule.names.iter().chain(rule.name.iter());
        for name in names {
            // Unknown names (newer or other-arch syscalls) are skipped, as Docker and runc do.
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let res = if split {
                conds
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(action, sys, &[*c]).map(|_| ()))
            } else {
                ctx.add_rule_conditional(action, sys, &conds).map(|_| ())
            };
            res.map_err(|e| seccomp_err(&format!("rule for {name}"), e))?;
        }
    }
    let fd =
        nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| Error::Seccomp(format!("memfd: {e}")))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file)
        .map_err(|e| seccomp_err("export", e))?;
    let mut bpf = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(|e| Error::Seccomp(format!("read program: {e}")))?;
    Ok(LoadedFilter {
        bpf,
        flags: flag_bits(&p.flags)?,
        notify,
        listener_path: p.listener_path.clone(),
        listener_metadata: p.listener_metadata.clone(),
    })
}

/// [`compile`] with a cache in `dir`: programs are stored under the SHA-256 of the profile's
/// canonical JSON and the libseccomp version, so a profile compiles once per machine.
pub fn compile_cached(p: &Profile, dir: &Path) -> Result<LoadedFilter> {
    let json = serde_json::to_vec(p).map_err(|e| Error::Seccomp(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(format!(
        "{:?}\0",
        libseccomp::ScmpVersion::current()
            .ok()
            .map(|v| (v.major, v.minor, v.micro))
    ));
    h.update(&json);
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{key}.bpf"));
    if let Ok(bpf) = std::fs::read(&path) {
        if !bpf.is_empty() && bpf.len() % 8 == 0 {
            p.validate()?;
            let notify = p.default_action == "SCMP_ACT_NOTIFY"
                || p.syscalls.iter().any(|r| r.action == "SCMP_ACT_NOTIFY");
            return Ok(LoadedFilter {
                bpf,
                flags: flag_bits(&p.flags)?,
                notify,
                listener_path: p.listener_path.clone(),
                listener_metadata: p.listener_metadata.clone(),
            });
        }
    }
    let f = compile(p)?;
    // Best effort: a cache that cannot be written only costs time.
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = dir.join(format!(".{key}.{}", std::process::id()));
        if std::fs::write(&tmp, &f.bpf).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(f)
}

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 8;

/// Load a compiled program into the calling thread. Returns the notification listener when the
/// program uses `SCMP_ACT_NOTIFY`.
pub fn load(f: &LoadedFilter) -> Result<Option<OwnedFd>> {
    let insns: Vec<libc::sock_filter> = f
        .bpf
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_ptr() as *mut _,
    };
    let mut flags = f.flags as libc::c_ulong;
    if f.notify {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    // SAFETY: `prog` points at `insns`, which outlives the call; the kernel copies the program.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const _,
        )
    };
    if ret < 0 {
        return Err(Error::Seccomp(format!(
            "load filter: {}",
            std::io::Error::last_os_error()
        )));
    }
    if f.notify {
        // SAFETY: with NEW_LISTENER the kernel returns a new file descriptor we now own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }));
    }
    Ok(None)
}

/// Send a seccomp notification listener to the agent on `sock`, as runc does: one message with
/// the descriptor (SCM_RIGHTS) and a JSON `{ociVersion, fds: ["seccompFd"], pid, metadata, state}`.
pub fn send_listener(
    sock: &std::os::unix::net::UnixStream,
    listener: &OwnedFd,
    state: &serde_json::Value,
    metadata: Option<&str>,
) -> Result<()> {
    use std::os::fd::AsRawFd;
    let msg = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state.get("pid").cloned().unwrap_or_default(),
        "metadata": metadata.unwrap_or_default(),
        "state": state,
    });
    let data = serde_json::to_vec(&msg).map_err(|e| Error::Seccomp(e.to_string()))?;
    crate::sync::send_with_fd(sock.as_raw_fd(), &data, listener.as_raw_fd())
        .map_err(|e| Error::Seccomp(format!("send listener to listenerPath: {e}")))
}
