//! A container's attachment to its networks: the namespace, an endpoint per network
//! (address, MAC, veth, bandwidth limits; a row of `endpoints` first, so an interrupted
//! attach is torn down from it), published ports, and their end.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use berth_models::network::{EndpointSettings, Network};
use berth_net::ipam::{self, Subnet};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{
    Networks, bridge_name, gateway_of, gateway6_of, is_default_bridge, mtu_of, nets_with_config,
    port_prefix, subnet_of, subnet6_of,
};
use crate::containers::Record;
use crate::db::guard;
use crate::{Error, Result};

/// One published port of a running container, as stored and as `NetworkSettings.Ports`
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// `80/tcp`
    pub key: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// A container's links: (target id, alias, target name).
pub type Links = Vec<(String, String, String)>;

/// What a start needs from the network side.
pub struct Setup {
    /// The namespace to join (None: the host's).
    pub netns: Option<PathBuf>,
    pub hosts: String,
    pub resolv: String,
}

/// A running container's endpoint on one network.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub container: String,
    pub network: String,
    pub endpoint: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub host_if: String,
    pub if_name: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub ip6: Option<Ipv6Addr>,
}

impl Endpoint {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
        Ok(Endpoint {
            container: r.get(0)?,
            network: r.get(1)?,
            endpoint: r.get(2)?,
            ip: r
                .get::<_, String>(3)?
                .parse()
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            mac: r.get(4)?,
            host_if: r.get(5)?,
            if_name: r.get(6)?,
            aliases: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
            ports: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
            ip6: r.get::<_, String>(9)?.parse().ok(),
        })
    }

    /// Its addresses (IPv4, and IPv6 on dual-stack networks).
    pub fn addrs(&self) -> Vec<std::net::IpAddr> {
        let mut v = vec![std::net::IpAddr::V4(self.ip)];
        if let Some(a) = self.ip6 {
            v.push(std::net::IpAddr::V6(a));
        }
        v
    }
}

const COLUMNS: &str =
    "container, network, endpoint, ip, mac, host_if, if_name, aliases, ports, ip6";

pub(crate) fn parse_port(s: &str) -> Result<u16> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::InvalidParameter(format!("invalid port specification: \"{s}\"")))
}

fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

