//! `volume create/ls/inspect/rm/prune`, with docker's flags and output.

use anyhow::{Result, bail};
use berth_client::{Method, query};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Global, connect};

#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options (type, device, o)
    #[arg(short, long)]
    opt: Vec<String>,
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
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
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

fn kv(flag: &str, items: &[String]) -> Result<serde_json::Map<String, Value>> {
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

fn filters_query(filters: &[String], extra: &[(&str, &str)]) -> Result<String> {
    let mut all: Vec<String> = filters.to_vec();
    all.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    Ok(match crate::containers::filters_json(&all)? {
        Some(f) => query(&[("filters", &f)]),
        None => String::new(),
    })
}

pub fn volume(g: &Global, cmd: VolumeCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        VolumeCmd::Create(a) => {
            let body = json!({
                "Name": a.name.clone().unwrap_or_default(),
                "Driver": a.driver,
                "DriverOpts": kv("--opt", &a.opt)?,
                "Labels": kv("--label", &a.label)?,
            });
            let v = rt.block_on(c.json(Method::POST, "/volumes/create", Some(&body)))?;
            println!("{}", v["Name"].as_str().unwrap_or_default());
            Ok(0)
        }
        VolumeCmd::Ls(a) => {
            let v = rt.block_on(c.get(&format!("/volumes{}", filters_query(&a.filter, &[])?)))?;
            let rows: Vec<Value> = v["Volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    json!({
                        "ID": v["Name"], "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"],
                        "Mountpoint": v["Mountpoint"], "Labels": crate::images::labels_text(&v["Labels"]),
                        "CreatedAt": v["CreatedAt"],
                    })
                })
                .collect();
            crate::images::print_list(
                a.quiet,
                a.format.as_deref(),
                &[("Driver", "DRIVER"), ("Name", "VOLUME NAME")],
                &[
                    ("Driver", "DRIVER"),
                    ("Name", "VOLUME NAME"),
                    ("Scope", "SCOPE"),
                    ("Mountpoint", "MOUNTPOINT"),
                    ("Labels", "LABELS"),
                    ("CreatedAt", "CREATED AT"),
                ],
                &rows,
            )?;
            Ok(0)
        }
        VolumeCmd::Inspect(a) => {
            let mut found = Vec::new();
            let mut code = 0;
            for n in &a.names {
                match rt.block_on(c.get(&format!("/volumes/{}", berth_client::enc(n)))) {
                    Ok(v) => found.push(v),
                    Err(e @ berth_client::Error::Api { status: 404, .. }) => {
                        eprintln!("{}", crate::describe(&e.into()));
                        code = 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            crate::images::print_inspected(found, a.format.as_deref())?;
            Ok(code)
        }
        VolumeCmd::Rm(a) => {
            let qs = if a.force { "?force=1" } else { "" };
            crate::containers::each_object(g, &a.names, false, |n| {
                (
                    Method::DELETE,
                    format!("/volumes/{}{qs}", berth_client::enc(n)),
                )
            })
        }
        VolumeCmd::Prune(a) => {
            if !a.force {
                eprint!(
                    "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
                    return Ok(0);
                }
            }
            let extra: &[(&str, &str)] = if a.all { &[("all", "true")] } else { &[] };
            let v = rt.block_on(c.json(
                Method::POST,
                &format!("/volumes/prune{}", filters_query(&a.filter, extra)?),
                None,
            ))?;
            let gone = v["VolumesDeleted"].as_array().cloned().unwrap_or_default();
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for n in gone {
                    println!("{}", n.as_str().unwrap_or_default());
                }
                println!();
            }
            println!(
                "Total reclaimed space: {}",
                crate::units::human_size(v["SpaceReclaimed"].as_f64().unwrap_or(0.0))
            );
            Ok(0)
        }
    }
}
