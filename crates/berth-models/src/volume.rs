//! Volumes: the resource, its list, the create request and the prune report.

use crate::{Map, omit};

wire! {
    /// `system df`'s usage of a volume (`-1` when not computed).
    pub struct UsageData {
        pub size: i64,
        pub ref_count: i64,
    }
}

wire! {
    pub struct Volume {
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub created_at: String,
        pub driver: String,
        pub labels: Map,
        pub mountpoint: String,
        pub name: String,
        pub options: Option<Map>,
        pub scope: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub usage_data: Option<UsageData>,
    }
}

wire! {
    /// `POST /volumes/create`.
    pub struct CreateRequest {
        pub name: String,
        pub driver: String,
        pub driver_opts: Option<Map>,
        pub labels: Option<Map>,
    }
}

wire! {
    /// `GET /volumes`.
    pub struct ListResponse {
        pub volumes: Vec<Volume>,
        pub warnings: Option<Vec<String>>,
    }
}

wire! {
    pub struct PruneResponse {
        pub volumes_deleted: Option<Vec<String>>,
        pub space_reclaimed: u64,
    }
}
