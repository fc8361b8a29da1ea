//! The runc command line, as containerd's go-runc, containerd-shim, conmon and Podman call it:
//! global `--root --log --log-format --systemd-cgroup`, then one command.

use std::ffi::OsString;
use std::io::Read;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use berth_runtime::container::{self, CreateOpts, ExecOpts};
use berth_runtime::state::{DEFAULT_ROOT, Root};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    disable_version_flag = true,
    about = "Berth's OCI runtime (runc-compatible)"
)]
struct Cli {
    /// Root directory for container state
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Also write errors to this file
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Use systemd for cgroups (not supported: an error)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Debug logging (accepted)
    #[arg(long, global = true)]
    debug: bool,
    /// Rootless mode (accepted: true, false or auto)
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Path to criu (accepted, checkpointing is not supported)
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// File to write the container's pid to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Pass N extra descriptors (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a session keyring for the container
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Container id
    id: String,
}

impl CreateArgs {
    fn opts(&self) -> CreateOpts {
        CreateOpts {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container (it waits for `start`)
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Print the state of a container as JSON
    State { id: String },
    /// Send a signal to a container's init (or, with --all, all its processes)
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create, start and wait for a container; exits with its exit code
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Do not wait: leave the container running
        #[arg(short, long)]
        detach: bool,
        /// Keep the stopped container after it exits (remove it with `delete`)
        #[arg(long)]
        keep: bool,
    },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// List the processes of a container
    Ps {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        id: String,
        /// Options for ps(1)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print the features this runtime supports (JSON)
    Features,
    /// Write a config.json with Berth's secure defaults
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Update a container's resource limits
    Update {
        /// JSON file with runtime-spec linux.resources (`-` for stdin)
        #[arg(short, long)]
        resources: Option<String>,
        #[arg(long)]
        memory: Option<i64>,
        #[arg(long = "memory-swap")]
        memory_swap: Option<i64>,
        #[arg(long = "cpu-shares")]
        cpu_shares: Option<u64>,
        #[arg(long = "cpu-quota")]
        cpu_quota: Option<i64>,
        #[arg(long = "cpu-period")]
        cpu_period: Option<u64>,
        #[arg(long = "cpuset-cpus")]
        cpuset_cpus: Option<String>,
        #[arg(long = "pids-limit")]
        pids_limit: Option<i64>,
        id: String,
    },
    /// Freeze all processes of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// A runtime-spec process JSON file
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long)]
    cwd: Option<PathBuf>,
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability
    #[arg(short = 'c', long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(long = "process-label", hide = true)]
    process_label: Option<String>,
    #[arg(short = 'a', long = "apparmor", hide = true)]
    apparmor: Option<String>,
    #[arg(long = "ignore-paused", hide = true)]
    ignore_paused: bool,
    #[arg(long = "cgroup", hide = true)]
    cgroup: Option<String>,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Run the runtime CLI; returns the process exit code.
pub fn main(name: &str, args: &[OsString]) -> i32 {
    let mut argv = vec![OsString::from(name)];
    argv.extend_from_slice(args);
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let (log, log_format) = (cli.log.clone(), cli.log_format);
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            report(&msg, log.as_deref(), log_format);
            exit_code_of(&e)
        }
    }
}

/// 1 for a failure, as runc; a command that cannot be executed gets a shell's codes (127 not
/// found, 126 not executable), which the daemon passes on as docker's.
fn exit_code_of(e: &anyhow::Error) -> i32 {
    use berth_runtime::error::ExecFailure;
    match e.downcast_ref::<berth_runtime::Error>() {
        Some(berth_runtime::Error::Exec { failure, .. }) => match failure {
            ExecFailure::PermissionDenied => 126,
            ExecFailure::NoSuchFile | ExecFailure::NotInPath => 127,
        },
        _ => 1,
    }
}

