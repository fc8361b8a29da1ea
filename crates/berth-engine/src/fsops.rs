//! A container's filesystem from outside: `diff` (changes in its upper layer), `export` (the
//! whole root filesystem as a tar), `cp` (archives of paths inside it, both ways — paths
//! resolved inside the root filesystem, never on the host) and `commit` (its upper layer as a
//! new image layer, overlay whiteouts turned back into OCI ones).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_image::Digest;
use berth_image::images::Images;
use berth_models::container::{Change, PathStat};
use berth_models::image::{ConfigFile, ConfigHistory};

use crate::containers::Containers;
use crate::layer::{is_whiteout, walk};
use crate::{Error, Result};

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

impl Containers {
    fn lower_dirs(&self, images: &Images, id: &str) -> Result<Vec<PathBuf>> {
        let rec = self.record(id)?;
        Ok(rec
            .chains()
            .iter()
            .map(|c| images.layers().path(c))
            .collect())
    }

    /// `GET /containers/{id}/changes`: `[{"Path", "Kind"}]` (0 changed, 1 added, 2 deleted).
    pub fn changes(&self, images: &Images, id: &str) -> Result<Vec<Change>> {
        let upper = self.dir_of(id).join("upper/");
        let lowers = self.lower_dirs(images, id)?;
        let mut out = Vec::new();
        for rel in walk(&upper) {
            let p = upper.join(&rel);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let shown = format!("/{}", rel.display());
            let kind = if is_whiteout(&m) {
                2
            } else if lowers
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(&rel)).is_ok())
            {
                0
            } else {
                1
            };
            out.push(Change { path: shown, kind });
        }
        // The files the engine writes for the container are not its changes (dockerd
        // bind-mounts them); nor is /etc when they are all it holds.
        const OURS: [&str; 3] = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];
        out.retain(|c| !OURS.contains(&c.path.as_str()));
        if !out.iter().any(|c| c.path.starts_with("/etc/")) {
            out.retain(|c| !(c.path == "/etc" && c.kind == 0));
        }
        Ok(out)
    }

    /// Run `f` with the container's merged root filesystem: the live mount when it runs, a
    /// temporary overlay mount otherwise.
    pub fn with_rootfs<T>(
        &self,
        images: &Images,
        id: &str,
        f: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        let dir = self.dir_of(id);
        if self.state(id)?.running() {
            return f(&dir.join("rootfs"));
        }
        let rec = self.record(id)?;
        let chains = rec.chains();
        let mnt = dir.join(format!("rootfs-tmp-{}", std::process::id()));
        // The overlay's work directory must share the upper layer's filesystem (the quota's).
        let work_base = std::fs::canonicalize(dir.join("work"))
            .ok()
            .and_then(|w| w.parent().map(Path::to_owned))
            .unwrap_or_else(|| dir.clone());
        let work = work_base.join(format!("work-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        berth_image::snapshot::mount_rootfs(
            images.layers(),
            &chains,
            &dir.join("upper"),
            &work,
            &mnt,
        )?;
        let r = f(&mnt);
        let _ = nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&mnt);
        let _ = std::fs::remove_dir_all(&work);
        r
    }

    /// `GET /containers/{id}/export`: the whole root filesystem as a tar.
    pub fn export(&self, images: &Images, id: &str, out: impl Write) -> Result<()> {
        self.with_rootfs(images, id, |root| {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            b.mode(tar::HeaderMode::Complete);
            b.append_dir_all(".", root).map_err(internal)?;
            b.into_inner().map_err(internal)?;
            Ok(())
        })
    }

    /// The volume or bind mount `path` is in (the one mounted deepest): its host source, the
    /// rest of the path below it, and whether it is writable. Archives of such paths read and
    /// write the mount's source, as the container sees it.
    fn mount_for(&self, id: &str, path: &str) -> Result<Option<(PathBuf, String, bool)>> {
        let rec = self.record(id)?;
        let clean = Path::new("/").join(path.trim_start_matches('/'));
        let mut best: Option<(usize, PathBuf, String, bool)> = None;
        for m in self.mounts_of(&rec) {
            if m.source.is_empty() || !m.source.starts_with('/') {
                continue;
            }
            let dest = Path::new(&m.destination);
            let Ok(rest) = clean.strip_prefix(dest) else {
                continue;
            };
            let depth = dest.components().count();
            // A volume's subpath: the path inside the volume, resolved in the volume's root
            // (the subpath's own symlinks cannot lead out of it).
            let sub = rec
                .mount_points
                .iter()
                .find(|v| v.destination == m.destination)
                .map(|v| v.subpath.as_str())
                .unwrap_or_default();
            let rest = Path::new(sub).join(rest);
            if best.as_ref().is_none_or(|b| depth > b.0) {
                best = Some((
                    depth,
                    PathBuf::from(&m.source),
                    rest.to_string_lossy().into_owned(),
                    m.rw,
                ));
            }
        }
        Ok(best.map(|(_, src, rest, rw)| (src, rest, rw)))
    }

    /// `HEAD|GET /containers/{id}/archive?path=`: the stat Docker sends in
    /// `X-Docker-Container-Path-Stat`, and (with `out`) a tar of the path. The path is
    /// resolved inside the container's root (symlinks included), or inside the volume or bind
    /// mount it is in.
    pub fn archive_get(
        &self,
        images: &Images,
        id: &str,
        path: &str,
        out: Option<&mut dyn Write>,
    ) -> Result<PathStat> {
        archive_path(path)?;
        let tar = out.is_some();
        let r = match self.mount_for(id, path)? {
            Some((src, rest, _)) => get_in(&src, &rest, path, id, out),
            None => self.with_rootfs(images, id, |root| get_in(root, path, path, id, out)),
        }?;
        if tar {
            self.archive_event(id, "archive-path", path);
        }
        Ok(r)
    }

    /// dockerd's events of `docker cp`: `archive-path` (out), `extract-to-dir` (in).
    fn archive_event(&self, id: &str, action: &str, path: &str) {
        if let Ok(rec) = self.record(id) {
            self.emit_for(&rec, action, &[("path", path.to_owned())]);
        }
    }

    /// `PUT /containers/{id}/archive?path=`: unpack a tar into a directory of the container
    /// (with the same protections as image layers: nothing lands outside the root, or outside
    /// the mount the directory is in).
    pub fn archive_put(
        &self,
        images: &Images,
        id: &str,
        path: &str,
        tar: impl std::io::Read,
    ) -> Result<()> {
        archive_path(path)?;
        if let Some((src, rest, rw)) = self.mount_for(id, path)? {
            if !rw {
                return Err(Error::Forbidden(
                    "mounted volume is marked read-only".into(),
                ));
            }
            put_in(&src, &rest, path, id, tar)?;
        } else {
            self.with_rootfs(images, id, |root| put_in(root, path, path, id, tar))?;
        }
        self.archive_event(id, "extract-to-dir", path);
        Ok(())
    }

    /// `POST /commit`: the container's changes as a new layer on top of its image.
    pub fn commit(
        &self,
        images: &Images,
        id: &str,
        repo_tag: Option<&str>,
        comment: &str,
        author: &str,
        changes: &[String],
    ) -> Result<String> {
        let rec = self.record(id)?;
        let upper = self.dir_of(id).join("upper/");
        // The layer: upper's content, overlay whiteouts back to `.wh.` entries.
        let blob = crate::layer::write_layer(images, &upper, None)?;
        let diff_id = blob.clone();
        let base = images.resolve(&rec.image)?;
        let mut cfg: ConfigFile = images.config_as(&base)?;
        let now = crate::time::now_rfc3339();
        // The container's configuration becomes the image's, with the changes applied.
        let mut c = rec.config.clone();
        c.hostname.clear();
        c.domainname.clear();
        c.attach_stdin = false;
        c.attach_stdout = false;
        c.attach_stderr = false;
        c.open_stdin = false;
        c.stdin_once = false;
        c.tty = false;
        c.image.clear();
        let mut v = serde_json::to_value(&c).map_err(internal)?;
        berth_image::archive::apply_changes(&mut v, changes)?;
        cfg.config = Some(serde_json::from_value(v).map_err(internal)?);
        cfg.created = Some(now.clone());
        if !author.is_empty() {
            cfg.author = Some(author.to_owned());
        }
        cfg.rootfs.diff_ids.push(diff_id.to_string());
        cfg.history.push(ConfigHistory {
            created: now,
            created_by: rec.command_line().trim().to_owned(),
            comment: comment.to_owned(),
            ..Default::default()
        });
        let cfg_bytes = serde_json::to_vec(&cfg).map_err(internal)?;
        let config = images.store().ingest_bytes(&cfg_bytes, None)?;
        let mut layers: Vec<Digest> = base
            .layers
            .iter()
            .filter_map(|l| Digest::parse(l).ok())
            .collect();
        layers.push(blob);
        let chains = berth_image::snapshot::chain_ids(&crate::build::digests(&cfg.rootfs.diff_ids));
        if let (Some(top), Some(b)) = (chains.last(), layers.last()) {
            images
                .layers()
                .ensure(top, &images.store().path(b), Some(&diff_id))?;
        }
        let tags: Vec<berth_image::reference::Reference> = repo_tag
            .filter(|t| !t.is_empty())
            .map(crate::images::reference)
            .transpose()?
            .into_iter()
            .collect();
        let img = images.record_commit(&config, &layers, &chains, &tags, &base.id)?;
        let image_ref = tags.first().map(|t| t.to_string()).unwrap_or_default();
        self.emit_for(
            &rec,
            "commit",
            &[
                ("comment", comment.to_owned()),
                ("imageID", img.id.clone()),
                ("imageRef", image_ref),
            ],
        );
        Ok(img.id)
    }
}

