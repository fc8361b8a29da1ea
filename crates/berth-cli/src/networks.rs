//! `network create/ls/inspect/rm/prune/connect/disconnect` and `port`, with docker's flags
//! and output; and the parsing of `-p`/`--expose` (docker's port specs).

use anyhow::{Result, anyhow, bail};
use berth_client::{Method, query};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Global, connect};

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment (one IPv4, one IPv6)
    #[arg(long)]
    subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long)]
    ip_range: Vec<String>,
    /// Gateway for the subnet of its family
    #[arg(long)]
    gateway: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Set driver specific options
    #[arg(short, long)]
    opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

fn kv_map(flag: &str, items: &[String]) -> Result<serde_json::Map<String, Value>> {
    let mut m = serde_json::Map::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i.as_str(), ""));
        if k.is_empty() {
            bail!("invalid argument \"{i}\" for \"{flag}\" flag: invalid key value pair format");
        }
        m.insert(k.to_owned(), json!(v));
    }
    Ok(m)
}

pub fn network(g: &Global, cmd: NetworkCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        NetworkCmd::Create(a) => {
            let v6 = |x: &String| x.contains(':');
            if a.subnet.is_empty() && (!a.ip_range.is_empty() || !a.gateway.is_empty()) {
                bail!("every ip-range or gateway must have a corresponding subnet");
            }
            let mut configs = Vec::new();
            for sn in &a.subnet {
                let mut c = json!({"Subnet": sn});
                if let Some(r) = a.ip_range.iter().find(|r| v6(r) == v6(sn)) {
                    c["IPRange"] = json!(r);
                }
                if let Some(g) = a.gateway.iter().find(|g| v6(g) == v6(sn)) {
                    c["Gateway"] = json!(g);
                }
                configs.push(c);
            }
            let body = json!({
                "Name": a.name,
                "Driver": a.driver,
                "Internal": a.internal,
                "Attachable": a.attachable,
                "EnableIPv6": a.ipv6,
                "Options": kv_map("--opt", &a.opt)?,
                "Labels": kv_map("--label", &a.label)?,
                "IPAM": {"Driver": "default", "Config": configs},
            });
            let v = rt.block_on(c.json(Method::POST, "/networks/create", Some(&body)))?;
            println!("{}", v["Id"].as_str().unwrap_or_default());
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let path = match crate::containers::filters_json(&a.filter)? {
                Some(f) => format!("/networks{}", query(&[("filters", &f)])),
                None => "/networks".to_owned(),
            };
            let list = rt.block_on(c.get(&path))?;
            let rows: Vec<Value> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    let id = n["Id"].as_str().unwrap_or_default();
                    json!({
                        "ID": if a.no_trunc { id.to_owned() } else { id.chars().take(12).collect() },
                        "Name": n["Name"],
                        "Driver": n["Driver"],
                        "Scope": n["Scope"],
                        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                        "Labels": crate::images::labels_text(&n["Labels"]),
                        "CreatedAt": n["Created"],
                    })
                })
                .collect();
            crate::images::print_list(
                a.quiet,
                a.format.as_deref(),
                &[
                    ("ID", "NETWORK ID"),
                    ("Name", "NAME"),
                    ("Driver", "DRIVER"),
                    ("Scope", "SCOPE"),
                ],
                &[
                    ("ID", "NETWORK ID"),
                    ("Name", "NAME"),
                    ("Driver", "DRIVER"),
                    ("Scope", "SCOPE"),
                    ("IPv6", "IPV6"),
                    ("Internal", "INTERNAL"),
                    ("Labels", "LABELS"),
                    ("CreatedAt", "CREATED AT"),
                ],
                &rows,
            )?;
            Ok(0)
        }
        NetworkCmd::Inspect(a) => {
            let mut found = Vec::new();
            let mut code = 0;
            for n in &a.names {
                match rt.block_on(c.get(&format!("/networks/{}", berth_client::enc(n)))) {
                    Ok(v) => found.push(v),
                    Err(berth_client::Error::Api { status: 404, .. }) => {
                        eprintln!("Error response from daemon: network {n} not found");
                        code = 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            crate::images::print_inspected(found, a.format.as_deref())?;
            Ok(code)
        }
        NetworkCmd::Rm(a) => crate::containers::each_object(g, &a.names, a.force, |n| {
            (
                Method::DELETE,
                format!("/networks/{}", berth_client::enc(n)),
            )
        }),
        NetworkCmd::Prune(a) => {
            if !a.force {
                eprint!(
                    "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
                    return Ok(0);
                }
            }
            let v = rt.block_on(c.json(Method::POST, "/networks/prune", None))?;
            let gone = v["NetworksDeleted"].as_array().cloned().unwrap_or_default();
            if !gone.is_empty() {
                println!("Deleted Networks:");
                for n in gone {
                    println!("{}", n.as_str().unwrap_or_default());
                }
            }
            Ok(0)
        }
        NetworkCmd::Connect(a) => {
            let mut ep = json!({});
            if !a.alias.is_empty() {
                ep["Aliases"] = json!(a.alias);
            }
            if let Some(ip) = &a.ip {
                ep["IPAMConfig"] = json!({"IPv4Address": ip});
            }
            rt.block_on(c.json(
                Method::POST,
                &format!("/networks/{}/connect", berth_client::enc(&a.network)),
                Some(&json!({"Container": a.container, "EndpointConfig": ep})),
            ))?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            rt.block_on(c.json(
                Method::POST,
                &format!("/networks/{}/disconnect", berth_client::enc(&a.network)),
                Some(&json!({"Container": a.container, "Force": a.force})),
            ))?;
            Ok(0)
        }
    }
}

#[derive(Debug, Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    private: Option<String>,
}

