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
    /// The container's command cannot be run.
    #[error("exec: {cmd:?}: {failure}")]
    Exec { cmd: String, failure: ExecFailure },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command could not be executed (docker's exit codes tell them apart: 127, 126).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecFailure {
    /// A path that does not exist.
    NoSuchFile,
    /// A name not found in `$PATH`.
    NotInPath,
    /// Not an executable file (or a directory).
    PermissionDenied,
}

impl std::fmt::Display for ExecFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExecFailure::NoSuchFile => "no such file or directory",
            ExecFailure::NotInPath => "executable file not found in $PATH",
            ExecFailure::PermissionDenied => "permission denied",
        })
    }
}

impl ExecFailure {
    fn tag(self) -> &'static str {
        match self {
            ExecFailure::NoSuchFile => "enoent",
            ExecFailure::NotInPath => "enopath",
            ExecFailure::PermissionDenied => "eacces",
        }
    }

    fn from_tag(t: &str) -> Option<ExecFailure> {
        [
            ExecFailure::NoSuchFile,
            ExecFailure::NotInPath,
            ExecFailure::PermissionDenied,
        ]
        .into_iter()
        .find(|f| f.tag() == t)
    }
}

impl Error {
    /// The message a container's process sends its runtime when its setup fails: the error's
    /// kind survives the trip (`exec` failures keep their cause; the rest become
    /// [`Error::Init`] with the child's text, said once).
    pub(crate) fn to_wire(&self) -> Vec<u8> {
        match self {
            Error::Exec { cmd, failure } => format!("error:exec:{}:{cmd}", failure.tag()),
            Error::Init(m) => format!("error:init:{m}"),
            other => format!("error:init:{other}"),
        }
        .into_bytes()
    }

    /// The error a [`Error::to_wire`] message (without its `error:` prefix) stands for.
    pub(crate) fn from_wire(msg: &[u8]) -> Error {
        let text = String::from_utf8_lossy(msg);
        if let Some(rest) = text.strip_prefix("exec:") {
            if let Some((tag, cmd)) = rest.split_once(':') {
                if let Some(failure) = ExecFailure::from_tag(tag) {
                    return Error::Exec {
                        cmd: cmd.to_owned(),
                        failure,
                    };
                }
            }
        }
        Error::Init(text.strip_prefix("init:").unwrap_or(&text).to_owned())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_errors_cross_the_handshake_typed_and_said_once() {
        let e = Error::Exec {
            cmd: "nope".into(),
            failure: ExecFailure::NotInPath,
        };
        let w = e.to_wire();
        let back = Error::from_wire(w.strip_prefix(b"error:").expect("prefix"));
        assert!(matches!(
            back,
            Error::Exec {
                failure: ExecFailure::NotInPath,
                ..
            }
        ));
        assert_eq!(
            back.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        let i = Error::Init("mount /x: EPERM".into()).to_wire();
        let back = Error::from_wire(i.strip_prefix(b"error:").expect("prefix"));
        assert_eq!(back.to_string(), "container init: mount /x: EPERM");
        let io = Error::Io {
            ctx: "open /y".into(),
            source: std::io::Error::from_raw_os_error(2),
        }
        .to_wire();
        let back = Error::from_wire(io.strip_prefix(b"error:").expect("prefix"));
        assert!(
            back.to_string().starts_with("container init: open /y: "),
            "{back}"
        );
    }
}
