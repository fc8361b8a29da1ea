//! Image commands, with docker's flags, output and errors.

use std::io::{IsTerminal, Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use berth_image::archive::SaveFormat;
use berth_image::images::{Image, Images};
use berth_image::reference::Reference;
use berth_image::registry::{self, Platform, Settings};
use clap::Args;
use serde_json::{Value, json};

use crate::Global;
use crate::engine::{self, reference};
use crate::progress::CliProgress;
use crate::template::Template;
use crate::units::{go_time, human_duration, human_size, now, table};

fn open(g: &Global) -> Result<Images> {
    Images::open(&g.data_root)
        .with_context(|| format!("open image store {}", g.data_root.display()))
}

fn settings(g: &Global) -> Result<Settings> {
    let mut s = Settings::default();
    match std::fs::read(&g.config_file) {
        Ok(data) => {
            let v: Value = serde_json::from_slice(&data)
                .with_context(|| format!("daemon config {}", g.config_file.display()))?;
            let list = |k: &str| -> Vec<String> {
                v[k].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            };
            s.insecure = list("insecure-registries");
            s.mirrors = list("registry-mirrors");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow!("read {}: {e}", g.config_file.display())),
    }
    Ok(s)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start async runtime")
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository (not supported yet)
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Skip image verification (accepted for compatibility; digests are always verified)
    #[arg(long)]
    disable_content_trust: bool,
    name: String,
}

pub fn pull(g: &Global, a: PullArgs) -> Result<i32> {
    if a.all_tags {
        bail!("pull --all-tags is not supported yet");
    }
    let r = reference(&a.name)?;
    let platform = a.platform.as_deref().map(Platform::parse).transpose()?;
    let images = open(g)?;
    let p = CliProgress::new(a.quiet);
    let named_tag = a
        .name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
        || a.name.contains('@');
    if !named_tag {
        p.println("Using default tag: latest");
    }
    let opts = registry::PullOptions {
        platform,
        credentials: registry::credentials_for(&r.registry),
        settings: settings(g)?,
    };
    let pulled = runtime()?.block_on(registry::pull(&images, &r, &opts, &p))?;
    p.finish();
    p.println(&format!("Digest: {}", pulled.digest));
    p.println(&format!(
        "Status: {} for {r}",
        if pulled.new {
            "Downloaded newer image"
        } else {
            "Image is up to date"
        }
    ));
    println!("{}", full_name(&r));
    Ok(0)
}

/// `docker.io/library/busybox:latest`
fn full_name(r: &Reference) -> String {
    let mut s = format!("{}/{}", r.registry, r.repository);
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
    s
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository (not supported yet)
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Skip image signing (accepted for compatibility)
    #[arg(long)]
    disable_content_trust: bool,
    name: String,
}

pub fn push(g: &Global, a: PushArgs) -> Result<i32> {
    if a.all_tags {
        bail!("push --all-tags is not supported yet");
    }
    let mut r = reference(&a.name)?;
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".into());
    }
    let images = open(g)?;
    // An image that does not exist locally: Docker's message.
    if images.resolve(&r.to_string()).is_err() {
        bail!(berth_image::Error::Registry(format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_name()
        )));
    }
    let p = CliProgress::new(a.quiet);
    let opts = registry::PushOptions {
        credentials: registry::credentials_for(&r.registry),
        settings: settings(g)?,
    };
    let pushed = runtime()?.block_on(registry::push(&images, &r, &opts, &p))?;
    p.finish();
    if a.quiet {
        println!(
            "{}@{}",
            full_name(&Reference {
                digest: None,
                ..r.clone()
            }),
            pushed.digest
        );
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    server: Option<String>,
}

fn server_key(server: Option<&str>) -> String {
    match server {
        None => registry::auth_key("docker.io"),
        Some(s) => {
            let h = s
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .trim_end_matches("/v1")
                .trim_end_matches("/v2");
            registry::auth_key(h)
        }
    }
}

