//! Berth's images. So far: the content store (`blobs/sha256/…`, digest verified before a blob
//! becomes visible) and the layer unpacker, which turns an OCI/Docker layer tarball into a
//! directory an overlay mount can use, and which no hostile archive can make write outside that
//! directory. References, manifests, snapshots and registries come next (issue 3).

pub mod archive;
pub mod digest;
pub mod error;
pub mod images;
pub mod reference;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
