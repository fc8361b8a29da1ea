//! nftables over netlink (`NETLINK_NETFILTER`): tables, chains and rules sent as one batch,
//! which the kernel applies atomically or not at all. Hand-written against the kernel's ABI
//! (`linux/netfilter/nf_tables.h`) for the few expressions Berth uses: the Rust nftables
//! crates are GPL-3.0 (rustables) or wrap libnftnl (nftnl), and Berth runs no `nft` process.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{Error, Result, kernel};

/// A protocol family of a table (`nfgenmsg.nfgen_family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Bridge,
}

impl Family {
    fn code(self) -> u8 {
        match self {
            Family::Inet => 1,   // NFPROTO_INET
            Family::Bridge => 7, // NFPROTO_BRIDGE
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }
}

/// Where a base chain hooks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    fn code(self) -> u32 {
        match self {
            Hook::Prerouting => 0,
            Hook::Forward => 2,
            Hook::Output => 3,
            Hook::Postrouting => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

/// A base chain's type, hook and priority (policy accept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    pub kind: &'static str,
    pub hook: Hook,
    pub priority: i32,
}

/// One match or statement of a rule, in the terms the rules are written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `iifname "x"` (a trailing `*` matches a prefix); `!=` when `negate`.
    Iifname {
        name: String,
        negate: bool,
    },
    Oifname {
        name: String,
        negate: bool,
    },
    /// `ip saddr 10.0.0.0/8`
    IpSaddr(Ipv4Addr, u8),
    /// `ip daddr 10.0.0.1`
    IpDaddr(Ipv4Addr),
    /// `ip6 saddr fd00::/64`
    Ip6Saddr(Ipv6Addr, u8),
    /// `tcp dport 80` (or udp, sctp)
    Dport {
        proto: Proto,
        port: u16,
    },
    /// `fib daddr type local`
    FibDaddrLocal,
    /// `ct status dnat`
    CtStatusDnat,
    /// `dnat ip to 10.0.0.2:80`
    Dnat(Ipv4Addr, u16),
    Masquerade,
    Drop,
    Jump(String),
    /// `ip saddr 10.0.0.2` in the bridge family (an IPv4 frame's source).
    BridgeIpSaddr(Ipv4Addr),
    /// `ip daddr 10.0.0.2` in the bridge family.
    BridgeIpDaddr(Ipv4Addr),
    /// `tcp sport 80` (or udp, sctp)
    Sport {
        proto: Proto,
        port: u16,
    },
    /// `meta l4proto tcp` (any port)
    L4proto(Proto),
    /// `tcp flags & (syn | ack) != syn`: a TCP segment that opens no connection.
    TcpNotSyn,
    Return,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }

    fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub base: Option<BaseChain>,
    pub rules: Vec<Vec<Expr>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub chains: Vec<Chain>,
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ne = |n: &bool| if *n { "!= " } else { "" };
        match self {
            Expr::Iifname { name, negate } => write!(f, "iifname {}\"{name}\"", ne(negate)),
            Expr::Oifname { name, negate } => write!(f, "oifname {}\"{name}\"", ne(negate)),
            Expr::IpSaddr(a, p) => write!(f, "ip saddr {a}/{p}"),
            Expr::IpDaddr(a) => write!(f, "ip daddr {a}"),
            Expr::Ip6Saddr(a, p) => write!(f, "ip6 saddr {a}/{p}"),
            Expr::Dport { proto, port } => write!(f, "{} dport {port}", proto.name()),
            Expr::FibDaddrLocal => write!(f, "fib daddr type local"),
            Expr::CtStatusDnat => write!(f, "ct status dnat"),
            Expr::Dnat(a, p) => write!(f, "dnat ip to {a}:{p}"),
            Expr::Masquerade => write!(f, "masquerade"),
            Expr::Drop => write!(f, "drop"),
            Expr::Jump(c) => write!(f, "jump {c}"),
            Expr::BridgeIpSaddr(a) => write!(f, "ip saddr {a}"),
            Expr::BridgeIpDaddr(a) => write!(f, "ip daddr {a}"),
            Expr::Sport { proto, port } => write!(f, "{} sport {port}", proto.name()),
            Expr::L4proto(p) => write!(f, "meta l4proto {}", p.name()),
            Expr::TcpNotSyn => write!(f, "tcp flags & (syn | ack) != syn"),
            Expr::Return => write!(f, "return"),
        }
    }
}

