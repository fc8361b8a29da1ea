//! Seccomp: Docker-format profiles (with `archMap`, `includes`/`excludes` by capability, arch and
//! kernel), their resolution into the runtime-spec form for one container, compilation to BPF
//! through libseccomp (which handles x86_64's x86/x32 sub-architectures and argument filters),
//! a cache of compiled programs keyed by a hash of their inputs, and loading.
//!
//! libseccomp rather than seccompiler: seccompiler builds one architecture per filter, and Docker's
//! semantics need x86_64 + x86 + x32 in one program.

pub mod bpf;
pub mod compile;
pub mod default;
pub mod profile;
pub mod record;

pub use compile::{LoadedFilter, compile, compile_cached, load, send_listener};
pub use profile::Profile;
