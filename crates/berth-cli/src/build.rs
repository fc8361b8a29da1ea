//! `berth build` (docker build's flags, the classic builder's API) and `berth builder prune`.
//! The context goes as a tar streamed from the directory with `.dockerignore` applied (the
//! daemon applies it again), or stdin's tar, or a Dockerfile alone from stdin.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use berth_client::{Method, enc};
use berth_dockerfile::ignore::Patterns;
use berth_models::build::{BuildPruneResponse, SECRETS_HEADER};
use berth_models::message::Message;
use clap::{Args, Subcommand};

use crate::output::confirm;
use crate::run::flags::{ram_in_bytes, ulimits};
use crate::units::human_size;
use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"); "-" reads it from STDIN
    #[arg(short, long = "file")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    label: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Set type of progress output (auto, plain, tty, quiet)
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=x,env=VAR")
    #[arg(long)]
    secret: Vec<String>,
    /// SSH agent socket or keys to expose to the build
    #[arg(long)]
    ssh: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    network: String,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Ulimit options
    #[arg(long)]
    ulimit: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Remove intermediate containers after a successful build (always done)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    force_rm: bool,
    /// Build context: a directory, or "-" for a tar (or a Dockerfile) on STDIN
    context: String,
}

#[derive(Debug, Subcommand)]
pub enum BuilderCmd {
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones (also cache mounts)
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long)]
    filter: Vec<String>,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage")]
    keep_storage: Option<String>,
}

/// A tar of `dir` (entries the patterns exclude left out; the Dockerfile and
/// `.dockerignore` always in), plus extra files, written to `out`.
fn write_context(
    dir: &Path,
    pats: &Patterns,
    extra: &[(String, Vec<u8>)],
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))
            .map_err(|e| anyhow!("read {}: {e}", dir.join(&rel).display()))?
            .flatten()
            .collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let r = rel.join(e.file_name());
            let s = r.to_string_lossy();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let keep_anyway = s == ".dockerignore" || s == "Dockerfile";
            if pats.excludes(&s) && !keep_anyway {
                if is_dir && pats.may_reinclude_below(&s) {
                    stack.push(r);
                }
                continue;
            }
            b.append_path_with_name(e.path(), &r)
                .map_err(|err| anyhow!("add {} to the context: {err}", r.display()))?;
            if is_dir {
                stack.push(r);
            }
        }
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice())?;
    }
    b.finish()?;
    Ok(())
}

fn is_tar_or_compressed(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 262 && &head[257..262] == b"ustar")
}