impl std::fmt::Display for Table {
    /// nft's own syntax, as `nft list table` would show it (for logs, docs and tests).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "table {} {} {{", self.family.name(), self.name)?;
        for c in &self.chains {
            writeln!(f, "  chain {} {{", c.name)?;
            if let Some(b) = &c.base {
                writeln!(
                    f,
                    "    type {} hook {} priority {}; policy accept;",
                    b.kind,
                    b.hook.name(),
                    b.priority
                )?;
            }
            for r in &c.rules {
                let words: Vec<String> = r.iter().map(|e| e.to_string()).collect();
                writeln!(f, "    {}", words.join(" "))?;
            }
            writeln!(f, "  }}")?;
        }
        writeln!(f, "}}")
    }
}

// ---- the wire format ----------------------------------------------------------------------

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const IFNAMSIZ: usize = 16;

/// Netlink attributes being written (a nested attribute's length is patched on close).
#[derive(Default)]
struct Attrs(Vec<u8>);

impl Attrs {
    fn put(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = 4 + value.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(value);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    fn u32be(&mut self, kind: u16, v: u32) -> &mut Self {
        self.put(kind, &v.to_be_bytes())
    }

    fn str(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(kind, &b)
    }

    fn nested(&mut self, kind: u16, f: impl FnOnce(&mut Attrs)) -> &mut Self {
        let mut inner = Attrs::default();
        f(&mut inner);
        self.put(kind | NLA_F_NESTED, &inner.0)
    }
}

/// One expression: `{NFTA_LIST_ELEM: {NFTA_EXPR_NAME, NFTA_EXPR_DATA}}`.
fn expr(list: &mut Attrs, name: &str, data: impl FnOnce(&mut Attrs)) {
    list.nested(1, |e| {
        e.str(1, name);
        e.nested(2, data);
    });
}

fn meta(list: &mut Attrs, key: u32) {
    expr(list, "meta", |a| {
        a.u32be(2, key).u32be(1, REG_1);
    });
}

fn cmp(list: &mut Attrs, negate: bool, data: &[u8]) {
    expr(list, "cmp", |a| {
        a.u32be(1, REG_1).u32be(2, u32::from(negate));
        a.nested(3, |d| {
            d.put(1, data);
        });
    });
}

fn payload(list: &mut Attrs, base: u32, offset: u32, len: u32) {
    expr(list, "payload", |a| {
        a.u32be(1, REG_1)
            .u32be(2, base)
            .u32be(3, offset)
            .u32be(4, len);
    });
}

fn bitwise(list: &mut Attrs, mask: &[u8]) {
    let xor = vec![0u8; mask.len()];
    expr(list, "bitwise", |a| {
        a.u32be(1, REG_1)
            .u32be(2, REG_1)
            .u32be(3, mask.len() as u32);
        a.nested(4, |d| {
            d.put(1, mask);
        });
        a.nested(5, |d| {
            d.put(1, &xor);
        });
    });
}

fn verdict(list: &mut Attrs, code: i32, chain: Option<&str>) {
    expr(list, "immediate", |a| {
        a.u32be(1, REG_VERDICT);
        a.nested(2, |d| {
            d.nested(2, |v| {
                v.u32be(1, code as u32);
                if let Some(c) = chain {
                    v.str(2, c);
                }
            });
        });
    });
}

fn nfproto(list: &mut Attrs, proto: u8) {
    meta(list, 15); // NFT_META_NFPROTO
    cmp(list, false, &[proto]);
}

fn ifname(list: &mut Attrs, key: u32, name: &str, negate: bool) {
    meta(list, key);
    let data: Vec<u8> = match name.strip_suffix('*') {
        // A prefix: only its bytes are compared, as nft does for wildcards.
        Some(prefix) => prefix.as_bytes().to_vec(),
        None => {
            let mut b = name.as_bytes().to_vec();
            b.resize(IFNAMSIZ, 0);
            b
        }
    };
    cmp(list, negate, &data);
}

fn prefix_mask(len: usize, bits: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let b = i32::from(bits) - (i as i32) * 8;
            if b >= 8 {
                0xff
            } else if b <= 0 {
                0
            } else {
                0xffu8 << (8 - b)
            }
        })
        .collect()
}

