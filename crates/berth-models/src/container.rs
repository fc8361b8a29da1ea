//! Containers: the create request (`Config`, `HostConfig`, `NetworkingConfig`), inspect and
//! list shapes, and the small answers of the container endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::network::{EndpointSettings, NetworkSettings};
use crate::{Map, omit};

/// Go's `struct{}` values of port and volume sets: written `{}`, read from anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Empty, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

/// `80/tcp` → `{}` (exposed ports), `/data` → `{}` (volumes).
pub type Set = BTreeMap<String, Empty>;

/// Go's `strslice.StrSlice`: a list, or one string standing for a one-element list.
pub mod str_slice {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            None => None,
            Some(OneOrMany::One(s)) => Some(vec![s]),
            Some(OneOrMany::Many(v)) => Some(v),
        })
    }
}

/// A container's configuration (the image-independent part of the create request, and
/// `Config` in inspect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub hostname: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub domainname: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub user: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub attach_stderr: bool,
    #[serde(default, skip_serializing_if = "omit::none_or_empty_map")]
    pub exposed_ports: Option<Set>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub tty: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub open_stdin: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub stdin_once: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, with = "str_slice_opt")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::not"
    )]
    pub args_escaped: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub image: String,
    #[serde(default)]
    pub volumes: Option<Set>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub working_dir: String,
    #[serde(default, with = "str_slice_opt")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::not"
    )]
    pub network_disabled: bool,
    /// Deprecated in API 1.44 (per endpoint since); sent to older clients.
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::empty_str"
    )]
    pub mac_address: String,
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<Map>,
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::empty_str"
    )]
    pub stop_signal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(
        default,
        with = "str_slice_opt",
        skip_serializing_if = "omit::none_or_empty"
    )]
    pub shell: Option<Vec<String>>,
}

