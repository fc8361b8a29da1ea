//! Berth's Docker-compatible command set. So far the image commands (`pull`, `push`, `login`,
//! `logout`, `load`, `save`, `import`, `images`, `image …`, `inspect`, `tag`, `rmi`,
//! `history`). Until the daemon exists they work on the image store under `--data-root`
//! directly, through [`engine`], which answers in the Engine API's JSON shapes.

pub mod engine;
mod images;
pub mod progress;
pub mod template;
pub mod units;

use clap::{Args, Parser, Subcommand};

/// Global options.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Root of Berth's persistent state (images, layers)
    #[arg(long, global = true, env = "BERTH_DATA_ROOT", default_value = engine::DEFAULT_ROOT)]
    pub data_root: std::path::PathBuf,
    /// Location of client config files (credentials), as docker's --config
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
    /// Daemon config file read for insecure-registries and registry-mirrors
    #[arg(
        long,
        global = true,
        env = "BERTH_DAEMON_CONFIG",
        default_value = "/etc/berth/daemon.json",
        hide = true
    )]
    pub config_file: std::path::PathBuf,
    /// Enable debug output
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
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
    // Like docker (and every Unix filter): a closed pipe ends the process quietly.
    // SAFETY: restoring the default disposition of one signal; no handler is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
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
        Cmd::Inspect(a) | Cmd::Image(ImageCmd::Inspect(a)) => images::inspect(g, a),
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => images::tag(g, a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => images::rmi(g, a),
        Cmd::Image(ImageCmd::Prune(a)) => images::prune(g, a),
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => images::history(g, a),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", one_line(&e));
            1
        }
    }
}

/// An error as one line: engine errors carry Docker's "Error response from daemon:" prefix,
/// client-side ones "Error:"... unless the message already has its own prefix.
fn one_line(e: &anyhow::Error) -> String {
    let msg = e.to_string().replace('\n', " ");
    if msg.starts_with("Error") || msg.starts_with("error") {
        msg
    } else if e.downcast_ref::<berth_image::Error>().is_some() {
        format!("Error response from daemon: {msg}")
    } else {
        format!("Error: {msg}")
    }
}
