//! The container's filesystem view: mounts (resolved inside the rootfs, never through it),
//! default device nodes, /dev symlinks, `pivot_root` (or `MS_MOVE` + `chroot` with
//! `--no-pivot`), masked and read-only paths, and a read-only root.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::linux::{mkdir_all_in_root, mkfile_in_root, mount_on_fd, open_in_root};

/// Parsed mount options.
#[derive(Debug, PartialEq)]
pub struct MountOpts {
    pub flags: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
}

/// Split `options` into mount flags, propagation changes and filesystem data.
pub fn parse_options(options: &[String]) -> MountOpts {
    let mut o = MountOpts {
        flags: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
        recursive: false,
    };
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                let base = match opt.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "shared" => MsFlags::MS_SHARED,
                    "slave" => MsFlags::MS_SLAVE,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                let rec = if opt.starts_with('r') {
                    MsFlags::MS_REC
                } else {
                    MsFlags::empty()
                };
                o.propagation.push(base | rec);
                continue;
            }
            // Options for other tools (Podman's tmpcopyup, idmap handled elsewhere): not kernel's.
            "tmpcopyup" | "notmpcopyup" | "copy-symlink" | "rro" | "rrw" | "idmap" | "ridmap" => {
                continue;
            }
            other => {
                o.data.push(other.to_owned());
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
    }
    o
}

/// What the rootfs setup needs besides the spec.
pub struct Ctx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub cgroup: &'a dyn Cgroup,
    pub new_cgroupns: bool,
    pub in_userns: bool,
}

fn sys<T>(r: nix::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    r.ctx(what)
}

/// The root's propagation (`linux.rootfsPropagation`), applied recursively. The `r` forms are
/// accepted as runc accepts them (containerd sends `rshared` and `rslave` for Bidirectional and
/// HostToContainer mounts); slave when unset.
fn root_propagation(spec: &Spec) -> Result<MsFlags> {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone());
    Ok(match p.as_deref() {
        Some("shared" | "rshared") => MsFlags::MS_SHARED,
        Some("private" | "rprivate") => MsFlags::MS_PRIVATE,
        Some("unbindable" | "runbindable") => MsFlags::MS_UNBINDABLE,
        Some("slave" | "rslave" | "") | None => MsFlags::MS_SLAVE,
        Some(other) => return Err(Error::Spec(format!("unknown rootfsPropagation {other:?}"))),
    })
}

/// Everything before `pivot_root`: propagation, the rootfs bind, the spec's mounts, devices.
pub fn prepare(c: &Ctx) -> Result<()> {
    let linux = c.spec.linux().as_ref();
    let prop = root_propagation(c.spec)?;
    // An unbindable root would refuse the rootfs bind below: start from slave and make it
    // unbindable after pivot_root (see `finish`).
    let initial = if prop == MsFlags::MS_UNBINDABLE {
        MsFlags::MS_SLAVE
    } else {
        prop
    };
    sys(
        nix::mount::mount::<str, str, str, str>(None, "/", None, initial | MsFlags::MS_REC, None),
        || format!("set propagation of / to {prop:?}"),
    )?;
    if prop == MsFlags::MS_SHARED {
        // pivot_root refuses a new root whose parent mount is shared: the parent of the bind
        // below is the mount holding the rootfs — the rootfs itself when it is a mount point,
        // as containerd's snapshots are.
        let parent = mount_point_of(c.rootfs);
        sys(
            nix::mount::mount::<str, Path, str, str>(
                None,
                &parent,
                None,
                MsFlags::MS_PRIVATE,
                None,
            ),
            || format!("make {} private", parent.display()),
        )?;
    }
    sys(
        nix::mount::mount::<Path, Path, str, str>(
            Some(c.rootfs),
            c.rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ),
        || format!("bind rootfs {}", c.rootfs.display()),
    )?;
    let root =
        std::fs::File::open(c.rootfs).ctx(|| format!("open rootfs {}", c.rootfs.display()))?;
    let root = OwnedFd::from(root);
    let mounts = c.spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        mount_one(c, &root, m)
            .map_err(|e| Error::Init(format!("mount {}: {e}", m.destination().display())))?;
    }
    let dev_is_tmpfs = mounts.iter().any(|m| m.destination() == Path::new("/dev"));
    if dev_is_tmpfs {
        default_devices(&root, c.in_userns)?;
    }
    for d in linux.and_then(|l| l.devices().clone()).unwrap_or_default() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Spec(format!(
                    "device {} has type a",
                    d.path().display()
                )));
            }
        };
        make_device(
            &root,
            d.path(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            d.file_mode().unwrap_or(0o666),
            c.in_userns,
        )?;
        if d.uid().is_some() || d.gid().is_some() {
            let fd = open_in_root(root.as_raw_fd(), d.path(), libc::O_PATH)
                .ctx(|| format!("open {}", d.path().display()))?;
            let p = crate::linux::fd_path(&fd);
            nix::unistd::chown(
                &p,
                d.uid().map(nix::unistd::Uid::from_raw),
                d.gid().map(nix::unistd::Gid::from_raw),
            )
            .ctx(|| format!("chown {}", d.path().display()))?;
        }
    }
    if dev_is_tmpfs {
        dev_symlinks(&root)?;
    }
    Ok(())
}

