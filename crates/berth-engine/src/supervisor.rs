//! The daemon's background duties: every 100 ms, containers' exits are noticed (`die`),
//! restart policies and auto-removal applied and health checks run (each second, sandboxes
//! whose time is up removed); at start-up, the same
//! for what happened while no daemon ran. The embedded DNS servers follow the user networks.

use std::sync::Arc;
use std::time::Duration;

use crate::Engine;

impl Engine {
    /// Start the supervisor thread (after `open`; once per daemon).
    pub fn supervise(self: &Arc<Self>) {
        let e = self.clone();
        std::thread::spawn(move || {
            let c = &e.containers;
            c.watch_exits();
            // `--rm` containers that exited while no daemon ran go; `always` and
            // `unless-stopped` ones run again.
            c.remove_exited_auto_removed();
            c.apply_restart_policies(&e.images, true);
            let mut ticks = 0u64;
            loop {
                std::thread::sleep(Duration::from_millis(100));
                c.watch_exits();
                c.remove_exited_auto_removed();
                c.apply_restart_policies(&e.images, false);
                c.run_health_checks();
                ticks += 1;
                if ticks.is_multiple_of(10) {
                    e.reap_sandboxes();
                }
            }
        });
    }

    /// One DNS server per user-defined network, on its gateway, started and stopped as
    /// networks come and go (runs until the daemon ends).
    pub async fn serve_dns(self: Arc<Self>) {
        use std::sync::atomic::Ordering;
        let mut seen = 0;
        let mut running: std::collections::HashMap<
            std::net::Ipv4Addr,
            tokio::task::JoinHandle<()>,
        > = Default::default();
        let mut last_try = std::time::Instant::now();
        loop {
            let generation = self.networks.generation.load(Ordering::Relaxed);
            // Retried (every few seconds) while some server is down: its bridge may come later.
            let retry = running.values().any(|t| t.is_finished())
                && last_try.elapsed() > Duration::from_secs(3);
            if generation != seen || retry {
                seen = generation;
                last_try = std::time::Instant::now();
                let e = self.clone();
                let wanted = tokio::task::spawn_blocking(move || e.networks.dns_servers())
                    .await
                    .unwrap_or_default();
                running.retain(|gw, task| {
                    let keep = wanted.iter().any(|(g, _)| g == gw) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for (gw, subnet) in wanted {
                    if running.contains_key(&gw) {
                        continue;
                    }
                    running.insert(gw, tokio::spawn(self.clone().dns_server(gw, subnet)));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn dns_server(self: Arc<Self>, gw: std::net::Ipv4Addr, subnet: berth_net::ipam::Subnet) {
        let e = self.clone();
        let lookup: berth_net::dns::Lookup = Arc::new(move |asker, name: &str| {
            let ips = e
                .networks
                .lookup(gw, asker, name, &|id| e.containers.name_of(id), &|id| {
                    e.containers.links_of(id)
                });
            (!ips.is_empty()).then_some(ips)
        });
        let daemon_dns = self.networks.dns.clone();
        let upstream = Arc::new(move || {
            crate::networks::upstream_servers(&daemon_dns)
                .into_iter()
                .map(|ip| std::net::SocketAddr::from((ip, 53)))
                .collect()
        });
        let addr = std::net::SocketAddr::from((gw, 53));
        let bound = self
            .networks
            .dns_bound
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&gw));
        let served = match bound {
            Some(sock) => berth_net::dns::serve_on(sock, subnet, lookup, upstream).await,
            None => berth_net::dns::serve(addr, subnet, lookup, upstream).await,
        };
        if let Err(err) = served {
            eprintln!("berth: DNS server on {addr}: {err}");
        }
    }
}
