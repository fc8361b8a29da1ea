//! Device access control on cgroup v2: the device rules become an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's cgroup (v2 has no devices.allow).
//! Rules are checked from last to first and the first that matches decides, which gives v1's
//! semantics for the usual "deny all, then allow some" lists; no rule matching means deny.
//! Written by hand because no maintained crate emits such programs; the instruction set used is
//! tiny (loads, ALU on immediates, conditional jumps, exit).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};

/// One device rule: `typ` is 'a', 'b' or 'c'; `None` major/minor are wildcards; `access` a
/// subset of "rwm".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

/// Parse v1 syntax ("a", "c 1:3 rwm", "b *:* m") as the engine and spec produce it.
pub fn parse(allow: bool, text: &str) -> Option<Rule> {
    let mut it = text.split_whitespace();
    let typ = it.next()?.chars().next()?;
    let (major, minor, access) = match (it.next(), it.next()) {
        (Some(mm), Some(acc)) => {
            let (a, b) = mm.split_once(':')?;
            let num = |s: &str| {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            (num(a)?, num(b)?, acc.to_owned())
        }
        _ => (None, None, "rwm".to_owned()),
    };
    Some(Rule {
        allow,
        typ,
        major,
        minor,
        access,
    })
}

/// A raw eBPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV32_K: u8 = 0xb4;
const MOV32_X: u8 = 0xbc;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

/// The program for `rules`.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    // r1 = struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),        // r2 = access_type
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = type (1 block, 2 char)
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16), // r3 = access (1 mknod, 2 read, 4 write)
        insn(LDX_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_W, 5, 1, 8, 0),    // r5 = minor
    ];
    for r in rules.iter().rev() {
        let mut block = Vec::new();
        match r.typ {
            'b' => block.push(insn(JNE_K, 2, 0, 0, 1)),
            'c' => block.push(insn(JNE_K, 2, 0, 0, 2)),
            _ => {}
        }
        let mask: i32 = r
            .access
            .chars()
            .map(|c| match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => 0,
            })
            .sum();
        if mask != 7 {
            // The requested access must lie inside the rule's: (r3 & ~mask) == 0.
            block.push(insn(MOV32_X, 6, 3, 0, 0));
            block.push(insn(AND32_K, 6, 0, 0, !mask & 7));
            block.push(insn(JNE_K, 6, 0, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV32_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Every conditional jump skips to the end of this block (the next rule).
        let len = block.len() as i16;
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = len - i as i16 - 1;
            }
        }
        let matches_all = !block.iter().any(|i| i.code == JNE_K);
        p.extend(block);
        if matches_all {
            // Nothing after a rule that matches everything can run (the verifier refuses
            // unreachable code).
            return p;
        }
    }
    p.push(insn(MOV32_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: `attr` is a properly laid out bpf_attr prefix of the size we pass.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Load the program for `rules` and attach it to the v2 cgroup at `dir`.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = program(rules);
    let license = c"Apache";
    let mut log = vec![0u8; 4096];
    let mut attr = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..LoadAttr::default()
    };
    attr.prog_name[..12].copy_from_slice(b"berth_device");
    let fd = bpf(BPF_PROG_LOAD, &mut attr).map_err(|e| {
        let msg = String::from_utf8_lossy(&log);
        Error::Cgroup(format!(
            "load device filter: {e}: {}",
            msg.trim_end_matches('\0').trim()
        ))
    })?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor we own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cg = std::fs::File::open(dir)
        .map_err(|e| Error::Cgroup(format!("open {}: {e}", dir.display())))?;
    let mut at = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut at)
        .map_err(|e| Error::Cgroup(format!("attach device filter to {}: {e}", dir.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_v1_syntax() {
        assert_eq!(
            parse(false, "a"),
            Some(Rule {
                allow: false,
                typ: 'a',
                major: None,
                minor: None,
                access: "rwm".into()
            })
        );
        assert_eq!(
            parse(true, "c 136:* rw"),
            Some(Rule {
                allow: true,
                typ: 'c',
                major: Some(136),
                minor: None,
                access: "rw".into()
            })
        );
        assert_eq!(
            parse(true, "x"),
            Some(Rule {
                allow: true,
                typ: 'x',
                major: None,
                minor: None,
                access: "rwm".into()
            })
        );
        assert!(parse(true, "c 1 rw").is_none());
    }

    #[test]
    fn jumps_land_on_the_next_rule() {
        let p = program(&[
            parse(false, "a").expect("rule"),
            parse(true, "c 1:3 rw").expect("rule"),
        ]);
        // prologue 6, rule "c 1:3 rw": type, 3 access, major, minor, mov, exit = 8; rule "a": 2
        // (it matches everything, so no default follows).
        assert_eq!(p.len(), 6 + 8 + 2);
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JNE_K {
                let target = i as i64 + 1 + i64::from(ins.off);
                assert!(target == 14, "jump at {i} goes to {target}");
            }
        }
        // Without a catch-all rule, the program ends in a default deny.
        let p = program(&[parse(true, "c 1:3 rw").expect("rule")]);
        assert_eq!(p.len(), 6 + 8 + 2);
    }
}
