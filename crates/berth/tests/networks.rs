//! Networks through the daemon, with real bridges, veths and nftables rules: every daemon
//! runs in a network namespace of its own (its "host"), so published ports are reached on
//! that namespace's loopback and nothing of the machine's network is touched.

use std::process::Command;

mod common;

use common::Env;

impl Env {
    fn new() -> Env {
        Env::start("berth-networks-", "{}")
    }

    fn with_config(config: &str) -> Env {
        Env::start("berth-networks-", config)
    }

    /// A shell command in a container on `network` (exit code, output). The shell stays
    /// process 1 when `cmd` ends in `|| exit 1` (busybox `timeout` cannot stop process 1:
    /// it ignores signals it has no handler for).
    fn sh_on(&self, network: &str, cmd: &str) -> (i32, String) {
        let r = self.berth(&[
            "run",
            "--rm",
            "--network",
            network,
            "busybox",
            "sh",
            "-c",
            cmd,
        ]);
        (r.code, format!("{}{}", r.out, r.err))
    }

    /// What the daemon's namespace holds: its links and its nftables ruleset.
    fn host_state(&self) -> (String, String) {
        let links = self
            .daemon
            .sh_in_netns("ip -o link show | awk -F': ' '{print $2}'");
        let rules = self.daemon.sh_in_netns("nft list ruleset");
        (
            String::from_utf8_lossy(&links.stdout).into_owned(),
            String::from_utf8_lossy(&rules.stdout).into_owned(),
        )
    }

    /// GET `url` from the daemon's namespace (the containers' host): the body, if any.
    fn fetch_from_host(&self, url: &str) -> Option<String> {
        for _ in 0..50 {
            let o = self.daemon.sh_in_netns(&format!("curl -sS -m 2 {url}"));
            if o.status.success() {
                return Some(String::from_utf8_lossy(&o.stdout).into_owned());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }
}

/// A free TCP port in the daemon's namespace (fresh namespaces have all ports free; pick one
/// outside the ephemeral range so -P never takes it).
fn port(n: u16) -> String {
    (20000 + n).to_string()
}

#[test]
fn user_networks_resolve_names_and_isolate_each_other() {
    let mut env = Env::new();
    let before = env.host_state();
    env.ok(&["network", "create", "--subnet", "10.123.0.0/24", "front"]);
    env.ok(&["network", "create", "back"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web2",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let web_ip = env.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.front.IPAddress}}",
        "web",
    ]);
    let web_ip = web_ip.trim().to_owned();
    assert!(web_ip.starts_with("10.123.0."), "{web_ip}");
    // By name and by alias (both containers answer the alias: round-robin).
    let (code, out) = env.sh_on(
        "front",
        "wget -q -O- http://web/hostname; for i in 1 2 3 4; do wget -q -O- http://www/hostname; done; nslookup www",
    );
    assert_eq!(code, 0, "{out}");
    let web_id = env.ok(&["inspect", "-f", "{{.Id}}", "web"]);
    let web2_id = env.ok(&["inspect", "-f", "{{.Id}}", "web2"]);
    assert!(out.starts_with(&web_id[..12]), "{out}");
    assert!(
        out.contains(&web2_id[..12]) && out.matches(&web_id[..12]).count() >= 2,
        "both behind the alias: {out}"
    );
    assert!(
        out.matches("Address:").count() >= 3,
        "nslookup lists both: {out}"
    );
    // The embedded DNS server in resolv.conf; the container's own name in /etc/hosts.
    let (_, conf) = env.sh_on("front", "cat /etc/resolv.conf");
    assert!(conf.contains("nameserver 10.123.0.1"), "{conf}");
    // Another network cannot reach them, not even by address.
    let (code, out) = env.sh_on(
        "back",
        &format!("timeout 3 wget -q -O- http://{web_ip}/hostname || exit 1"),
    );
    assert_ne!(code, 0, "isolated networks: {out}");
    let (code, _) = env.sh_on("back", "nslookup web");
    assert_ne!(code, 0, "names of one network are not another's");
    // network connect: now it can.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "probe",
        "--network",
        "back",
        "busybox",
        "sleep",
        "100",
    ]);
    env.ok(&["network", "connect", "front", "probe"]);
    assert_eq!(
        env.ok(&["exec", "probe", "wget", "-q", "-O-", "http://web/hostname"]),
        format!("{}\n", &web_id[..12])
    );
    let nets: serde_json::Value = serde_json::from_str(&env.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        "probe",
    ]))
    .expect("json");
    let names: Vec<&String> = nets.as_object().expect("networks").keys().collect();
    assert_eq!(names, ["back", "front"]);
    env.ok(&["network", "disconnect", "front", "probe"]);
    let r = env.berth(&[
        "exec",
        "probe",
        "timeout",
        "3",
        "wget",
        "-q",
        "-O-",
        &format!("http://{web_ip}/"),
    ]);
    assert_ne!(r.code, 0, "disconnected");
    // In use: refused; inspect lists the containers.
    let r = env.berth(&["network", "rm", "front"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("has active endpoints"), "{}", r.err);
    let inspect = env.ok(&[
        "network",
        "inspect",
        "-f",
        "{{len .Containers}} {{(index .IPAM.Config 0).Subnet}}",
        "front",
    ]);
    assert_eq!(inspect, "2 10.123.0.0/24\n");
    // Everything removed: the daemon's namespace is as it was.
    env.ok(&["rm", "-f", "web", "web2", "probe"]);
    env.ok(&["network", "rm", "front", "back"]);
    // Veths go with their namespaces, in the kernel's background clean-up.
    let mut links = String::new();
    for _ in 0..100 {
        links = env.host_state().0;
        if !links.contains("vb") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!links.contains("br-"), "{links}");
    assert!(!links.contains("vb"), "no veth left: {links}");
    env.daemon.stop();
    assert_eq!(env.host_state(), before, "links and rules as before");
}

