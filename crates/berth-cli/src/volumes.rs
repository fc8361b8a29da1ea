//! `volume create/ls/inspect/rm/prune`, with docker's flags and output.

use anyhow::Result;
use berth_client::{Method, enc};
use berth_models::volume::{CreateRequest, ListResponse, PruneResponse, Volume};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;

use crate::networks::kv_map;
use crate::output::{
    confirm, each_object, filters, filters_query, labels_text, print_inspected, print_list,
};

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

/// One row of `volume ls`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    driver: String,
    scope: String,
    mountpoint: String,
    labels: String,
    created_at: String,
}

pub fn volume(g: &Global, cmd: VolumeCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        VolumeCmd::Create(a) => {
            let body = CreateRequest {
                name: a.name.clone().unwrap_or_default(),
                driver: a.driver.clone(),
                driver_opts: Some(kv_map("--opt", &a.opt)?),
                labels: Some(kv_map("--label", &a.label)?),
            };
            let v: Volume = rt.block_on(c.post("/volumes/create", &body))?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCmd::Ls(a) => {
            let v: ListResponse =
                rt.block_on(c.get(&format!("/volumes{}", filters_query(&filters(&a.filter)?))))?;
            let rows: Vec<Row> = v
                .volumes
                .into_iter()
                .map(|v| Row {
                    id: v.name.clone(),
                    name: v.name,
                    driver: v.driver,
                    scope: v.scope,
                    mountpoint: v.mountpoint,
                    labels: labels_text(&v.labels),
                    created_at: v.created_at,
                })
                .collect();
            print_list(
                a.quiet,
                |r: &Row| r.id.as_str(),
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
                match rt.block_on(c.get::<Value>(&format!("/volumes/{}", enc(n)))) {
                    Ok(v) => found.push(v),
                    Err(e @ berth_client::Error::Api { status: 404, .. }) => {
                        eprintln!("{}", crate::describe(&e.into()));
                        code = 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            print_inspected(found, a.format.as_deref())?;
            Ok(code)
        }
        VolumeCmd::Rm(a) => {
            let qs = if a.force { "?force=1" } else { "" };
            each_object(&rt, &c, &a.names, false, |n| {
                (Method::DELETE, format!("/volumes/{}{qs}", enc(n)))
            })
        }
        VolumeCmd::Prune(a) => {
            if !a.force
                && !confirm(
                    "WARNING! This will remove anonymous local volumes not used by at least one container.",
                )?
            {
                return Ok(0);
            }
            let mut f = filters(&a.filter)?;
            if a.all {
                f.add("all", "true");
            }
            let v: PruneResponse = rt.block_on(c.send_empty(
                Method::POST,
                &format!("/volumes/prune{}", filters_query(&f)),
            ))?;
            crate::lifecycle::print_deleted("Deleted Volumes:", v.volumes_deleted.as_deref());
            println!(
                "Total reclaimed space: {}",
                crate::units::human_size(v.space_reclaimed as f64)
            );
            Ok(0)
        }
    }
}
