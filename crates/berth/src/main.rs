//! `berth`: one binary, several programs. Invoked as `berth-runtime` (e.g. through a symlink) it
//! is a runc-compatible OCI runtime; `berth runtime …` is the same runtime. The engine's CLI,
//! daemon and shim arrive with their own issues.

mod runtime_cli;

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
            Some("--version" | "-v" | "version") => {
                println!("berth version {}", berth_runtime::VERSION);
                0
            }
            _ => {
                eprintln!(
                    "Usage: berth runtime COMMAND   (runc-compatible OCI runtime; see `berth runtime --help`)\n\
                     The Docker-compatible engine commands (run, ps, images, …) are not built yet."
                );
                if args.len() > 1 { 125 } else { 0 }
            }
        }
    };
    std::process::exit(code);
}
