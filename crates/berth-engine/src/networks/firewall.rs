//! The firewall's model (every bridge network and published port, applied whole through
//! berth-net), reconciliation at daemon start and clean-up at a graceful stop.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::{Networks, bridge_name, is_default_bridge, port_prefix, subnet_of, subnet6_of};
use crate::Result;
use crate::db::guard;

impl Networks {
    /// The firewall's model from every bridge network and published port; applied whole.
    pub(crate) fn apply_firewall(&self) -> Result<()> {
        let mut bridges = Vec::new();
        for n in self.all()?.iter().filter(|n| n.driver == "bridge") {
            let Some(subnet) = subnet_of(n)? else {
                continue;
            };
            let opt = |k: &str, default: bool| n.options.get(k).map_or(default, |v| v == "true");
            bridges.push(berth_net::firewall::Bridge {
                name: bridge_name(n),
                subnet,
                icc: opt("com.docker.network.bridge.enable_icc", true),
                internal: n.internal,
                masquerade: opt("com.docker.network.bridge.enable_ip_masquerade", true),
                port_prefix: port_prefix(&n.id),
                subnet6: subnet6_of(n),
            });
        }
        let mut publish = Vec::new();
        for e in self.all_endpoints()? {
            for p in &e.ports {
                let (port, proto) = p.key.split_once('/').unwrap_or((&p.key, "tcp"));
                publish.push(berth_net::firewall::Publish {
                    proto: proto.to_owned(),
                    host_ip: p.host_ip.parse().ok(),
                    host_port: p.host_port,
                    container_ip: e.ip,
                    container_port: port.parse().unwrap_or(0),
                });
            }
        }
        let flows = self.policy_flows()?;
        berth_net::firewall::apply(&bridges, &publish, &flows)?;
        self.firewall_applied.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// At daemon start: bridges of user networks and of networks with running containers,
    /// endpoints of containers that stopped while we were away torn down, the firewall
    /// rebuilt. A daemon that has neither touches nothing (the default bridge comes with the
    /// first container that joins it).
    pub fn reconcile(&self, running: &dyn Fn(&str) -> bool) -> Result<()> {
        let mut stale = HashSet::new();
        let mut live_nets = HashSet::new();
        for e in self.all_endpoints()? {
            if running(&e.container) {
                live_nets.insert(e.network);
            } else {
                stale.insert(e.container);
            }
        }
        for c in stale {
            self.teardown(&c);
        }
        let mut any = !live_nets.is_empty();
        for n in self.all()? {
            let user = n.driver == "bridge" && !is_default_bridge(&n);
            if user || live_nets.contains(&n.id) {
                any = true;
                if let Err(e) = self.ensure_bridge(&n) {
                    eprintln!("berth: warning: network {}: {e}", n.name);
                }
            }
        }
        if any {
            let _g = guard(&self.lock);
            self.apply_firewall()?;
        }
        Ok(())
    }

    /// On a graceful daemon stop with no container running: the default bridge and the
    /// firewall tables go (user networks' bridges stay, as their records do).
    pub fn shutdown(&self) {
        let touched = self.firewall_applied.load(Ordering::Relaxed);
        if touched && self.all_endpoints().map(|e| e.is_empty()).unwrap_or(false) {
            let _ = berth_net::firewall::clear();
            let _ = berth_net::link::delete(super::DEFAULT_BRIDGE);
        }
    }
}