/// `str_slice` for reading, plain for writing.
mod str_slice_opt {
    pub use super::str_slice::deserialize;
    use serde::{Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
}

wire! {
    /// `HEALTHCHECK`: durations in nanoseconds; `Test` is `["NONE"]`, `["CMD", …]` or
    /// `["CMD-SHELL", "…"]`.
    pub struct HealthConfig {
        #[serde(skip_serializing_if = "omit::none_or_empty")]
        pub test: Option<Vec<String>>,
        #[serde(skip_serializing_if = "omit::zero_i64")]
        pub interval: i64,
        #[serde(skip_serializing_if = "omit::zero_i64")]
        pub timeout: i64,
        #[serde(skip_serializing_if = "omit::zero_i64")]
        pub start_period: i64,
        #[serde(skip_serializing_if = "omit::zero_i64")]
        pub start_interval: i64,
        #[serde(skip_serializing_if = "omit::zero_i64")]
        pub retries: i64,
    }
}

wire! {
    pub struct RestartPolicy {
        pub name: String,
        pub maximum_retry_count: i64,
    }
}

wire! {
    pub struct LogConfig {
        pub r#type: String,
        pub config: Map,
    }
}

wire! {
    /// A published port: `{"HostIp": "", "HostPort": "8080"}`.
    pub struct PortBinding {
        pub host_ip: String,
        pub host_port: String,
    }
}

/// `80/tcp` → its bindings (`null` for an exposed port without any).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

wire! {
    pub struct Ulimit {
        pub name: String,
        pub hard: i64,
        pub soft: i64,
    }
}

wire! {
    pub struct DeviceMapping {
        pub path_on_host: String,
        pub path_in_container: String,
        pub cgroup_permissions: String,
    }
}

wire! {
    pub struct DeviceRequest {
        pub driver: String,
        pub count: i64,
        #[serde(rename = "DeviceIDs")]
        pub device_ids: Option<Vec<String>>,
        pub capabilities: Option<Vec<Vec<String>>>,
        pub options: Option<Map>,
    }
}

wire! {
    pub struct WeightDevice {
        pub path: String,
        pub weight: u16,
    }
}

wire! {
    pub struct ThrottleDevice {
        pub path: String,
        pub rate: u64,
    }
}

wire! {
    /// The cgroup limits of a container (part of `HostConfig`, and the `update` request).
    pub struct Resources {
        pub cpu_shares: i64,
        pub memory: i64,
        pub nano_cpus: i64,
        pub cgroup_parent: String,
        pub blkio_weight: u16,
        pub blkio_weight_device: Option<Vec<WeightDevice>>,
        pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
        pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
        #[serde(rename = "BlkioDeviceReadIOps")]
        pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
        #[serde(rename = "BlkioDeviceWriteIOps")]
        pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
        pub cpu_period: i64,
        pub cpu_quota: i64,
        pub cpu_realtime_period: i64,
        pub cpu_realtime_runtime: i64,
        pub cpuset_cpus: String,
        pub cpuset_mems: String,
        pub devices: Option<Vec<DeviceMapping>>,
        pub device_cgroup_rules: Option<Vec<String>>,
        pub device_requests: Option<Vec<DeviceRequest>>,
        pub kernel_memory: i64,
        #[serde(rename = "KernelMemoryTCP")]
        pub kernel_memory_tcp: i64,
        pub memory_reservation: i64,
        pub memory_swap: i64,
        pub memory_swappiness: Option<i64>,
        pub oom_kill_disable: Option<bool>,
        pub pids_limit: Option<i64>,
        pub ulimits: Option<Vec<Ulimit>>,
        pub cpu_count: i64,
        pub cpu_percent: i64,
        #[serde(rename = "IOMaximumIOps")]
        pub io_maximum_iops: u64,
        #[serde(rename = "IOMaximumBandwidth")]
        pub io_maximum_bandwidth: u64,
    }
}

wire! {
    pub struct BindOptions {
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub propagation: String,
        #[serde(skip_serializing_if = "omit::not")]
        pub non_recursive: bool,
        #[serde(skip_serializing_if = "omit::not")]
        pub create_mountpoint: bool,
    }
}

wire! {
    pub struct Driver {
        pub name: String,
        #[serde(skip_serializing_if = "omit::none_or_empty_map")]
        pub options: Option<Map>,
    }
}

wire! {
    pub struct VolumeOptions {
        #[serde(skip_serializing_if = "omit::not")]
        pub no_copy: bool,
        #[serde(skip_serializing_if = "omit::none_or_empty_map")]
        pub labels: Option<Map>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub driver_config: Option<Driver>,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub subpath: String,
    }
}

wire! {
    pub struct TmpfsOptions {
        #[serde(skip_serializing_if = "omit::zero_i64")]
        pub size_bytes: i64,
        #[serde(skip_serializing_if = "omit::zero_u64")]
        pub mode: u64,
    }
}

wire! {
    /// A `--mount` of the create request.
    pub struct Mount {
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub r#type: String,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub source: String,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub target: String,
        #[serde(skip_serializing_if = "omit::not")]
        pub read_only: bool,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub consistency: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub bind_options: Option<BindOptions>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub volume_options: Option<VolumeOptions>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub tmpfs_options: Option<TmpfsOptions>,
    }
}

/// Host-dependent settings of a container (`HostConfig`), as dockerd's, plus Berth's
/// bandwidth limits (`NetRateIngress`/`NetRateEgress`, shown only when set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub binds: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        rename = "ContainerIDFile"
    )]
    pub container_id_file: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub log_config: LogConfig,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub network_mode: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub port_bindings: PortMap,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub restart_policy: RestartPolicy,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub auto_remove: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub volume_driver: String,
    #[serde(default)]
    pub volumes_from: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub console_size: [u64; 2],
    #[serde(default, skip_serializing_if = "omit::none_or_empty_map")]
    pub annotations: Option<Map>,
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub cgroupns_mode: String,
    #[serde(default)]
    pub dns: Option<Vec<String>>,
    #[serde(default)]
    pub dns_options: Option<Vec<String>>,
    #[serde(default)]
    pub dns_search: Option<Vec<String>>,
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub group_add: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub ipc_mode: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub cgroup: String,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub oom_score_adj: i64,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub pid_mode: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub publish_all_ports: bool,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub readonly_rootfs: bool,
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "omit::none_or_empty_map")]
    pub storage_opt: Option<Map>,
    #[serde(default, skip_serializing_if = "omit::none_or_empty_map")]
    pub tmpfs: Option<Map>,
    #[serde(default, deserialize_with = "crate::de::nullable", rename = "UTSMode")]
    pub uts_mode: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub userns_mode: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub shm_size: i64,
    #[serde(default, skip_serializing_if = "omit::none_or_empty_map")]
    pub sysctls: Option<Map>,
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::empty_str"
    )]
    pub runtime: String,
    #[serde(default, deserialize_with = "crate::de::nullable")]
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "omit::none_or_empty")]
    pub mounts: Option<Vec<Mount>>,
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Berth: the rate of traffic into the container (`8mbit`, tc's units).
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::empty_str"
    )]
    pub net_rate_ingress: String,
    /// Berth: the rate of traffic out of the container.
    #[serde(
        default,
        deserialize_with = "crate::de::nullable",
        skip_serializing_if = "omit::empty_str"
    )]
    pub net_rate_egress: String,
}

