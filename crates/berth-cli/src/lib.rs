//! Berth's Docker-compatible command set, as a client of the Engine API (Berth's daemon, or
//! any dockerd): one module per command group (`run`, `ps`, `logs`, `exec`, `lifecycle`,
//! `stats`, `fs`, `term`, `system`, `registry`, `archives`, `images`, `networks`, `volumes`),
//! with shared output helpers (`output`). The daemon is chosen with `-H`/`BERTH_HOST`; if the
//! default socket is absent and the caller is root, the CLI starts `berth daemon` and waits
//! for it.

mod archives;
mod audit;
mod build;
mod compose;
mod compose_attach;
mod compose_cmds;
mod compose_config;
mod compose_create;
mod compose_ops;
mod compose_up;
mod compose_watch;
mod connect;
mod dashboard;
mod exec;
mod fs;
mod images;
mod lifecycle;
mod logs;
mod mirror;
mod netpolicy;
mod networks;
mod output;
pub mod progress;
mod ps;
mod registry;
mod run;
mod sbom;
mod scan;
mod stats;
mod system;
pub mod template;
mod term;
mod trust;
mod tui;
pub mod units;
mod volumes;

use clap::{Parser, Subcommand};

pub use connect::{Global, connect, describe};

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
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Authenticate to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Manage builds
    #[command(subcommand)]
    Builder(build::BuilderCmd),
    /// Define and run multi-container applications (Compose)
    Compose(compose::ComposeArgs),
    /// The software bill of materials of an image (CycloneDX, SPDX or a table)
    Sbom(sbom::SbomArgs),
    /// Find known vulnerabilities in an image's packages (offline, an OSV database)
    Scan(Box<scan::ScanArgs>),
    /// Check Berth against the CIS Docker Benchmark; auditd rules; the API audit log
    Audit(audit::AuditArgs),
    /// Sign an image (cosign's format; the signature is kept with the image and pushed with it)
    Sign(trust::SignArgs),
    /// Verify an image's signatures with a public key
    Verify(trust::VerifyArgs),
    /// Manage signing keys and inspect signatures and the signature policy
    #[command(subcommand)]
    Trust(trust::TrustCmd),
    /// Manage the web dashboard (its users)
    #[command(subcommand)]
    Dashboard(dashboard::DashboardCmd),
    /// Throwaway containers of allowed images, removed when their time is up
    #[command(subcommand)]
    Sandbox(dashboard::SandboxCmd),
    /// Measure registry mirrors and switch the daemon to the fastest
    #[command(subcommand)]
    Mirror(mirror::MirrorCmd),
    /// A terminal UI for containers, images, volumes and networks (lazydocker's job)
    Tui(tui::TuiArgs),
    /// Load an image from a tar archive or STDIN
    Load(archives::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archives::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(archives::ImportArgs),
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
    Run(run::CreateArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(run::start::StartArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::WaitArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::NamesArgs),
    /// Restart one or more containers
    Restart(lifecycle::RestartArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Display the running processes of a container
    Top(lifecycle::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Get real time events from the server
    Events(logs::EventsArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(fs::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(fs::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(fs::CpArgs),
    /// Create a new image from a container's changes
    Commit(fs::CommitArgs),
    /// Update configuration of one or more containers
    Update(lifecycle::UpdateArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(term::AttachArgs),
    /// Manage Berth
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(networks::NetworkCmd),
    /// List port mappings or a specific mapping for the container
    Port(networks::PortArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volumes::VolumeCmd),
    /// Show the Berth version information (client and server)
    Version(system::VersionArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
}

#[derive(Debug, Subcommand)]
enum ContainerCmd {
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(ps::PsArgs),
    #[command(disable_help_flag = true)]
    Run(run::CreateArgs),
    #[command(disable_help_flag = true)]
    Create(run::CreateArgs),
    Start(run::start::StartArgs),
    Logs(logs::LogsArgs),
    Stop(lifecycle::StopArgs),
    Kill(lifecycle::KillArgs),
    #[command(alias = "remove")]
    Rm(lifecycle::RmArgs),
    Wait(lifecycle::WaitArgs),
    Exec(exec::ExecArgs),
    Inspect(images::InspectArgs),
    Pause(lifecycle::NamesArgs),
    Unpause(lifecycle::NamesArgs),
    Restart(lifecycle::RestartArgs),
    Rename(lifecycle::RenameArgs),
    Top(lifecycle::TopArgs),
    Stats(stats::StatsArgs),
    /// Remove all stopped containers
    Prune(lifecycle::PruneArgs),
    Port(networks::PortArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// List images
    #[command(alias = "list")]
    Ls(images::LsArgs),
    Pull(registry::PullArgs),
    Push(registry::PushArgs),
    Load(archives::LoadArgs),
    Save(archives::SaveArgs),
    Import(archives::ImportArgs),
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
        Cmd::Pull(a) | Cmd::Image(ImageCmd::Pull(a)) => registry::pull(g, a),
        Cmd::Push(a) | Cmd::Image(ImageCmd::Push(a)) => registry::push(g, a),
        Cmd::Login(a) => registry::login(g, a),
        Cmd::Logout(a) => registry::logout(g, a),
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => archives::load(g, a),
        Cmd::Build(a) | Cmd::Image(ImageCmd::Build(a)) => build::build(g, *a),
        Cmd::Builder(b) => build::builder(g, b),
        Cmd::Compose(a) => compose::compose(g, a),
        Cmd::Sbom(a) => sbom::sbom(g, a),
        Cmd::Scan(a) => scan::scan(g, *a),
        Cmd::Audit(a) => audit::audit(g, a),
        Cmd::Sign(a) => trust::sign(g, a),
        Cmd::Verify(a) => trust::verify(g, a),
        Cmd::Trust(t) => trust::trust(g, t),
        Cmd::Dashboard(d) => dashboard::dashboard(g, d),
        Cmd::Sandbox(s) => dashboard::sandbox(g, s),
        Cmd::Mirror(m) => mirror::mirror(g, m),
        Cmd::Tui(a) => tui::tui(g, a),
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => archives::save(g, a),
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => archives::import(g, a),
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
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => run::start::run(g, a),
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => run::start::create(g, a),
        Cmd::Start(a) | Cmd::Container(ContainerCmd::Start(a)) => run::start::start(g, a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => ps::ps(g, a),
        Cmd::Logs(a) | Cmd::Container(ContainerCmd::Logs(a)) => logs::logs(g, a),
        Cmd::Stop(a) | Cmd::Container(ContainerCmd::Stop(a)) => lifecycle::stop(g, a),
        Cmd::Kill(a) | Cmd::Container(ContainerCmd::Kill(a)) => lifecycle::kill(g, a),
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => lifecycle::rm(g, a),
        Cmd::Wait(a) | Cmd::Container(ContainerCmd::Wait(a)) => lifecycle::wait(g, a),
        Cmd::Exec(a) | Cmd::Container(ContainerCmd::Exec(a)) => exec::exec(g, a),
        Cmd::Pause(a) | Cmd::Container(ContainerCmd::Pause(a)) => lifecycle::pause(g, a),
        Cmd::Unpause(a) | Cmd::Container(ContainerCmd::Unpause(a)) => lifecycle::unpause(g, a),
        Cmd::Restart(a) | Cmd::Container(ContainerCmd::Restart(a)) => lifecycle::restart(g, a),
        Cmd::Rename(a) | Cmd::Container(ContainerCmd::Rename(a)) => lifecycle::rename(g, a),
        Cmd::Top(a) | Cmd::Container(ContainerCmd::Top(a)) => lifecycle::top(g, a),
        Cmd::Stats(a) | Cmd::Container(ContainerCmd::Stats(a)) => stats::stats(g, a),
        Cmd::Events(a) => logs::events(g, a),
        Cmd::Diff(a) => fs::diff(g, a),
        Cmd::Export(a) => fs::export(g, a),
        Cmd::Cp(a) => fs::cp(g, a),
        Cmd::Commit(a) => fs::commit(g, a),
        Cmd::Update(a) => lifecycle::update(g, a),
        Cmd::Attach(a) => term::attach(g, a),
        Cmd::System(s) => system::system(g, s),
        Cmd::Info(a) => system::system(g, system::SystemCmd::Info(a)),
        Cmd::Network(n) => networks::network(g, n),
        Cmd::Volume(v) => volumes::volume(g, v),
        Cmd::Version(a) => system::version(g, a),
        Cmd::Port(a) | Cmd::Container(ContainerCmd::Port(a)) => networks::port(g, a),
        Cmd::Container(ContainerCmd::Prune(a)) => lifecycle::prune(g, a),
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
