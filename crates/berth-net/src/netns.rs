//! Network namespaces kept alive by a bind mount (`<exec-root>/netns/<id>`), so they exist
//! before the container's process (the runtime joins them by path) and outlive the daemon.
//! Hand-written (a dozen lines over nix) rather than a crate: unshare and bind mount only.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::{Result, kernel};

/// A new network namespace, bind-mounted at `path` (made in a thread of its own: the
/// namespace is a per-thread attribute, and the thread ends with it).
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| kernel(format!("create {}", dir.display()), e))?;
    }
    std::fs::File::create(path).map_err(|e| kernel(format!("create {}", path.display()), e))?;
    let p = path.to_owned();
    let r = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| kernel("unshare(CLONE_NEWNET)", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| kernel(format!("bind mount {}", p.display()), e))
    })
    .join()
    .unwrap_or_else(|_| Err(kernel("netns", "the thread panicked")));
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Unmount and remove a namespace made by `create` (gone with its last user; its veth
/// ends go with it). Missing is fine.
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// Is `path` a mounted namespace (not just the empty file left by a crash)?
pub fn is_mounted(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Run `f` in a thread that has entered the namespace at `path`.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let ns =
        std::fs::File::open(path).map_err(|e| kernel(format!("open {}", path.display()), e))?;
    std::thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| kernel("setns", e))?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(kernel("netns", "the thread panicked")))
}