/// `--secret` values → the header's JSON (ids to base64 contents).
fn secrets(specs: &[String]) -> Result<Option<String>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut map = BTreeMap::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    for s in specs {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("id", v)) => id = Some(v.to_owned()),
                Some(("src" | "source", v)) => src = Some(v.to_owned()),
                Some(("env", v)) => env = Some(v.to_owned()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid secret {s:?}: expected id=ID,src=FILE or id=ID,env=VAR"),
            }
        }
        let id = id
            .or_else(|| {
                src.as_deref()
                    .and_then(|p| Path::new(p).file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .ok_or_else(|| anyhow!("invalid secret {s:?}: no id"))?;
        let data = match (src, env) {
            (Some(p), _) => std::fs::read(&p)
                .map_err(|e| anyhow!("failed to read secret {id} from {p}: {e}"))?,
            (None, Some(v)) => std::env::var(&v)
                .map_err(|_| anyhow!("secret {id}: environment variable {v} is not set"))?
                .into_bytes(),
            (None, None) => std::env::var(&id)
                .map_err(|_| anyhow!("secret {id}: no src= and no environment variable {id}"))?
                .into_bytes(),
        };
        map.insert(id, b64.encode(data));
    }
    Ok(Some(b64.encode(serde_json::to_vec(&map)?)))
}

pub fn build(g: &Global, a: BuildArgs) -> Result<i32> {
    if !a.ssh.is_empty() {
        bail!("--ssh is not supported yet: this daemon has no way to reach a client's SSH agent");
    }
    let mut q: Vec<(String, String)> = Vec::new();
    for t in &a.tag {
        berth_image::reference::Reference::parse(t)
            .map_err(|e| anyhow!("invalid argument \"{t}\" for \"-t, --tag\" flag: {e}"))?;
        q.push(("t".into(), t.clone()));
    }
    let mut args = BTreeMap::new();
    for ba in &a.build_arg {
        match ba.split_once('=') {
            Some((k, v)) => args.insert(k.to_owned(), Some(v.to_owned())),
            // docker: KEY alone takes the value from the client's environment, if set.
            None => args.insert(ba.clone(), std::env::var(ba).ok()),
        };
    }
    q.push(("buildargs".into(), serde_json::to_string(&args)?));
    let labels: BTreeMap<String, String> = a
        .label
        .iter()
        .map(|l| {
            l.split_once('=')
                .map_or((l.clone(), String::new()), |(k, v)| {
                    (k.to_owned(), v.to_owned())
                })
        })
        .collect();
    q.push(("labels".into(), serde_json::to_string(&labels)?));
    if let Some(t) = &a.target {
        q.push(("target".into(), t.clone()));
    }
    let quiet = a.quiet || a.progress == "quiet";
    for (k, on) in [
        ("nocache", a.no_cache),
        ("pull", a.pull),
        ("q", quiet),
        ("forcerm", a.force_rm),
    ] {
        if on {
            q.push((k.into(), "1".into()));
        }
    }
    q.push(("rm".into(), if a.rm { "1" } else { "0" }.into()));
    if let Some(p) = &a.platform {
        q.push(("platform".into(), p.clone()));
    }
    q.push(("networkmode".into(), a.network.clone()));
    if !a.add_host.is_empty() {
        q.push(("extrahosts".into(), a.add_host.join(",")));
    }
    if let Some(s) = &a.shm_size {
        q.push(("shmsize".into(), ram_in_bytes("--shm-size", s)?.to_string()));
    }
    if !a.ulimit.is_empty() {
        q.push((
            "ulimits".into(),
            serde_json::to_string(&ulimits(&a.ulimit)?)?,
        ));
    }
    if !a.cache_from.is_empty() {
        q.push(("cachefrom".into(), serde_json::to_string(&a.cache_from)?));
    }
    let mut headers = vec![("Content-Type", "application/x-tar".to_owned())];
    if let Some(s) = secrets(&a.secret)? {
        headers.push((SECRETS_HEADER, s));
    }
    // The context.
    let (reader, writer) = std::io::pipe()?;
    let mut dockerfile_name = String::new();
    if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let mut head = vec![0u8; 512];
        let mut stdin = std::io::stdin();
        let n = read_full(&mut stdin, &mut head)?;
        head.truncate(n);
        if is_tar_or_compressed(&head) {
            let mut w = writer;
            std::thread::spawn(move || {
                let _ = w.write_all(&head);
                let _ = std::io::copy(&mut std::io::stdin(), &mut w);
            });
        } else {
            let mut text = head;
            stdin.read_to_end(&mut text)?;
            std::thread::spawn(move || {
                let mut w = writer;
                let mut b = tar::Builder::new(&mut w);
                let mut h = tar::Header::new_gnu();
                h.set_size(text.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                let _ = b.append_data(&mut h, "Dockerfile", text.as_slice());
                let _ = b.finish();
            });
        }
        if let Some(f) = &a.file {
            dockerfile_name = f.clone();
        }
    } else {
        let dir = PathBuf::from(&a.context);
        if !dir.is_dir() {
            bail!("unable to prepare context: path {:?} not found", a.context);
        }
        let mut extra = Vec::new();
        match a.file.as_deref() {
            Some("-") => {
                let mut text = Vec::new();
                std::io::stdin().read_to_end(&mut text)?;
                dockerfile_name = format!(".dockerfile.{}", random_suffix());
                extra.push((dockerfile_name.clone(), text));
            }
            Some(f) => {
                let p = Path::new(f);
                match p
                    .strip_prefix(&dir)
                    .ok()
                    .or_else(|| (!p.is_absolute()).then_some(p))
                {
                    Some(rel) if dir.join(rel).is_file() => {
                        dockerfile_name = rel.to_string_lossy().into_owned()
                    }
                    _ if p.is_file() => {
                        // A Dockerfile outside the context travels inside it, as docker's does.
                        dockerfile_name = format!(".dockerfile.{}", random_suffix());
                        extra.push((dockerfile_name.clone(), std::fs::read(p)?));
                    }
                    _ => bail!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {f}: no such file or directory"
                    ),
                }
            }
            None => {
                if !dir.join("Dockerfile").is_file() {
                    bail!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                        dir.join("Dockerfile").display()
                    );
                }
            }
        }
        let ignore_name = format!(
            "{}.dockerignore",
            if dockerfile_name.is_empty() {
                "Dockerfile"
            } else {
                &dockerfile_name
            }
        );
        let text = std::fs::read_to_string(dir.join(&ignore_name))
            .or_else(|_| std::fs::read_to_string(dir.join(".dockerignore")))
            .unwrap_or_default();
        let pats = Patterns::parse(&text);
        std::thread::spawn(move || {
            let w = std::io::BufWriter::with_capacity(1 << 20, writer);
            if let Err(e) = write_context(&dir, &pats, &extra, w) {
                eprintln!("error sending the build context: {e}");
            }
        });
    }
    if !dockerfile_name.is_empty() {
        q.push(("dockerfile".into(), dockerfile_name));
    }
    let query: String = q
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let (rt, c) = connect(g)?;
    let mut id = String::new();
    let mut failure: Option<(i64, String)> = None;
    let tty = !quiet
        && (a.progress == "tty" || (a.progress == "auto" && std::io::stdout().is_terminal()));
    let mut view = crate::progress::BuildView::new(tty);
    let r = rt.block_on(c.lines(
        Method::POST,
        &format!("/build?{query}"),
        &headers,
        berth_client::reader_body(reader),
        |m: Message| {
            if let Some(d) = m.error_detail.as_ref().filter(|d| !d.message.is_empty()) {
                failure = Some((d.code, d.message.clone()));
                return Ok(());
            }
            if !m.error.is_empty() {
                failure = Some((0, m.error.clone()));
                return Ok(());
            }
            if let Some(i) = m
                .aux
                .as_ref()
                .and_then(|a| a.get("ID"))
                .and_then(|v| v.as_str())
            {
                id = i.to_owned();
            }
            if !m.stream.is_empty() && !quiet {
                view.text(&m.stream);
            }
            Ok(())
        },
    ));
    view.finish();
    r?;
    if let Some((code, msg)) = failure {
        eprintln!("ERROR: {msg}");
        return Ok(if code > 0 && code < 256 {
            code as i32
        } else {
            1
        });
    }
    if quiet {
        println!("{id}");
    }
    if let Some(p) = &a.iidfile {
        std::fs::write(p, &id).map_err(|e| anyhow!("write {}: {e}", p.display()))?;
    }
    Ok(0)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

fn random_suffix() -> String {
    let mut b = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn builder(g: &Global, c: BuilderCmd) -> Result<i32> {
    let BuilderCmd::Prune(a) = c;
    if !a.force && !confirm("WARNING! This will remove all dangling build cache.")? {
        return Ok(0);
    }
    let mut q = Vec::new();
    if a.all {
        q.push("all=1".to_owned());
    }
    if let Some(k) = &a.keep_storage {
        q.push(format!(
            "keep-storage={}",
            ram_in_bytes("--keep-storage", k)?
        ));
    }
    let mut f: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for x in &a.filter {
        let (k, v) = x
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {x}"))?;
        f.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    if !f.is_empty() {
        q.push(format!("filters={}", enc(&serde_json::to_string(&f)?)));
    }
    let (rt, c) = connect(g)?;
    let path = format!(
        "/build/prune{}{}",
        if q.is_empty() { "" } else { "?" },
        q.join("&")
    );
    let v: BuildPruneResponse = rt.block_on(c.send_empty(Method::POST, &path))?;
    let deleted = v.caches_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted build cache objects:");
        for d in &deleted {
            println!("{}", &d[..25.min(d.len())]);
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(v.space_reclaimed as f64)
    );
    Ok(0)
}
