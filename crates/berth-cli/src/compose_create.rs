//! A service's container as Compose v2 creates it: the create request (config, host config,
//! endpoints and every `com.docker.compose.*` label), and the secrets and configs written
//! into it before its start.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use berth_client::{Client, Method, query};
use berth_compose::model::{Project, Service};
use berth_models::container::{
    Config, CreateRequest, HealthConfig, HostConfig, NetworkingConfig, PortBinding, RestartPolicy,
};
use berth_models::network::EndpointSettings;
use serde_json::Value;

use crate::compose_ops::{PROJECT, SERVICE};

/// The Compose version Berth's labels name (the one whose behaviour it follows).
pub const COMPOSE_VERSION: &str = "2.40.3";

/// Limits: `mem_limit`, `mem_reservation`, `cpus`, `pids_limit`, `ulimits`, and
/// `deploy.resources.limits` (`memory`, `cpus`, `pids`) where the short keys are not set.
fn resources(s: &Service) -> Result<berth_models::container::Resources> {
    let other = |k: &str| s.other.get(k);
    let limits = other("deploy")
        .and_then(|d| d.pointer("/resources/limits"))
        .cloned()
        .unwrap_or(Value::Null);
    let bytes = |v: Option<&Value>| -> i64 {
        v.and_then(berth_compose::model::scalar)
            .and_then(|x| berth_compose::project::bytes(&x))
            .unwrap_or(0)
    };
    let mut r = berth_models::container::Resources {
        memory: match bytes(other("mem_limit")) {
            0 => bytes(limits.get("memory")),
            m => m,
        },
        memory_reservation: bytes(other("mem_reservation")),
        memory_swap: bytes(other("memswap_limit")),
        cpu_shares: other("cpu_shares").and_then(Value::as_i64).unwrap_or(0),
        cpuset_cpus: other("cpuset")
            .and_then(berth_compose::model::scalar)
            .unwrap_or_default(),
        cgroup_parent: other("cgroup_parent")
            .and_then(berth_compose::model::scalar)
            .unwrap_or_default(),
        oom_kill_disable: other("oom_kill_disable").and_then(Value::as_bool),
        devices: devices(other("devices")),
        ..Default::default()
    };
    let cpus = other("cpus")
        .or_else(|| limits.get("cpus"))
        .and_then(berth_compose::model::scalar);
    if let Some(c) = cpus {
        r.nano_cpus = crate::run::flags::nano_cpus(&c)?;
    }
    r.pids_limit = other("pids_limit")
        .or_else(|| limits.get("pids"))
        .and_then(Value::as_i64);
    if let Some(u) = other("ulimits").and_then(Value::as_object) {
        let mut out = Vec::new();
        for (name, v) in u {
            let (soft, hard) = match v {
                Value::Object(m) => (
                    m.get("soft").and_then(Value::as_i64).unwrap_or(0),
                    m.get("hard").and_then(Value::as_i64).unwrap_or(0),
                ),
                other => {
                    let n = other.as_i64().unwrap_or(0);
                    (n, n)
                }
            };
            out.push(berth_models::container::Ulimit {
                name: name.clone(),
                soft,
                hard,
            });
        }
        r.ulimits = Some(out);
    }
    Ok(r)
}

/// A service's secrets and configs with the project's definitions: ((source, target), object).
/// Secrets go under /run/secrets unless their target is absolute; configs at `/<name>`.
pub fn file_objects<'a>(
    p: &'a Project,
    s: &'a Service,
) -> Vec<((String, String), &'a berth_compose::model::FileObject)> {
    let mut out = Vec::new();
    for r in &s.secrets {
        if let Some(obj) = p.secrets.get(&r.source) {
            let t = r.target.clone().unwrap_or_else(|| r.source.clone());
            let t = if t.starts_with('/') {
                t
            } else {
                format!("/run/secrets/{t}")
            };
            out.push(((r.source.clone(), t), obj));
        }
    }
    for r in &s.configs {
        if let Some(obj) = p.configs.get(&r.source) {
            let t = r.target.clone().unwrap_or_else(|| format!("/{}", r.source));
            out.push(((r.source.clone(), t), obj));
        }
    }
    out
}

