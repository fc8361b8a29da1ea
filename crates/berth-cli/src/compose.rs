//! `berth compose`: Compose v2's commands over Berth's loader — the flags, the dispatch, and
//! `config` (the project as Compose normalises it, or its services, volumes, profiles,
//! images or hashes). The commands live in `compose_up` (up, create), `compose_attach`
//! (attached up), `compose_ops` (ps, ls, down, lifecycle, logs) and `compose_cmds` (build,
//! pull, push, run, images, events, cp, wait).

use std::path::PathBuf;

use anyhow::{Result, bail};
use berth_compose::project::{Options, load};

use crate::{compose_cmds, compose_ops};

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
    Config(crate::compose_config::ConfigArgs),
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
    /// Creates containers for a service
    Create(CreateArgs),
    /// Run a one-off command on a service
    Run(Box<compose_cmds::RunFlags>),
    /// Build or rebuild services
    Build(compose_cmds::BuildFlags),
    /// Pull service images
    Pull(compose_cmds::PullFlags),
    /// Push service images
    Push(compose_cmds::PushFlags),
    /// List images used by the created containers
    Images(compose_cmds::ImagesFlags),
    /// Receive real time events from containers
    Events(compose_cmds::EventsFlags),
    /// Copy files/folders between a service container and the local filesystem
    Cp(compose_cmds::CpFlags),
    /// Block until containers of all (or specified) services stop.
    Wait(compose_cmds::WaitFlags),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(crate::compose_watch::WatchFlags),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    no_build: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build")
    #[arg(long)]
    pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long)]
    scale: Vec<String>,
    services: Vec<String>,
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
    /// Build images before starting containers
    #[arg(long)]
    build: bool,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long)]
    scale: Vec<String>,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long)]
    abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long)]
    exit_code_from: Option<String>,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    renew_anon_volumes: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    no_start: bool,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    timestamps: bool,
    /// Restrict attaching to the specified services
    #[arg(long)]
    attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long)]
    no_attach: Vec<String>,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
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
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long)]
    rmi: Option<String>,
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
        enable: Vec::new(),
    };
    match a.cmd {
        ComposeCmd::Config(c) => crate::compose_config::config(&o, c),
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
        ComposeCmd::Up(u) => up(g, o, u),
        ComposeCmd::Create(a) => {
            let u = UpArgs {
                detach: true,
                wait: false,
                wait_timeout: None,
                force_recreate: a.force_recreate,
                no_recreate: a.no_recreate,
                no_build: a.no_build,
                pull: a.pull,
                timeout: None,
                remove_orphans: a.remove_orphans,
                build: a.build,
                no_deps: false,
                scale: a.scale,
                abort_on_container_exit: false,
                exit_code_from: None,
                renew_anon_volumes: false,
                no_start: true,
                no_color: false,
                no_log_prefix: false,
                timestamps: false,
                attach: Vec::new(),
                no_attach: Vec::new(),
                quiet_pull: false,
                services: a.services,
            };
            up(g, o, u)
        }
        ComposeCmd::Run(r) => {
            let o = Options {
                enable: vec![r.service.clone()],
                ..o
            };
            let p = load(&o)?;
            let known = known_services(&p);
            compose_cmds::run(g, &p, *r, known)
        }
        ComposeCmd::Build(b) => {
            let o = Options {
                enable: b.services.clone(),
                ..o
            };
            compose_cmds::build(g, &load(&o)?, &b)
        }
        ComposeCmd::Pull(f) => compose_cmds::pull(g, &load(&o)?, &f),
        ComposeCmd::Push(f) => compose_cmds::push(g, &load(&o)?, &f),
        ComposeCmd::Images(f) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_cmds::images(&c, &name, &f))
        }
        ComposeCmd::Events(f) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_cmds::events(&c, &name, &f))
        }
        ComposeCmd::Cp(f) => {
            let (name, _) = project_of(&o)?;
            compose_cmds::cp(g, &name, &f)
        }
        ComposeCmd::Watch(f) => {
            let o = Options {
                enable: f.services.clone(),
                ..o
            };
            crate::compose_watch::watch(g, &load(&o)?, &f)
        }
        ComposeCmd::Wait(f) => {
            let (name, _) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_cmds::wait(&c, &name, &f))
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
                ask: matches!(&cmd, ComposeCmd::Rm(r) if !r.force),
            };
            let (rt, c) = crate::connect(g)?;
            rt.block_on(compose_ops::each(&c, &name, action, &eo))
        }
        ComposeCmd::Down(d) => {
            let (name, project) = project_of(&o)?;
            let (rt, c) = crate::connect(g)?;
            // --rmi all: every service's image; local: those built under the default name.
            let images = match (d.rmi.as_deref(), &project) {
                (None, _) => Vec::new(),
                (Some(mode @ ("all" | "local")), Some(p)) => p
                    .services
                    .iter()
                    .filter(|(_, s)| mode == "all" || s.image.is_none())
                    .map(|(k, s)| crate::compose_up::image_name(p, k, s))
                    .collect(),
                (Some("all" | "local"), None) => Vec::new(),
                (Some(other), _) => {
                    bail!("invalid --rmi option {other:?}: use \"local\" or \"all\"")
                }
            };
            let dopts = compose_ops::DownOptions {
                volumes: d.volumes,
                remove_orphans: d.remove_orphans,
                timeout: d.timeout,
                order: project.map(|p| start_order(&p)),
                images,
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

/// Every service the files define, enabled or not (other services' containers are orphans).
pub fn known_services(p: &berth_compose::model::Project) -> Vec<String> {
    p.services
        .keys()
        .chain(p.disabled.keys())
        .cloned()
        .collect()
}

/// The named services and, transitively, what they depend on.
pub fn with_dependencies(p: &berth_compose::model::Project, names: &[String]) -> Vec<String> {
    let mut keep: Vec<String> = Vec::new();
    let mut todo = names.to_vec();
    while let Some(s) = todo.pop() {
        if keep.contains(&s) {
            continue;
        }
        if let Some(svc) = p.services.get(&s) {
            todo.extend(crate::compose_up::dependencies(svc));
        }
        keep.push(s);
    }
    keep
}

/// `up` (and `create`): the images, the containers, then detached or attached.
fn up(g: &crate::Global, o: Options, u: UpArgs) -> Result<i32> {
    if u.detach && (u.abort_on_container_exit || u.exit_code_from.is_some() || !u.attach.is_empty())
    {
        bail!(
            "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch"
        );
    }
    if u.wait && (u.abort_on_container_exit || u.exit_code_from.is_some() || !u.attach.is_empty()) {
        bail!(
            "--wait cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch"
        );
    }
    if u.build && u.no_build {
        bail!("--build and --no-build are incompatible");
    }
    let o = Options {
        enable: u.services.clone(),
        ..o
    };
    let mut project = load(&o)?;
    let known = known_services(&project);
    for s in &u.services {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    if let Some(s) = &u.exit_code_from {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    if !u.services.is_empty() {
        let keep = if u.no_deps {
            u.services.clone()
        } else {
            with_dependencies(&project, &u.services)
        };
        project.services.retain(|k, _| keep.contains(k));
    }
    let mut scale = std::collections::BTreeMap::new();
    for sc in &u.scale {
        let (k, n) = sc
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("invalid --scale option {sc:?}: use SERVICE=NUM"))?;
        let n: usize = n
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid --scale option {sc:?}: NUM must be a number"))?;
        if !project.services.contains_key(k) {
            bail!("no such service: {k}");
        }
        scale.insert(k.to_owned(), n);
    }
    let policy = if u.build {
        compose_cmds::BuildPolicy::Always
    } else if u.no_build {
        compose_cmds::BuildPolicy::Never
    } else {
        compose_cmds::BuildPolicy::Missing
    };
    compose_cmds::ensure_images(g, &project, policy, u.pull.as_deref())?;
    let uo = crate::compose_up::UpOptions {
        wait: u.wait,
        wait_timeout: u.wait_timeout,
        force_recreate: u.force_recreate,
        no_recreate: u.no_recreate,
        timeout: u.timeout,
        order: start_order(&project),
        scale,
        remove_orphans: u.remove_orphans,
        renew_anon_volumes: u.renew_anon_volumes,
        no_start: u.no_start,
        known,
    };
    let (rt, c) = crate::connect(g)?;
    let list = rt.block_on(crate::compose_up::up(&c, &project, &uo))?;
    if u.detach || u.wait || u.no_start {
        return Ok(0);
    }
    let attach_to: Vec<_> = list
        .into_iter()
        .filter(|x| u.attach.is_empty() || u.attach.contains(&x.service))
        .filter(|x| !u.no_attach.contains(&x.service))
        .collect();
    let ao = crate::compose_attach::AttachOptions {
        color: !u.no_color && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        no_prefix: u.no_log_prefix,
        timestamps: u.timestamps,
        abort_on_exit: u.abort_on_container_exit || u.exit_code_from.is_some(),
        exit_code_from: u.exit_code_from,
        timeout: u.timeout,
    };
    rt.block_on(crate::compose_attach::attached(
        &c,
        &project.name,
        attach_to,
        &ao,
    ))
}

/// `up -d` of a loaded project with the defaults (images built or pulled when missing), for
/// `watch`.
pub fn up_detached(
    g: &crate::Global,
    project: &berth_compose::model::Project,
    known: Vec<String>,
) -> Result<()> {
    compose_cmds::ensure_images(g, project, compose_cmds::BuildPolicy::Missing, None)?;
    let uo = crate::compose_up::UpOptions {
        wait: false,
        wait_timeout: None,
        force_recreate: false,
        no_recreate: false,
        timeout: None,
        order: start_order(project),
        scale: std::collections::BTreeMap::new(),
        remove_orphans: false,
        renew_anon_volumes: false,
        no_start: false,
        known,
    };
    let (rt, c) = crate::connect(g)?;
    rt.block_on(crate::compose_up::up(&c, project, &uo))?;
    Ok(())
}

/// Services in an order that starts dependencies first.
pub fn start_order(p: &berth_compose::model::Project) -> Vec<String> {
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
            for d in crate::compose_up::dependencies(s) {
                visit(p, &d, out, seen);
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
