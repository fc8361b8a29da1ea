//! `run`/`create`: docker's flags (`CreateArgs`) and their conversion into the typed create
//! request, with docker's parsing and error texts (`flags`); starting and attaching in
//! `start`.

pub mod flags;
pub mod start;

use anyhow::{Result, anyhow, bail};
use berth_models::Map;
use berth_models::container::{
    BindOptions, Config, CreateRequest, DeviceMapping, Empty, HealthConfig, HostConfig, LogConfig,
    Mount, NetworkingConfig, RestartPolicy, TmpfsOptions, VolumeOptions,
};
use berth_models::network::{EndpointIpamConfig, EndpointSettings};
use clap::Args;

use flags::{absolute_bind, bail_flag, go_duration, lines_of_files, ram_in_bytes};

#[derive(Debug, Args, Clone)]
pub struct CreateArgs {
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Print usage (`-h` is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub(crate) help: Option<bool>,
    /// Run container in background and print container ID (run only)
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub(crate) rm: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub(crate) env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub(crate) env_file: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long)]
    pub(crate) label_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub(crate) workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub(crate) user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub(crate) entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub(crate) hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long)]
    pub(crate) label: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Signal to stop the container
    #[arg(long)]
    pub(crate) stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub(crate) stop_timeout: Option<i64>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub(crate) pull: String,
    /// Memory limit
    #[arg(short, long)]
    pub(crate) memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    pub(crate) memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub(crate) memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub(crate) cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub(crate) cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub(crate) cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) pids_limit: Option<i64>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub(crate) ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    pub(crate) cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub(crate) cap_drop: Vec<String>,
    /// Security Options (seccomp=FILE|unconfined, no-new-privileges, label=…, apparmor=…)
    #[arg(long)]
    pub(crate) security_opt: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub(crate) privileged: bool,
    /// PID namespace to use (host, container:NAME)
    #[arg(long)]
    pub(crate) pid: Option<String>,
    /// IPC mode to use (private, shareable, none, host, container:NAME)
    #[arg(long)]
    pub(crate) ipc: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long)]
    pub(crate) uts: Option<String>,
    /// User namespace to use (auto[:size=N]: a free range of host ids of its own;
    /// map:CONTAINER_ID:HOST_ID:SIZE[,…]: these ids; host)
    #[arg(long)]
    pub(crate) userns: Option<String>,
    /// Map container ids to host ids in a user namespace of its own
    /// (CONTAINER_ID:HOST_ID:SIZE, Podman's; users and groups alike)
    #[arg(long)]
    pub(crate) uidmap: Vec<String>,
    /// Cgroup namespace to use (host, private)
    #[arg(long)]
    pub(crate) cgroupns: Option<String>,
    /// Add a host device to the container (HOST[:CONTAINER[:PERMS]])
    #[arg(long)]
    pub(crate) device: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    pub(crate) sysctl: Vec<String>,
    /// Size of /dev/shm
    #[arg(long)]
    pub(crate) shm_size: Option<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) oom_score_adj: Option<i64>,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long)]
    pub(crate) tmpfs: Vec<String>,
    /// Bind mount a volume (/host:/container[:ro])
    #[arg(short = 'v', long)]
    pub(crate) volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|tmpfs,src=…,dst=…,readonly)
    #[arg(long)]
    pub(crate) mount: Vec<String>,
    /// Restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)
    #[arg(long, default_value = "no")]
    pub(crate) restart: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// Command to run to check health
    #[arg(long)]
    pub(crate) health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long)]
    pub(crate) health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long)]
    pub(crate) health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub(crate) health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h)
    #[arg(long)]
    pub(crate) health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub(crate) no_healthcheck: bool,
    /// Storage driver options for the container (size=64m: a quota for its writable layer)
    #[arg(long)]
    pub(crate) storage_opt: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub(crate) init: bool,
    /// Runtime to use for this container (berth, runc, crun or a path)
    #[arg(long)]
    pub(crate) runtime: Option<String>,
    /// Logging driver for the container (json-file)
    #[arg(long)]
    pub(crate) log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3)
    #[arg(long)]
    pub(crate) log_opt: Vec<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    pub(crate) network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long, alias = "net-alias")]
    pub(crate) network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub(crate) ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub(crate) ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long)]
    pub(crate) mac_address: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub(crate) publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub(crate) publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub(crate) expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub(crate) dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub(crate) dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long)]
    pub(crate) dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub(crate) add_host: Vec<String>,
    /// Add link to another container (name[:alias])
    #[arg(long)]
    pub(crate) link: Vec<String>,
    /// Mount volumes from the specified container(s) (NAME[:ro|rw])
    #[arg(long)]
    pub(crate) volumes_from: Vec<String>,
    /// Limit traffic into the container (e.g. 8mbit; Berth's own flag)
    #[arg(long)]
    pub(crate) net_rate_ingress: Option<String>,
    /// Limit traffic out of the container (e.g. 8mbit; Berth's own flag)
    #[arg(long)]
    pub(crate) net_rate_egress: Option<String>,
    #[arg(required = true)]
    pub(crate) image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) command: Vec<String>,
}

