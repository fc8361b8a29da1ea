//! What a container sees of its networks: `NetworkSettings` (as dockerd shapes it), its
//! /etc/hosts and resolv.conf, and the embedded DNS server's answers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_models::container::{HostConfig, PortBinding as WireBinding, PortMap};
use berth_models::network::{EndpointSettings, NetworkSettings};
use berth_net::ipam::Subnet;

use super::endpoints::{Endpoint, Links};
use super::{
    Networks, gateway_of, gateway6_of, is_default_bridge, nets_with_config, subnet_of, subnet6_of,
};
use crate::Result;
use crate::containers::Record;

impl Networks {
    /// `NetworkSettings` of a container.
    pub fn settings(&self, id: &str, rec: &Record) -> Result<NetworkSettings> {
        let eps = self.endpoints_where("container", id)?;
        self.settings_with(rec, &eps)
    }

    /// Every endpoint, by container (each container's in `if_name` order, as
    /// `endpoints_where` gives them): a list builds each container's settings from one query.
    pub(crate) fn endpoints_by_container(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<Endpoint>>> {
        let mut by: std::collections::HashMap<String, Vec<Endpoint>> = Default::default();
        for e in self.all_endpoints()? {
            by.entry(e.container.clone()).or_default().push(e);
        }
        Ok(by)
    }

    /// `NetworkSettings` of a container whose endpoints are at hand.
    pub(crate) fn settings_with(&self, rec: &Record, eps: &[Endpoint]) -> Result<NetworkSettings> {
        let mode = rec.network_mode();
        let mut ports: PortMap = rec
            .config
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, _)| (k.clone(), None))
            .chain(
                rec.host_config
                    .port_bindings
                    .keys()
                    .map(|k| (k.clone(), None)),
            )
            .collect();
        let mut networks: BTreeMap<String, EndpointSettings> = BTreeMap::new();
        for (key, cfg) in nets_with_config(rec) {
            let Ok(net) = self.get(&key) else { continue };
            let ep = eps.iter().find(|e| e.network == net.id);
            let prefix = subnet_of(&net)?.map(|s| s.prefix).unwrap_or(0);
            let user_aliases = cfg.aliases.clone().filter(|a| !a.is_empty());
            let v6 = ep.and_then(|e| e.ip6);
            let s = EndpointSettings {
                ipam_config: cfg.ipam_config.clone(),
                links: cfg.links.clone(),
                aliases: user_aliases,
                // Before the start, the address asked for (as dockerd shows it).
                mac_address: ep
                    .map(|e| e.mac.clone())
                    .unwrap_or_else(|| cfg.mac_address.clone()),
                driver_opts: cfg.driver_opts.clone().filter(|o| !o.is_empty()),
                network_id: net.id.clone(),
                endpoint_id: ep.map(|e| e.endpoint.clone()).unwrap_or_default(),
                gateway: ep
                    .and(gateway_of(&net))
                    .map(|g| g.to_string())
                    .unwrap_or_default(),
                ip_address: ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                ip_prefix_len: if ep.is_some() { prefix } else { 0 },
                ipv6_gateway: v6
                    .and(gateway6_of(&net))
                    .map(|g| g.to_string())
                    .unwrap_or_default(),
                global_ipv6_address: v6.map(|a| a.to_string()).unwrap_or_default(),
                global_ipv6_prefix_len: if v6.is_some() {
                    subnet6_of(&net).map(|s| s.prefix).unwrap_or(0)
                } else {
                    0
                },
                dns_names: ep.filter(|_| net.name != "bridge").map(|e| {
                    let mut n = vec![rec.short_name().to_owned()];
                    n.extend(e.aliases.iter().cloned());
                    n
                }),
            };
            networks.insert(net.name.clone(), s);
            for p in ep.map(|e| e.ports.as_slice()).unwrap_or_default() {
                ports
                    .entry(p.key.clone())
                    .or_insert(None)
                    .get_or_insert_with(Vec::new)
                    .push(WireBinding {
                        host_ip: p.host_ip.clone(),
                        host_port: p.host_port.to_string(),
                    });
            }
        }
        if mode == "host" {
            let net = self.get("host")?;
            networks.insert(
                "host".into(),
                EndpointSettings {
                    network_id: net.id,
                    ..Default::default()
                },
            );
        }
        if mode == "none" {
            if let Some(n) = networks.get_mut("none") {
                *n = EndpointSettings {
                    network_id: n.network_id.clone(),
                    ..Default::default()
                };
            }
        }
        // The top-level fields describe the default bridge's endpoint (as dockerd's do).
        let primary = networks.get("bridge").cloned().unwrap_or_default();
        let running = !eps.is_empty();
        Ok(NetworkSettings {
            // One id per run (clients only compare it): the first endpoint's.
            sandbox_id: eps.first().map(|e| e.endpoint.clone()).unwrap_or_default(),
            sandbox_key: if running {
                self.netns_path(&rec.id).display().to_string()
            } else {
                String::new()
            },
            ports,
            endpoint_id: primary.endpoint_id,
            gateway: primary.gateway,
            global_ipv6_address: primary.global_ipv6_address,
            global_ipv6_prefix_len: primary.global_ipv6_prefix_len,
            ip_address: primary.ip_address,
            ip_prefix_len: primary.ip_prefix_len,
            ipv6_gateway: primary.ipv6_gateway,
            mac_address: primary.mac_address,
            networks,
            ..Default::default()
        })
    }

    /// A name as the container at `asker` (on the network whose gateway is `gateway`) sees
    /// it: names, aliases and short ids of the containers on any of its user networks, by
    /// address on the network they share (for the DNS server).
    pub fn lookup(
        &self,
        gateway: Ipv4Addr,
        asker: Ipv4Addr,
        name: &str,
        names: &dyn Fn(&str) -> String,
        links: &dyn Fn(&str) -> Links,
    ) -> Vec<std::net::IpAddr> {
        let name = name.trim_end_matches('.').to_lowercase();
        let Ok(nets) = self.all() else {
            return Vec::new();
        };
        let Some(net) = nets.iter().find(|n| gateway_of(n) == Some(gateway)) else {
            return Vec::new();
        };
        let here = self.endpoints_where("network", &net.id).unwrap_or_default();
        // The asker's networks (user-defined ones: the default bridge has no names).
        let me = here
            .iter()
            .find(|e| e.ip == asker)
            .map(|e| e.container.clone());
        let mut searched: Vec<String> = match &me {
            Some(me) => self
                .endpoints_where("container", me)
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.network)
                .collect(),
            None => vec![net.id.clone()],
        };
        // --link aliases are the linking container's alone.
        if let Some(me) = &me {
            for (tid, alias, _) in links(me) {
                if alias.to_lowercase() == name {
                    let ips: Vec<std::net::IpAddr> = self
                        .endpoints_where("container", &tid)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|e| searched.contains(&e.network))
                        .flat_map(|e| e.addrs())
                        .collect();
                    if !ips.is_empty() {
                        return ips;
                    }
                }
            }
        }
        searched.retain(|id| nets.iter().any(|n| n.id == *id && !is_default_bridge(n)));
        let mut out = Vec::new();
        for id in searched {
            for e in self.endpoints_where("network", &id).unwrap_or_default() {
                let hit = names(&e.container).to_lowercase() == name
                    || e.aliases.iter().any(|a| a.to_lowercase() == name);
                if hit {
                    for a in e.addrs() {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                }
            }
        }
        out
    }

    /// Gateways and subnets of user-defined bridge networks (where DNS servers listen).
    pub fn dns_servers(&self) -> Vec<(Ipv4Addr, Subnet)> {
        self.all()
            .unwrap_or_default()
            .iter()
            .filter(|n| n.driver == "bridge" && !is_default_bridge(n))
            .filter_map(|n| Some((gateway_of(n)?, subnet_of(n).ok()??)))
            .collect()
    }

    /// /etc/hosts for a container: localhost lines, its address(es) and name, `--add-host`,
    /// `--link` targets.
    pub(crate) fn hosts_file(
        &self,
        hostname: &str,
        hc: &HostConfig,
        ips: &[std::net::IpAddr],
        links: &[(String, String, String)],
    ) -> String {
        let linked: Vec<(String, String, Option<Endpoint>)> = links
            .iter()
            .map(|(tid, alias, tname)| {
                let ep = self
                    .endpoints_where("container", tid)
                    .unwrap_or_default()
                    .into_iter()
                    .next();
                (alias.clone(), tname.clone(), ep)
            })
            .collect();
        hosts_text(hostname, hc, ips, &linked)
    }
}

