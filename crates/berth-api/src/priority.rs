//! Who goes first when the host is busy: the threads that parse requests and answer reads run
//! at a higher scheduling priority (5 nice levels above the daemon's) than the engine's heavy
//! work and the processes it spawns. Linux keeps a nice value per thread and a new thread or
//! process inherits its creator's, so the runtime that runs the heavy work must put each of
//! its threads back to the daemon's level as it starts ([`normal_thread`]). Raising needs
//! CAP_SYS_NICE; without it everything runs at one priority, as it would anyway.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

/// How many nice levels the API's own threads run above the daemon's.
const RAISE: libc::c_int = 5;

/// The daemon's nice value, read when first needed (by the thread that builds the runtime).
fn base() -> libc::c_int {
    static BASE: AtomicI32 = AtomicI32::new(i32::MIN);
    let b = BASE.load(Ordering::Relaxed);
    if b != i32::MIN {
        return b;
    }
    // SAFETY: getpriority of the calling thread; -1 is also a valid nice value, and errno
    // is not worth telling apart here (a wrong base only shifts both levels).
    let now = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
    let _ = BASE.compare_exchange(i32::MIN, now, Ordering::Relaxed, Ordering::Relaxed);
    BASE.load(Ordering::Relaxed)
}

fn set_this_thread(nice: libc::c_int) {
    // SAFETY: gettid and setpriority on the calling thread, with plain integer arguments;
    // a failure (no CAP_SYS_NICE to raise) leaves the thread as it was.
    unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            nice.clamp(-20, 19),
        );
    }
}

fn raise_this_thread() {
    set_this_thread(base() - RAISE);
}

/// For the daemon's runtime builder (`on_thread_start`): every thread it starts runs at the
/// daemon's priority, whichever raised thread made it. Call [`init`] before building it.
pub fn normal_thread() {
    set_this_thread(base());
}

/// Record the daemon's priority (on the main thread, before any thread is raised).
pub fn init() {
    base();
}

thread_local! {
    static RAISED: Cell<bool> = const { Cell::new(false) };
}

/// Called as a request starts on one of the async runtime's workers: raises that worker once.
/// (Workers parse requests and write answers; they run no engine work and spawn nothing.)
pub fn request_thread() {
    RAISED.with(|r| {
        if !r.get() {
            raise_this_thread();
            r.set(true);
        }
    });
}

/// The runtime whose blocking threads serve reads, at the raised priority.
pub fn reads() -> &'static tokio::runtime::Handle {
    static READS: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    READS
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .max_blocking_threads(64)
                .thread_name("berth-api-read")
                .on_thread_start(raise_this_thread)
                .build()
                .expect("the reads' thread pool (no I/O driver to fail)")
        })
        .handle()
}
