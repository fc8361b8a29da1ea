//! `exec`: a process in a running container, attached (hijacked with `-i`/`-t`) or
//! detached; exits with its code.

use anyhow::Result;
use berth_client::{Client, Demux, Method};
use berth_models::IdResponse;
use berth_models::exec::{CreateRequest, Inspect, StartRequest};
use clap::Args;

use crate::term::{RawMode, pump, resize};
use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub(crate) env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub(crate) workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub(crate) user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub(crate) privileged: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(crate) tty: bool,
    pub(crate) container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) command: Vec<String>,
}

pub fn exec(g: &Global, a: ExecArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let body = CreateRequest {
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        attach_stdin: a.interactive && !a.detach,
        tty: a.tty,
        cmd: Some(a.command.clone()),
        env: Some(a.env.clone()),
        working_dir: a.workdir.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        privileged: a.privileged,
        ..Default::default()
    };
    let created: IdResponse =
        match rt.block_on(c.post(&format!("/containers/{}/exec", a.container), &body)) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                return Ok(1);
            }
        };
    let id = created.id;
    let start = StartRequest {
        detach: a.detach,
        tty: a.tty,
        ..Default::default()
    };
    if (a.interactive || a.tty) && !a.detach {
        let io = rt.block_on(c.hijack(Method::POST, &format!("/exec/{id}/start"), Some(&start)))?;
        let resize_path = format!("/exec/{id}/resize");
        if a.tty {
            resize(&rt, &c, &resize_path);
        }
        let raw = if a.tty {
            RawMode::enable()
        } else {
            RawMode(None)
        };
        let detached = pump(&rt, &c, io, a.tty, &resize_path)?;
        drop(raw);
        if detached {
            return Ok(0);
        }
        return exec_exit_code(&rt, &c, &id);
    }
    let started = rt.block_on(c.call(
        Method::POST,
        &format!("/exec/{id}/start"),
        &[("Content-Type", "application/json".to_owned())],
        berth_client::full(serde_json::to_vec(&start)?),
    ))?;
    if a.detach {
        return Ok(0);
    }
    let mut d = Demux::default();
    rt.block_on(berth_client::body_chunks(started, |chunk| {
        d.push(chunk, crate::run::start::write_stream)
    }))?;
    exec_exit_code(&rt, &c, &id)
}

/// The exit code of a finished exec (it follows the end of its stream shortly).
fn exec_exit_code(rt: &tokio::runtime::Runtime, c: &Client, id: &str) -> Result<i32> {
    for _ in 0..500 {
        let v: Inspect = rt.block_on(c.get(&format!("/exec/{id}/json")))?;
        if let Some(code) = v.exit_code.filter(|_| !v.running) {
            return Ok(code as i32);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(126)
}