#[test]
fn published_ports_answer_on_the_hosts_loopback() {
    let mut env = Env::new();
    let p = port(1);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{p}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "web"]);
    assert_eq!(
        env.fetch_from_host(&format!("http://127.0.0.1:{p}/hostname")),
        Some(format!("{}\n", &id[..12]))
    );
    assert_eq!(
        env.ok(&["port", "web"]),
        format!("80/tcp -> 127.0.0.1:{p}\n")
    );
    assert!(env.ok(&["ps"]).contains(&format!("127.0.0.1:{p}->80/tcp")));
    // -P: every exposed port on a free port, shown by `port` (docker's CLI reads the same).
    env.ok(&[
        "run", "-d", "--name", "any", "-P", "--expose", "8080", "busybox", "httpd", "-f", "-p",
        "8080", "-h", "/etc",
    ]);
    let shown = env.ok(&["port", "any", "8080"]);
    let host_port = shown.trim().rsplit(':').next().expect("port").to_owned();
    assert!(host_port.parse::<u16>().is_ok_and(|p| p >= 1024), "{shown}");
    let d = env.docker(&["port", "any"]);
    assert_eq!(d.code, 0, "{}", d.err);
    assert!(
        d.out.contains(&format!("8080/tcp -> 0.0.0.0:{host_port}")),
        "{}",
        d.out
    );
    assert!(
        env.fetch_from_host(&format!("http://127.0.0.1:{host_port}/hostname"))
            .is_some()
    );
    // Hairpin: a container of the same bridge reaches the published port through the host's
    // address (the gateway), and the answer comes back through the same path.
    let gw = env.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    let (code, out) = env.sh_on(
        "bridge",
        &format!("wget -q -O- http://{}:{host_port}/hostname", gw.trim()),
    );
    let any_id = env.ok(&["inspect", "-f", "{{.Id}}", "any"]);
    assert_eq!((code, out), (0, format!("{}\n", &any_id[..12])), "hairpin");
    // A port already taken: docker's message, exit 125.
    let r = env.berth(&["run", "-d", "-p", &format!("{p}:80"), "busybox", "true"]);
    assert_eq!(r.code, 125, "{}", r.err);
    assert!(
        r.err.contains(&format!(
            "Bind for 0.0.0.0:{p} failed: port is already allocated"
        )),
        "{}",
        r.err
    );
    // Bad specs never reach the daemon.
    for (spec, msg) in [
        ("99999", "invalid containerPort: 99999"),
        ("70000:80", "invalid hostPort: 70000"),
        ("80/xtp", "invalid proto: xtp"),
    ] {
        let r = env.berth(&["run", "--rm", "-p", spec, "busybox", "true"]);
        assert_eq!(r.code, 125, "{spec}");
        assert!(r.err.contains(msg), "{spec}: {}", r.err);
    }
    // The daemon killed with SIGKILL: the container, its address and its port still work.
    env.daemon.kill9_and_restart();
    assert_eq!(
        env.fetch_from_host(&format!("http://127.0.0.1:{p}/hostname")),
        Some(format!("{}\n", &id[..12]))
    );
    assert_eq!(
        env.ok(&["port", "web"]),
        format!("80/tcp -> 127.0.0.1:{p}\n")
    );
    // Stopped: the port is free again; removed: no rule left for it.
    env.ok(&["rm", "-f", "web", "any"]);
    let (_, rules) = env.host_state();
    assert!(!rules.contains(&format!("dport {p}")), "{rules}");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "-p",
        &format!("127.0.0.1:{p}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    assert!(
        env.fetch_from_host(&format!("http://127.0.0.1:{p}/hostname"))
            .is_some()
    );
}

