//! The cgroup v2 device filter, for real: the eBPF program is loaded and attached to a cgroup of
//! the v2 hierarchy (on this hybrid host, /sys/fs/cgroup/unified: device programs apply there
//! whatever the v1 layout), and a process in that cgroup may open /dev/null but not /dev/zero.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

fn v2_root() -> Option<PathBuf> {
    let is_v2 = |p: &str| {
        nix::sys::statfs::statfs(p)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .find(|p| is_v2(p))
        .map(PathBuf::from)
}

#[test]
fn device_filter_allows_and_denies() {
    let Some(root) = v2_root() else {
        eprintln!("skipped: no cgroup v2 hierarchy mounted");
        return;
    };
    let dir = root.join(format!("berthtest-devfilter-{}", std::process::id()));
    std::fs::create_dir(&dir).expect("create v2 cgroup");
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let rules = [
        berth_runtime::devfilter::parse(false, "a").expect("rule"),
        berth_runtime::devfilter::parse(true, "c 1:3 rw").expect("rule"),
        berth_runtime::devfilter::parse(true, "c 1:8 r").expect("rule"),
    ];
    berth_runtime::devfilter::attach(&dir, &rules).expect("attach");
    let procs = dir.join("cgroup.procs");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(
        "cat /dev/null && echo null-ok; \
         head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied; \
         head -c1 /dev/random >/dev/null 2>&1 && echo random-read-ok; \
         (echo x > /dev/random) 2>/dev/null && echo random-write-ok || echo random-write-denied",
    );
    // SAFETY: only a write(2) to the cgroup file between fork and exec.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs, "0"));
    }
    let out = cmd.output().expect("run sh in the cgroup");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "null-ok\nzero-denied\nrandom-read-ok\nrandom-write-denied\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
