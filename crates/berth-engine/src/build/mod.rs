//! Builds from Dockerfiles (`POST /build`): the context received and filtered
//! ([`context`]), the Dockerfile parsed by `berth-dockerfile`, the stages the target needs
//! built — independent ones in parallel — step by step ([`solve`]): `RUN` in a container with
//! the daemon's hardened defaults ([`run`]), `COPY`/`ADD` into an overlay of the stage's root
//! ([`copy`]), each layer the diff of the step's upper directory; every step's result keyed in
//! the [`cache`]. Progress goes to a [`Sink`] as the classic builder's lines.

pub mod cache;
pub mod context;
mod copy;
mod run;
mod solve;

pub(crate) use solve::digests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use berth_models::container::Ulimit;

use crate::{Engine, Error, Result};

/// What a build is asked to do (the query of `POST /build`, typed).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// The Dockerfile's name in messages, when it is not its path in the context (a
    /// Dockerfile from outside the context, added under a name of its own).
    pub dockerfile_name: String,
    /// `--build-arg`s; `None`: take the value from the daemon's environment (never done: the
    /// daemon's environment is not the client's), i.e. leave the ARG's default.
    pub build_args: BTreeMap<String, Option<String>>,
    pub target: String,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    pub quiet: bool,
    /// Images whose build history seeds the cache (`--cache-from`).
    pub cache_from: Vec<String>,
    pub network_mode: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: i64,
    pub ulimits: Vec<Ulimit>,
    pub platform: String,
    /// Secrets by id (`--secret id=…`), mounted only for the steps that ask.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// Content trust on the client: base images need a verified signature.
    pub content_trust: bool,
}

impl BuildOptions {
    /// The Dockerfile's name in messages.
    pub fn file_name(&self) -> &str {
        [&self.dockerfile_name, &self.dockerfile]
            .into_iter()
            .find(|n| !n.is_empty())
            .map_or("Dockerfile", String::as_str)
    }
}

/// Where a build's progress goes.
pub trait Sink: Send + Sync {
    /// A line (or part of one) of progress or of a step's output.
    fn stream(&self, text: &str);
    /// The built image's id.
    fn aux_id(&self, id: &str);
}

/// What the whole build shares.
pub(crate) struct Build<'a> {
    pub engine: &'a Engine,
    pub opts: &'a BuildOptions,
    pub sink: &'a dyn Sink,
    pub handle: tokio::runtime::Handle,
    pub ctx: context::Context,
    pub work: PathBuf,
    pub df: berth_dockerfile::stages::Dockerfile,
    pub cache: cache::Cache,
    /// `SOURCE_DATE_EPOCH`: the time of everything the build writes.
    pub epoch: Option<i64>,
    pub total: usize,
    pub step: std::sync::atomic::AtomicUsize,
    /// Build args some `ARG` of a built stage declared.
    pub declared: Mutex<BTreeSet<String>>,
    /// With `--cache-from`: the only images the cache may give.
    pub cache_sources: Option<std::collections::HashSet<String>>,
}

/// Args every build knows without an `ARG` (Docker's predefined ones).
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "SOURCE_DATE_EPOCH",
];

/// A temporary directory in memory (a tmpfs of its own): secrets never touch the disk.
pub(crate) struct MemDir(pub PathBuf);

impl MemDir {
    pub fn new(path: PathBuf) -> Result<MemDir> {
        Self::sized(path, 16 << 20, 0o700)
    }

    pub fn sized(path: PathBuf, size: u64, mode: u32) -> Result<MemDir> {
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        nix::mount::mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            Some(format!("size={size},mode={mode:o}").as_str()),
        )
        .map_err(|e| Error::io(format!("mount tmpfs on {}", path.display()), e.into()))?;
        Ok(MemDir(path))
    }
}