fn masked(addr: &[u8], mask: &[u8]) -> Vec<u8> {
    addr.iter().zip(mask).map(|(a, m)| a & m).collect()
}

/// The rule's expressions as netlink attributes.
fn encode_rule(r: &[Expr]) -> Attrs {
    let mut l = Attrs::default();
    for e in r {
        match e {
            Expr::Iifname { name, negate } => ifname(&mut l, 6, name, *negate),
            Expr::Oifname { name, negate } => ifname(&mut l, 7, name, *negate),
            Expr::IpSaddr(a, p) => {
                nfproto(&mut l, 2);
                payload(&mut l, 1, 12, 4);
                let m = prefix_mask(4, *p);
                bitwise(&mut l, &m);
                cmp(&mut l, false, &masked(&a.octets(), &m));
            }
            Expr::IpDaddr(a) => {
                nfproto(&mut l, 2);
                payload(&mut l, 1, 16, 4);
                cmp(&mut l, false, &a.octets());
            }
            Expr::Ip6Saddr(a, p) => {
                nfproto(&mut l, 10);
                payload(&mut l, 1, 8, 16);
                let m = prefix_mask(16, *p);
                bitwise(&mut l, &m);
                cmp(&mut l, false, &masked(&a.octets(), &m));
            }
            Expr::Dport { proto, port } => {
                meta(&mut l, 16); // NFT_META_L4PROTO
                cmp(&mut l, false, &[proto.number()]);
                payload(&mut l, 2, 2, 2);
                cmp(&mut l, false, &port.to_be_bytes());
            }
            Expr::FibDaddrLocal => {
                expr(&mut l, "fib", |a| {
                    // NFTA_FIB_DREG, NFTA_FIB_RESULT = ADDRTYPE, NFTA_FIB_FLAGS = DADDR
                    a.u32be(1, REG_1).u32be(2, 3).u32be(3, 1 << 1);
                });
                cmp(&mut l, false, &2u32.to_ne_bytes()); // RTN_LOCAL
            }
            Expr::CtStatusDnat => {
                expr(&mut l, "ct", |a| {
                    a.u32be(1, REG_1).u32be(2, 2); // NFT_CT_STATUS
                });
                bitwise(&mut l, &0x20u32.to_ne_bytes()); // IPS_DST_NAT
                cmp(&mut l, true, &0u32.to_ne_bytes());
            }
            Expr::Dnat(a, p) => {
                nfproto(&mut l, 2);
                let imm = |l: &mut Attrs, reg: u32, v: &[u8]| {
                    expr(l, "immediate", |x| {
                        x.u32be(1, reg);
                        x.nested(2, |d| {
                            d.put(1, v);
                        });
                    });
                };
                imm(&mut l, REG_1, &a.octets());
                imm(&mut l, REG_2, &p.to_be_bytes());
                expr(&mut l, "nat", |x| {
                    // DNAT, NFPROTO_IPV4, address and port registers
                    x.u32be(1, 1).u32be(2, 2).u32be(3, REG_1).u32be(5, REG_2);
                });
            }
            Expr::Masquerade => expr(&mut l, "masq", |_| {}),
            Expr::Drop => verdict(&mut l, 0, None),
            Expr::Jump(c) => verdict(&mut l, -3, Some(c)),
            Expr::BridgeIpSaddr(a) | Expr::BridgeIpDaddr(a) => {
                // In the bridge family nfproto is the bridge's: the frame's ethertype says IPv4.
                meta(&mut l, 1); // NFT_META_PROTOCOL
                cmp(&mut l, false, &0x0800u16.to_be_bytes());
                let offset = if matches!(e, Expr::BridgeIpSaddr(_)) {
                    12
                } else {
                    16
                };
                payload(&mut l, 1, offset, 4);
                cmp(&mut l, false, &a.octets());
            }
            Expr::Sport { proto, port } => {
                meta(&mut l, 16); // NFT_META_L4PROTO
                cmp(&mut l, false, &[proto.number()]);
                payload(&mut l, 2, 0, 2);
                cmp(&mut l, false, &port.to_be_bytes());
            }
            Expr::L4proto(p) => {
                meta(&mut l, 16);
                cmp(&mut l, false, &[p.number()]);
            }
            Expr::TcpNotSyn => {
                meta(&mut l, 16);
                cmp(&mut l, false, &[Proto::Tcp.number()]);
                payload(&mut l, 2, 13, 1); // the flags byte
                bitwise(&mut l, &[0x12]); // SYN | ACK
                cmp(&mut l, true, &[0x02]);
            }
            Expr::Return => verdict(&mut l, -5, None), // NFT_RETURN
        }
    }
    l
}

