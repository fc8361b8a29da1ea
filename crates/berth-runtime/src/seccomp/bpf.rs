//! A small interpreter for classic-BPF seccomp programs, so tests can ask what a compiled filter
//! decides for a syscall (number, arch, arguments) without loading it. Only the instructions
//! seccomp programs use (loads from `seccomp_data`, ALU, jumps, returns) are supported.

/// `struct seccomp_data` as the filter sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Data {
    pub nr: i32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> Option<u32> {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        bytes[8..16].copy_from_slice(&self.ip.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            bytes[16 + i * 8..24 + i * 8].copy_from_slice(&a.to_ne_bytes());
        }
        let o = off as usize;
        let b = bytes.get(o..o + 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Run `prog` (host byte order `sock_filter`s) on `data`; the seccomp return value, or `None`
/// for a program that is malformed or uses an unsupported instruction.
pub fn run(prog: &[u8], data: &Data) -> Option<u32> {
    let insns: Vec<(u16, u8, u8, u32)> = prog
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let mut mem = [0u32; 16];
    for _ in 0..100_000 {
        let (code, jt, jf, k) = *insns.get(pc)?;
        pc += 1;
        match code {
            0x20 => a = data.word(k)?,         // ld [k]
            0x00 => a = k,                     // ld #k
            0x01 => x = k,                     // ldx #k
            0x60 => a = *mem.get(k as usize)?, // ld M[k]
            0x61 => x = *mem.get(k as usize)?, // ldx M[k]
            0x02 => *mem.get_mut(k as usize)? = a,
            0x03 => *mem.get_mut(k as usize)? = x,
            0x07 => x = a,  // tax
            0x87 => a = x,  // txa
            0x54 => a &= k, // and #k
            0x5c => a &= x,
            0x44 => a |= k,
            0x04 => a = a.wrapping_add(k),
            0x14 => a = a.wrapping_sub(k),
            0x05 => pc += k as usize, // ja
            0x15 | 0x25 | 0x35 | 0x45 | 0x1d | 0x2d | 0x3d | 0x4d => {
                let v = if code & 0x08 != 0 { x } else { k };
                let cond = match code & 0xf0 {
                    0x10 => a == v,
                    0x20 => a > v,
                    0x30 => a >= v,
                    _ => a & v != 0,
                };
                pc += if cond { jt as usize } else { jf as usize };
            }
            0x06 => return Some(k), // ret #k
            0x16 => return Some(a), // ret a
            _ => return None,
        }
    }
    None
}
