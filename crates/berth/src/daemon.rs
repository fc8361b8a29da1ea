//! `berth daemon`: dockerd's flags (where Berth has the feature), the config file with
//! dockerd's key names, the API on a unix socket, graceful shutdown on SIGTERM/SIGINT.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "berth daemon",
    about = "Run Berth's daemon (the Docker Engine API)"
)]
pub(crate) struct Args {
    /// Daemon socket(s) to listen on (unix:///path)
    #[arg(short = 'H', long = "host")]
    pub(crate) hosts: Vec<String>,
    /// Root of persistent state
    #[arg(long, default_value = "/var/lib/berth")]
    pub(crate) data_root: PathBuf,
    /// Root of runtime state
    #[arg(long, default_value = "/run/berth")]
    pub(crate) exec_root: PathBuf,
    /// Path of the daemon's pid file
    #[arg(short = 'p', long)]
    pub(crate) pidfile: Option<PathBuf>,
    /// Daemon configuration file (dockerd's key names)
    #[arg(long, default_value = "/etc/berth/daemon.json")]
    pub(crate) config_file: PathBuf,
    /// Group of the API socket (as dockerd's -G)
    #[arg(short = 'G', long)]
    pub(crate) group: Option<String>,
    /// Enable inter-container communication
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) icc: bool,
    /// DNS server for containers (and upstream of the embedded DNS server)
    #[arg(long)]
    pub(crate) dns: Vec<std::net::Ipv4Addr>,
    /// Registries reached over plain HTTP (host[:port] or CIDR)
    #[arg(long = "insecure-registry")]
    pub(crate) insecure_registries: Vec<String>,
    /// Mirrors for Docker Hub
    #[arg(long = "registry-mirror")]
    pub(crate) registry_mirrors: Vec<String>,
    /// Layers pulled at once per pull (default 3)
    #[arg(long)]
    pub(crate) max_concurrent_downloads: Option<usize>,
    /// Layers pushed at once per push (default 3)
    #[arg(long)]
    pub(crate) max_concurrent_uploads: Option<usize>,
    /// Default ulimits for containers (name=soft[:hard])
    #[arg(long = "default-ulimit")]
    pub(crate) default_ulimits: Vec<String>,
    /// Parent cgroup of containers
    #[arg(long, default_value = "/berth")]
    pub(crate) cgroup_parent: String,
    /// Log level (debug, info, warn, error, fatal)
    #[arg(short = 'l', long, default_value = "info")]
    pub(crate) log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub(crate) debug: bool,
    /// The OSV vulnerability database (default: DATA_ROOT/vuln.db)
    #[arg(long)]
    pub(crate) scan_db: Option<PathBuf>,
    /// Refuse containers of images with a fixable vulnerability at or above this severity
    /// (LOW, MEDIUM, HIGH, CRITICAL)
    #[arg(long)]
    pub(crate) deny_vulnerable: Option<String>,
    /// Scan each pulled image against the vulnerability database and report the counts
    #[arg(long)]
    pub(crate) scan_on_pull: bool,
    /// The signature policy (containers/image policy.json; default /etc/berth/policy.json,
    /// which may be absent: then every image is accepted)
    #[arg(long)]
    pub(crate) signature_policy: Option<PathBuf>,
    /// Group of the API socket whose members may read but not change anything (root keeps
    /// full access)
    #[arg(long)]
    pub(crate) read_only_group: Option<String>,
    #[command(flatten)]
    pub(crate) defaults: crate::defaults::Flags,
    #[command(flatten)]
    pub(crate) monitoring: crate::monitoring::MonitoringFlags,
    #[command(flatten)]
    pub(crate) web: crate::web::WebFlags,
}

const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

fn strings(v: &serde_json::Value, k: &str) -> Vec<String> {
    v[k].as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

pub fn main(args: &[std::ffi::OsString]) -> i32 {
    // The daemon runs from one sealed, read-only copy of its binary for its whole life
    // (CVE-2019-5736): the shims and exec helpers it starts through /proc/self/exe then run from
    // that copy too, instead of each making a copy of its own (a 20 MB copy per container start,
    // held in memory while the container runs).
    if let Err(e) = berth_runtime::exe::ensure_sealed() {
        eprintln!("berth daemon: {e}");
        return 1;
    }
    // Memory returns after a load: glibc gives each thread that allocates under contention an
    // arena of its own (up to 8 per core) and keeps what they freed; two arenas serve the
    // daemon's threads as well, and a trim now and then hands freed pages back.
    // SAFETY: mallopt and malloc_trim only tune and trim glibc's allocator.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            // SAFETY: as above.
            unsafe { libc::malloc_trim(0) };
        }
    });
    // After fexecve the kernel names the process after the descriptor: name it again.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"berth".as_ptr()) };
    let a = match Args::try_parse_from(
        std::iter::once(std::ffi::OsString::from("berth daemon")).chain(args.iter().cloned()),
    ) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
    };
    match run(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth daemon: {e:#}");
            1
        }
    }
}

