//! `berth network policy create|ls|inspect|rm`: network policies (micro-segmentation; a Berth
//! extension with Kubernetes NetworkPolicy's semantics, docs/networking.md).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use berth_client::{Method, enc};
use berth_models::network::{NetworkPolicy, PolicyRule};
use clap::{Args, Subcommand};

use crate::{Global, connect};

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Create a policy from flags (one ingress and one egress rule) or a JSON file
    Create(CreateArgs),
    /// List policies
    #[command(alias = "list")]
    Ls,
    /// Display one or more policies
    Inspect { names: Vec<String> },
    /// Remove one or more policies
    #[command(alias = "remove")]
    Rm { names: Vec<String> },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The containers the policy applies to (label=value; all must hold)
    #[arg(long = "select")]
    select: Vec<String>,
    /// Allow ingress from containers with these labels (repeat for several peers)
    #[arg(long = "ingress-from")]
    ingress_from: Vec<String>,
    /// Ports the ingress rule allows (80/tcp, 53/udp; none: all)
    #[arg(long = "ingress-port")]
    ingress_port: Vec<String>,
    /// Deny every ingress the policy's rules do not allow (with no --ingress-from: all)
    #[arg(long)]
    deny_ingress: bool,
    /// Allow egress to containers with these labels
    #[arg(long = "egress-to")]
    egress_to: Vec<String>,
    /// Ports the egress rule allows
    #[arg(long = "egress-port")]
    egress_port: Vec<String>,
    /// Deny every egress the policy's rules do not allow
    #[arg(long)]
    deny_egress: bool,
    /// A policy in JSON (`{"Name", "Selector", "Ingress": [{"Peers", "Ports"}], "Egress"}`)
    #[arg(short, long)]
    file: Option<std::path::PathBuf>,
    name: Option<String>,
}

/// `a=b,c=d` (or repeated flags) → a selector; a bad one names itself.
fn selector(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for item in items {
        for kv in item.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid selector {kv:?}: use label=value"))?;
            m.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(m)
}

fn rule(peers: &[String], ports: &[String]) -> Result<PolicyRule> {
    Ok(PolicyRule {
        peers: peers
            .iter()
            .map(|p| selector(std::slice::from_ref(p)))
            .collect::<Result<_>>()?,
        ports: ports.to_vec(),
    })
}

pub fn policy(g: &Global, cmd: PolicyCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        PolicyCmd::Create(a) => {
            let p = match &a.file {
                Some(f) => {
                    let text =
                        std::fs::read_to_string(f).map_err(|e| anyhow!("{}: {e}", f.display()))?;
                    let mut p: NetworkPolicy =
                        serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", f.display()))?;
                    if let Some(n) = &a.name {
                        p.name = n.clone();
                    }
                    p
                }
                None => {
                    let name = a
                        .name
                        .clone()
                        .ok_or_else(|| anyhow!("a policy needs a name"))?;
                    let dir = |peers: &[String], ports: &[String], deny: bool| -> Result<_> {
                        Ok(if !peers.is_empty() || !ports.is_empty() {
                            Some(vec![rule(peers, ports)?])
                        } else if deny {
                            Some(vec![])
                        } else {
                            None
                        })
                    };
                    NetworkPolicy {
                        name,
                        selector: selector(&a.select)?,
                        ingress: dir(&a.ingress_from, &a.ingress_port, a.deny_ingress)?,
                        egress: dir(&a.egress_to, &a.egress_port, a.deny_egress)?,
                        ..Default::default()
                    }
                }
            };
            let made: NetworkPolicy =
                rt.block_on(c.json(Method::POST, "/network-policies/create", Some(&p)))?;
            println!("{}", made.name);
            Ok(0)
        }
        PolicyCmd::Ls => {
            let list: Vec<NetworkPolicy> = rt.block_on(c.get("/network-policies"))?;
            println!("{:<20} {:<30} {:<8} EGRESS", "NAME", "SELECTOR", "INGRESS");
            let dir = |r: &Option<Vec<PolicyRule>>| match r {
                None => "-".to_owned(),
                Some(v) => format!("{} rules", v.len()),
            };
            for p in list {
                let sel: Vec<String> = p.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{:<20} {:<30} {:<8} {}",
                    p.name,
                    sel.join(","),
                    dir(&p.ingress),
                    dir(&p.egress)
                );
            }
            Ok(0)
        }
        PolicyCmd::Inspect { names } => {
            let mut out = Vec::new();
            for n in names {
                let p: NetworkPolicy =
                    rt.block_on(c.get(&format!("/network-policies/{}", enc(&n))))?;
                out.push(p);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
        PolicyCmd::Rm { names } => {
            if names.is_empty() {
                bail!("\"berth network policy rm\" requires at least 1 argument");
            }
            let mut code = 0;
            for n in names {
                match rt.block_on(c.json::<()>(
                    Method::DELETE,
                    &format!("/network-policies/{}", enc(&n)),
                    None::<&()>,
                )) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
    }
}