/// Errors go to stderr, and as a log line (JSON or text) to `--log` if given.
fn report(msg: &str, log: Option<&Path>, format: LogFormat) {
    let time = berth_runtime::state::now_rfc3339();
    let line = match format {
        LogFormat::Json => {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => format!("time={time:?} level=error msg={msg:?}"),
    };
    if let Some(p) = log {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{line}");
        }
    }
    if format == LogFormat::Json && log.is_none() {
        eprintln!("{line}");
    } else {
        eprintln!("berth-runtime: {msg}");
    }
}

fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("json serializes")
    );
}

fn dispatch(cli: Cli) -> Result<i32> {
    if cli.version {
        println!(
            "berth-runtime version {}\nspec: {}",
            berth_runtime::VERSION,
            berth_runtime::OCI_VERSION
        );
        return Ok(0);
    }
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup: the systemd cgroup driver is not supported by berth-runtime; use cgroupfs"
        );
    }
    let root = Root::new(&cli.root);
    let rootless = cli.rootless.as_deref().is_some_and(|r| r == "true");
    let Some(cmd) = cli.cmd else {
        bail!("no command given: see --help");
    };
    match cmd {
        Cmd::Create(a) => {
            berth_runtime::exe::ensure_sealed()?;
            container::create(&root, &a.opts(), false)?;
        }
        Cmd::Run {
            create,
            detach,
            keep,
        } => {
            berth_runtime::exe::ensure_sealed()?;
            return Ok(container::run(&root, &create.opts(), detach, keep)?);
        }
        Cmd::Start { id } => container::start(&root, &id)?,
        Cmd::State { id } => print_json(&container::state(&root, &id)?),
        Cmd::Kill { all, id, signal } => {
            let sig = container::parse_signal(&signal)?;
            container::kill(&root, &id, sig, all)?;
        }
        Cmd::Delete { force, id } => container::delete(&root, &id, force)?,
        Cmd::Exec(a) => {
            let opts = exec_opts(&root, a)?;
            berth_runtime::exe::ensure_sealed()?;
            return Ok(container::exec(&root, &opts)?);
        }
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => ps(&root, &id, format, &ps_args)?,
        Cmd::List { format, quiet } => list(&root, format, quiet)?,
        Cmd::Features => print_json(&berth_runtime::features::features()),
        Cmd::Spec { bundle } => {
            if rootless {
                bail!("--rootless specs are not supported yet");
            }
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let data = serde_json::to_string_pretty(&berth_runtime::spec::default_spec())?;
            std::fs::write(&path, data + "\n")
                .with_context(|| format!("write {}", path.display()))?;
        }
        Cmd::Update {
            resources,
            memory,
            memory_swap,
            cpu_shares,
            cpu_quota,
            cpu_period,
            cpuset_cpus,
            pids_limit,
            id,
        } => {
            let mut r = match resources.as_deref() {
                Some("-") => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    serde_json::from_str(&s).context("invalid resources JSON on stdin")?
                }
                Some(f) => {
                    let s = std::fs::read_to_string(f).with_context(|| format!("read {f}"))?;
                    serde_json::from_str(&s)
                        .with_context(|| format!("invalid resources JSON in {f}"))?
                }
                None => serde_json::json!({}),
            };
            let set = |r: &mut serde_json::Value, a: &str, b: &str, v: serde_json::Value| {
                r[a][b] = v;
            };
            if let Some(v) = memory {
                set(&mut r, "memory", "limit", v.into())
            }
            if let Some(v) = memory_swap {
                set(&mut r, "memory", "swap", v.into())
            }
            if let Some(v) = cpu_shares {
                set(&mut r, "cpu", "shares", v.into())
            }
            if let Some(v) = cpu_quota {
                set(&mut r, "cpu", "quota", v.into())
            }
            if let Some(v) = cpu_period {
                set(&mut r, "cpu", "period", v.into())
            }
            if let Some(v) = cpuset_cpus {
                set(&mut r, "cpu", "cpus", v.into())
            }
            if let Some(v) = pids_limit {
                set(&mut r, "pids", "limit", v.into())
            }
            container::update(&root, &id, &r)?;
        }
        Cmd::Pause { id } => container::pause(&root, &id, true)?,
        Cmd::Resume { id } => container::pause(&root, &id, false)?,
    }
    Ok(0)
}

