//! Networks: `NetworkSettings` of a container, the network resource, and the requests of the
//! network endpoints.

use std::collections::BTreeMap;

use crate::container::PortMap;
use crate::{Map, omit};

wire! {
    pub struct EndpointIpamConfig {
        #[serde(rename = "IPv4Address", skip_serializing_if = "omit::empty_str")]
        pub ipv4_address: String,
        #[serde(rename = "IPv6Address", skip_serializing_if = "omit::empty_str")]
        pub ipv6_address: String,
        #[serde(rename = "LinkLocalIPs", skip_serializing_if = "omit::none_or_empty")]
        pub link_local_ips: Option<Vec<String>>,
    }
}

wire! {
    /// A container's endpoint on one network (the request's `EndpointsConfig` entries, and
    /// `NetworkSettings.Networks` of inspect).
    pub struct EndpointSettings {
        #[serde(rename = "IPAMConfig")]
        pub ipam_config: Option<EndpointIpamConfig>,
        pub links: Option<Vec<String>>,
        pub aliases: Option<Vec<String>>,
        pub mac_address: String,
        pub driver_opts: Option<Map>,
        #[serde(rename = "NetworkID")]
        pub network_id: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        pub gateway: String,
        #[serde(rename = "IPAddress")]
        pub ip_address: String,
        #[serde(rename = "IPPrefixLen")]
        pub ip_prefix_len: u8,
        #[serde(rename = "IPv6Gateway")]
        pub ipv6_gateway: String,
        #[serde(rename = "GlobalIPv6Address")]
        pub global_ipv6_address: String,
        #[serde(rename = "GlobalIPv6PrefixLen")]
        pub global_ipv6_prefix_len: u8,
        #[serde(rename = "DNSNames")]
        pub dns_names: Option<Vec<String>>,
    }
}

wire! {
    pub struct Address {
        pub addr: String,
        pub prefix_len: u8,
    }
}

wire! {
    /// `NetworkSettings` of inspect: the top-level fields describe the default bridge's
    /// endpoint, as dockerd's do.
    pub struct NetworkSettings {
        pub bridge: String,
        #[serde(rename = "SandboxID")]
        pub sandbox_id: String,
        pub sandbox_key: String,
        pub ports: PortMap,
        pub hairpin_mode: bool,
        #[serde(rename = "LinkLocalIPv6Address")]
        pub link_local_ipv6_address: String,
        #[serde(rename = "LinkLocalIPv6PrefixLen")]
        pub link_local_ipv6_prefix_len: u8,
        #[serde(rename = "SecondaryIPAddresses")]
        pub secondary_ip_addresses: Option<Vec<Address>>,
        #[serde(rename = "SecondaryIPv6Addresses")]
        pub secondary_ipv6_addresses: Option<Vec<Address>>,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        pub gateway: String,
        #[serde(rename = "GlobalIPv6Address")]
        pub global_ipv6_address: String,
        #[serde(rename = "GlobalIPv6PrefixLen")]
        pub global_ipv6_prefix_len: u8,
        #[serde(rename = "IPAddress")]
        pub ip_address: String,
        #[serde(rename = "IPPrefixLen")]
        pub ip_prefix_len: u8,
        #[serde(rename = "IPv6Gateway")]
        pub ipv6_gateway: String,
        pub mac_address: String,
        pub networks: BTreeMap<String, EndpointSettings>,
    }
}

wire! {
    pub struct IpamConfig {
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub subnet: String,
        #[serde(rename = "IPRange", skip_serializing_if = "omit::empty_str")]
        pub ip_range: String,
        #[serde(skip_serializing_if = "omit::empty_str")]
        pub gateway: String,
        #[serde(skip_serializing_if = "omit::none_or_empty_map")]
        pub auxiliary_addresses: Option<Map>,
    }
}

wire! {
    pub struct Ipam {
        pub driver: String,
        pub options: Option<Map>,
        pub config: Vec<IpamConfig>,
    }
}

wire! {
    pub struct ConfigReference {
        pub network: String,
    }
}

wire! {
    /// A container on a network, as `network inspect` lists it.
    pub struct EndpointResource {
        pub name: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        pub mac_address: String,
        #[serde(rename = "IPv4Address")]
        pub ipv4_address: String,
        #[serde(rename = "IPv6Address")]
        pub ipv6_address: String,
    }
}

wire! {
    /// A network (`GET /networks/{id}`, and each entry of `GET /networks`).
    pub struct Network {
        pub name: String,
        pub id: String,
        pub created: String,
        pub scope: String,
        pub driver: String,
        #[serde(rename = "EnableIPv6")]
        pub enable_ipv6: bool,
        #[serde(rename = "IPAM")]
        pub ipam: Ipam,
        pub internal: bool,
        pub attachable: bool,
        pub ingress: bool,
        pub config_from: ConfigReference,
        pub config_only: bool,
        pub containers: BTreeMap<String, EndpointResource>,
        pub options: Map,
        pub labels: Map,
    }
}

wire! {
    /// `POST /networks/create`.
    pub struct CreateRequest {
        pub name: String,
        pub check_duplicate: bool,
        pub driver: String,
        pub scope: String,
        #[serde(rename = "EnableIPv6")]
        pub enable_ipv6: Option<bool>,
        #[serde(rename = "IPAM")]
        pub ipam: Option<Ipam>,
        pub internal: bool,
        pub attachable: bool,
        pub ingress: bool,
        pub config_only: bool,
        pub options: Option<Map>,
        pub labels: Option<Map>,
    }
}

wire! {
    pub struct CreateResponse {
        pub id: String,
        pub warning: String,
    }
}

wire! {
    /// `POST /networks/{id}/connect`.
    pub struct ConnectRequest {
        pub container: String,
        pub endpoint_config: Option<EndpointSettings>,
    }
}

wire! {
    /// `POST /networks/{id}/disconnect`.
    pub struct DisconnectRequest {
        pub container: String,
        pub force: bool,
    }
}

wire! {
    pub struct PruneResponse {
        pub networks_deleted: Option<Vec<String>>,
    }
}

wire! {
    /// A network policy (a Berth extension; Kubernetes NetworkPolicy's semantics): the
    /// containers whose labels hold every pair of `Selector` accept (`Ingress`) and send
    /// (`Egress`) only what the rules allow, once any policy with that direction selects them.
    pub struct NetworkPolicy {
        pub name: String,
        pub selector: BTreeMap<String, String>,
        /// `None`: the policy does not restrict incoming traffic; `Some([])`: none is allowed.
        pub ingress: Option<Vec<PolicyRule>>,
        pub egress: Option<Vec<PolicyRule>>,
        pub created: String,
    }
}

wire! {
    /// Peers (label selectors: any one matching; none: every container of the network) and
    /// ports (`80/tcp`, `53/udp`; none: every port).
    pub struct PolicyRule {
        pub peers: Vec<BTreeMap<String, String>>,
        pub ports: Vec<String>,
    }
}
