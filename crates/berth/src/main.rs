//! `berth`: one binary, several programs. Invoked as `berth-runtime` (e.g. through a symlink) it
//! is a runc-compatible OCI runtime; `berth runtime …` is the same runtime. Everything else is
//! the Docker-compatible command set (`berth-cli`); the daemon and shim arrive with their own
//! issues.

mod daemon;
mod defaults;
mod log;
mod monitoring;
mod reload;
mod runtime_cli;
mod userns_remap;
mod web;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .map(|a| {
            std::path::Path::new(a)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let code = if argv0 == "berth-runtime" {
        runtime_cli::main("berth-runtime", &args[1..])
    } else {
        match args.get(1).and_then(|a| a.to_str()) {
            Some("runtime") => runtime_cli::main("berth runtime", &args[2..]),
            Some("daemon") => daemon::main(&args[2..]),
            Some("shim") => berth_shim::main(&args[2..]),
            Some("--version" | "-v") => {
                println!("berth version {}", berth_runtime::VERSION);
                0
            }
            _ => berth_cli::main(&args[1..]),
        }
    };
    std::process::exit(code);
}