#[test]
fn icc_off_drops_traffic_between_containers_but_not_published_ports() {
    let env = Env::new();
    env.ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "quiet",
    ]);
    let p = port(2);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "quiet",
        "-p",
        &format!("127.0.0.1:{p}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let (code, out) = env.sh_on(
        "quiet",
        "timeout 3 wget -q -O- http://srv/hostname || exit 1",
    );
    assert_ne!(code, 0, "icc off: {out}");
    assert!(
        env.fetch_from_host(&format!("http://127.0.0.1:{p}/hostname"))
            .is_some()
    );
    // The same on a network with icc: it answers.
    env.ok(&["network", "create", "chatty"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv2",
        "--network",
        "chatty",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let (code, out) = env.sh_on("chatty", "wget -q -O- http://srv2/hostname");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_daemons_icc_setting_applies_to_the_default_bridge() {
    let env = Env::with_config(r#"{"icc": false}"#);
    env.ok(&[
        "run", "-d", "--name", "srv", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let ip = env.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "srv"]);
    let (code, out) = env.sh_on(
        "bridge",
        &format!(
            "timeout 3 wget -q -O- http://{}/hostname || exit 1",
            ip.trim()
        ),
    );
    assert_ne!(code, 0, "--icc=false: {out}");
    let v = env.ok(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.enable_icc\"}}",
        "bridge",
    ]);
    assert_eq!(v, "false\n");
}

#[test]
fn network_modes_and_container_settings() {
    let env = Env::new();
    // The default bridge: an address, a gateway, the host's resolvers, /etc/hosts.
    let (code, out) = env.sh_on(
        "bridge",
        "ip -4 -o addr show eth0; ip route; cat /etc/hosts",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("inet 172.") || out.contains("inet 192.168."),
        "{out}"
    );
    assert!(out.contains("default via"), "{out}");
    // none: loopback only.
    let (code, out) = env.sh_on(
        "none",
        "ip -o link show | wc -l; ip -o addr show lo | head -1",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("1\n") && out.contains("127.0.0.1"), "{out}");
    // host: the daemon's namespace (its default bridge, no eth0).
    let (code, out) = env.sh_on("host", "ip -o link show");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("berth0") && !out.contains("eth0"), "{out}");
    // container:<name>: the other's namespace.
    env.ok(&["network", "create", "--subnet", "10.124.0.0/24", "n1"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "aa",
        "--network",
        "n1",
        "--ip",
        "10.124.0.50",
        "--mac-address",
        "02:42:0a:7c:00:99",
        "busybox",
        "sleep",
        "100",
    ]);
    let r = env.berth(&[
        "run",
        "--rm",
        "--network",
        "container:aa",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(r.out.contains("10.124.0.50/24"), "{}{}", r.out, r.err);
    let mac = env.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.n1.MacAddress}}",
        "aa",
    ]);
    assert_eq!(mac, "02:42:0a:7c:00:99\n");
    // --link: /etc/hosts on the default bridge, a private DNS alias on user networks.
    env.ok(&["run", "-d", "--name", "db", "busybox", "sleep", "100"]);
    let r = env.berth(&[
        "run",
        "--rm",
        "--link",
        "db:database",
        "busybox",
        "grep",
        "database db",
        "/etc/hosts",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let r = env.berth(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--link",
        "aa:other",
        "busybox",
        "nslookup",
        "other",
    ]);
    assert!(r.out.contains("10.124.0.50"), "{}{}", r.out, r.err);
    let (code, _) = env.sh_on("n1", "nslookup other || exit 1");
    assert_ne!(code, 0, "a link alias is the linking container's only");
    let r = env.berth(&["run", "--rm", "--link", "nope:x", "busybox", "true"]);
    assert!(
        r.err.contains("Could not get container for nope"),
        "{}",
        r.err
    );
    let links = env.berth(&[
        "create",
        "--name",
        "linker",
        "--link",
        "db:database",
        "busybox",
        "true",
    ]);
    assert_eq!(links.code, 0, "{}", links.err);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{json .HostConfig.Links}}", "linker"]),
        "[\"/db:/linker/database\"]\n"
    );
    env.ok(&["rm", "-f", "db", "linker"]);
    // --ip-range and --gateway: addresses from the range, the given gateway.
    env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.128.0.0/24",
        "--ip-range",
        "10.128.0.128/25",
        "--gateway",
        "10.128.0.254",
        "ranged",
    ]);
    let r = env.berth(&[
        "run",
        "--rm",
        "--network",
        "ranged",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route | grep default",
    ]);
    assert!(
        r.out.contains("10.128.0.128/24") && r.out.contains("default via 10.128.0.254"),
        "{}{}",
        r.out,
        r.err
    );
    env.ok(&["network", "rm", "ranged"]);
    // --add-host, --dns, --dns-search.
    let r = env.berth(&[
        "run",
        "--rm",
        "--add-host",
        "db:10.9.9.9",
        "--dns",
        "10.1.1.1",
        "--dns-search",
        "example.test",
        "busybox",
        "cat",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]);
    assert!(r.out.contains("10.9.9.9\tdb"), "{}", r.out);
    assert!(
        r.out.contains("nameserver 10.1.1.1") && r.out.contains("search example.test"),
        "{}",
        r.out
    );
    // Bad input, docker's words; nothing half-made.
    let r = env.berth(&["network", "create", "--subnet", "10.124.0.0/16", "overlap"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .contains("Pool overlaps with other one on this address space"),
        "{}",
        r.err
    );
    let r = env.berth(&["network", "create", "n1"]);
    assert!(
        r.err.contains("network with name n1 already exists"),
        "{}",
        r.err
    );
    let r = env.berth(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("network nope not found"), "{}", r.err);
    let r = env.berth(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.124.0.50",
        "busybox",
        "true",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.err.contains("Address already in use"), "{}", r.err);
    let r = env.berth(&["run", "--rm", "--ip", "172.17.0.9", "busybox", "true"]);
    assert!(
        r.err
            .contains("user specified IP address is supported on user defined networks only"),
        "{}",
        r.err
    );
    let r = env.berth(&["network", "rm", "bridge"]);
    assert!(
        r.err
            .contains("bridge is a pre-defined network and cannot be removed"),
        "{}",
        r.err
    );
    let r = env.berth(&["network", "create", "--subnet", "10.0.0.0/33", "bad"]);
    assert!(
        r.err.contains("invalid CIDR address: 10.0.0.0/33"),
        "{}",
        r.err
    );
    let ls = env.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(ls, "bridge bridge\nhost host\nn1 bridge\nnone null\n");
    // The docker CLI manages them too.
    let d = env.docker(&[
        "network",
        "create",
        "--subnet",
        "10.125.0.0/24",
        "viadocker",
    ]);
    assert_eq!(d.code, 0, "{}", d.err);
    let d = env.docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(d.out.contains("viadocker"), "{}", d.out);
    let d = env.docker(&[
        "network",
        "inspect",
        "-f",
        "{{.Driver}} {{(index .IPAM.Config 0).Gateway}}",
        "viadocker",
    ]);
    assert_eq!(d.out, "bridge 10.125.0.1\n", "{}", d.err);
    let d = env.docker(&["network", "rm", "viadocker"]);
    assert_eq!(d.code, 0, "{}", d.err);
    env.ok(&["rm", "-f", "aa"]);
    let d = env.docker(&["network", "prune", "-f"]);
    assert_eq!(
        (d.code, d.out.as_str()),
        (0, "Deleted Networks:\nn1\n\n"),
        "{}",
        d.err
    );
}