fn mount_one(c: &Ctx, root: &OwnedFd, m: &Mount) -> Result<()> {
    let rfd = root.as_raw_fd();
    let dest = m.destination();
    let typ = m.typ().clone().unwrap_or_default();
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let data = opts.data.join(",");
    let data = (!data.is_empty()).then_some(data.as_str());
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(c, root, dest, &opts);
    }
    if opts.bind || typ == "bind" {
        let src = m.source().clone().ok_or_else(|| {
            Error::Spec(format!("bind mount to {} has no source", dest.display()))
        })?;
        let src = if src.is_absolute() {
            src
        } else {
            c.spec_dir_relative(&src)
        };
        let meta = std::fs::metadata(&src).ctx(|| format!("bind source {}", src.display()))?;
        let target = if meta.is_dir() {
            mkdir_all_in_root(rfd, dest, 0o755)?
        } else {
            mkfile_in_root(rfd, dest)?
        };
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        sys(mount_on_fd(Some(&src), &target, None, flags, None), || {
            format!("bind {}", src.display())
        })?;
        // Bind mounts ignore flags on the first call: remount to apply them.
        let want = opts.flags & !MsFlags::MS_REMOUNT;
        if !want.is_empty() {
            let target = open_in_root(rfd, dest, libc::O_PATH)
                .ctx(|| format!("reopen {}", dest.display()))?;
            let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | want;
            // Keep locked flags of the source mount (e.g. nosuid) or the kernel refuses.
            if let Ok(st) = nix::sys::statvfs::statvfs(&src) {
                use nix::sys::statvfs::FsFlags;
                let f = st.flags();
                for (fs, ms) in [
                    (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                    (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                    (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                ] {
                    if f.contains(fs) {
                        flags |= ms;
                    }
                }
            }
            sys(mount_on_fd(None, &target, None, flags, None), || {
                format!("remount {}", dest.display())
            })?;
        }
        apply_propagation(rfd, dest, &opts.propagation)?;
        return Ok(());
    }
    let target = mkdir_all_in_root(rfd, dest, 0o755)?;
    let src = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
    let res = mount_on_fd(Some(&src), &target, Some(&typ), opts.flags, data);
    match res {
        Ok(()) => {}
        // Without a network namespace of our own (or in a user namespace) sysfs may not be
        // mountable: bind the host's, as runc does.
        Err(Errno::EPERM) if typ == "sysfs" => {
            sys(
                mount_on_fd(
                    Some(Path::new("/sys")),
                    &target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                ),
                || "bind /sys".into(),
            )?;
            if opts.flags.contains(MsFlags::MS_RDONLY) {
                let t = open_in_root(rfd, dest, libc::O_PATH).ctx(|| "reopen /sys".into())?;
                sys(
                    mount_on_fd(
                        None,
                        &t,
                        None,
                        MsFlags::MS_BIND
                            | MsFlags::MS_REMOUNT
                            | MsFlags::MS_RDONLY
                            | MsFlags::MS_NOSUID
                            | MsFlags::MS_NODEV
                            | MsFlags::MS_NOEXEC,
                        None,
                    ),
                    || "remount /sys".into(),
                )?;
            }
        }
        Err(e) => {
            return Err(Error::Sys {
                ctx: format!("mount {typ}"),
                source: e,
            });
        }
    }
    apply_propagation(rfd, dest, &opts.propagation)
}

impl Ctx<'_> {
    fn spec_dir_relative(&self, p: &Path) -> PathBuf {
        // Relative bind sources are relative to the bundle, the rootfs' parent by convention.
        self.rootfs.parent().unwrap_or(Path::new("/")).join(p)
    }
}

fn apply_propagation(rfd: i32, dest: &Path, props: &[MsFlags]) -> Result<()> {
    for p in props {
        let t =
            open_in_root(rfd, dest, libc::O_PATH).ctx(|| format!("reopen {}", dest.display()))?;
        sys(mount_on_fd(None, &t, None, *p, None), || {
            format!("propagation of {}", dest.display())
        })?;
    }
    Ok(())
}

/// A `cgroup` mount: on v1 a tmpfs with the container's directory of each hierarchy bound in;
/// on v2 a cgroup2 mount (with a cgroup namespace) or a bind of the container's directory.
fn mount_cgroup(c: &Ctx, root: &OwnedFd, dest: &Path, opts: &MountOpts) -> Result<()> {
    let rfd = root.as_raw_fd();
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let target = mkdir_all_in_root(rfd, dest, 0o755)?;
    if c.cgroup.is_v2() {
        let dir = c.cgroup.dir("").unwrap_or_default();
        let flags = base
            | if ro {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            };
        if c.new_cgroupns {
            if mount_on_fd(
                Some(Path::new("cgroup2")),
                &target,
                Some("cgroup2"),
                flags,
                None,
            )
            .is_ok()
            {
                return Ok(());
            }
        }
        sys(
            mount_on_fd(
                Some(&dir),
                &target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            ),
            || "bind cgroup".into(),
        )?;
        if ro {
            let t = open_in_root(rfd, dest, libc::O_PATH).ctx(|| "reopen cgroup".into())?;
            sys(
                mount_on_fd(
                    None,
                    &t,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
                    None,
                ),
                || "remount cgroup ro".into(),
            )?;
        }
        return Ok(());
    }
    sys(
        mount_on_fd(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            base,
            Some("mode=755"),
        ),
        || "mount cgroup tmpfs".into(),
    )?;
    for (name, dir) in c.cgroup.hierarchies() {
        let sub = dest.join(&name);
        let t = mkdir_all_in_root(rfd, &sub, 0o755)?;
        sys(
            mount_on_fd(
                Some(&dir),
                &t,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            ),
            || format!("bind cgroup {name}"),
        )?;
        let t =
            open_in_root(rfd, &sub, libc::O_PATH).ctx(|| format!("reopen {}", sub.display()))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | base
            | if ro {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            };
        sys(mount_on_fd(None, &t, None, flags, None), || {
            format!("remount cgroup {name}")
        })?;
    }
    if ro {
        let t = open_in_root(rfd, dest, libc::O_PATH).ctx(|| "reopen cgroup".into())?;
        sys(
            mount_on_fd(
                None,
                &t,
                None,
                MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
                None,
            ),
            || "remount cgroup tmpfs ro".into(),
        )?;
    }
    Ok(())
}

fn make_device(
    root: &OwnedFd,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    in_userns: bool,
) -> Result<()> {
    let rfd = root.as_raw_fd();
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| Error::Spec(format!("device path {path:?}")))?;
    let pfd = mkdir_all_in_root(rfd, parent, 0o755)?;
    let pdir = open_in_root(rfd, parent, libc::O_DIRECTORY)
        .ctx(|| format!("open {}", parent.display()))?;
    drop(pfd);
    let dev = nix::sys::stat::makedev(major, minor);
    if !in_userns {
        match nix::sys::stat::mknodat(&pdir, name, kind, Mode::from_bits_truncate(mode), dev) {
            Ok(()) | Err(Errno::EEXIST) => return Ok(()),
            Err(Errno::EPERM) => {}
            Err(e) => {
                return Err(Error::Sys {
                    ctx: format!("mknod {}", path.display()),
                    source: e,
                });
            }
        }
    }
    // In a user namespace (or without CAP_MKNOD) bind the host's node instead.
    let host = Path::new("/").join(path.strip_prefix("/").unwrap_or(path));
    let target = mkfile_in_root(rfd, path)?;
    sys(
        mount_on_fd(Some(&host), &target, None, MsFlags::MS_BIND, None),
        || format!("bind device {}", host.display()),
    )
}

