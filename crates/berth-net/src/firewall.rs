//! The nftables table of Berth (`inet berth`, plus `bridge berth` for icc), rebuilt whole in
//! one atomic `nft -f` transaction from the engine's model on every change and at daemon
//! start; nothing outside these tables is ever touched. Written as nft's own text syntax
//! (what operators read and audit) and fed to `nft -f -`; the nftables crate would only wrap
//! the same binary with JSON.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::ipam::Subnet;
use crate::{Error, Result, kernel};

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

/// The whole ruleset text for the model.
pub fn script(bridges: &[Bridge], publish: &[Publish]) -> String {
    let mut s = String::new();
    // Create-then-delete makes the delete safe when the table is absent; the new table
    // follows in the same transaction.
    s.push_str("table inet berth\ndelete table inet berth\ntable bridge berth\ndelete table bridge berth\n");
    if bridges.is_empty() && publish.is_empty() {
        return s;
    }
    let names: Vec<String> = bridges.iter().map(|b| format!("\"{}\"", b.name)).collect();
    s.push_str("table inet berth {\n");
    if !names.is_empty() {
        let _ = writeln!(
            s,
            "  set bridges {{ type ifname; elements = {{ {} }} }}",
            names.join(", ")
        );
    }
    s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump publish\n  }\n");
    s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump publish\n  }\n");
    s.push_str("  chain publish {\n");
    for p in publish {
        let daddr = p
            .host_ip
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    {daddr}{proto} dport {hp} dnat ip to {cip}:{cp}",
            proto = p.proto,
            hp = p.host_port,
            cip = p.container_ip,
            cp = p.container_port
        );
    }
    s.push_str("  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for b in bridges {
        // Published ports reached from the host's loopback, and hairpin (a container reaching
        // a published port of its own bridge): replies must come back through us.
        let _ = writeln!(
            s,
            "    oifname \"{}\" ip saddr 127.0.0.0/8 masquerade",
            b.name
        );
        let _ = writeln!(
            s,
            "    oifname \"{}\" ct status dnat ip saddr {} masquerade",
            b.name, b.subnet
        );
        if b.masquerade && !b.internal {
            let _ = writeln!(
                s,
                "    ip saddr {} oifname != \"{}\" masquerade",
                b.subnet, b.name
            );
            if let Some(s6) = &b.subnet6 {
                let _ = writeln!(s, "    ip6 saddr {s6} oifname != \"{}\" masquerade", b.name);
            }
        }
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for b in bridges {
        if b.internal {
            let _ = writeln!(
                s,
                "    iifname \"{n}\" oifname != \"{n}\" drop\n    oifname \"{n}\" iifname != \"{n}\" drop",
                n = b.name
            );
        } else {
            // Isolation: nothing from one network to another.
            let _ = writeln!(
                s,
                "    iifname \"{n}\" oifname @bridges oifname != \"{n}\" drop",
                n = b.name
            );
        }
    }
    s.push_str("  }\n}\n");
    let icc_off: Vec<&Bridge> = bridges.iter().filter(|b| !b.icc).collect();
    if !icc_off.is_empty() {
        s.push_str("table bridge berth {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n");
        for b in icc_off {
            // Frames between two ports of the bridge (container to container); traffic to
            // and from the host, published ports included, is routed and not seen here.
            let _ = writeln!(s, "    iifname \"{}*\" drop", b.port_prefix);
        }
        s.push_str("  }\n}\n");
    }
    s
}

/// Apply the model (replacing Berth's tables atomically).
pub fn apply(bridges: &[Bridge], publish: &[Publish]) -> Result<()> {
    nft(&script(bridges, publish))
}

/// Remove Berth's tables.
pub fn clear() -> Result<()> {
    nft(&script(&[], &[]))
}

fn nft(script: &str) -> Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| kernel("nft (is nftables installed?)", e))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(script.as_bytes())
            .map_err(|e| kernel("nft", e))?;
    }
    let out = child.wait_with_output().map_err(|e| kernel("nft", e))?;
    if !out.status.success() {
        return Err(Error::Kernel {
            ctx: "nft".into(),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// A kernel setting (`/proc/sys/…`) written if it differs.
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|e| kernel(format!("sysctl {key}"), e))
}
