//! The protocol buffer messages of BuildKit's control, gateway and session services that
//! Berth speaks, written as prost structs by hand: only the fields Berth reads or answers
//! (unknown fields are skipped when decoding). Fields that carry LLB (`pb.Definition`) are kept
//! as raw bytes: Berth builds Dockerfiles, it does not run LLB.
//!
//! Field names and numbers follow moby/buildkit's `control.proto`, `gateway.proto`,
//! `worker.proto`, `caps.proto`, `secrets.proto` and fsutil's `wire.proto`/`stat.proto`.

use std::collections::HashMap;

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        }
    }
}

/// `google.rpc.Status` (details left out).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

// ---- moby.buildkit.v1 (Control) ----

#[derive(Clone, PartialEq, prost::Message)]
pub struct Platform {
    #[prost(string, tag = "1")]
    pub architecture: String,
    #[prost(string, tag = "2")]
    pub os: String,
    #[prost(string, tag = "3")]
    pub variant: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BuildkitVersion {
    #[prost(string, tag = "1")]
    pub package: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(string, tag = "3")]
    pub revision: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(map = "string, string", tag = "2")]
    pub labels: HashMap<String, String>,
    #[prost(message, repeated, tag = "3")]
    pub platforms: Vec<Platform>,
    #[prost(message, optional, tag = "5")]
    pub buildkit_version: Option<BuildkitVersion>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListWorkersRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListWorkersResponse {
    #[prost(message, repeated, tag = "1")]
    pub record: Vec<WorkerRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoResponse {
    #[prost(message, optional, tag = "1")]
    pub buildkit_version: Option<BuildkitVersion>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exporter {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(map = "string, string", tag = "2")]
    pub attrs: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SolveRequest {
    #[prost(string, tag = "1")]
    pub r#ref: String,
    /// `pb.Definition` (LLB), kept raw.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub definition: Option<Vec<u8>>,
    #[prost(string, tag = "3")]
    pub exporter_deprecated: String,
    #[prost(map = "string, string", tag = "4")]
    pub exporter_attrs_deprecated: HashMap<String, String>,
    #[prost(string, tag = "5")]
    pub session: String,
    #[prost(string, tag = "6")]
    pub frontend: String,
    #[prost(map = "string, string", tag = "7")]
    pub frontend_attrs: HashMap<String, String>,
    #[prost(string, repeated, tag = "9")]
    pub entitlements: Vec<String>,
    /// `map<string, pb.Definition>`, kept raw.
    #[prost(map = "string, bytes", tag = "10")]
    pub frontend_inputs: HashMap<String, Vec<u8>>,
    #[prost(message, repeated, tag = "13")]
    pub exporters: Vec<Exporter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SolveResponse {
    #[prost(map = "string, string", tag = "1")]
    pub exporter_response: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    #[prost(string, tag = "1")]
    pub r#ref: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Vertex {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(string, repeated, tag = "2")]
    pub inputs: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(bool, tag = "4")]
    pub cached: bool,
    #[prost(message, optional, tag = "5")]
    pub started: Option<Timestamp>,
    #[prost(message, optional, tag = "6")]
    pub completed: Option<Timestamp>,
    #[prost(string, tag = "7")]
    pub error: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VertexLog {
    #[prost(string, tag = "1")]
    pub vertex: String,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Timestamp>,
    #[prost(int64, tag = "3")]
    pub stream: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub msg: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VertexWarning {
    #[prost(string, tag = "1")]
    pub vertex: String,
    #[prost(int64, tag = "2")]
    pub level: i64,
    #[prost(bytes = "vec", tag = "3")]
    pub short: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub detail: Vec<Vec<u8>>,
    #[prost(string, tag = "5")]
    pub url: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(message, repeated, tag = "1")]
    pub vertexes: Vec<Vertex>,
    #[prost(message, repeated, tag = "3")]
    pub logs: Vec<VertexLog>,
    #[prost(message, repeated, tag = "4")]
    pub warnings: Vec<VertexWarning>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskUsageRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UsageRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(bool, tag = "2")]
    pub mutable: bool,
    #[prost(bool, tag = "3")]
    pub in_use: bool,
    #[prost(int64, tag = "4")]
    pub size: i64,
    #[prost(string, tag = "9")]
    pub description: String,
    #[prost(string, tag = "10")]
    pub record_type: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskUsageResponse {
    #[prost(message, repeated, tag = "1")]
    pub record: Vec<UsageRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PruneRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
    #[prost(bool, tag = "2")]
    pub all: bool,
    #[prost(int64, tag = "3")]
    pub keep_duration: i64,
    #[prost(int64, tag = "4")]
    pub reserved_space: i64,
}

// ---- moby.buildkit.v1.frontend (LLBBridge, the gateway) ----

/// `moby.buildkit.v1.apicaps.APICap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApiCap {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(bool, tag = "2")]
    pub enabled: bool,
    #[prost(bool, tag = "3")]
    pub deprecated: bool,
    #[prost(string, tag = "4")]
    pub disabled_reason: String,
    #[prost(string, tag = "5")]
    pub disabled_reason_msg: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PingRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PongResponse {
    #[prost(message, repeated, tag = "1")]
    pub frontend_api_caps: Vec<ApiCap>,
    #[prost(message, repeated, tag = "2")]
    pub llb_caps: Vec<ApiCap>,
    #[prost(message, repeated, tag = "3")]
    pub workers: Vec<WorkerRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GwSolveRequest {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub definition: Option<Vec<u8>>,
    #[prost(string, tag = "2")]
    pub frontend: String,
    #[prost(map = "string, string", tag = "3")]
    pub frontend_opt: HashMap<String, String>,
    #[prost(bool, tag = "5")]
    pub allow_result_return: bool,
    #[prost(bool, tag = "6")]
    pub allow_result_array_ref: bool,
    #[prost(map = "string, bytes", tag = "13")]
    pub frontend_inputs: HashMap<String, Vec<u8>>,
    #[prost(bool, tag = "14")]
    pub evaluate: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ref {
    #[prost(string, tag = "1")]
    pub id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RefMap {
    #[prost(map = "string, message", tag = "1")]
    pub refs: HashMap<String, Ref>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RefMapDeprecated {
    #[prost(map = "string, string", tag = "1")]
    pub refs: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ResultKind {
    #[prost(string, tag = "1")]
    RefDeprecated(String),
    #[prost(message, tag = "2")]
    RefsDeprecated(RefMapDeprecated),
    #[prost(message, tag = "3")]
    Ref(Ref),
    #[prost(message, tag = "4")]
    Refs(RefMap),
}

/// `Result`: the refs a solve gave and its metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GwResult {
    #[prost(oneof = "ResultKind", tags = "1, 2, 3, 4")]
    pub result: Option<ResultKind>,
    #[prost(map = "string, bytes", tag = "10")]
    pub metadata: HashMap<String, Vec<u8>>,
}

impl GwResult {
    /// Every ref id the result names.
    pub fn ref_ids(&self) -> Vec<String> {
        match &self.result {
            None => Vec::new(),
            Some(ResultKind::RefDeprecated(r)) => vec![r.clone()],
            Some(ResultKind::Ref(r)) => vec![r.id.clone()],
            Some(ResultKind::RefsDeprecated(m)) => m.refs.values().cloned().collect(),
            Some(ResultKind::Refs(m)) => m.refs.values().map(|r| r.id.clone()).collect(),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GwSolveResponse {
    #[prost(string, tag = "1")]
    pub r#ref: String,
    #[prost(message, optional, tag = "3")]
    pub result: Option<GwResult>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReturnRequest {
    #[prost(message, optional, tag = "1")]
    pub result: Option<GwResult>,
    #[prost(message, optional, tag = "2")]
    pub error: Option<RpcStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReturnResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EvaluateRequest {
    #[prost(string, tag = "1")]
    pub r#ref: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EvaluateResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WarnRequest {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(int64, tag = "2")]
    pub level: i64,
    #[prost(bytes = "vec", tag = "3")]
    pub short: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WarnResponse {}

// ---- session services (called on the client's side) ----

/// fsutil's `Stat`. `mode` is Go's `os.FileMode`, not a Unix mode.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stat {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(uint32, tag = "2")]
    pub mode: u32,
    #[prost(uint32, tag = "3")]
    pub uid: u32,
    #[prost(uint32, tag = "4")]
    pub gid: u32,
    #[prost(int64, tag = "5")]
    pub size: i64,
    #[prost(int64, tag = "6")]
    pub mod_time: i64,
    #[prost(string, tag = "7")]
    pub linkname: String,
    #[prost(int64, tag = "8")]
    pub devmajor: i64,
    #[prost(int64, tag = "9")]
    pub devminor: i64,
    #[prost(map = "string, bytes", tag = "10")]
    pub xattrs: HashMap<String, Vec<u8>>,
}

pub const PACKET_STAT: i32 = 0;
pub const PACKET_REQ: i32 = 1;
pub const PACKET_DATA: i32 = 2;
pub const PACKET_FIN: i32 = 3;
pub const PACKET_ERR: i32 = 4;

/// fsutil's `Packet`: what `FileSync/DiffCopy` streams carry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Packet {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub stat: Option<Stat>,
    #[prost(uint32, tag = "3")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretRequest {
    #[prost(string, tag = "1")]
    pub id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_definition_field_is_kept_as_bytes_and_unknown_fields_are_skipped() {
        // SolveRequest{Ref:"r", Definition:{def:[b"x"]}, Frontend:"dockerfile.v0", Cache:{..}}
        let mut buf = Vec::new();
        prost::encoding::string::encode(1, &"r".to_string(), &mut buf);
        prost::encoding::bytes::encode(2, &vec![0x0a, 0x01, b'x'], &mut buf);
        prost::encoding::string::encode(6, &"dockerfile.v0".to_string(), &mut buf);
        prost::encoding::bytes::encode(8, &vec![0x22, 0x00], &mut buf);
        let r = SolveRequest::decode(buf.as_slice()).expect("decode");
        assert_eq!(r.r#ref, "r");
        assert_eq!(r.frontend, "dockerfile.v0");
        assert_eq!(r.definition.as_deref(), Some(&[0x0a, 0x01, b'x'][..]));
    }

    #[test]
    fn a_result_names_its_refs() {
        let r = GwResult {
            result: Some(ResultKind::Ref(Ref { id: "a".into() })),
            metadata: HashMap::new(),
        };
        let back = GwResult::decode(r.encode_to_vec().as_slice()).expect("decode");
        assert_eq!(back.ref_ids(), vec!["a".to_string()]);
    }
}
