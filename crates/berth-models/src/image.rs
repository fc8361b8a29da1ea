//! Images: list and inspect shapes, history, removal and prune reports, and the image
//! configuration file (the OCI/Docker `config.json` of an image) they are made from.

use serde::{Deserialize, Serialize};

use crate::container::{Config, GraphDriver};
use crate::{ApiVersion, Map};

wire! {
    /// `GET /images/json` entry (and `system df`'s images, with `Containers` counted).
    pub struct Summary {
        pub containers: i64,
        pub created: i64,
        pub id: String,
        pub labels: Option<Map>,
        pub parent_id: String,
        pub repo_digests: Vec<String>,
        pub repo_tags: Vec<String>,
        pub shared_size: i64,
        pub size: i64,
        /// Removed in API 1.44; the same as `Size` for older clients.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub virtual_size: Option<i64>,
    }
}

impl Summary {
    /// The shape for a client of API `v`.
    pub fn for_version(mut self, v: ApiVersion) -> Summary {
        self.virtual_size = (v < ApiVersion::new(1, 44)).then_some(self.size);
        self
    }
}

wire! {
    pub struct RootFs {
        pub r#type: String,
        pub layers: Vec<String>,
    }
}

wire! {
    pub struct Metadata {
        pub last_tag_time: String,
    }
}

wire! {
    /// `GET /images/{name}/json`.
    pub struct Inspect {
        pub id: String,
        pub repo_tags: Vec<String>,
        pub repo_digests: Vec<String>,
        pub parent: String,
        pub comment: String,
        pub created: String,
        pub docker_version: String,
        pub author: String,
        pub config: Config,
        pub architecture: String,
        #[serde(skip_serializing_if = "crate::omit::empty_str")]
        pub variant: String,
        pub os: String,
        pub size: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub virtual_size: Option<i64>,
        /// Before API 1.45: the container the image was committed from (if any) and its
        /// configuration.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub container: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub container_config: Option<Config>,
        pub graph_driver: GraphDriver,
        #[serde(rename = "RootFS")]
        pub root_fs: RootFs,
        pub metadata: Metadata,
    }
}

impl Inspect {
    pub fn for_version(mut self, v: ApiVersion) -> Inspect {
        self.virtual_size = (v < ApiVersion::new(1, 44)).then_some(self.size);
        if v < ApiVersion::new(1, 45) {
            self.container.get_or_insert_with(String::new);
            self.container_config.get_or_insert_with(Config::default);
        }
        self
    }
}

wire! {
    /// `GET /images/{name}/history` entry (newest first).
    pub struct HistoryItem {
        pub id: String,
        pub created: i64,
        pub created_by: String,
        pub tags: Option<Vec<String>>,
        pub size: i64,
        pub comment: String,
    }
}

/// `DELETE /images/{name}` entry: `{"Untagged": …}` or `{"Deleted": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

wire! {
    pub struct PruneResponse {
        pub images_deleted: Option<Vec<DeleteItem>>,
        pub space_reclaimed: u64,
    }
}

/// `rootfs` of an image configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigRootFs {
    #[serde(default)]
    pub r#type: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One `history` entry of an image configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigHistory {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// An image's configuration file (OCI image config, with Docker's additions); its `config`
/// holds the container defaults with the API's PascalCase names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
    #[serde(default)]
    pub rootfs: ConfigRootFs,
    #[serde(default)]
    pub history: Vec<ConfigHistory>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_items_and_versions() {
        let v = serde_json::to_value(vec![
            DeleteItem::Untagged("a:1".into()),
            DeleteItem::Deleted("sha256:x".into()),
        ])
        .expect("json");
        assert_eq!(
            v,
            serde_json::json!([{"Untagged": "a:1"}, {"Deleted": "sha256:x"}])
        );
        let s = Summary {
            size: 5,
            ..Default::default()
        };
        let old = serde_json::to_value(s.clone().for_version(ApiVersion::new(1, 41))).expect("j");
        assert_eq!(old["VirtualSize"], 5);
        let new = serde_json::to_value(s.for_version(ApiVersion::new(1, 51))).expect("j");
        assert!(new.get("VirtualSize").is_none());
    }
}
