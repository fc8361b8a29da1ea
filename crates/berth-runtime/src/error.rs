//! The runtime's error type: one enum, messages lowercase, each naming the value involved.

use std::path::PathBuf;

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("invalid container id {0:?}: only [A-Za-z0-9_+.-] allowed, 1..=1024 characters")]
    InvalidId(String),
    #[error("{path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("invalid spec: {0}")]
    Spec(String),
    #[error("{ctx}: {source}")]
    Io {
        ctx: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{ctx}: {source}")]
    Sys {
        ctx: String,
        #[source]
        source: nix::Error,
    },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("container {id} is {status}: {msg}")]
    BadState {
        id: String,
        status: String,
        msg: String,
    },
    #[error("hook {path}: {msg}")]
    Hook { path: String, msg: String },
    #[error("container init: {0}")]
    Init(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach context to io and nix errors: `op.ctx(|| format!("open {path:?}"))?`.
pub trait Context<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|source| Error::Io { ctx: f(), source })
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|source| Error::Sys { ctx: f(), source })
    }
}
