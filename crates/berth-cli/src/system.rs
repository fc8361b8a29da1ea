//! `system df`, `system prune`, `info`, `version`.

use anyhow::Result;
use berth_client::{Method, query};
use berth_models::system::{DiskUsage, Info, Version};
use clap::Args;
use serde::Serialize;

use crate::lifecycle::print_deleted;
use crate::output::confirm;
use crate::{Global, connect};

#[derive(Debug, clap::Subcommand)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df,
    /// Remove unused data (stopped containers, dangling images; with -a all unused images)
    Prune(SystemPruneArgs),
    /// Display system-wide information (as `info`)
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn system(g: &Global, cmd: SystemCmd) -> Result<i32> {
    match cmd {
        SystemCmd::Df => df(g),
        SystemCmd::Prune(a) => prune(g, a),
        SystemCmd::Info(a) => info(g, a),
    }
}

fn df(g: &Global) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v: DiskUsage = rt.block_on(c.get("/system/df"))?;
    let pct = |a: f64, b: f64| {
        if b > 0.0 {
            (a / b * 100.0).round().abs()
        } else {
            0.0
        }
    };
    let sum = |it: &mut dyn Iterator<Item = i64>| it.map(|x| x as f64).sum::<f64>();
    let imgs = &v.images;
    let active_imgs = imgs.iter().filter(|i| i.containers > 0).count();
    let img_size = sum(&mut imgs.iter().map(|i| i.size));
    let img_free = sum(&mut imgs.iter().filter(|i| i.containers == 0).map(|i| i.size));
    let ctrs = &v.containers;
    let active_ctrs = ctrs.iter().filter(|c| c.state == "running").count();
    let ctr_size = sum(&mut ctrs.iter().map(|c| c.size_rw.unwrap_or(0)));
    let ctr_free = sum(&mut ctrs
        .iter()
        .filter(|c| c.state != "running")
        .map(|c| c.size_rw.unwrap_or(0)));
    let vols = &v.volumes;
    let usage = |x: &berth_models::volume::Volume| x.usage_data.clone().unwrap_or_default();
    let active_vols = vols.iter().filter(|x| usage(x).ref_count > 0).count();
    let vol_size = sum(&mut vols.iter().map(|x| usage(x).size.max(0)));
    let vol_free = sum(&mut vols
        .iter()
        .filter(|x| usage(x).ref_count == 0)
        .map(|x| usage(x).size.max(0)));
    // TYPE TOTAL ACTIVE SIZE RECLAIMABLE, sizes with docker's four digits.
    let size = |b: f64| crate::units::human_size_precision(b, 4);
    let row = |kind: &str, total: usize, active: usize, bytes: f64, free: f64| {
        vec![
            kind.to_owned(),
            total.to_string(),
            active.to_string(),
            size(bytes),
            format!("{} ({}%)", size(free), pct(free, bytes)),
        ]
    };
    let rows = vec![
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(str::to_owned)
            .to_vec(),
        row("Images", imgs.len(), active_imgs, img_size, img_free),
        row("Containers", ctrs.len(), active_ctrs, ctr_size, ctr_free),
        row("Local Volumes", vols.len(), active_vols, vol_size, vol_free),
        ["Build Cache", "0", "0", "0B", "0B"]
            .map(str::to_owned)
            .to_vec(),
    ];
    print!("{}", crate::units::table(&rows));
    Ok(0)
}

