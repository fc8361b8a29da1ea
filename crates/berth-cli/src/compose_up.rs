//! `berth compose up` and `create`: the project's networks and volumes, then its services in
//! dependency order (independent ones side by side, each waiting for its `depends_on`
//! conditions), each scaled to its replicas, every container labelled as Compose v2 labels it
//! — the same `com.docker.compose.config-hash` and image label — so Docker Compose takes
//! Berth's containers as its own (and the reverse) without recreating them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use berth_client::{Client, Method, enc, query};
use berth_compose::model::{Project, Service};
use berth_models::container::Summary;
use serde_json::Value;

use crate::compose_create::{COMPOSE_VERSION, Spec, copy_in, create_body, endpoint, file_objects};
use crate::compose_ops::{PROJECT, SERVICE, containers, label, name_of, stop_and_remove};

pub struct UpOptions {
    pub wait: bool,
    pub wait_timeout: Option<u64>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub timeout: Option<i64>,
    /// The services to converge, dependencies first.
    pub order: Vec<String>,
    /// `--scale SERVICE=N`.
    pub scale: BTreeMap<String, usize>,
    pub remove_orphans: bool,
    /// `-V`: fresh anonymous volumes instead of the replaced containers' ones.
    pub renew_anon_volumes: bool,
    /// `create`: containers made, not started.
    pub no_start: bool,
    /// Every service the files define (enabled or not): other services' containers are orphans.
    pub known: Vec<String>,
}

/// A container `up` left in place: the attached mode follows these.
#[derive(Debug, Clone)]
pub struct Converged {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Started (or made) by this `up`, rather than found running.
    pub started: bool,
    /// Made anew (created or recreated) by this `up`.
    pub fresh: bool,
}

pub fn step(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {name}  {what}");
}

pub async fn up(c: &Client, p: &Project, o: &UpOptions) -> Result<Vec<Converged>> {
    ensure_networks(c, p).await?;
    ensure_volumes(c, p).await?;
    let existing = containers(c, &p.name, true).await?;
    orphans(c, &existing, o).await?;
    // Services whose dependencies are done go side by side.
    let mut done: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let wanted: Vec<&String> = o
        .order
        .iter()
        .filter(|n| p.services.contains_key(*n))
        .collect();
    while done.len() < wanted.len() {
        let ready: Vec<&String> = wanted
            .iter()
            .copied()
            .filter(|n| !done.contains(n))
            .filter(|n| {
                dependencies(&p.services[*n])
                    .iter()
                    .all(|d| done.contains(d) || !wanted.contains(&d))
            })
            .collect();
        if ready.is_empty() {
            bail!("dependency cycle between {:?}", wanted);
        }
        let jobs = ready.iter().map(|name| {
            let s = &p.services[*name];
            let existing = &existing;
            async move {
                if !o.no_start {
                    wait_dependencies(c, p, s).await?;
                }
                converge(c, p, name, s, existing, o).await
            }
        });
        for r in futures_util::future::join_all(jobs).await {
            out.extend(r?);
        }
        // `depends_on: {x: {restart: true}}`: a kept dependant restarts when x was made anew.
        for name in &ready {
            let renewed = |dep: &String| out.iter().any(|c| &c.service == dep && c.fresh);
            let restart = p.services[*name]
                .depends_on
                .iter()
                .any(|(dep, d)| d.restart == Some(true) && renewed(dep));
            if !restart || o.no_start {
                continue;
            }
            for ctr in out.iter().filter(|c| &c.service == *name && !c.fresh) {
                step("Container", &ctr.name, "Restarting");
                c.call(
                    Method::POST,
                    &format!("/containers/{}/restart", ctr.id),
                    &[],
                    berth_client::empty(),
                )
                .await?;
                step("Container", &ctr.name, "Started");
            }
        }
        done.extend(ready.into_iter().cloned());
    }
    if o.wait {
        let end = o
            .wait_timeout
            .map(|t| Instant::now() + Duration::from_secs(t));
        for ctr in &out {
            let s = &p.services[&ctr.service];
            wait_for(c, &ctr.service, &ctr.name, "running_or_healthy", end).await?;
            step(
                "Container",
                &ctr.name,
                if s.healthcheck.is_some() {
                    "Healthy"
                } else {
                    "Running"
                },
            );
        }
    }
    Ok(out)
}

pub async fn ensure_networks(c: &Client, p: &Project) -> Result<()> {
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
    Ok(())
}

pub async fn ensure_volumes(c: &Client, p: &Project) -> Result<()> {
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
    Ok(())
}

