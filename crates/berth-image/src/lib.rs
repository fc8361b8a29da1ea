//! Berth's images. So far: the content store (`blobs/sha256/…`, digest verified before a blob
//! becomes visible) and the layer unpacker, which turns an OCI/Docker layer tarball into a
//! directory an overlay mount can use, and which no hostile archive can make write outside that
//! directory. Also references, the image index, snapshots, archives (load/save) and registries.

pub mod archive;
pub mod digest;
pub mod error;
pub mod images;
pub mod reference;
pub mod registry;
pub mod signatures;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};

/// Whether the process that owns a temporary name (`<pid>` or `<pid>-…`) still runs.
pub(crate) fn owner_alive(name: &str) -> bool {
    match name.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) => std::path::Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}