wire! {
    pub struct NetworkingConfig {
        pub endpoints_config: BTreeMap<String, EndpointSettings>,
    }
}

/// `POST /containers/create`: the container's `Config` with `HostConfig` and
/// `NetworkingConfig` beside its fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: Config,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_config: Option<HostConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

wire! {
    /// `201` of create: the id and dockerd's warnings (`[]` when none).
    pub struct CreateResponse {
        pub id: String,
        pub warnings: Vec<String>,
    }
}

/// A container's status, as dockerd names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Restarting,
        Status::Removing,
        Status::Exited,
        Status::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

wire! {
    /// One health probe's result.
    pub struct HealthcheckResult {
        pub start: String,
        pub end: String,
        pub exit_code: i64,
        pub output: String,
    }
}

wire! {
    pub struct Health {
        pub status: String,
        pub failing_streak: i64,
        pub log: Vec<HealthcheckResult>,
    }
}

wire! {
    /// `State` of inspect.
    pub struct State {
        pub status: Status,
        pub running: bool,
        pub paused: bool,
        pub restarting: bool,
        #[serde(rename = "OOMKilled")]
        pub oom_killed: bool,
        pub dead: bool,
        pub pid: i64,
        pub exit_code: i64,
        pub error: String,
        pub started_at: String,
        pub finished_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub health: Option<Health>,
    }
}

wire! {
    pub struct GraphDriver {
        pub data: Map,
        pub name: String,
    }
}

wire! {
    /// A mount as inspect and the list show it.
    pub struct MountPoint {
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub r#type: String,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub name: String,
        pub source: String,
        pub destination: String,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub driver: String,
        pub mode: String,
        #[serde(rename = "RW")]
        pub rw: bool,
        pub propagation: String,
    }
}

wire! {
    /// `GET /containers/{id}/json`.
    pub struct Inspect {
        pub id: String,
        pub created: String,
        pub path: String,
        pub args: Vec<String>,
        pub state: State,
        pub image: String,
        pub resolv_conf_path: String,
        pub hostname_path: String,
        pub hosts_path: String,
        pub log_path: String,
        pub name: String,
        pub restart_count: i64,
        pub driver: String,
        pub platform: String,
        pub mount_label: String,
        pub process_label: String,
        pub app_armor_profile: String,
        #[serde(rename = "ExecIDs")]
        pub exec_ids: Option<Vec<String>>,
        pub host_config: HostConfig,
        pub graph_driver: GraphDriver,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub size_rw: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub size_root_fs: Option<i64>,
        pub mounts: Vec<MountPoint>,
        pub config: Config,
        pub network_settings: NetworkSettings,
    }
}

impl Inspect {
    /// The shape for a client of API `v`: before 1.44 the MAC address was also the config's.
    pub fn for_version(mut self, v: crate::ApiVersion) -> Inspect {
        if v < crate::ApiVersion::new(1, 44) && self.config.mac_address.is_empty() {
            self.config.mac_address = self.network_settings.mac_address.clone();
        }
        self
    }
}

wire! {
    /// A port of a container in the list.
    pub struct Port {
        #[serde(rename = "IP", skip_serializing_if = "omit::empty_str")]
        pub ip: String,
        pub private_port: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub public_port: Option<u16>,
        pub r#type: String,
    }
}

