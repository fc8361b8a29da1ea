//! Image signatures and the signature policy (Berth extensions):
//! `GET /images/{name}/signatures` and `POST /images/{name}/signatures`.

use serde::{Deserialize, Serialize};

/// `GET /images/{name}/signatures`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSignatures {
    /// The name as asked.
    pub name: String,
    /// The image's id.
    pub id: String,
    /// What a new signature for this name signs (with `?target=1`): the repository and the
    /// manifest digest it is (or will be, once pushed) known by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<SigningTarget>,
    /// The signatures kept with the image, by manifest.
    pub manifests: Vec<ManifestSignatures>,
    /// The daemon's signature policy applied to this name now.
    pub policy: PolicyResult,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SigningTarget {
    pub repository: String,
    pub digest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestSignatures {
    pub digest: String,
    pub signatures: Vec<Signature>,
}

/// A cosign signature: the simple-signing payload (base64) and the signature (base64).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Signature {
    pub payload: String,
    pub signature: String,
}

/// The verdict of the signature policy for one image name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyResult {
    /// The policy file (empty when there is none: everything is accepted).
    pub file: String,
    pub scope: String,
    pub accepted: bool,
    /// A signature was checked (not accepted without one).
    pub verified: bool,
    /// The keys that verified a signature.
    pub signers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /images/{name}/signatures`: a signature of one of the image's manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddSignature {
    pub digest: String,
    pub payload: String,
    pub signature: String,
}

/// The header a client sets when content trust is on (`DOCKER_CONTENT_TRUST=1` or
/// `BERTH_CONTENT_TRUST=1`): the daemon then also refuses images that the policy accepts
/// without a verified signature.
pub const CONTENT_TRUST_HEADER: &str = "X-Berth-Content-Trust";
