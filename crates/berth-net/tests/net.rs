//! Real topologies: every test runs in a network namespace of its own (bridges, veths and
//! nftables tables die with it), with container namespaces bind-mounted in a temp dir.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use berth_net::firewall::{self, Bridge, Publish};
use berth_net::ipam::{Subnet, mac_of};
use berth_net::link::{self, Endpoint};
use berth_net::netns;

/// Run `f` in a thread inside a new network namespace (its threads and children inherit it).
fn in_private_netns(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        f()
    })
    .join()
    .expect("the test thread");
}

fn sh_in(ns: &Path, cmd: &str) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["sh", "-c", cmd])
        .output()
        .expect("nsenter")
}

fn ping(ns: &Path, ip: Ipv4Addr) -> bool {
    sh_in(ns, &format!("ping -c1 -W1 {ip}")).status.success()
}

struct Namespaces(Vec<std::path::PathBuf>);
impl Drop for Namespaces {
    fn drop(&mut self) {
        for p in &self.0 {
            netns::remove(p);
        }
    }
}

fn endpoint(n: u8, bridge: &str, subnet: Subnet, prefix: &str) -> Endpoint {
    let ip = Ipv4Addr::from(u32::from(subnet.addr) + u32::from(n));
    Endpoint {
        host_if: format!("{prefix}{n:04x}"),
        if_name: "eth0".into(),
        bridge: bridge.into(),
        ip,
        prefix: subnet.prefix,
        mac: mac_of(ip),
        gateway: Some(subnet.first_host()),
        ip6: None,
        gateway6: None,
        mtu: None,
    }
}

#[test]
fn bridges_connect_isolate_and_publish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().to_owned();
    in_private_netns(move || {
        firewall::sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
        link::loopback_up(Path::new("/proc/thread-self/ns/net")).expect("lo up");
        let a = Subnet::parse("10.77.0.0/24").expect("subnet");
        let b = Subnet::parse("10.78.0.0/24").expect("subnet");
        link::ensure_bridge("brt-a", a.first_host(), 24, None, None).expect("bridge a");
        link::ensure_bridge("brt-a", a.first_host(), 24, None, None).expect("idempotent");
        link::ensure_bridge("brt-b", b.first_host(), 24, None, None).expect("bridge b");
        let nss = Namespaces((1..=3).map(|i| base.join(format!("c{i}"))).collect());
        for p in &nss.0 {
            netns::create(p).expect("netns");
            assert!(netns::is_mounted(p));
        }
        link::attach(&nss.0[0], &endpoint(2, "brt-a", a, "vbaa")).expect("attach 1");
        link::attach(&nss.0[1], &endpoint(3, "brt-a", a, "vbaa")).expect("attach 2");
        link::attach(&nss.0[2], &endpoint(2, "brt-b", b, "vbbb")).expect("attach 3");
        let ip = |s: Subnet, n: u32| Ipv4Addr::from(u32::from(s.addr) + n);
        assert!(ping(&nss.0[0], ip(a, 3)), "same bridge");
        // Routed between bridges until the firewall isolates them.
        assert!(ping(&nss.0[0], ip(b, 2)), "routed before isolation");
        let bridges = vec![
            Bridge {
                name: "brt-a".into(),
                subnet: a,
                icc: true,
                internal: false,
                masquerade: true,
                port_prefix: "vbaa".into(),
                subnet6: None,
            },
            Bridge {
                name: "brt-b".into(),
                subnet: b,
                icc: true,
                internal: false,
                masquerade: true,
                port_prefix: "vbbb".into(),
                subnet6: None,
            },
        ];
        let publish = vec![Publish {
            proto: "tcp".into(),
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 18080,
            container_ip: ip(a, 2),
            container_port: 80,
        }];
        firewall::sysctl("net.ipv4.conf.brt-a.route_localnet", "1").expect("route_localnet");
        firewall::apply(&bridges, &publish, &Default::default()).expect("nft");
        assert!(!ping(&nss.0[0], ip(b, 2)), "isolated networks");
        assert!(!ping(&nss.0[2], ip(a, 2)), "isolated networks, both ways");
        assert!(ping(&nss.0[0], ip(a, 3)), "same bridge still");
        // icc off: same-bridge traffic dropped, the published port still answers.
        let mut off = bridges.clone();
        off[0].icc = false;
        firewall::apply(&off, &publish, &Default::default()).expect("nft");
        assert!(!ping(&nss.0[0], ip(a, 3)), "icc off");
        let mut server = Command::new("nsenter")
            .arg(format!("--net={}", nss.0[0].display()))
            .args(["busybox", "nc", "-l", "-p", "80", "-e", "echo", "hello"])
            .spawn()
            .expect("server");
        let mut got = String::new();
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:18080") {
                use std::io::Read;
                let _ = s.read_to_string(&mut got);
                if !got.is_empty() {
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(got, "hello\n", "published port through the host's loopback");
        firewall::clear().expect("clear");
        let out = Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .expect("nft");
        assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
        link::delete("brt-a").expect("delete");
        assert!(!link::exists("brt-a").expect("exists"));
    });
}

/// A ruleset far larger than a default netlink socket's buffers goes in as one transaction,
/// and a batch whose message fails deep inside is refused whole, naming that message, with
/// the table before it left as it was.
#[test]
fn a_large_ruleset_is_one_transaction() {
    use berth_net::nft::{Chain, Expr, Family, Proto, Table};
    in_private_netns(|| {
        let table = |rules: Vec<Vec<Expr>>| Table {
            family: Family::Inet,
            name: "bigtest".into(),
            chains: vec![Chain {
                name: "c".into(),
                base: None,
                rules,
            }],
        };
        let rule = |i: u32| {
            vec![
                Expr::IpDaddr(Ipv4Addr::from(0x0a00_0000 + i)),
                Expr::Dport {
                    proto: Proto::Tcp,
                    port: (i % 60000) as u16 + 1,
                },
                Expr::Drop,
            ]
        };
        let count = || {
            let o = Command::new("nft")
                .args(["list", "table", "inet", "bigtest"])
                .output()
                .expect("nft");
            String::from_utf8_lossy(&o.stdout).matches(" drop").count()
        };
        let big: Vec<_> = (0..3000).map(rule).collect();
        berth_net::nft::replace(Family::Inet, "bigtest", Some(&table(big.clone())))
            .expect("3000 rules in one batch");
        assert_eq!(count(), 3000);
        let mut bad = big;
        bad.truncate(2000);
        bad.push(vec![Expr::Jump("nosuchchain".into())]);
        bad.extend((0..500).map(rule));
        let err = berth_net::nft::replace(Family::Inet, "bigtest", Some(&table(bad)))
            .expect_err("a jump to a missing chain");
        assert!(err.to_string().contains("nosuchchain"), "{err}");
        assert_eq!(count(), 3000, "the failed batch changed nothing");
        berth_net::nft::replace(Family::Inet, "bigtest", None).expect("remove");
        assert_eq!(count(), 0);
    });
}
