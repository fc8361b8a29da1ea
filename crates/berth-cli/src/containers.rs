//! Container commands (`run`, `create`, `start`, `ps`, `logs`, `stop`, `kill`, `rm`, `wait`),
//! with docker's flags, output and exit codes, as calls of the Engine API.

use std::io::Write;

use anyhow::{Result, anyhow};
use berth_client::{Client, Demux, Method, query};
use clap::Args;
use serde_json::{Value, json};

use crate::units::{human_duration, now};
use crate::{Global, connect};

#[derive(Debug, Args, Clone)]
pub struct CreateArgs {
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Print usage (`-h` is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID (run only)
    #[arg(short, long)]
    detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long)]
    label_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long)]
    label: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Signal to stop the container
    #[arg(long)]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    stop_timeout: Option<i64>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pull: String,
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Security Options (seccomp=FILE|unconfined, no-new-privileges, label=…, apparmor=…)
    #[arg(long)]
    security_opt: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Add a host device to the container (HOST[:CONTAINER[:PERMS]])
    #[arg(long)]
    device: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    sysctl: Vec<String>,
    /// Size of /dev/shm
    #[arg(long)]
    shm_size: Option<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_hyphen_values = true)]
    oom_score_adj: Option<i64>,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Bind mount a volume (/host:/container[:ro])
    #[arg(short = 'v', long)]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|tmpfs,src=…,dst=…,readonly)
    #[arg(long)]
    mount: Vec<String>,
    /// Restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)
    #[arg(long, default_value = "no")]
    restart: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Command to run to check health
    #[arg(long)]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long)]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long)]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h)
    #[arg(long)]
    health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    no_healthcheck: bool,
    /// Storage driver options for the container (size=64m: a quota for its writable layer)
    #[arg(long)]
    storage_opt: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Runtime to use for this container (berth, runc, crun or a path)
    #[arg(long)]
    runtime: Option<String>,
    /// Logging driver for the container (json-file)
    #[arg(long)]
    log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3)
    #[arg(long)]
    log_opt: Vec<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long, alias = "net-alias")]
    network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long)]
    mac_address: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long)]
    dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    add_host: Vec<String>,
    /// Add link to another container (name[:alias])
    #[arg(long)]
    link: Vec<String>,
    /// Mount volumes from the specified container(s) (NAME[:ro|rw])
    #[arg(long)]
    volumes_from: Vec<String>,
    /// Limit traffic into the container (e.g. 8mbit; Berth's own flag)
    #[arg(long)]
    net_rate_ingress: Option<String>,
    /// Limit traffic out of the container (e.g. 8mbit; Berth's own flag)
    #[arg(long)]
    net_rate_egress: Option<String>,
    #[arg(required = true)]
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Docker's RAMInBytes: `512`, `64k`, `512m`, `1g` (binary units).
fn ram_in_bytes(flag: &str, v: &str) -> Result<i64> {
    let bad = || anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: invalid size: '{v}'");
    let lower = v.trim().to_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (n, unit) = lower.split_at(digits_end);
    let n: f64 = n.parse().map_err(|_| bad())?;
    let mul: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((n * mul) as i64)
}

