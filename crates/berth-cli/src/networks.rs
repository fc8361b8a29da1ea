//! `network create/ls/inspect/rm/prune/connect/disconnect` and `port`, with docker's flags
//! and output.

use anyhow::{Result, bail};
use berth_client::{Method, enc};
use berth_models::Map;
use berth_models::container::Inspect;
use berth_models::network::{
    ConnectRequest, CreateRequest, CreateResponse, DisconnectRequest, EndpointIpamConfig,
    EndpointSettings, Ipam, IpamConfig, Network, PruneResponse,
};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;

use crate::output::{
    confirm, each_object, filters, filters_query, labels_text, print_inspected, print_list,
    short_id,
};
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
    /// Manage network policies (which containers may talk to which)
    #[command(subcommand)]
    Policy(crate::netpolicy::PolicyCmd),
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

/// `k=v` flags as a map (docker's error for a bad one).
pub fn kv_map(flag: &str, items: &[String]) -> Result<Map> {
    let mut m = Map::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i.as_str(), ""));
        if k.is_empty() {
            bail!("invalid argument \"{i}\" for \"{flag}\" flag: invalid key value pair format");
        }
        m.insert(k.to_owned(), v.to_owned());
    }
    Ok(m)
}

/// One row of `network ls`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    driver: String,
    scope: String,
    #[serde(rename = "IPv6")]
    ipv6: String,
    internal: String,
    labels: String,
    created_at: String,
}

pub fn network(g: &Global, cmd: NetworkCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        NetworkCmd::Policy(p) => crate::netpolicy::policy(g, p),
        NetworkCmd::Create(a) => {
            let v6 = |x: &String| x.contains(':');
            if a.subnet.is_empty() && (!a.ip_range.is_empty() || !a.gateway.is_empty()) {
                bail!("every ip-range or gateway must have a corresponding subnet");
            }
            let config = a
                .subnet
                .iter()
                .map(|sn| IpamConfig {
                    subnet: sn.clone(),
                    ip_range: a
                        .ip_range
                        .iter()
                        .find(|r| v6(r) == v6(sn))
                        .cloned()
                        .unwrap_or_default(),
                    gateway: a
                        .gateway
                        .iter()
                        .find(|g| v6(g) == v6(sn))
                        .cloned()
                        .unwrap_or_default(),
                    ..Default::default()
                })
                .collect();
            let body = CreateRequest {
                name: a.name.clone(),
                driver: a.driver.clone(),
                internal: a.internal,
                attachable: a.attachable,
                enable_ipv6: Some(a.ipv6),
                options: Some(kv_map("--opt", &a.opt)?),
                labels: Some(kv_map("--label", &a.label)?),
                ipam: Some(Ipam {
                    driver: "default".into(),
                    options: None,
                    config,
                }),
                ..Default::default()
            };
            let v: CreateResponse = rt.block_on(c.post("/networks/create", &body))?;
            println!("{}", v.id);
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let list: Vec<Network> =
                rt.block_on(c.get(&format!("/networks{}", filters_query(&filters(&a.filter)?))))?;
            let rows: Vec<Row> = list
                .into_iter()
                .map(|n| Row {
                    id: short_id(&n.id, a.no_trunc),
                    name: n.name,
                    driver: n.driver,
                    scope: n.scope,
                    ipv6: n.enable_ipv6.to_string(),
                    internal: n.internal.to_string(),
                    labels: labels_text(&n.labels),
                    created_at: n.created,
                })
                .collect();
            print_list(
                a.quiet,
                |r: &Row| r.id.as_str(),
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
                match rt.block_on(c.get::<Value>(&format!("/networks/{}", enc(n)))) {
                    Ok(v) => found.push(v),
                    Err(berth_client::Error::Api { status: 404, .. }) => {
                        eprintln!("Error response from daemon: network {n} not found");
                        code = 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            print_inspected(found, a.format.as_deref())?;
            Ok(code)
        }
        NetworkCmd::Rm(a) => each_object(&rt, &c, &a.names, a.force, |n| {
            (Method::DELETE, format!("/networks/{}", enc(n)))
        }),
        NetworkCmd::Prune(a) => {
            if !a.force
                && !confirm(
                    "WARNING! This will remove all custom networks not used by at least one container.",
                )?
            {
                return Ok(0);
            }
            let v: PruneResponse = rt.block_on(c.send_empty(Method::POST, "/networks/prune"))?;
            let gone = v.networks_deleted.unwrap_or_default();
            if !gone.is_empty() {
                println!("Deleted Networks:");
                for n in gone {
                    println!("{n}");
                }
            }
            Ok(0)
        }
        NetworkCmd::Connect(a) => {
            let ep = EndpointSettings {
                aliases: (!a.alias.is_empty()).then(|| a.alias.clone()),
                ipam_config: a.ip.as_ref().map(|ip| EndpointIpamConfig {
                    ipv4_address: ip.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let req = ConnectRequest {
                container: a.container.clone(),
                endpoint_config: Some(ep),
            };
            let _: Option<Value> =
                rt.block_on(c.post(&format!("/networks/{}/connect", enc(&a.network)), &req))?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            let req = DisconnectRequest {
                container: a.container.clone(),
                force: a.force,
            };
            let _: Option<Value> =
                rt.block_on(c.post(&format!("/networks/{}/disconnect", enc(&a.network)), &req))?;
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
/// `port`: the container's published ports (`80/tcp -> 0.0.0.0:32768`).
pub fn port(g: &Global, a: PortArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v: Inspect = rt.block_on(c.get(&format!("/containers/{}/json", enc(&a.container))))?;
    let ports = v.network_settings.ports;
    if let Some(want) = &a.private {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        let binds = ports.get(&key).cloned().flatten().filter(|b| !b.is_empty());
        let Some(binds) = binds else {
            bail!("No public port '{key}' published for {}", a.container);
        };
        for b in binds {
            println!("{}:{}", b.host_ip, b.host_port);
        }
        return Ok(0);
    }
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (p, proto) = k.split_once('/').unwrap_or((k, ""));
        (p.parse::<u32>().unwrap_or(0), proto.to_owned())
    });
    for k in keys {
        for b in ports[k].iter().flatten() {
            println!("{k} -> {}:{}", b.host_ip, b.host_port);
        }
    }
    Ok(0)
}
