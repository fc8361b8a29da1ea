//! The rest of `berth compose`'s commands: the images a project needs (built or pulled as
//! `up`, `create` and `run` need them), `build`, `pull`, `push`, `run`, `create`, `images`,
//! `events`, `cp` and `wait` — each with Compose v2's flags and output.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, anyhow, bail};
use berth_client::{Client, Method, enc, query};
use berth_compose::model::{Project, Service};
use berth_models::container::Summary;
use serde_json::Value;

use crate::Global;
use crate::compose_ops::{PROJECT, SERVICE, containers, label, name_of};
use crate::compose_up::{image_name, step};

/// One of the CLI's own argument structs, made from an argument list (as a user would type it).
fn cli_args<T: clap::Args + clap::FromArgMatches>(argv: &[String]) -> Result<T> {
    let cmd = T::augment_args(clap::Command::new("berth").no_binary_name(true));
    let m = cmd.try_get_matches_from(argv)?;
    Ok(T::from_arg_matches(&m)?)
}

/// When `up`, `create` and `run` build: `--build` always, `--no-build` never, else when the
/// image is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    Always,
    Never,
    Missing,
}

async fn image_exists(c: &Client, name: &str) -> bool {
    c.get::<Value>(&format!("/images/{}/json", enc(name)))
        .await
        .is_ok()
}