fn kv(flag: &str, items: &[String], invalid: &str) -> Result<Map> {
    items
        .iter()
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("invalid argument \"{o}\" for \"{flag}\" flag: {invalid}"))
        })
        .collect()
}

fn restart_policy(a: &CreateArgs) -> Result<RestartPolicy> {
    let (name, max) = match a.restart.split_once(':') {
        Some(("on-failure", n)) => (
            "on-failure",
            n.parse::<i64>().map_err(|_| {
                anyhow!("invalid restart policy format: maximum retry count must be an integer")
            })?,
        ),
        Some((p, _)) => {
            bail!("invalid restart policy format: {p} does not take a maximum retry count")
        }
        None => (a.restart.as_str(), 0),
    };
    if !["no", "always", "unless-stopped", "on-failure"].contains(&name) {
        bail!("invalid restart policy format: unknown policy {name:?}");
    }
    if a.rm && name != "no" {
        bail!("Conflicting options: --restart and --rm");
    }
    Ok(RestartPolicy {
        name: name.to_owned(),
        maximum_retry_count: max,
    })
}

fn mounts(a: &CreateArgs) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for m in &a.mount {
        let mut v = Mount {
            r#type: "volume".into(),
            ..Default::default()
        };
        for kv in m.split(',') {
            let (k, val) = kv.split_once('=').unwrap_or((kv, "true"));
            let yes = val != "false" && val != "0";
            match k {
                "type" => v.r#type = val.to_owned(),
                "src" | "source" => v.source = val.to_owned(),
                "dst" | "destination" | "target" => v.target = val.to_owned(),
                "readonly" | "ro" => v.read_only = yes,
                "bind-propagation" => {
                    v.bind_options = Some(BindOptions {
                        propagation: val.to_owned(),
                        ..Default::default()
                    })
                }
                "volume-nocopy" => {
                    v.volume_options = Some(VolumeOptions {
                        no_copy: yes,
                        ..Default::default()
                    })
                }
                "tmpfs-size" => {
                    v.tmpfs_options
                        .get_or_insert_with(TmpfsOptions::default)
                        .size_bytes = ram_in_bytes("--mount", val)?
                }
                "tmpfs-mode" => {
                    v.tmpfs_options
                        .get_or_insert_with(TmpfsOptions::default)
                        .mode = u64::from_str_radix(val, 8)
                        .map_err(|_| anyhow!("invalid tmpfs-mode {val}"))?
                }
                _ => bail!(
                    "invalid argument \"{m}\" for \"--mount\" flag: unexpected key '{k}' in '{kv}'"
                ),
            }
        }
        out.push(v);
    }
    Ok(out)
}

