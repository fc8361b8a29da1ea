//! Berth's nftables tables (`inet berth`, plus `bridge berth` for icc), rebuilt whole from the
//! engine's model on every change and at daemon start, each in one atomic netlink batch
//! (`nft`); nothing outside these tables is ever touched. `nft list table inet berth` shows
//! them in the syntax `tables()`' Display prints.

use std::net::Ipv4Addr;

use crate::ipam::Subnet;
use crate::{Result, kernel};

/// A bridge network as the firewall sees it.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub name: String,
    pub subnet: Subnet,
    /// Traffic between containers of this bridge allowed (`--icc`, `enable_icc`).
    pub icc: bool,
    /// No traffic in or out of the bridge except between its containers (`--internal`).
    pub internal: bool,
    /// Outbound traffic masqueraded (`enable_ip_masquerade`, default true).
    pub masquerade: bool,
    /// The prefix shared by the host ends of this bridge's veths (for icc).
    pub port_prefix: String,
    /// The IPv6 subnet, on dual-stack networks.
    pub subnet6: Option<crate::ipam::Subnet6>,
}

/// A published port: `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone)]
pub struct Publish {
    pub proto: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

use crate::nft::{BaseChain, Chain, Expr, Family, Hook, Proto, Table};

fn iif(name: &str) -> Expr {
    Expr::Iifname {
        name: name.to_owned(),
        negate: false,
    }
}

fn oif(name: &str, negate: bool) -> Expr {
    Expr::Oifname {
        name: name.to_owned(),
        negate,
    }
}

fn base(name: &str, kind: &'static str, hook: Hook, priority: i32, rules: Vec<Vec<Expr>>) -> Chain {
    Chain {
        name: name.to_owned(),
        base: Some(BaseChain {
            kind,
            hook,
            priority,
        }),
        rules,
    }
}

/// The model as Berth's two tables: `inet berth` (published ports, masquerading, isolation
/// between networks, `--internal`) and `bridge berth` (`icc` off). None: nothing to hold.
pub fn tables(bridges: &[Bridge], publish: &[Publish]) -> (Option<Table>, Option<Table>) {
    if bridges.is_empty() && publish.is_empty() {
        return (None, None);
    }
    let jump = || vec![Expr::FibDaddrLocal, Expr::Jump("publish".into())];
    let mut published = Vec::new();
    for p in publish {
        let mut r = Vec::new();
        if let Some(ip) = p.host_ip.filter(|ip| !ip.is_unspecified()) {
            r.push(Expr::IpDaddr(ip));
        }
        let proto = Proto::parse(&p.proto).unwrap_or(Proto::Tcp);
        r.push(Expr::Dport {
            proto,
            port: p.host_port,
        });
        r.push(Expr::Dnat(p.container_ip, p.container_port));
        published.push(r);
    }
    let mut post = Vec::new();
    let mut forward = Vec::new();
    for b in bridges {
        // Published ports reached from the host's loopback, and hairpin (a container reaching
        // a published port of its own bridge): replies must come back through us.
        post.push(vec![
            oif(&b.name, false),
            Expr::IpSaddr(std::net::Ipv4Addr::new(127, 0, 0, 0), 8),
            Expr::Masquerade,
        ]);
        post.push(vec![
            oif(&b.name, false),
            Expr::CtStatusDnat,
            Expr::IpSaddr(b.subnet.addr, b.subnet.prefix),
            Expr::Masquerade,
        ]);
        if b.masquerade && !b.internal {
            post.push(vec![
                Expr::IpSaddr(b.subnet.addr, b.subnet.prefix),
                oif(&b.name, true),
                Expr::Masquerade,
            ]);
            if let Some(s6) = &b.subnet6 {
                post.push(vec![
                    Expr::Ip6Saddr(s6.addr, s6.prefix),
                    oif(&b.name, true),
                    Expr::Masquerade,
                ]);
            }
        }
        if b.internal {
            forward.push(vec![iif(&b.name), oif(&b.name, true), Expr::Drop]);
            forward.push(vec![
                oif(&b.name, false),
                Expr::Iifname {
                    name: b.name.clone(),
                    negate: true,
                },
                Expr::Drop,
            ]);
        } else {
            // Isolation: nothing from one network to another.
            for other in bridges.iter().filter(|o| o.name != b.name) {
                forward.push(vec![iif(&b.name), oif(&other.name, false), Expr::Drop]);
            }
        }
    }
    let inet = Table {
        family: Family::Inet,
        name: "berth".into(),
        chains: vec![
            base("prerouting", "nat", Hook::Prerouting, -100, vec![jump()]),
            base("output", "nat", Hook::Output, -100, vec![jump()]),
            Chain {
                name: "publish".into(),
                base: None,
                rules: published,
            },
            base("postrouting", "nat", Hook::Postrouting, 100, post),
            base("forward", "filter", Hook::Forward, 0, forward),
        ],
    };
    // Frames between two ports of a bridge without icc (container to container); traffic to
    // and from the host, published ports included, is routed and not seen here.
    let icc_off: Vec<Vec<Expr>> = bridges
        .iter()
        .filter(|b| !b.icc)
        .map(|b| vec![iif(&format!("{}*", b.port_prefix)), Expr::Drop])
        .collect();
    let bridge = (!icc_off.is_empty()).then(|| Table {
        family: Family::Bridge,
        name: "berth".into(),
        chains: vec![base("forward", "filter", Hook::Forward, 0, icc_off)],
    });
    (Some(inet), bridge)
}

/// Apply the model (replacing Berth's tables atomically, each in one netlink batch).
pub fn apply(bridges: &[Bridge], publish: &[Publish]) -> Result<()> {
    let (inet, bridge) = tables(bridges, publish);
    crate::nft::replace(Family::Inet, "berth", inet.as_ref())?;
    crate::nft::replace(Family::Bridge, "berth", bridge.as_ref())
}

/// Remove Berth's tables.
pub fn clear() -> Result<()> {
    apply(&[], &[])
}

/// A kernel setting (`/proc/sys/…`) written if it differs.
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|e| kernel(format!("sysctl {key}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_becomes_berths_rules() {
        let net = |name: &str, sub: &str, icc: bool, internal: bool| Bridge {
            name: name.into(),
            subnet: Subnet::parse(sub).expect("subnet"),
            icc,
            internal,
            masquerade: true,
            port_prefix: format!("vb{}", &name[..2]),
            subnet6: None,
        };
        assert_eq!(tables(&[], &[]), (None, None));
        let bridges = [
            net("berth0", "172.17.0.0/16", true, false),
            net("br-a", "10.1.0.0/24", false, false),
            net("br-i", "10.2.0.0/24", true, true),
        ];
        let publish = [Publish {
            proto: "tcp".into(),
            host_ip: Some("127.0.0.1".parse().expect("ip")),
            host_port: 8080,
            container_ip: "172.17.0.2".parse().expect("ip"),
            container_port: 80,
        }];
        let (inet, bridge) = tables(&bridges, &publish);
        let text = inet.expect("inet table").to_string();
        for want in [
            "type nat hook prerouting priority -100; policy accept;\n    fib daddr type local jump publish",
            "ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 172.17.0.2:80",
            "oifname \"berth0\" ip saddr 127.0.0.0/8 masquerade",
            "oifname \"br-a\" ct status dnat ip saddr 10.1.0.0/24 masquerade",
            "ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade",
            "iifname \"berth0\" oifname \"br-a\" drop",
            "iifname \"br-a\" oifname \"berth0\" drop",
            "iifname \"br-i\" oifname != \"br-i\" drop",
            "oifname \"br-i\" iifname != \"br-i\" drop",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        // An internal network is not masqueraded out.
        assert!(
            !text.contains("ip saddr 10.2.0.0/24 oifname != \"br-i\" masquerade"),
            "{text}"
        );
        let b = bridge.expect("bridge table").to_string();
        assert!(b.contains("iifname \"vbbr*\" drop"), "{b}");
        assert!(!b.contains("vbbe"), "icc on: {b}");
    }
}
