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

/// What network policies allow between containers of a network: addresses isolated in a
/// direction drop what no allowed flow lets through. There is no connection tracking in the
/// bridge family on this kernel: replies are known by their source port (UDP) or as TCP
/// segments that open no connection (a new TCP connection starts with a lone SYN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flows {
    pub ingress_isolated: Vec<Ipv4Addr>,
    pub egress_isolated: Vec<Ipv4Addr>,
    pub ingress_allowed: Vec<Flow>,
    pub egress_allowed: Vec<Flow>,
}

/// Traffic from `src` to `dst`, on one protocol and port (`None`: any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub port: Option<(String, u16)>,
}

impl Flows {
    pub fn is_empty(&self) -> bool {
        self.ingress_isolated.is_empty() && self.egress_isolated.is_empty()
    }
}

/// A chain that returns for each allowed flow (and its replies) and drops the rest of what
/// goes to (`ingress`) or comes from the isolated addresses.
fn policy_chain(name: &str, allowed: &[Flow], isolated: &[Ipv4Addr], ingress: bool) -> Chain {
    let mut rules = Vec::new();
    for f in allowed {
        let (there, back): (Vec<Expr>, Vec<Expr>) = match &f.port {
            None => (vec![], vec![]),
            Some((proto, port)) => {
                let proto = Proto::parse(proto).unwrap_or(Proto::Tcp);
                (
                    vec![Expr::Dport { proto, port: *port }],
                    vec![Expr::Sport { proto, port: *port }],
                )
            }
        };
        let mut r = vec![Expr::BridgeIpSaddr(f.src), Expr::BridgeIpDaddr(f.dst)];
        r.extend(there);
        r.push(Expr::Return);
        rules.push(r);
        let mut r = vec![Expr::BridgeIpSaddr(f.dst), Expr::BridgeIpDaddr(f.src)];
        r.extend(back);
        r.push(Expr::Return);
        rules.push(r);
    }
    for a in isolated {
        let m = || {
            if ingress {
                Expr::BridgeIpDaddr(*a)
            } else {
                Expr::BridgeIpSaddr(*a)
            }
        };
        // TCP that opens no connection belongs to one a policy allowed (or to none, and the
        // peer's stack refuses it): without connection tracking, replies are known so.
        rules.push(vec![m(), Expr::TcpNotSyn, Expr::Return]);
        rules.push(vec![m(), Expr::Drop]);
    }
    Chain {
        name: name.to_owned(),
        base: None,
        rules,
    }
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
pub fn tables(
    bridges: &[Bridge],
    publish: &[Publish],
    flows: &Flows,
) -> (Option<Table>, Option<Table>) {
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
    let mut fwd: Vec<Vec<Expr>> = bridges
        .iter()
        .filter(|b| !b.icc)
        .map(|b| vec![iif(&format!("{}*", b.port_prefix)), Expr::Drop])
        .collect();
    // Network policies, after icc (which they cannot open): a frame must pass its sender's
    // egress policy and its receiver's ingress policy.
    let mut chains = Vec::new();
    if !flows.is_empty() {
        fwd.push(vec![Expr::Jump("policy_egress".into())]);
        fwd.push(vec![Expr::Jump("policy_ingress".into())]);
        chains.push(policy_chain(
            "policy_egress",
            &flows.egress_allowed,
            &flows.egress_isolated,
            false,
        ));
        chains.push(policy_chain(
            "policy_ingress",
            &flows.ingress_allowed,
            &flows.ingress_isolated,
            true,
        ));
    }
    let bridge = (!fwd.is_empty()).then(|| {
        chains.insert(0, base("forward", "filter", Hook::Forward, 0, fwd));
        Table {
            family: Family::Bridge,
            name: "berth".into(),
            chains,
        }
    });
    (Some(inet), bridge)
}

/// Apply the model (replacing Berth's tables atomically, each in one netlink batch).
pub fn apply(bridges: &[Bridge], publish: &[Publish], flows: &Flows) -> Result<()> {
    let (inet, bridge) = tables(bridges, publish, flows);
    crate::nft::replace(Family::Inet, "berth", inet.as_ref())?;
    crate::nft::replace(Family::Bridge, "berth", bridge.as_ref())
}

/// Remove Berth's tables.
pub fn clear() -> Result<()> {
    apply(&[], &[], &Flows::default())
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
        assert_eq!(tables(&[], &[], &Flows::default()), (None, None));
        let db = Ipv4Addr::new(172, 18, 0, 2);
        let api = Ipv4Addr::new(172, 18, 0, 3);
        let flows = Flows {
            ingress_isolated: vec![db],
            ingress_allowed: vec![Flow {
                src: api,
                dst: db,
                port: Some(("tcp".into(), 5432)),
            }],
            ..Default::default()
        };
        let x = Bridge {
            name: "br-x".into(),
            subnet: crate::ipam::Subnet::parse("172.18.0.0/16").expect("subnet"),
            icc: true,
            internal: false,
            masquerade: true,
            port_prefix: "vbx".into(),
            subnet6: None,
        };
        let (_, bridge) = tables(&[x], &[], &flows);
        let b = bridge.expect("a bridge table for the policies").to_string();
        for want in [
            "jump policy_egress",
            "jump policy_ingress",
            "ip saddr 172.18.0.3 ip daddr 172.18.0.2 tcp dport 5432 return",
            "ip saddr 172.18.0.2 ip daddr 172.18.0.3 tcp sport 5432 return",
            "ip daddr 172.18.0.2 tcp flags & (syn | ack) != syn return",
            "ip daddr 172.18.0.2 drop",
        ] {
            assert!(b.contains(want), "{want}: {b}");
        }
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
        let (inet, bridge) = tables(&bridges, &publish, &Flows::default());
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
