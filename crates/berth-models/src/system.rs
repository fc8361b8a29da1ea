//! `/version`, `/info`, `/system/df`, `/auth`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Map, container, image, volume};

wire! {
    pub struct ComponentVersion {
        pub name: String,
        pub version: String,
        pub details: Map,
    }
}

wire! {
    pub struct Platform {
        pub name: String,
    }
}

wire! {
    /// `GET /version`.
    pub struct Version {
        pub platform: Platform,
        pub components: Vec<ComponentVersion>,
        pub version: String,
        pub api_version: String,
        #[serde(rename = "MinAPIVersion")]
        pub min_api_version: String,
        pub git_commit: String,
        pub go_version: String,
        pub os: String,
        pub arch: String,
        pub kernel_version: String,
        #[serde(skip_serializing_if = "crate::omit::not")]
        pub experimental: bool,
        pub build_time: String,
    }
}

wire! {
    pub struct Plugins {
        pub volume: Vec<String>,
        pub network: Vec<String>,
        pub authorization: Option<Vec<String>>,
        pub log: Vec<String>,
    }
}

wire! {
    pub struct IndexInfo {
        pub name: String,
        pub mirrors: Vec<String>,
        pub secure: bool,
        pub official: bool,
    }
}

wire! {
    pub struct RegistryConfig {
        #[serde(rename = "InsecureRegistryCIDRs")]
        pub insecure_registry_cidrs: Vec<String>,
        pub index_configs: BTreeMap<String, IndexInfo>,
        pub mirrors: Vec<String>,
        /// Foreign layers are pushed like any other: always empty.
        #[serde(rename = "AllowNondistributableArtifactsCIDRs")]
        pub allow_nondistributable_artifacts_cidrs: Vec<String>,
        pub allow_nondistributable_artifacts_hostnames: Vec<String>,
    }
}

/// A runtime of `info` (lowercase names, as dockerd's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    #[serde(default)]
    pub path: String,
}

wire! {
    pub struct SwarmInfo {
        #[serde(rename = "NodeID")]
        pub node_id: String,
        pub node_addr: String,
        pub local_node_state: String,
        pub control_available: bool,
        pub error: String,
        pub remote_managers: Option<Vec<String>>,
    }
}

wire! {
    pub struct Commit {
        #[serde(rename = "ID")]
        pub id: String,
        /// The commit dockerd was built against (the same, here).
        pub expected: String,
    }
}

wire! {
    /// `GET /info`.
    pub struct Info {
        #[serde(rename = "ID")]
        pub id: String,
        pub containers: i64,
        pub containers_running: i64,
        pub containers_paused: i64,
        pub containers_stopped: i64,
        pub images: i64,
        pub driver: String,
        pub driver_status: Vec<[String; 2]>,
        pub plugins: Plugins,
        pub memory_limit: bool,
        pub swap_limit: bool,
        pub cpu_cfs_period: bool,
        pub cpu_cfs_quota: bool,
        #[serde(rename = "CPUShares")]
        pub cpu_shares: bool,
        #[serde(rename = "CPUSet")]
        pub cpu_set: bool,
        pub pids_limit: bool,
        #[serde(rename = "IPv4Forwarding")]
        pub ipv4_forwarding: bool,
        pub debug: bool,
        #[serde(rename = "NFd")]
        pub nfd: i64,
        pub oom_kill_disable: bool,
        /// Kernel memory accounting (gone from cgroup v2 and newer kernels): false.
        pub kernel_memory: bool,
        #[serde(rename = "KernelMemoryTCP")]
        pub kernel_memory_tcp: bool,
        pub bridge_nf_iptables: bool,
        pub bridge_nf_ip6tables: bool,
        #[serde(rename = "NGoroutines")]
        pub ngoroutines: i64,
        pub system_time: String,
        pub logging_driver: String,
        pub cgroup_driver: String,
        pub cgroup_version: String,
        #[serde(rename = "NEventsListener")]
        pub nevents_listener: i64,
        pub kernel_version: String,
        pub operating_system: String,
        #[serde(rename = "OSVersion")]
        pub os_version: String,
        #[serde(rename = "OSType")]
        pub os_type: String,
        pub architecture: String,
        pub index_server_address: String,
        pub registry_config: RegistryConfig,
        #[serde(rename = "NCPU")]
        pub ncpu: i64,
        pub mem_total: i64,
        pub generic_resources: Option<Vec<String>>,
        pub docker_root_dir: String,
        pub http_proxy: String,
        pub https_proxy: String,
        pub no_proxy: String,
        pub name: String,
        pub labels: Vec<String>,
        pub experimental_build: bool,
        pub server_version: String,
        pub runtimes: BTreeMap<String, Runtime>,
        pub default_runtime: String,
        pub swarm: SwarmInfo,
        pub live_restore_enabled: bool,
        pub isolation: String,
        pub init_binary: String,
        pub containerd_commit: Commit,
        pub runc_commit: Commit,
        pub init_commit: Commit,
        pub security_options: Vec<String>,
        pub warnings: Option<Vec<String>>,
        /// What every container gets unless it says otherwise (a Berth extension).
        pub container_defaults: ContainerDefaults,
    }
}

wire! {
    /// The daemon's defaults for containers (`GET /info`, a Berth extension).
    pub struct ContainerDefaults {
        /// 0: none.
        pub pids_limit: i64,
        /// Bytes; 0: none.
        pub memory: i64,
        pub no_new_privileges: bool,
        /// `builtin`, `unconfined` or `custom`.
        pub seccomp_profile: String,
        pub capabilities: Vec<String>,
        pub masked_paths: Vec<String>,
        pub readonly_paths: Vec<String>,
        /// `host`, `auto`, or `remap:FIRST-LAST` (the host ids of `userns-remap`).
        pub userns: String,
    }
}

wire! {
    /// `GET /system/df`.
    pub struct DiskUsage {
        pub layers_size: i64,
        pub images: Vec<image::Summary>,
        pub containers: Vec<container::Summary>,
        pub volumes: Vec<volume::Volume>,
        pub build_cache: Vec<Map>,
        /// Deprecated by dockerd (API 1.42) but still sent: 1.41 clients read it.
        pub builder_size: i64,
    }
}

/// `POST /auth` (and the `X-Registry-Auth` header): lowercase names, as docker sends them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

wire! {
    pub struct AuthResponse {
        pub status: String,
        pub identity_token: String,
    }
}

wire! {
    /// `POST /config/reload` (a Berth extension; SIGHUP does the same and logs it): what the
    /// reload changed, what changed but needs a restart, and why it failed (then nothing
    /// changed).
    pub struct ReloadReport {
        pub applied: Vec<String>,
        pub not_live: Vec<String>,
        pub error: String,
    }
}

wire! {
    /// `POST /mirrors/test` (a Berth extension): which mirrors to measure and how.
    pub struct MirrorTestRequest {
        /// URLs or host[:port]; none: the daemon's `registry-mirrors` and the built-in list.
        pub candidates: Vec<String>,
        /// The probe image (default `library/busybox:latest`).
        pub image: String,
        pub rounds: u32,
        pub parallel: u32,
        /// Seconds per request.
        pub timeout: u64,
    }
}

wire! {
    /// `POST /mirrors/use`: the daemon's new `registry-mirrors`, written to its config file and
    /// applied at once.
    pub struct MirrorUseRequest {
        pub mirrors: Vec<String>,
    }
}