fn host_config(a: &CreateArgs) -> Result<Value> {
    let mut hc = json!({
        "AutoRemove": a.rm, "ReadonlyRootfs": a.read_only, "Privileged": a.privileged, "Init": a.init,
    });
    if let Some(r) = &a.runtime {
        hc["Runtime"] = json!(r);
    }
    if let Some(m) = &a.memory {
        hc["Memory"] = json!(ram_in_bytes("-m, --memory", m)?);
    }
    if let Some(m) = &a.memory_swap {
        hc["MemorySwap"] = json!(if m == "-1" {
            -1
        } else {
            ram_in_bytes("--memory-swap", m)?
        });
    }
    if let Some(m) = &a.memory_reservation {
        hc["MemoryReservation"] = json!(ram_in_bytes("--memory-reservation", m)?);
    }
    if let Some(c) = &a.cpus {
        let n: f64 = c
            .parse()
            .ok()
            .filter(|n: &f64| *n >= 0.0)
            .ok_or_else(|| anyhow!("invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number"))?;
        hc["NanoCpus"] = json!((n * 1e9) as i64);
    }
    if let Some(s) = a.cpu_shares {
        hc["CpuShares"] = json!(s);
    }
    if let Some(c) = &a.cpuset_cpus {
        hc["CpusetCpus"] = json!(c);
    }
    if let Some(p) = a.pids_limit {
        hc["PidsLimit"] = json!(p);
    }
    let mut ulimits = Vec::new();
    for u in &a.ulimit {
        let (name, lim) = u.split_once('=').ok_or_else(|| {
            anyhow!("invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit argument: {u}")
        })?;
        let (soft, hard) = lim.split_once(':').unwrap_or((lim, lim));
        let p = |x: &str| {
            x.parse::<i64>().map_err(|_| {
                anyhow!("invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit value: {x}")
            })
        };
        ulimits.push(json!({"Name": name, "Soft": p(soft)?, "Hard": p(hard)?}));
    }
    hc["Ulimits"] = json!(ulimits);
    hc["CapAdd"] = json!(a.cap_add);
    hc["CapDrop"] = json!(a.cap_drop);
    // docker sends a seccomp profile's content, not its path.
    let mut sec = Vec::new();
    for o in &a.security_opt {
        match o.split_once(['=', ':']) {
            Some(("seccomp", f)) if f != "unconfined" && f != "builtin" => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| anyhow!("opening seccomp profile ({f}) failed: {e}"))?;
                sec.push(format!("seccomp={text}"));
            }
            _ => sec.push(o.clone()),
        }
    }
    hc["SecurityOpt"] = json!(sec);
    let mut devices = Vec::new();
    for d in &a.device {
        let p: Vec<&str> = d.split(':').collect();
        let (host, inner, perms) = match p.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, c] if c.chars().all(|x| "rwm".contains(x)) => (*h, *h, *c),
            [h, c] => (*h, *c, "rwm"),
            [h, c, m] => (*h, *c, *m),
            _ => bail_flag("--device", d)?,
        };
        devices.push(
            json!({"PathOnHost": host, "PathInContainer": inner, "CgroupPermissions": perms}),
        );
    }
    hc["Devices"] = json!(devices);
    let mut sysctls = serde_json::Map::new();
    for s in &a.sysctl {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            anyhow!("invalid argument \"{s}\" for \"--sysctl\" flag: sysctl '{s}' is not allowed")
        })?;
        sysctls.insert(k.to_owned(), json!(v));
    }
    hc["Sysctls"] = Value::Object(sysctls);
    if let Some(s) = &a.shm_size {
        hc["ShmSize"] = json!(ram_in_bytes("--shm-size", s)?);
    }
    if let Some(o) = a.oom_score_adj {
        if !(-1000..=1000).contains(&o) {
            anyhow::bail!(
                "invalid argument \"{o}\" for \"--oom-score-adj\" flag: must be in the range -1000 to 1000"
            );
        }
        hc["OomScoreAdj"] = json!(o);
    }
    let mut tmpfs = serde_json::Map::new();
    for t in &a.tmpfs {
        let (p, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(p.to_owned(), json!(o));
    }
    hc["Tmpfs"] = Value::Object(tmpfs);
    hc["Binds"] = json!(
        a.volume
            .iter()
            .map(|v| absolute_bind(v))
            .collect::<Result<Vec<_>>>()?
    );
    hc["VolumesFrom"] = json!(a.volumes_from);
    let mut log_cfg = serde_json::Map::new();
    for o in &a.log_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| {
            anyhow!(
                "invalid argument \"{o}\" for \"--log-opt\" flag: invalid key value pair format"
            )
        })?;
        log_cfg.insert(k.to_owned(), json!(v));
    }
    hc["LogConfig"] = json!({"Type": a.log_driver.clone().unwrap_or_else(|| "json-file".into()), "Config": log_cfg});
    if !a.storage_opt.is_empty() {
        let mut so = serde_json::Map::new();
        for o in &a.storage_opt {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid storage option {o:?}: expected key=value"))?;
            so.insert(k.to_owned(), json!(v));
        }
        hc["StorageOpt"] = Value::Object(so);
    }
    let mut mounts = Vec::new();
    for m in &a.mount {
        let mut v = json!({"Type": "volume"});
        for kv in m.split(',') {
            let (k, val) = kv.split_once('=').unwrap_or((kv, "true"));
            match k {
                "type" => v["Type"] = json!(val),
                "src" | "source" => v["Source"] = json!(val),
                "dst" | "destination" | "target" => v["Target"] = json!(val),
                "readonly" | "ro" => v["ReadOnly"] = json!(val != "false" && val != "0"),
                "bind-propagation" => v["BindOptions"]["Propagation"] = json!(val),
                "volume-nocopy" => {
                    v["VolumeOptions"]["NoCopy"] = json!(val != "false" && val != "0")
                }
                "tmpfs-size" => {
                    v["TmpfsOptions"]["SizeBytes"] = json!(ram_in_bytes("--mount", val)?)
                }
                "tmpfs-mode" => {
                    v["TmpfsOptions"]["Mode"] = json!(
                        i64::from_str_radix(val, 8)
                            .map_err(|_| anyhow!("invalid tmpfs-mode {val}"))?
                    )
                }
                _ => anyhow::bail!(
                    "invalid argument \"{m}\" for \"--mount\" flag: unexpected key '{k}' in '{kv}'"
                ),
            }
        }
        mounts.push(v);
    }
    hc["Mounts"] = json!(mounts);
    let (name, max) = match a.restart.split_once(':') {
        Some(("on-failure", n)) => (
            "on-failure",
            n.parse::<i64>().map_err(|_| {
                anyhow!("invalid restart policy format: maximum retry count must be an integer")
            })?,
        ),
        Some((p, _)) => {
            anyhow::bail!("invalid restart policy format: {p} does not take a maximum retry count")
        }
        None => (a.restart.as_str(), 0),
    };
    if !["no", "always", "unless-stopped", "on-failure"].contains(&name) {
        anyhow::bail!("invalid restart policy format: unknown policy {name:?}");
    }
    if a.rm && name != "no" {
        anyhow::bail!("Conflicting options: --restart and --rm");
    }
    hc["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": max});
    if let Some(n) = &a.network {
        hc["NetworkMode"] = json!(n);
    }
    hc["PortBindings"] = Value::Object(crate::networks::port_bindings(&a.publish)?);
    hc["PublishAllPorts"] = json!(a.publish_all);
    hc["Dns"] = json!(a.dns);
    hc["DnsSearch"] = json!(a.dns_search);
    hc["DnsOptions"] = json!(a.dns_option);
    for h in &a.add_host {
        if h.split_once(':')
            .is_none_or(|(n, ip)| n.is_empty() || ip.is_empty())
        {
            anyhow::bail!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
            );
        }
    }
    hc["ExtraHosts"] = json!(a.add_host);
    if let Some(r) = &a.net_rate_ingress {
        hc["NetRateIngress"] = json!(r);
    }
    if let Some(r) = &a.net_rate_egress {
        hc["NetRateEgress"] = json!(r);
    }
    hc["Links"] = json!(a.link);
    Ok(hc)
}

/// `-v` as docker's CLI sends it: a relative host path (`./data:/x`) made absolute; a bare
/// name is a named volume.
fn absolute_bind(v: &str) -> Result<String> {
    let Some((src, rest)) = v.split_once(':') else {
        return Ok(v.to_owned());
    };
    if src.starts_with('.') || src.starts_with('~') {
        let base = if let Some(r) = src.strip_prefix('~') {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(r.trim_start_matches('/'))
        } else {
            std::env::current_dir()?.join(src)
        };
        return Ok(format!("{}:{rest}", base.display()));
    }
    Ok(v.to_owned())
}

/// A Go duration (`1m30s`, `500ms`, `10s`) in nanoseconds.
fn go_duration(flag: &str, v: &str) -> Result<i64> {
    let bad =
        || anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: time: invalid duration \"{v}\"");
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mul = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mul;
        rest = &rest[u_end..];
    }
    Ok(total as i64)
}

fn healthcheck(a: &CreateArgs) -> Result<Option<Value>> {
    if a.no_healthcheck {
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    let any = a.health_cmd.is_some()
        || a.health_interval.is_some()
        || a.health_timeout.is_some()
        || a.health_retries.is_some()
        || a.health_start_period.is_some();
    if !any {
        return Ok(None);
    }
    let mut h = json!({});
    if let Some(c) = &a.health_cmd {
        h["Test"] = json!(["CMD-SHELL", c]);
    }
    for (k, v, flag) in [
        ("Interval", &a.health_interval, "--health-interval"),
        ("Timeout", &a.health_timeout, "--health-timeout"),
        (
            "StartPeriod",
            &a.health_start_period,
            "--health-start-period",
        ),
    ] {
        if let Some(v) = v {
            h[k] = json!(go_duration(flag, v)?);
        }
    }
    if let Some(r) = a.health_retries {
        h["Retries"] = json!(r);
    }
    Ok(Some(h))
}

fn bail_flag<T>(flag: &str, v: &str) -> Result<T> {
    Err(anyhow!("invalid argument \"{v}\" for \"{flag}\" flag"))
}

/// The lines of `--env-file`/`--label-file` files, as docker reads them: blank lines and `#`
/// comments skipped, `NAME` alone taken from our environment (env files), no whitespace in
/// names.
fn lines_of_files(files: &[String], env_style: bool) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow!("open {f}: {e}"))?;
        for line in text.lines() {
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (name, _) = l.split_once('=').unwrap_or((l, ""));
            if env_style && name.contains(char::is_whitespace) {
                anyhow::bail!(
                    "poorly formatted environment: variable '{name}' contains whitespaces"
                );
            }
            out.push(l.to_owned());
        }
    }
    Ok(out)
}

