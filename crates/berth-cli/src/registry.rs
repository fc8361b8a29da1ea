//! Registry commands: `pull`, `push`, `login`, `logout` (Docker's config.json and credential
//! helpers), and the quiet pull of `run`/`create`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use berth_client::{Method, query};
use berth_image::reference::Reference;
use berth_image::registry::{self, Credentials, Progress};
use berth_models::message::{Message, PushResult};
use berth_models::system::{AuthConfig, AuthResponse};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::progress::CliProgress;
use crate::{Global, connect};

pub fn reference(s: &str) -> Result<Reference> {
    Reference::parse(s).map_err(|e| anyhow!("{e}"))
}

/// A reference without its tag and digest (`docker.io/library/busybox`).
pub fn repository(r: &Reference) -> String {
    Reference {
        tag: None,
        digest: None,
        ..r.clone()
    }
    .to_string()
}

/// `X-Registry-Auth` for `registry`, from Docker's config.json and credential helpers.
fn auth_header(registry_name: &str) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let server = registry::auth_key(registry_name);
    let a = match registry::credentials_for(registry_name) {
        Credentials::Basic(u, p) => AuthConfig {
            username: u,
            password: p,
            serveraddress: server,
            ..Default::default()
        },
        Credentials::Token(t) => AuthConfig {
            identitytoken: t,
            serveraddress: server,
            ..Default::default()
        },
        Credentials::Anonymous => return Vec::new(),
    };
    vec![(
        "X-Registry-Auth",
        base64::engine::general_purpose::URL_SAFE
            .encode(serde_json::to_vec(&a).unwrap_or_default()),
    )]
}

/// Show one progress message (pull/push) the way docker does.
fn show(p: &CliProgress, m: &Message) {
    if m.status.is_empty() {
        return;
    }
    if m.id.is_empty() {
        p.line(&m.status);
        return;
    }
    let bytes = m
        .progress_detail
        .as_ref()
        .filter(|d| d.total > 0 || d.current > 0)
        .map(|d| (d.current.max(0) as u64, d.total.max(0) as u64));
    p.update(&m.id, &m.status, bytes);
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
        |m| show(&p, m),
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
        |m| {
            if let Some(r) = m
                .aux
                .clone()
                .and_then(|a| serde_json::from_value::<PushResult>(a).ok())
            {
                digest = r.digest;
            }
            show(&p, m);
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

/// Docker's client config (`~/.docker/config.json`): credentials, helpers, and whatever else
/// the user keeps there (kept as it is).
#[derive(Debug, Default, Serialize, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(
        default,
        rename = "credHelpers",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    cred_helpers: BTreeMap<String, String>,
    #[serde(
        default,
        rename = "credsStore",
        skip_serializing_if = "Option::is_none"
    )]
    creds_store: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// What a credential helper's `store` reads.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct HelperCredentials {
    #[serde(rename = "ServerURL")]
    server_url: String,
    username: String,
    secret: String,
}

impl DockerConfig {
    fn helper_for(&self, key: &str) -> Option<String> {
        self.cred_helpers
            .get(key)
            .or(self.creds_store.as_ref())
            .cloned()
    }
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

fn read_config() -> Result<(std::path::PathBuf, DockerConfig)> {
    let path = registry::config_path().ok_or_else(|| anyhow!("no HOME and no DOCKER_CONFIG"))?;
    let cfg = match std::fs::read(&path) {
        Ok(d) => serde_json::from_slice(&d).with_context(|| format!("{}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerConfig::default(),
        Err(e) => return Err(anyhow!("read {}: {e}", path.display())),
    };
    Ok((path, cfg))
}

fn write_config(path: &std::path::Path, v: &DockerConfig) -> Result<()> {
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
    let auth = AuthConfig {
        username: user.clone(),
        password: password.clone(),
        serveraddress: host,
        ..Default::default()
    };
    let _: AuthResponse = rt.block_on(c.post("/auth", &auth))?;
    let (path, mut cfg) = read_config()?;
    match cfg.helper_for(&key) {
        Some(h) => cred_helper(
            &h,
            "store",
            &serde_json::to_string(&HelperCredentials {
                server_url: key,
                username: user,
                secret: password,
            })?,
        )?,
        None => {
            use base64::Engine as _;
            cfg.auths.insert(
                key,
                AuthEntry {
                    auth: base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}")),
                    ..Default::default()
                },
            );
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
    let helper = cfg.helper_for(&key);
    if !cfg.auths.contains_key(&key) && helper.is_none() {
        println!("Not logged in to {key}");
        return Ok(0);
    }
    println!("Removing login credentials for {key}");
    if let Some(h) = helper {
        let _ = cred_helper(&h, "erase", &key);
    }
    cfg.auths.remove(&key);
    write_config(&path, &cfg)?;
    Ok(0)
}

/// Pull for `run`/`create`: docker prints the progress on stderr.
pub fn pull_quietly_to_stderr(g: &Global, name: &str) -> Result<()> {
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
        |m| {
            let moving = m.progress_detail.as_ref().is_some_and(|d| d.current != 0);
            match (m.id.is_empty(), m.status.is_empty()) {
                (false, _) if !moving => eprintln!("{}: {}", m.id, m.status),
                (true, false) => eprintln!("{}", m.status),
                _ => {}
            }
        },
    ))?;
    Ok(())
}
