//! Berth's Docker-compatible command set, as a client of the Engine API (Berth's daemon, or any
//! dockerd): so far the image commands (`pull`, `push`, `login`, `logout`, `load`, `save`,
//! `import`, `images`, `image …`, `inspect`, `tag`, `rmi`, `history`). The daemon is chosen
//! with `-H`/`BERTH_HOST`; if the default socket is absent and the caller is root, the CLI
//! starts `berth daemon` and waits for it.

mod containers;
mod images;
mod networks;
pub mod progress;
pub mod template;
pub mod units;
mod volumes;

use clap::{Args, Parser, Subcommand};

/// Global options.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long, env = "BERTH_HOST", default_value = berth_client::DEFAULT_HOST)]
    pub host: String,
    /// Location of client config files (credentials), as docker's --config
    #[arg(long, value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
    /// Enable debug output
    #[arg(short = 'D', long)]
    pub debug: bool,
}

/// A runtime and a client connected to the daemon (started first if it is the default one,
/// absent, and we are root).
pub fn connect(g: &Global) -> anyhow::Result<(tokio::runtime::Runtime, berth_client::Client)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut c = berth_client::Client::new(&g.host)?;
    match rt.block_on(c.negotiate()) {
        Ok(()) => {}
        Err(berth_client::Error::Connect { .. })
            if g.host == berth_client::DEFAULT_HOST
                // SAFETY: geteuid has no preconditions.
                && unsafe { libc::geteuid() } == 0 =>
        {
            start_daemon()?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                match rt.block_on(c.negotiate()) {
                    Ok(()) => break,
                    Err(e) if std::time::Instant::now() > deadline => {
                        return Err(anyhow::anyhow!(
                            "{e} (started it; see /run/berth/daemon.log)"
                        ));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok((rt, c))
}

/// Start `berth daemon` in the background, in its own session, logging to /run/berth/daemon.log.
fn start_daemon() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all("/run/berth")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/run/berth/daemon.log")?;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("daemon")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()?;
    Ok(())
}

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A Docker-compatible, secure-by-default container engine",
    disable_version_flag = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Download an image from a registry
    Pull(images::PullArgs),
    /// Upload an image to a registry
    Push(images::PushArgs),
    /// Authenticate to a registry
    Login(images::LoginArgs),
    /// Log out from a registry
    Logout(images::LogoutArgs),
    /// Load an image from a tar archive or STDIN
    Load(images::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(images::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportArgs),
    /// List images
    Images(images::LsArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Return low-level information on images
    Inspect(images::InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(containers::CreateArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(containers::CreateArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// List containers
    Ps(containers::PsArgs),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Pause all processes within one or more containers
    Pause(containers::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(containers::NamesArgs),
    /// Restart one or more containers
    Restart(containers::RestartArgs),
    /// Rename a container
    Rename(containers::RenameArgs),
    /// Display the running processes of a container
    Top(containers::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(containers::StatsArgs),
    /// Get real time events from the server
    Events(containers::EventsArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(containers::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(containers::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(containers::CpArgs),
    /// Create a new image from a container's changes
    Commit(containers::CommitArgs),
    /// Update configuration of one or more containers
    Update(containers::UpdateArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(containers::AttachArgs),
    /// Manage Berth
    #[command(subcommand)]
    System(containers::SystemCmd),
    /// Display system-wide information
    Info,
    /// Manage networks
    #[command(subcommand)]
    Network(networks::NetworkCmd),
    /// List port mappings or a specific mapping for the container
    Port(networks::PortArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volumes::VolumeCmd),
    /// Show the Berth version information (client and server)
    Version(VersionArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
}

#[derive(Debug, Args)]
struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

/// `version`: the client's and the daemon's versions, as docker prints them (the client part
/// alone, and exit 1, when no daemon answers).
fn version(g: &Global, a: VersionArgs) -> anyhow::Result<i32> {
    let client = serde_json::json!({
        "Platform": {"Name": "Berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": berth_client::API_VERSION,
        "DefaultAPIVersion": berth_client::API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "BuildTime": "",
        "Context": "default",
    });
    let server = connect(g).and_then(|(rt, c)| Ok(rt.block_on(c.get("/version"))?));
    let v = serde_json::json!({
        "Client": client,
        "Server": server.as_ref().ok(),
    });
    if let Some(f) = &a.format {
        let t = template::Template::parse(&f.replace("\\n", "\n").replace("\\t", "\t"))
            .map_err(|e| anyhow::anyhow!(e))?;
        println!("{}", t.render(&v).map_err(|e| anyhow::anyhow!(e))?);
    } else {
        println!("Client:");
        for (k, label) in [
            ("Version", " Version"),
            ("ApiVersion", " API version"),
            ("Os", " OS/Arch"),
        ] {
            let val = if k == "Os" {
                format!(
                    "{}/{}",
                    client["Os"].as_str().unwrap_or_default(),
                    client["Arch"].as_str().unwrap_or_default()
                )
            } else {
                client[k].as_str().unwrap_or_default().to_owned()
            };
            println!("{:<18}{val}", format!("{label}:"));
        }
        if let Ok(s) = &server {
            println!();
            println!(
                "Server: {}",
                s["Platform"]["Name"].as_str().unwrap_or_default()
            );
            println!(" Engine:");
            for (k, label) in [
                ("Version", "  Version"),
                ("ApiVersion", "  API version"),
                ("Os", "  OS/Arch"),
                ("KernelVersion", "  Kernel Version"),
            ] {
                let val = if k == "Os" {
                    format!(
                        "{}/{}",
                        s["Os"].as_str().unwrap_or_default(),
                        s["Arch"].as_str().unwrap_or_default()
                    )
                } else if k == "ApiVersion" {
                    format!(
                        "{} (minimum version {})",
                        s["ApiVersion"].as_str().unwrap_or_default(),
                        s["MinAPIVersion"].as_str().unwrap_or_default()
                    )
                } else {
                    s[k].as_str().unwrap_or_default().to_owned()
                };
                println!("{:<18}{val}", format!("{label}:"));
            }
        }
    }
    match server {
        Ok(_) => Ok(0),
        Err(e) => {
            eprintln!("{}", describe(&e));
            Ok(1)
        }
    }
}

#[derive(Debug, Subcommand)]
enum ContainerCmd {
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(containers::PsArgs),
    #[command(disable_help_flag = true)]
    Run(containers::CreateArgs),
    #[command(disable_help_flag = true)]
    Create(containers::CreateArgs),
    Start(containers::StartArgs),
    Logs(containers::LogsArgs),
    Stop(containers::StopArgs),
    Kill(containers::KillArgs),
    #[command(alias = "remove")]
    Rm(containers::RmArgs),
    Wait(containers::WaitArgs),
    Exec(containers::ExecArgs),
    Inspect(images::InspectArgs),
    Pause(containers::NamesArgs),
    Unpause(containers::NamesArgs),
    Restart(containers::RestartArgs),
    Rename(containers::RenameArgs),
    Top(containers::TopArgs),
    Stats(containers::StatsArgs),
    /// Remove all stopped containers
    Prune(containers::PruneArgs),
    Port(networks::PortArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCmd {
    /// List images
    #[command(alias = "list")]
    Ls(images::LsArgs),
    Pull(images::PullArgs),
    Push(images::PushArgs),
    Load(images::LoadArgs),
    Save(images::SaveArgs),
    Import(images::ImportArgs),
    /// Display detailed information on one or more images
    Inspect(images::InspectArgs),
    Tag(images::TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(images::RmiArgs),
    /// Remove unused images
    Prune(images::PruneArgs),
    History(images::HistoryArgs),
}

/// Run the CLI with `args` (without the program name); returns the exit code.
pub fn main(args: &[std::ffi::OsString]) -> i32 {
    let cli = match Cli::try_parse_from(
        std::iter::once(std::ffi::OsString::from("berth")).chain(args.iter().cloned()),
    ) {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    // Like docker: a closed stdout/stderr ends the process quietly (exit 141, as by SIGPIPE).
    // SIGPIPE itself stays ignored, so a closed pipe to a credential helper or a socket is an
    // error, not death.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    if let Some(dir) = &cli.global.config {
        // SAFETY: single-threaded at this point (no runtime or thread started yet).
        unsafe { std::env::set_var("DOCKER_CONFIG", dir) };
    }
    let g = &cli.global;
    let res = match cli.cmd {
        Cmd::Pull(a) | Cmd::Image(ImageCmd::Pull(a)) => images::pull(g, a),
        Cmd::Push(a) | Cmd::Image(ImageCmd::Push(a)) => images::push(g, a),
        Cmd::Login(a) => images::login(g, a),
        Cmd::Logout(a) => images::logout(g, a),
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => images::load(g, a),
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => images::save(g, a),
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => images::import(g, a),
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => images::ls(g, a),
        Cmd::Inspect(a) => images::inspect(g, a),
        Cmd::Image(ImageCmd::Inspect(mut a)) => {
            a.kind.get_or_insert_with(|| "image".into());
            images::inspect(g, a)
        }
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => images::tag(g, a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => images::rmi(g, a),
        Cmd::Image(ImageCmd::Prune(a)) => images::prune(g, a),
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => images::history(g, a),
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => containers::run(g, a),
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => containers::create(g, a),
        Cmd::Start(a) | Cmd::Container(ContainerCmd::Start(a)) => containers::start(g, a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => containers::ps(g, a),
        Cmd::Logs(a) | Cmd::Container(ContainerCmd::Logs(a)) => containers::logs(g, a),
        Cmd::Stop(a) | Cmd::Container(ContainerCmd::Stop(a)) => containers::stop(g, a),
        Cmd::Kill(a) | Cmd::Container(ContainerCmd::Kill(a)) => containers::kill(g, a),
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => containers::rm(g, a),
        Cmd::Wait(a) | Cmd::Container(ContainerCmd::Wait(a)) => containers::wait(g, a),
        Cmd::Exec(a) | Cmd::Container(ContainerCmd::Exec(a)) => containers::exec(g, a),
        Cmd::Pause(a) | Cmd::Container(ContainerCmd::Pause(a)) => containers::pause(g, a),
        Cmd::Unpause(a) | Cmd::Container(ContainerCmd::Unpause(a)) => containers::unpause(g, a),
        Cmd::Restart(a) | Cmd::Container(ContainerCmd::Restart(a)) => containers::restart(g, a),
        Cmd::Rename(a) | Cmd::Container(ContainerCmd::Rename(a)) => containers::rename(g, a),
        Cmd::Top(a) | Cmd::Container(ContainerCmd::Top(a)) => containers::top(g, a),
        Cmd::Stats(a) | Cmd::Container(ContainerCmd::Stats(a)) => containers::stats(g, a),
        Cmd::Events(a) => containers::events(g, a),
        Cmd::Diff(a) => containers::diff(g, a),
        Cmd::Export(a) => containers::export(g, a),
        Cmd::Cp(a) => containers::cp(g, a),
        Cmd::Commit(a) => containers::commit(g, a),
        Cmd::Update(a) => containers::update(g, a),
        Cmd::Attach(a) => containers::attach(g, a),
        Cmd::System(s) => containers::system(g, s),
        Cmd::Info => containers::system(g, containers::SystemCmd::Info),
        Cmd::Network(n) => networks::network(g, n),
        Cmd::Volume(v) => volumes::volume(g, v),
        Cmd::Version(a) => version(g, a),
        Cmd::Port(a) | Cmd::Container(ContainerCmd::Port(a)) => networks::port(g, a),
        Cmd::Container(ContainerCmd::Prune(a)) => containers::prune(g, a),
        Cmd::Container(ContainerCmd::Inspect(mut a)) => {
            a.kind.get_or_insert_with(|| "container".into());
            images::inspect(g, a)
        }
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", describe(&e));
            1
        }
    }
}

/// An error as one line, as docker prints it: `Error response from daemon: …` for the daemon's
/// answers, the connection message as is, `Error: …` for the rest.
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let msg = e.to_string().replace('\n', " ");
    match e.downcast_ref::<berth_client::Error>() {
        Some(berth_client::Error::Api { .. }) => format!("Error response from daemon: {msg}"),
        Some(berth_client::Error::Connect { .. }) => msg,
        _ if msg.starts_with("Error") => msg,
        _ => format!("Error: {msg}"),
    }
}
