//! The daemon connection: `-H`/`BERTH_HOST`, version negotiation, the daemon started on
//! demand (root, default socket), and errors as docker prints them.

use clap::Args;

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

/// Start `berth daemon` in the background, in its own session, logging to
/// /run/berth/daemon.log.
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

/// An error as one line, as docker prints it: `Error response from daemon: …` for the
/// daemon's answers, the connection message as is, `Error: …` for the rest.
pub fn describe(e: &anyhow::Error) -> String {
    let msg = e.to_string().replace('\n', " ");
    match e.downcast_ref::<berth_client::Error>() {
        Some(berth_client::Error::Api { .. }) => format!("Error response from daemon: {msg}"),
        Some(berth_client::Error::Connect { .. }) => msg,
        _ if msg.starts_with("Error") => msg,
        _ => format!("Error: {msg}"),
    }
}