#[test]
fn bandwidth_limits_shape_a_bulk_transfer() {
    let env = Env::new();
    // Out of the container: 3 MiB at 8 Mbit/s takes about 3.1 s.
    let total: usize = 3 << 20;
    let host = env.daemon.host();
    let gw = "172.17.0.1";
    let listen_port = 23456;
    let (got, secs, qdisc) = berth_net::netns::run_in(&env.daemon.netns(), move || {
        use std::io::Read;
        let l = std::net::TcpListener::bind(("0.0.0.0", listen_port)).expect("listen");
        let sender = Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", &host)
            .args([
                "run", "-d", "--name", "sender", "--net-rate-egress", "8mbit",
                "--net-rate-ingress", "20mbit", "busybox", "sh", "-c",
            ])
            .arg(format!(
                "sleep 0.5; dd if=/dev/zero bs=64k count={} 2>/dev/null | nc {gw} {listen_port}; sleep 100",
                total >> 16
            ))
            .output()
            .expect("run");
        assert!(sender.status.success(), "{}", String::from_utf8_lossy(&sender.stderr));
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 64 << 10];
        let mut got = 0;
        let mut first = None;
        while got < total {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    first.get_or_insert_with(std::time::Instant::now);
                    got += n;
                }
            }
        }
        let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
        let q = Command::new("tc").args(["qdisc", "show"]).output().expect("tc");
        Ok((got, secs, String::from_utf8_lossy(&q.stdout).into_owned()))
    })
    .expect("in the daemon's namespace");
    assert_eq!(got, total);
    let mbit = (got * 8) as f64 / secs / 1e6;
    eprintln!("egress at 8mbit: {mbit:.2} Mbit/s");
    assert!(
        (8.0 * 0.85..=8.0 * 1.15).contains(&mbit),
        "8mbit egress measured {mbit:.2} Mbit/s ({got} bytes in {secs:.2} s)"
    );
    // Into the container: the host end's queue.
    assert!(
        qdisc.contains("tbf") && qdisc.contains("rate 20Mbit"),
        "{qdisc}"
    );
    let hc = env.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetRateEgress}} {{.HostConfig.NetRateIngress}}",
        "sender",
    ]);
    assert_eq!(hc, "8mbit 20mbit\n");
    let r = env.berth(&[
        "run",
        "--rm",
        "--net-rate-egress",
        "fast",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(r.err.contains("invalid rate: \"fast\""), "{}", r.err);
    env.ok(&["rm", "-f", "sender"]);
}

#[test]
fn ipv6_and_internal_networks() {
    let env = Env::new();
    env.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.126.0.0/24",
        "--subnet",
        "fd00:77::/64",
        "dual",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "six",
        "--network",
        "dual",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let addr = env.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.dual.GlobalIPv6Address}}/{{.NetworkSettings.Networks.dual.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.dual.IPv6Gateway}}", "six"]);
    assert_eq!(addr, "fd00:77::2/64 fd00:77::1\n");
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "six"]);
    // Over IPv6 by address and by name (AAAA from the embedded DNS server).
    let (code, out) = env.sh_on(
        "dual",
        "ip -6 route | grep -q '^default via fd00:77::1' && wget -q -O- 'http://[fd00:77::2]/hostname' && nslookup -type=aaaa six",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with(&id[..12]) && out.contains("fd00:77::2"),
        "{out}"
    );
    let v = env.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}",
        "dual",
    ]);
    assert_eq!(v, "true 10.126.0.0/24 fd00:77::/64 \n");
    let r = env.berth(&[
        "run",
        "--rm",
        "--network",
        "dual",
        "--ip6",
        "fd00:77::2",
        "busybox",
        "true",
    ]);
    assert!(
        r.err.contains("Address already in use: fd00:77::2"),
        "{}",
        r.err
    );
    let r = env.berth(&["network", "create", "--subnet", "fd00:78::/64", "v6only"]);
    assert_ne!(r.code, 0, "an IPv6 subnet needs --ipv6");
    // --internal: no default route, nothing in or out but the network itself.
    env.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.127.0.0/24",
        "inside",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "in1",
        "--network",
        "inside",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let (code, out) = env.sh_on("inside", "ip route; wget -q -O- http://in1/hostname");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("default"), "{out}");
    let (code, _) = env.sh_on(
        "bridge",
        "timeout 3 wget -q -O- http://10.127.0.2/ || exit 1",
    );
    assert_ne!(code, 0, "nothing into an internal network");
    env.ok(&["rm", "-f", "six", "in1"]);
}

