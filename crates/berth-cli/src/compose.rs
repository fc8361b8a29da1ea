//! `berth compose`: Compose v2's commands over Berth's loader. So far `config` (the project
//! as Compose normalises it, or its services, volumes, profiles or images); the commands that
//! act on a daemon come with issue 15.

use std::path::PathBuf;

use anyhow::{Result, bail};
use berth_compose::project::{Options, load};

use crate::compose_ops;

/// Compose's project flags.
#[derive(Debug, clap::Args)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first file)
    #[arg(long)]
    project_directory: Option<PathBuf>,
    /// Specify alternate environment files
    #[arg(long = "env-file")]
    env_files: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long = "profile")]
    profiles: Vec<String>,
    #[command(subcommand)]
    cmd: ComposeCmd,
}

#[derive(Debug, clap::Subcommand)]
enum ComposeCmd {
    /// Parse, resolve and render compose file in canonical format
    Config(ConfigArgs),
    /// List containers
    Ps(PsArgs),
    /// List running compose projects
    Ls(LsArgs),
    /// Stop and remove containers, networks
    Down(DownArgs),
    /// Start services
    Start(ServicesArgs),
    /// Stop services
    Stop(TimeoutArgs),
    /// Restart service containers
    Restart(TimeoutArgs),
    /// Force stop service containers
    Kill(KillArgs),
    /// Pause services
    Pause(ServicesArgs),
    /// Unpause services
    Unpause(ServicesArgs),
    /// Removes stopped service containers
    Rm(RmArgs),
    /// Display the running processes
    Top(ServicesArgs),
    /// Print the public port for a port binding
    Port(PortArgs),
    /// Show the Docker Compose version information
    Version(VersionArgs),
    /// Create and start containers
    Up(UpArgs),
    /// View output from containers
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short, long)]
    detach: bool,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long)]
    wait_timeout: Option<u64>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    no_recreate: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long)]
    pull: Option<String>,
    /// Use this timeout in seconds for container shutdown when containers are already running
    #[arg(short, long)]
    timeout: Option<i64>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: usize,
    /// Give extended privileges to the process
    #[arg(long)]
    privileged: bool,
    /// Run the command as this user
    #[arg(short, long)]
    user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    workdir: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-tty")]
    no_tty: bool,
    service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ServicesArgs {
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct TimeoutArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    timeout: Option<i64>,
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: usize,
    service: String,
    private_port: String,
}

#[derive(Debug, clap::Args)]
struct VersionArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(short, long)]
    format: Option<String>,
    /// Shows only Compose's version number
    #[arg(long)]
    short: bool,
}

#[derive(Debug, clap::Args)]
struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    all: bool,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display services
    #[arg(long)]
    services: bool,
    /// Format the output. Values: [table | json]
    #[arg(long)]
    format: Option<String>,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    status: Vec<String>,
    services_named: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    all: bool,
    /// Only display project names
    #[arg(short, long)]
    quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, clap::Args)]
struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    timeout: Option<i64>,
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long, default_value = "yaml")]
    format: String,
    /// Print the service names, one per line.
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    volumes: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    profiles: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    images: bool,
    /// Print the service config hash, one per line (`*` for every service)
    #[arg(long)]
    hash: Option<String>,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    quiet: bool,
    /// Save to file (default to stdout)
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn compose(g: &crate::Global, a: ComposeArgs) -> Result<i32> {
    let environment = std::env::vars().collect();
    // COMPOSE_FILE (`:`-separated) when no -f is given, as Compose reads it.
    let files = if a.files.is_empty() {
        std::env::var("COMPOSE_FILE")
            .map(|f| {
                f.split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        a.files
    };
    let o = Options {
        files,
        project_dir: a.project_directory,
        name: a.project_name,
        environment,
        env_files: a.env_files,
        profiles: a.profiles,
    };
    match a.cmd {
        ComposeCmd::Config(c) => config(&o, c),
        ComposeCmd::Ls(l) => {
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_ops::ls(&c, l.all, l.quiet, l.format.as_deref()))
        }
        ComposeCmd::Ps(p) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            let po = compose_ops::PsOptions {
                all: p.all,
                quiet: p.quiet,
                services: p.services,
                format: p.format.as_deref(),
                status: &p.status,
                only: &p.services_named,
            };
            rt.block_on(compose_ops::ps(&c, &name, &po))
        }
        ComposeCmd::Version(v) => {
            let version = env!("CARGO_PKG_VERSION");
            if v.short {
                println!("{version}");
            } else if v.format.as_deref() == Some("json") {
                println!("{}", serde_json::json!({ "version": version }));
            } else {
                println!("Berth Compose version {version}");
            }
            Ok(0)
        }
        ComposeCmd::Up(u) => {
            if !u.detach && !u.wait {
                bail!("berth compose up runs detached only for now: use -d (or --wait)");
            }
            if u.pull
                .as_deref()
                .is_some_and(|p| p != "never" && p != "missing")
            {
                bail!(
                    "berth compose up does not pull yet (--pull {})",
                    u.pull.unwrap_or_default()
                );
            }
            let mut project = load(&o)?;
            if !u.services.is_empty() {
                // The named services and what they depend on.
                let mut keep: Vec<String> = Vec::new();
                let mut todo = u.services.clone();
                while let Some(s) = todo.pop() {
                    if keep.contains(&s) {
                        continue;
                    }
                    let svc = project
                        .services
                        .get(&s)
                        .ok_or_else(|| anyhow::anyhow!("no such service: {s}"))?;
                    todo.extend(svc.depends_on.keys().cloned());
                    keep.push(s);
                }
                project.services.retain(|k, _| keep.contains(k));
            }
            let order = start_order(&project);
            let uo = crate::compose_up::UpOptions {
                wait: u.wait,
                wait_timeout: u.wait_timeout,
                force_recreate: u.force_recreate,
                no_recreate: u.no_recreate,
                timeout: u.timeout,
                config_files: project.config_files.clone(),
                working_dir: project.working_dir.clone(),
                order,
            };
            let _ = (u.no_build, u.remove_orphans);
            let (rt, c) = crate::connect(g)?;
            rt.block_on(crate::compose_up::up(&c, &project, &uo))
        }
        ComposeCmd::Logs(l) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            let lo = compose_ops::LogsOptions {
                services: &l.services,
                follow: l.follow,
                tail: &l.tail,
                timestamps: l.timestamps,
                since: l.since.as_deref().map(crate::logs::time_flag),
                until: l.until.as_deref().map(crate::logs::time_flag),
                no_prefix: l.no_log_prefix,
            };
            rt.block_on(compose_ops::logs(&c, &name, &lo))
        }
        ComposeCmd::Exec(x) => {
            let (name, _) = project_of(&o)?;
            let container = format!("{name}-{}-{}", x.service, x.index);
            let tty = !x.no_tty && nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
            crate::exec::exec(
                g,
                crate::exec::ExecArgs {
                    detach: x.detach,
                    env: x.env,
                    workdir: x.workdir,
                    user: x.user,
                    privileged: x.privileged,
                    interactive: !x.detach,
                    tty,
                    container,
                    command: x.command,
                },
            )
        }
        ComposeCmd::Top(s) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_ops::top(&c, &name, &s.services))
        }
        ComposeCmd::Port(p) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_ops::port(
                &c,
                &name,
                &p.service,
                &p.private_port,
                &p.protocol,
                p.index,
            ))
        }
        ComposeCmd::Rm(r) if !r.force => {
            anyhow::bail!("berth compose rm needs -f (it does not prompt)")
        }
        cmd @ (ComposeCmd::Start(_)
        | ComposeCmd::Stop(_)
        | ComposeCmd::Restart(_)
        | ComposeCmd::Kill(_)
        | ComposeCmd::Pause(_)
        | ComposeCmd::Unpause(_)
        | ComposeCmd::Rm(_)) => {
            let (name, project) = project_of(&o)?;
            let order = project.map(|p| start_order(&p));
            let (action, services, timeout, signal, volumes, stop_first) = match &cmd {
                ComposeCmd::Start(s) => (
                    compose_ops::Action::Start,
                    &s.services,
                    None,
                    None,
                    false,
                    false,
                ),
                ComposeCmd::Stop(s) => (
                    compose_ops::Action::Stop,
                    &s.services,
                    s.timeout,
                    None,
                    false,
                    false,
                ),
                ComposeCmd::Restart(s) => (
                    compose_ops::Action::Restart,
                    &s.services,
                    s.timeout,
                    None,
                    false,
                    false,
                ),
                ComposeCmd::Kill(k) => (
                    compose_ops::Action::Kill,
                    &k.services,
                    None,
                    k.signal.as_deref(),
                    false,
                    false,
                ),
                ComposeCmd::Pause(s) => (
                    compose_ops::Action::Pause,
                    &s.services,
                    None,
                    None,
                    false,
                    false,
                ),
                ComposeCmd::Unpause(s) => (
                    compose_ops::Action::Unpause,
                    &s.services,
                    None,
                    None,
                    false,
                    false,
                ),
                ComposeCmd::Rm(r) => (
                    compose_ops::Action::Remove,
                    &r.services,
                    None,
                    None,
                    r.volumes,
                    r.stop,
                ),
                _ => unreachable!("matched above"),
            };
            let eo = compose_ops::EachOptions {
                services,
                order,
                timeout,
                signal,
                volumes,
                stop_first,
            };
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_ops::each(&c, &name, action, &eo))
        }
        ComposeCmd::Down(d) => {
            let (name, project) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            let dopts = compose_ops::DownOptions {
                volumes: d.volumes,
                remove_orphans: d.remove_orphans,
                timeout: d.timeout,
                order: project.map(|p| start_order(&p)),
            };
            rt.block_on(compose_ops::down(&c, &name, &dopts))
        }
    }
}

