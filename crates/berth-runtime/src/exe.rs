//! CVE-2019-5736: a container process that can reach the runtime's `/proc/<pid>/exe` (e.g. by
//! making its entrypoint `#!/proc/self/exe`) could overwrite the runtime binary on the host. Before
//! entering a container, the runtime re-executes itself from a sealed, read-only memfd copy, so
//! that `/proc/self/exe` is an unwritable anonymous file, never the binary on disk.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::error::{Context, Error, Result};

const SEALS: SealFlag = SealFlag::from_bits_truncate(
    SealFlag::F_SEAL_SEAL.bits()
        | SealFlag::F_SEAL_SHRINK.bits()
        | SealFlag::F_SEAL_GROW.bits()
        | SealFlag::F_SEAL_WRITE.bits(),
);

/// The environment variable that names the binary a sealed copy was made of.
pub const SEALED_FROM: &str = "BERTH_SEALED_FROM";

/// The binary this process runs (the original of a sealed copy).
pub fn original() -> std::path::PathBuf {
    std::env::var_os(SEALED_FROM)
        .filter(|_| is_sealed())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::fs::read_link("/proc/self/exe").unwrap_or_default())
}

/// Is this process running from a sealed memfd?
pub fn is_sealed() -> bool {
    std::fs::File::open("/proc/self/exe")
        .ok()
        .and_then(|f| fcntl(&f, FcntlArg::F_GET_SEALS).ok())
        .is_some_and(|s| SealFlag::from_bits_truncate(s).contains(SEALS))
}

/// Re-execute the current process (same argv and environment) from a sealed memfd copy of its
/// binary. Returns only if already sealed; otherwise only on error.
pub fn ensure_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    let mut src = std::fs::File::open("/proc/self/exe").ctx(|| "open /proc/self/exe".into())?;
    let fd = memfd_create(
        c"berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .ctx(|| "memfd_create".into())?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst).ctx(|| "copy runtime binary".into())?;
    fcntl(&dst, FcntlArg::F_ADD_SEALS(SEALS)).ctx(|| "seal runtime copy".into())?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| Error::Other("argument holds a NUL byte".into()))
        })
        .collect::<Result<_>>()?;
    // Where the copy came from, for whoever asks (`berth audit` names the binary).
    let from = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != SEALED_FROM)
        .chain(std::iter::once((
            std::ffi::OsString::from(SEALED_FROM),
            from.into_os_string(),
        )))
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let err = nix::unistd::fexecve(&dst, &args, &env).unwrap_err();
    Err(Error::Sys {
        ctx: "re-exec from sealed copy".into(),
        source: err,
    })
}