wire! {
    pub struct SummaryHostConfig {
        pub network_mode: String,
        #[serde(skip_serializing_if = "omit::none_or_empty_map")]
        pub annotations: Option<Map>,
    }
}

wire! {
    pub struct SummaryNetworkSettings {
        pub networks: BTreeMap<String, EndpointSettings>,
    }
}

wire! {
    /// `GET /containers/json` entry.
    pub struct Summary {
        pub id: String,
        pub names: Vec<String>,
        pub image: String,
        #[serde(rename = "ImageID")]
        pub image_id: String,
        pub command: String,
        pub created: i64,
        pub ports: Vec<Port>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub size_rw: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub size_root_fs: Option<i64>,
        pub labels: Map,
        pub state: String,
        pub status: String,
        pub host_config: SummaryHostConfig,
        pub network_settings: SummaryNetworkSettings,
        pub mounts: Vec<MountPoint>,
    }
}

wire! {
    /// `GET /containers/{id}/top`.
    pub struct Top {
        pub titles: Vec<String>,
        pub processes: Vec<Vec<String>>,
    }
}

wire! {
    pub struct WaitError {
        pub message: String,
    }
}

wire! {
    /// `POST /containers/{id}/wait`.
    pub struct WaitResponse {
        pub status_code: i64,
        pub error: Option<WaitError>,
    }
}

/// `POST /containers/{id}/update`: new limits and restart policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

wire! {
    pub struct Warnings {
        pub warnings: Option<Vec<String>>,
    }
}

wire! {
    /// A changed path (`Kind` 0 modified, 1 added, 2 deleted).
    pub struct Change {
        pub path: String,
        pub kind: u8,
    }
}

/// `X-Docker-Container-Path-Stat` of the archive endpoints (base64 JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStat {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub mode: u32,
    #[serde(default)]
    pub mtime: String,
    #[serde(default)]
    pub link_target: String,
}

wire! {
    pub struct PruneResponse {
        pub containers_deleted: Option<Vec<String>>,
        pub space_reclaimed: u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_and_strings_read_as_dockerd_reads_them() {
        let r: CreateRequest = serde_json::from_str(
            r#"{"Image":"busybox","Hostname":null,"Cmd":"true","Entrypoint":null,
                "HostConfig":{"Binds":null,"Memory":null,"PidsLimit":7,"NetworkMode":"host",
                "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},
                "ExposedPorts":{"80/tcp":{}},"Unknown":1}"#,
        )
        .expect("parse");
        assert_eq!(r.config.image, "busybox");
        assert_eq!(r.config.cmd, Some(vec!["true".to_owned()]));
        assert_eq!(r.config.entrypoint, None);
        let hc = r.host_config.expect("host config");
        assert_eq!(hc.resources.pids_limit, Some(7));
        assert_eq!(hc.resources.memory, 0);
        assert_eq!(hc.network_mode, "host");
        assert_eq!(
            hc.port_bindings["80/tcp"].as_ref().expect("list")[0].host_port,
            "8080"
        );
        assert!(
            r.config
                .exposed_ports
                .expect("ports")
                .contains_key("80/tcp")
        );
    }

    #[test]
    fn empty_shapes_are_dockerds() {
        let v = serde_json::to_value(Config::default()).expect("json");
        // Go's nil slices and maps are null; omitempty fields are absent.
        assert_eq!(v["Env"], serde_json::Value::Null);
        assert_eq!(v["Labels"], serde_json::Value::Null);
        assert!(v.get("ExposedPorts").is_none());
        assert!(v.get("Healthcheck").is_none());
        assert!(v.get("MacAddress").is_none());
        assert!(v.get("StopSignal").is_none());
        let hc = serde_json::to_value(HostConfig::default()).expect("json");
        assert_eq!(hc["PidsLimit"], serde_json::Value::Null);
        assert_eq!(hc["Memory"], 0);
        assert_eq!(hc["ConsoleSize"], serde_json::json!([0, 0]));
        assert!(hc.get("Mounts").is_none());
        assert!(hc.get("NetRateIngress").is_none());
        assert_eq!(hc["KernelMemoryTCP"], 0);
        let s = serde_json::to_value(Status::Restarting).expect("json");
        assert_eq!(s, "restarting");
    }
}
