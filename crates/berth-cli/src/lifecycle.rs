//! Container lifecycle commands: `stop`, `kill`, `rm`, `wait`, `pause`, `unpause`,
//! `restart`, `rename`, `update`, `top`, `container prune`.

use anyhow::{Result, anyhow};
use berth_client::{Method, query};
use berth_models::container::{PruneResponse, RestartPolicy, Top, UpdateRequest, WaitResponse};
use clap::Args;

use crate::output::{confirm, each_object};
use crate::run::flags::{nano_cpus, ram_in_bytes};
use crate::{Global, connect};

/// One request per container, printing its name on success (docker's style).
fn each(g: &Global, names: &[String], req: impl Fn(&str) -> (Method, String)) -> Result<i32> {
    let (rt, c) = connect(g)?;
    each_object(&rt, &c, names, false, req)
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn stop(g: &Global, a: StopArgs) -> Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let qs = query(&q.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/stop{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(g: &Global, a: KillArgs) -> Result<i32> {
    let qs = query(&[("signal", a.signal.as_str())]);
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/kill{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(g: &Global, a: RmArgs) -> Result<i32> {
    let qs = match (a.force, a.volumes) {
        (true, true) => "?force=1&v=1",
        (true, false) => "?force=1",
        (false, true) => "?v=1",
        (false, false) => "",
    };
    each(g, &a.containers, |n| {
        (Method::DELETE, format!("/containers/{n}{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn wait(g: &Global, a: WaitArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in &a.containers {
        match rt
            .block_on(c.send_empty::<WaitResponse>(Method::POST, &format!("/containers/{n}/wait")))
        {
            Ok(v) => println!("{}", v.status_code),
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn pause(g: &Global, a: NamesArgs) -> Result<i32> {
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/pause"))
    })
}

pub fn unpause(g: &Global, a: NamesArgs) -> Result<i32> {
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/unpause"))
    })
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn restart(g: &Global, a: RestartArgs) -> Result<i32> {
    let qs = a.time.map(|t| format!("?t={t}")).unwrap_or_default();
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/restart{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

pub fn rename(g: &Global, a: RenameArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    crate::run::start::post_empty(
        &rt,
        &c,
        &format!(
            "/containers/{}/rename{}",
            a.container,
            query(&[("name", a.new_name.as_str())])
        ),
    )?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct TopArgs {
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn top(g: &Global, a: TopArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v: Top = rt.block_on(c.get(&format!(
        "/containers/{}/top{}",
        a.container,
        query(&[("ps_args", a.ps_args.join(" ").as_str())])
    )))?;
    let mut rows = vec![v.titles];
    rows.extend(v.processes);
    print!("{}", crate::units::table(&rows));
    Ok(0)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> Result<i32> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let (rt, c) = connect(g)?;
    let v: PruneResponse = rt.block_on(c.send_empty(Method::POST, "/containers/prune"))?;
    print_deleted("Deleted Containers:", v.containers_deleted.as_deref());
    println!(
        "Total reclaimed space: {}",
        crate::units::human_size(v.space_reclaimed as f64)
    );
    Ok(0)
}

/// A prune's list of what went (nothing when empty), as docker prints it.
pub fn print_deleted(title: &str, items: Option<&[String]>) {
    let items = items.unwrap_or_default();
    if !items.is_empty() {
        println!("{title}");
        for i in items {
            println!("{i}");
        }
        println!();
    }
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn update(g: &Global, a: UpdateArgs) -> Result<i32> {
    let mut body = UpdateRequest::default();
    let r = &mut body.resources;
    if let Some(m) = &a.memory {
        r.memory = ram_in_bytes("-m, --memory", m)?;
    }
    if let Some(m) = &a.memory_swap {
        r.memory_swap = if m == "-1" {
            -1
        } else {
            ram_in_bytes("--memory-swap", m)?
        };
    }
    if let Some(cpus) = &a.cpus {
        r.nano_cpus = nano_cpus(cpus)?;
    }
    r.cpu_shares = a.cpu_shares.unwrap_or(0);
    r.pids_limit = a.pids_limit;
    if let Some(p) = &a.restart {
        let (name, max) = match p.split_once(':') {
            Some((n, m)) => (
                n,
                m.parse::<i64>()
                    .map_err(|_| anyhow!("invalid restart policy {p}"))?,
            ),
            None => (p.as_str(), 0),
        };
        body.restart_policy = Some(RestartPolicy {
            name: name.to_owned(),
            maximum_retry_count: max,
        });
    }
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in &a.containers {
        match rt.block_on(
            c.post::<berth_models::container::Warnings>(&format!("/containers/{n}/update"), &body),
        ) {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}
