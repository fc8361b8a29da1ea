//! IPv4 address management: subnets, ranges, gateways and free addresses; default subnets
//! chosen outside every route of the host and every other network.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{Error, Result};

/// An IPv4 subnet (`a.b.c.d/n`, stored with the host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || Error::Invalid(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Subnet::new(addr, prefix))
    }

    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }

    fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    fn last(&self) -> u32 {
        u32::from(self.addr) | !mask(self.prefix)
    }

    /// The conventional gateway: the first host address.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + u32::from(self.prefix < 31))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// An IPv6 subnet (`fd00:1::/64`, host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Subnet6 {
    pub fn parse(s: &str) -> Result<Subnet6> {
        let bad = || Error::Invalid(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 128 {
            return Err(bad());
        }
        Ok(Subnet6 {
            addr: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        })
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask6(self.prefix) == u128::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let p = self.prefix.min(other.prefix);
        u128::from(self.addr) & mask6(p) == u128::from(other.addr) & mask6(p)
    }

    /// The conventional gateway: `::1` of the subnet.
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) + 1)
    }

    /// The lowest free address after the gateway.
    pub fn allocate(&self, gateway: Ipv6Addr, used: &HashSet<Ipv6Addr>) -> Option<Ipv6Addr> {
        let first = u128::from(self.addr) + 1;
        let last = u128::from(self.addr) | !mask6(self.prefix);
        (first..=last.min(first + 1_000_000))
            .map(Ipv6Addr::from)
            .find(|ip| *ip != gateway && !used.contains(ip))
    }

    /// A unique local /64 (fdXX:XXXX:XXXX:YYYY::/64) from random bits.
    pub fn random_ula(random: &[u8; 7]) -> Subnet6 {
        let mut b = [0u8; 16];
        b[0] = 0xfd;
        b[1..8].copy_from_slice(random);
        Subnet6 {
            addr: Ipv6Addr::from(b),
            prefix: 64,
        }
    }
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The lowest free address of `range` (or the subnet) that is neither the subnet's network
/// nor broadcast address, nor the gateway, nor in `used`.
pub fn allocate(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let (lo, hi) = (r.first().max(subnet.first()), r.last().min(subnet.last()));
    (lo..=hi)
        .map(Ipv4Addr::from)
        .filter(|ip| {
            subnet.prefix >= 31
                || (u32::from(*ip) != subnet.first() && u32::from(*ip) != subnet.last())
        })
        .find(|ip| *ip != gateway && !used.contains(ip))
}

/// Docker's default pools, in its order: 172.17–31.0.0/16, then 192.168.0–240.0/20.
fn default_pools() -> impl Iterator<Item = Subnet> {
    (17..=31u8)
        .map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16))
        .chain((0..16u8).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20)))
}

/// The first default pool that overlaps neither a host route nor `taken`.
pub fn pick_subnet(taken: &[Subnet]) -> Result<Subnet> {
    let routes = host_routes();
    default_pools()
        .find(|s| !taken.iter().chain(routes.iter()).any(|t| t.overlaps(s)))
        .ok_or_else(|| {
            Error::Invalid(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
}

/// Destinations of this network namespace's IPv4 routes, except the default route
/// (`/proc/net/route`: the kernel's main table, hexadecimal little-endian).
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            let prefix = m.count_ones() as u8;
            (prefix > 0).then(|| Subnet::new(Ipv4Addr::from(dest.swap_bytes()), prefix))
        })
        .collect()
}

/// Docker's MAC for an address: 02:42 and the four bytes of the address.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || Error::Invalid(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_overlap_and_allocate() {
        let s = Subnet::parse("10.9.8.7/24").expect("parse");
        assert_eq!(s.to_string(), "10.9.8.0/24");
        assert!(s.overlaps(&Subnet::parse("10.9.0.0/16").expect("parse")));
        assert!(!s.overlaps(&Subnet::parse("10.9.9.0/24").expect("parse")));
        assert!(Subnet::parse("10.0.0.0/33").is_err());
        assert!(Subnet::parse("10.0.0/8").is_err());
        let gw = s.first_host();
        assert_eq!(gw, Ipv4Addr::new(10, 9, 8, 1));
        let mut used = HashSet::new();
        let a = allocate(&s, None, gw, &used).expect("free");
        assert_eq!(a, Ipv4Addr::new(10, 9, 8, 2));
        used.insert(a);
        assert_eq!(
            allocate(&s, None, gw, &used),
            Some(Ipv4Addr::new(10, 9, 8, 3))
        );
        let range = Subnet::parse("10.9.8.128/30").expect("parse");
        assert_eq!(
            allocate(&s, Some(&range), gw, &used),
            Some(Ipv4Addr::new(10, 9, 8, 128))
        );
        let tiny = Subnet::parse("10.1.1.0/30").expect("parse");
        let used: HashSet<_> = [Ipv4Addr::new(10, 1, 1, 2)].into();
        assert_eq!(allocate(&tiny, None, tiny.first_host(), &used), None);
        assert_eq!(
            mac_string(&mac_of(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
        assert_eq!(
            parse_mac("02:42:ac:11:00:02").expect("mac"),
            mac_of(Ipv4Addr::new(172, 17, 0, 2))
        );
    }

    #[test]
    fn ipv6_subnets() {
        let s = Subnet6::parse("fd00:1:2::7/64").expect("parse");
        assert_eq!(s.to_string(), "fd00:1:2::/64");
        assert_eq!(s.first_host().to_string(), "fd00:1:2::1");
        let used: HashSet<Ipv6Addr> = ["fd00:1:2::2".parse().expect("ip")].into();
        assert_eq!(
            s.allocate(s.first_host(), &used).map(|i| i.to_string()),
            Some("fd00:1:2::3".into())
        );
        assert!(s.overlaps(&Subnet6::parse("fd00:1::/32").expect("parse")));
        assert!(Subnet6::parse("fd00::/129").is_err());
        assert!(
            Subnet6::random_ula(&[1, 2, 3, 4, 5, 6, 7])
                .to_string()
                .starts_with("fd01:203:405:607::")
        );
    }

    #[test]
    fn default_subnets_skip_taken_ones() {
        let first = pick_subnet(&[]).expect("a pool");
        let second = pick_subnet(&[first]).expect("another pool");
        assert!(!first.overlaps(&second));
    }
}