fn default_devices(root: &OwnedFd, in_userns: bool) -> Result<()> {
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        make_device(
            root,
            &Path::new("/dev").join(name),
            SFlag::S_IFCHR,
            major,
            minor,
            0o666,
            in_userns,
        )?;
    }
    Ok(())
}

fn dev_symlinks(root: &OwnedFd) -> Result<()> {
    let dev = open_in_root(root.as_raw_fd(), Path::new("/dev"), libc::O_DIRECTORY)
        .ctx(|| "open /dev".into())?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (src, name) in links {
        match nix::unistd::symlinkat(src, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(Error::Sys {
                    ctx: format!("symlink /dev/{name}"),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// The mount point of the mount that holds `path` (longest matching mount point).
fn mount_point_of(path: &Path) -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Make the prepared rootfs `/`. Leaves the old root unmounted.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    if no_pivot {
        sys(
            nix::mount::mount::<str, str, str, str>(Some("."), "/", None, MsFlags::MS_MOVE, None),
            || "move rootfs".into(),
        )?;
        nix::unistd::chroot(".").ctx(|| "chroot".into())?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one; detach it right away.
        // The old root is reached through a descriptor opened before: "." after the pivot is
        // the new root, and making that tree slave would cut the container's shared mounts
        // (Bidirectional volumes) off from the host's peer groups.
        let old_root = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| "open old root".into())?;
        nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
        nix::unistd::fchdir(&old_root).ctx(|| "fchdir to the old root".into())?;
        sys(
            nix::mount::mount::<str, str, str, str>(
                None,
                ".",
                None,
                MsFlags::MS_SLAVE | MsFlags::MS_REC,
                None,
            ),
            || "make old root slave".into(),
        )?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmount old root".into())?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir /".into())
}

/// After `pivot_root`: hide masked paths, make read-only paths and (if asked) the root read-only.
/// Files are masked with the container's /dev/null, checked to really be the null device (a
/// container that replaced it with a symlink or another file cannot redirect the mask).
pub fn finish(spec: &Spec) -> Result<()> {
    let root = std::fs::File::open("/").ctx(|| "open /".into())?;
    let rfd = root.as_raw_fd();
    // Propagations that could not be set before pivot_root (see `prepare`).
    let late = match root_propagation(spec)? {
        p @ (MsFlags::MS_UNBINDABLE | MsFlags::MS_SHARED) => Some(p),
        _ => None,
    };
    if let Some(p) = late {
        sys(
            nix::mount::mount::<str, str, str, str>(None, "/", None, p | MsFlags::MS_REC, None),
            || format!("set propagation of / to {p:?}"),
        )?;
    }
    let null =
        open_in_root(rfd, Path::new("/dev/null"), libc::O_PATH).ctx(|| "open /dev/null".into());
    let null = null.and_then(|fd| {
        let st = nix::sys::stat::fstat(&fd).ctx(|| "stat /dev/null".into())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != nix::sys::stat::makedev(1, 3)
        {
            return Err(Error::Spec(
                "/dev/null in the container is not the null device".into(),
            ));
        }
        Ok(fd)
    });
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default()
    {
        let fd = match open_in_root(rfd, Path::new(&p), libc::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    ctx: format!("readonly path {p}"),
                    source: e,
                });
            }
        };
        sys(
            mount_on_fd(
                Some(&crate::linux::fd_path(&fd)),
                &fd,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            ),
            || format!("bind readonly path {p}"),
        )?;
        let fd = open_in_root(rfd, Path::new(&p), libc::O_PATH).ctx(|| format!("reopen {p}"))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_REC;
        sys(mount_on_fd(None, &fd, None, flags, None), || {
            format!("remount readonly path {p}")
        })?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
    {
        let fd = match open_in_root(rfd, Path::new(&p), libc::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    ctx: format!("masked path {p}"),
                    source: e,
                });
            }
        };
        let is_dir =
            nix::sys::stat::fstat(&fd).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let res = if is_dir {
            mount_on_fd(
                Some(Path::new("tmpfs")),
                &fd,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )
        } else {
            let null = null
                .as_ref()
                .map_err(|e| Error::Spec(format!("cannot mask {p}: {e}")))?;
            mount_on_fd(
                Some(&crate::linux::fd_path(null)),
                &fd,
                None,
                MsFlags::MS_BIND,
                None,
            )
        };
        sys(res, || format!("mask {p}"))?;
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        // Keep flags the kernel locks on the mount.
        let extra = nix::sys::statvfs::statvfs("/")
            .map(|s| {
                use nix::sys::statvfs::FsFlags;
                let mut m = MsFlags::empty();
                if s.flags().contains(FsFlags::ST_NOSUID) {
                    m |= MsFlags::MS_NOSUID
                }
                if s.flags().contains(FsFlags::ST_NODEV) {
                    m |= MsFlags::MS_NODEV
                }
                if s.flags().contains(FsFlags::ST_NOEXEC) {
                    m |= MsFlags::MS_NOEXEC
                }
                m
            })
            .unwrap_or(MsFlags::empty());
        sys(
            nix::mount::mount::<str, str, str, str>(None, "/", None, flags | extra, None),
            || "remount / read-only".into(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(
            &[
                "nosuid", "ro", "rbind", "rslave", "mode=755", "size=64k", "rw",
            ]
            .map(String::from),
        );
        assert!(o.flags.contains(MsFlags::MS_NOSUID));
        assert!(!o.flags.contains(MsFlags::MS_RDONLY), "rw after ro wins");
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, vec!["mode=755", "size=64k"]);
    }
}
