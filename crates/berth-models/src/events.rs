//! `GET /events` messages.

use crate::Map;

wire! {
    pub struct Actor {
        #[serde(rename = "ID")]
        pub id: String,
        pub attributes: Map,
    }
}

/// One event. Container events also carry the pre-1.22 `status`, `id` and `from`, as
/// dockerd's still do.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    #[serde(default, rename = "status", skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, rename = "id", skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, rename = "from", skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, rename = "Type")]
    pub r#type: String,
    #[serde(default, rename = "Action")]
    pub action: String,
    #[serde(default, rename = "Actor")]
    pub actor: Actor,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(default, rename = "timeNano")]
    pub time_nano: i64,
}
