//! Networks: records in berth.db (`networks`, Docker's shape), the endpoints of running
//! containers (`endpoints`: address, MAC, host veth, published ports), and what the kernel
//! must hold for them (bridges, veths, namespaces, the nftables tables) through berth-net.
//! Predefined networks as dockerd's: `bridge` (on `berth0`), `host`, `none`.
//!
//! A container's namespace is made at start (`<exec-root>/netns/<id>`, bind-mounted, joined by
//! the runtime by path) and removed when it stops; addresses are taken at start and given
//! back at stop, as dockerd does. Every change holds `lock`; the firewall is rebuilt whole.
//!
//! `endpoints` (a container's attachment: setup, teardown, ports, connect), `settings`
//! (NetworkSettings, /etc/hosts, resolv.conf, the DNS server's lookups), `firewall` (the
//! nftables model, reconciliation).

mod endpoints;
mod firewall;
pub mod policies;
mod settings;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use berth_models::network::{
    ConfigReference, CreateRequest, CreateResponse, EndpointResource, EndpointSettings, Ipam,
    IpamConfig, Network,
};
use berth_models::{Filters, Map};
use berth_net::ipam::{self, Subnet, Subnet6};
use rusqlite::params;

pub(crate) use endpoints::Endpoint;
pub use endpoints::{Links, PortBinding, Setup};
pub use settings::upstream_servers;

use crate::containers::Record;
use crate::db::{guard, lock};
use crate::time::now_rfc3339;
use crate::{Error, Result};

/// The default bridge's interface.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The option that marks the default bridge.
const DEFAULT_BRIDGE_OPT: &str = "com.docker.network.bridge.default_bridge";

/// The filter keys of `GET /networks`.
pub const FILTER_KEYS: [&str; 7] = ["name", "id", "driver", "scope", "type", "label", "dangling"];

pub struct Networks {
    db: Mutex<rusqlite::Connection>,
    /// The networks, parsed, as the table holds them (`None`: load on the next read).
    cache: RwLock<Option<Arc<Vec<Network>>>>,
    netns_dir: PathBuf,
    /// Daemon-wide inter-container communication on the default bridge (`--icc`).
    icc: bool,
    /// The daemon's `--dns` servers (containers' default resolvers, the DNS server's upstream).
    pub dns: Vec<Ipv4Addr>,
    lock: Mutex<()>,
    events: std::sync::Arc<crate::events::Events>,
    /// Bumped when a network comes or goes (the DNS servers follow it).
    pub generation: AtomicU64,
    /// DNS sockets bound when their network's bridge was made, for the supervisor's servers
    /// to take: a container started at once finds its resolver listening.
    pub dns_bound: Mutex<HashMap<Ipv4Addr, std::net::UdpSocket>>,
    /// Whether this daemon applied the firewall yet: nothing of the host's network is
    /// touched until a network is created or a container joins one.
    firewall_applied: AtomicBool,
    /// Bridges made or checked by this daemon (a start skips the check; a bridge deleted
    /// behind our back is made again when an attach finds it missing).
    ensured: Mutex<HashSet<String>>,
    /// A container's labels, by id (network policies select by them; set by the engine).
    pub labels: std::sync::OnceLock<policies::LabelsOf>,
}

pub fn is_default_bridge(n: &Network) -> bool {
    n.options.get(DEFAULT_BRIDGE_OPT).map(String::as_str) == Some("true")
}

fn is_predefined(name: &str) -> bool {
    ["bridge", "host", "none"].contains(&name)
}

fn v4_config(n: &Network) -> Option<&IpamConfig> {
    n.ipam.config.iter().find(|c| !c.subnet.contains(':'))
}

fn v6_config(n: &Network) -> Option<&IpamConfig> {
    n.ipam.config.iter().find(|c| c.subnet.contains(':'))
}

pub(crate) fn subnet_of(n: &Network) -> Result<Option<Subnet>> {
    v4_config(n)
        .filter(|c| !c.subnet.is_empty())
        .map(|c| Subnet::parse(&c.subnet).map_err(Error::from))
        .transpose()
}

pub(crate) fn gateway_of(n: &Network) -> Option<Ipv4Addr> {
    v4_config(n)?.gateway.parse().ok()
}

pub(crate) fn subnet6_of(n: &Network) -> Option<Subnet6> {
    Subnet6::parse(&v6_config(n)?.subnet).ok()
}