/// The project's name, and the project when its files load: `-p` (or
/// `COMPOSE_PROJECT_NAME`) alone is enough for the commands that only look at labels.
fn project_of(o: &Options) -> Result<(String, Option<berth_compose::model::Project>)> {
    match load(o) {
        Ok(p) => Ok((p.name.clone(), Some(p))),
        Err(e) => {
            let given = o
                .name
                .clone()
                .or_else(|| o.environment.get("COMPOSE_PROJECT_NAME").cloned())
                .filter(|n| !n.is_empty());
            match given {
                Some(n) => Ok((berth_compose::project_name(&n)?.to_owned(), None)),
                None => Err(e.into()),
            }
        }
    }
}

/// Services in an order that starts dependencies first.
fn start_order(p: &berth_compose::model::Project) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    fn visit(
        p: &berth_compose::model::Project,
        name: &str,
        out: &mut Vec<String>,
        seen: &mut Vec<String>,
    ) {
        if out.iter().any(|x| x == name) || seen.iter().any(|x| x == name) {
            return;
        }
        seen.push(name.to_owned());
        if let Some(s) = p.services.get(name) {
            for d in s.depends_on.keys() {
                visit(p, d, out, seen);
            }
        }
        out.push(name.to_owned());
    }
    let mut seen = Vec::new();
    for name in p.services.keys() {
        visit(p, name, &mut out, &mut seen);
    }
    out
}

fn config(o: &Options, c: ConfigArgs) -> Result<i32> {
    let p = load(o)?;
    if c.quiet {
        return Ok(0);
    }
    let lines = |v: Vec<String>| v.into_iter().map(|s| s + "\n").collect::<String>();
    let text = if let Some(which) = &c.hash {
        let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
        let mut out = String::new();
        for (name, s) in &p.services {
            if wanted.contains(&"*") || wanted.contains(&name.as_str()) {
                out.push_str(&format!(
                    "{name} {}\n",
                    berth_compose::hash::service_hash(s)
                ));
            }
        }
        out
    } else if c.services {
        lines(p.services.keys().cloned().collect())
    } else if c.volumes {
        lines(p.volumes.keys().cloned().collect())
    } else if c.profiles {
        lines(p.all_profiles.clone())
    } else if c.images {
        // The image a service runs: its `image`, or the one its build makes.
        lines(
            p.services
                .iter()
                .map(|(k, s)| s.image.clone().unwrap_or_else(|| format!("{}-{k}", p.name)))
                .collect(),
        )
    } else {
        // A literal `$` is written `$$`, so the output loads again unchanged.
        let mut doc = escape_dollars(serde_json::to_value(&p)?);
        match c.format.as_str() {
            "json" => serde_json::to_string_pretty(&doc)? + "\n",
            "yaml" => {
                // Compose's YAML leaves out what is not set (its JSON prints `command: null`
                // and `ipam: {}`).
                if let Some(services) = doc.get_mut("services").and_then(|s| s.as_object_mut()) {
                    for s in services.values_mut().filter_map(|s| s.as_object_mut()) {
                        s.retain(|_, v| !v.is_null());
                    }
                }
                if let Some(nets) = doc.get_mut("networks").and_then(|s| s.as_object_mut()) {
                    for n in nets.values_mut().filter_map(|n| n.as_object_mut()) {
                        n.retain(|k, v| {
                            !(k == "ipam" && v.as_object().is_some_and(|m| m.is_empty()))
                        });
                    }
                }
                serde_yaml_ng::to_string(&doc)?
            }
            other => bail!("unsupported format {other:?}"),
        }
    };
    match c.output {
        Some(path) => std::fs::write(&path, text)?,
        None => print!("{text}"),
    }
    Ok(0)
}

fn escape_dollars(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.into_iter().map(escape_dollars).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, escape_dollars(v))).collect())
        }
        other => other,
    }
}
