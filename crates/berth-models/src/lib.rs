//! The Docker Engine API's wire types: one serde struct per request and response body Berth
//! serves, with dockerd's field names and its `null`/`[]`/omitted choices (a Go slice or map
//! that dockerd sends as `null` when empty is an `Option`; a field Go tags `omitempty` is
//! skipped when empty). Requests are read as dockerd reads them: unknown fields are ignored
//! and `null` stands for the zero value. Shapes that differ by API version are adapted by
//! [`version::ApiVersion`]-aware methods next to the type.
//!
//! Maps are `BTreeMap`s: Go's encoder writes map keys sorted, and so do we.

#[macro_use]
mod macros;

pub mod audit;
pub mod build;
pub mod container;
pub mod dashboard;
pub mod events;
pub mod exec;
pub mod filters;
pub mod image;
pub mod message;
pub mod network;
pub mod stats;
pub mod system;
pub mod trust;
pub mod version;
pub mod volume;

pub use filters::Filters;
pub use version::ApiVersion;

/// String-to-string maps (labels, options, driver data).
pub type Map = std::collections::BTreeMap<String, String>;

/// `{"message": "…"}`: every error answer.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub message: String,
}

wire! {
    /// `{"Id": "…"}` (commit, exec create).
    pub struct IdResponse {
        pub id: String,
    }
}

/// Deserialisation helpers for dockerd's leniency.
pub mod de {
    use serde::{Deserialize, Deserializer};

    /// A present `null` is the zero value (as Go's decoder leaves a field it reads `null` for).
    pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }
}

/// `skip_serializing_if` helpers for Go's `omitempty`.
pub mod omit {
    pub fn empty_str(s: &str) -> bool {
        s.is_empty()
    }
    pub fn zero_i64(n: &i64) -> bool {
        *n == 0
    }
    pub fn zero_u64(n: &u64) -> bool {
        *n == 0
    }
    pub fn not(b: &bool) -> bool {
        !*b
    }
    pub fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
        v.as_ref().is_none_or(Vec::is_empty)
    }
    pub fn empty_map<K, V>(m: &std::collections::BTreeMap<K, V>) -> bool {
        m.is_empty()
    }
    pub fn none_or_empty_map<K, V>(m: &Option<std::collections::BTreeMap<K, V>>) -> bool {
        m.as_ref().is_none_or(std::collections::BTreeMap::is_empty)
    }
}