impl Networks {
    pub(crate) fn endpoints_where(&self, column: &str, value: &str) -> Result<Vec<Endpoint>> {
        let db = self.db();
        let sql = format!("SELECT {COLUMNS} FROM endpoints WHERE {column} = ?1 ORDER BY if_name");
        let mut q = db.prepare_cached(&sql)?;
        let rows = q
            .query_map(params![value], Endpoint::from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// A container's address on the default bridge, while it has one.
    pub(crate) fn default_bridge_ip(&self, container: &str) -> Option<Ipv4Addr> {
        let bridge = self.get("bridge").ok()?;
        self.endpoints_where("container", container)
            .ok()?
            .into_iter()
            .find(|e| e.network == bridge.id)
            .map(|e| e.ip)
    }

    pub(crate) fn all_endpoints(&self) -> Result<Vec<Endpoint>> {
        let db = self.db();
        let mut q =
            db.prepare_cached(&format!("SELECT {COLUMNS} FROM endpoints ORDER BY if_name"))?;
        let rows = q
            .query_map([], Endpoint::from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The namespace, addresses and files for a container about to start. `other` resolves
    /// `container:<id>` to that container's id and namespace path.
    pub fn setup(
        &self,
        id: &str,
        rec: &Record,
        links: &[(String, String, String)],
        other: &dyn Fn(&str) -> Result<(String, PathBuf)>,
    ) -> Result<Setup> {
        // Leftovers of a run that ended while nobody watched.
        self.teardown(id);
        let hc = &rec.host_config;
        let mode = rec.network_mode();
        let hostname = &rec.config.hostname;
        if mode == "host" {
            return Ok(Setup {
                netns: None,
                hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            });
        }
        if let Some(target) = mode.strip_prefix("container:") {
            // The other container's namespace, so its addresses.
            let (other_id, path) = other(target)?;
            let ips: Vec<std::net::IpAddr> = self
                .endpoints_where("container", &other_id)?
                .iter()
                .take(1)
                .flat_map(Endpoint::addrs)
                .collect();
            return Ok(Setup {
                netns: Some(path),
                hosts: self.hosts_file(hostname, hc, &ips, links),
                resolv: super::settings::resolv_conf(hc, &self.dns, None),
            });
        }
        let path = self.netns_path(id);
        berth_net::netns::create(&path)?;
        match self.attach_all(id, rec, &path) {
            Ok((ips, dns)) => Ok(Setup {
                netns: Some(path),
                hosts: self.hosts_file(hostname, hc, &ips, links),
                resolv: super::settings::resolv_conf(hc, &self.dns, dns),
            }),
            Err(e) => {
                self.teardown(id);
                Err(e)
            }
        }
    }

    /// Connect the new namespace to each of the container's networks.
    fn attach_all(
        &self,
        id: &str,
        rec: &Record,
        path: &Path,
    ) -> Result<(Vec<std::net::IpAddr>, Option<Ipv4Addr>)> {
        let nets = nets_with_config(rec);
        if nets.is_empty() || (nets.len() == 1 && nets[0].0 == "none") {
            berth_net::link::loopback_up(path)?;
            return Ok((Vec::new(), None));
        }
        let _g = guard(&self.lock);
        let mut ips = Vec::new();
        let mut dns = None;
        let mut any_ports = false;
        for (i, (key, cfg)) in nets.into_iter().enumerate() {
            let net = self.get(&key)?;
            if net.driver != "bridge" {
                return Err(Error::InvalidParameter(
                    "container cannot be disconnected from host network or connected to host network".into(),
                ));
            }
            let ports = if i == 0 {
                self.bind_ports(id, rec)?
            } else {
                Vec::new()
            };
            any_ports |= !ports.is_empty();
            let ep = self.attach_one(id, rec, path, &net, &cfg, i, ports)?;
            ips.extend(ep.addrs());
            if !is_default_bridge(&net) && dns.is_none() {
                dns = gateway_of(&net);
            }
        }
        if any_ports
            || self.has_policies()
            || !self
                .firewall_applied
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            self.apply_firewall()?;
        }
        Ok((ips, dns))
    }

    #[allow(clippy::too_many_arguments)]
    fn attach_one(
        &self,
        id: &str,
        rec: &Record,
        path: &Path,
        net: &Network,
        cfg: &EndpointSettings,
        index: usize,
        ports: Vec<PortBinding>,
    ) -> Result<Endpoint> {
        let subnet =
            subnet_of(net)?.ok_or_else(|| Error::Internal("the network has no subnet".into()))?;
        let gateway = gateway_of(net).unwrap_or_else(|| subnet.first_host());
        let default_bridge = is_default_bridge(net);
        let here = self.endpoints_where("network", &net.id)?;
        // Auxiliary addresses are the user's, never handed out (as dockerd's IPAM).
        let aux: Vec<Ipv4Addr> = super::v4_config(net)
            .and_then(|c| c.auxiliary_addresses.as_ref())
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|a| a.parse().ok())
            .collect();
        let used: HashSet<Ipv4Addr> = here.iter().map(|e| e.ip).chain(aux).collect();
        let wanted = cfg
            .ipam_config
            .as_ref()
            .map(|c| c.ipv4_address.as_str())
            .filter(|s| !s.is_empty());
        let ip = match wanted {
            Some(w) => {
                if default_bridge {
                    return Err(Error::InvalidParameter(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                let ip: Ipv4Addr = w
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid IPv4 address: {w}")))?;
                if !subnet.contains(ip) {
                    return Err(Error::InvalidParameter(format!(
                        "invalid endpoint settings: no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                if used.contains(&ip) || ip == gateway {
                    return Err(Error::Forbidden(format!("Address already in use: {ip}")));
                }
                ip
            }
            None => {
                let range = super::v4_config(net)
                    .filter(|c| !c.ip_range.is_empty())
                    .and_then(|c| Subnet::parse(&c.ip_range).ok());
                ipam::allocate(&subnet, range.as_ref(), gateway, &used).ok_or_else(|| {
                    Error::Forbidden(format!(
                        "no available IPv4 addresses on this network's address pools: {} ({})",
                        net.name, net.id
                    ))
                })?
            }
        };
        let mac = if cfg.mac_address.is_empty() {
            ipam::mac_of(ip)
        } else {
            ipam::parse_mac(&cfg.mac_address)?
        };
        let host_if = format!("{}{}", port_prefix(&net.id), crate::util::random_hex(3));
        let mut aliases: Vec<String> = cfg.aliases.clone().unwrap_or_default();
        if !default_bridge {
            // dockerd adds the short id as an alias on user networks.
            aliases.push(id[..12].to_owned());
        }
        let ip6 = self.ipv6_for(net, cfg, &here)?;
        let ep = Endpoint {
            ip6: ip6.map(|(a, _, _)| a),
            container: id.to_owned(),
            network: net.id.clone(),
            endpoint: crate::util::random_hex(32),
            ip,
            mac: ipam::mac_string(&mac),
            host_if: host_if.clone(),
            if_name: format!("eth{index}"),
            aliases,
            ports,
        };
        // The row first: an interrupted attach is torn down from it.
        self.db().execute(
            &format!("INSERT OR REPLACE INTO endpoints ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                ep.container,
                ep.network,
                ep.endpoint,
                ep.ip.to_string(),
                ep.mac,
                ep.host_if,
                ep.if_name,
                serde_json::to_string(&ep.aliases).map_err(Error::internal)?,
                serde_json::to_string(&ep.ports).map_err(Error::internal)?,
                ep.ip6.map(|a| a.to_string()).unwrap_or_default()
            ],
        )?;
        let bridge = bridge_name(net);
        let known = guard(&self.ensured).contains(&bridge);
        if !known {
            self.ensure_bridge(net)?;
        }
        let primary = index == 0 && !net.internal;
        let link_ep = berth_net::link::Endpoint {
            host_if,
            if_name: ep.if_name.clone(),
            bridge: bridge.clone(),
            ip,
            prefix: subnet.prefix,
            mac,
            gateway: primary.then_some(gateway),
            ip6: ip6.map(|(a, p, _)| (a, p)),
            gateway6: ip6.filter(|_| primary).map(|(_, _, g)| g),
            mtu: mtu_of(net),
        };
        if let Err(e) = berth_net::link::attach(path, &link_ep) {
            if !known || berth_net::link::exists(&bridge).unwrap_or(true) {
                return Err(e.into());
            }
            // The bridge went away behind our back: made again, once.
            self.ensure_bridge(net)?;
            berth_net::link::attach(path, &link_ep)?;
        }
        // Bandwidth limits on the primary interface (Berth's own HostConfig keys).
        if index == 0 {
            let hc = &rec.host_config;
            if !hc.net_rate_ingress.is_empty() {
                let bits = berth_net::tc::parse_rate(&hc.net_rate_ingress)?;
                berth_net::tc::limit(None, &ep.host_if, bits)?;
            }
            if !hc.net_rate_egress.is_empty() {
                let bits = berth_net::tc::parse_rate(&hc.net_rate_egress)?;
                berth_net::tc::limit(Some(path), &ep.if_name, bits)?;
            }
        }
        self.emit(net, "connect", &[("container", id.to_owned())]);
        Ok(ep)
    }

    /// IPv6 on dual-stack networks: the asked address or the lowest free one; with the
    /// prefix and gateway.
    fn ipv6_for(
        &self,
        net: &Network,
        cfg: &EndpointSettings,
        here: &[Endpoint],
    ) -> Result<Option<(Ipv6Addr, u8, Ipv6Addr)>> {
        let Some(s6) = subnet6_of(net) else {
            return Ok(None);
        };
        let g6 = gateway6_of(net).unwrap_or_else(|| s6.first_host());
        let used6: HashSet<Ipv6Addr> = here.iter().filter_map(|e| e.ip6).collect();
        let wanted = cfg
            .ipam_config
            .as_ref()
            .map(|c| c.ipv6_address.as_str())
            .filter(|s| !s.is_empty());
        Ok(match wanted {
            Some(w) => {
                let a: Ipv6Addr = w
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid IPv6 address: {w}")))?;
                if !s6.contains(a) {
                    return Err(Error::InvalidParameter(format!(
                        "invalid endpoint settings: no configured subnet or ip-range contain the IP address {a}"
                    )));
                }
                if used6.contains(&a) || a == g6 {
                    return Err(Error::Forbidden(format!("Address already in use: {a}")));
                }
                Some((a, s6.prefix, g6))
            }
            None => s6.allocate(g6, &used6).map(|a| (a, s6.prefix, g6)),
        })
    }

    /// Host ports for the container's published ports (`PortBindings`, and every exposed
    /// port with `PublishAllPorts`): given ones checked free, empty ones picked.
    fn bind_ports(&self, id: &str, rec: &Record) -> Result<Vec<PortBinding>> {
        let hc = &rec.host_config;
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for (key, list) in &hc.port_bindings {
            for b in list.iter().flatten() {
                wanted.push((
                    super::normalize_port_key(key)?,
                    b.host_ip.clone(),
                    b.host_port.clone(),
                ));
            }
        }
        if hc.publish_all_ports {
            for key in rec.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
                let key = super::normalize_port_key(key)?;
                if !wanted.iter().any(|(k, _, _)| *k == key) {
                    wanted.push((key, String::new(), String::new()));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let taken: Vec<PortBinding> = self
            .all_endpoints()?
            .into_iter()
            .filter(|e| e.container != id)
            .flat_map(|e| e.ports)
            .collect();
        let mut out: Vec<PortBinding> = Vec::new();
        for (key, host_ip, host_port) in wanted {
            let proto = key
                .split_once('/')
                .map(|(_, p)| p)
                .unwrap_or("tcp")
                .to_owned();
            let ip = if host_ip.is_empty() {
                "0.0.0.0".to_owned()
            } else {
                host_ip
            };
            let ip_addr: Ipv4Addr = ip.parse().map_err(|_| {
                Error::InvalidParameter(format!("invalid IP address in port binding: {ip}"))
            })?;
            let clash = |p: u16, others: &[PortBinding]| {
                others.iter().any(|t| {
                    t.host_port == p
                        && t.key.ends_with(&format!("/{proto}"))
                        && (t.host_ip == ip || t.host_ip == "0.0.0.0" || ip == "0.0.0.0")
                })
            };
            let free_on_host = |p: u16| match proto.as_str() {
                "udp" => std::net::UdpSocket::bind((ip_addr, p)).is_ok(),
                _ => std::net::TcpListener::bind((ip_addr, p)).is_ok(),
            };
            let (lo, hi) = if host_port.is_empty() {
                ephemeral_range()
            } else {
                match host_port.split_once('-') {
                    Some((a, b)) => (parse_port(a)?, parse_port(b)?),
                    None => {
                        let p = parse_port(&host_port)?;
                        (p, p)
                    }
                }
            };
            let found =
                (lo..=hi).find(|p| !clash(*p, &taken) && !clash(*p, &out) && free_on_host(*p));
            let port = match found {
                Some(p) => p,
                None if host_port.is_empty() => {
                    return Err(Error::Internal("no free host port".into()));
                }
                None => {
                    return Err(Error::Internal(format!(
                        "driver failed programming external connectivity on endpoint {} ({id}): Bind for {ip}:{host_port} failed: port is already allocated",
                        rec.short_name()
                    )));
                }
            };
            out.push(PortBinding {
                key,
                host_ip: ip,
                host_port: port,
            });
        }
        Ok(out)
    }

    /// Give back a container's addresses and namespace (idempotent).
    pub fn teardown(&self, id: &str) {
        let eps = self.endpoints_where("container", id).unwrap_or_default();
        let path = self.netns_path(id);
        if eps.is_empty() {
            if path.exists() {
                berth_net::netns::remove(&path);
            }
            return;
        }
        let _g = guard(&self.lock);
        // The namespace goes with its mount (its processes are gone), and the kernel deletes
        // both ends of its veths with it, in the background: deleting a veth here would wait
        // ~20 ms for RCU on every stop. Host ends whose namespace is not ours (a failed setup)
        // are deleted explicitly.
        let mounted = berth_net::netns::is_mounted(&path);
        berth_net::netns::remove(&path);
        if !mounted {
            for e in &eps {
                let _ = berth_net::link::delete(&e.host_if);
            }
        }
        let _ = self
            .db()
            .execute("DELETE FROM endpoints WHERE container = ?1", params![id]);
        if eps.iter().any(|e| !e.ports.is_empty()) || self.has_policies() {
            let _ = self.apply_firewall();
        }
        for e in &eps {
            if let Ok(Some(net)) = self.find(&e.network) {
                self.emit(&net, "disconnect", &[("container", id.to_owned())]);
            }
        }
    }

    /// The published ports of a running container (for `port` and `ps`).
    pub fn ports_of(&self, id: &str) -> Vec<PortBinding> {
        self.endpoints_where("container", id)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.ports)
            .collect()
    }

    /// Join a running container to one more network (`network connect`).
    pub fn connect_running(
        &self,
        id: &str,
        rec: &Record,
        key: &str,
        cfg: &EndpointSettings,
    ) -> Result<()> {
        let net = self.get(key)?;
        let path = self.netns_path(id);
        let existing = self.endpoints_where("container", id)?;
        if existing.iter().any(|e| e.network == net.id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.short_name(),
                net.name
            )));
        }
        let _g = guard(&self.lock);
        self.attach_one(id, rec, &path, &net, cfg, existing.len(), Vec::new())
            .map(|_| ())
    }

    /// Remove a running container's endpoint on one network (`network disconnect`).
    pub fn disconnect_running(&self, id: &str, key: &str) -> Result<()> {
        let net = self.get(key)?;
        let _g = guard(&self.lock);
        let eps = self.endpoints_where("container", id)?;
        let Some(ep) = eps.iter().find(|e| e.network == net.id) else {
            return Ok(());
        };
        let _ = berth_net::link::detach(&self.netns_path(id), &ep.if_name);
        let _ = berth_net::link::delete(&ep.host_if);
        self.db().execute(
            "DELETE FROM endpoints WHERE container = ?1 AND network = ?2",
            params![id, net.id],
        )?;
        if !ep.ports.is_empty() || self.has_policies() {
            self.apply_firewall()?;
        }
        self.emit(&net, "disconnect", &[("container", id.to_owned())]);
        Ok(())
    }
}
