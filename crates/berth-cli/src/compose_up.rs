//! `berth compose up -d`: the project's networks and volumes, then its services in dependency
//! order (each waiting for its `depends_on` conditions), every container labelled as Compose
//! v2 labels it — the same `com.docker.compose.config-hash` and image label — so Docker
//! Compose takes Berth's containers as its own (and the reverse) without recreating them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use berth_client::{Client, Method, enc, query};
use berth_compose::model::{Project, Service};
use berth_models::container::{
    Config, CreateRequest, HealthConfig, HostConfig, NetworkingConfig, PortBinding, RestartPolicy,
    Summary,
};
use berth_models::network::EndpointSettings;
use serde_json::Value;

use crate::compose_ops::{PROJECT, SERVICE, containers, label};

/// The Compose version Berth's labels name (the one whose behaviour it follows).
const COMPOSE_VERSION: &str = "2.40.3";

pub struct UpOptions {
    pub wait: bool,
    pub wait_timeout: Option<u64>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub timeout: Option<i64>,
    pub config_files: Vec<String>,
    pub working_dir: String,
    pub order: Vec<String>,
}

fn step(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {name}  {what}");
}

pub async fn up(c: &Client, p: &Project, o: &UpOptions) -> Result<i32> {
    // Networks and volumes first; external ones must exist.
    for (key, n) in &p.networks {
        let exists = c
            .get::<Value>(&format!("/networks/{}", enc(&n.name)))
            .await
            .is_ok();
        if exists {
            continue;
        }
        if n.external == Some(true) {
            bail!(
                "network {} declared as external, but could not be found",
                n.name
            );
        }
        step("Network", &n.name, "Creating");
        let mut labels = n.labels.0.clone();
        labels.insert(PROJECT.into(), p.name.clone());
        labels.insert("com.docker.compose.network".into(), key.clone());
        labels.insert("com.docker.compose.version".into(), COMPOSE_VERSION.into());
        let body = serde_json::json!({
            "Name": n.name,
            "Driver": n.driver.clone().unwrap_or_else(|| "bridge".into()),
            "Internal": n.internal.unwrap_or(false),
            "Attachable": n.attachable.unwrap_or(false),
            "EnableIPv6": n.enable_ipv6.unwrap_or(false),
            "Options": n.driver_opts,
            "Labels": labels,
        });
        let _: Value = c.post("/networks/create", &body).await?;
        step("Network", &n.name, "Created");
    }
    for (key, v) in &p.volumes {
        if c.get::<Value>(&format!("/volumes/{}", enc(&v.name)))
            .await
            .is_ok()
        {
            continue;
        }
        if v.external == Some(true) {
            bail!("external volume \"{}\" not found", v.name);
        }
        step("Volume", &v.name, "Creating");
        let mut labels = v.labels.0.clone();
        labels.insert(PROJECT.into(), p.name.clone());
        labels.insert("com.docker.compose.volume".into(), key.clone());
        labels.insert("com.docker.compose.version".into(), COMPOSE_VERSION.into());
        let body = berth_models::volume::CreateRequest {
            name: v.name.clone(),
            driver: v.driver.clone().unwrap_or_else(|| "local".into()),
            driver_opts: None,
            labels: Some(labels),
        };
        let _: Value = c.post("/volumes/create", &body).await?;
        step("Volume", &v.name, "Created");
    }
    let existing = containers(c, &p.name, true).await?;
    let mut started: Vec<String> = Vec::new();
    for name in &o.order {
        let Some(s) = p.services.get(name) else {
            continue;
        };
        wait_dependencies(c, p, s).await?;
        let id = converge(c, p, name, s, &existing, o).await?;
        started.push(id);
    }
    if o.wait {
        let end = o
            .wait_timeout
            .map(|t| Instant::now() + Duration::from_secs(t));
        for (name, s) in &p.services {
            let cname = container_name(p, name, s);
            wait_for(c, &cname, "running_or_healthy", end).await?;
            step(
                "Container",
                &cname,
                if s.healthcheck.is_some() {
                    "Healthy"
                } else {
                    "Running"
                },
            );
        }
    }
    Ok(0)
}

