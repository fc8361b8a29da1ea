//! `berth dashboard user add|passwd|rm|ls` (the web dashboard's users) and
//! `berth sandbox run|ls|rm|extend` (throwaway containers of allowed images): Berth
//! extensions, through the daemon (docs/dashboard.md).

use std::io::Read as _;

use anyhow::{Result, anyhow, bail};
use berth_client::{Method, enc};
use berth_models::dashboard::{Sandbox, SandboxRequest, User, UserRequest};
use clap::Subcommand;

use crate::{Global, connect};

#[derive(Debug, Subcommand)]
pub enum DashboardCmd {
    /// Manage the dashboard's users
    #[command(subcommand)]
    User(UserCmd),
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user (roles: admin, operator, viewer)
    Add {
        name: String,
        #[arg(long)]
        role: String,
        /// Read the password from stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's password
    Passwd {
        name: String,
        /// Read the password from stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove users
    #[command(alias = "remove")]
    Rm { names: Vec<String> },
    /// List the users
    #[command(alias = "list")]
    Ls,
}

/// The password: from stdin (its first line), or asked on the terminal twice.
fn password(stdin: bool) -> Result<String> {
    if stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let p = s.lines().next().unwrap_or("").to_owned();
        if p.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(p);
    }
    let a = crate::term::read_secret(
        "Password: ",
        "no password: use --password-stdin, or run on a terminal",
    )?;
    let b = crate::term::read_secret(
        "Password (again): ",
        "no password: use --password-stdin, or run on a terminal",
    )?;
    if a != b {
        bail!("the passwords differ");
    }
    Ok(a)
}

pub fn dashboard(g: &Global, cmd: DashboardCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let DashboardCmd::User(cmd) = cmd;
    match cmd {
        UserCmd::Add {
            name,
            role,
            password_stdin,
        } => {
            let req = UserRequest {
                name,
                role,
                password: password(password_stdin)?,
            };
            let u: User = rt.block_on(c.post("/dashboard/users", &req))?;
            println!("{}", u.name);
        }
        UserCmd::Passwd {
            name,
            password_stdin,
        } => {
            let req = UserRequest {
                password: password(password_stdin)?,
                ..Default::default()
            };
            rt.block_on(c.json::<()>(
                Method::POST,
                &format!("/dashboard/users/{}/password", enc(&name)),
                Some(&req),
            ))?;
        }
        UserCmd::Rm { names } => {
            if names.is_empty() {
                bail!("\"berth dashboard user rm\" requires at least 1 argument");
            }
            let mut code = 0;
            for n in names {
                match rt.block_on(
                    c.send_empty::<()>(Method::DELETE, &format!("/dashboard/users/{}", enc(&n))),
                ) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        UserCmd::Ls => {
            let list: Vec<User> = rt.block_on(c.get("/dashboard/users"))?;
            println!("{:<24} {:<10} CREATED", "NAME", "ROLE");
            for u in list {
                println!("{:<24} {:<10} {}", u.name, u.role, u.created);
            }
        }
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Start a sandbox of an allowed image (its shell: `berth exec -it NAME sh`)
    Run {
        image: String,
        /// Time to live (30m, 2h; default and maximum: the daemon's)
        #[arg(long)]
        ttl: Option<String>,
        /// The owner (default: cli)
        #[arg(long)]
        owner: Option<String>,
    },
    /// List sandboxes
    #[command(alias = "list")]
    Ls {
        /// Only this owner's
        #[arg(long)]
        owner: Option<String>,
    },
    /// Remove sandboxes
    #[command(alias = "remove")]
    Rm { names: Vec<String> },
    /// Give a sandbox more time
    Extend {
        name: String,
        /// How much (default 30m)
        #[arg(long, default_value = "30m")]
        by: String,
    },
}

fn secs(v: &str) -> Result<i64> {
    berth_units::parse_go_duration(v)
        .filter(|n| *n > 0)
        .map(|n| n / 1_000_000_000)
        .ok_or_else(|| anyhow!("invalid duration {v:?}: such as 30m or 2h"))
}

fn left(expires: i64) -> String {
    let l = expires - berth_units::now();
    if l <= 0 {
        "expired".into()
    } else {
        format!("{}m{:02}s", l / 60, l % 60)
    }
}

pub fn sandbox(g: &Global, cmd: SandboxCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        SandboxCmd::Run { image, ttl, owner } => {
            let req = SandboxRequest {
                image,
                owner: owner.unwrap_or_default(),
                ttl: ttl.as_deref().map(secs).transpose()?.unwrap_or(0),
            };
            let s: Sandbox = rt.block_on(c.post("/sandboxes", &req))?;
            println!("{}", s.name);
        }
        SandboxCmd::Ls { owner } => {
            let q = berth_client::query(&[("owner", owner.as_deref().unwrap_or(""))]);
            let list: Vec<Sandbox> = rt.block_on(c.get(&format!("/sandboxes{q}")))?;
            println!(
                "{:<14} {:<24} {:<20} {:<12} {:<10} TIME LEFT",
                "ID", "NAME", "IMAGE", "OWNER", "STATE"
            );
            for s in list {
                println!(
                    "{:<14} {:<24} {:<20} {:<12} {:<10} {}",
                    &s.id[..12.min(s.id.len())],
                    s.name,
                    s.image,
                    s.owner,
                    s.state,
                    left(s.expires)
                );
            }
        }
        SandboxCmd::Rm { names } => {
            if names.is_empty() {
                bail!("\"berth sandbox rm\" requires at least 1 argument");
            }
            let mut code = 0;
            for n in names {
                match rt.block_on(
                    c.send_empty::<()>(Method::DELETE, &format!("/sandboxes/{}", enc(&n))),
                ) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        SandboxCmd::Extend { name, by } => {
            let q = berth_client::query(&[("seconds", &secs(&by)?.to_string())]);
            let v: serde_json::Value = rt.block_on(c.send_empty(
                Method::POST,
                &format!("/sandboxes/{}/extend{q}", enc(&name)),
            ))?;
            println!("{name}: {} left", left(v["Expires"].as_i64().unwrap_or(0)));
        }
    }
    Ok(0)
}