fn create_body(a: &CreateArgs) -> Result<Value> {
    let labels: serde_json::Map<String, Value> = lines_of_files(&a.label_file, false)?
        .iter()
        .chain(a.label.iter())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), Value::from(v)),
            None => (l.clone(), Value::from("")),
        })
        .collect();
    let env: Vec<String> = lines_of_files(&a.env_file, true)?
        .iter()
        .chain(a.env.iter())
        .map(|e| {
            if e.contains('=') {
                e.clone()
            } else {
                // `-e NAME` takes NAME from the caller's environment, as docker does.
                format!("{e}={}", std::env::var(e).unwrap_or_default())
            }
        })
        .collect();
    let mut body = json!({
        "Image": a.image,
        "Env": env,
        "Labels": labels,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "AttachStdin": a.interactive && !a.detach,
        "OpenStdin": a.interactive,
        "StdinOnce": a.interactive && !a.detach,
        "Tty": a.tty,
        "HostConfig": host_config(a)?,
    });
    if !a.command.is_empty() {
        body["Cmd"] = json!(a.command);
    }
    if let Some(e) = &a.entrypoint {
        body["Entrypoint"] = if e.is_empty() { json!([]) } else { json!([e]) };
    }
    for (k, v) in [
        ("WorkingDir", &a.workdir),
        ("User", &a.user),
        ("Hostname", &a.hostname),
        ("StopSignal", &a.stop_signal),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    if let Some(t) = a.stop_timeout {
        body["StopTimeout"] = json!(t);
    }
    if let Some(h) = healthcheck(a)? {
        body["Healthcheck"] = h;
    }
    let exposed = crate::networks::exposed(&a.expose)?;
    if !exposed.is_empty() {
        body["ExposedPorts"] = Value::Object(exposed.into_iter().map(|p| (p, json!({}))).collect());
    }
    if let Some(m) = &a.mac_address {
        body["MacAddress"] = json!(m);
    }
    if !a.network_alias.is_empty() || a.ip.is_some() || a.ip6.is_some() || a.mac_address.is_some() {
        let net = a.network.clone().unwrap_or_else(|| "default".into());
        let mut ep = json!({});
        if !a.network_alias.is_empty() {
            ep["Aliases"] = json!(a.network_alias);
        }
        if let Some(ip) = &a.ip {
            ep["IPAMConfig"]["IPv4Address"] = json!(ip);
        }
        if let Some(ip) = &a.ip6 {
            ep["IPAMConfig"]["IPv6Address"] = json!(ip);
        }
        if let Some(m) = &a.mac_address {
            ep["MacAddress"] = json!(m);
        }
        body["NetworkingConfig"] = json!({"EndpointsConfig": {net: ep}});
    }
    Ok(body)
}

/// Create, pulling the image first if it is missing (docker's `--pull missing`).
fn create_container(
    g: &Global,
    rt: &tokio::runtime::Runtime,
    c: &Client,
    a: &CreateArgs,
) -> Result<String> {
    let path = match &a.name {
        Some(n) => format!("/containers/create{}", query(&[("name", n)])),
        None => "/containers/create".to_owned(),
    };
    let body = create_body(a)?;
    let path = match &a.platform {
        Some(p) => format!(
            "{path}{}platform={}",
            if path.contains('?') { "&" } else { "?" },
            berth_client::enc(p)
        ),
        None => path,
    };
    if a.pull == "always" {
        pull_image(g, &a.image)?;
    }
    match rt.block_on(c.json(Method::POST, &path, Some(&body))) {
        Ok(v) => Ok(v["Id"].as_str().unwrap_or_default().to_owned()),
        Err(berth_client::Error::Api {
            status: 404,
            message,
        }) if message.starts_with("No such image") && a.pull == "missing" => {
            let shown = berth_image::reference::Reference::parse(&a.image)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| a.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            pull_image(g, &a.image)?;
            let v = rt.block_on(c.json(Method::POST, &path, Some(&body)))?;
            Ok(v["Id"].as_str().unwrap_or_default().to_owned())
        }
        Err(e) => Err(e.into()),
    }
}

fn pull_image(g: &Global, image: &str) -> Result<()> {
    crate::images::pull_quietly_to_stderr(g, image)
}

/// docker's exit codes for a failed start: 127 not found, 126 not executable, 125 otherwise.
fn start_failure(e: &anyhow::Error) -> i32 {
    let m = e.to_string();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

pub fn create(g: &Global, a: CreateArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match create_container(g, &rt, &c, &a) {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", crate::describe(&e));
            Ok(125)
        }
    }
}

/// Copy a container's output (a multiplexed stream) to our stdout/stderr.
fn copy_output(rt: &tokio::runtime::Runtime, c: &Client, path: &str) -> Result<()> {
    let mut d = Demux::default();
    rt.block_on(c.raw_stream(Method::GET, path, |chunk| d.push(chunk, write_stream)))?;
    Ok(())
}

pub fn run(g: &Global, a: CreateArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let id = match create_container(g, &rt, &c, &a) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("{}", crate::describe(&e));
            return Ok(125);
        }
    };
    if a.detach {
        if let Err(e) = rt.block_on(c.json(Method::POST, &format!("/containers/{id}/start"), None))
        {
            let e = anyhow::Error::from(e);
            eprintln!("berth: {}", crate::describe(&e));
            return Ok(start_failure(&e));
        }
        println!("{id}");
        return Ok(0);
    }
    if a.interactive || a.tty {
        return run_interactive(&rt, &c, &id, a.tty, a.rm);
    }
    match attached_start(&rt, &c, &id, if a.rm { "removed" } else { "next-exit" })? {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("berth: {}", crate::describe(&e));
            if a.rm {
                let _ =
                    rt.block_on(c.json(Method::DELETE, &format!("/containers/{id}?force=1"), None));
            }
            Ok(start_failure(&e))
        }
    }
}

/// Start a container with its output copied to ours; the exit code, or the start's error.
/// Attached and waiting before the start (the daemon answers both at once), so neither the
/// output nor the exit of a quick container (or one removed by --rm) can be missed.
fn attached_start(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    id: &str,
    cond: &str,
) -> Result<Result<i32, anyhow::Error>> {
    let none: &[(&str, String)] = &[];
    let attach = rt.block_on(c.call(
        Method::POST,
        &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        none,
        berth_client::empty(),
    ))?;
    let waited = rt.block_on(c.call(
        Method::POST,
        &format!("/containers/{id}/wait?condition={cond}"),
        none,
        berth_client::empty(),
    ))?;
    if let Err(e) = rt.block_on(c.json(Method::POST, &format!("/containers/{id}/start"), None)) {
        return Ok(Err(e.into()));
    }
    let mut d = Demux::default();
    rt.block_on(berth_client::body_chunks(attach, |chunk| {
        d.push(chunk, write_stream);
    }))?;
    let v = rt.block_on(berth_client::body_json(waited))?;
    Ok(Ok(v["StatusCode"].as_i64().unwrap_or(125) as i32))
}

