//! `POST /build` and `POST /build/prune`.

use std::collections::BTreeMap;

wire! {
    /// `200` of `POST /build/prune`.
    pub struct BuildPruneResponse {
        pub caches_deleted: Option<Vec<String>>,
        pub space_reclaimed: u64,
    }
}

wire! {
    /// `aux` of a build's result message: the image id.
    pub struct BuildResult {
        #[serde(rename = "ID")]
        pub id: String,
    }
}

/// The header Berth's client sends build secrets in (a Berth extension: base64 of a JSON
/// object `{"id": "<base64 of the secret>"}`); dockerd's classic builder has no secrets.
pub const SECRETS_HEADER: &str = "x-berth-build-secrets";

/// Secrets by id, as [`SECRETS_HEADER`] carries them.
pub type Secrets = BTreeMap<String, String>;