/// Containers of services the files no longer define (and exited one-off containers):
/// removed with `--remove-orphans`, else named in Compose's warning.
async fn orphans(c: &Client, existing: &[Summary], o: &UpOptions) -> Result<()> {
    let orphans: Vec<&Summary> = existing
        .iter()
        .filter(|x| {
            if label(x, "com.docker.compose.oneoff") == "True" {
                return x.state == "exited" || x.state == "dead";
            }
            !o.known.iter().any(|k| k == label(x, SERVICE))
        })
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if !o.remove_orphans {
        let names: Vec<String> = orphans.iter().map(|x| name_of(x)).collect();
        eprintln!(
            "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        );
        return Ok(());
    }
    for x in orphans {
        stop_and_remove(c, x, o.timeout, false).await?;
    }
    Ok(())
}

/// What a service needs up before it: its `depends_on`, and the services its `network_mode:
/// service:`, `volumes_from` and `links` name (as compose-go counts them).
pub fn dependencies(s: &Service) -> Vec<String> {
    let mut out: Vec<String> = s.depends_on.keys().cloned().collect();
    if let Some(n) = s
        .other
        .get("network_mode")
        .and_then(Value::as_str)
        .and_then(|m| m.strip_prefix("service:"))
    {
        out.push(n.to_owned());
    }
    for key in ["volumes_from", "links"] {
        for v in s
            .other
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if v.starts_with("container:") {
                continue;
            }
            let v = v.strip_prefix("service:").unwrap_or(v);
            out.push(v.split(':').next().unwrap_or(v).to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The name of a service's container number `n`: `container_name`, else
/// `<project>-<service>-<n>`.
pub fn container_name(p: &Project, service: &str, s: &Service, n: usize) -> String {
    s.other
        .get("container_name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}-{service}-{n}", p.name))
}

/// How many containers a service runs: `--scale`, else `deploy.replicas` (or `scale`), else 1.
pub fn replicas(s: &Service, service: &str, scale: &BTreeMap<String, usize>) -> usize {
    if let Some(n) = scale.get(service) {
        return *n;
    }
    s.other
        .get("deploy")
        .and_then(|d| d.get("replicas"))
        .or_else(|| s.other.get("scale"))
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
        })
        .map_or(1, |n| n as usize)
}

/// Each `depends_on` condition met before the service starts, with Compose's errors.
pub async fn wait_dependencies(c: &Client, p: &Project, s: &Service) -> Result<()> {
    for (dep, d) in &s.depends_on {
        let Some(ds) = p.services.get(dep) else {
            continue;
        };
        let cname = container_name(p, dep, ds, 1);
        match d.condition.as_str() {
            "service_healthy" => {
                step("Container", &cname, "Waiting");
                wait_for(c, dep, &cname, "healthy", None).await?;
                step("Container", &cname, "Healthy");
            }
            "service_completed_successfully" => {
                step("Container", &cname, "Waiting");
                wait_for(c, dep, &cname, "exited_ok", None).await?;
                step("Container", &cname, "Exited");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Wait for `what` (`healthy`, `exited_ok`, `running_or_healthy`) of a container.
pub async fn wait_for(
    c: &Client,
    service: &str,
    name: &str,
    what: &str,
    end: Option<Instant>,
) -> Result<()> {
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
                service
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
        // Local API calls are cheap: a short poll keeps a dependant from waiting long.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The service's containers as the file says: each kept (started if stopped) when its hash
/// and image match, else made anew under its number; extra replicas removed (highest numbers
/// first), missing ones made with the next numbers.
async fn converge(
    c: &Client,
    p: &Project,
    service: &str,
    s: &Service,
    existing: &[Summary],
    o: &UpOptions,
) -> Result<Vec<Converged>> {
    let image = image_name(p, service, s);
    let image_id = c
        .get::<Value>(&format!("/images/{}/json", enc(&image)))
        .await
        .map_err(|_| anyhow!("No such image: {image}"))?
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let hash = berth_compose::hash::service_hash(s);
    let want = replicas(s, service, &o.scale);
    if want > 1 && s.other.contains_key("container_name") {
        bail!(
            "services.{service}: can't set container_name and {service} as container name must be unique"
        );
    }
    let number = |x: &Summary| -> usize {
        label(x, "com.docker.compose.container-number")
            .parse()
            .unwrap_or(0)
    };
    let mut mine: Vec<&Summary> = existing
        .iter()
        .filter(|x| label(x, SERVICE) == service && label(x, "com.docker.compose.oneoff") != "True")
        .collect();
    mine.sort_by_key(|x| number(x));
    // Scale down: the highest numbers go.
    while mine.len() > want {
        if let Some(x) = mine.pop() {
            stop_and_remove(c, x, o.timeout, false).await?;
        }
    }
    let mut next = mine.iter().map(|x| number(x)).max().unwrap_or(0) + 1;
    let mut jobs = Vec::new();
    for cur in &mine {
        let n = number(cur).max(1);
        let same = label(cur, "com.docker.compose.config-hash") == hash
            && label(cur, "com.docker.compose.image") == image_id;
        let keep = o.no_recreate || (same && !o.force_recreate);
        jobs.push((n, Some((*cur).clone()), keep));
    }
    while jobs.len() < want {
        jobs.push((next, None, false));
        next += 1;
    }
    let sp = |n: usize, inherited: Vec<(String, String)>| Spec {
        project: p,
        service,
        s,
        number: n as i64,
        name: container_name(p, service, s, n),
        image: image.clone(),
        image_id: image_id.clone(),
        hash: hash.clone(),
        slug: None,
        inherited,
        aliases: true,
        auto_remove: false,
    };
    let one = |(n, cur, keep): (usize, Option<Summary>, bool)| {
        let spec = sp(n, Vec::new());
        async move {
            let name = spec.name.clone();
            match cur {
                Some(cur) if keep => {
                    let started = cur.state != "running" && !o.no_start;
                    if started {
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
                    Ok(Converged {
                        id: cur.id.clone(),
                        name,
                        service: service.to_owned(),
                        started,
                        fresh: false,
                    })
                }
                Some(cur) => {
                    step("Container", &name, "Recreate");
                    let inherited = if o.renew_anon_volumes {
                        Vec::new()
                    } else {
                        cur.mounts
                            .iter()
                            .filter(|m| m.r#type == "volume" && !m.name.is_empty())
                            .map(|m| (m.name.clone(), m.destination.clone()))
                            .collect()
                    };
                    let old_name = name_of(&cur);
                    if cur.state == "running" || cur.state == "paused" || cur.state == "restarting"
                    {
                        let t = o.timeout.map(|t| format!("?t={t}")).unwrap_or_default();
                        c.call(
                            Method::POST,
                            &format!("/containers/{}/stop{t}", cur.id),
                            &[],
                            berth_client::empty(),
                        )
                        .await?;
                    }
                    c.call(
                        Method::DELETE,
                        &format!("/containers/{}?force=1", cur.id),
                        &[],
                        berth_client::empty(),
                    )
                    .await?;
                    fresh(c, Spec { inherited, ..spec }, (&old_name, "Recreated"), o).await
                }
                None => {
                    step("Container", &name, "Creating");
                    fresh(c, spec, (&name, "Created"), o).await
                }
            }
        }
    };
    let results = futures_util::future::join_all(jobs.into_iter().map(one)).await;
    results.into_iter().collect()
}

/// A container made anew from `spec` (the progress line `done` once it exists) and started.
async fn fresh(c: &Client, spec: Spec<'_>, done: (&str, &str), o: &UpOptions) -> Result<Converged> {
    let id = create(c, &spec).await?;
    step("Container", done.0, done.1);
    start(c, &id, &spec.name, o).await?;
    Ok(Converged {
        id,
        name: spec.name,
        service: spec.service.to_owned(),
        started: !o.no_start,
        fresh: true,
    })
}

/// The image a service runs: `image`, else the one `build` makes (`<project>-<service>`).
pub fn image_name(p: &Project, service: &str, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{service}", p.name))
}

async fn start(c: &Client, id: &str, name: &str, o: &UpOptions) -> Result<()> {
    if o.no_start {
        return Ok(());
    }
    step("Container", name, "Starting");
    c.call(
        Method::POST,
        &format!("/containers/{id}/start"),
        &[],
        berth_client::empty(),
    )
    .await?;
    step("Container", name, "Started");
    Ok(())
}

/// A container made as the spec says, on every network of its service, with its secrets and
/// configs in place. Its id.
pub async fn create(c: &Client, sp: &Spec<'_>) -> Result<String> {
    let (p, s) = (sp.project, sp.s);
    let body = create_body(sp)?;
    let created: berth_models::container::CreateResponse = c
        .post(
            &format!("/containers/create{}", query(&[("name", &sp.name)])),
            &body,
        )
        .await?;
    // Networks beyond the first.
    for (net, cfg) in s.networks.iter().skip(1) {
        let full = p
            .networks
            .get(net)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| net.clone());
        let body = serde_json::json!({
            "Container": created.id,
            "EndpointConfig": endpoint(sp.service, &sp.name, cfg.as_ref(), sp.aliases),
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
    Ok(created.id)
}