fn prune(g: &Global, a: SystemPruneArgs) -> Result<i32> {
    if !a.force {
        let what = format!(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{}  - all {} images without at least one container associated to them\n",
            if a.volumes {
                "  - all anonymous volumes not used by at least one container\n"
            } else {
                ""
            },
            if a.all { "" } else { "dangling" }
        );
        if !confirm(&what)? {
            return Ok(0);
        }
    }
    let (rt, c) = connect(g)?;
    let cs: berth_models::container::PruneResponse =
        rt.block_on(c.send_empty(Method::POST, "/containers/prune"))?;
    let ns: berth_models::network::PruneResponse =
        rt.block_on(c.send_empty(Method::POST, "/networks/prune"))?;
    let vs: berth_models::volume::PruneResponse = if a.volumes {
        rt.block_on(c.send_empty(Method::POST, "/volumes/prune"))?
    } else {
        Default::default()
    };
    let filters = if a.all {
        "{\"dangling\":[\"false\"]}"
    } else {
        "{}"
    };
    let is: berth_models::image::PruneResponse = rt.block_on(c.send_empty(
        Method::POST,
        &format!("/images/prune{}", query(&[("filters", filters)])),
    ))?;
    print_deleted("Deleted Containers:", cs.containers_deleted.as_deref());
    print_deleted("Deleted Networks:", ns.networks_deleted.as_deref());
    print_deleted("Deleted Volumes:", vs.volumes_deleted.as_deref());
    crate::images::print_deleted_images(is.images_deleted.as_deref(), true);
    let total = cs.space_reclaimed + vs.space_reclaimed + is.space_reclaimed;
    println!(
        "Total reclaimed space: {}",
        crate::units::human_size(total as f64)
    );
    Ok(0)
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

fn info(g: &Global, a: InfoArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let i: Info = rt.block_on(c.get("/info"))?;
    if let Some(f) = &a.format {
        let t = crate::template::Template::parse(&f.replace("\\n", "\n").replace("\\t", "\t"))?;
        println!("{}", t.render(&serde_json::to_value(&i)?)?);
        return Ok(0);
    }
    println!("Server:");
    for (label, value) in [
        ("Containers", i.containers.to_string()),
        (" Running", i.containers_running.to_string()),
        (" Paused", i.containers_paused.to_string()),
        (" Stopped", i.containers_stopped.to_string()),
        ("Images", i.images.to_string()),
        ("Server Version", i.server_version),
        ("Storage Driver", i.driver),
        ("Logging Driver", i.logging_driver),
        ("Cgroup Driver", i.cgroup_driver),
        ("Cgroup Version", i.cgroup_version),
        ("Default Runtime", i.default_runtime),
        ("Kernel Version", i.kernel_version),
        ("Operating System", i.operating_system),
        ("Architecture", i.architecture),
        ("CPUs", i.ncpu.to_string()),
        ("Berth Root Dir", i.docker_root_dir),
    ] {
        println!(" {label}: {value}");
    }
    println!(" Security Options:");
    for o in &i.security_options {
        let mut parts = o.split(',');
        let name = parts.next().unwrap_or_default().trim_start_matches("name=");
        println!("  {name}");
        for kv in parts {
            if let Some((k, v)) = kv.split_once('=') {
                let mut k = k.to_owned();
                k[..1].make_ascii_uppercase();
                println!("   {k}: {v}");
            }
        }
    }
    let d = &i.container_defaults;
    println!(" Container Defaults:");
    let pids = if d.pids_limit > 0 {
        d.pids_limit.to_string()
    } else {
        "none".into()
    };
    let memory = if d.memory > 0 {
        crate::units::human_size(d.memory as f64)
    } else {
        "none".into()
    };
    println!("  Pids Limit: {pids}");
    println!("  Memory: {memory}");
    println!("  No New Privileges: {}", d.no_new_privileges);
    println!("  Seccomp Profile: {}", d.seccomp_profile);
    println!("  Capabilities: {}", d.capabilities.join(" "));
    Ok(0)
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

/// The client's part of `version`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientVersion {
    platform: berth_models::system::Platform,
    version: String,
    api_version: String,
    #[serde(rename = "DefaultAPIVersion")]
    default_api_version: String,
    git_commit: String,
    go_version: String,
    os: String,
    arch: String,
    build_time: String,
    context: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersionOutput<'a> {
    client: ClientVersion,
    server: Option<&'a Version>,
}

/// `version`: the client's and the daemon's versions, as docker prints them (the client part
/// alone, and exit 1, when no daemon answers).
pub fn version(g: &Global, a: VersionArgs) -> Result<i32> {
    let client = ClientVersion {
        platform: berth_models::system::Platform {
            name: "Berth".into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: berth_client::API_VERSION.into(),
        default_api_version: berth_client::API_VERSION.into(),
        git_commit: String::new(),
        go_version: String::new(),
        os: "linux".into(),
        arch: std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64"),
        build_time: String::new(),
        context: "default".into(),
    };
    let server: Result<Version> =
        connect(g).and_then(|(rt, c)| Ok(rt.block_on(c.get("/version"))?));
    if let Some(f) = &a.format {
        let t = crate::template::Template::parse(&f.replace("\\n", "\n").replace("\\t", "\t"))?;
        let v = serde_json::to_value(VersionOutput {
            client,
            server: server.as_ref().ok(),
        })?;
        println!("{}", t.render(&v)?);
    } else {
        println!("Client:");
        let line = |label: &str, val: &str| println!("{:<18}{val}", format!("{label}:"));
        line(" Version", &client.version);
        line(" API version", &client.api_version);
        line(" OS/Arch", &format!("{}/{}", client.os, client.arch));
        if let Ok(s) = &server {
            println!();
            println!("Server: {}", s.platform.name);
            println!(" Engine:");
            line("  Version", &s.version);
            line(
                "  API version",
                &format!("{} (minimum version {})", s.api_version, s.min_api_version),
            );
            line("  OS/Arch", &format!("{}/{}", s.os, s.arch));
            line("  Kernel Version", &s.kernel_version);
        }
    }
    match server {
        Ok(_) => Ok(0),
        Err(e) => {
            eprintln!("{}", crate::describe(&e));
            Ok(1)
        }
    }
}