fn write_stream(stream: u8, data: &[u8]) {
    if stream == 2 {
        let _ = std::io::stderr().write_all(data);
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(data);
        let _ = o.flush();
    }
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn start(g: &Global, a: StartArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in &a.containers {
        let started = if a.interactive {
            // stdin (and a terminal if the container has one) as `run -i` gives it.
            let tty = inspect_container(&rt, &c, n)
                .is_some_and(|v| v["Config"]["Tty"].as_bool() == Some(true));
            run_interactive(&rt, &c, n, tty, false)
        } else if a.attach {
            attached_start(&rt, &c, n, "next-exit")?
        } else {
            rt.block_on(c.json(Method::POST, &format!("/containers/{n}/start"), None))
                .map(|_| {
                    println!("{n}");
                    0
                })
                .map_err(anyhow::Error::from)
        };
        match started {
            Ok(c) if a.attach || a.interactive => code = c,
            Ok(_) => {}
            Err(e) => {
                eprintln!("{}", crate::describe(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show the latest created container
    #[arg(short, long)]
    latest: bool,
    /// Show n last created containers
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Filter output based on conditions provided (name=, label=, status=, network=, …)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

/// Repeated `--filter k=v` as the API's `filters` JSON (`{"k": {"v": true}}`).
pub(crate) fn filters_json(filters: &[String]) -> Result<Option<String>> {
    let mut f = serde_json::Map::new();
    for x in filters {
        let (k, v) = x
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        if let Some(m) = f.entry(k.to_owned()).or_insert(json!({})).as_object_mut() {
            m.insert(v.to_owned(), json!(true));
        }
    }
    Ok((!f.is_empty()).then(|| Value::Object(f).to_string()))
}

pub fn ps(g: &Global, a: PsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.all {
        q.push(("all", "1".into()));
    }
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        q.push(("limit", n.to_string()));
    }
    if a.size {
        q.push(("size", "1".into()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut list = rt.block_on(c.get(&format!(
        "/containers/json{}",
        if pairs.is_empty() {
            String::new()
        } else {
            query(&pairs)
        }
    )))?;
    let items = list.as_array_mut().map(std::mem::take).unwrap_or_default();
    let rows: Vec<Value> = items
        .iter()
        .map(|s| {
            let id = s["Id"].as_str().unwrap_or_default();
            let mut cmd = s["Command"].as_str().unwrap_or_default().to_owned();
            if !a.no_trunc && cmd.chars().count() > 20 {
                cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
            }
            let created = s["Created"].as_i64().unwrap_or(0);
            json!({
                "ID": if a.no_trunc { id.to_owned() } else { id.chars().take(12).collect() },
                "Image": s["Image"],
                "Command": format!("\"{cmd}\""),
                "CreatedAt": crate::units::go_time(created),
                "RunningFor": format!("{} ago", human_duration(now() - created)),
                "Status": s["Status"],
                "State": s["State"],
                "Ports": ports_column(&s["Ports"]),
                "Names": s["Names"].as_array().into_iter().flatten().filter_map(|n| n.as_str()).map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
                "Labels": crate::images::labels_text(&s["Labels"]),
                "Mounts": "",
                "Networks": s["NetworkSettings"]["Networks"].as_object().map(|n| n.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default(),
                "Size": match (s["SizeRw"].as_f64(), s["SizeRootFs"].as_f64()) {
                    (Some(rw), Some(root)) => format!(
                        "{} (virtual {})",
                        crate::units::human_size(rw),
                        crate::units::human_size(root)
                    ),
                    _ => String::new(),
                },
            })
        })
        .collect();
    let mut cols = vec![
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
    ];
    if a.size {
        cols.push(("Size", "SIZE"));
    }
    crate::images::print_list(
        a.quiet,
        a.format.as_deref(),
        &cols,
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("State", "STATE"),
            ("Ports", "PORTS"),
            ("Names", "NAMES"),
            ("Labels", "LABELS"),
            ("Mounts", "MOUNTS"),
            ("Networks", "NETWORKS"),
            ("Size", "SIZE"),
        ],
        &rows,
    )?;
    Ok(0)
}

/// docker's PORTS column: `127.0.0.1:8080->80/tcp, 81/tcp`.
fn ports_column(ports: &Value) -> String {
    let mut items: Vec<(u64, String)> = ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let private = p["PrivatePort"].as_u64().unwrap_or(0);
            let typ = p["Type"].as_str().unwrap_or("tcp");
            let text = match p["PublicPort"].as_u64() {
                Some(public) => format!(
                    "{}:{public}->{private}/{typ}",
                    p["IP"].as_str().unwrap_or("0.0.0.0")
                ),
                None => format!("{private}/{typ}"),
            };
            (private, text)
        })
        .collect();
    items.sort();
    items
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Number of lines to show from the end of the logs ("all")
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (Unix seconds, RFC 3339) or relative (42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (Unix seconds, RFC 3339) or relative (42m)
    #[arg(long)]
    until: Option<String>,
    container: String,
}

pub fn logs(g: &Global, a: LogsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let since = a.since.as_deref().map(time_flag);
    let until = a.until.as_deref().map(time_flag);
    let mut q = vec![("stdout", "1"), ("stderr", "1"), ("tail", a.tail.as_str())];
    if let Some(s) = &since {
        q.push(("since", s));
    }
    if let Some(u) = &until {
        q.push(("until", u));
    }
    if a.follow {
        q.push(("follow", "1"));
    }
    if a.timestamps {
        q.push(("timestamps", "1"));
    }
    copy_output(
        &rt,
        &c,
        &format!("/containers/{}/logs{}", a.container, query(&q)),
    )?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Run one request per container, printing the name on success (docker's style).
fn each(g: &Global, names: &[String], req: impl Fn(&str) -> (Method, String)) -> Result<i32> {
    each_object(g, names, false, req)
}

/// Run one request per object (container, network, volume), printing its name on success;
/// with `missing_ok`, an object that does not exist is no error (`rm -f`).
pub(crate) fn each_object(
    g: &Global,
    names: &[String],
    missing_ok: bool,
    req: impl Fn(&str) -> (Method, String),
) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in names {
        let (m, path) = req(n);
        match rt.block_on(c.json(m, &path, None)) {
            Ok(_) => println!("{n}"),
            Err(berth_client::Error::Api { status: 404, .. }) if missing_ok => {}
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

pub fn stop(g: &Global, a: StopArgs) -> Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let qs = query(&q.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/stop{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(g: &Global, a: KillArgs) -> Result<i32> {
    let qs = query(&[("signal", a.signal.as_str())]);
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/kill{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(g: &Global, a: RmArgs) -> Result<i32> {
    let qs = match (a.force, a.volumes) {
        (true, true) => "?force=1&v=1",
        (true, false) => "?force=1",
        (false, true) => "?v=1",
        (false, false) => "",
    };
    each(g, &a.containers, |n| {
        (Method::DELETE, format!("/containers/{n}{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn wait(g: &Global, a: WaitArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in &a.containers {
        match rt.block_on(c.json(Method::POST, &format!("/containers/{n}/wait"), None)) {
            Ok(v) => println!("{}", v["StatusCode"]),
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `inspect` of containers (images are tried when no container has the name).
pub fn inspect_container(rt: &tokio::runtime::Runtime, c: &Client, name: &str) -> Option<Value> {
    rt.block_on(c.get(&format!("/containers/{name}/json"))).ok()
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(g: &Global, a: ExecArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let body = json!({
        "AttachStdout": !a.detach, "AttachStderr": !a.detach, "Tty": a.tty,
        "AttachStdin": a.interactive && !a.detach,
        "Cmd": a.command, "Env": a.env, "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "User": a.user.clone().unwrap_or_default(), "Privileged": a.privileged,
    });
    let created = match rt.block_on(c.json(
        Method::POST,
        &format!("/containers/{}/exec", a.container),
        Some(&body),
    )) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}", crate::describe(&e.into()));
            return Ok(1);
        }
    };
    let id = created["Id"].as_str().unwrap_or_default().to_owned();
    if (a.interactive || a.tty) && !a.detach {
        let io = rt.block_on(c.hijack(
            Method::POST,
            &format!("/exec/{id}/start"),
            Some(&json!({"Detach": false, "Tty": a.tty})),
        ))?;
        let resize_path = format!("/exec/{id}/resize");
        if a.tty {
            if let Some((h, w)) = term_size() {
                let _ =
                    rt.block_on(c.json(Method::POST, &format!("{resize_path}?h={h}&w={w}"), None));
            }
        }
        let raw = if a.tty {
            RawMode::enable()
        } else {
            RawMode(None)
        };
        let detached = pump(&rt, &c, io, a.tty, &resize_path)?;
        drop(raw);
        if detached {
            return Ok(0);
        }
        return exec_exit_code(&rt, &c, &id);
    }
    let none: &[(&str, String)] = &[("Content-Type", "application/json".to_owned())];
    let start = rt.block_on(
        c.call(
            Method::POST,
            &format!("/exec/{id}/start"),
            none,
            berth_client::full(
                json!({"Detach": a.detach, "Tty": false})
                    .to_string()
                    .into_bytes(),
            ),
        ),
    )?;
    if a.detach {
        return Ok(0);
    }
    let mut d = Demux::default();
    rt.block_on(berth_client::body_chunks(start, |chunk| {
        d.push(chunk, write_stream)
    }))?;
    exec_exit_code(&rt, &c, &id)
}

/// The exit code of a finished exec (it follows the end of its stream shortly).
fn exec_exit_code(rt: &tokio::runtime::Runtime, c: &Client, id: &str) -> Result<i32> {
    for _ in 0..500 {
        let v = rt.block_on(c.get(&format!("/exec/{id}/json")))?;
        if let Some(code) = v["ExitCode"].as_i64().filter(|_| v["Running"] == false) {
            return Ok(code as i32);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(126)
}

/// The terminal size of our stdout, if it is a terminal.
fn term_size() -> Option<(u16, u16)> {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize for a terminal fd.
    let r = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Our terminal in raw mode for the lifetime of the guard.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enable() -> RawMode {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return RawMode(None);
        }
        let stdin = std::io::stdin();
        let Ok(orig) = nix::sys::termios::tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = orig.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Copy our stdin to a hijacked connection and its output to our stdout (raw with a terminal,
/// demultiplexed without) until it ends; SIGWINCH resizes through `resize_path`; ctrl-p
/// ctrl-q detaches (returns true).
fn pump(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    io: berth_client::Hijacked,
    tty: bool,
    resize_path: &str,
) -> Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut input, mut output) = tokio::io::split(io);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let det = detached.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut last = 0u8;
        loop {
            match std::io::stdin().read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tty {
                        for b in &buf[..n] {
                            if last == 0x10 && *b == 0x11 {
                                det.store(true, std::sync::atomic::Ordering::SeqCst);
                                let _ = tx.blocking_send(None);
                                return;
                            }
                            last = *b;
                        }
                    }
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let c2 = c.clone();
    let resize_path = resize_path.to_owned();
    rt.block_on(async move {
        let det = detached.clone();
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                match m {
                    Some(d) => {
                        if output.write_all(&d).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        // Half-close: the other side sees the end of its stdin.
                        let _ = output.shutdown().await;
                        return;
                    }
                }
            }
        });
        if tty {
            tokio::spawn(async move {
                let Ok(mut sig) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                else {
                    return;
                };
                while sig.recv().await.is_some() {
                    if let Some((h, w)) = term_size() {
                        let _ = c2
                            .json(Method::POST, &format!("{resize_path}?h={h}&w={w}"), None)
                            .await;
                    }
                }
            });
        }
        let mut d = Demux::default();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            if det.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let n = tokio::select! {
                r = input.read(&mut buf) => r.unwrap_or(0),
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => continue,
            };
            if n == 0 {
                break;
            }
            if tty {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(&buf[..n]);
                let _ = o.flush();
            } else {
                d.push(&buf[..n], write_stream);
            }
        }
        writer.abort();
        Ok::<bool, anyhow::Error>(det.load(std::sync::atomic::Ordering::SeqCst))
    })
}

/// `run -i`/`-it`: stdin goes to the container over the hijacked attach connection, output
/// comes back raw (with a terminal) or multiplexed; ctrl-p ctrl-q detaches.
fn run_interactive(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    id: &str,
    tty: bool,
    rm: bool,
) -> Result<i32> {
    let io = rt.block_on(c.hijack(
        Method::POST,
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        None,
    ))?;
    let cond = if rm { "removed" } else { "next-exit" };
    let none: &[(&str, String)] = &[];
    let waited = rt.block_on(c.call(
        Method::POST,
        &format!("/containers/{id}/wait?condition={cond}"),
        none,
        berth_client::empty(),
    ))?;
    if let Err(e) = rt.block_on(c.json(Method::POST, &format!("/containers/{id}/start"), None)) {
        let e = anyhow::Error::from(e);
        eprintln!("berth: {}", crate::describe(&e));
        return Ok(start_failure(&e));
    }
    let resize = |c: &Client| {
        if let Some((h, w)) = term_size() {
            let _ = rt.block_on(c.json(
                Method::POST,
                &format!("/containers/{id}/resize?h={h}&w={w}"),
                None,
            ));
        }
    };
    if tty {
        resize(c);
    }
    let raw = if tty {
        RawMode::enable()
    } else {
        RawMode(None)
    };
    let resize_path = format!("/containers/{id}/resize");
    let detached = pump(rt, c, io, tty, &resize_path)?;
    let code = if detached {
        0
    } else {
        let v = rt.block_on(berth_client::body_json(waited))?;
        v["StatusCode"].as_i64().unwrap_or(125) as i32
    };
    drop(raw);
    Ok(code)
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn pause(g: &Global, a: NamesArgs) -> Result<i32> {
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/pause"))
    })
}

pub fn unpause(g: &Global, a: NamesArgs) -> Result<i32> {
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/unpause"))
    })
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn restart(g: &Global, a: RestartArgs) -> Result<i32> {
    let qs = a.time.map(|t| format!("?t={t}")).unwrap_or_default();
    each(g, &a.containers, |n| {
        (Method::POST, format!("/containers/{n}/restart{qs}"))
    })
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

pub fn rename(g: &Global, a: RenameArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    rt.block_on(c.json(
        Method::POST,
        &format!(
            "/containers/{}/rename{}",
            a.container,
            query(&[("name", a.new_name.as_str())])
        ),
        None,
    ))?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct TopArgs {
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn top(g: &Global, a: TopArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v = rt.block_on(c.get(&format!(
        "/containers/{}/top{}",
        a.container,
        query(&[("ps_args", a.ps_args.join(" ").as_str())])
    )))?;
    let mut rows: Vec<Vec<String>> = vec![
        v["Titles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap_or_default().to_owned())
            .collect(),
    ];
    for p in v["Processes"].as_array().into_iter().flatten() {
        rows.push(
            p.as_array()
                .into_iter()
                .flatten()
                .map(|x| x.as_str().unwrap_or_default().to_owned())
                .collect(),
        );
    }
    print!("{}", crate::units::table(&rows));
    Ok(0)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> Result<i32> {
    if !a.force {
        eprint!(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let (rt, c) = connect(g)?;
    let v = rt.block_on(c.json(Method::POST, "/containers/prune", None))?;
    let gone = v["ContainersDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !gone.is_empty() {
        println!("Deleted Containers:");
        for id in gone {
            println!("{}", id.as_str().unwrap_or_default());
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        crate::units::human_size(v["SpaceReclaimed"].as_f64().unwrap_or(0.0))
    );
    Ok(0)
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

/// One `docker stats` row from an API sample (CPU% as every docker client computes it).
pub fn stats_row(s: &Value, no_trunc: bool) -> Value {
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let cpu_delta = f(&cpu["cpu_usage"]["total_usage"]) - f(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = f(&cpu["system_cpu_usage"]) - f(&pre["system_cpu_usage"]);
    let ncpu = cpu["online_cpus"]
        .as_f64()
        .filter(|n| *n > 0.0)
        .unwrap_or(1.0);
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * ncpu * 100.0
    } else {
        0.0
    };
    let m = &s["memory_stats"];
    // Docker subtracts the page cache: total_inactive_file (v1) or inactive_file (v2).
    let cache = m["stats"]["total_inactive_file"]
        .as_f64()
        .or(m["stats"]["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let used = (f(&m["usage"]) - cache).max(0.0);
    let limit = f(&m["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().unwrap_or_default().to_lowercase().as_str() {
            "read" => rd += f(&e["value"]),
            "write" => wr += f(&e["value"]),
            _ => {}
        }
    }
    let (mut rx, mut tx) = (0.0, 0.0);
    for (_, n) in s["networks"].as_object().into_iter().flatten() {
        rx += f(&n["rx_bytes"]);
        tx += f(&n["tx_bytes"]);
    }
    let id = s["id"].as_str().unwrap_or_default();
    json!({
        "ID": if no_trunc { id.to_owned() } else { id.chars().take(12).collect() },
        "Container": if no_trunc { id.to_owned() } else { id.chars().take(12).collect() },
        "Name": s["name"].as_str().unwrap_or_default().trim_start_matches('/'),
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", crate::units::bytes_size(used), crate::units::bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", crate::units::human_size(rx), crate::units::human_size(tx)),
        "BlockIO": format!("{} / {}", crate::units::human_size(rd), crate::units::human_size(wr)),
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    })
}

pub fn stats(g: &Global, a: StatsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    loop {
        let names: Vec<String> = if a.containers.is_empty() {
            let list = rt.block_on(c.get(if a.all {
                "/containers/json?all=1"
            } else {
                "/containers/json"
            }))?;
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["Id"].as_str().map(str::to_owned))
                .collect()
        } else {
            a.containers.clone()
        };
        // Samples of all containers are taken at once (each takes a second).
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let c = c.clone();
                let path = format!("/containers/{n}/stats?stream=false");
                rt.spawn(async move { c.get(&path).await })
            })
            .collect();
        let mut rows = Vec::new();
        for h in handles {
            match rt.block_on(h).map_err(|e| anyhow!("stats: {e}"))? {
                Ok(s) => rows.push(stats_row(&s, a.no_trunc)),
                Err(e) => {
                    eprintln!("{}", crate::describe(&e.into()));
                    return Ok(1);
                }
            }
        }
        if !a.no_stream {
            // Clear the screen and home the cursor, as docker stats does.
            print!("\x1b[2J\x1b[H");
        }
        crate::images::print_formatted(
            a.format.as_deref(),
            &[
                ("ID", "CONTAINER ID"),
                ("Name", "NAME"),
                ("CPUPerc", "CPU %"),
                ("MemUsage", "MEM USAGE / LIMIT"),
                ("MemPerc", "MEM %"),
                ("NetIO", "NET I/O"),
                ("BlockIO", "BLOCK I/O"),
                ("PIDs", "PIDS"),
            ],
            &[
                ("ID", "CONTAINER ID"),
                ("Container", "CONTAINER"),
                ("Name", "NAME"),
                ("CPUPerc", "CPU %"),
                ("MemUsage", "MEM USAGE / LIMIT"),
                ("MemPerc", "MEM %"),
                ("NetIO", "NET I/O"),
                ("BlockIO", "BLOCK I/O"),
                ("PIDs", "PIDS"),
            ],
            &rows,
        )?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp (Unix seconds, RFC 3339, or a duration: 10m)
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

/// A time flag as the API wants it: durations (`10m`, `2h`, `30s`) are relative to now.
fn time_flag(v: &str) -> String {
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let secs = match (n.parse::<i64>(), unit) {
        (Ok(n), "s") => Some(n),
        (Ok(n), "m") => Some(n * 60),
        (Ok(n), "h") => Some(n * 3600),
        _ => None,
    };
    secs.map_or_else(|| v.to_owned(), |s| (now() - s).to_string())
}

pub fn events(g: &Global, a: EventsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    let mut q: Vec<(&str, String)> = vec![("filters", serde_json::to_string(&m)?)];
    if let Some(s) = &a.since {
        q.push(("since", time_flag(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", time_flag(u)));
    }
    let qs = query(&q.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    let tmpl = match a.format.as_deref() {
        Some("json") => {
            Some(crate::template::Template::parse("{{json .}}").map_err(|e| anyhow!(e))?)
        }
        Some(f) => Some(crate::template::Template::parse(f).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let none: &[(&str, String)] = &[];
    rt.block_on(c.stream(
        Method::GET,
        &format!("/events{qs}"),
        none,
        berth_client::empty(),
        |ev| {
            let line = match &tmpl {
                Some(t) => t.render(ev).unwrap_or_default(),
                None => {
                    let nanos = ev["timeNano"].as_u64().unwrap_or(0);
                    let when = berth_units::rfc3339_nano(
                        (nanos / 1_000_000_000) as i64,
                        (nanos % 1_000_000_000) as u32,
                    );
                    let mut attrs: Vec<String> = ev["Actor"]["Attributes"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect();
                    attrs.sort();
                    format!(
                        "{when} {} {} {} ({})",
                        ev["Type"].as_str().unwrap_or_default(),
                        ev["Action"].as_str().unwrap_or_default(),
                        ev["Actor"]["ID"].as_str().unwrap_or_default(),
                        attrs.join(", ")
                    )
                }
            };
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        },
    ))?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    container: String,
}

pub fn diff(g: &Global, a: DiffArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v = rt.block_on(c.get(&format!("/containers/{}/changes", a.container)))?;
    for ch in v.as_array().into_iter().flatten() {
        let k = match ch["Kind"].as_i64() {
            Some(1) => "A",
            Some(2) => "D",
            _ => "C",
        };
        println!("{k} {}", ch["Path"].as_str().unwrap_or_default());
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    container: String,
}

pub fn export(g: &Global, a: ExportArgs) -> Result<i32> {
    use std::io::IsTerminal;
    let (rt, c) = connect(g)?;
    let path = format!("/containers/{}/export", a.container);
    match &a.output {
        Some(p) => {
            let mut f =
                std::fs::File::create(p).map_err(|e| anyhow!("open {}: {e}", p.display()))?;
            if let Err(e) = rt.block_on(c.download(&path, &mut f)) {
                let _ = std::fs::remove_file(p);
                return Err(e.into());
            }
        }
        None => {
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            rt.block_on(c.download(&path, &mut std::io::stdout()))?;
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH or a host path
    src: String,
    /// CONTAINER:DEST_PATH or a host path
    dest: String,
}

fn split_container(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
}

pub fn cp(g: &Global, a: CpArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match (split_container(&a.src), split_container(&a.dest)) {
        (Some((ctr, src)), None) => {
            // Container → host: the archive is unpacked into DEST (an existing directory) or
            // becomes DEST (a new name).
            let dest = std::path::Path::new(&a.dest);
            let into_dir = dest.is_dir();
            let parent = if into_dir {
                dest.to_owned()
            } else {
                dest.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .to_owned()
            };
            let tmp = parent.join(format!(".berth-cp-{}", std::process::id()));
            std::fs::create_dir_all(&tmp)?;
            let res = (|| -> Result<()> {
                let mut buf = Vec::new();
                rt.block_on(c.download(
                    &format!("/containers/{ctr}/archive{}", query(&[("path", src)])),
                    &mut buf,
                ))?;
                let mut ar = tar::Archive::new(buf.as_slice());
                ar.set_preserve_permissions(true);
                ar.unpack(&tmp)?;
                let top = std::fs::read_dir(&tmp)?
                    .flatten()
                    .next()
                    .ok_or_else(|| anyhow!("empty archive for {src}"))?;
                let final_path = if into_dir {
                    dest.join(top.file_name())
                } else {
                    dest.to_owned()
                };
                std::fs::rename(top.path(), &final_path)?;
                Ok(())
            })();
            let _ = std::fs::remove_dir_all(&tmp);
            res?;
        }
        (None, Some((ctr, dest))) => {
            // Host → container: into DEST if it is a directory there, else as DEST.
            let src = std::path::Path::new(&a.src);
            let meta =
                std::fs::symlink_metadata(src).map_err(|e| anyhow!("stat {}: {e}", a.src))?;
            let head = rt.block_on(c.call(
                Method::HEAD,
                &format!("/containers/{ctr}/archive{}", query(&[("path", dest)])),
                &[],
                berth_client::empty(),
            ));
            let dest_is_dir = head.as_ref().ok().and_then(|r| {
                use base64::Engine as _;
                let h = r
                    .headers()
                    .get("X-Docker-Container-Path-Stat")?
                    .to_str()
                    .ok()?;
                let v: Value = serde_json::from_slice(
                    &base64::engine::general_purpose::STANDARD.decode(h).ok()?,
                )
                .ok()?;
                Some(v["mode"].as_u64()? & (1 << 31) != 0)
            });
            let (dir, name) = match dest_is_dir {
                Some(true) => (
                    dest.to_owned(),
                    src.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ => {
                    let p = std::path::Path::new(dest);
                    (
                        p.parent()
                            .map(|x| x.display().to_string())
                            .filter(|x| !x.is_empty())
                            .unwrap_or_else(|| "/".into()),
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    )
                }
            };
            let mut b = tar::Builder::new(Vec::new());
            b.follow_symlinks(false);
            if meta.is_dir() {
                b.append_dir_all(&name, src)?;
            } else {
                b.append_path_with_name(src, &name)?;
            }
            let data = b.into_inner()?;
            rt.block_on(c.call(
                Method::PUT,
                &format!(
                    "/containers/{ctr}/archive{}",
                    query(&[("path", dir.as_str())])
                ),
                &[("Content-Type", "application/x-tar".to_owned())],
                berth_client::full(data),
            ))?;
        }
        _ => anyhow::bail!(
            "copying between containers (or within the host) is not supported; one of SRC and DEST must be CONTAINER:PATH"
        ),
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    container: String,
    repository: Option<String>,
}

pub fn commit(g: &Global, a: CommitArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let (repo, tag) = match &a.repository {
        Some(r) => {
            let parsed = berth_image::reference::Reference::parse(r).map_err(|e| anyhow!("{e}"))?;
            (
                berth_image::reference::Reference {
                    tag: None,
                    digest: None,
                    ..parsed.clone()
                }
                .to_string(),
                parsed.tag.unwrap_or_default(),
            )
        }
        None => (String::new(), String::new()),
    };
    let mut q: Vec<(&str, &str)> = vec![
        ("container", a.container.as_str()),
        ("repo", repo.as_str()),
        ("tag", tag.as_str()),
        ("comment", a.message.as_deref().unwrap_or_default()),
        ("author", a.author.as_deref().unwrap_or_default()),
    ];
    for ch in &a.change {
        q.push(("changes", ch));
    }
    let v = rt.block_on(c.json(Method::POST, &format!("/commit{}", query(&q)), None))?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn update(g: &Global, a: UpdateArgs) -> Result<i32> {
    let mut body = json!({});
    if let Some(m) = &a.memory {
        body["Memory"] = json!(ram_in_bytes("-m, --memory", m)?);
    }
    if let Some(m) = &a.memory_swap {
        body["MemorySwap"] = json!(if m == "-1" {
            -1
        } else {
            ram_in_bytes("--memory-swap", m)?
        });
    }
    if let Some(cpus) = &a.cpus {
        let n: f64 = cpus
            .parse()
            .map_err(|_| anyhow!("invalid argument \"{cpus}\" for \"--cpus\" flag"))?;
        body["NanoCpus"] = json!((n * 1e9) as i64);
    }
    if let Some(s) = a.cpu_shares {
        body["CpuShares"] = json!(s);
    }
    if let Some(p) = a.pids_limit {
        body["PidsLimit"] = json!(p);
    }
    if let Some(r) = &a.restart {
        let (name, max) = match r.split_once(':') {
            Some((n, m)) => (
                n,
                m.parse::<i64>()
                    .map_err(|_| anyhow!("invalid restart policy {r}"))?,
            ),
            None => (r.as_str(), 0),
        };
        body["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": max});
    }
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for n in &a.containers {
        match rt.block_on(c.json(
            Method::POST,
            &format!("/containers/{n}/update"),
            Some(&body),
        )) {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Subcommand)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df,
    /// Remove unused data (stopped containers, dangling images; with -a all unused images)
    Prune(SystemPruneArgs),
    /// Display system-wide information (as `info`)
    Info,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn system(g: &Global, cmd: SystemCmd) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match cmd {
        SystemCmd::Df => {
            let v = rt.block_on(c.get("/system/df"))?;
            let f = |x: &Value| x.as_f64().unwrap_or(0.0);
            let imgs = v["Images"].as_array().cloned().unwrap_or_default();
            let active_imgs = imgs.iter().filter(|i| f(&i["Containers"]) > 0.0).count();
            let img_size: f64 = imgs.iter().map(|i| f(&i["Size"])).sum();
            let reclaim: f64 = imgs
                .iter()
                .filter(|i| f(&i["Containers"]) == 0.0)
                .map(|i| f(&i["Size"]))
                .sum();
            let ctrs = v["Containers"].as_array().cloned().unwrap_or_default();
            let active_ctrs = ctrs.iter().filter(|c| c["State"] == "running").count();
            let ctr_size: f64 = ctrs.iter().map(|c| f(&c["SizeRw"])).sum();
            let ctr_reclaim: f64 = ctrs
                .iter()
                .filter(|c| c["State"] != "running")
                .map(|c| f(&c["SizeRw"]))
                .sum();
            let pct = |a: f64, b: f64| {
                if b > 0.0 {
                    (a / b * 100.0).round().abs()
                } else {
                    0.0
                }
            };
            let vols = v["Volumes"].as_array().cloned().unwrap_or_default();
            let in_use = |x: &Value| x["UsageData"]["RefCount"].as_u64().unwrap_or(0) > 0;
            let active_vols = vols.iter().filter(|x| in_use(x)).count();
            let vol_size: f64 = vols.iter().map(|x| f(&x["UsageData"]["Size"])).sum();
            let vol_reclaim: f64 = vols
                .iter()
                .filter(|x| !in_use(x))
                .map(|x| f(&x["UsageData"]["Size"]))
                .sum();
            // TYPE TOTAL ACTIVE SIZE RECLAIMABLE, sizes with docker's four digits.
            let size = |b: f64| crate::units::human_size_precision(b, 4);
            let row = |kind: &str, total: usize, active: usize, bytes: f64, free: f64| {
                vec![
                    kind.to_owned(),
                    total.to_string(),
                    active.to_string(),
                    size(bytes),
                    format!("{} ({}%)", size(free), pct(free, bytes)),
                ]
            };
            let rows = vec![
                ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
                    .map(str::to_owned)
                    .to_vec(),
                row("Images", imgs.len(), active_imgs, img_size, reclaim),
                row("Containers", ctrs.len(), active_ctrs, ctr_size, ctr_reclaim),
                row(
                    "Local Volumes",
                    vols.len(),
                    active_vols,
                    vol_size,
                    vol_reclaim,
                ),
                ["Build Cache", "0", "0", "0B", "0B"]
                    .map(str::to_owned)
                    .to_vec(),
            ];
            print!("{}", crate::units::table(&rows));
            Ok(0)
        }
        SystemCmd::Prune(a) => {
            if !a.force {
                eprint!(
                    "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{}  - all {} images without at least one container associated to them\n\nAre you sure you want to continue? [y/N] ",
                    if a.volumes {
                        "  - all anonymous volumes not used by at least one container\n"
                    } else {
                        ""
                    },
                    if a.all { "" } else { "dangling" }
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
                    return Ok(0);
                }
            }
            let cs = rt.block_on(c.json(Method::POST, "/containers/prune", None))?;
            let ns = rt.block_on(c.json(Method::POST, "/networks/prune", None))?;
            let vs = if a.volumes {
                rt.block_on(c.json(Method::POST, "/volumes/prune", None))?
            } else {
                Value::Null
            };
            let filters = if a.all {
                "{\"dangling\":[\"false\"]}"
            } else {
                "{}"
            };
            let is = rt.block_on(c.json(
                Method::POST,
                &format!("/images/prune{}", query(&[("filters", filters)])),
                None,
            ))?;
            let gone = cs["ContainersDeleted"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !gone.is_empty() {
                println!("Deleted Containers:");
                for id in gone {
                    println!("{}", id.as_str().unwrap_or_default());
                }
                println!();
            }
            for (v, key, title) in [
                (&ns, "NetworksDeleted", "Deleted Networks:"),
                (&vs, "VolumesDeleted", "Deleted Volumes:"),
            ] {
                let names = v[key].as_array().cloned().unwrap_or_default();
                if !names.is_empty() {
                    println!("{title}");
                    for n in names {
                        println!("{}", n.as_str().unwrap_or_default());
                    }
                    println!();
                }
            }
            let imgs = is["ImagesDeleted"].as_array().cloned().unwrap_or_default();
            if !imgs.is_empty() {
                println!("Deleted Images:");
                for item in imgs {
                    if let Some(u) = item["Untagged"].as_str() {
                        println!("untagged: {u}");
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println!("deleted: {d}");
                    }
                }
                println!();
            }
            let total = cs["SpaceReclaimed"].as_f64().unwrap_or(0.0)
                + vs["SpaceReclaimed"].as_f64().unwrap_or(0.0)
                + is["SpaceReclaimed"].as_f64().unwrap_or(0.0);
            println!("Total reclaimed space: {}", crate::units::human_size(total));
            Ok(0)
        }
        SystemCmd::Info => {
            let v = rt.block_on(c.get("/info"))?;
            println!("Server:");
            for (k, label) in [
                ("Containers", "Containers"),
                ("ContainersRunning", " Running"),
                ("ContainersPaused", " Paused"),
                ("ContainersStopped", " Stopped"),
                ("Images", "Images"),
                ("ServerVersion", "Server Version"),
                ("Driver", "Storage Driver"),
                ("LoggingDriver", "Logging Driver"),
                ("CgroupDriver", "Cgroup Driver"),
                ("CgroupVersion", "Cgroup Version"),
                ("DefaultRuntime", "Default Runtime"),
                ("KernelVersion", "Kernel Version"),
                ("OperatingSystem", "Operating System"),
                ("Architecture", "Architecture"),
                ("NCPU", "CPUs"),
                ("DockerRootDir", "Berth Root Dir"),
            ] {
                println!(" {label}: {}", crate::template::go_string(&v[k]));
            }
            Ok(0)
        }
    }
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    container: String,
}

/// `attach`: the container's output from now on (and our stdin unless `--no-stdin`); with a
/// terminal, ctrl-p ctrl-q detaches. Exits with the container's code when it stops.
pub fn attach(g: &Global, a: AttachArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let info = rt.block_on(c.get(&format!("/containers/{}/json", a.container)))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let id = info["Id"].as_str().unwrap_or_default().to_owned();
    if info["State"]["Running"] != true {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let stdin = if a.no_stdin { "0" } else { "1" };
    let io = rt.block_on(c.hijack(
        Method::POST,
        &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1&stdin={stdin}"),
        None,
    ))?;
    let none: &[(&str, String)] = &[];
    let waited = rt.block_on(c.call(
        Method::POST,
        &format!("/containers/{id}/wait?condition=not-running"),
        none,
        berth_client::empty(),
    ))?;
    let resize_path = format!("/containers/{id}/resize");
    if tty {
        if let Some((h, w)) = term_size() {
            let _ = rt.block_on(c.json(Method::POST, &format!("{resize_path}?h={h}&w={w}"), None));
        }
    }
    let raw = if tty {
        RawMode::enable()
    } else {
        RawMode(None)
    };
    let detached = pump(&rt, &c, io, tty, &resize_path)?;
    drop(raw);
    if detached {
        return Ok(0);
    }
    let v = rt.block_on(berth_client::body_json(waited))?;
    Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
}
