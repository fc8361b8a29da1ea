//! Berth's default seccomp profile against Docker's (the reference copy in
//! `../shared/reference/`): both are resolved for the same capabilities and kernel, compiled by
//! libseccomp, and the two BPF programs are asked for their decision on every x86_64, x86 and
//! x32 syscall number, with argument values around every boundary the rules test. Skips when
//! the reference copy is absent (a user's checkout).

use std::path::PathBuf;

use berth_runtime::seccomp::bpf::{self, Data};
use berth_runtime::seccomp::profile::Target;
use berth_runtime::seccomp::{Profile, compile, default};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const X32_BIT: i32 = 0x4000_0000;

fn reference() -> Option<Profile> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/docker-default-seccomp.json");
    let data = std::fs::read(&p).ok()?;
    Some(Profile::from_json(&data).expect("reference profile parses"))
}

fn caps(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| (*c).to_owned()).collect()
}

const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Capability sets to compare under: none, Berth's and Docker's defaults, every capability that
/// unlocks a rule alone, and all of them together.
fn cap_sets(reference: &Profile) -> Vec<Vec<String>> {
    let mut unlocking: Vec<String> = reference
        .syscalls
        .iter()
        .flat_map(|r| {
            r.includes
                .caps
                .iter()
                .chain(r.excludes.caps.iter())
                .cloned()
        })
        .collect();
    unlocking.sort();
    unlocking.dedup();
    let mut sets = vec![
        Vec::new(),
        caps(&berth_runtime::spec::DEFAULT_CAPS),
        caps(&DOCKER_DEFAULT),
        unlocking.clone(),
    ];
    sets.extend(unlocking.iter().map(|c| vec![c.clone()]));
    sets
}

/// Argument values around every constant the rules compare with.
fn arg_values(p: &Profile) -> Vec<u64> {
    let mut v = vec![0u64, 1, 0x11, u64::MAX];
    for r in &p.syscalls {
        for a in &r.args {
            for x in [a.value, a.value_two] {
                v.extend([x, x.wrapping_sub(1), x.wrapping_add(1)]);
            }
            // Each single flag bit of a mask.
            v.extend((0..32).map(|b| 1u64 << b).filter(|b| a.value & b != 0));
        }
    }
    v.sort();
    v.dedup();
    v
}

#[test]
fn default_profile_decides_like_docker() {
    let Some(docker) = reference() else {
        eprintln!("skipped: ../shared/reference/docker-default-seccomp.json is not present");
        return;
    };
    let berth = default::profile();
    let args_docker = arg_values(&docker);
    let mut checked = 0u64;
    for kernel in [(6, 18), (4, 4)] {
        for set in cap_sets(&docker) {
            let target = Target {
                arch: "amd64".into(),
                caps: set.clone(),
                kernel,
            };
            let ours = compile(&berth.resolve(&target)).expect("berth compiles");
            let theirs = compile(&docker.resolve(&target)).expect("docker compiles");
            let mut cases: Vec<(u32, i32)> = Vec::new();
            for nr in 0..=470 {
                cases.push((AUDIT_ARCH_X86_64, nr));
                cases.push((AUDIT_ARCH_I386, nr));
                cases.push((AUDIT_ARCH_X86_64, nr | X32_BIT));
            }
            cases.push((AUDIT_ARCH_X86_64, 512 | X32_BIT));
            cases.push((AUDIT_ARCH_AARCH64, 0));
            for (arch, nr) in cases {
                // Argument-filtered syscalls get every interesting value in arg 0 and arg 1.
                let filtered = ["socket", "personality", "clone"].iter().any(|n| {
                    let sys = libseccomp::ScmpSyscall::from_name(n).expect("known syscall");
                    i32::from(sys) == (nr & !X32_BIT)
                });
                let values: &[u64] = if filtered { &args_docker } else { &[0] };
                for &a0 in values {
                    for &a1 in if filtered {
                        &[0u64, 0x7E02_0000][..]
                    } else {
                        &[0u64][..]
                    } {
                        let d = Data {
                            nr,
                            arch,
                            ip: 0,
                            args: [a0, a1, 0, 0, 0, 0],
                        };
                        let (x, y) = (bpf::run(&ours.bpf, &d), bpf::run(&theirs.bpf, &d));
                        assert!(x.is_some(), "berth's program did not run for {d:?}");
                        assert_eq!(
                            x, y,
                            "decision differs for nr {nr:#x} arch {arch:#x} args {a0:#x},{a1:#x} caps {set:?} kernel {kernel:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 50_000, "{checked}");
}

#[test]
fn the_interpreter_sees_real_decisions() {
    // A sanity check of the test itself: under the default profile `mount` is EPERM without
    // CAP_SYS_ADMIN and allowed with it; `read` is always allowed.
    let p = default::profile();
    let nr = |n: &str| i32::from(libseccomp::ScmpSyscall::from_name(n).expect("known"));
    let plain = compile(&p.resolve(&Target {
        arch: "amd64".into(),
        caps: vec![],
        kernel: (6, 1),
    }))
    .expect("compile");
    let admin = compile(&p.resolve(&Target {
        arch: "amd64".into(),
        caps: caps(&["CAP_SYS_ADMIN"]),
        kernel: (6, 1),
    }))
    .expect("compile");
    let d = |n: &str| Data {
        nr: nr(n),
        arch: AUDIT_ARCH_X86_64,
        ip: 0,
        args: [0; 6],
    };
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO_EPERM: u32 = 0x0005_0001;
    assert_eq!(bpf::run(&plain.bpf, &d("read")), Some(ALLOW));
    assert_eq!(bpf::run(&plain.bpf, &d("mount")), Some(ERRNO_EPERM));
    assert_eq!(bpf::run(&admin.bpf, &d("mount")), Some(ALLOW));
    assert_eq!(
        bpf::run(&plain.bpf, &d("clone3")),
        Some(0x0005_0000 | 38),
        "clone3 is ENOSYS"
    );
    let mut af_vsock = d("socket");
    af_vsock.args[0] = 40;
    assert_eq!(bpf::run(&plain.bpf, &af_vsock), Some(ERRNO_EPERM));
}

#[test]
fn compiled_filters_are_cached_by_their_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = default::profile().resolve(&Target::host(&caps(&berth_runtime::spec::DEFAULT_CAPS)));
    let a = berth_runtime::seccomp::compile_cached(&p, dir.path()).expect("compile");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1, "one cached program");
    let b = berth_runtime::seccomp::compile_cached(&p, dir.path()).expect("cached");
    assert_eq!(a.bpf, b.bpf);
    let other = default::profile().resolve(&Target::host(&caps(&["CAP_SYS_ADMIN"])));
    berth_runtime::seccomp::compile_cached(&other, dir.path()).expect("compile");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        2,
        "different inputs, different entry"
    );
}