/// A file (mode 0444) at `target` in a created container, its directories made first.
pub async fn copy_in(c: &Client, id: &str, target: &str, content: &[u8]) -> Result<()> {
    let rel = target.trim_start_matches('/');
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = std::path::PathBuf::new();
    let parent = std::path::Path::new(rel)
        .parent()
        .map(std::path::Path::to_path_buf);
    for comp in parent.iter().flat_map(|p| p.components()) {
        dirs.push(comp);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        tar.append_data(&mut h, &dirs, std::io::empty())?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o444);
    h.set_cksum();
    tar.append_data(&mut h, rel, content)?;
    c.call(
        Method::PUT,
        &format!("/containers/{id}/archive{}", query(&[("path", "/")])),
        &[("Content-Type", "application/x-tar".into())],
        berth_client::full(tar.into_inner()?),
    )
    .await?;
    Ok(())
}

pub fn endpoint(service: &str, name: &str, cfg: Option<&Value>, aliases: bool) -> EndpointSettings {
    if !aliases {
        return EndpointSettings::default();
    }
    let mut aliases = vec![name.to_owned(), service.to_owned()];
    if let Some(a) = cfg.and_then(|c| c.get("aliases")).and_then(Value::as_array) {
        aliases.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    EndpointSettings {
        aliases: Some(aliases),
        ..Default::default()
    }
}

/// What one container of a service is made from.
pub struct Spec<'a> {
    pub project: &'a Project,
    pub service: &'a str,
    pub s: &'a Service,
    /// `com.docker.compose.container-number` (`-1` for `run`'s one-off containers).
    pub number: i64,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub hash: String,
    /// `run`'s one-off container: its slug (the `com.docker.compose.slug` label).
    pub slug: Option<String>,
    /// Anonymous volumes of the container this one replaces: (volume name, target).
    pub inherited: Vec<(String, String)>,
    /// The service's network aliases on its networks (`run` only with `--use-aliases`).
    pub aliases: bool,
    /// `run --rm`.
    pub auto_remove: bool,
}

/// The first container of a service (for `network_mode: service:`, `volumes_from`, `links`).
fn service_container(p: &Project, service: &str) -> String {
    match p.services.get(service) {
        Some(s) => crate::compose_up::container_name(p, service, s, 1),
        None => format!("{}-{service}-1", p.name),
    }
}

/// `devices`: `HOST[:CONTAINER[:PERMISSIONS]]` or `{source, target, permissions}`.
fn devices(v: Option<&Value>) -> Option<Vec<berth_models::container::DeviceMapping>> {
    let list = v?.as_array()?;
    let out = list
        .iter()
        .filter_map(|d| {
            let (host, ctr, perms) = match d {
                Value::String(s) => {
                    let mut it = s.splitn(3, ':');
                    let host = it.next()?.to_owned();
                    let ctr = it.next().map_or_else(|| host.clone(), str::to_owned);
                    (host, ctr, it.next().unwrap_or("rwm").to_owned())
                }
                Value::Object(m) => {
                    let host = m.get("source")?.as_str()?.to_owned();
                    let ctr = m
                        .get("target")
                        .and_then(Value::as_str)
                        .map_or_else(|| host.clone(), str::to_owned);
                    let perms = m
                        .get("permissions")
                        .and_then(Value::as_str)
                        .unwrap_or("rwm");
                    (host, ctr, perms.to_owned())
                }
                _ => return None,
            };
            Some(berth_models::container::DeviceMapping {
                path_on_host: host,
                path_in_container: ctr,
                cgroup_permissions: perms,
            })
        })
        .collect();
    Some(out)
}