fn read_config() -> Result<(std::path::PathBuf, Value)> {
    let path = registry::config_path().ok_or_else(|| anyhow!("no HOME and no DOCKER_CONFIG"))?;
    let v = match std::fs::read(&path) {
        Ok(d) => serde_json::from_slice(&d).with_context(|| format!("{}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(anyhow!("read {}: {e}", path.display())),
    };
    Ok((path, v))
}

fn write_config(path: &std::path::Path, v: &Value) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("write {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(v)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Run a credential helper (`docker-credential-NAME ACTION`) with `input` on stdin.
fn cred_helper(name: &str, action: &str, input: &str) -> Result<()> {
    let mut c = std::process::Command::new(format!("docker-credential-{name}"))
        .arg(action)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("run docker-credential-{name}"))?;
    if let Some(mut i) = c.stdin.take() {
        i.write_all(input.as_bytes())?;
    }
    let out = c.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "docker-credential-{name} {action}: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}

pub fn login(g: &Global, a: LoginArgs) -> Result<i32> {
    let key = server_key(a.server.as_deref());
    let host = a
        .server
        .as_deref()
        .map(|s| {
            s.trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or(s)
                .to_owned()
        })
        .unwrap_or_else(|| "docker.io".into());
    let user = match a.username {
        Some(u) => u,
        None => {
            eprint!("Username: ");
            let mut u = String::new();
            std::io::stdin().read_line(&mut u)?;
            u.trim().to_owned()
        }
    };
    if user.is_empty() {
        bail!("Username is required");
    }
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut p = String::new();
        std::io::stdin().read_to_string(&mut p)?;
        p.trim_end_matches(['\n', '\r']).to_owned()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        bail!(
            "Password is required: use --password-stdin (interactive prompts are not supported yet)"
        );
    };
    if password.is_empty() {
        bail!("Password is required");
    }
    runtime()?.block_on(registry::check_login(
        &settings(g)?,
        &host,
        &user,
        &password,
    ))?;
    let (path, mut cfg) = read_config()?;
    let helper = cfg["credHelpers"][key.as_str()]
        .as_str()
        .or(cfg["credsStore"].as_str())
        .map(str::to_owned);
    match helper {
        Some(h) => cred_helper(
            &h,
            "store",
            &json!({"ServerURL": key, "Username": user, "Secret": password}).to_string(),
        )?,
        None => {
            use base64::Engine as _;
            if !cfg["auths"].is_object() {
                cfg["auths"] = json!({});
            }
            cfg["auths"][key.as_str()] = json!({
                "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            });
            write_config(&path, &cfg)?;
            eprintln!(
                "WARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning.",
                path.display()
            );
        }
    }
    println!("Login Succeeded");
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    server: Option<String>,
}

pub fn logout(_g: &Global, a: LogoutArgs) -> Result<i32> {
    let key = server_key(a.server.as_deref());
    let (path, mut cfg) = read_config()?;
    let helper = cfg["credHelpers"][key.as_str()]
        .as_str()
        .or(cfg["credsStore"].as_str())
        .map(str::to_owned);
    let stored = cfg["auths"].get(&key).is_some();
    if !stored && helper.is_none() {
        println!("Not logged in to {key}");
        return Ok(0);
    }
    println!("Removing login credentials for {key}");
    if let Some(h) = helper {
        let _ = cred_helper(&h, "erase", &key);
    }
    if let Some(o) = cfg["auths"].as_object_mut() {
        o.remove(&key);
        write_config(&path, &cfg)?;
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<std::path::PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
    /// Load only this platform (accepted; archives hold one platform per image)
    #[arg(long)]
    platform: Option<String>,
}

pub fn load(g: &Global, a: LoadArgs) -> Result<i32> {
    let images = open(g)?;
    let loaded = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| anyhow!("open {}: {e}", p.display()))?;
            berth_image::archive::load(&images, std::io::BufReader::with_capacity(1 << 20, f))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            berth_image::archive::load(&images, std::io::stdin().lock())?
        }
    };
    for img in loaded {
        if img.tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for t in &img.tags {
            println!("Loaded image: {t}");
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    /// Archive format: docker-archive (docker save's) or oci-archive
    #[arg(long, default_value = "docker-archive")]
    format: String,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(g: &Global, a: SaveArgs) -> Result<i32> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => SaveFormat::Docker,
        "oci-archive" | "oci" => SaveFormat::Oci,
        f => bail!("invalid --format {f:?}: use docker-archive or oci-archive"),
    };
    let images = open(g)?;
    let mut items: Vec<(Image, Vec<Reference>)> = Vec::new();
    for name in &a.images {
        let img = images.resolve(name)?;
        // Named by a tag: that tag; by id: all of its tags (as docker save does).
        let tags: Vec<Reference> = match Reference::parse(name) {
            Ok(r) if img.tags.contains(&r.to_string()) => vec![r],
            _ if name.starts_with("sha256:")
                || img
                    .id
                    .trim_start_matches("sha256:")
                    .starts_with(name.as_str()) =>
            {
                img.tags
                    .iter()
                    .filter_map(|t| Reference::parse(t).ok())
                    .collect()
            }
            _ => Vec::new(),
        };
        match items.iter_mut().find(|(i, _)| i.id == img.id) {
            Some((_, t)) => t.extend(tags),
            None => items.push((img, tags)),
        }
    }
    match &a.output {
        Some(path) => {
            // Written beside the target and renamed: no half-written archive on failure.
            let tmp = path.with_file_name(format!(
                ".{}.berth-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                std::process::id()
            ));
            let res = (|| -> Result<()> {
                let f = std::fs::File::create(&tmp)
                    .map_err(|e| anyhow!("open {}: {e}", path.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                berth_image::archive::save(&images, &items, format, &mut w)?;
                let f = w
                    .into_inner()
                    .map_err(|e| anyhow!("write {}: {e}", path.display()))?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)
                    .map_err(|e| anyhow!("write {}: {e}", path.display()))?;
                Ok(())
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let out = std::io::stdout().lock();
            berth_image::archive::save(&images, &items, format, std::io::BufWriter::new(out))?;
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long, default_value = "")]
    message: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// A file, or - for STDIN
    file: String,
    repository: Option<String>,
}

pub fn import(g: &Global, a: ImportArgs) -> Result<i32> {
    let tag = a.repository.as_deref().map(reference).transpose()?;
    let platform = match &a.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let images = open(g)?;
    let comment = if a.message.is_empty() {
        format!("Imported from {}", a.file)
    } else {
        a.message.clone()
    };
    let created = crate::units::rfc3339(now());
    let src: Box<dyn Read> = if a.file == "-" {
        Box::new(std::io::stdin().lock())
    } else if a.file.starts_with("http://") || a.file.starts_with("https://") {
        bail!("import from a URL is not supported yet: download it and import the file");
    } else {
        Box::new(std::fs::File::open(&a.file).map_err(|e| anyhow!("open {}: {e}", a.file))?)
    };
    let img = berth_image::archive::import(
        &images,
        src,
        tag.as_ref(),
        &a.change,
        &comment,
        (&platform.os, &platform.arch),
        &created,
    )?;
    println!("{}", img.id);
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Only this repository[:tag]
    reference: Option<String>,
}

/// Docker's glob (`path.Match`): `*`, `?`, `[…]` not crossing `/`.
fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != '/' && m(p, &s[1..])),
            (Some('?'), Some(c)) if *c != '/' => m(&p[1..], &s[1..]),
            (Some('['), Some(c)) => {
                let Some(end) = p.iter().position(|x| *x == ']') else {
                    return false;
                };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('^') | Some('!') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..])
            }
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    m(&p, &s)
}

struct Filters {
    dangling: Option<bool>,
    labels: Vec<(String, Option<String>)>,
    references: Vec<String>,
    before: Option<i64>,
    since: Option<i64>,
}

fn created(images: &Images, img: &Image) -> i64 {
    engine::summary(images, img)["Created"]
        .as_i64()
        .unwrap_or(0)
}

fn parse_filters(images: &Images, f: &[String]) -> Result<Filters> {
    let mut out = Filters {
        dangling: None,
        labels: Vec::new(),
        references: Vec::new(),
        before: None,
        since: None,
    };
    for item in f {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        match k {
            "dangling" => {
                out.dangling = Some(match v.to_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!(berth_image::Error::Format(format!(
                        "invalid filter 'dangling={v}'"
                    ))),
                })
            }
            "label" => out.labels.push(match v.split_once('=') {
                Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
                None => (v.to_owned(), None),
            }),
            "reference" => out.references.push(v.to_owned()),
            "before" => out.before = Some(created(images, &images.resolve(v)?)),
            "since" => out.since = Some(created(images, &images.resolve(v)?)),
            _ => bail!(berth_image::Error::Format(format!("invalid filter '{k}'"))),
        }
    }
    Ok(out)
}

/// Render `rows` (JSON objects) with a Docker `--format` (or the default table with `cols`).
fn print_formatted(
    format: Option<&str>,
    default_cols: &[(&str, &str)],
    headers: &[(&str, &str)],
    rows: &[Value],
) -> Result<()> {
    let fmt = match format {
        None | Some("table") => format!(
            "table {}",
            default_cols
                .iter()
                .map(|(k, _)| format!("{{{{.{k}}}}}"))
                .collect::<Vec<_>>()
                .join("\t")
        ),
        Some("json") => "{{json .}}".to_owned(),
        Some(f) => f.replace("\\t", "\t").replace("\\n", "\n"),
    };
    let mut out = std::io::stdout().lock();
    if let Some(body) = fmt.strip_prefix("table") {
        let body = body.trim_start();
        let t = Template::parse(body).map_err(|e| anyhow!(e))?;
        let mut hdr = serde_json::Map::new();
        for (k, h) in headers {
            hdr.insert((*k).to_owned(), Value::from(*h));
        }
        let mut lines: Vec<Vec<String>> = vec![
            t.render(&Value::Object(hdr))
                .map_err(|e| anyhow!(e))?
                .split('\t')
                .map(str::to_owned)
                .collect(),
        ];
        for r in rows {
            lines.push(
                t.render(r)
                    .map_err(|e| anyhow!(e))?
                    .split('\t')
                    .map(str::to_owned)
                    .collect(),
            );
        }
        out.write_all(table(&lines).as_bytes())?;
    } else {
        let t = Template::parse(&fmt).map_err(|e| anyhow!(e))?;
        for r in rows {
            writeln!(out, "{}", t.render(r).map_err(|e| anyhow!(e))?)?;
        }
    }
    Ok(())
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

pub fn ls(g: &Global, a: LsArgs) -> Result<i32> {
    let _ = a.all;
    let images = open(g)?;
    let mut filters = parse_filters(&images, &a.filter)?;
    if let Some(r) = &a.reference {
        filters.references.push(r.clone());
    }
    let mut list: Vec<(Value, Image)> = images
        .list()?
        .into_iter()
        .map(|i| (engine::summary(&images, &i), i))
        .collect();
    list.sort_by(|a, b| {
        b.0["Created"]
            .as_i64()
            .cmp(&a.0["Created"].as_i64())
            .then(a.1.id.cmp(&b.1.id))
    });
    let mut rows = Vec::new();
    for (s, img) in &list {
        let created = s["Created"].as_i64().unwrap_or(0);
        let dangling = img.tags.is_empty();
        if filters.dangling.is_some_and(|d| d != dangling)
            || filters.before.is_some_and(|b| created >= b)
            || filters.since.is_some_and(|b| created <= b)
        {
            continue;
        }
        if !filters
            .labels
            .iter()
            .all(|(k, v)| match &s["Labels"][k.as_str()] {
                Value::String(x) => v.as_ref().is_none_or(|v| v == x),
                _ => false,
            })
        {
            continue;
        }
        // (repository, tag, digest) rows, as docker lists them.
        let mut names: Vec<(String, String, String)> = Vec::new();
        let digest_for = |repo: &str| {
            img.repo_digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo))
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>")
                .to_owned()
        };
        for t in engine::repo_tags(img) {
            let (repo, tag) = match t.rsplit_once(':') {
                Some((r, tg)) if !tg.contains('/') => (r.to_owned(), tg.to_owned()),
                _ => (t.clone(), "<none>".into()),
            };
            let d = digest_for(&repo);
            names.push((repo, tag, d));
        }
        for rd in &img.repo_digests {
            if let Some((repo, d)) = rd.split_once('@') {
                if !names.iter().any(|(r, _, _)| r == repo) {
                    names.push((repo.to_owned(), "<none>".into(), d.to_owned()));
                }
            }
        }
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        if !filters.references.is_empty() {
            names.retain(|(repo, tag, _)| {
                filters
                    .references
                    .iter()
                    .any(|p| glob(p, repo) || glob(p, &format!("{repo}:{tag}")))
            });
            if names.is_empty() {
                continue;
            }
        }
        let id = if a.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_owned()
        };
        let size = human_size(img.size as f64);
        for (repo, tag, digest) in names {
            rows.push(json!({
                "Containers": "N/A",
                "CreatedAt": go_time(created),
                "CreatedSince": format!("{} ago", human_duration(now() - created)),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            }));
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or_default().to_owned();
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let mut cols = vec![("Repository", "REPOSITORY"), ("Tag", "TAG")];
    if a.digests {
        cols.push(("Digest", "DIGEST"));
    }
    cols.extend([
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
    ]);
    print_formatted(a.format.as_deref(), &cols, IMAGE_HEADERS, &rows)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Only images (the only kind Berth inspects so far)
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes (containers only)
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

/// JSON as docker prints it: 4-space indentation.
fn pretty(v: &Value) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser)?;
    Ok(String::from_utf8(buf)?)
}