/// The `HostConfig` of the flags.
fn host_config(a: &CreateArgs) -> Result<HostConfig> {
    let mut hc = HostConfig {
        auto_remove: a.rm,
        readonly_rootfs: a.read_only,
        privileged: a.privileged,
        init: Some(a.init),
        runtime: a.runtime.clone().unwrap_or_default(),
        ..Default::default()
    };
    let r = &mut hc.resources;
    if let Some(m) = &a.memory {
        r.memory = ram_in_bytes("-m, --memory", m)?;
    }
    if let Some(m) = &a.memory_swap {
        r.memory_swap = if m == "-1" {
            -1
        } else {
            ram_in_bytes("--memory-swap", m)?
        };
    }
    if let Some(m) = &a.memory_reservation {
        r.memory_reservation = ram_in_bytes("--memory-reservation", m)?;
    }
    if let Some(c) = &a.cpus {
        r.nano_cpus = flags::nano_cpus(c)?;
    }
    r.cpu_shares = a.cpu_shares.unwrap_or(0);
    r.cpuset_cpus = a.cpuset_cpus.clone().unwrap_or_default();
    r.pids_limit = a.pids_limit;
    let ulimits = flags::ulimits(&a.ulimit)?;
    r.ulimits = Some(ulimits);
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
        devices.push(DeviceMapping {
            path_on_host: host.into(),
            path_in_container: inner.into(),
            cgroup_permissions: perms.into(),
        });
    }
    r.devices = Some(devices);
    hc.pid_mode = a.pid.clone().unwrap_or_default();
    hc.ipc_mode = a.ipc.clone().unwrap_or_default();
    hc.uts_mode = a.uts.clone().unwrap_or_default();
    hc.userns_mode = match (&a.userns, a.uidmap.is_empty()) {
        (Some(_), false) => bail!("--userns and --uidmap cannot both be given"),
        (_, false) => format!("map:{}", a.uidmap.join(",")),
        (u, true) => u.clone().unwrap_or_default(),
    };
    hc.cgroupns_mode = a.cgroupns.clone().unwrap_or_default();
    hc.cap_add = Some(a.cap_add.clone());
    hc.cap_drop = Some(a.cap_drop.clone());
    // docker sends a seccomp profile's content, not its path.
    let mut sec = Vec::new();
    for o in &a.security_opt {
        match o.split_once(['=', ':']) {
            // The recorder's file is written by the daemon's side: sent as given.
            Some(("seccomp", f)) if f.starts_with("record:") => sec.push(o.clone()),
            Some(("seccomp", f)) if f != "unconfined" && f != "builtin" => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| anyhow!("opening seccomp profile ({f}) failed: {e}"))?;
                sec.push(format!("seccomp={text}"));
            }
            _ => sec.push(o.clone()),
        }
    }
    hc.security_opt = Some(sec);
    let sysctls = a
        .sysctl
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    anyhow!("invalid argument \"{s}\" for \"--sysctl\" flag: sysctl '{s}' is not allowed")
                })
        })
        .collect::<Result<Map>>()?;
    hc.sysctls = Some(sysctls);
    if let Some(s) = &a.shm_size {
        hc.shm_size = ram_in_bytes("--shm-size", s)?;
    }
    if let Some(o) = a.oom_score_adj {
        if !(-1000..=1000).contains(&o) {
            bail!(
                "invalid argument \"{o}\" for \"--oom-score-adj\" flag: must be in the range -1000 to 1000"
            );
        }
        hc.oom_score_adj = o;
    }
    hc.tmpfs = Some(
        a.tmpfs
            .iter()
            .map(|t| {
                let (p, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
                (p.to_owned(), o.to_owned())
            })
            .collect(),
    );
    hc.binds = Some(
        a.volume
            .iter()
            .map(|v| absolute_bind(v))
            .collect::<Result<_>>()?,
    );
    hc.volumes_from = Some(a.volumes_from.clone());
    hc.log_config = LogConfig {
        r#type: a.log_driver.clone().unwrap_or_else(|| "json-file".into()),
        config: kv("--log-opt", &a.log_opt, "invalid key value pair format")?,
    };
    if !a.storage_opt.is_empty() {
        let mut so = Map::new();
        for o in &a.storage_opt {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid storage option {o:?}: expected key=value"))?;
            so.insert(k.to_owned(), v.to_owned());
        }
        hc.storage_opt = Some(so);
    }
    hc.mounts = Some(mounts(a)?);
    hc.restart_policy = restart_policy(a)?;
    if let Some(n) = &a.network {
        hc.network_mode = n.clone();
    }
    hc.port_bindings = flags::port_bindings(&a.publish)?;
    hc.publish_all_ports = a.publish_all;
    hc.dns = Some(a.dns.clone());
    hc.dns_search = Some(a.dns_search.clone());
    hc.dns_options = Some(a.dns_option.clone());
    for h in &a.add_host {
        if h.split_once(':')
            .is_none_or(|(n, ip)| n.is_empty() || ip.is_empty())
        {
            bail!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
            );
        }
    }
    hc.extra_hosts = Some(a.add_host.clone());
    hc.net_rate_ingress = a.net_rate_ingress.clone().unwrap_or_default();
    hc.net_rate_egress = a.net_rate_egress.clone().unwrap_or_default();
    hc.links = Some(a.link.clone());
    Ok(hc)
}

