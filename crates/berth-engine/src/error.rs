//! The engine's errors: one enum, each variant of a kind the API maps to a status code
//! ([`Error::kind`]); texts are dockerd's where clients parse them (`No such container: x`).

/// What kind of failure, as dockerd's errdefs classify them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    Conflict,
    InvalidParameter,
    Unauthorized,
    Forbidden,
    NotImplemented,
    Unavailable,
    Internal,
}

/// Why a container did not start (the shim's classification of the runtime's error).
pub use berth_shim::StartFailure;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotImplemented(String),
    /// A start that failed (dockerd's wording around the runtime's message).
    #[error("failed to create task for container: {message}: unknown")]
    Start {
        message: String,
        failure: StartFailure,
    },
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    #[error(transparent)]
    Net(#[from] berth_net::Error),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error("berth.db: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Filter(#[from] berth_models::filters::InvalidFilter),
    #[error("{0}")]
    Internal(String),
    /// A build step's command failed with `code`.
    #[error("{message}")]
    Build { code: i64, message: String },
}

impl Error {
    pub fn kind(&self) -> Kind {
        use berth_image::Error as I;
        match self {
            Error::NoSuchContainer(_)
            | Error::NoSuchImage(_)
            | Error::NoSuchExec(_)
            | Error::NoSuchNetwork(_)
            | Error::NoSuchVolume(_)
            | Error::NotFound(_) => Kind::NotFound,
            Error::Conflict(_) => Kind::Conflict,
            Error::InvalidParameter(_)
            | Error::Filter(_)
            | Error::Start { .. }
            | Error::Build { .. } => Kind::InvalidParameter,
            Error::Unauthorized(_) => Kind::Unauthorized,
            Error::Forbidden(_) => Kind::Forbidden,
            Error::NotImplemented(_) => Kind::NotImplemented,
            Error::Image(e) => match e {
                I::NoSuchImage(_) | I::ManifestUnknown(_) => Kind::NotFound,
                I::Conflict(_) => Kind::Conflict,
                I::Unauthorized(_) => Kind::Unauthorized,
                I::Refused(_) => Kind::Forbidden,
                I::Reference(_)
                | I::InvalidDigest(_)
                | I::Format(_)
                | I::Entry { .. }
                | I::DigestMismatch { .. } => Kind::InvalidParameter,
                _ => Kind::Internal,
            },
            Error::Net(berth_net::Error::Invalid(_)) => Kind::InvalidParameter,
            Error::Net(_)
            | Error::Runtime(_)
            | Error::Db(_)
            | Error::Io { .. }
            | Error::Internal(_) => Kind::Internal,
        }
    }

    /// An I/O failure with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }
}

/// `io::Result` → the engine's, with context.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::io(what(), e))
    }
}

/// Whether a database error is a `UNIQUE` constraint's (a name or id already taken).
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