impl Drop for MemDir {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Builds running now. While any runs, image removals do not collect garbage: a step's blob
/// and layer exist for a moment before the image that names them is recorded.
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether a build is running (garbage collection waits for the next removal).
pub(crate) fn running() -> bool {
    RUNNING.load(std::sync::atomic::Ordering::SeqCst) > 0
}

struct Running;

impl Running {
    fn new() -> Running {
        RUNNING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The build's own directory; removed at the end whatever happens.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Engine {
    /// Build an image from a context tar; returns its id.
    pub fn build(
        &self,
        opts: &BuildOptions,
        context_tar: impl std::io::Read,
        sink: &dyn Sink,
        handle: tokio::runtime::Handle,
    ) -> Result<String> {
        let _running = Running::new();
        let root = self.config.data_root.join("build");
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        sweep_leftovers(&root);
        self.remove_orphan_build_containers();
        let work = WorkDir(root.join(format!(
            "{}-{}",
            std::process::id(),
            crate::util::random_hex(8)
        )));
        // The context lives in memory: creating its files on disk is most of a no-op
        // rebuild's time (and of an unchanged context's); a tmpfs takes only what it holds.
        let limit = context_limit();
        let ctx_mount = MemDir::sized(work.0.join("context"), limit, 0o755)?;
        let mut ctx = context::Context::receive(context_tar, &ctx_mount.0).map_err(|e| {
            if e.to_string().contains("os error 28") || e.to_string().contains("No space left") {
                Error::InvalidParameter(format!(
                    "the build context is larger than the daemon's in-memory limit for contexts ({} MiB): leave files out with .dockerignore",
                    limit >> 20
                ))
            } else {
                e
            }
        })?;
        let text = ctx.dockerfile(&opts.dockerfile)?;
        ctx.apply_ignore(&opts.dockerfile);
        let file = opts.file_name();
        let parsed =
            berth_dockerfile::parser::parse(&text).map_err(|e| parse_error(e.in_file(file)))?;
        for w in &parsed.warnings {
            sink.stream(&format!("[WARNING]: {}\n", w.message));
        }
        let df = berth_dockerfile::stages::Dockerfile::from_parsed(&parsed)
            .map_err(|e| parse_error(e.in_file(file)))?;
        let args = arg_env(opts);
        let target = df
            .target(Some(&opts.target))
            .map_err(Error::InvalidParameter)?;
        let needed = df.needed(target, &args);
        let total = needed.iter().map(|i| df.stages[*i].steps.len() + 1).sum();
        let epoch = match args.iter().find(|(k, _)| k == "SOURCE_DATE_EPOCH") {
            Some((_, v)) => Some(v.parse::<i64>().map_err(|_| {
                Error::InvalidParameter(format!(
                    "invalid SOURCE_DATE_EPOCH {v:?}: not a number of seconds"
                ))
            })?),
            None => None,
        };
        let mut b = Build {
            engine: self,
            opts,
            sink,
            handle,
            ctx,
            work: work.0.clone(),
            df,
            cache: cache::Cache::open(&self.images)?,
            epoch,
            total,
            step: std::sync::atomic::AtomicUsize::new(0),
            declared: Mutex::new(BTreeSet::new()),
            cache_sources: None,
        };
        if !opts.cache_from.is_empty() {
            b.cache_sources = Some(b.cache_sources());
        }
        let id = b.solve(target, &needed)?;
        let declared = b.declared.lock().map(|d| d.clone()).unwrap_or_default();
        let unused: Vec<&String> = opts
            .build_args
            .keys()
            .filter(|k| !declared.contains(*k) && !PREDEFINED.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            sink.stream(&format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                names.join(" ")
            ));
        }
        let short = id.trim_start_matches("sha256:");
        sink.aux_id(&id);
        b.say(&format!(
            "Successfully built {}\n",
            &short[..12.min(short.len())]
        ));
        for t in &opts.tags {
            let r = crate::images::reference(t)?;
            self.images.tag(&id, &r)?;
            self.events.emit(
                "image",
                "tag",
                &id,
                [("name".to_owned(), r.to_string())].into(),
            );
            b.say(&format!("Successfully tagged {r}\n"));
        }
        if opts.quiet {
            sink.stream(&format!("{id}\n"));
        }
        Ok(id)
    }

