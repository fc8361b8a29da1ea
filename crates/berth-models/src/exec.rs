//! Exec sessions: create and start requests, and `GET /exec/{id}/json`.

/// `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub user: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub tty: bool,
    #[serde(default)]
    pub console_size: Option<[u64; 2]>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub attach_stderr: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub detach: bool,
    /// docker-py sends `detachKeys` (dockerd's JSON decoding ignores case).
    #[serde(
        default,
        alias = "detachKeys",
        deserialize_with = "crate::de::nullable"
    )]
    pub detach_keys: String,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub working_dir: String,
    #[serde(default, deserialize_with = "crate::container::str_slice::deserialize")]
    pub cmd: Option<Vec<String>>,
}

wire! {
    /// `POST /exec/{id}/start`.
    pub struct StartRequest {
        pub detach: bool,
        pub tty: bool,
        pub console_size: Option<[u64; 2]>,
    }
}

/// `ProcessConfig` of exec inspect (lowercase names, as dockerd's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcessConfig {
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub entrypoint: String,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub user: String,
}

wire! {
    /// `GET /exec/{id}/json`.
    pub struct Inspect {
        pub can_remove: bool,
        #[serde(rename = "ContainerID")]
        pub container_id: String,
        pub detach_keys: String,
        pub exit_code: Option<i64>,
        #[serde(rename = "ID")]
        pub id: String,
        pub open_stderr: bool,
        pub open_stdin: bool,
        pub open_stdout: bool,
        pub process_config: ProcessConfig,
        pub running: bool,
        pub pid: i64,
    }
}
