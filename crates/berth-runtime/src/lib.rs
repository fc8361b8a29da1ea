//! Berth's OCI runtime library: runs a container from an OCI bundle with every isolation and
//! hardening mechanism the runtime-spec offers (namespaces, mounts, cgroups v1 and v2,
//! capabilities, seccomp, masked paths, rlimits, hooks), and keeps the runc command-line
//! contract's semantics (create / start / state / kill / delete / exec / ps / pause / resume /
//! update) so that Docker, Podman and containerd can drive it.
//!
//! Invariants:
//! - Every operation that changes state is transactional: a failed `create` leaves no state
//!   directory, cgroup or process behind (see [`container::create`]).
//! - The process that clones the container is single-threaded; all clone-time work happens here.
//! - Paths inside the container's rootfs are resolved inside it (`openat2(RESOLVE_IN_ROOT)`), never
//!   through symlinks that point out of it.

pub mod cgroups;
pub mod container;
pub mod devfilter;
pub mod error;
pub mod exe;
pub mod features;
pub mod hooks;
pub mod landlock;
pub mod linux;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sync;
pub mod terminal;

pub use error::{Error, Result};

/// The OCI runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";
/// Berth's version, as printed by `berth-runtime --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The runtime-spec types, re-exported so callers need not depend on oci-spec themselves.
pub mod oci {
    pub use oci_spec::runtime::{Capabilities, Capability, LinuxResources, Process, Spec};
}