/// `logging: {driver, options}` (or the old `log_driver`/`log_opt`).
fn logging(s: &Service) -> berth_models::container::LogConfig {
    let l = s.other.get("logging");
    let driver = l
        .and_then(|l| l.get("driver"))
        .or_else(|| s.other.get("log_driver"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let opts = l
        .and_then(|l| l.get("options"))
        .or_else(|| s.other.get("log_opt"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        berth_compose::model::scalar(v).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    berth_models::container::LogConfig {
        r#type: driver.to_owned(),
        config: opts,
    }
}

pub fn create_body(sp: &Spec<'_>) -> Result<CreateRequest> {
    let (p, service, s) = (sp.project, sp.service, sp.s);
    let other = |k: &str| s.other.get(k);
    let string = |k: &str| {
        other(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let strings = |k: &str| {
        other(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(berth_compose::model::scalar)
                .collect::<Vec<_>>()
        })
    };
    let mut labels: BTreeMap<String, String> = s.labels.0.clone();
    for (k, v) in [
        ("com.docker.compose.config-hash", sp.hash.clone()),
        ("com.docker.compose.container-number", sp.number.to_string()),
        (
            "com.docker.compose.depends_on",
            s.depends_on
                .iter()
                .map(|(k, d)| format!("{k}:{}:{}", d.condition, d.restart.unwrap_or(false)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("com.docker.compose.image", sp.image_id.clone()),
        (
            "com.docker.compose.oneoff",
            if sp.slug.is_some() { "True" } else { "False" }.into(),
        ),
        (PROJECT, p.name.clone()),
        (
            "com.docker.compose.project.config_files",
            p.config_files.join(","),
        ),
        (
            "com.docker.compose.project.working_dir",
            p.working_dir.clone(),
        ),
        (SERVICE, service.to_owned()),
        ("com.docker.compose.version", COMPOSE_VERSION.into()),
    ] {
        labels.insert(k.to_owned(), v);
    }
    if let Some(slug) = &sp.slug {
        labels.insert("com.docker.compose.slug".into(), slug.clone());
    }
    let env: Vec<String> = s
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let mut port_bindings: berth_models::container::PortMap = BTreeMap::new();
    let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
    for port in &s.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        exposed.insert(key.clone(), serde_json::json!({}));
        port_bindings
            .entry(key)
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: port.host_ip.clone().unwrap_or_default(),
                host_port: port.published.clone().unwrap_or_default(),
            });
    }
    for e in &s.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, serde_json::json!({}));
    }
    let mut binds = Vec::new();
    // Secrets and configs from files: read-only binds (the others are copied in after create).
    for (r, obj) in file_objects(p, s) {
        if let Some(f) = &obj.file {
            binds.push(format!("{f}:{}:ro", r.1));
        }
    }
    // The replaced container's anonymous volumes, where the file names no other source.
    for (vol, target) in &sp.inherited {
        let named = s
            .volumes
            .iter()
            .any(|m| &m.target == target && m.source.is_some());
        if !named {
            binds.push(format!("{vol}:{target}"));
        }
    }
    let mut tmpfs: BTreeMap<String, String> =
        s.tmpfs.iter().map(|t| (t.clone(), String::new())).collect();
    for m in &s.volumes {
        let mode = if m.read_only { "ro" } else { "rw" };
        match m.r#type.as_str() {
            "volume" => {
                let src = m.source.as_ref().map(|v| {
                    p.volumes
                        .get(v)
                        .map(|x| x.name.clone())
                        .unwrap_or_else(|| v.clone())
                });
                match src {
                    Some(src) => binds.push(format!("{src}:{}:{mode}", m.target)),
                    None if sp.inherited.iter().any(|(_, t)| t == &m.target) => {}
                    None => binds.push(m.target.clone()),
                }
            }
            "bind" => binds.push(format!(
                "{}:{}:{mode}",
                m.source.clone().unwrap_or_default(),
                m.target
            )),
            "tmpfs" => {
                tmpfs.insert(m.target.clone(), String::new());
            }
            other => bail!("volume type {other:?} is not supported by berth compose yet"),
        }
    }
    let healthcheck = s.healthcheck.as_ref().map(|h| {
        let ns = |k: &str| {
            h.get(k)
                .and_then(Value::as_str)
                .and_then(berth_units::parse_go_duration)
                .unwrap_or(0)
        };
        HealthConfig {
            test: h.get("test").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
            interval: ns("interval"),
            timeout: ns("timeout"),
            start_period: ns("start_period"),
            start_interval: ns("start_interval"),
            retries: h.get("retries").and_then(Value::as_i64).unwrap_or(0),
        }
    });
    let first_net = s.networks.iter().next();
    let network_mode = match (other("network_mode").and_then(Value::as_str), first_net) {
        // Another service's network namespace: its first container's.
        (Some(m), _) if m.starts_with("service:") => {
            format!("container:{}", service_container(p, &m["service:".len()..]))
        }
        (Some(m), _) => m.to_owned(),
        (None, Some((n, _))) => p
            .networks
            .get(n)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| n.clone()),
        (None, None) => "default".into(),
    };
    let mut endpoints = BTreeMap::new();
    if let Some((_, cfg)) = first_net {
        endpoints.insert(
            network_mode.clone(),
            endpoint(service, &sp.name, cfg.as_ref(), sp.aliases),
        );
    }
    let config = Config {
        image: sp.image.clone(),
        cmd: s.command.clone(),
        entrypoint: s.entrypoint.clone(),
        env: Some(env),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then(|| {
            exposed
                .keys()
                .map(|k| (k.clone(), Default::default()))
                .collect()
        }),
        working_dir: string("working_dir"),
        user: string("user"),
        hostname: string("hostname"),
        tty: other("tty").and_then(Value::as_bool).unwrap_or(false),
        open_stdin: other("stdin_open")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        healthcheck,
        stop_signal: string("stop_signal"),
        domainname: string("domainname"),
        // `stop_grace_period` (a Go duration): the seconds a stop waits before the kill.
        stop_timeout: other("stop_grace_period")
            .and_then(Value::as_str)
            .and_then(berth_units::parse_go_duration)
            .map(|ns| ns / 1_000_000_000),
        ..Default::default()
    };
    let host_config = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        port_bindings,
        restart_policy: RestartPolicy {
            name: match string("restart").as_str() {
                "" => "no".into(),
                r => r.split(':').next().unwrap_or(r).to_owned(),
            },
            maximum_retry_count: 0,
        },
        network_mode,
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        extra_hosts: (!s.extra_hosts.is_empty()).then(|| {
            s.extra_hosts
                .iter()
                .map(|h| h.replacen('=', ":", 1))
                .collect()
        }),
        cap_add: strings("cap_add"),
        cap_drop: strings("cap_drop"),
        dns: strings("dns"),
        security_opt: strings("security_opt"),
        privileged: other("privileged")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        readonly_rootfs: other("read_only").and_then(Value::as_bool).unwrap_or(false),
        init: other("init").and_then(Value::as_bool),
        shm_size: string("shm_size").parse().unwrap_or(0),
        sysctls: other("sysctls").and_then(Value::as_object).map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        berth_compose::model::scalar(v).unwrap_or_default(),
                    )
                })
                .collect()
        }),
        resources: resources(s)?,
        auto_remove: sp.auto_remove,
        log_config: logging(s),
        volumes_from: strings("volumes_from").map(|v| {
            v.iter()
                .map(|f| match f.strip_prefix("container:") {
                    Some(c) => c.to_owned(),
                    None => {
                        let f = f.strip_prefix("service:").unwrap_or(f);
                        let (svc, mode) =
                            f.split_once(':').map_or((f, None), |(a, b)| (a, Some(b)));
                        let c = service_container(p, svc);
                        mode.map_or(c.clone(), |m| format!("{c}:{m}"))
                    }
                })
                .collect()
        }),
        dns_search: strings("dns_search"),
        dns_options: strings("dns_opt"),
        group_add: strings("group_add"),
        ipc_mode: string("ipc"),
        pid_mode: string("pid"),
        uts_mode: string("uts"),
        userns_mode: string("userns_mode"),
        runtime: string("runtime"),
        oom_score_adj: other("oom_score_adj").and_then(Value::as_i64).unwrap_or(0),
        links: strings("links").map(|v| {
            v.iter()
                .map(|l| {
                    let (svc, alias) = l.split_once(':').unwrap_or((l, l));
                    format!("{}:{alias}", service_container(p, svc))
                })
                .collect()
        }),
        ..Default::default()
    };
    Ok(CreateRequest {
        config,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: endpoints,
        }),
    })
}