/// `port`: the container's published ports (`80/tcp -> 0.0.0.0:32768`).
pub fn port(g: &Global, a: PortArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v = rt.block_on(c.get(&format!(
        "/containers/{}/json",
        berth_client::enc(&a.container)
    )))?;
    let ports = v["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (p, proto) = k.split_once('/').unwrap_or((k, ""));
        (p.parse::<u32>().unwrap_or(0), proto.to_owned())
    });
    if let Some(want) = &a.private {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        let binds = ports
            .get(&key)
            .and_then(|b| b.as_array())
            .filter(|b| !b.is_empty());
        let Some(binds) = binds else {
            bail!("No public port '{key}' published for {}", a.container);
        };
        for b in binds {
            println!(
                "{}:{}",
                b["HostIp"].as_str().unwrap_or_default(),
                b["HostPort"].as_str().unwrap_or_default()
            );
        }
        return Ok(0);
    }
    for k in keys {
        for b in ports[k].as_array().into_iter().flatten() {
            println!(
                "{k} -> {}:{}",
                b["HostIp"].as_str().unwrap_or_default(),
                b["HostPort"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(0)
}

fn valid_port(s: &str) -> bool {
    s.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A port or range: `80`, `8000-8010`.
fn port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) if valid_port(a) && valid_port(b) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None if valid_port(s) => {
            let p = s.parse().ok()?;
            Some((p, p))
        }
        _ => None,
    }
}

/// docker's `-p` specs (`[ip:][hostPort:]containerPort[/proto]`, ranges) into
/// `PortBindings`, with docker's error texts.
pub fn port_bindings(specs: &[String]) -> Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for spec in specs {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) => (r, p),
            None => (spec.as_str(), "tcp"),
        };
        if !["tcp", "udp", "sctp"].contains(&proto) {
            bail!("invalid proto: {proto}");
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [i, h, c] => (*i, *h, *c),
            _ => bail!("invalid port format for --publish: {spec}"),
        };
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            bail!("invalid IP address: {ip}");
        }
        let (c0, c1) = port_range(ctr).ok_or_else(|| anyhow!("invalid containerPort: {ctr}"))?;
        let host_range = if host.is_empty() {
            None
        } else {
            Some(port_range(host).ok_or_else(|| anyhow!("invalid hostPort: {host}"))?)
        };
        if let Some((h0, h1)) = host_range {
            if c1 - c0 != h1 - h0 && c0 != c1 {
                bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
            }
        }
        for (i, p) in (c0..=c1).enumerate() {
            let hp = match host_range {
                None => String::new(),
                Some((h0, h1)) if c0 == c1 && h0 != h1 => format!("{h0}-{h1}"),
                Some((h0, _)) => (h0 + i as u16).to_string(),
            };
            if let Some(a) = out
                .entry(format!("{p}/{proto}"))
                .or_insert(json!([]))
                .as_array_mut()
            {
                a.push(json!({"HostIp": ip, "HostPort": hp}));
            }
        }
    }
    Ok(out)
}

/// `--expose 80[/tcp]` or a range.
pub fn exposed(specs: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for s in specs {
        let (p, proto) = s.rsplit_once('/').unwrap_or((s.as_str(), "tcp"));
        if !["tcp", "udp", "sctp"].contains(&proto) {
            bail!("invalid proto: {proto}");
        }
        let (a, b) = port_range(p).ok_or_else(|| {
            anyhow!("invalid range format for --expose: {s}, error: invalid port")
        })?;
        out.extend((a..=b).map(|x| format!("{x}/{proto}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse_like_docker() {
        let m = port_bindings(&[
            "127.0.0.1:18080:80".into(),
            "53/udp".into(),
            "8000-8001:90-91".into(),
        ])
        .expect("parse");
        assert_eq!(
            m["80/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "18080"}])
        );
        assert_eq!(m["53/udp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert_eq!(m["91/tcp"], json!([{"HostIp": "", "HostPort": "8001"}]));
        for (spec, err) in [
            ("99999", "invalid containerPort: 99999"),
            ("99999:80", "invalid hostPort: 99999"),
            ("1.2.3.4:80", "invalid hostPort: 1.2.3.4"),
            ("80/xyz", "invalid proto: xyz"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
        ] {
            assert_eq!(
                port_bindings(&[spec.into()]).expect_err(spec).to_string(),
                err
            );
        }
        assert_eq!(
            exposed(&["7000-7001/udp".into()]).expect("expose"),
            ["7000/udp", "7001/udp"]
        );
    }
}
