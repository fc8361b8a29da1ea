//! Image signatures as cosign makes them, and the policy that says which images need them.
//!
//! - [`keys`]: cosign's key files (ECDSA P-256, scrypt + secretbox sealed private keys);
//! - [`payload`]: the simple-signing payload and the check of one signature;
//! - [`policy`]: containers/image's `policy.json` and its evaluation for an image.
//!
//! No I/O beyond reading key files a policy names; where signatures are kept and how they
//! travel to registries is the image store's business.

pub mod keys;
pub mod payload;
pub mod policy;

pub use keys::{PrivateKey, PublicKey};
pub use payload::SimpleSigning;
pub use policy::{Candidate, Decision, ImageName, Policy, Refusal};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Key(String),
    #[error("decrypt the private key: wrong passphrase (or a damaged key file)")]
    Passphrase,
    #[error("{0}")]
    Payload(String),
    #[error("{0}")]
    Policy(String),
}

pub type Result<T> = std::result::Result<T, Error>;
