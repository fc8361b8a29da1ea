//! Image archives: `load`, `save`, `import`.

use std::io::IsTerminal;

use anyhow::{Result, anyhow, bail};
use berth_client::{Method, query};
use clap::Args;

use crate::registry::{reference, repository};
use crate::{Global, connect};

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
        |m| print!("{}", m.stream),
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
            (repository(&parsed), parsed.tag.unwrap_or_default())
        }
        None => (String::new(), String::new()),
    };
    let body = if a.file == "-" {
        berth_client::reader_body(std::io::stdin())
    } else if a.file.starts_with("http://") || a.file.starts_with("https://") {
        bail!("import from a URL is not supported yet: download it and import the file");
    } else {
        berth_client::reader_body({
            if std::path::Path::new(&a.file).is_dir() {
                bail!("open {}: is a directory, not a tarball", a.file);
            }
            std::fs::File::open(&a.file).map_err(|e| anyhow!("open {}: {e}", a.file))?
        })
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
        |m| {
            if !m.status.is_empty() {
                println!("{}", m.status);
            }
        },
    ))?;
    Ok(0)
}