fn exec_opts(root: &Root, a: ExecArgs) -> Result<ExecOpts> {
    let process = match &a.process {
        Some(f) => {
            let s = std::fs::read_to_string(f)
                .with_context(|| format!("read process file {}", f.display()))?;
            let p: oci_process::Process = serde_json::from_str(&s)
                .with_context(|| format!("invalid process JSON in {}", f.display()))?;
            p
        }
        None => {
            if a.args.is_empty() {
                bail!("exec: no command given (ARGS or --process)");
            }
            let mut p = container::base_process(root, &a.id)?;
            p.set_args(Some(a.args.clone()));
            p.set_terminal(Some(a.tty));
            if let Some(cwd) = &a.cwd {
                p.set_cwd(cwd.clone());
            }
            let mut env = p.env().clone().unwrap_or_default();
            for kv in &a.env {
                let key = kv.split('=').next().unwrap_or_default();
                env.retain(|e| e.split('=').next() != Some(key));
                env.push(kv.clone());
            }
            p.set_env(Some(env));
            if let Some(u) = &a.user {
                let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
                let mut user = p.user().clone();
                user.set_uid(
                    uid.parse()
                        .with_context(|| format!("invalid --user {u:?}"))?,
                );
                user.set_gid(
                    gid.parse()
                        .with_context(|| format!("invalid --user {u:?}"))?,
                );
                p.set_user(user);
            }
            if !a.additional_gids.is_empty() {
                let mut user = p.user().clone();
                user.set_additional_gids(Some(a.additional_gids.clone()));
                p.set_user(user);
            }
            if a.no_new_privs {
                p.set_no_new_privileges(Some(true));
            }
            if !a.cap.is_empty() {
                let mut caps = p.capabilities().clone().unwrap_or_default();
                let add =
                    |set: Option<oci_process::Capabilities>| -> Result<oci_process::Capabilities> {
                        let mut s = set.unwrap_or_default();
                        for c in &a.cap {
                            let v: oci_process::Capability =
                                serde_json::from_value(serde_json::Value::String(c.clone()))
                                    .with_context(|| format!("unknown capability {c:?}"))?;
                            s.insert(v);
                        }
                        Ok(s)
                    };
                caps.set_bounding(Some(add(caps.bounding().clone())?));
                caps.set_effective(Some(add(caps.effective().clone())?));
                caps.set_permitted(Some(add(caps.permitted().clone())?));
                p.set_capabilities(Some(caps));
            }
            p
        }
    };
    Ok(ExecOpts {
        id: a.id,
        process: Some(process),
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        detach: a.detach,
        preserve_fds: a.preserve_fds,
    })
}

mod oci_process {
    pub use berth_runtime::oci::{Capabilities, Capability, Process};
}

fn ps(root: &Root, id: &str, format: Format, ps_args: &[String]) -> Result<()> {
    let pids = container::pids(root, id)?;
    if format == Format::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok())
            .is_some_and(|p: i32| pids.contains(&p))
        {
            println!("{l}");
        }
    }
    Ok(())
}

fn list(root: &Root, format: Format, quiet: bool) -> Result<()> {
    let ids = root.list();
    if quiet {
        for id in ids {
            println!("{id}");
        }
        return Ok(());
    }
    let states: Vec<serde_json::Value> = ids
        .iter()
        .filter_map(|id| container::state(root, id).ok())
        .collect();
    if format == Format::Json {
        println!("{}", serde_json::to_string(&states)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for s in states {
        let f = |k: &str| {
            s[k].as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| s[k].to_string())
        };
        println!(
            "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
            f("id"),
            f("pid"),
            f("status"),
            f("bundle"),
            f("created"),
            f("owner")
        );
    }
    Ok(())
}
