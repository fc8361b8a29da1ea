//! A container's filesystem: `diff`, `export`, `cp` (both ways, through tar archives) and
//! `commit`.

use anyhow::{Result, anyhow};
use berth_client::{Method, query};
use berth_models::IdResponse;
use berth_models::container::{Change, PathStat};
use clap::Args;

use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct DiffArgs {
    container: String,
}

pub fn diff(g: &Global, a: DiffArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let v: Option<Vec<Change>> =
        rt.block_on(c.get(&format!("/containers/{}/changes", a.container)))?;
    for ch in v.unwrap_or_default() {
        let k = match ch.kind {
            1 => "A",
            2 => "D",
            _ => "C",
        };
        println!("{k} {}", ch.path);
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    container: String,
}

pub fn export(g: &Global, a: ExportArgs) -> Result<i32> {
    use std::io::IsTerminal;
    let (rt, c) = connect(g)?;
    let path = format!("/containers/{}/export", a.container);
    match &a.output {
        Some(p) => {
            let mut f =
                std::fs::File::create(p).map_err(|e| anyhow!("open {}: {e}", p.display()))?;
            if let Err(e) = rt.block_on(c.download(&path, &mut f)) {
                let _ = std::fs::remove_file(p);
                return Err(e.into());
            }
        }
        None => {
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            rt.block_on(c.download(&path, &mut std::io::stdout()))?;
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH or a host path
    src: String,
    /// CONTAINER:DEST_PATH or a host path
    dest: String,
}

fn split_container(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
}

pub fn cp(g: &Global, a: CpArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match (split_container(&a.src), split_container(&a.dest)) {
        (Some((ctr, src)), None) => {
            // Container → host: the archive is unpacked into DEST (an existing directory) or
            // becomes DEST (a new name).
            let dest = std::path::Path::new(&a.dest);
            let into_dir = dest.is_dir();
            let parent = if into_dir {
                dest.to_owned()
            } else {
                dest.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .to_owned()
            };
            let tmp = parent.join(format!(".berth-cp-{}", std::process::id()));
            std::fs::create_dir_all(&tmp)?;
            let res = (|| -> Result<()> {
                let mut buf = Vec::new();
                rt.block_on(c.download(
                    &format!("/containers/{ctr}/archive{}", query(&[("path", src)])),
                    &mut buf,
                ))?;
                let mut ar = tar::Archive::new(buf.as_slice());
                ar.set_preserve_permissions(true);
                ar.unpack(&tmp)?;
                let top = std::fs::read_dir(&tmp)?
                    .flatten()
                    .next()
                    .ok_or_else(|| anyhow!("empty archive for {src}"))?;
                let final_path = if into_dir {
                    dest.join(top.file_name())
                } else {
                    dest.to_owned()
                };
                std::fs::rename(top.path(), &final_path)?;
                Ok(())
            })();
            let _ = std::fs::remove_dir_all(&tmp);
            res?;
        }
        (None, Some((ctr, dest))) => {
            // Host → container: into DEST if it is a directory there, else as DEST.
            let src = std::path::Path::new(&a.src);
            let meta =
                std::fs::symlink_metadata(src).map_err(|e| anyhow!("stat {}: {e}", a.src))?;
            let head = rt.block_on(c.call(
                Method::HEAD,
                &format!("/containers/{ctr}/archive{}", query(&[("path", dest)])),
                &[],
                berth_client::empty(),
            ));
            let dest_is_dir = head.as_ref().ok().and_then(|r| {
                use base64::Engine as _;
                let h = r
                    .headers()
                    .get("X-Docker-Container-Path-Stat")?
                    .to_str()
                    .ok()?;
                let st: PathStat = serde_json::from_slice(
                    &base64::engine::general_purpose::STANDARD.decode(h).ok()?,
                )
                .ok()?;
                Some(st.mode & (1 << 31) != 0)
            });
            let (dir, name) = match dest_is_dir {
                Some(true) => (
                    dest.to_owned(),
                    src.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ => {
                    let p = std::path::Path::new(dest);
                    (
                        p.parent()
                            .map(|x| x.display().to_string())
                            .filter(|x| !x.is_empty())
                            .unwrap_or_else(|| "/".into()),
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    )
                }
            };
            let mut b = tar::Builder::new(Vec::new());
            b.follow_symlinks(false);
            if meta.is_dir() {
                b.append_dir_all(&name, src)?;
            } else {
                b.append_path_with_name(src, &name)?;
            }
            let data = b.into_inner()?;
            rt.block_on(c.call(
                Method::PUT,
                &format!(
                    "/containers/{ctr}/archive{}",
                    query(&[("path", dir.as_str())])
                ),
                &[("Content-Type", "application/x-tar".to_owned())],
                berth_client::full(data),
            ))?;
        }
        _ => anyhow::bail!(
            "copying between containers (or within the host) is not supported; one of SRC and DEST must be CONTAINER:PATH"
        ),
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    container: String,
    repository: Option<String>,
}

pub fn commit(g: &Global, a: CommitArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let (repo, tag) = match &a.repository {
        Some(r) => {
            let parsed = berth_image::reference::Reference::parse(r).map_err(|e| anyhow!("{e}"))?;
            (
                berth_image::reference::Reference {
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
    let mut q: Vec<(&str, &str)> = vec![
        ("container", a.container.as_str()),
        ("repo", repo.as_str()),
        ("tag", tag.as_str()),
        ("comment", a.message.as_deref().unwrap_or_default()),
        ("author", a.author.as_deref().unwrap_or_default()),
    ];
    for ch in &a.change {
        q.push(("changes", ch));
    }
    let v: IdResponse =
        rt.block_on(c.send_empty(Method::POST, &format!("/commit{}", query(&q))))?;
    println!("{}", v.id);
    Ok(0)
}