pub fn inspect(g: &Global, a: InspectArgs) -> Result<i32> {
    if let Some(k) = a.kind.as_deref().filter(|k| *k != "image") {
        bail!("\"{k}\" is not a valid value for --type (only images so far)");
    }
    let _ = a.size;
    let images = open(g)?;
    let mut found = Vec::new();
    let mut code = 0;
    let mut missing = Vec::new();
    for n in &a.names {
        match images.resolve(n) {
            Ok(img) => found.push(engine::inspect(&images, &img)),
            Err(berth_image::Error::NoSuchImage(_)) => {
                missing.push(format!("Error: No such image: {n}"));
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    match &a.format {
        None => {
            if !found.is_empty() || missing.is_empty() {
                println!("{}", pretty(&Value::from(found))?);
            } else {
                println!("[]");
            }
        }
        Some(f) => {
            let fmt = if f == "json" {
                "{{json .}}".to_owned()
            } else {
                f.replace("\\t", "\t").replace("\\n", "\n")
            };
            let t = Template::parse(&fmt).map_err(|e| anyhow!(e))?;
            for v in &found {
                println!("{}", t.render(v).map_err(|e| anyhow!(e))?);
            }
        }
    }
    for m in missing {
        eprintln!("{m}");
    }
    Ok(code)
}

#[derive(Debug, Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

pub fn tag(g: &Global, a: TagArgs) -> Result<i32> {
    let target = reference(&a.target)?;
    let images = open(g)?;
    images.tag(&a.source, &target)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn rmi(g: &Global, a: RmiArgs) -> Result<i32> {
    let _ = a.no_prune;
    let images = open(g)?;
    let mut code = 0;
    for name in &a.images {
        // No containers yet: nothing uses an image.
        match images.remove(name, a.force, &|_| None) {
            Ok(r) => {
                for u in r.untagged {
                    println!("Untagged: {u}");
                }
                for d in r.deleted {
                    println!("Deleted: {d}");
                }
            }
            Err(berth_image::Error::NoSuchImage(_)) => {
                let shown = Reference::parse(name)
                    .ok()
                    .filter(|_| !name.contains(':') && !name.contains('@'))
                    .map_or_else(|| name.clone(), |r| r.to_string());
                eprintln!("Error response from daemon: No such image: {shown}");
                code = 1;
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    if !a.images.is_empty() {
        images.gc()?;
    }
    Ok(code)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> Result<i32> {
    if !a.force {
        if a.all {
            eprint!(
                "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] "
            );
        } else {
            eprint!(
                "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
            );
        }
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let images = open(g)?;
    let filters = parse_filters(&images, &a.filter)?;
    let mut lines = Vec::new();
    for img in images.list()? {
        if !a.all && !img.tags.is_empty() {
            continue;
        }
        let s = engine::summary(&images, &img);
        if !filters
            .labels
            .iter()
            .all(|(k, v)| match &s["Labels"][k.as_str()] {
                Value::String(x) => v.as_ref().is_none_or(|v| v == x),
                _ => false,
            })
        {
            continue;
        }
        let r = images.remove(&img.id, true, &|_| None)?;
        lines.extend(r.untagged.into_iter().map(|u| format!("untagged: {u}")));
        lines.extend(r.deleted.into_iter().map(|d| format!("deleted: {d}")));
    }
    let freed = images.gc()?;
    if !lines.is_empty() {
        println!("Deleted Images:");
        for l in lines {
            println!("{l}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(freed as f64));
    Ok(0)
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    image: String,
}

pub fn history(g: &Global, a: HistoryArgs) -> Result<i32> {
    let images = open(g)?;
    let img = images.resolve(&a.image)?;
    let items = engine::history(&images, &img);
    if a.quiet {
        for h in &items {
            let id = h["Id"].as_str().unwrap_or_default();
            println!(
                "{}",
                if a.no_trunc || id == "<missing>" {
                    id.to_owned()
                } else {
                    id.trim_start_matches("sha256:").chars().take(12).collect()
                }
            );
        }
        return Ok(0);
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or_default();
            let created = h["Created"].as_i64().unwrap_or(0);
            let by = h["CreatedBy"].as_str().unwrap_or_default().replace('\t', " ");
            let by = if a.no_trunc || by.chars().count() <= 45 {
                by
            } else {
                format!("{}…", by.chars().take(44).collect::<String>())
            };
            let size = h["Size"].as_u64().unwrap_or(0);
            json!({
                "ID": if a.no_trunc || id == "<missing>" { id.to_owned() } else { id.trim_start_matches("sha256:").chars().take(12).collect() },
                "CreatedSince": if a.human { format!("{} ago", human_duration(now() - created)) } else { crate::units::rfc3339(created) },
                "CreatedAt": crate::units::rfc3339(created),
                "CreatedBy": by,
                "Size": if a.human { human_size(size as f64) } else { size.to_string() },
                "Comment": h["Comment"],
            })
        })
        .collect();
    print_formatted(
        a.format.as_deref(),
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
        &rows,
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_go_path_match() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("*:latest", "busybox:latest"));
        assert!(!glob("*", "a/b"));
        assert!(glob("a/*", "a/b"));
        assert!(glob("al?ine:3.1[0-9]", "alpine:3.10"));
        assert!(!glob("alpine", "alpine:3.10"));
    }
}
