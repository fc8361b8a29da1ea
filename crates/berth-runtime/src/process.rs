//! The last steps before `execve`, shared by a container's init and `exec`'d processes:
//! rlimits, no_new_privs, the user (uid, gid, additional gids, umask), the five capability sets,
//! seccomp, the working directory, and the lookup of the executable in the container's `PATH`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, PosixRlimitType, Process};

use crate::error::{Context, Error, ExecFailure, Result};
use crate::seccomp::LoadedFilter;

/// Everything needed to turn the current (privileged, in-container) process into the container
/// process.
pub struct Plan {
    pub exe: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub process: Process,
    pub seccomp: Option<LoadedFilter>,
    /// Descriptors 3..3+n stay open in the container (`--preserve-fds`).
    pub preserve_fds: u32,
    /// For `SCMP_ACT_NOTIFY` profiles: the connection to `listenerPath` (made by the runtime on
    /// the host side) and the container state to send with the listener descriptor.
    pub notify: Option<(std::os::unix::net::UnixStream, serde_json::Value)>,
    /// The container's Landlock profile (its annotation), applied just before seccomp.
    pub landlock: Option<crate::landlock::Profile>,
}

fn cap_name(c: &Capability) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Ambient capabilities the kernel will not raise, because they are not both permitted and
/// inheritable. `runc spec` and `crun spec` list ambient ones with an empty inheritable set; runc
/// warns and goes on, and so does `create`.
pub fn unraisable_ambient(p: &Process) -> Vec<String> {
    let Some(c) = p.capabilities() else {
        return Vec::new();
    };
    let ok = cap_mask(c.permitted().iter().flatten()) & cap_mask(c.inheritable().iter().flatten());
    c.ambient()
        .iter()
        .flatten()
        .filter(|a| cap_mask([*a]) & ok == 0 && cap_mask([*a]) != 0)
        .map(cap_name)
        .collect()
}

/// The capabilities this kernel knows, probed once: `thread_all_supported` asks the kernel
/// about each one (a prctl per capability), and masks are built several times per start.
fn supported() -> &'static caps::CapsHashSet {
    static S: std::sync::OnceLock<caps::CapsHashSet> = std::sync::OnceLock::new();
    S.get_or_init(caps::runtime::thread_all_supported)
}

/// Capability names (`CAP_…`) to a bit mask; names this kernel does not know are skipped.
fn cap_mask<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> u64 {
    let mut m = 0u64;
    for c in caps {
        if let Ok(cap) = cap_name(c).parse::<caps::Capability>() {
            if supported().contains(&cap) {
                m |= cap.bitmask();
            }
        }
    }
    m
}

/// Names of the capabilities in a process's bounding set (for seccomp's `includes.caps`).
pub fn bounding_names(p: &Process) -> Vec<String> {
    p.capabilities()
        .as_ref()
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default()
        .iter()
        .map(cap_name)
        .collect()
}

/// Find `cmd` as execvp would, with the container's `PATH` (resolved inside the container: call
/// after `pivot_root` or `setns` into its mount namespace).
pub fn lookup(cmd: &str, env: &[String], cwd: &Path) -> Result<PathBuf> {
    let check = |p: &Path| -> Result<PathBuf> {
        let full = if p.is_absolute() {
            p.to_owned()
        } else {
            cwd.join(p)
        };
        let meta = std::fs::metadata(&full).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Exec {
                cmd: cmd.to_owned(),
                failure: ExecFailure::NoSuchFile,
            },
            std::io::ErrorKind::PermissionDenied => Error::Exec {
                cmd: cmd.to_owned(),
                failure: ExecFailure::PermissionDenied,
            },
            _ => Error::Init(format!("exec: {cmd:?}: {e}")),
        })?;
        use std::os::unix::fs::PermissionsExt;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::Exec {
                cmd: cmd.to_owned(),
                failure: ExecFailure::PermissionDenied,
            });
        }
        Ok(p.to_owned())
    };
    if cmd.contains('/') {
        return check(Path::new(cmd));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(cmd);
        if let Ok(p) = check(&cand) {
            return Ok(p);
        }
    }
    Err(Error::Exec {
        cmd: cmd.to_owned(),
        failure: ExecFailure::NotInPath,
    })
}

/// Build the plan for `process` (call inside the container's mount namespace).
pub fn plan(process: &Process, seccomp: Option<LoadedFilter>, preserve_fds: u32) -> Result<Plan> {
    let args = process.args().clone().unwrap_or_default();
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    let first = args
        .first()
        .ok_or_else(|| Error::Spec("process.args must not be empty".into()))?;
    let exe = lookup(first, &env, process.cwd())?;
    let c = |s: &str| CString::new(s).map_err(|_| Error::Spec(format!("{s:?} holds a NUL byte")));
    Ok(Plan {
        exe: CString::new(exe.as_os_str().as_bytes())
            .map_err(|_| Error::Spec("exe path holds NUL".into()))?,
        argv: args.iter().map(|a| c(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|a| c(a)).collect::<Result<_>>()?,
        process: process.clone(),
        seccomp,
        preserve_fds,
        notify: None,
        landlock: None,
    })
}

/// The fields of `uid`'s line in the passwd file at `path` (read directly, without NSS).
pub fn passwd_entry(path: &str, uid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<String> = l.split(':').map(str::to_owned).collect();
        (f.len() > 5 && f[2].parse() == Ok(uid)).then_some(f)
    })
}

