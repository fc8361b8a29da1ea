//! The image crate's error type.

/// Everything that can go wrong with images and layers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("{0}")]
    Reference(String),
    #[error("{0}")]
    Format(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Registry(String),
    /// The registry has no such manifest or repository.
    #[error("{0}")]
    ManifestUnknown(String),
    /// The registry refused the credentials (or wanted some).
    #[error("{0}")]
    Unauthorized(String),
    #[error("blob {0} not found")]
    NotFound(String),
    /// The signature policy refused the image.
    #[error("{0}")]
    Refused(String),
    #[error("layer entry {path:?}: {msg}")]
    Entry { path: String, msg: String },
    #[error("{ctx}: {source}")]
    Io {
        ctx: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io<T>(r: std::io::Result<T>, ctx: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|source| Error::Io { ctx: ctx(), source })
}