    /// `POST /build/prune`: cache entries (least recently used first) that are older than
    /// `until` go, and their images when nothing else names them, until no more than
    /// `keep_storage` bytes of cached images are left (0: no limit); with `all`, the cache
    /// mounts too. Returns what went (cache keys) and the bytes freed.
    pub fn build_prune(
        &self,
        keep_storage: u64,
        until: Option<&str>,
        all: bool,
    ) -> Result<(Vec<String>, u64)> {
        let cutoff = match until {
            None | Some("") => None,
            Some(u) => Some(until_cutoff(u)?),
        };
        let cache = cache::Cache::open(&self.images)?;
        let mut entries = cache.entries();
        entries.sort_by_key(|(_, e)| e.last_used);
        let images = self.images.list()?;
        let size_of = |id: &str| images.iter().find(|i| i.id == id).map_or(0, |i| i.size);
        let mut total: u64 = entries.iter().map(|(_, e)| size_of(&e.image)).sum();
        let mut deleted = Vec::new();
        let mut gone_images: BTreeSet<String> = BTreeSet::new();
        for (key, e) in &entries {
            if keep_storage > 0 && total <= keep_storage {
                break;
            }
            if cutoff.is_some_and(|c| e.created >= c) {
                continue;
            }
            cache.remove(key);
            total = total.saturating_sub(size_of(&e.image));
            deleted.push(key.clone());
            gone_images.insert(e.image.clone());
        }
        // Images still named by a remaining entry, a tag or a container stay.
        let kept: BTreeSet<String> = cache.entries().into_iter().map(|(_, e)| e.image).collect();
        let in_use = |id: &str| self.containers.user_of(id);
        for id in gone_images {
            let tagged = images.iter().any(|i| i.id == id && !i.tags.is_empty());
            if kept.contains(&id) || tagged || in_use(&id).is_some() {
                continue;
            }
            let _ = self.images.remove(&id, false, &in_use);
        }
        let mut freed = if running() { 0 } else { self.images.gc()? };
        if all {
            let mounts = self.config.data_root.join("build-cache-mounts");
            for e in std::fs::read_dir(&mounts).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    freed += berth_image::snapshot::du(&e.path());
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok((deleted, freed))
    }
}

impl Engine {
    /// Containers of build steps no build of this daemon runs (their daemon died mid-build,
    /// or their removal failed): removed with their volumes.
    fn remove_orphan_build_containers(&self) {
        run::with_active(|active| {
            for r in self.containers.records().unwrap_or_default() {
                let ours = r
                    .config
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(run::BUILD_LABEL));
                if ours && !active.contains(&r.id) {
                    let _ = self.containers.remove(&r.id, true, true);
                }
            }
        });
    }
}

/// The size a build context may take in memory: half the host's memory, at most 8 GiB.
fn context_limit() -> u64 {
    let total_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(2 << 20);
    (total_kb * 1024 / 2).min(8 << 30)
}

/// The build args with values, as variables.
fn arg_env(opts: &BuildOptions) -> Vec<(String, String)> {
    opts.build_args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect()
}

/// `Dockerfile:3: unknown instruction: FROB` (BuildKit names the file and line so).
fn parse_error(e: berth_dockerfile::Error) -> Error {
    Error::InvalidParameter(format!("dockerfile parse error: {e}"))
}

/// Build directories of builds that died with their daemon.
fn sweep_leftovers(root: &std::path::Path) {
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i64>().ok()) else {
            continue;
        };
        if pid != i64::from(std::process::id()) && !crate::util::pid_alive(pid) {
            let p = e.path();
            // Mounts of a dead build are detached first, then the tree goes.
            let _ = nix::mount::umount2(&p.join("context"), nix::mount::MntFlags::MNT_DETACH);
            for s in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                if s.file_name().to_string_lossy().starts_with("secrets-") {
                    let _ = nix::mount::umount2(&s.path(), nix::mount::MntFlags::MNT_DETACH);
                }
            }
            for m in ["root", "from"] {
                for sub in std::fs::read_dir(p.join(m)).into_iter().flatten().flatten() {
                    let _ = nix::mount::umount2(
                        &sub.path().join("merged"),
                        nix::mount::MntFlags::MNT_DETACH,
                    );
                }
            }
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// `until` of a prune: a Go duration before now, or a time (Unix seconds or RFC 3339).
fn until_cutoff(u: &str) -> Result<i64> {
    if let Some(ns) = crate::time::parse_go_duration(u) {
        return Ok(crate::time::now() - ns / 1_000_000_000);
    }
    u.split('.')
        .next()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| crate::time::parse_rfc3339(u))
        .ok_or_else(|| Error::InvalidParameter(format!("invalid filter 'until={u}'")))
}