fn healthcheck(a: &CreateArgs) -> Result<Option<HealthConfig>> {
    if a.no_healthcheck {
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    let any = a.health_cmd.is_some()
        || a.health_interval.is_some()
        || a.health_timeout.is_some()
        || a.health_retries.is_some()
        || a.health_start_period.is_some();
    if !any {
        return Ok(None);
    }
    let d = |v: &Option<String>, flag: &str| -> Result<i64> {
        v.as_deref().map_or(Ok(0), |v| go_duration(flag, v))
    };
    Ok(Some(HealthConfig {
        test: a
            .health_cmd
            .as_ref()
            .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
        interval: d(&a.health_interval, "--health-interval")?,
        timeout: d(&a.health_timeout, "--health-timeout")?,
        start_period: d(&a.health_start_period, "--health-start-period")?,
        retries: a.health_retries.unwrap_or(0),
        ..Default::default()
    }))
}

impl CreateArgs {
    /// The create request docker's CLI would send for these flags.
    pub fn to_request(&self) -> Result<CreateRequest> {
        let a = self;
        let labels: Map = lines_of_files(&a.label_file, false)?
            .iter()
            .chain(a.label.iter())
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (l.clone(), String::new()),
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
        let exposed = flags::exposed(&a.expose)?;
        let config = Config {
            image: a.image.clone(),
            env: Some(env),
            labels: Some(labels),
            attach_stdout: !a.detach,
            attach_stderr: !a.detach,
            attach_stdin: a.interactive && !a.detach,
            open_stdin: a.interactive,
            stdin_once: a.interactive && !a.detach,
            tty: a.tty,
            cmd: (!a.command.is_empty()).then(|| a.command.clone()),
            entrypoint: a.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            working_dir: a.workdir.clone().unwrap_or_default(),
            user: a.user.clone().unwrap_or_default(),
            hostname: a.hostname.clone().unwrap_or_default(),
            stop_signal: a.stop_signal.clone().unwrap_or_default(),
            stop_timeout: a.stop_timeout,
            healthcheck: healthcheck(a)?,
            exposed_ports: (!exposed.is_empty())
                .then(|| exposed.into_iter().map(|p| (p, Empty)).collect()),
            mac_address: a.mac_address.clone().unwrap_or_default(),
            ..Default::default()
        };
        let networking_config = (!a.network_alias.is_empty()
            || a.ip.is_some()
            || a.ip6.is_some()
            || a.mac_address.is_some())
        .then(|| {
            let net = a.network.clone().unwrap_or_else(|| "default".into());
            let ipam = (a.ip.is_some() || a.ip6.is_some()).then(|| EndpointIpamConfig {
                ipv4_address: a.ip.clone().unwrap_or_default(),
                ipv6_address: a.ip6.clone().unwrap_or_default(),
                ..Default::default()
            });
            let ep = EndpointSettings {
                aliases: (!a.network_alias.is_empty()).then(|| a.network_alias.clone()),
                ipam_config: ipam,
                mac_address: a.mac_address.clone().unwrap_or_default(),
                ..Default::default()
            };
            NetworkingConfig {
                endpoints_config: [(net, ep)].into(),
            }
        });
        Ok(CreateRequest {
            config,
            host_config: Some(host_config(a)?),
            networking_config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn req(args: &[&str]) -> Result<CreateRequest> {
        T::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .map_err(|e| anyhow!("{e}"))?
            .a
            .to_request()
    }

    #[test]
    fn flags_become_the_request_docker_sends() {
        let r = req(&[
            "-it",
            "--rm",
            "-e",
            "A=1",
            "-l",
            "k=v",
            "-m",
            "64m",
            "--pids-limit",
            "-1",
            "-p",
            "127.0.0.1:8080:80",
            "--expose",
            "90",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=1m",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--ulimit",
            "nofile=10:20",
            "--network",
            "front",
            "--network-alias",
            "web",
            "busybox",
            "sh",
        ])
        .expect("request");
        let c = &r.config;
        assert!(c.tty && c.open_stdin && c.attach_stdin && c.stdin_once);
        assert_eq!(c.cmd, Some(vec!["sh".to_owned()]));
        assert_eq!(c.env, Some(vec!["A=1".to_owned()]));
        assert_eq!(c.labels.as_ref().expect("labels")["k"], "v");
        assert!(
            c.exposed_ports
                .as_ref()
                .expect("ports")
                .contains_key("90/tcp")
        );
        let h = c.healthcheck.as_ref().expect("health");
        assert_eq!(h.interval, 1_000_000_000);
        let hc = r.host_config.as_ref().expect("host config");
        assert!(hc.auto_remove);
        assert_eq!(hc.resources.memory, 64 << 20);
        assert_eq!(hc.resources.pids_limit, Some(-1));
        assert_eq!(
            hc.port_bindings["80/tcp"].as_ref().expect("b")[0].host_port,
            "8080"
        );
        let m = &hc.mounts.as_ref().expect("mounts")[0];
        assert_eq!((m.r#type.as_str(), m.target.as_str()), ("tmpfs", "/t"));
        assert_eq!(m.tmpfs_options.as_ref().expect("tmpfs").size_bytes, 1 << 20);
        assert_eq!(hc.resources.ulimits.as_ref().expect("u")[0].hard, 20);
        let ep = &r.networking_config.as_ref().expect("net").endpoints_config["front"];
        assert_eq!(ep.aliases, Some(vec!["web".to_owned()]));
        // As docker sends it: PascalCase, HostConfig beside the config's fields.
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["HostConfig"]["Memory"], 64 << 20);
        let e = |args: &[&str]| req(args).expect_err("refused").to_string();
        assert_eq!(
            e(&["--rm", "--restart", "always", "x"]),
            "Conflicting options: --restart and --rm"
        );
        assert_eq!(
            e(&["-m", "lots", "x"]),
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        assert_eq!(
            e(&["--add-host", "nohost", "x"]),
            "invalid argument \"nohost\" for \"--add-host\" flag: bad format for add-host: \"nohost\""
        );
    }
}