/// The flags `a` with the config file applied (dockerd's rule: a key given both ways is an
/// error), checked; and the file. Run at start and at each reload.
pub(crate) fn resolve(mut a: Args) -> Result<(Args, serde_json::Value)> {
    // The config file: flags and file may not both set a key (dockerd's rule).
    let file: serde_json::Value = match std::fs::read(&a.config_file) {
        Ok(d) => serde_json::from_slice(&d)
            .with_context(|| format!("config file {}", a.config_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => bail!("read {}: {e}", a.config_file.display()),
    };
    let known = [
        "hosts",
        "data-root",
        "exec-root",
        "pidfile",
        "group",
        "icc",
        "dns",
        "insecure-registries",
        "registry-mirrors",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "default-ulimits",
        "log-level",
        "debug",
        "live-restore",
        "scan-db",
        "deny-vulnerable",
        "scan-on-pull",
        "signature-policy",
        "read-only-group",
    ];
    for k in file.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !known.contains(&k.as_str())
            && !crate::defaults::KEYS.contains(&k.as_str())
            && !crate::monitoring::KEYS.contains(&k.as_str())
            && !crate::web::KEYS.contains(&k.as_str())
        {
            bail!(
                "the following directives don't match any configuration option: {k} (in {})",
                a.config_file.display()
            );
        }
    }
    let conflict = |k: &str, flag_set: bool| -> Result<()> {
        if flag_set && !file[k].is_null() {
            bail!(
                "the following directives are specified both as a flag and in the configuration file: {k}"
            );
        }
        Ok(())
    };
    conflict("hosts", !a.hosts.is_empty())?;
    conflict("insecure-registries", !a.insecure_registries.is_empty())?;
    conflict("registry-mirrors", !a.registry_mirrors.is_empty())?;
    if a.hosts.is_empty() {
        a.hosts = strings(&file, "hosts");
    }
    if a.insecure_registries.is_empty() {
        a.insecure_registries = strings(&file, "insecure-registries");
    }
    if a.registry_mirrors.is_empty() {
        a.registry_mirrors = strings(&file, "registry-mirrors");
    }
    for m in &a.registry_mirrors {
        berth_engine::mirrors::parse_url(m).map_err(|e| anyhow!("registry-mirrors: {e}"))?;
    }
    for (key, flag) in [
        ("max-concurrent-downloads", &mut a.max_concurrent_downloads),
        ("max-concurrent-uploads", &mut a.max_concurrent_uploads),
    ] {
        if flag.is_some() && !file[key].is_null() {
            bail!(
                "the following directives are specified both as a flag and in the configuration file: {key}"
            );
        }
        if let Some(v) = &file[key].as_u64() {
            *flag = Some(*v as usize);
        } else if !file[key].is_null() {
            bail!("invalid {key}: a positive number");
        }
        if *flag == Some(0) {
            bail!("invalid {key} 0: at least 1");
        }
    }
    if let Some(d) = file["data-root"].as_str() {
        a.data_root = PathBuf::from(d);
    }
    if let Some(d) = file["exec-root"].as_str() {
        a.exec_root = PathBuf::from(d);
    }
    if let Some(d) = file["cgroup-parent"].as_str() {
        a.cgroup_parent = d.to_owned();
    }
    if let Some(d) = file["pidfile"].as_str() {
        a.pidfile = Some(PathBuf::from(d));
    }
    if let Some(i) = file["icc"].as_bool() {
        a.icc = i;
    }
    conflict("dns", !a.dns.is_empty())?;
    if a.dns.is_empty() {
        for d in strings(&file, "dns") {
            a.dns.push(
                d.parse()
                    .map_err(|_| anyhow!("invalid IP address in \"dns\": {d}"))?,
            );
        }
    }
    conflict("log-level", a.log_level != "info")?;
    conflict("debug", a.debug)?;
    if let Some(l) = file["log-level"].as_str() {
        a.log_level = l.to_owned();
    }
    a.debug |= file["debug"].as_bool().unwrap_or(false);
    conflict("scan-db", a.scan_db.is_some())?;
    conflict("deny-vulnerable", a.deny_vulnerable.is_some())?;
    if let Some(d) = file["scan-db"].as_str() {
        a.scan_db = Some(PathBuf::from(d));
    }
    conflict("scan-on-pull", a.scan_on_pull)?;
    a.scan_on_pull |= file["scan-on-pull"].as_bool().unwrap_or(false);
    conflict("read-only-group", a.read_only_group.is_some())?;
    if let Some(g) = file["read-only-group"].as_str() {
        a.read_only_group = Some(g.to_owned());
    }
    if a.read_only_group.is_some() && a.group.is_some() {
        bail!("--group and --read-only-group both name the socket's group: give one");
    }
    conflict("signature-policy", a.signature_policy.is_some())?;
    if let Some(p) = file["signature-policy"].as_str() {
        a.signature_policy = Some(PathBuf::from(p));
    }
    if let Some(d) = file["deny-vulnerable"].as_str() {
        a.deny_vulnerable = Some(d.to_owned());
    }
    if let Some(d) = &a.deny_vulnerable {
        let up = d.to_uppercase();
        if berth_engine::scan::severity_rank(&up) < 2 {
            bail!("invalid deny-vulnerable {d:?}: use LOW, MEDIUM, HIGH or CRITICAL");
        }
        a.deny_vulnerable = Some(up);
    }
    Ok((a, file))
}

fn run(orig: Args) -> Result<()> {
    let (mut a, file) = resolve(orig.clone())?;
    let level = crate::log::parse_level(&a.log_level)
        .ok_or_else(|| anyhow!("Unable to parse logging level: {}", a.log_level))?;
    crate::log::init(if a.debug {
        tracing::Level::DEBUG
    } else {
        level
    });
    let _ = &a.default_ulimits;
    // Paths the daemon hands to shims and runtimes (bundles, rootfs) must not depend on its
    // working directory: relative roots are made absolute once.
    a.data_root = std::path::absolute(&a.data_root)
        .with_context(|| format!("data root {}", a.data_root.display()))?;
    a.exec_root = std::path::absolute(&a.exec_root)
        .with_context(|| format!("exec root {}", a.exec_root.display()))?;
    if a.hosts.is_empty() {
        a.hosts.push(format!("unix://{DEFAULT_SOCKET}"));
    }
    let sockets: Vec<PathBuf> = a
        .hosts
        .iter()
        .map(|h| {
            h.strip_prefix("unix://").map(PathBuf::from).ok_or_else(|| {
                anyhow!(
                    "unsupported host {h:?}: only unix:// (TCP needs mutual TLS, not built yet)"
                )
            })
        })
        .collect::<Result<_>>()?;

    // A policy file given explicitly must exist; either must be valid before the daemon
    // serves (later edits are read at each use).
    let trust = berth_engine::trust::TrustConfig {
        explicit: a.signature_policy.is_some(),
        policy: match &a.signature_policy {
            Some(p) => std::path::absolute(p)
                .with_context(|| format!("signature policy {}", p.display()))?,
            None => PathBuf::from(berth_engine::trust::DEFAULT_POLICY),
        },
    };
    trust.load().map_err(|e| anyhow!("{e}"))?;
    let defaults = crate::defaults::defaults(&a.defaults, &file)?;
    let monitoring = crate::monitoring::settings(&a.monitoring, &file, &a.data_root)?;
    let web = crate::web::settings(&a.web, &file, &a.data_root)?;
    let engine = berth_engine::Engine::open(berth_engine::Config {
        data_root: a.data_root.clone(),
        exec_root: a.exec_root.clone(),
        registry: registry_settings(&a),
        cgroup_parent: a.cgroup_parent.clone(),
        icc: a.icc,
        dns: a.dns.clone(),
        defaults,
        scan: berth_engine::scan::ScanPolicy {
            db: a
                .scan_db
                .clone()
                .unwrap_or_else(|| a.data_root.join("vuln.db")),
            deny: a.deny_vulnerable.clone(),
            on_pull: a.scan_on_pull,
        },
        trust,
        sandboxes: web.sandboxes,
        facts: berth_engine::audit::DaemonFacts {
            binary: berth_runtime::exe::original(),
            config_file: std::path::absolute(&a.config_file)
                .unwrap_or_else(|_| a.config_file.clone()),
            sockets: sockets.clone(),
            log_level: if a.debug {
                "debug".into()
            } else {
                a.log_level.clone()
            },
            audit_rules_dir: std::env::var_os("BERTH_AUDIT_RULES_DIR")
                .map_or_else(|| PathBuf::from("/etc/audit/rules.d"), PathBuf::from),
        },
    })
    .map_err(|e| anyhow!("{e}"))?;
    let engine = Arc::new(engine);
    // Exits, restart policies, auto-removal, health checks.
    engine.supervise();
    engine.sample_stats(monitoring.history);
    let options = berth_api::Options {
        panic_route: std::env::var_os("BERTH_TEST_PANIC_ROUTE").is_some_and(|v| v == "1"),
        read_only_non_root: a.read_only_group.is_some(),
    };

    // Request threads run raised (berth_api::priority); the threads of the heavy work, and
    // the shims they spawn, at the daemon's own priority.
    berth_api::priority::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(berth_api::priority::normal_thread)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(async move {
        let mut listeners = Vec::new();
        let mut inodes = Vec::new();
        for s in &sockets {
            listeners.push(bind(s, a.group.as_deref().or(a.read_only_group.as_deref())).await?);
            inodes.push(inode(s));
        }
        tracing::info!("Daemon has completed initialization");
        for s in &sockets {
            tracing::info!("API listen on {}", s.display());
        }
        if let Some(p) = &a.pidfile {
            std::fs::write(p, format!("{}\n", std::process::id()))
                .with_context(|| format!("write pid file {}", p.display()))?;
        }
        // The embedded DNS servers follow the user-defined networks.
        tokio::spawn(engine.clone().serve_dns());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let mut state = crate::reload::State {
            orig,
            file,
            listeners: Default::default(),
        };
        state
            .listeners
            .set_dashboard(&engine, web.dashboard.as_ref())
            .await?;
        state
            .listeners
            .set_metrics(&engine, monitoring.metrics.as_ref())
            .await?;
        // Reloads asked for through the API come here.
        let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel(4);
        let _ = engine.live.reload.set(reload_tx);
        for l in listeners {
            let mut rx = stop_rx.clone();
            let e = engine.clone();
            let o = options.clone();
            tasks.push(tokio::spawn(async move {
                berth_api::serve(e, o, l, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
            }));
        }
        eprintln!(
            "berth daemon {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            a.hosts.join(", ")
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("SIGTERM handler")?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("SIGINT handler")?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("SIGHUP handler")?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    tracing::info!("Got signal to reload configuration, reloading from: {}", state.orig.config_file.display());
                    crate::reload::reload(&mut state, &engine).await;
                }
                Some(reply) = reload_rx.recv() => {
                    let report = crate::reload::reload(&mut state, &engine).await;
                    let _ = reply.send(report);
                }
            }
        }
        state.listeners.stop_all().await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
        }
        engine.networks.shutdown();
        // Only what is still ours: another daemon may have taken the paths meanwhile.
        for (s, ino) in sockets.iter().zip(&inodes) {
            if inode(s) == *ino {
                let _ = std::fs::remove_file(s);
            }
        }
        if let Some(p) = &a.pidfile {
            if std::fs::read_to_string(p).is_ok_and(|c| c.trim() == std::process::id().to_string())
            {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok::<(), anyhow::Error>(())
    })
}

/// The registry settings of resolved flags.
pub(crate) fn registry_settings(a: &Args) -> berth_engine::RegistrySettings {
    berth_engine::RegistrySettings {
        insecure: a.insecure_registries.clone(),
        mirrors: a.registry_mirrors.clone(),
        max_concurrent_downloads: a.max_concurrent_downloads.unwrap_or(0),
        max_concurrent_uploads: a.max_concurrent_uploads.unwrap_or(0),
    }
}

fn inode(p: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Bind a unix socket (0660, root:GROUP), replacing a stale one but never a live daemon's.
async fn bind(path: &std::path::Path, group: Option<&str>) -> Result<tokio::net::UnixListener> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            bail!("{} is in use by another daemon", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(g) = group {
        let gid = nix_group(g).ok_or_else(|| anyhow!("unknown group {g:?}"))?;
        std::os::unix::fs::chown(path, Some(0), Some(gid))?;
    }
    Ok(l)
}

fn nix_group(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
        })
}