fn hosts_text(
    hostname: &str,
    hc: &HostConfig,
    ips: &[std::net::IpAddr],
    links: &[(String, String, Option<Endpoint>)],
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in hc.extra_hosts.iter().flatten() {
        if let Some((name, ip)) = h.split_once(':') {
            s.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    // --link: the target's address under the alias and its name (as dockerd writes them).
    for (alias, tname, ep) in links {
        if let Some(e) = ep {
            if alias == tname {
                s.push_str(&format!("{}\t{tname}\n", e.ip));
            } else {
                s.push_str(&format!("{}\t{alias} {tname}\n", e.ip));
            }
        }
    }
    // The first network's addresses (IPv4, and IPv6 on a dual-stack network).
    if let Some(v4) = ips.iter().find(|i| i.is_ipv4()) {
        s.push_str(&format!("{v4}\t{hostname}\n"));
    }
    if let Some(v6) = ips.iter().take(2).find(|i| i.is_ipv6()) {
        s.push_str(&format!("{v6}\t{hostname}\n"));
    }
    s
}

/// resolv.conf: the embedded DNS server (the network's gateway) on user networks, else the
/// host's servers minus loopback ones; `--dns`, `--dns-search`, `--dns-option` override.
pub(crate) fn resolv_conf(
    hc: &HostConfig,
    daemon_dns: &[Ipv4Addr],
    embedded: Option<Ipv4Addr>,
) -> String {
    resolv_text(
        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        hc,
        daemon_dns,
        embedded,
    )
}

fn resolv_text(
    host: &str,
    hc: &HostConfig,
    daemon_dns: &[Ipv4Addr],
    embedded: Option<Ipv4Addr>,
) -> String {
    let words = |prefix: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .flat_map(|s| s.split_whitespace().map(str::to_owned))
            .collect()
    };
    let mut servers: Vec<String> = words("nameserver")
        .into_iter()
        .filter(|s| !s.starts_with("127.") && s != "::1")
        .collect();
    let mut search = words("search");
    let mut options = words("options");
    if !daemon_dns.is_empty() {
        servers = daemon_dns.iter().map(|d| d.to_string()).collect();
    }
    if let Some(d) = hc.dns.clone().filter(|d| !d.is_empty()) {
        servers = d;
    }
    if let Some(ds) = hc.dns_search.clone().filter(|d| !d.is_empty()) {
        search = ds.into_iter().filter(|s| s != ".").collect();
    }
    if let Some(o) = hc.dns_options.clone().filter(|d| !d.is_empty()) {
        options = o;
    }
    if let Some(gw) = embedded {
        // The embedded server answers for the network and forwards the rest.
        servers = vec![gw.to_string()];
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    }
    let mut s = String::new();
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// The upstream servers for the embedded DNS server: the daemon's `--dns` servers if set,
/// else the host's, minus loopback ones.
pub fn upstream_servers(daemon_dns: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    if !daemon_dns.is_empty() {
        return daemon_dns.to_vec();
    }
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_loopback())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_and_hosts_files() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\noptions edns0\n";
        let hc = HostConfig::default();
        assert_eq!(
            resolv_text(host, &hc, &[], None),
            "nameserver 10.0.0.2\nsearch corp\noptions edns0\n"
        );
        let gw: Ipv4Addr = "172.20.0.1".parse().expect("ip");
        assert_eq!(
            resolv_text(host, &hc, &[], Some(gw)),
            "nameserver 172.20.0.1\nsearch corp\noptions edns0 ndots:0\n"
        );
        let hc = HostConfig {
            dns: Some(vec!["1.1.1.1".into()]),
            dns_search: Some(vec![".".into()]),
            dns_options: Some(vec!["ndots:2".into()]),
            extra_hosts: Some(vec!["db:10.1.1.1".into()]),
            ..Default::default()
        };
        assert_eq!(
            resolv_text(host, &hc, &["9.9.9.9".parse().expect("ip")], None),
            "nameserver 1.1.1.1\noptions ndots:2\n"
        );
        let ips = ["172.17.0.2".parse().expect("ip")];
        let h = hosts_text("web", &hc, &ips, &[]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"), "{h}");
        assert!(
            h.contains("10.1.1.1\tdb\n") && h.ends_with("172.17.0.2\tweb\n"),
            "{h}"
        );
    }
}