/// Netlink messages of one batch. Only the last is acked: the kernel answers every failing
/// message anyway and processes a batch in order, so its ack means everything before it was
/// done (an ack per message needs a receive buffer of ~1 KB per message: a ruleset of a
/// dozen networks overflowed the default one).
struct Batch {
    buf: Vec<u8>,
    seq: u32,
    /// Every message's sequence number and what it does (to name the one that fails).
    names: Vec<(u32, String)>,
    /// Where the last message's flags are, to ask for its ack.
    last_flags: Option<usize>,
}

/// A batch ready to send: its bytes, its messages' names, the sequence number acked last.
struct Sealed {
    buf: Vec<u8>,
    names: Vec<(u32, String)>,
    last: Option<u32>,
}

impl Batch {
    fn new() -> Batch {
        let mut b = Batch {
            buf: Vec::new(),
            seq: 1,
            names: Vec::new(),
            last_flags: None,
        };
        b.msg(NFNL_MSG_BATCH_BEGIN, 0, NLM_F_REQUEST, &[], "");
        b
    }

    fn msg(&mut self, kind: u16, family: u8, flags: u16, attrs: &[u8], what: &str) {
        let seq = self.seq;
        self.seq += 1;
        let len = 16 + 4 + attrs.len();
        self.buf.extend_from_slice(&(len as u32).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        let flags_at = self.buf.len();
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version, resource id (the subsystem, for batch markers)
        self.buf.push(family);
        self.buf.push(0);
        let res = if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END {
            NFNL_SUBSYS_NFTABLES
        } else {
            0
        };
        self.buf.extend_from_slice(&res.to_be_bytes());
        self.buf.extend_from_slice(attrs);
        if !what.is_empty() {
            self.names.push((seq, what.to_owned()));
            self.last_flags = Some(flags_at);
        }
    }

    fn nft(&mut self, op: u16, family: Family, flags: u16, attrs: Attrs, what: String) {
        self.msg(
            (NFNL_SUBSYS_NFTABLES << 8) | op,
            family.code(),
            NLM_F_REQUEST | flags,
            &attrs.0,
            &what,
        );
    }

    fn finish(mut self) -> Sealed {
        if let Some(at) = self.last_flags {
            let f = u16::from_ne_bytes([self.buf[at], self.buf[at + 1]]) | NLM_F_ACK;
            self.buf[at..at + 2].copy_from_slice(&f.to_ne_bytes());
        }
        self.msg(NFNL_MSG_BATCH_END, 0, NLM_F_REQUEST, &[], "");
        let last = self.names.last().map(|(s, _)| *s);
        Sealed {
            buf: self.buf,
            names: self.names,
            last,
        }
    }
}

/// The batch that replaces tables `names` of `family` with `tables` (create-then-delete makes
/// the delete safe when a table is absent; the new ones follow in the same transaction).
fn replace_batch(family: Family, name: &str, table: Option<&Table>) -> Sealed {
    let mut b = Batch::new();
    let named = |n: &str| {
        let mut a = Attrs::default();
        a.str(1, n);
        a
    };
    b.nft(
        NFT_MSG_NEWTABLE,
        family,
        NLM_F_CREATE,
        named(name),
        format!("table {} {name}", family.name()),
    );
    b.nft(
        NFT_MSG_DELTABLE,
        family,
        0,
        named(name),
        format!("delete table {} {name}", family.name()),
    );
    if let Some(t) = table {
        b.nft(
            NFT_MSG_NEWTABLE,
            family,
            NLM_F_CREATE,
            named(&t.name),
            format!("table {}", t.name),
        );
        for c in &t.chains {
            let mut a = Attrs::default();
            a.str(1, &t.name).str(3, &c.name);
            if let Some(base) = &c.base {
                a.nested(4, |h| {
                    h.u32be(1, base.hook.code()).u32be(2, base.priority as u32);
                });
                a.u32be(5, 1); // policy accept
                a.str(7, base.kind);
            }
            b.nft(
                NFT_MSG_NEWCHAIN,
                family,
                NLM_F_CREATE,
                a,
                format!("chain {}", c.name),
            );
        }
        for c in &t.chains {
            for r in &c.rules {
                let mut a = Attrs::default();
                a.str(1, &t.name).str(2, &c.name);
                let exprs = encode_rule(r);
                a.put(4 | NLA_F_NESTED, &exprs.0);
                let text: Vec<String> = r.iter().map(|e| e.to_string()).collect();
                b.nft(
                    NFT_MSG_NEWRULE,
                    family,
                    NLM_F_CREATE | NLM_F_APPEND,
                    a,
                    format!("chain {}: {}", c.name, text.join(" ")),
                );
            }
        }
    }
    b.finish()
}

/// Replace the table `name` of `family` with `table` (or remove it: None), atomically.
pub fn replace(family: Family, name: &str, table: Option<&Table>) -> Result<()> {
    transact(&replace_batch(family, name, table))
}

fn transact(batch: &Sealed) -> Result<()> {
    let (buf, names) = (&batch.buf, &batch.names);
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) with constant arguments; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(kernel(
            "netlink (nftables)",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a descriptor we just opened and nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // Answers carry only the header of the message they answer, not the whole rule; the
    // send buffer holds the whole batch (one datagram: the default one fails a ruleset of two
    // dozen networks with EMSGSIZE), as nft(8) sizes it.
    let room: libc::c_int = (buf.len() + (1 << 16))
        .try_into()
        .unwrap_or(libc::c_int::MAX);
    for (level, opt, val) in [
        (libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, 1),
        (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, room),
    ] {
        // SAFETY: setsockopt with an int option value of its size.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                opt,
                (&val as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
    }
    let mut addr: libc::sockaddr_nl = {
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        unsafe { std::mem::zeroed() }
    };
    addr.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: sendto with our buffer and a valid kernel address.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if n < 0 {
        return Err(kernel(
            "netlink (nftables) send",
            std::io::Error::last_os_error(),
        ));
    }
    // Failures answer in order, then the last message's ack; the first failure names its
    // message.
    let mut pending: Vec<u32> = batch.last.into_iter().collect();
    let mut rbuf = vec![0u8; 1 << 16];
    let mut failure: Option<Error> = None;
    while !pending.is_empty() {
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid descriptor, 5 s at most.
        let ready = unsafe { libc::poll(&mut pfd, 1, 5000) };
        if ready <= 0 {
            return Err(kernel(
                "netlink (nftables)",
                "no answer from the kernel within 5 s",
            ));
        }
        // SAFETY: recv into our buffer of its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), rbuf.as_mut_ptr().cast(), rbuf.len(), 0) };
        if n < 0 {
            return Err(kernel(
                "netlink (nftables) receive",
                std::io::Error::last_os_error(),
            ));
        }
        let mut off = 0usize;
        let n = n as usize;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(rbuf[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
            let kind = u16::from_ne_bytes([rbuf[off + 4], rbuf[off + 5]]);
            let seq = u32::from_ne_bytes(rbuf[off + 8..off + 12].try_into().unwrap_or([0; 4]));
            if len < 16 || off + len > n {
                break;
            }
            if kind == NLMSG_ERROR && len >= 20 {
                let code =
                    i32::from_ne_bytes(rbuf[off + 16..off + 20].try_into().unwrap_or([0; 4]));
                pending.retain(|s| *s != seq);
                if code != 0 && failure.is_none() {
                    let what = names
                        .iter()
                        .find(|(s, _)| *s == seq)
                        .map(|(_, w)| w.as_str())
                        .unwrap_or("batch");
                    failure = Some(Error::Kernel {
                        ctx: format!("nftables: {what}"),
                        msg: std::io::Error::from_raw_os_error(-code).to_string(),
                    });
                }
            } else if kind == NLMSG_DONE {
                pending.clear();
            }
            off += (len + 3) & !3;
        }
        if failure.is_some() {
            // An aborted batch answers only up to the failing message.
            break;
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_attributes() {
        assert_eq!(prefix_mask(4, 8), [255, 0, 0, 0]);
        assert_eq!(prefix_mask(4, 20), [255, 255, 240, 0]);
        assert_eq!(prefix_mask(4, 32), [255; 4]);
        assert_eq!(masked(&[10, 1, 2, 3], &prefix_mask(4, 16)), [10, 1, 0, 0]);
        let mut a = Attrs::default();
        a.str(1, "abc");
        // len 8 (4 + "abc\0"), type 1, value, no padding needed.
        assert_eq!(a.0, [8, 0, 1, 0, b'a', b'b', b'c', 0]);
        let mut n = Attrs::default();
        n.nested(2, |x| {
            x.u32be(1, 7);
        });
        assert_eq!(n.0[..4], [12, 0, 2, 0x80]);
        assert_eq!(n.0[8..], [0, 0, 0, 7]);
        // A batch: begin, the messages (each acked), end.
        let t = Table {
            family: Family::Inet,
            name: "t".into(),
            chains: vec![Chain {
                name: "c".into(),
                base: None,
                rules: vec![vec![
                    Expr::Iifname {
                        name: "br*".into(),
                        negate: false,
                    },
                    Expr::Drop,
                ]],
            }],
        };
        let b = replace_batch(Family::Inet, "t", Some(&t));
        assert_eq!(b.names.len(), 5);
        assert_eq!(
            u16::from_ne_bytes([b.buf[4], b.buf[5]]),
            NFNL_MSG_BATCH_BEGIN
        );
        assert!(
            b.names[4].1.contains("iifname \"br*\" drop"),
            "{:?}",
            b.names[4]
        );
        assert_eq!(b.last, Some(b.names[4].0));
        // Only the last message asks for an ack.
        let mut acked = Vec::new();
        let mut off = 0;
        while off + 16 <= b.buf.len() {
            let len = u32::from_ne_bytes(b.buf[off..off + 4].try_into().expect("len")) as usize;
            let flags = u16::from_ne_bytes([b.buf[off + 6], b.buf[off + 7]]);
            if flags & NLM_F_ACK != 0 {
                acked.push(u32::from_ne_bytes(
                    b.buf[off + 8..off + 12].try_into().expect("seq"),
                ));
            }
            off += (len + 3) & !3;
        }
        assert_eq!(acked, vec![b.names[4].0]);
        assert_eq!(
            t.to_string(),
            "table inet t {\n  chain c {\n    iifname \"br*\" drop\n  }\n}\n"
        );
    }
}
