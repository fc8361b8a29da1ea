//! Small helpers the engine's modules share: random ids and names, Docker's size units, the
//! poll schedule of waits, and name rules.

use std::time::Duration;

/// `bytes` random bytes as hex (twice as many characters).
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A name as Docker generates them (`adjective_surname`).
pub fn random_name() -> String {
    const A: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gifted", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "quirky", "serene", "tender", "vibrant", "zealous",
    ];
    const B: [&str; 16] = [
        "albattani",
        "babbage",
        "curie",
        "darwin",
        "euclid",
        "faraday",
        "galois",
        "hopper",
        "kepler",
        "lovelace",
        "meitner",
        "noether",
        "pascal",
        "ritchie",
        "turing",
        "wozniak",
    ];
    let r = random_hex(4);
    let n = usize::from_str_radix(&r, 16).unwrap_or(0);
    format!("{}_{}", A[n % 16], B[(n / 16) % 16])
}

/// Docker's rule for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    let n = n.trim_start_matches('/');
    n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `64m`, `1g`, `1073741824` → bytes (binary units, as Docker's storage-opt).
pub fn parse_size(v: &str) -> Option<u64> {
    let l = v.trim().to_lowercase();
    let end = l.find(|c: char| !c.is_ascii_digit()).unwrap_or(l.len());
    let n: u64 = l[..end].parse().ok()?;
    let mul: u64 = match l[end..].trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Poll intervals for watching a container: quick at first (most waits end within
/// milliseconds), then every 20 ms.
#[derive(Debug, Default)]
pub struct Backoff(u32);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(0)
    }

    pub fn step(&mut self) -> Duration {
        self.0 += 1;
        Duration::from_millis(match self.0 {
            0..=50 => 1,
            51..=100 => 5,
            _ => 20,
        })
    }
}

/// A signal by name (`TERM`, `SIGKILL`) or number, as docker takes it.
pub fn parse_signal(s: &str) -> Option<i32> {
    berth_runtime::container::parse_signal(s).ok()
}

/// `SIGKILL`, the default of `kill`.
pub const SIGKILL: i32 = libc::SIGKILL;

/// Whether a process lives.
/// Whether `pid` runs. A zombie has ended: a shim started by an earlier daemon is not our
/// child, and its new parent may reap it only later (seen: a second), which must not hold up
/// a `stop` or a `rm` waiting for its exit.
pub fn pid_alive(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')' (comm may hold anything).
        Ok(s) => s
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| s.get(i + 2))
            .is_some_and(|&st| st != b'Z' && st != b'X'),
        Err(_) => false,
    }
}

/// Whether `path` was written since the host last booted (its mtime is not older than the
/// boot time in /proc/stat): a dead shim's container was then killed with it, not ended by a
/// reboot.
pub fn written_this_boot(path: &std::path::Path) -> bool {
    let btime = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    matches!((btime, mtime), (Some(b), Some(m)) if m >= b)
}

/// A process watched through a pidfd: whether it still runs is one `poll`, where
/// [`pid_alive`] opens and reads `/proc/PID/stat` (the most of a list's cost at 1,000
/// containers, and of the supervisor's sweeps). A pidfd becomes readable when its process
/// exits, zombie or not, and never refers to another process that takes the pid later.
/// Pidfds are kept only within a budget of half the descriptor limit, so watching never takes
/// the descriptors the daemon needs for requests.
pub struct Watched {
    fd: std::os::fd::OwnedFd,
}

static WATCHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Watched {
    /// A pidfd for `pid` while the budget allows and the kernel has them (5.3+).
    pub fn open(pid: i64) -> Option<Watched> {
        use std::sync::atomic::Ordering;
        static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let budget = *BUDGET.get_or_init(|| {
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(0, |(soft, _)| (soft / 2) as usize)
        });
        if pid <= 0 || WATCHED.fetch_add(1, Ordering::Relaxed) >= budget {
            WATCHED.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // SAFETY: pidfd_open with a pid and no flags; a descriptor it returns is ours alone.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            WATCHED.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // SAFETY: a descriptor just returned by the kernel, owned by nobody else.
        let fd =
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        Some(Watched { fd })
    }

    /// Whether the process runs (None: the kernel would not say).
    pub fn alive(&self) -> Option<bool> {
        let mut p = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll of one valid pollfd that lives through the call, without waiting.
        match unsafe { libc::poll(&mut p, 1, 0) } {
            0 => Some(true),
            n if n > 0 => Some(false),
            _ => None,
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        WATCHED.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Write `data` to `path` through a temporary file and a rename (never half a file).
pub fn write_atomic(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        assert!(pid_alive(std::process::id() as i64));
        assert!(!pid_alive(0) && !pid_alive(i32::MAX as i64));
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id() as i64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while pid_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Exited, not reaped yet: /proc still has it, as a zombie.
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(!pid_alive(pid));
        child.wait().expect("reap");
    }

    #[test]
    fn a_watched_process_ends_when_it_exits_zombie_or_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("spawn");
        let w = Watched::open(child.id() as i64).expect("pidfd");
        assert_eq!(w.alive(), Some(true));
        child.kill().expect("kill");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while w.alive() == Some(true) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // A zombie (not reaped yet) has ended.
        assert!(std::path::Path::new(&format!("/proc/{}", child.id())).exists());
        assert_eq!(w.alive(), Some(false));
        child.wait().expect("reap");
        assert_eq!(w.alive(), Some(false));
        assert!(Watched::open(0).is_none());
    }

    #[test]
    fn names_sizes_and_ids() {
        assert!(valid_name("web-1"));
        assert!(valid_name("/web.1"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("we b"));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("99999999999999t"), None);
        let id = random_hex(32);
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(random_name().contains('_'));
        let mut b = Backoff::new();
        assert_eq!(b.step(), Duration::from_millis(1));
        for _ in 0..200 {
            b.step();
        }
        assert_eq!(b.step(), Duration::from_millis(20));
    }
}
