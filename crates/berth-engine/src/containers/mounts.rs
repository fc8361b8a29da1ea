//! A container's volumes: made at create from `-v name:/dst`, `-v /dst`, `--mount
//! type=volume`, `--volumes-from` and the image's `VOLUME`s (recorded as its mount points),
//! bound at every start (filled from the image on first use: copy-up), and shown with the
//! binds and tmpfs mounts in `Mounts`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_models::container::{HostConfig, MountPoint, Set};

use super::bundle::Mount;
use super::idmap::IdMaps;
use super::{Containers, Record, VolumeMount};
use crate::{Error, Result};

impl Containers {
    /// The volumes a new container mounts, made as needed.
    pub(crate) fn mount_points(
        &self,
        hc: &HostConfig,
        image_volumes: Option<&Set>,
    ) -> Result<Vec<VolumeMount>> {
        let mut out: Vec<VolumeMount> = Vec::new();
        let add = |out: &mut Vec<VolumeMount>,
                   name: Option<&str>,
                   dst: &str,
                   rw: bool,
                   mode: &str,
                   no_copy: bool,
                   subpath: &str|
         -> Result<()> {
            if !dst.starts_with('/') {
                return Err(Error::InvalidParameter(format!(
                    "invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            if out.iter().any(|m| m.destination == dst) {
                return Err(Error::InvalidParameter(format!(
                    "Duplicate mount point: {dst}"
                )));
            }
            let v = self.volumes.create(berth_models::volume::CreateRequest {
                name: name.unwrap_or_default().to_owned(),
                ..Default::default()
            })?;
            out.push(VolumeMount {
                r#type: "volume".into(),
                name: v.name,
                destination: dst.to_owned(),
                rw,
                mode: mode.to_owned(),
                no_copy,
                anonymous: name.is_none(),
                copied: false,
                subpath: subpath.to_owned(),
            });
            Ok(())
        };
        for b in hc.binds.iter().flatten() {
            let parts: Vec<&str> = b.split(':').collect();
            let (src, dst, opts) = match parts.as_slice() {
                [d] => (None, *d, ""),
                [s, d] => (Some(*s), *d, ""),
                [s, d, o] => (Some(*s), *d, *o),
                _ => continue,
            };
            if src.is_some_and(|s| s.starts_with('/')) {
                continue;
            }
            let rw = !opts.split(',').any(|o| o == "ro");
            let no_copy = opts.split(',').any(|o| o == "nocopy");
            add(&mut out, src, dst, rw, opts, no_copy, "")?;
        }
        for m in hc.mounts.iter().flatten().filter(|m| m.r#type == "volume") {
            let src = Some(m.source.as_str()).filter(|s| !s.is_empty());
            let no_copy = m.volume_options.as_ref().is_some_and(|o| o.no_copy);
            let subpath = m
                .volume_options
                .as_ref()
                .map(|o| o.subpath.as_str())
                .unwrap_or_default();
            if subpath.starts_with('/')
                || Path::new(subpath)
                    .components()
                    .any(|c| c.as_os_str() == "..")
            {
                return Err(Error::InvalidParameter(format!(
                    "invalid mount config for type \"volume\": subpath must be a relative path within the volume: {subpath}"
                )));
            }
            if !subpath.is_empty() && src.is_none() {
                return Err(Error::InvalidParameter(
                    "invalid mount config for type \"volume\": subpath needs a named volume".into(),
                ));
            }
            add(&mut out, src, &m.target, !m.read_only, "", no_copy, subpath)?;
        }
        // --volumes-from CONTAINER[:ro|rw]: its volumes (and binds, through its HostConfig).
        for vf in hc.volumes_from.iter().flatten() {
            let (name, mode) = vf.split_once(':').unwrap_or((vf.as_str(), ""));
            let other = self.record(&self.resolve(name)?)?;
            for m in other.mount_points {
                if out.iter().any(|x| x.destination == m.destination) {
                    continue;
                }
                let rw = match mode {
                    "ro" => false,
                    "rw" => true,
                    _ => m.rw,
                };
                out.push(VolumeMount {
                    rw,
                    anonymous: false,
                    no_copy: true,
                    ..m
                });
            }
        }
        // The VOLUMEs (the image's, and `Config.Volumes` of the request) not covered by a
        // mount, bind or tmpfs: anonymous volumes.
        let covered: Vec<&str> = hc
            .binds
            .iter()
            .flatten()
            .filter_map(|b| b.split(':').nth(1))
            .chain(hc.mounts.iter().flatten().map(|m| m.target.as_str()))
            .chain(hc.tmpfs.iter().flatten().map(|(k, _)| k.as_str()))
            .collect();
        for dst in image_volumes.into_iter().flatten().map(|(k, _)| k) {
            if out.iter().any(|m| m.destination == *dst) || covered.contains(&dst.as_str()) {
                continue;
            }
            add(&mut out, None, dst, true, "", false, "")?;
        }
        Ok(out)
    }

    /// Mount the container's volumes: a bind of each volume's directory, filled from the
    /// image on first use when empty (copy-up) unless `nocopy`. In a user namespace of its
    /// own the container sees each volume through an idmapped mount: volumes keep unshifted
    /// ids on disk, whichever range the container that wrote them had.
    pub(crate) fn volume_mounts(&self, rec: &mut Record, rootfs: &Path) -> Result<Vec<Mount>> {
        let mut mounts = Vec::new();
        let mut copied = false;
        let maps = rec.id_maps();
        let dir = self.dir_of(&rec.id);
        for (i, m) in rec.mount_points.iter_mut().enumerate() {
            self.volumes.ensure_mounted(&m.name)?;
            let mut mp = self.volumes.mountpoint(&m.name);
            if !m.subpath.is_empty() {
                mp = stage_subpath(&self.dir_of(&rec.id), &mp, m)?;
                m.copied = true;
            }
            if !m.no_copy && !m.copied {
                if self.volumes.is_empty(&m.name) {
                    copy_up(rootfs, &m.destination, &mp, maps.as_ref())?;
                }
                m.copied = true;
                copied = true;
            }
            if let Some(maps) = &maps {
                mp = super::userns::idmap_volume(&dir, &format!("v{i}"), &mp, maps)?;
            }
            let mut o = vec!["rbind".to_owned(), "rprivate".to_owned()];
            if !m.rw {
                o.push("ro".into());
            }
            mounts.push(Mount::bind(mp.display().to_string(), &m.destination, o));
        }
        if copied {
            let marks: Vec<(String, bool)> = rec
                .mount_points
                .iter()
                .map(|m| (m.destination.clone(), m.copied))
                .collect();
            // On a fresh read: a user's stop may have marked the record meanwhile.
            self.update_record(&rec.id, |r| {
                for m in r.mount_points.iter_mut() {
                    if marks.iter().any(|(d, c)| *d == m.destination && *c) {
                        m.copied = true;
                    }
                }
                Some(())
            })?;
        }
        Ok(mounts)
    }

    /// Undo [`stage_subpath`]'s mounts: once the runtime has made the container's mounts
    /// (or failed to), they are not needed.
    pub(crate) fn unstage_subpaths(&self, id: &str) {
        let dir = self.dir_of(id).join("subpaths");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `Mounts` of inspect and list: binds, tmpfs mounts and volumes, as dockerd shows them.
    pub fn mounts_of(&self, rec: &Record) -> Vec<MountPoint> {
        let hc = &rec.host_config;
        let mut out = Vec::new();
        for b in hc.binds.iter().flatten() {
            let parts: Vec<&str> = b.split(':').collect();
            if let [src, dst, rest @ ..] = parts.as_slice() {
                if src.starts_with('/') {
                    let mode = rest.first().copied().unwrap_or("");
                    out.push(MountPoint {
                        r#type: "bind".into(),
                        source: (*src).into(),
                        destination: (*dst).into(),
                        mode: mode.into(),
                        rw: !mode.split(',').any(|o| o == "ro"),
                        propagation: "rprivate".into(),
                        ..Default::default()
                    });
                }
            }
        }
        for m in hc.mounts.iter().flatten() {
            match m.r#type.as_str() {
                "bind" => out.push(MountPoint {
                    r#type: "bind".into(),
                    source: m.source.clone(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    propagation: m
                        .bind_options
                        .as_ref()
                        .map(|b| b.propagation.clone())
                        .filter(|p| !p.is_empty())
                        .unwrap_or_else(|| "rprivate".into()),
                    ..Default::default()
                }),
                "tmpfs" => out.push(MountPoint {
                    r#type: "tmpfs".into(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    ..Default::default()
                }),
                _ => {}
            }
        }
        for m in &rec.mount_points {
            out.push(MountPoint {
                r#type: "volume".into(),
                name: m.name.clone(),
                source: self.volumes.mountpoint(&m.name).display().to_string(),
                destination: m.destination.clone(),
                driver: "local".into(),
                mode: m.mode.clone(),
                rw: m.rw,
                propagation: String::new(),
            });
        }
        out
    }
}

/// Copy-up: the image's content at `dst` (resolved inside the container's root, so its
/// symlinks cannot lead out) into an empty volume, keeping modes, owners, times and links.
/// With a user namespace's `maps` the rootfs shows shifted ids: the volume gets them unshifted.
fn copy_up(rootfs: &Path, dst: &str, volume: &Path, maps: Option<&IdMaps>) -> Result<()> {
    use nix::fcntl::OFlag;
    let root = std::fs::File::open(rootfs)
        .map_err(|e| Error::io(format!("open {}", rootfs.display()), e))?;
    let Ok(fd) =
        berth_fs::open_in_root(&root, Path::new(dst), OFlag::O_DIRECTORY | OFlag::O_RDONLY)
    else {
        return Ok(()); // nothing there in the image
    };
    let src = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    let owner = |md: &std::fs::Metadata| match maps {
        None => (md.uid(), md.gid()),
        Some(m) => (
            IdMaps::to_container(&m.uids, md.uid()).unwrap_or(md.uid()),
            IdMaps::to_container(&m.gids, md.gid()).unwrap_or(md.gid()),
        ),
    };
    // Hand-written (a few lines over std and nix) instead of `cp -a`: no process per start.
    fn copy_tree(
        src: &Path,
        dst: &Path,
        owner: &dyn Fn(&std::fs::Metadata) -> (u32, u32),
    ) -> std::io::Result<()> {
        for e in std::fs::read_dir(src)? {
            let e = e?;
            let (from, to) = (e.path(), dst.join(e.file_name()));
            let md = std::fs::symlink_metadata(&from)?;
            let ft = md.file_type();
            if ft.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            } else if ft.is_dir() {
                std::fs::create_dir(&to)?;
                copy_tree(&from, &to, owner)?;
            } else if ft.is_file() {
                std::fs::copy(&from, &to)?;
            } else {
                continue; // devices, fifos, sockets stay in the image
            }
            let (uid, gid) = owner(&md);
            let _ = std::os::unix::fs::lchown(&to, Some(uid), Some(gid));
            if !ft.is_symlink() {
                std::fs::set_permissions(
                    &to,
                    std::os::unix::fs::PermissionsExt::from_mode(md.mode()),
                )?;
            }
        }
        Ok(())
    }
    copy_tree(&src, volume, &owner).map_err(|e| Error::io(format!("copy-up of {dst}"), e))?;
    // The volume's root takes the image directory's owner and mode.
    if let Ok(md) = std::fs::metadata(&src) {
        let (uid, gid) = owner(&md);
        let _ = std::os::unix::fs::chown(volume, Some(uid), Some(gid));
        let _ = std::fs::set_permissions(
            volume,
            std::os::unix::fs::PermissionsExt::from_mode(md.mode()),
        );
    }
    Ok(())
}

/// A volume's subpath, resolved inside the volume (its symlinks cannot lead out) and bound by
/// descriptor on a staging path of the container's own, which the runtime then binds: a
/// container that swaps a directory of the volume for a symlink meanwhile changes nothing.
fn stage_subpath(dir: &Path, volume: &Path, m: &VolumeMount) -> Result<PathBuf> {
    use nix::fcntl::OFlag;
    let root =
        std::fs::File::open(volume).map_err(|e| Error::io(format!("open volume {}", m.name), e))?;
    let fd = berth_fs::open_in_root(&root, Path::new(&m.subpath), OFlag::O_PATH).map_err(|e| {
        Error::InvalidParameter(format!(
            "cannot access subpath {} of volume {}: {e}",
            m.subpath, m.name
        ))
    })?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::io("stat subpath", e.into()))?;
    let staging = dir.join("subpaths");
    std::fs::create_dir_all(&staging).map_err(|e| Error::io("create subpaths", e))?;
    let target = staging.join(crate::util::random_hex(8));
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir {
        std::fs::create_dir(&target)
    } else {
        std::fs::File::create(&target).map(|_| ())
    }
    .map_err(|e| Error::io("create a subpath's staging path", e))?;
    let src = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    nix::mount::mount(
        Some(&src),
        &target,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::io(format!("bind subpath {}", m.subpath), e.into()))?;
    Ok(target)
}
