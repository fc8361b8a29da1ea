//! Berth's default seccomp profile, in Docker's profile format.
//!
//! It makes the same decisions as Docker's default profile (moby/profiles `seccomp/default.json`,
//! Apache-2.0): a base allow-list, argument-filtered `socket`, `personality` and `clone`, and rules
//! that only apply with a capability (`CAP_SYS_ADMIN` unlocks `mount`, `unshare`, …) or on an
//! architecture. `tests/seccomp_reference.rs` checks the decisions against the reference copy.

use super::profile::{ArchMap, Arg, Filter, Profile, Rule};

/// Syscalls every container may make, whatever its capabilities.
const BASE: &str = "accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect
open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename
renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg
sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer
setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64
utimes vfork vmsplice wait4 waitid waitpid write writev";

fn names(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

fn allow(list: &str) -> Rule {
    Rule {
        names: names(list),
        action: "SCMP_ACT_ALLOW".into(),
        ..Rule::default()
    }
}

fn with_caps(list: &str, caps: &[&str]) -> Rule {
    Rule {
        includes: Filter::caps(caps),
        ..allow(list)
    }
}

fn on_arches(list: &str, arches: &[&str]) -> Rule {
    Rule {
        includes: Filter::arches(arches),
        ..allow(list)
    }
}

fn arg0(name: &str, op: &str, value: u64) -> Rule {
    Rule {
        args: vec![Arg {
            index: 0,
            value,
            value_two: 0,
            op: op.into(),
        }],
        ..allow(name)
    }
}

fn arch_map(arch: &str, subs: &[&str]) -> ArchMap {
    ArchMap {
        architecture: arch.into(),
        sub_architectures: subs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The default profile (Docker's format: resolve it with [`Profile::resolve`]).
pub fn profile() -> Profile {
    // Namespace flags `clone` may not carry without CAP_SYS_ADMIN (CLONE_NEWNS|NEWCGROUP|NEWUTS|
    // NEWIPC|NEWUSER|NEWPID|NEWNET).
    const CLONE_NS_MASK: u64 = 0x7E02_0000;
    let mut syscalls = vec![
        allow(BASE),
        Rule {
            includes: Filter {
                min_kernel: Some("4.8".into()),
                ..Filter::default()
            },
            ..allow("process_vm_readv process_vm_writev ptrace")
        },
        // No AF_ALG (38) and no AF_VSOCK (40) sockets.
        arg0("socket", "SCMP_CMP_LT", 38),
        arg0("socket", "SCMP_CMP_EQ", 39),
        arg0("socket", "SCMP_CMP_GT", 40),
        arg0("personality", "SCMP_CMP_EQ", 0x0),
        arg0("personality", "SCMP_CMP_EQ", 0x8),
        arg0("personality", "SCMP_CMP_EQ", 0x20000),
        arg0("personality", "SCMP_CMP_EQ", 0x20008),
        arg0("personality", "SCMP_CMP_EQ", 0xffffffff),
        on_arches("sync_file_range2 swapcontext", &["ppc64le"]),
        on_arches(
            "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
            &["arm", "arm64"],
        ),
        on_arches("arch_prctl", &["amd64", "x32"]),
        on_arches("modify_ldt", &["amd64", "x32", "x86"]),
        on_arches(
            "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
            &["s390", "s390x"],
        ),
        on_arches("riscv_flush_icache", &["riscv64"]),
        with_caps("open_by_handle_at", &["CAP_DAC_READ_SEARCH"]),
        with_caps(
            "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare",
            &["CAP_SYS_ADMIN"],
        ),
        // Without CAP_SYS_ADMIN, clone may not create namespaces (s390 passes flags in arg 1).
        Rule {
            args: vec![Arg {
                index: 0,
                value: CLONE_NS_MASK,
                value_two: 0,
                op: "SCMP_CMP_MASKED_EQ".into(),
            }],
            excludes: Filter {
                caps: vec!["CAP_SYS_ADMIN".into()],
                arches: vec!["s390".into(), "s390x".into()],
                ..Filter::default()
            },
            ..allow("clone")
        },
        Rule {
            args: vec![Arg {
                index: 1,
                value: CLONE_NS_MASK,
                value_two: 0,
                op: "SCMP_CMP_MASKED_EQ".into(),
            }],
            includes: Filter::arches(&["s390", "s390x"]),
            excludes: Filter::caps(&["CAP_SYS_ADMIN"]),
            ..allow("clone")
        },
        // clone3 cannot be filtered by flags: ENOSYS makes libc fall back to clone.
        Rule {
            names: names("clone3"),
            action: "SCMP_ACT_ERRNO".into(),
            errno_ret: Some(38),
            excludes: Filter::caps(&["CAP_SYS_ADMIN"]),
            ..Rule::default()
        },
        with_caps("reboot", &["CAP_SYS_BOOT"]),
        with_caps("chroot", &["CAP_SYS_CHROOT"]),
        with_caps(
            "delete_module init_module finit_module",
            &["CAP_SYS_MODULE"],
        ),
        with_caps("acct", &["CAP_SYS_PACCT"]),
        with_caps(
            "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
            &["CAP_SYS_PTRACE"],
        ),
        with_caps("iopl ioperm", &["CAP_SYS_RAWIO"]),
        with_caps(
            "settimeofday stime clock_settime clock_settime64",
            &["CAP_SYS_TIME"],
        ),
        with_caps("vhangup", &["CAP_SYS_TTY_CONFIG"]),
        with_caps(
            "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
            &["CAP_SYS_NICE"],
        ),
        with_caps("syslog", &["CAP_SYSLOG"]),
        with_caps("bpf", &["CAP_BPF"]),
        with_caps("perf_event_open", &["CAP_PERFMON"]),
    ];
    syscalls.retain(|r| !r.names.is_empty());
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(1),
        arch_map: vec![
            arch_map("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            arch_map("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
            arch_map(
                "SCMP_ARCH_MIPS64",
                &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
            ),
            arch_map(
                "SCMP_ARCH_MIPS64N32",
                &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
            ),
            arch_map(
                "SCMP_ARCH_MIPSEL64",
                &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
            ),
            arch_map(
                "SCMP_ARCH_MIPSEL64N32",
                &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
            ),
            arch_map("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
            arch_map("SCMP_ARCH_RISCV64", &[]),
            arch_map("SCMP_ARCH_LOONGARCH64", &[]),
        ],
        syscalls,
        ..Profile::default()
    }
}