/// Every service's image in place: built (a `build:` section) or pulled, as the policies say.
pub fn ensure_images(
    g: &Global,
    p: &Project,
    build: BuildPolicy,
    pull: Option<&str>,
) -> Result<()> {
    let (rt, c) = crate::connect(g)?;
    let mut to_build = Vec::new();
    for (name, s) in &p.services {
        let image = image_name(p, name, s);
        let exists = rt.block_on(image_exists(&c, &image));
        let policy = pull
            .map(str::to_owned)
            .or_else(|| {
                s.other
                    .get("pull_policy")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "missing".into());
        if s.build.is_some() {
            let wanted = match build {
                BuildPolicy::Always => true,
                BuildPolicy::Never => false,
                BuildPolicy::Missing => !exists || policy == "build",
            };
            if wanted {
                to_build.push(name.clone());
                continue;
            }
            if exists {
                continue;
            }
        }
        match policy.as_str() {
            "always" => pull_one(g, name, &image)?,
            "never" if !exists => bail!(
                "image {image:?} for service {name:?} is not present and its pull_policy is \"never\""
            ),
            "never" => {}
            _ if !exists => pull_one(g, name, &image)?,
            _ => {}
        }
    }
    if !to_build.is_empty() {
        build_services(g, p, &to_build, &BuildFlags::default())?;
    }
    Ok(())
}

fn pull_one(g: &Global, service: &str, image: &str) -> Result<()> {
    step("", service, "Pulling");
    crate::registry::pull_quietly_to_stderr(g, image)
        .map_err(|e| anyhow!("service {service:?}: pull {image}: {e}"))?;
    step("", service, "Pulled");
    Ok(())
}

/// `compose build`'s flags.
#[derive(Debug, Default, clap::Args)]
pub struct BuildFlags {
    /// Set build-time variables for services
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Suppress the build output
    #[arg(short, long)]
    quiet: bool,
    pub services: Vec<String>,
}

/// Build the named services' images as Compose does: tagged `image` (or
/// `<project>-<service>`) and the `build.tags`, labelled with the project and service.
pub fn build_services(g: &Global, p: &Project, names: &[String], f: &BuildFlags) -> Result<()> {
    for name in names {
        let s = p
            .services
            .get(name)
            .ok_or_else(|| anyhow!("no such service: {name}"))?;
        let Some(b) = &s.build else {
            continue;
        };
        let mut argv: Vec<String> = vec!["-t".into(), image_name(p, name, s)];
        for t in b
            .other
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = t.as_str() {
                argv.extend(["-t".into(), t.to_owned()]);
            }
        }
        argv.extend(["-f".into(), b.dockerfile.clone()]);
        for (k, v) in &b.args.0 {
            argv.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
        for a in &f.build_arg {
            argv.extend(["--build-arg".into(), a.clone()]);
        }
        if let Some(t) = b.other.get("target").and_then(Value::as_str) {
            argv.extend(["--target".into(), t.to_owned()]);
        }
        let mut labels: BTreeMap<String, String> = b
            .other
            .get("labels")
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
        labels.insert(
            "com.docker.compose.version".into(),
            crate::compose_create::COMPOSE_VERSION.into(),
        );
        labels.insert(PROJECT.into(), p.name.clone());
        labels.insert(SERVICE.into(), name.clone());
        for (k, v) in labels {
            argv.extend(["--label".into(), format!("{k}={v}")]);
        }
        let flag = |k: &str| b.other.get(k).and_then(Value::as_bool).unwrap_or(false);
        if f.no_cache || flag("no_cache") {
            argv.push("--no-cache".into());
        }
        if f.pull || flag("pull") {
            argv.push("--pull".into());
        }
        if f.quiet {
            argv.push("-q".into());
        }
        argv.push(b.context.clone());
        step("", name, "Building");
        let code = crate::build::build(g, cli_args(&argv)?)?;
        if code != 0 {
            bail!("failed to build service {name:?}");
        }
        step("", name, "Built");
    }
    Ok(())
}

/// `compose build [SERVICES]`: every service with a `build:` section (or the named ones).
pub fn build(g: &Global, p: &Project, f: &BuildFlags) -> Result<i32> {
    let names: Vec<String> = if f.services.is_empty() {
        p.services
            .iter()
            .filter(|(_, s)| s.build.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    } else {
        f.services.clone()
    };
    build_services(g, p, &names, f)?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct PullFlags {
    /// Pull without printing progress information
    #[arg(short, long)]
    quiet: bool,
    /// Ignore images that can be built
    #[arg(long)]
    ignore_buildable: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    ignore_pull_failures: bool,
    pub services: Vec<String>,
}

/// `compose pull`: each service's image (services with a `build:` section and no `image`
/// skipped, as Compose skips them).
pub fn pull(g: &Global, p: &Project, f: &PullFlags) -> Result<i32> {
    for (name, s) in &p.services {
        if !f.services.is_empty() && !f.services.contains(name) {
            continue;
        }
        let Some(image) = &s.image else { continue };
        if f.ignore_buildable && s.build.is_some() {
            continue;
        }
        match pull_one(g, name, image) {
            Ok(()) => {}
            Err(e) if f.ignore_pull_failures || s.build.is_some() => {
                eprintln!("WARN[0000] {e}");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct PushFlags {
    /// Push what it can and ignores images with push failures
    #[arg(long)]
    ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short, long)]
    quiet: bool,
    pub services: Vec<String>,
}

/// `compose push`: the images of services that name one and build it.
pub fn push(g: &Global, p: &Project, f: &PushFlags) -> Result<i32> {
    for (name, s) in &p.services {
        if !f.services.is_empty() && !f.services.contains(name) {
            continue;
        }
        let (Some(image), Some(_)) = (&s.image, &s.build) else {
            continue;
        };
        step("", name, "Pushing");
        let mut argv = vec![image.clone()];
        if f.quiet {
            argv.insert(0, "-q".into());
        }
        match crate::registry::push(g, cli_args(&argv)?) {
            Ok(_) => step("", name, "Pushed"),
            Err(e) if f.ignore_push_failures => eprintln!("WARN[0000] {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ImagesFlags {
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    format: String,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    services: Vec<String>,
}

#[derive(serde::Serialize)]
struct ImageRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "ContainerName")]
    container_name: String,
    #[serde(rename = "Repository")]
    repository: String,
    #[serde(rename = "Tag")]
    tag: String,
    #[serde(rename = "Platform")]
    platform: String,
    #[serde(rename = "Size")]
    size: i64,
    #[serde(rename = "LastTagTime")]
    last_tag_time: String,
}

/// `compose images`: the image of each of the project's containers.
pub async fn images(c: &Client, project: &str, f: &ImagesFlags) -> Result<i32> {
    let mut list = containers(c, project, true).await?;
    list.retain(|s| f.services.is_empty() || f.services.iter().any(|x| x == label(s, SERVICE)));
    list.sort_by_key(name_of);
    let mut rows = Vec::new();
    for s in &list {
        let img: berth_models::image::Inspect =
            c.get(&format!("/images/{}/json", enc(&s.image_id))).await?;
        let (repository, tag) = img
            .repo_tags
            .iter()
            .find(|t| **t == s.image || t.starts_with(&format!("{}:", s.image)))
            .or(img.repo_tags.first())
            .and_then(|t| t.rsplit_once(':'))
            .map_or((String::new(), String::new()), |(r, t)| {
                (r.to_owned(), t.to_owned())
            });
        rows.push(ImageRow {
            id: img.id.clone(),
            container_name: name_of(s),
            repository,
            tag,
            platform: format!("{}/{}", img.os, img.architecture),
            size: img.size,
            last_tag_time: img.created.clone(),
        });
    }
    if f.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    if f.format == "json" {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(0);
    }
    let mut table = vec![
        [
            "CONTAINER",
            "REPOSITORY",
            "TAG",
            "PLATFORM",
            "IMAGE ID",
            "SIZE",
            "CREATED",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in rows {
        let age = berth_units::parse_rfc3339(&r.last_tag_time)
            .map(|t| {
                format!(
                    "{} ago",
                    berth_units::human_duration(berth_units::now() - t)
                )
            })
            .unwrap_or_default();
        let none = |s: String| if s.is_empty() { "<none>".to_owned() } else { s };
        table.push(vec![
            r.container_name,
            none(r.repository),
            none(r.tag),
            r.platform,
            crate::output::short_id(&r.id, false),
            berth_units::human_size_precision(r.size as f64, 3),
            age,
        ]);
    }
    print!("{}", crate::units::table(&table));
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct EventsFlags {
    /// Output events as a stream of json objects
    #[arg(long)]
    json: bool,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    services: Vec<String>,
}

/// `compose events`: the daemon's container events for the project's containers, as Compose
/// prints them (or as JSON objects with `--json`).
pub async fn events(c: &Client, project: &str, f: &EventsFlags) -> Result<i32> {
    let filters = serde_json::json!({
        "type": ["container"],
        "label": [format!("{PROJECT}={project}")],
    })
    .to_string();
    let mut q: Vec<(&str, String)> = vec![("filters", filters)];
    if let Some(s) = &f.since {
        q.push(("since", crate::logs::time_flag(s)));
    }
    if let Some(u) = &f.until {
        q.push(("until", crate::logs::time_flag(u)));
    }
    let qs = query(&q.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    c.lines(
        Method::GET,
        &format!("/events{qs}"),
        &[],
        berth_client::empty(),
        |ev: berth_models::events::Message| {
            let service = ev
                .actor
                .attributes
                .get(SERVICE)
                .cloned()
                .unwrap_or_default();
            if !f.services.is_empty() && !f.services.contains(&service) {
                return Ok(());
            }
            let attrs: BTreeMap<&String, &String> = ev
                .actor
                .attributes
                .iter()
                .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                .collect();
            let nanos = ev.time_nano.max(0) as u64;
            let (secs, sub) = (
                (nanos / 1_000_000_000) as i64,
                (nanos % 1_000_000_000) as u32,
            );
            let line = if f.json {
                serde_json::json!({
                    "time": berth_units::rfc3339_nano(secs, sub),
                    "type": "container",
                    "service": service,
                    "id": ev.actor.id,
                    "action": ev.action,
                    "attributes": attrs,
                })
                .to_string()
            } else {
                // Go's "2006-01-02 15:04:05.000000", then a blank line (Compose prints the
                // event's own newline and one more).
                let t = berth_units::rfc3339_nano(secs, sub);
                let when = format!("{} {}.{:06}", &t[..10], &t[11..19], sub / 1000);
                let a: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{when} container {} {} ({})\n",
                    ev.action,
                    ev.actor.id,
                    a.join(", ")
                )
            };
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
            Ok(())
        },
    )
    .await?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct CpFlags {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: usize,
    /// Include containers created by the run command
    #[arg(long)]
    all: bool,
    /// SERVICE:SRC_PATH or a host path
    src: String,
    /// SERVICE:DEST_PATH or a host path
    dest: String,
}

/// `compose cp`: `docker cp` with the service's container (number `--index`) for the service.
pub fn cp(g: &Global, project: &str, f: &CpFlags) -> Result<i32> {
    let side = |s: &str| -> String {
        if s.starts_with('/') || s.starts_with('.') {
            return s.to_owned();
        }
        match s.split_once(':') {
            Some((svc, path)) => format!("{project}-{svc}-{}:{path}", f.index),
            None => s.to_owned(),
        }
    };
    crate::fs::cp(g, cli_args(&[side(&f.src), side(&f.dest)])?)
}

#[derive(Debug, clap::Args)]
pub struct WaitFlags {
    /// Drops project when the first container stops
    #[arg(long)]
    down_project: bool,
    #[arg(required = true)]
    services: Vec<String>,
}

/// `compose wait SERVICE…`: until each running container of the services has exited; the
/// last exit code.
pub async fn wait(c: &Client, project: &str, f: &WaitFlags) -> Result<i32> {
    // Running containers only, one-off ones included (as Compose's).
    let mut list: Vec<Summary> = containers(c, project, false).await?;
    list.retain(|s| f.services.iter().any(|x| x == label(s, SERVICE)));
    if list.is_empty() {
        bail!("no containers for project {project:?}");
    }
    let jobs = list.iter().map(|s| async move {
        let w: berth_models::container::WaitResponse = c
            .send_empty(Method::POST, &format!("/containers/{}/wait", s.id))
            .await?;
        println!(
            "container {:?} exited with status code {}",
            s.id, w.status_code
        );
        anyhow::Ok(w.status_code)
    });
    let mut code = 0;
    for r in futures_util::future::join_all(jobs).await {
        code = r?;
    }
    if f.down_project {
        crate::compose_ops::down(
            c,
            project,
            &crate::compose_ops::DownOptions {
                volumes: false,
                remove_orphans: true,
                timeout: None,
                order: None,
                images: Vec::new(),
            },
        )
        .await?;
    }
    Ok(code.clamp(0, 255) as i32)
}

/// A service's one-off container name: `<project>-<service>-run-<slug's first 12>`.
pub fn run_name(p: &Project, service: &str, slug: &str) -> String {
    format!("{}-{service}-run-{}", p.name, &slug[..12])
}

/// 64 random hex digits (Compose's slug, as docker's ids).
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A service as `run` changes it: the command, entrypoint, user, workdir, environment and
/// labels given; no ports unless asked; no restart policy.
pub fn for_run(s: &Service, o: &RunFlags) -> Service {
    let mut s = s.clone();
    if !o.command.is_empty() {
        s.command = Some(o.command.clone());
    }
    if let Some(e) = &o.entrypoint {
        s.entrypoint = Some(shlex::split(e).unwrap_or_else(|| vec![e.clone()]));
        if o.command.is_empty() {
            s.command = Some(Vec::new());
        }
    }
    for (k, v) in [("user", &o.user), ("working_dir", &o.workdir)] {
        if let Some(v) = v {
            s.other.insert(k.into(), Value::String(v.clone()));
        }
    }
    for e in &o.env {
        match e.split_once('=') {
            Some((k, v)) => s.environment.insert(k.into(), Some(v.into())),
            None => s.environment.insert(e.clone(), std::env::var(e).ok()),
        };
    }
    for l in &o.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        s.labels.0.insert(k.into(), v.into());
    }
    if !o.service_ports {
        s.ports.clear();
    }
    s.other.remove("restart");
    s.other.remove("container_name");
    s.other.insert("tty".into(), Value::Bool(o.tty));
    s.other
        .insert("stdin_open".into(), Value::Bool(o.interactive));
    s
}

#[derive(Debug, clap::Args)]
pub struct RunFlags {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Add or override a label
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Use the service's network aliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long, default_value_t = true)]
    pub interactive: bool,
    #[arg(skip)]
    pub tty: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `compose run SERVICE [COMMAND…]`: the service's dependencies up (unless `--no-deps`), then
/// a one-off container of the service (`<project>-<service>-run-<slug>`, `oneoff=True`) run
/// attached (or `-d`); its exit code.
pub fn run(g: &Global, p: &Project, mut f: RunFlags, known: Vec<String>) -> Result<i32> {
    let s0 = p
        .services
        .get(&f.service)
        .ok_or_else(|| anyhow!("no such service: {}", f.service))?;
    f.tty = !f.no_tty && !f.detach && nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let (rt, c) = crate::connect(g)?;
    rt.block_on(async {
        crate::compose_up::ensure_networks(&c, p).await?;
        crate::compose_up::ensure_volumes(&c, p).await
    })?;
    if !f.no_deps && !s0.depends_on.is_empty() {
        let mut deps = p.clone();
        let wanted = crate::compose::with_dependencies(p, std::slice::from_ref(&f.service));
        deps.services
            .retain(|k, _| wanted.contains(k) && *k != f.service);
        ensure_images(
            g,
            &deps,
            if f.build {
                BuildPolicy::Always
            } else {
                BuildPolicy::Missing
            },
            None,
        )?;
        let uo = crate::compose_up::UpOptions {
            wait: false,
            wait_timeout: None,
            force_recreate: false,
            no_recreate: false,
            timeout: None,
            order: crate::compose::start_order(&deps),
            scale: BTreeMap::new(),
            remove_orphans: f.remove_orphans,
            renew_anon_volumes: false,
            no_start: false,
            known,
        };
        rt.block_on(crate::compose_up::up(&c, &deps, &uo))?;
        rt.block_on(crate::compose_up::wait_dependencies(&c, p, s0))?;
    }
    let mut only = p.clone();
    only.services.retain(|k, _| *k == f.service);
    ensure_images(
        g,
        &only,
        if f.build {
            BuildPolicy::Always
        } else {
            BuildPolicy::Missing
        },
        None,
    )?;
    let slug = random_id();
    let svc = for_run(s0, &f);
    let image = image_name(p, &f.service, s0);
    let image_id = rt
        .block_on(c.get::<berth_models::image::Inspect>(&format!("/images/{}/json", enc(&image))))
        .map_err(|_| anyhow!("No such image: {image}"))?
        .id;
    let spec = crate::compose_create::Spec {
        project: p,
        service: &f.service,
        s: &svc,
        number: -1,
        name: f
            .name
            .clone()
            .unwrap_or_else(|| run_name(p, &f.service, &slug)),
        image,
        image_id,
        hash: berth_compose::hash::service_hash(&svc),
        slug: Some(slug),
        inherited: Vec::new(),
        aliases: f.use_aliases,
        auto_remove: f.rm,
    };
    let id = rt.block_on(crate::compose_up::create(&c, &spec))?;
    if f.detach {
        rt.block_on(c.call(
            Method::POST,
            &format!("/containers/{id}/start"),
            &[],
            berth_client::empty(),
        ))?;
        println!("{id}");
        return Ok(0);
    }
    crate::term::run_interactive(&rt, &c, &id, f.tty, f.rm)
}