fn container_name(p: &Project, service: &str, s: &Service) -> String {
    s.other
        .get("container_name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}-{service}-1", p.name))
}

/// Each `depends_on` condition met before the service starts, with Compose's errors.
async fn wait_dependencies(c: &Client, p: &Project, s: &Service) -> Result<()> {
    for (dep, d) in &s.depends_on {
        let Some(ds) = p.services.get(dep) else {
            continue;
        };
        let cname = container_name(p, dep, ds);
        match d.condition.as_str() {
            "service_healthy" => {
                step("Container", &cname, "Waiting");
                wait_for(c, &cname, "healthy", None).await?;
                step("Container", &cname, "Healthy");
            }
            "service_completed_successfully" => {
                step("Container", &cname, "Waiting");
                wait_for(c, &cname, "exited_ok", None).await?;
                step("Container", &cname, "Exited");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Wait for `what` (`healthy`, `exited_ok`, `running_or_healthy`) of a container.
async fn wait_for(c: &Client, name: &str, what: &str, end: Option<Instant>) -> Result<()> {
    loop {
        let v: Value = c.get(&format!("/containers/{}/json", enc(name))).await?;
        let status = v
            .pointer("/State/Status")
            .and_then(Value::as_str)
            .unwrap_or("");
        let health = v.pointer("/State/Health/Status").and_then(Value::as_str);
        let code = v
            .pointer("/State/ExitCode")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        match (what, status, health) {
            ("healthy", _, Some("healthy")) => return Ok(()),
            ("healthy", _, Some("unhealthy")) => {
                bail!("dependency failed to start: container {name} is unhealthy")
            }
            ("healthy", "exited" | "dead", _) => {
                bail!("dependency failed to start: container {name} exited ({code})")
            }
            ("exited_ok", "exited" | "dead", _) if code == 0 => return Ok(()),
            ("exited_ok", "exited" | "dead", _) => bail!(
                "service {:?} didn't complete successfully: exit {code}",
                name
            ),
            ("running_or_healthy", "running", None | Some("healthy")) => return Ok(()),
            ("running_or_healthy", _, Some("unhealthy")) => {
                bail!("container {name} is unhealthy")
            }
            ("running_or_healthy", "exited" | "dead", _) => {
                bail!("container {name} exited ({code})")
            }
            _ => {}
        }
        if end.is_some_and(|e| Instant::now() > e) {
            bail!("timeout waiting for {name}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The service's container as the file says: kept (started if stopped) when its hash and
/// image match, else made anew. Its id.
async fn converge(
    c: &Client,
    p: &Project,
    service: &str,
    s: &Service,
    existing: &[Summary],
    o: &UpOptions,
) -> Result<String> {
    let image = s
        .image
        .clone()
        .ok_or_else(|| anyhow!("service {service:?} has neither an image nor a build context (build is not supported by berth compose yet)"))?;
    let image_id = c
        .get::<Value>(&format!("/images/{}/json", enc(&image)))
        .await
        .map_err(|_| anyhow!("No such image: {image} (berth compose does not pull yet)"))?
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let hash = berth_compose::hash::service_hash(s);
    let name = container_name(p, service, s);
    let current = existing
        .iter()
        .find(|x| label(x, SERVICE) == service && label(x, "com.docker.compose.oneoff") != "True");
    if let Some(cur) = current {
        let same = label(cur, "com.docker.compose.config-hash") == hash
            && label(cur, "com.docker.compose.image") == image_id;
        if o.no_recreate || (same && !o.force_recreate) {
            if cur.state != "running" {
                step("Container", &name, "Starting");
                c.call(
                    Method::POST,
                    &format!("/containers/{}/start", cur.id),
                    &[],
                    berth_client::empty(),
                )
                .await?;
                step("Container", &name, "Started");
            } else {
                step("Container", &name, "Running");
            }
            return Ok(cur.id.clone());
        }
        step("Container", &name, "Recreate");
        let t = o.timeout.map(|t| format!("?t={t}")).unwrap_or_default();
        c.call(
            Method::POST,
            &format!("/containers/{}/stop{t}", cur.id),
            &[],
            berth_client::empty(),
        )
        .await?;
        c.call(
            Method::DELETE,
            &format!("/containers/{}?force=1", cur.id),
            &[],
            berth_client::empty(),
        )
        .await?;
        step("Container", &name, "Recreated");
    } else {
        step("Container", &name, "Creating");
    }
    let body = create_body(p, service, s, &image, &image_id, &hash, o)?;
    let created: berth_models::container::CreateResponse = c
        .post(
            &format!("/containers/create{}", query(&[("name", &name)])),
            &body,
        )
        .await?;
    if current.is_none() {
        step("Container", &name, "Created");
    }
    // Networks beyond the first.
    for (net, cfg) in s.networks.iter().skip(1) {
        let full = p
            .networks
            .get(net)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| net.clone());
        let body = serde_json::json!({
            "Container": created.id,
            "EndpointConfig": endpoint(service, &name, cfg.as_ref()),
        });
        c.call(
            Method::POST,
            &format!("/networks/{}/connect", enc(&full)),
            &[("Content-Type", "application/json".into())],
            berth_client::full(serde_json::to_vec(&body)?),
        )
        .await?;
    }
    // Secrets and configs from the environment or inline content: files written into the
    // container before it starts (mode 0444), as Compose copies them.
    for ((_, target), obj) in file_objects(p, s) {
        let content = match (&obj.environment, &obj.content) {
            (Some(var), _) => std::env::var(var).unwrap_or_default(),
            (None, Some(text)) => text.clone(),
            _ => continue,
        };
        copy_in(c, &created.id, &target, content.as_bytes()).await?;
    }
    step("Container", &name, "Starting");
    c.call(
        Method::POST,
        &format!("/containers/{}/start", created.id),
        &[],
        berth_client::empty(),
    )
    .await?;
    step("Container", &name, "Started");
    Ok(created.id)
}

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
fn file_objects<'a>(
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
async fn copy_in(c: &Client, id: &str, target: &str, content: &[u8]) -> Result<()> {
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

fn endpoint(service: &str, name: &str, cfg: Option<&Value>) -> EndpointSettings {
    let mut aliases = vec![name.to_owned(), service.to_owned()];
    if let Some(a) = cfg.and_then(|c| c.get("aliases")).and_then(Value::as_array) {
        aliases.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    EndpointSettings {
        aliases: Some(aliases),
        ..Default::default()
    }
}

fn create_body(
    p: &Project,
    service: &str,
    s: &Service,
    image: &str,
    image_id: &str,
    hash: &str,
    o: &UpOptions,
) -> Result<CreateRequest> {
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
        ("com.docker.compose.config-hash", hash.to_owned()),
        ("com.docker.compose.container-number", "1".into()),
        (
            "com.docker.compose.depends_on",
            s.depends_on
                .iter()
                .map(|(k, d)| format!("{k}:{}:{}", d.condition, d.restart.unwrap_or(false)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("com.docker.compose.image", image_id.to_owned()),
        ("com.docker.compose.oneoff", "False".into()),
        (PROJECT, p.name.clone()),
        (
            "com.docker.compose.project.config_files",
            o.config_files.join(","),
        ),
        (
            "com.docker.compose.project.working_dir",
            o.working_dir.clone(),
        ),
        (SERVICE, service.to_owned()),
        ("com.docker.compose.version", COMPOSE_VERSION.into()),
    ] {
        labels.insert(k.to_owned(), v);
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
            endpoint(service, &container_name(p, service, s), cfg.as_ref()),
        );
    }
    let config = Config {
        image: image.to_owned(),
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
