//! `create`, `run` (detached, attached, interactive) and `start`: the create request, a pull
//! when the image is missing, attach and wait before the start (so neither the output nor the
//! exit of a quick container can be missed), docker's exit codes.

use std::io::Write;

use anyhow::Result;
use berth_client::{Client, Demux, Method, query};
use berth_models::container::{CreateResponse, Inspect, WaitResponse};
use clap::Args;

use super::CreateArgs;
use crate::{Global, connect};

/// docker's exit codes for a failed start: 127 not found, 126 not executable, 125 otherwise.
/// The daemon says it in words only (docker's CLI reads dockerd's the same way).
pub fn start_failure(e: &anyhow::Error) -> i32 {
    let m = e.to_string();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

/// Create, pulling the image first if it is missing (docker's `--pull missing`).
fn create_container(
    g: &Global,
    rt: &tokio::runtime::Runtime,
    c: &Client,
    a: &CreateArgs,
) -> Result<String> {
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(n) = &a.name {
        q.push(("name", n));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p));
    }
    let path = format!("/containers/create{}", query(&q));
    let body = a.to_request()?;
    if a.pull == "always" {
        crate::registry::pull_quietly_to_stderr(g, &a.image)?;
    }
    match rt.block_on(c.post::<CreateResponse>(&path, &body)) {
        Ok(v) => Ok(v.id),
        Err(berth_client::Error::Api {
            status: 404,
            message,
        }) if message.starts_with("No such image") && a.pull == "missing" => {
            let shown = berth_image::reference::Reference::parse(&a.image)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| a.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            crate::registry::pull_quietly_to_stderr(g, &a.image)?;
            Ok(rt.block_on(c.post::<CreateResponse>(&path, &body))?.id)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn create(g: &Global, a: CreateArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match create_container(g, &rt, &c, &a) {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", crate::describe(&e));
            Ok(125)
        }
    }
}

/// Copy a container's output (a multiplexed stream) to our stdout/stderr.
pub fn copy_output(rt: &tokio::runtime::Runtime, c: &Client, path: &str) -> Result<()> {
    let mut d = Demux::default();
    rt.block_on(c.raw_stream(Method::GET, path, |chunk| d.push(chunk, write_stream)))?;
    Ok(())
}

/// POST a request without a body, answered with nothing we read.
pub fn post_empty(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    path: &str,
) -> berth_client::Result<()> {
    rt.block_on(c.send_empty::<Option<serde_json::Value>>(Method::POST, path))
        .map(drop)
}

pub fn run(g: &Global, a: CreateArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let id = match create_container(g, &rt, &c, &a) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("{}", crate::describe(&e));
            return Ok(125);
        }
    };
    if a.detach {
        if let Err(e) = post_empty(&rt, &c, &format!("/containers/{id}/start")) {
            let e = anyhow::Error::from(e);
            eprintln!("berth: {}", crate::describe(&e));
            return Ok(start_failure(&e));
        }
        println!("{id}");
        return Ok(0);
    }
    if a.interactive || a.tty {
        return crate::term::run_interactive(&rt, &c, &id, a.tty, a.rm);
    }
    match attached_start(&rt, &c, &id, if a.rm { "removed" } else { "next-exit" })? {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("berth: {}", crate::describe(&e));
            if a.rm {
                // The daemon removes it too (dockerd's rule); an older daemon may not.
                let _ = rt.block_on(c.send_empty::<Option<serde_json::Value>>(
                    Method::DELETE,
                    &format!("/containers/{id}?force=1"),
                ));
            }
            Ok(start_failure(&e))
        }
    }
}

/// The wait for a container's `cond`, asked before its start.
pub fn wait_request(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    id: &str,
    cond: &str,
) -> Result<berth_client::Reply> {
    Ok(rt.block_on(c.call(
        Method::POST,
        &format!("/containers/{id}/wait?condition={cond}"),
        &[],
        berth_client::empty(),
    ))?)
}

/// The exit code a wait answered with.
pub fn waited_code(rt: &tokio::runtime::Runtime, waited: berth_client::Reply) -> Result<i32> {
    let w: WaitResponse = rt.block_on(berth_client::body_json(waited))?;
    Ok(w.status_code as i32)
}

/// Start a container with its output copied to ours; the exit code, or the start's error.
/// Attached and waiting before the start (the daemon answers both at once), so neither the
/// output nor the exit of a quick container (or one removed by --rm) can be missed.
fn attached_start(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    id: &str,
    cond: &str,
) -> Result<Result<i32, anyhow::Error>> {
    let attach = rt.block_on(c.call(
        Method::POST,
        &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        &[],
        berth_client::empty(),
    ))?;
    let waited = wait_request(rt, c, id, cond)?;
    if let Err(e) = post_empty(rt, c, &format!("/containers/{id}/start")) {
        return Ok(Err(e.into()));
    }
    let mut d = Demux::default();
    rt.block_on(berth_client::body_chunks(attach, |chunk| {
        d.push(chunk, write_stream);
    }))?;
    Ok(Ok(waited_code(rt, waited)?))
}

/// One demultiplexed chunk to our stdout (1) or stderr (2).
pub fn write_stream(stream: u8, data: &[u8]) {
    if stream == 2 {
        let _ = std::io::stderr().write_all(data);
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(data);
        let _ = o.flush();
    }
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn start(g: &Global, a: StartArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in &a.containers {
        let started = if a.interactive {
            // stdin (and a terminal if the container has one) as `run -i` gives it.
            let tty = rt
                .block_on(c.get::<Inspect>(&format!("/containers/{n}/json")))
                .is_ok_and(|v| v.config.tty);
            crate::term::run_interactive(&rt, &c, n, tty, false)
        } else if a.attach {
            attached_start(&rt, &c, n, "next-exit")?
        } else {
            post_empty(&rt, &c, &format!("/containers/{n}/start"))
                .map(|_| {
                    println!("{n}");
                    0
                })
                .map_err(anyhow::Error::from)
        };
        match started {
            Ok(c) if a.attach || a.interactive => code = c,
            Ok(_) => {}
            Err(e) => {
                eprintln!("{}", crate::describe(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}
