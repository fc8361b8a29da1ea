//! `GET /containers/{id}/stats`: one sample of a container's cgroup counters (snake_case
//! names, as dockerd's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::omit;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default)]
    pub total_usage: u64,
    #[serde(default, skip_serializing_if = "omit::none_or_empty")]
    pub percpu_usage: Option<Vec<u64>>,
    #[serde(default)]
    pub usage_in_kernelmode: u64,
    #[serde(default)]
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottlingData {
    #[serde(default)]
    pub periods: u64,
    #[serde(default)]
    pub throttled_periods: u64,
    #[serde(default)]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    #[serde(default)]
    pub cpu_usage: CpuUsage,
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub system_cpu_usage: u64,
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub online_cpus: u64,
    #[serde(default)]
    pub throttling_data: ThrottlingData,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub max_usage: u64,
    #[serde(default, skip_serializing_if = "omit::empty_map")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "omit::zero_u64")]
    pub current: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    #[serde(default)]
    pub major: u64,
    #[serde(default)]
    pub minor: u64,
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStats {
    #[serde(default)]
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub io_queue_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub io_service_time_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub io_wait_time_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub io_merged_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub io_time_recursive: Option<Vec<BlkioEntry>>,
    #[serde(default)]
    pub sectors_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageStats {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    #[serde(default)]
    pub rx_bytes: u64,
    #[serde(default)]
    pub rx_packets: u64,
    #[serde(default)]
    pub rx_errors: u64,
    #[serde(default)]
    pub rx_dropped: u64,
    #[serde(default)]
    pub tx_bytes: u64,
    #[serde(default)]
    pub tx_packets: u64,
    #[serde(default)]
    pub tx_errors: u64,
    #[serde(default)]
    pub tx_dropped: u64,
}

/// One sample, with the previous one's CPU counters (`precpu_stats`) so a client can compute
/// CPU%.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub read: String,
    #[serde(default)]
    pub preread: String,
    #[serde(default)]
    pub pids_stats: PidsStats,
    #[serde(default)]
    pub blkio_stats: BlkioStats,
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: StorageStats,
    #[serde(default)]
    pub cpu_stats: CpuStats,
    #[serde(default)]
    pub precpu_stats: CpuStats,
    #[serde(default)]
    pub memory_stats: MemoryStats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

/// One point of `GET /containers/{id}/stats/history` (a Berth extension): the counters the
/// daemon sampled at `time`, with the CPU % since the sample before it (of one CPU).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub time: String,
    pub cpu_percent: f64,
    pub cpu_total_ns: u64,
    pub memory_usage: u64,
    pub memory_working_set: u64,
    /// The container's limit (0: none).
    pub memory_limit: u64,
    pub pids: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}