/// Go's `os.FileMode` bits as Docker's path stat carries them.
fn go_mode(m: &std::fs::Metadata) -> u32 {
    let perm = m.mode() & 0o777;
    let t = m.file_type();
    let mut mode = perm;
    if t.is_dir() {
        mode |= 1 << 31;
    }
    if t.is_symlink() {
        mode |= 1 << 27;
    }
    mode
}

/// The `path` of an archive request: required, as dockerd requires it.
fn archive_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::InvalidParameter(
            "bad parameter: path cannot be empty".into(),
        ));
    }
    Ok(())
}

/// The stat of `path` (inside `root`, symlinks resolved there) and, with `out`, its tar.
/// `shown` is the path as the client asked for it.
fn get_in(
    root: &Path,
    path: &str,
    shown: &str,
    id: &str,
    out: Option<&mut dyn Write>,
) -> Result<PathStat> {
    let root = &std::fs::canonicalize(root).map_err(internal)?;
    let rootf = std::fs::File::open(root).map_err(internal)?;
    let rel = Path::new(path.trim_start_matches('/'));
    let fd = berth_fs::open_in_root(&rootf, rel, nix::fcntl::OFlag::O_PATH).map_err(|e| {
        Error::NotFound(format!(
            "Could not find the file {shown} in container {id}: {e}"
        ))
    })?;
    // The resolved location, as a path under the root (through the descriptor).
    let real = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .map_err(internal)?;
    if !real.starts_with(root) {
        return Err(Error::InvalidParameter(format!(
            "{shown} resolves outside the container"
        )));
    }
    let m = std::fs::symlink_metadata(&real).map_err(internal)?;
    let name = Path::new(shown)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let stat = PathStat {
        name: name.clone(),
        size: m.len() as i64,
        mode: go_mode(&m),
        mtime: berth_units::rfc3339(m.mtime()),
        link_target: String::new(),
    };
    if let Some(out) = out {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        if m.is_dir() {
            b.append_dir_all(&name, &real).map_err(internal)?;
        } else {
            b.append_path_with_name(&real, &name).map_err(internal)?;
        }
        b.into_inner().map_err(internal)?;
    }
    Ok(stat)
}

/// Unpack `tar` into the directory `path` inside `root`.
fn put_in(root: &Path, path: &str, shown: &str, id: &str, tar: impl std::io::Read) -> Result<()> {
    let rootf = std::fs::File::open(root).map_err(internal)?;
    let rel = Path::new(path.trim_start_matches('/'));
    let fd = berth_fs::open_in_root(
        &rootf,
        rel,
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY,
    )
    .map_err(|e| {
        Error::NotFound(format!(
            "Could not find the file {shown} in container {id}: {e}"
        ))
    })?;
    let target = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    berth_image::unpack::unpack(tar, &target)?;
    Ok(())
}