/// A DNS server for the test: every A question gets `answer` (the question copied, one answer
/// record pointing at the question's name).
fn fake_dns(sock: std::net::UdpSocket, answer: [u8; 4]) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // a response
            r[3] = 0x80; // recursion available, no error
            r[6..8].copy_from_slice(&1u16.to_be_bytes()); // one answer
            r[8..12].fill(0); // no authority or additional records
            // Drop any additional section of the query (EDNS): keep header + question.
            let qend = 12 + r[12..].iter().position(|b| *b == 0).unwrap_or(0) + 1 + 4;
            r.truncate(qend);
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&answer);
            let _ = sock.send_to(&r, peer);
        }
    });
}

#[test]
fn other_names_are_relayed_to_the_daemons_dns_servers() {
    let env = Env::with_config(r#"{"dns": ["127.0.0.1"]}"#);
    // The upstream: a server on the loopback of the daemon's namespace.
    let sock = berth_net::netns::run_in(&env.daemon.netns(), || {
        std::net::UdpSocket::bind("127.0.0.1:53")
            .map_err(|e| berth_net::Error::Invalid(e.to_string()))
    })
    .expect("bind in the daemon's namespace");
    fake_dns(sock, [10, 1, 2, 3]);
    env.ok(&["network", "create", "withdns"]);
    let (code, out) = env.sh_on("withdns", "nslookup example.test");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10.1.2.3"), "relayed: {out}");
    // Containers on the default bridge get the daemon's servers in resolv.conf.
    let (_, conf) = env.sh_on("bridge", "cat /etc/resolv.conf");
    assert!(conf.contains("nameserver 127.0.0.1"), "{conf}");
}
