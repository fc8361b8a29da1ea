//! Image commands, with docker's flags, output and errors, as calls of the Engine API.

use std::io::{IsTerminal, Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use berth_client::{Method, query};
use berth_image::reference::Reference;
use berth_image::registry::{self, Credentials, Progress};
use clap::Args;
use serde_json::{Value, json};

use crate::progress::CliProgress;
use crate::template::Template;
use crate::units::{go_time, human_duration, human_size, now, table};
use crate::{Global, connect};

fn reference(s: &str) -> Result<Reference> {
    Reference::parse(s).map_err(|e| anyhow!("{e}"))
}

/// `X-Registry-Auth` for `registry`, from Docker's config.json and credential helpers.
fn auth_header(registry_name: &str) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let v = match registry::credentials_for(registry_name) {
        Credentials::Basic(u, p) => {
            json!({"username": u, "password": p, "serveraddress": registry::auth_key(registry_name)})
        }
        Credentials::Token(t) => {
            json!({"identitytoken": t, "serveraddress": registry::auth_key(registry_name)})
        }
        Credentials::Anonymous => return Vec::new(),
    };
    vec![(
        "X-Registry-Auth",
        base64::engine::general_purpose::URL_SAFE.encode(v.to_string()),
    )]
}

/// Show one JSON progress message (pull/push) the way docker does.
fn show(p: &CliProgress, v: &Value) {
    let status = v["status"].as_str().unwrap_or_default();
    match v["id"].as_str() {
        Some(id) if !status.is_empty() => {
            let d = &v["progressDetail"];
            let bytes = match (d["current"].as_u64(), d["total"].as_u64()) {
                (Some(c), Some(t)) => Some((c, t)),
                _ => None,
            };
            p.update(id, status, bytes);
        }
        _ if !status.is_empty() => p.line(status),
        _ => {}
    }
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
    let (image, tag) = match (&r.digest, &r.tag) {
        (Some(d), _) => (
            format!(
                "{}",
                Reference {
                    tag: None,
                    digest: None,
                    ..r.clone()
                }
            ),
            d.to_string(),
        ),
        (None, t) => (
            format!(
                "{}",
                Reference {
                    tag: None,
                    digest: None,
                    ..r.clone()
                }
            ),
            t.clone().unwrap_or_else(|| "latest".into()),
        ),
    };
    let mut q = vec![("fromImage", image.as_str()), ("tag", tag.as_str())];
    if let Some(pl) = &a.platform {
        q.push(("platform", pl.as_str()));
    }
    let (rt, c) = connect(g)?;
    rt.block_on(c.stream(
        Method::POST,
        &format!("/images/create{}", query(&q)),
        &auth_header(&r.registry),
        berth_client::empty(),
        |v| show(&p, v),
    ))?;
    p.finish();
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
    let p = CliProgress::new(a.quiet);
    let name = Reference {
        tag: None,
        digest: None,
        ..r.clone()
    }
    .to_string();
    let tag = r.tag.clone().unwrap_or_default();
    let (rt, c) = connect(g)?;
    let mut digest = String::new();
    rt.block_on(c.stream(
        Method::POST,
        &format!("/images/{name}/push{}", query(&[("tag", &tag)])),
        &auth_header(&r.registry),
        berth_client::empty(),
        |v| {
            if let Some(d) = v["aux"]["Digest"].as_str() {
                digest = d.to_owned();
            }
            show(&p, v);
        },
    ))?;
    p.finish();
    if a.quiet {
        println!(
            "{}@{digest}",
            full_name(&Reference {
                digest: None,
                ..r.clone()
            })
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
    let (rt, c) = connect(g)?;
    rt.block_on(c.json(
        Method::POST,
        "/auth",
        Some(&json!({"username": user, "password": password, "serveraddress": host})),
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
    let body = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| anyhow!("open {}: {e}", p.display()))?;
            berth_client::reader_body(f)
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            berth_client::reader_body(std::io::stdin())
        }
    };
    let (rt, c) = connect(g)?;
    let q = if a.quiet { "?quiet=1" } else { "?quiet=0" };
    rt.block_on(c.stream(
        Method::POST,
        &format!("/images/load{q}"),
        &[("Content-Type", "application/x-tar".to_owned())],
        body,
        |v| {
            if let Some(s) = v["stream"].as_str() {
                print!("{s}");
            }
        },
    ))?;
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
        "docker-archive" | "docker" => "docker-archive",
        "oci-archive" | "oci" => "oci-archive",
        f => bail!("invalid --format {f:?}: use docker-archive or oci-archive"),
    };
    let mut q: Vec<(&str, &str)> = a.images.iter().map(|n| ("names", n.as_str())).collect();
    if format != "docker-archive" {
        q.push(("format", format));
    }
    let path = format!("/images/get{}", query(&q));
    let (rt, c) = connect(g)?;
    match &a.output {
        Some(out) => {
            // Written beside the target and renamed: no half-written archive on failure.
            let tmp = out.with_file_name(format!(
                ".{}.berth-{}",
                out.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                std::process::id()
            ));
            let res = (|| -> Result<()> {
                let f = std::fs::File::create(&tmp)
                    .map_err(|e| anyhow!("open {}: {e}", out.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                rt.block_on(c.download(&path, &mut w))?;
                let f = w
                    .into_inner()
                    .map_err(|e| anyhow!("write {}: {e}", out.display()))?;
                f.sync_all()?;
                std::fs::rename(&tmp, out).map_err(|e| anyhow!("write {}: {e}", out.display()))?;
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
            let mut out = std::io::stdout();
            rt.block_on(c.download(&path, &mut out))?;
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
    let (repo, tag) = match a.repository.as_deref() {
        Some(r) => {
            let parsed = reference(r)?;
            (
                Reference {
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
    let body = if a.file == "-" {
        berth_client::reader_body(std::io::stdin())
    } else if a.file.starts_with("http://") || a.file.starts_with("https://") {
        bail!("import from a URL is not supported yet: download it and import the file");
    } else {
        berth_client::reader_body(
            std::fs::File::open(&a.file).map_err(|e| anyhow!("open {}: {e}", a.file))?,
        )
    };
    let message = if a.message.is_empty() {
        String::new()
    } else {
        a.message.clone()
    };
    let mut q: Vec<(&str, &str)> = vec![
        ("fromSrc", "-"),
        ("repo", &repo),
        ("tag", &tag),
        ("message", &message),
    ];
    for ch in &a.change {
        q.push(("changes", ch));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p));
    }
    let (rt, c) = connect(g)?;
    rt.block_on(c.stream(
        Method::POST,
        &format!("/images/create{}", query(&q)),
        &[("Content-Type", "application/x-tar".to_owned())],
        body,
        |v| {
            if let Some(s) = v["status"].as_str() {
                println!("{s}");
            }
        },
    ))?;
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

/// Render `rows` (JSON objects) with a Docker `--format` (or the default table with `cols`).
/// Labels as docker's list columns show them: `k=v,k2=v2`.
pub(crate) fn labels_text(labels: &Value) -> String {
    labels
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A listing: the `ID` column alone with `-q`, else `print_formatted`.
pub(crate) fn print_list(
    quiet: bool,
    format: Option<&str>,
    default_cols: &[(&str, &str)],
    headers: &[(&str, &str)],
    rows: &[Value],
) -> Result<()> {
    if quiet {
        for r in rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    print_formatted(format, default_cols, headers, rows)
}

pub(crate) fn print_formatted(
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

/// Docker's `filters` JSON from `-f key=value` flags.
fn filters_json(f: &[String]) -> Result<String> {
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for item in f {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    Ok(serde_json::to_string(&m)?)
}

pub fn ls(g: &Global, a: LsArgs) -> Result<i32> {
    let _ = a.all;
    let mut f = a.filter.clone();
    if let Some(r) = &a.reference {
        f.push(format!("reference={r}"));
    }
    let (rt, c) = connect(g)?;
    let list = rt.block_on(c.get(&format!(
        "/images/json{}",
        query(&[("filters", &filters_json(&f)?)])
    )))?;
    let mut rows = Vec::new();
    for s in list.as_array().into_iter().flatten() {
        let created = s["Created"].as_i64().unwrap_or(0);
        let id = s["Id"].as_str().unwrap_or_default();
        let tags: Vec<String> = s["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .filter(|t| t != "<none>:<none>")
            .collect();
        let digests: Vec<String> = s["RepoDigests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .filter(|t| t != "<none>@<none>")
            .collect();
        // (repository, tag, digest) rows, as docker lists them.
        let mut names: Vec<(String, String, String)> = Vec::new();
        let digest_for = |repo: &str| {
            digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo))
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>")
                .to_owned()
        };
        for t in &tags {
            let (repo, tag) = match t.rsplit_once(':') {
                Some((r, tg)) if !tg.contains('/') => (r.to_owned(), tg.to_owned()),
                _ => (t.clone(), "<none>".into()),
            };
            let d = digest_for(&repo);
            names.push((repo, tag, d));
        }
        let filtered_by_ref = f.iter().any(|x| x.starts_with("reference="));
        if !filtered_by_ref {
            for rd in &digests {
                if let Some((repo, d)) = rd.split_once('@') {
                    if !names.iter().any(|(r, _, _)| r == repo) {
                        names.push((repo.to_owned(), "<none>".into(), d.to_owned()));
                    }
                }
            }
        }
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        let shown_id = if a.no_trunc {
            id.to_owned()
        } else {
            id.trim_start_matches("sha256:").chars().take(12).collect()
        };
        let size = human_size(s["Size"].as_f64().unwrap_or(0.0));
        for (repo, tag, digest) in names {
            rows.push(json!({
                "Containers": "N/A",
                "CreatedAt": go_time(created),
                "CreatedSince": format!("{} ago", human_duration(now() - created)),
                "Digest": digest,
                "ID": shown_id,
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
    pub(crate) kind: Option<String>,
    /// Display total file sizes (containers only)
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

/// What an `inspect` found: docker's indented JSON array, or each object through `--format`
/// (`json` meaning `{{json .}}`).
pub(crate) fn print_inspected(found: Vec<Value>, format: Option<&str>) -> Result<()> {
    match format {
        None => println!("{}", pretty(&Value::from(found))?),
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
    Ok(())
}

/// JSON as docker prints it: 4-space indentation.
pub(crate) fn pretty(v: &Value) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser)?;
    Ok(String::from_utf8(buf)?)
}

pub fn inspect(g: &Global, a: InspectArgs) -> Result<i32> {
    if let Some(k) = a
        .kind
        .as_deref()
        .filter(|k| *k != "image" && *k != "container")
    {
        bail!("\"{k}\" is not a valid value for --type");
    }
    let _ = a.size;
    let (rt, c) = connect(g)?;
    let mut found = Vec::new();
    let mut code = 0;
    let mut missing = Vec::new();
    let containers_too = a.kind.is_none() || a.kind.as_deref() == Some("container");
    let images_too = a.kind.as_deref() != Some("container");
    for n in &a.names {
        if containers_too {
            if let Some(v) = crate::containers::inspect_container(&rt, &c, n) {
                found.push(v);
                continue;
            }
        }
        if !images_too {
            missing.push(format!("Error: No such container: {n}"));
            code = 1;
            continue;
        }
        match rt.block_on(c.get(&format!("/images/{n}/json"))) {
            Ok(v) => found.push(v),
            Err(berth_client::Error::Api { status: 404, .. }) => {
                missing.push(if a.kind.is_none() {
                    format!("Error: No such object: {n}")
                } else {
                    format!("Error: No such image: {n}")
                });
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_inspected(found, a.format.as_deref())?;
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
    let repo = Reference {
        tag: None,
        digest: None,
        ..target.clone()
    }
    .to_string();
    let (rt, c) = connect(g)?;
    rt.block_on(c.json(
        Method::POST,
        &format!(
            "/images/{}/tag{}",
            a.source,
            query(&[
                ("repo", &repo),
                ("tag", target.tag.as_deref().unwrap_or("latest"))
            ])
        ),
        None,
    ))?;
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
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for name in &a.images {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if a.force {
            q.push(("force", "1"));
        }
        if a.no_prune {
            q.push(("noprune", "1"));
        }
        match rt.block_on(c.json(
            Method::DELETE,
            &format!("/images/{name}{}", query(&q)),
            None,
        )) {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{}", crate::describe(&anyhow::Error::from(e)));
                code = 1;
            }
        }
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
    let mut f = a.filter.clone();
    if a.all {
        f.push("dangling=false".into());
    }
    let (rt, c) = connect(g)?;
    let v = rt.block_on(c.json(
        Method::POST,
        &format!("/images/prune{}", query(&[("filters", &filters_json(&f)?)])),
        None,
    ))?;
    let deleted = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for item in &deleted {
            if let Some(u) = item["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = item["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_f64().unwrap_or(0.0))
    );
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
    let (rt, c) = connect(g)?;
    let items = rt.block_on(c.get(&format!("/images/{}/history", a.image)))?;
    let items = items.as_array().cloned().unwrap_or_default();
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

/// Pull for `run`/`create`: docker prints the progress on stderr.
pub(crate) fn pull_quietly_to_stderr(g: &Global, name: &str) -> Result<()> {
    let r = reference(name)?;
    let image = Reference {
        tag: None,
        digest: None,
        ..r.clone()
    }
    .to_string();
    let tag = match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.clone().unwrap_or_else(|| "latest".into()),
    };
    let (rt, c) = connect(g)?;
    rt.block_on(c.stream(
        Method::POST,
        &format!(
            "/images/create{}",
            query(&[("fromImage", &image), ("tag", &tag)])
        ),
        &auth_header(&r.registry),
        berth_client::empty(),
        |v| {
            let status = v["status"].as_str().unwrap_or_default();
            match v["id"].as_str() {
                Some(id) if v["progressDetail"]["current"].is_null() => eprintln!("{id}: {status}"),
                None if !status.is_empty() => eprintln!("{status}"),
                _ => {}
            }
        },
    ))?;
    Ok(())
}