/// The home directory of `uid` in the container's /etc/passwd, or `/`.
fn home_of(uid: u32) -> String {
    passwd_entry("/etc/passwd", uid)
        .map(|f| f[5].clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

fn rlimit_resource(t: PosixRlimitType) -> Option<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource as R;
    Some(match t {
        PosixRlimitType::RlimitCpu => R::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => R::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => R::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => R::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => R::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => R::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => R::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => R::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => R::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => R::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => R::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => R::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => R::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => R::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => R::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => R::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Apply the process's rlimits (before dropping privileges).
pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten() {
        let res = rlimit_resource(r.typ())
            .ok_or_else(|| Error::Spec(format!("unsupported rlimit {:?}", r.typ())))?;
        nix::sys::resource::setrlimit(res, r.soft(), r.hard())
            .ctx(|| format!("setrlimit {:?} to {}/{}", r.typ(), r.soft(), r.hard()))?;
    }
    Ok(())
}

/// Load the filter; with a notification listener, hand it to the `listenerPath` peer.
fn load_seccomp(plan: &Plan, f: &LoadedFilter) -> Result<()> {
    let Some(listener) = crate::seccomp::load(f)? else {
        return Ok(());
    };
    let Some((sock, state)) = &plan.notify else {
        return Err(Error::Seccomp(
            "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath".into(),
        ));
    };
    crate::seccomp::send_listener(sock, &listener, state, f.listener_metadata.as_deref())
}

/// Drop privileges as the spec says and exec. Only returns on error.
pub fn finalize_and_exec(plan: &Plan) -> Result<std::convert::Infallible> {
    let p = &plan.process;
    let nnp = p.no_new_privileges() == Some(true);
    if nnp {
        nix::sys::prctl::set_no_new_privs().ctx(|| "set no_new_privs".into())?;
    }
    // CVE-2024-21626: nothing of ours reaches the container. Done before seccomp, which may not
    // allow close_range (older profiles do not list it).
    crate::linux::cloexec_from(3 + plan.preserve_fds)?;
    // Without no_new_privs, loading a filter (and restricting with Landlock) needs
    // CAP_SYS_ADMIN: do it while we have it.
    if !nnp {
        if let Some(l) = &plan.landlock {
            crate::landlock::apply(l)?;
        }
        if let Some(f) = &plan.seccomp {
            load_seccomp(plan, f)?;
        }
    }
    let caps = p.capabilities().as_ref();
    if let Some(c) = caps {
        let bounding = cap_mask(c.bounding().iter().flatten());
        for cap in supported().iter().copied() {
            if bounding & cap.bitmask() == 0 {
                caps::drop(None, caps::CapSet::Bounding, cap)
                    .map_err(|e| Error::Other(format!("drop {cap} from bounding set: {e}")))?;
            }
        }
    }
    let user = p.user();
    // Keep the permitted set across the uid change; capset below trims it.
    nix::sys::prctl::set_keepcaps(true).ctx(|| "keepcaps".into())?;
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    if let Err(e) = nix::unistd::setgroups(&gids) {
        // setgroups is denied in user namespaces whose gid_map was written without it.
        if !(gids.is_empty() && e == nix::errno::Errno::EPERM) {
            return Err(Error::Sys {
                ctx: "setgroups".into(),
                source: e,
            });
        }
    }
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("setgid {}", user.gid()))?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("setuid {}", user.uid()))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "keepcaps".into())?;
    if let Some(c) = caps {
        let e = cap_mask(c.effective().iter().flatten());
        let pm = cap_mask(c.permitted().iter().flatten());
        let i = cap_mask(c.inheritable().iter().flatten());
        crate::linux::capset(e, pm, i)?;
        caps::clear(None, caps::CapSet::Ambient)
            .map_err(|e| Error::Other(format!("clear ambient: {e}")))?;
        for a in c.ambient().iter().flatten() {
            if let Ok(cap) = cap_name(a).parse::<caps::Capability>() {
                // Only a permitted and inheritable capability can be ambient (the kernel's
                // rule); `create` warned of the others (see `unraisable_ambient`).
                if i & pm & cap.bitmask() != 0 {
                    caps::raise(None, caps::CapSet::Ambient, cap)
                        .map_err(|e| Error::Other(format!("raise ambient {cap}: {e}")))?;
                }
            }
        }
    }
    if let Some(m) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    } else {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    }
    nix::unistd::chdir(p.cwd()).ctx(|| format!("chdir to cwd {:?} set in config.json", p.cwd()))?;
    // CVE-2024-21626: a cwd such as /proc/self/fd/N could lead through a descriptor inherited
    // from the caller to a directory outside the container: the kernel then reports it as
    // unreachable from our root.
    match nix::unistd::getcwd() {
        Ok(c) if c.is_absolute() => {}
        _ => {
            return Err(Error::Init(format!(
                "cwd {:?} is outside the container",
                p.cwd()
            )));
        }
    }
    if nnp {
        if let Some(l) = &plan.landlock {
            crate::landlock::apply(l)?;
        }
        if let Some(f) = &plan.seccomp {
            load_seccomp(plan, f)?;
        }
    }
    // A detached `exec` outlives the runtime that started it.
    nix::sys::prctl::set_pdeathsig(None).ctx(|| "clear parent-death signal".into())?;
    let e = nix::unistd::execve(&plan.exe, &plan.argv, &plan.envp).unwrap_err();
    Err(Error::Init(format!("exec {:?}: {e}", plan.exe)))
}