pub(crate) fn gateway6_of(n: &Network) -> Option<std::net::Ipv6Addr> {
    v6_config(n)?.gateway.parse().ok()
}

/// The bridge interface of a network: `berth0` for the default one, else `br-<id12>` (or
/// `com.docker.network.bridge.name`).
pub fn bridge_name(n: &Network) -> String {
    if let Some(b) = n
        .options
        .get("com.docker.network.bridge.name")
        .filter(|b| !b.is_empty())
    {
        return b.clone();
    }
    format!("br-{}", &n.id[..12.min(n.id.len())])
}

/// Host ends of one network's veths share this prefix (the icc rule matches it).
fn port_prefix(net_id: &str) -> String {
    format!("vb{}", &net_id[..6.min(net_id.len())])
}

fn mtu_of(n: &Network) -> Option<u32> {
    n.options
        .get("com.docker.network.driver.mtu")
        .and_then(|m| m.parse().ok())
}

/// The networks a container joins, in order: its network mode first (unless disconnected
/// from it), then the others of its endpoints by name.
pub fn networks_of(rec: &Record) -> Vec<String> {
    nets_with_config(rec).into_iter().map(|(k, _)| k).collect()
}

pub(crate) fn nets_with_config(rec: &Record) -> Vec<(String, EndpointSettings)> {
    let mode = rec.network_mode();
    if mode == "none" {
        return vec![("none".into(), EndpointSettings::default())];
    }
    if mode == "host" || mode.starts_with("container:") {
        return Vec::new();
    }
    let eps = &rec.networking_config.endpoints_config;
    let mut out = Vec::new();
    if let Some(c) = eps.get(mode) {
        out.push((mode.to_owned(), c.clone()));
    }
    out.extend(
        eps.iter()
            .filter(|(k, _)| k.as_str() != mode)
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

fn new_record(name: &str, driver: &str) -> Network {
    Network {
        name: name.to_owned(),
        id: crate::util::random_hex(32),
        created: now_rfc3339(),
        scope: "local".into(),
        driver: driver.to_owned(),
        ipam: Ipam {
            driver: "default".into(),
            options: None,
            config: Vec::new(),
        },
        config_from: ConfigReference::default(),
        ..Default::default()
    }
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

impl Networks {
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        icc: bool,
        dns: Vec<Ipv4Addr>,
        events: std::sync::Arc<crate::events::Events>,
    ) -> Result<Networks> {
        let db = crate::db::open(
            data_root,
            "CREATE TABLE IF NOT EXISTS networks (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 record TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS endpoints (
                 container TEXT NOT NULL,
                 network TEXT NOT NULL,
                 endpoint TEXT NOT NULL,
                 ip TEXT NOT NULL,
                 mac TEXT NOT NULL,
                 host_if TEXT NOT NULL,
                 if_name TEXT NOT NULL,
                 aliases TEXT NOT NULL,
                 ports TEXT NOT NULL,
                 ip6 TEXT NOT NULL DEFAULT '',
                 PRIMARY KEY (container, network)
             );
             CREATE TABLE IF NOT EXISTS network_policies (
                 name TEXT PRIMARY KEY,
                 record TEXT NOT NULL
             );",
        )?;
        {
            // Databases made before IPv6 lack the column.
            let c = lock(&db);
            let has_ip6: bool = c
                .prepare("SELECT 1 FROM pragma_table_info('endpoints') WHERE name = 'ip6'")
                .and_then(|mut q| q.exists([]))?;
            if !has_ip6 {
                c.execute_batch("ALTER TABLE endpoints ADD COLUMN ip6 TEXT NOT NULL DEFAULT ''")?;
            }
        }
        let n = Networks {
            db,
            cache: RwLock::new(None),
            netns_dir: exec_root.join("netns"),
            icc,
            dns,
            lock: Mutex::new(()),
            events,
            generation: AtomicU64::new(1),
            dns_bound: Mutex::new(HashMap::new()),
            firewall_applied: AtomicBool::new(false),
            ensured: Mutex::default(),
            labels: std::sync::OnceLock::new(),
        };
        n.predefine()?;
        Ok(n)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        lock(&self.db)
    }

    /// `bridge`, `host` and `none`, made once (their ids stay across restarts).
    fn predefine(&self) -> Result<()> {
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if self.find(name)?.is_some() {
                continue;
            }
            let mut rec = new_record(name, driver);
            if name == "bridge" {
                let taken = self.subnets()?;
                let preferred = Subnet::new(Ipv4Addr::new(172, 17, 0, 0), 16);
                let subnet = if !taken
                    .iter()
                    .chain(ipam::host_routes().iter())
                    .any(|t| t.overlaps(&preferred))
                {
                    preferred
                } else {
                    ipam::pick_subnet(&taken)?
                };
                rec.ipam.config = vec![IpamConfig {
                    subnet: subnet.to_string(),
                    gateway: subnet.first_host().to_string(),
                    ..Default::default()
                }];
                let opts: [(&str, String); 6] = [
                    (DEFAULT_BRIDGE_OPT, "true".into()),
                    ("com.docker.network.bridge.enable_icc", self.icc.to_string()),
                    (
                        "com.docker.network.bridge.enable_ip_masquerade",
                        "true".into(),
                    ),
                    (
                        "com.docker.network.bridge.host_binding_ipv4",
                        "0.0.0.0".into(),
                    ),
                    ("com.docker.network.bridge.name", DEFAULT_BRIDGE.into()),
                    ("com.docker.network.driver.mtu", "1500".into()),
                ];
                rec.options = opts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            }
            self.insert(&rec)?;
        }
        Ok(())
    }

    fn insert(&self, rec: &Network) -> Result<()> {
        let text = serde_json::to_string(rec).map_err(Error::internal)?;
        let db = self.db();
        match db.execute(
            "INSERT INTO networks (id, name, record) VALUES (?1, ?2, ?3)",
            params![rec.id, rec.name, text],
        ) {
            Ok(_) => {
                self.forget();
                Ok(())
            }
            Err(e) if crate::error::is_unique_violation(&e) => Err(Error::Conflict(format!(
                "network with name {} already exists",
                rec.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every network, by name; from the cache (`cache`), loaded on first use.
    fn all(&self) -> Result<Vec<Network>> {
        Ok(self.cached()?.as_ref().clone())
    }

    fn cached(&self) -> Result<Arc<Vec<Network>>> {
        if let Some(v) = crate::db::read(&self.cache).as_ref() {
            return Ok(v.clone());
        }
        // Loaded under the connection's lock: no write slips between the read and the fill.
        let db = self.db();
        let mut w = crate::db::write(&self.cache);
        if let Some(v) = w.as_ref() {
            return Ok(v.clone());
        }
        let mut q = db.prepare_cached("SELECT record FROM networks ORDER BY name")?;
        let rows: Vec<String> = q
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        let v: Arc<Vec<Network>> = Arc::new(
            rows.iter()
                .filter_map(|t| serde_json::from_str(t).ok())
                .collect(),
        );
        *w = Some(v.clone());
        Ok(v)
    }

    /// After a write to the table (made with the connection's lock held): the next read loads.
    fn forget(&self) {
        *crate::db::write(&self.cache) = None;
    }

    fn subnets(&self) -> Result<Vec<Subnet>> {
        Ok(self
            .all()?
            .iter()
            .filter_map(|n| subnet_of(n).ok().flatten())
            .collect())
    }

    /// A network by full id, name, or unique id prefix.
    /// A network by name, id or (hex) id prefix; a name wins over an id.
    fn find(&self, key: &str) -> Result<Option<Network>> {
        let all = self.cached()?;
        if let Some(n) = all
            .iter()
            .find(|n| n.name == key)
            .or_else(|| all.iter().find(|n| n.id == key))
        {
            return Ok(Some(n.clone()));
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let found: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        if found.len() > 1 {
            return Err(Error::InvalidParameter(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                found.len()
            )));
        }
        Ok(found.first().map(|n| (*n).clone()))
    }

    pub fn get(&self, key: &str) -> Result<Network> {
        self.find(key)?
            .ok_or_else(|| Error::NoSuchNetwork(key.to_owned()))
    }

    /// The canonical id of a network.
    pub fn id_of(&self, key: &str) -> Result<String> {
        Ok(self.get(key)?.id)
    }

    fn emit(&self, rec: &Network, action: &str, extra: &[(&str, String)]) {
        let mut attrs = Map::new();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("type".into(), rec.driver.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.events.emit("network", action, &rec.id, attrs);
    }

    /// `POST /networks/create`.
    pub fn create(&self, req: &CreateRequest) -> Result<CreateResponse> {
        let name = req.name.clone();
        if name.is_empty() {
            return Err(Error::InvalidParameter(
                "network name cannot be empty".into(),
            ));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            &req.driver
        };
        if is_predefined(&name) {
            return Err(Error::Conflict(format!(
                "{name} is a pre-defined network and cannot be created"
            )));
        }
        // A taken name: the insert's UNIQUE constraint answers (before anything is made).
        if driver != "bridge" {
            return Err(Error::NotFound(format!("plugin \"{driver}\" not found")));
        }
        let ipv6 = req.enable_ipv6 == Some(true);
        let _g = guard(&self.lock);
        let taken = self.subnets()?;
        let configs = req
            .ipam
            .as_ref()
            .map(|i| i.config.clone())
            .unwrap_or_default();
        let cfg = configs
            .iter()
            .find(|c| !c.subnet.contains(':'))
            .cloned()
            .unwrap_or_default();
        let cfg6 = configs.iter().find(|c| c.subnet.contains(':')).cloned();
        if cfg6.is_some() && !ipv6 {
            return Err(Error::InvalidParameter(
                "an IPv6 subnet needs --ipv6 (EnableIPv6)".into(),
            ));
        }
        let mut rec = new_record(&name, "bridge");
        rec.ipam.config.push(ipv4_config(&cfg, &taken)?);
        if ipv6 {
            let taken6: Vec<Subnet6> = self.all()?.iter().filter_map(subnet6_of).collect();
            rec.ipam
                .config
                .push(ipv6_config(&cfg6.unwrap_or_default(), &taken6)?);
            rec.enable_ipv6 = true;
        }
        rec.internal = req.internal;
        rec.attachable = req.attachable;
        rec.options = req.options.clone().unwrap_or_default();
        rec.labels = req.labels.clone().unwrap_or_default();
        rec.ipam.options = req.ipam.as_ref().and_then(|i| i.options.clone());
        self.insert(&rec)?;
        let made = self.ensure_bridge(&rec).and_then(|_| self.apply_firewall());
        if let Err(e) = made {
            {
                let db = self.db();
                let _ = db.execute("DELETE FROM networks WHERE id = ?1", params![rec.id]);
                self.forget();
            }
            let _ = berth_net::link::delete(&bridge_name(&rec));
            return Err(e);
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.emit(&rec, "create", &[]);
        Ok(CreateResponse {
            id: rec.id,
            warning: String::new(),
        })
    }

    /// The bridge of a bridge network, made if missing (with its sysctls).
    fn ensure_bridge(&self, rec: &Network) -> Result<()> {
        if rec.driver != "bridge" {
            return Ok(());
        }
        let Some(subnet) = subnet_of(rec)? else {
            return Ok(());
        };
        let gw = gateway_of(rec).unwrap_or_else(|| subnet.first_host());
        let name = bridge_name(rec);
        let v6 = subnet6_of(rec).map(|s6| {
            (
                gateway6_of(rec).unwrap_or_else(|| s6.first_host()),
                s6.prefix,
            )
        });
        berth_net::link::ensure_bridge(&name, gw, subnet.prefix, v6, mtu_of(rec))?;
        if v6.is_some() {
            berth_net::firewall::sysctl("net.ipv6.conf.all.forwarding", "1")?;
        }
        // Published ports reached through the host's loopback are routed into the bridge.
        berth_net::firewall::sysctl(&format!("net.ipv4.conf.{name}.route_localnet"), "1")?;
        berth_net::firewall::sysctl("net.ipv4.ip_forward", "1")?;
        guard(&self.ensured).insert(name);
        if !is_default_bridge(rec) {
            // Fails (in use) when the network's server runs already.
            if let Ok(s) = berth_net::dns::bind((gw, 53).into()) {
                guard(&self.dns_bound).insert(gw, s);
            }
        }
        Ok(())
    }

    /// `DELETE /networks/{id}`.
    pub fn remove(&self, key: &str) -> Result<()> {
        let rec = self.get(key)?;
        if is_predefined(&rec.name) {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let _g = guard(&self.lock);
        let users: i64 = self.db().query_row(
            "SELECT COUNT(*) FROM endpoints WHERE network = ?1",
            params![rec.id],
            |r| r.get(0),
        )?;
        if users > 0 {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                rec.name, rec.id
            )));
        }
        {
            let db = self.db();
            db.execute("DELETE FROM networks WHERE id = ?1", params![rec.id])?;
            self.forget();
        }
        self.apply_firewall()?;
        berth_net::link::delete(&bridge_name(&rec))?;
        guard(&self.ensured).remove(&bridge_name(&rec));
        if let Some(gw) = gateway_of(&rec) {
            guard(&self.dns_bound).remove(&gw);
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.emit(&rec, "destroy", &[]);
        Ok(())
    }

    /// `network prune`: user networks without endpoints and no container configured on them
    /// (`in_use`). Their names.
    pub fn prune(&self, in_use: &HashSet<String>) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for rec in self.all()? {
            if is_predefined(&rec.name) || in_use.contains(&rec.id) {
                continue;
            }
            if self.remove(&rec.id).is_ok() {
                gone.push(rec.name);
            }
        }
        Ok(gone)
    }

    /// `GET /networks`: every network, with Docker's `filters` (name, id, driver, label,
    /// scope, type=custom|builtin).
    pub fn list(&self, f: &Filters) -> Result<Vec<Network>> {
        f.check(&FILTER_KEYS)?;
        Ok(self
            .all()?
            .into_iter()
            .filter(|n| {
                let builtin = is_predefined(&n.name);
                f.any_or_none("name", |v| n.name.contains(v))
                    && f.any_or_none("id", |v| n.id.starts_with(v))
                    && f.any_or_none("driver", |v| n.driver == v)
                    && f.any_or_none("scope", |v| v == "local")
                    && f.any_or_none("type", |v| (v == "builtin") == builtin)
                    && f.get("label")
                        .iter()
                        .all(|v| berth_models::filters::label_matches(Some(&n.labels), v))
            })
            .map(|mut n| {
                n.containers = BTreeMap::new();
                n
            })
            .collect())
    }

    /// `GET /networks/{id}`: the record with its running containers.
    pub fn inspect(&self, key: &str, names: &dyn Fn(&str) -> String) -> Result<Network> {
        let mut rec = self.get(key)?;
        let prefix = subnet_of(&rec)?.map(|s| s.prefix).unwrap_or(0);
        let prefix6 = subnet6_of(&rec).map(|s| s.prefix).unwrap_or(0);
        rec.containers = self
            .endpoints_where("network", &rec.id)?
            .into_iter()
            .map(|e| {
                (
                    e.container.clone(),
                    EndpointResource {
                        name: names(&e.container),
                        endpoint_id: e.endpoint,
                        mac_address: e.mac,
                        ipv4_address: format!("{}/{prefix}", e.ip),
                        ipv6_address: e.ip6.map(|a| format!("{a}/{prefix6}")).unwrap_or_default(),
                    },
                )
            })
            .collect();
        Ok(rec)
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// The mounted namespace of a running container (None for `host` mode or a stopped one).
    pub fn netns_of(&self, id: &str) -> Option<PathBuf> {
        let p = self.netns_path(id);
        berth_net::netns::is_mounted(&p).then_some(p)
    }
}

/// The IPv4 pool of a new network: the asked subnet (free), range and gateway (inside it),
/// or a free default pool.
fn ipv4_config(cfg: &IpamConfig, taken: &[Subnet]) -> Result<IpamConfig> {
    let subnet = if cfg.subnet.is_empty() {
        ipam::pick_subnet(taken)?
    } else {
        let s = Subnet::parse(&cfg.subnet)?;
        if taken.iter().any(|t| t.overlaps(&s)) {
            return Err(Error::Forbidden(
                "Pool overlaps with other one on this address space".into(),
            ));
        }
        s
    };
    let mut out = IpamConfig {
        subnet: subnet.to_string(),
        ..Default::default()
    };
    if !cfg.ip_range.is_empty() {
        let r = Subnet::parse(&cfg.ip_range)?;
        if !subnet.contains(r.addr) || r.prefix < subnet.prefix {
            return Err(Error::InvalidParameter(format!(
                "Invalid Address: {r} is not within {subnet}"
            )));
        }
        out.ip_range = r.to_string();
    }
    let gateway = if cfg.gateway.is_empty() {
        subnet.first_host()
    } else {
        let ip: Ipv4Addr = cfg.gateway.parse().map_err(|_| {
            Error::InvalidParameter(format!("invalid gateway address {}", cfg.gateway))
        })?;
        if !subnet.contains(ip) {
            return Err(Error::InvalidParameter(format!(
                "Invalid gateway address: {ip} is not within {subnet}"
            )));
        }
        ip
    };
    out.gateway = gateway.to_string();
    for (name, a) in cfg.auxiliary_addresses.iter().flatten() {
        let ip: Ipv4Addr = a.parse().map_err(|_| {
            Error::InvalidParameter(format!("invalid auxiliary address {name}={a}"))
        })?;
        if !subnet.contains(ip) {
            return Err(Error::InvalidParameter(format!(
                "invalid auxiliary address {name}={a}: not within {subnet}"
            )));
        }
    }
    out.auxiliary_addresses = cfg.auxiliary_addresses.clone().filter(|m| !m.is_empty());
    Ok(out)
}

/// The IPv6 pool (opt-in): the given subnet, or a random unique local /64.
fn ipv6_config(c6: &IpamConfig, taken6: &[Subnet6]) -> Result<IpamConfig> {
    let s6 = if c6.subnet.is_empty() {
        let mut r = [0u8; 7];
        let _ = getrandom(&mut r);
        Subnet6::random_ula(&r)
    } else {
        let s6 = Subnet6::parse(&c6.subnet)?;
        if taken6.iter().any(|t| t.overlaps(&s6)) {
            return Err(Error::Forbidden(
                "Pool overlaps with other one on this address space".into(),
            ));
        }
        s6
    };
    let g6 = if c6.gateway.is_empty() {
        s6.first_host()
    } else {
        let ip: std::net::Ipv6Addr = c6.gateway.parse().map_err(|_| {
            Error::InvalidParameter(format!("invalid gateway address {}", c6.gateway))
        })?;
        if !s6.contains(ip) {
            return Err(Error::InvalidParameter(format!(
                "Invalid gateway address: {ip} is not within {s6}"
            )));
        }
        ip
    };
    Ok(IpamConfig {
        subnet: s6.to_string(),
        gateway: g6.to_string(),
        ..Default::default()
    })
}

/// `80` → `80/tcp`; the protocol and port checked.
pub fn normalize_port_key(key: &str) -> Result<String> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    if !["tcp", "udp", "sctp"].contains(&proto) {
        return Err(Error::InvalidParameter(format!("invalid proto: {proto}")));
    }
    endpoints::parse_port(port)?;
    Ok(format!("{port}/{proto}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_and_port_keys() {
        let taken = vec![Subnet::parse("10.0.0.0/24").expect("subnet")];
        let c = ipv4_config(
            &IpamConfig {
                subnet: "10.1.0.0/24".into(),
                ip_range: "10.1.0.128/25".into(),
                ..Default::default()
            },
            &taken,
        )
        .expect("pool");
        assert_eq!(
            (c.subnet.as_str(), c.gateway.as_str()),
            ("10.1.0.0/24", "10.1.0.1")
        );
        assert_eq!(c.ip_range, "10.1.0.128/25");
        let overlap = IpamConfig {
            subnet: "10.0.0.0/16".into(),
            ..Default::default()
        };
        assert!(matches!(
            ipv4_config(&overlap, &taken),
            Err(Error::Forbidden(_))
        ));
        let gw = IpamConfig {
            subnet: "10.2.0.0/24".into(),
            gateway: "10.3.0.1".into(),
            ..Default::default()
        };
        assert_eq!(
            ipv4_config(&gw, &taken).expect_err("outside").to_string(),
            "Invalid gateway address: 10.3.0.1 is not within 10.2.0.0/24"
        );
        assert_eq!(normalize_port_key("80").expect("key"), "80/tcp");
        assert_eq!(normalize_port_key("53/udp").expect("key"), "53/udp");
        assert!(normalize_port_key("80/xyz").is_err());
        assert!(normalize_port_key("0").is_err());
        let mut rec = new_record("n", "bridge");
        rec.id = "0123456789abcdef".into();
        assert_eq!(bridge_name(&rec), "br-0123456789ab");
        rec.options
            .insert("com.docker.network.bridge.name".into(), "mybr".into());
        assert_eq!(bridge_name(&rec), "mybr");
    }

    #[test]
    fn a_containers_networks_in_order() {
        let mut r = Record::default();
        r.host_config.network_mode = "b".into();
        for k in ["c", "a", "b"] {
            r.networking_config
                .endpoints_config
                .insert(k.into(), EndpointSettings::default());
        }
        assert_eq!(networks_of(&r), ["b", "a", "c"]);
        // Disconnected from its mode's network.
        r.networking_config.endpoints_config.remove("b");
        assert_eq!(networks_of(&r), ["a", "c"]);
        r.host_config.network_mode = "none".into();
        assert_eq!(networks_of(&r), ["none"]);
        r.host_config.network_mode = "container:x".into();
        assert!(networks_of(&r).is_empty());
    }
}
