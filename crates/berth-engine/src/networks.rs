//! Networks: records in berth.db (`networks`, Docker's JSON shape), the endpoints of running
//! containers (`endpoints`: address, MAC, host veth, published ports), and what the kernel
//! must hold for them (bridges, veths, namespaces, the nftables tables) through berth-net.
//! Predefined networks as dockerd's: `bridge` (on `berth0`), `host`, `none`.
//!
//! A container's namespace is made at start (`<exec-root>/netns/<id>`, bind-mounted, joined by
//! the runtime by path) and removed when it stops; addresses are taken at start and given
//! back at stop, as dockerd does. Every change holds `lock`; the firewall is rebuilt whole.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_net::ipam::{self, Subnet};
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use crate::time::now_rfc3339;
use crate::{Error, Result};

/// The default bridge's interface.
pub const DEFAULT_BRIDGE: &str = "berth0";

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn net_err(e: berth_net::Error) -> Error {
    match e {
        berth_net::Error::Invalid(m) => Error::InvalidParameter(m),
        other => Error::Internal(other.to_string()),
    }
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// One published port of a running container, as stored and as `NetworkSettings.Ports` shows.
#[derive(Debug, Clone)]
pub struct PortBinding {
    /// `80/tcp`
    pub key: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// A container's links: (target id, alias, target name).
pub type Links = Vec<(String, String, String)>;

/// What a start needs from the network side.
pub struct Setup {
    /// The namespace to join (None: the host's).
    pub netns: Option<PathBuf>,
    pub hosts: String,
    pub resolv: String,
}

pub struct Networks {
    db: Mutex<rusqlite::Connection>,
    netns_dir: PathBuf,
    /// Daemon-wide inter-container communication on the default bridge (`--icc`).
    icc: bool,
    /// The daemon's `--dns` servers (containers' default resolvers, the DNS server's upstream).
    pub dns: Vec<Ipv4Addr>,
    lock: Mutex<()>,
    events: std::sync::Arc<crate::events::Events>,
    /// Bumped when a network comes or goes (the DNS servers follow it).
    pub generation: std::sync::atomic::AtomicU64,
    /// Whether this daemon applied the firewall yet: nothing of the host's network is
    /// touched until a network is created or a container joins one.
    firewall_applied: std::sync::atomic::AtomicBool,
    /// Bridges made or checked by this daemon (a start skips the check; a bridge deleted
    /// behind our back is made again when an attach finds it missing).
    ensured: Mutex<HashSet<String>>,
}

impl Networks {
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        icc: bool,
        dns: Vec<Ipv4Addr>,
        events: std::sync::Arc<crate::events::Events>,
    ) -> Result<Networks> {
        let db = crate::open_db(
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
             );",
        )?;
        // Databases made before IPv6 lack the column.
        let has_ip6: bool = db
            .prepare("SELECT 1 FROM pragma_table_info('endpoints') WHERE name = 'ip6'")
            .and_then(|mut q| q.exists([]))
            .map_err(internal)?;
        if !has_ip6 {
            db.execute_batch("ALTER TABLE endpoints ADD COLUMN ip6 TEXT NOT NULL DEFAULT ''")
                .map_err(internal)?;
        }
        let n = Networks {
            db: Mutex::new(db),
            netns_dir: exec_root.join("netns"),
            icc,
            dns,
            lock: Mutex::new(()),
            events,
            generation: std::sync::atomic::AtomicU64::new(1),
            firewall_applied: std::sync::atomic::AtomicBool::new(false),
            ensured: Mutex::new(HashSet::new()),
        };
        n.predefine()?;
        Ok(n)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `bridge`, `host` and `none`, made once (their ids stay across restarts).
    fn predefine(&self) -> Result<()> {
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if self.find(name)?.is_some() {
                continue;
            }
            let mut rec = base_record(name, driver);
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
                    ipam::pick_subnet(&taken).map_err(net_err)?
                };
                rec["IPAM"]["Config"] = json!([{"Subnet": subnet.to_string(), "Gateway": subnet.first_host().to_string()}]);
                rec["Options"] = json!({
                    "com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": self.icc.to_string(),
                    "com.docker.network.bridge.enable_ip_masquerade": "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    "com.docker.network.bridge.name": DEFAULT_BRIDGE,
                    "com.docker.network.driver.mtu": "1500",
                });
            }
            self.insert(&rec)?;
        }
        Ok(())
    }

    fn insert(&self, rec: &Value) -> Result<()> {
        let r = self.db().execute(
            "INSERT INTO networks (id, name, record) VALUES (?1, ?2, ?3)",
            params![
                rec["Id"].as_str().unwrap_or_default(),
                rec["Name"].as_str().unwrap_or_default(),
                rec.to_string()
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("UNIQUE") => Err(Error::Conflict(format!(
                "network with name {} already exists",
                rec["Name"].as_str().unwrap_or_default()
            ))),
            Err(e) => Err(internal(e)),
        }
    }

    fn all(&self) -> Result<Vec<Value>> {
        let db = self.db();
        let mut q = db
            .prepare_cached("SELECT record FROM networks ORDER BY name")
            .map_err(internal)?;
        let rows = q
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(internal)?;
        Ok(rows
            .flatten()
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect())
    }

    fn subnets(&self) -> Result<Vec<Subnet>> {
        Ok(self
            .all()?
            .iter()
            .flat_map(|n| subnet_of(n).ok().flatten())
            .collect())
    }

    /// A network by full id, name, or unique id prefix.
    fn find(&self, key: &str) -> Result<Option<Value>> {
        let db = self.db();
        let exact: Option<String> = db
            .query_row(
                "SELECT record FROM networks WHERE id = ?1 OR name = ?1 ORDER BY name = ?1 DESC LIMIT 1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(internal)?;
        let text = match exact {
            Some(t) => Some(t),
            None if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) => {
                let mut q = db
                    .prepare("SELECT record FROM networks WHERE id LIKE ?1 || '%' LIMIT 2")
                    .map_err(internal)?;
                let found: Vec<String> = q
                    .query_map(params![key], |r| r.get(0))
                    .map_err(internal)?
                    .flatten()
                    .collect();
                if found.len() > 1 {
                    return Err(Error::InvalidParameter(format!(
                        "network {key} is ambiguous ({} matches found based on ID prefix)",
                        found.len()
                    )));
                }
                found.into_iter().next()
            }
            None => None,
        };
        text.map(|t| serde_json::from_str(&t).map_err(internal))
            .transpose()
    }

    /// A network by id, name or id prefix; Docker's error when there is none.
    pub fn get(&self, key: &str) -> Result<Value> {
        self.find(key)?
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))
    }

    /// `POST /networks/create`.
    pub fn create(&self, body: &Value) -> Result<Value> {
        let name = body["Name"].as_str().unwrap_or_default().to_owned();
        if name.is_empty() {
            return Err(Error::InvalidParameter(
                "network name cannot be empty".into(),
            ));
        }
        let driver = body["Driver"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or("bridge");
        if ["host", "none", "bridge"].contains(&name.as_str()) {
            return Err(Error::Conflict(format!(
                "{name} is a pre-defined network and cannot be created"
            )));
        }
        // A taken name: the insert's UNIQUE constraint answers (before anything is made).
        if driver != "bridge" {
            return Err(Error::NotFound(format!("plugin \"{driver}\" not found")));
        }
        let ipv6 = body["EnableIPv6"].as_bool() == Some(true);
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let taken = self.subnets()?;
        let configs = body["IPAM"]["Config"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let is_v6 = |c: &Value| c["Subnet"].as_str().is_some_and(|s| s.contains(':'));
        let cfg = configs
            .iter()
            .find(|c| !is_v6(c))
            .cloned()
            .unwrap_or(json!({}));
        let cfg6 = configs.iter().find(|c| is_v6(c)).cloned();
        if cfg6.is_some() && !ipv6 {
            return Err(Error::InvalidParameter(
                "an IPv6 subnet needs --ipv6 (EnableIPv6)".into(),
            ));
        }
        // IPv6 (opt-in): the given subnet, or a random unique local /64.
        let ipam6 = if ipv6 {
            let taken6: Vec<ipam::Subnet6> = self.all()?.iter().filter_map(subnet6_of).collect();
            let c6 = cfg6.unwrap_or(json!({}));
            let s6 = match c6["Subnet"].as_str() {
                Some(s) => {
                    let s6 = ipam::Subnet6::parse(s).map_err(net_err)?;
                    if taken6.iter().any(|t| t.overlaps(&s6)) {
                        return Err(Error::Forbidden(
                            "Pool overlaps with other one on this address space".into(),
                        ));
                    }
                    s6
                }
                None => {
                    let mut r = [0u8; 7];
                    let _ = getrandom(&mut r);
                    ipam::Subnet6::random_ula(&r)
                }
            };
            let g6 = match c6["Gateway"].as_str().filter(|g| !g.is_empty()) {
                Some(g) => {
                    let ip: std::net::Ipv6Addr = g.parse().map_err(|_| {
                        Error::InvalidParameter(format!("invalid gateway address {g}"))
                    })?;
                    if !s6.contains(ip) {
                        return Err(Error::InvalidParameter(format!(
                            "Invalid gateway address: {ip} is not within {s6}"
                        )));
                    }
                    ip
                }
                None => s6.first_host(),
            };
            Some(json!({"Subnet": s6.to_string(), "Gateway": g6.to_string()}))
        } else {
            None
        };
        let subnet = match cfg["Subnet"].as_str().filter(|s| !s.is_empty()) {
            Some(s) => {
                let s = Subnet::parse(s).map_err(net_err)?;
                if taken.iter().any(|t| t.overlaps(&s)) {
                    return Err(Error::Forbidden(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                s
            }
            None => ipam::pick_subnet(&taken).map_err(net_err)?,
        };
        let mut ipam_cfg = json!({"Subnet": subnet.to_string()});
        if let Some(r) = cfg["IPRange"].as_str().filter(|s| !s.is_empty()) {
            let r = Subnet::parse(r).map_err(net_err)?;
            if !subnet.contains(r.addr) || r.prefix < subnet.prefix {
                return Err(Error::InvalidParameter(format!(
                    "Invalid Address: {r} is not within {subnet}"
                )));
            }
            ipam_cfg["IPRange"] = json!(r.to_string());
        }
        let gateway = match cfg["Gateway"].as_str().filter(|s| !s.is_empty()) {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid gateway address {g}")))?;
                if !subnet.contains(ip) {
                    return Err(Error::InvalidParameter(format!(
                        "Invalid gateway address: {ip} is not within {subnet}"
                    )));
                }
                ip
            }
            None => subnet.first_host(),
        };
        ipam_cfg["Gateway"] = json!(gateway.to_string());
        let mut rec = base_record(&name, "bridge");
        rec["IPAM"]["Config"] = json!([ipam_cfg]);
        if let Some(c6) = ipam6 {
            rec["EnableIPv6"] = json!(true);
            if let Some(a) = rec["IPAM"]["Config"].as_array_mut() {
                a.push(c6);
            }
        }
        rec["Internal"] = json!(body["Internal"].as_bool().unwrap_or(false));
        rec["Attachable"] = json!(body["Attachable"].as_bool().unwrap_or(false));
        rec["Options"] = body["Options"].clone();
        if !rec["Options"].is_object() {
            rec["Options"] = json!({});
        }
        rec["Labels"] = body["Labels"].clone();
        if !rec["Labels"].is_object() {
            rec["Labels"] = json!({});
        }
        if let Some(o) = body["IPAM"]["Options"].as_object() {
            rec["IPAM"]["Options"] = json!(o);
        }
        self.insert(&rec)?;
        let made = self.ensure_bridge(&rec).and_then(|_| self.apply_firewall());
        if let Err(e) = made {
            let _ = self.db().execute(
                "DELETE FROM networks WHERE id = ?1",
                params![rec["Id"].as_str().unwrap_or_default()],
            );
            let _ = berth_net::link::delete(&bridge_name(&rec));
            return Err(e);
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.emit(&rec, "create", &[]);
        Ok(json!({"Id": rec["Id"], "Warning": ""}))
    }

    fn emit(&self, rec: &Value, action: &str, extra: &[(&str, String)]) {
        let mut attrs = json!({"name": rec["Name"], "type": rec["Driver"]});
        for (k, v) in extra {
            attrs[*k] = json!(v);
        }
        self.events.emit(
            "network",
            action,
            rec["Id"].as_str().unwrap_or_default(),
            attrs,
        );
    }

    /// The bridge of a bridge network, made if missing (with its sysctls).
    fn ensure_bridge(&self, rec: &Value) -> Result<()> {
        if rec["Driver"] != "bridge" {
            return Ok(());
        }
        let Some(subnet) = subnet_of(rec)? else {
            return Ok(());
        };
        let gw = gateway_of(rec).unwrap_or_else(|| subnet.first_host());
        let name = bridge_name(rec);
        let mtu = rec["Options"]["com.docker.network.driver.mtu"]
            .as_str()
            .and_then(|m| m.parse().ok());
        let v6 = subnet6_of(rec).map(|s6| {
            (
                gateway6_of(rec).unwrap_or_else(|| s6.first_host()),
                s6.prefix,
            )
        });
        berth_net::link::ensure_bridge(&name, gw, subnet.prefix, v6, mtu).map_err(net_err)?;
        if v6.is_some() {
            berth_net::firewall::sysctl("net.ipv6.conf.all.forwarding", "1").map_err(net_err)?;
        }
        // Published ports reached through the host's loopback are routed into the bridge.
        berth_net::firewall::sysctl(&format!("net.ipv4.conf.{name}.route_localnet"), "1")
            .map_err(net_err)?;
        berth_net::firewall::sysctl("net.ipv4.ip_forward", "1").map_err(net_err)?;
        self.ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name);
        Ok(())
    }

    /// `DELETE /networks/{id}`.
    pub fn remove(&self, key: &str) -> Result<()> {
        let rec = self.get(key)?;
        let name = rec["Name"].as_str().unwrap_or_default().to_owned();
        if ["bridge", "host", "none"].contains(&name.as_str()) {
            return Err(Error::Forbidden(format!(
                "{name} is a pre-defined network and cannot be removed"
            )));
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let id = rec["Id"].as_str().unwrap_or_default().to_owned();
        let users: i64 = self
            .db()
            .query_row(
                "SELECT COUNT(*) FROM endpoints WHERE network = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(internal)?;
        if users > 0 {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {name} id {id} has active endpoints"
            )));
        }
        self.db()
            .execute("DELETE FROM networks WHERE id = ?1", params![id])
            .map_err(internal)?;
        self.apply_firewall()?;
        berth_net::link::delete(&bridge_name(&rec)).map_err(net_err)?;
        self.ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&bridge_name(&rec));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.emit(&rec, "destroy", &[]);
        Ok(())
    }

    /// `network prune`: user networks without endpoints (and no container configured on
    /// them: `in_use`). Their names.
    pub fn prune(&self, in_use: &HashSet<String>) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for rec in self.all()? {
            let name = rec["Name"].as_str().unwrap_or_default().to_owned();
            let id = rec["Id"].as_str().unwrap_or_default();
            if ["bridge", "host", "none"].contains(&name.as_str()) || in_use.contains(id) {
                continue;
            }
            if self.remove(id).is_ok() {
                gone.push(name);
            }
        }
        Ok(gone)
    }

    /// `GET /networks`: every network (with Docker's `filters`: name, id, driver, label,
    /// type=custom|builtin).
    pub fn list(&self, filters: &[(String, String)]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for mut rec in self.all()? {
            let builtin = ["bridge", "host", "none"].contains(&rec["Name"].as_str().unwrap_or(""));
            let ok = filter_keys(filters).into_iter().all(|k| {
                filters
                    .iter()
                    .filter(|(fk, _)| fk == k)
                    .any(|(_, v)| match k {
                        "name" => rec["Name"].as_str().is_some_and(|n| n.contains(v.as_str())),
                        "id" => rec["Id"]
                            .as_str()
                            .is_some_and(|i| i.starts_with(v.as_str())),
                        "driver" => rec["Driver"] == v.as_str(),
                        "scope" => v == "local",
                        "type" => (v == "builtin") == builtin,
                        "label" => {
                            let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                            rec["Labels"][lk]
                                .as_str()
                                .is_some_and(|x| lv.is_empty() || x == lv)
                        }
                        "dangling" => true,
                        _ => false,
                    })
            });
            if ok {
                rec["Containers"] = json!({});
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// `GET /networks/{id}`: the record with its running containers.
    pub fn inspect(&self, key: &str, names: &dyn Fn(&str) -> String) -> Result<Value> {
        let mut rec = self.get(key)?;
        let id = rec["Id"].as_str().unwrap_or_default().to_owned();
        let prefix = subnet_of(&rec)?.map(|s| s.prefix).unwrap_or(0);
        let prefix6 = subnet6_of(&rec).map(|s| s.prefix).unwrap_or(0);
        let mut containers = serde_json::Map::new();
        for e in self.endpoints_where("network", &id)? {
            containers.insert(
                e.container.clone(),
                json!({
                    "Name": names(&e.container),
                    "EndpointID": e.endpoint,
                    "MacAddress": e.mac,
                    "IPv4Address": format!("{}/{prefix}", e.ip),
                    "IPv6Address": e.ip6.map(|a| format!("{a}/{prefix6}")).unwrap_or_default(),
                }),
            );
        }
        rec["Containers"] = Value::Object(containers);
        Ok(rec)
    }

    fn endpoints_where(&self, column: &str, value: &str) -> Result<Vec<Endpoint>> {
        let db = self.db();
        let sql = format!(
            "SELECT container, network, endpoint, ip, mac, host_if, if_name, aliases, ports, ip6 FROM endpoints WHERE {column} = ?1 ORDER BY if_name"
        );
        let mut q = db.prepare_cached(&sql).map_err(internal)?;
        let rows = q
            .query_map(params![value], Endpoint::from_row)
            .map_err(internal)?;
        Ok(rows.flatten().collect())
    }

    fn all_endpoints(&self) -> Result<Vec<Endpoint>> {
        let db = self.db();
        let mut q = db
            .prepare_cached("SELECT container, network, endpoint, ip, mac, host_if, if_name, aliases, ports, ip6 FROM endpoints")
            .map_err(internal)?;
        let rows = q.query_map([], Endpoint::from_row).map_err(internal)?;
        Ok(rows.flatten().collect())
    }

    /// The firewall's model from every bridge network and published port; applied whole.
    fn apply_firewall(&self) -> Result<()> {
        let nets = self.all()?;
        let mut bridges = Vec::new();
        let mut by_id = BTreeMap::new();
        for n in &nets {
            if n["Driver"] != "bridge" {
                continue;
            }
            let Some(subnet) = subnet_of(n)? else {
                continue;
            };
            let opt = |k: &str, default: bool| {
                n["Options"][k]
                    .as_str()
                    .map(|v| v == "true")
                    .unwrap_or(default)
            };
            let id = n["Id"].as_str().unwrap_or_default();
            by_id.insert(id.to_owned(), n.clone());
            bridges.push(berth_net::firewall::Bridge {
                name: bridge_name(n),
                subnet,
                icc: opt("com.docker.network.bridge.enable_icc", true),
                internal: n["Internal"].as_bool().unwrap_or(false),
                masquerade: opt("com.docker.network.bridge.enable_ip_masquerade", true),
                port_prefix: port_prefix(id),
                subnet6: subnet6_of(n),
            });
        }
        let mut publish = Vec::new();
        for e in self.all_endpoints()? {
            for p in &e.ports {
                let (port, proto) = p.key.split_once('/').unwrap_or((&p.key, "tcp"));
                publish.push(berth_net::firewall::Publish {
                    proto: proto.to_owned(),
                    host_ip: p.host_ip.parse().ok(),
                    host_port: p.host_port,
                    container_ip: e.ip,
                    container_port: port.parse().unwrap_or(0),
                });
            }
        }
        berth_net::firewall::apply(&bridges, &publish).map_err(net_err)?;
        self.firewall_applied
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// At daemon start: bridges of user networks and of networks with running containers,
    /// endpoints of containers that stopped while we were away torn down, the firewall
    /// rebuilt. A daemon that has neither touches nothing (the default bridge comes with the
    /// first container that joins it).
    pub fn reconcile(&self, running: &dyn Fn(&str) -> bool) -> Result<()> {
        let mut stale = HashSet::new();
        let mut live_nets = HashSet::new();
        for e in self.all_endpoints()? {
            if running(&e.container) {
                live_nets.insert(e.network);
            } else {
                stale.insert(e.container);
            }
        }
        for c in stale {
            self.teardown(&c);
        }
        let mut any = !live_nets.is_empty();
        for n in self.all()? {
            let default = n["Options"]["com.docker.network.bridge.default_bridge"] == "true";
            let user = n["Driver"] == "bridge" && !default;
            if user || live_nets.contains(n["Id"].as_str().unwrap_or_default()) {
                any = true;
                if let Err(e) = self.ensure_bridge(&n) {
                    warn(&format!("network {}: {e}", n["Name"]));
                }
            }
        }
        if any {
            let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.apply_firewall()?;
        }
        Ok(())
    }

    /// On a graceful daemon stop with no container running: the default bridge and the
    /// firewall tables go (user networks' bridges stay, as their records do).
    pub fn shutdown(&self) {
        let touched = self
            .firewall_applied
            .load(std::sync::atomic::Ordering::Relaxed);
        if touched && self.all_endpoints().map(|e| e.is_empty()).unwrap_or(false) {
            let _ = berth_net::firewall::clear();
            let _ = berth_net::link::delete(DEFAULT_BRIDGE);
        }
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// The mounted namespace of a running container (None for `host` mode or a stopped one).
    pub fn netns_of(&self, id: &str) -> Option<PathBuf> {
        let p = self.netns_path(id);
        berth_net::netns::is_mounted(&p).then_some(p)
    }

    /// The namespace, addresses and files for a container about to start. `rec` is the
    /// container's record; `other_netns` resolves `container:<id>` to that container's
    /// namespace path.
    pub fn setup(
        &self,
        id: &str,
        rec: &Value,
        links: &[(String, String, String)],
        other: &dyn Fn(&str) -> Result<(String, PathBuf)>,
    ) -> Result<Setup> {
        // Leftovers of a run that ended while nobody watched.
        self.teardown(id);
        let hc = &rec["HostConfig"];
        let mode = hc["NetworkMode"].as_str().unwrap_or("bridge");
        let hostname = rec["Config"]["Hostname"].as_str().unwrap_or_default();
        if mode == "host" {
            return Ok(Setup {
                netns: None,
                hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            });
        }
        if let Some(target) = mode.strip_prefix("container:") {
            // The other container's namespace, so its addresses.
            let (other_id, path) = other(target)?;
            let ips: Vec<std::net::IpAddr> = self
                .endpoints_where("container", &other_id)?
                .iter()
                .take(1)
                .flat_map(addrs)
                .collect();
            let hosts = self.hosts_file(hostname, hc, &ips, links);
            return Ok(Setup {
                netns: Some(path),
                hosts,
                resolv: host_resolv(hc, &self.dns, None),
            });
        }
        let path = self.netns_path(id);
        berth_net::netns::create(&path).map_err(net_err)?;
        let r = self.attach_all(id, rec, &path);
        match r {
            Ok((hosts_ips, dns)) => Ok(Setup {
                netns: Some(path),
                hosts: self.hosts_file(hostname, hc, &hosts_ips, links),
                resolv: host_resolv(hc, &self.dns, dns),
            }),
            Err(e) => {
                self.teardown(id);
                Err(e)
            }
        }
    }

    /// Connect the new namespace to each of the container's networks.
    fn attach_all(
        &self,
        id: &str,
        rec: &Value,
        path: &Path,
    ) -> Result<(Vec<std::net::IpAddr>, Option<Ipv4Addr>)> {
        let nets = networks_of(rec);
        if nets.is_empty() || nets == ["none"] {
            berth_net::link::loopback_up(path).map_err(net_err)?;
            return Ok((Vec::new(), None));
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut ips = Vec::new();
        let mut dns = None;
        let mut any_ports = false;
        for (i, (key, cfg)) in nets_with_config(rec).into_iter().enumerate() {
            let net = self.get(&key)?;
            if net["Driver"] != "bridge" {
                return Err(Error::InvalidParameter(
                    "container cannot be disconnected from host network or connected to host network".into(),
                ));
            }
            let ports = if i == 0 {
                self.bind_ports(id, rec)?
            } else {
                Vec::new()
            };
            any_ports |= !ports.is_empty();
            let ep = self.attach_one(id, rec, path, &net, &cfg, i, ports)?;
            ips.push(std::net::IpAddr::V4(ep.ip));
            if let Some(a) = ep.ip6 {
                ips.push(std::net::IpAddr::V6(a));
            }
            if net["Options"]["com.docker.network.bridge.default_bridge"] != "true" && dns.is_none()
            {
                dns = gateway_of(&net);
            }
        }
        if any_ports
            || !self
                .firewall_applied
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            self.apply_firewall()?;
        }
        Ok((ips, dns))
    }

    #[allow(clippy::too_many_arguments)]
    fn attach_one(
        &self,
        id: &str,
        rec: &Value,
        path: &Path,
        net: &Value,
        cfg: &Value,
        index: usize,
        ports: Vec<PortBinding>,
    ) -> Result<Endpoint> {
        let net_id = net["Id"].as_str().unwrap_or_default().to_owned();
        let subnet = subnet_of(net)?.ok_or_else(|| internal("the network has no subnet"))?;
        let gateway = gateway_of(net).unwrap_or_else(|| subnet.first_host());
        let default_bridge = net["Options"]["com.docker.network.bridge.default_bridge"] == "true";
        let used: HashSet<Ipv4Addr> = self
            .endpoints_where("network", &net_id)?
            .iter()
            .map(|e| e.ip)
            .collect();
        let wanted = cfg["IPAMConfig"]["IPv4Address"]
            .as_str()
            .filter(|s| !s.is_empty());
        let ip = match wanted {
            Some(w) => {
                if default_bridge {
                    return Err(Error::InvalidParameter(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                let ip: Ipv4Addr = w
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid IPv4 address: {w}")))?;
                if !subnet.contains(ip) {
                    return Err(Error::InvalidParameter(format!(
                        "invalid endpoint settings: no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                if used.contains(&ip) || ip == gateway {
                    return Err(Error::Forbidden(format!("Address already in use: {ip}")));
                }
                ip
            }
            None => {
                let range = net["IPAM"]["Config"][0]["IPRange"]
                    .as_str()
                    .and_then(|r| Subnet::parse(r).ok());
                ipam::allocate(&subnet, range.as_ref(), gateway, &used).ok_or_else(|| {
                    Error::Forbidden(format!(
                        "no available IPv4 addresses on this network's address pools: {} ({net_id})",
                        net["Name"].as_str().unwrap_or_default()
                    ))
                })?
            }
        };
        let mac = match cfg["MacAddress"].as_str().filter(|m| !m.is_empty()) {
            Some(m) => ipam::parse_mac(m).map_err(net_err)?,
            None => ipam::mac_of(ip),
        };
        let host_if = format!(
            "{}{}",
            port_prefix(&net_id),
            crate::containers::random_hex(3)
        );
        let mut aliases: Vec<String> = crate::containers::strings_of(&cfg["Aliases"]);
        if !default_bridge {
            // dockerd adds the short id as an alias on user networks.
            aliases.push(id[..12].to_owned());
        }
        // IPv6 on dual-stack networks: the asked address or the lowest free one.
        let ip6 = match subnet6_of(net) {
            Some(s6) => {
                let g6 = gateway6_of(net).unwrap_or_else(|| s6.first_host());
                let used6: HashSet<std::net::Ipv6Addr> = self
                    .endpoints_where("network", &net_id)?
                    .iter()
                    .filter_map(|e| e.ip6)
                    .collect();
                match cfg["IPAMConfig"]["IPv6Address"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                {
                    Some(w) => {
                        let a: std::net::Ipv6Addr = w.parse().map_err(|_| {
                            Error::InvalidParameter(format!("invalid IPv6 address: {w}"))
                        })?;
                        if !s6.contains(a) {
                            return Err(Error::InvalidParameter(format!(
                                "invalid endpoint settings: no configured subnet or ip-range contain the IP address {a}"
                            )));
                        }
                        if used6.contains(&a) || a == g6 {
                            return Err(Error::Forbidden(format!("Address already in use: {a}")));
                        }
                        Some((a, s6.prefix, g6))
                    }
                    None => s6.allocate(g6, &used6).map(|a| (a, s6.prefix, g6)),
                }
            }
            None => None,
        };
        let ep = Endpoint {
            ip6: ip6.map(|(a, _, _)| a),
            container: id.to_owned(),
            network: net_id.clone(),
            endpoint: crate::containers::random_hex(32),
            ip,
            mac: ipam::mac_string(&mac),
            host_if: host_if.clone(),
            if_name: format!("eth{index}"),
            aliases,
            ports,
        };
        // The row first: an interrupted attach is torn down from it.
        self.db()
            .execute(
                "INSERT OR REPLACE INTO endpoints (container, network, endpoint, ip, mac, host_if, if_name, aliases, ports, ip6) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    ep.container,
                    ep.network,
                    ep.endpoint,
                    ep.ip.to_string(),
                    ep.mac,
                    ep.host_if,
                    ep.if_name,
                    json!(ep.aliases).to_string(),
                    ports_json(&ep.ports).to_string(),
                    ep.ip6.map(|a| a.to_string()).unwrap_or_default()
                ],
            )
            .map_err(internal)?;
        let bridge = bridge_name(net);
        let known = self
            .ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&bridge);
        if !known {
            self.ensure_bridge(net)?;
        }
        let link_ep = berth_net::link::Endpoint {
            host_if,
            if_name: ep.if_name.clone(),
            bridge: bridge_name(net),
            ip,
            prefix: subnet.prefix,
            mac,
            gateway: (index == 0 && !net["Internal"].as_bool().unwrap_or(false)).then_some(gateway),
            ip6: ip6.map(|(a, p, _)| (a, p)),
            gateway6: ip6
                .filter(|_| index == 0 && !net["Internal"].as_bool().unwrap_or(false))
                .map(|(_, _, g)| g),
            mtu: net["Options"]["com.docker.network.driver.mtu"]
                .as_str()
                .and_then(|m| m.parse().ok()),
        };
        if let Err(e) = berth_net::link::attach(path, &link_ep) {
            if !known || berth_net::link::exists(&bridge).unwrap_or(true) {
                return Err(net_err(e));
            }
            // The bridge went away behind our back: made again, once.
            self.ensure_bridge(net)?;
            berth_net::link::attach(path, &link_ep).map_err(net_err)?;
        }
        // Bandwidth limits on the primary interface (Berth's own HostConfig keys).
        if index == 0 {
            let hc = &rec["HostConfig"];
            if let Some(r) = hc["NetRateIngress"].as_str().filter(|r| !r.is_empty()) {
                let bits = berth_net::tc::parse_rate(r).map_err(net_err)?;
                berth_net::tc::limit(None, &ep.host_if, bits).map_err(net_err)?;
            }
            if let Some(r) = hc["NetRateEgress"].as_str().filter(|r| !r.is_empty()) {
                let bits = berth_net::tc::parse_rate(r).map_err(net_err)?;
                berth_net::tc::limit(Some(path), &ep.if_name, bits).map_err(net_err)?;
            }
        }
        self.emit(net, "connect", &[("container", id.to_owned())]);
        Ok(ep)
    }

    /// Host ports for the container's published ports (`PortBindings`, and every exposed
    /// port with `PublishAllPorts`): given ones checked free, empty ones picked.
    fn bind_ports(&self, id: &str, rec: &Value) -> Result<Vec<PortBinding>> {
        let hc = &rec["HostConfig"];
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for (key, list) in hc["PortBindings"].as_object().into_iter().flatten() {
            for b in list.as_array().into_iter().flatten() {
                wanted.push((
                    normalize_port_key(key)?,
                    b["HostIp"].as_str().unwrap_or_default().to_owned(),
                    b["HostPort"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        if hc["PublishAllPorts"].as_bool() == Some(true) {
            for key in rec["Config"]["ExposedPorts"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                let key = normalize_port_key(key)?;
                if !wanted.iter().any(|(k, _, _)| *k == key) {
                    wanted.push((key, String::new(), String::new()));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let name = rec["Name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned();
        let taken: Vec<PortBinding> = self
            .all_endpoints()?
            .into_iter()
            .filter(|e| e.container != id)
            .flat_map(|e| e.ports)
            .collect();
        let mut out: Vec<PortBinding> = Vec::new();
        for (key, host_ip, host_port) in wanted {
            let proto = key
                .split_once('/')
                .map(|(_, p)| p)
                .unwrap_or("tcp")
                .to_owned();
            let ip = if host_ip.is_empty() {
                "0.0.0.0".to_owned()
            } else {
                host_ip
            };
            let ip_addr: Ipv4Addr = ip.parse().map_err(|_| {
                Error::InvalidParameter(format!("invalid IP address in port binding: {ip}"))
            })?;
            let clash = |p: u16, others: &[PortBinding]| {
                others.iter().any(|t| {
                    t.host_port == p
                        && t.key.ends_with(&format!("/{proto}"))
                        && (t.host_ip == ip || t.host_ip == "0.0.0.0" || ip == "0.0.0.0")
                })
            };
            let free_on_host = |p: u16| match proto.as_str() {
                "udp" => std::net::UdpSocket::bind((ip_addr, p)).is_ok(),
                _ => std::net::TcpListener::bind((ip_addr, p)).is_ok(),
            };
            let port = if host_port.is_empty() {
                let (lo, hi) = ephemeral_range();
                (lo..=hi)
                    .find(|p| !clash(*p, &taken) && !clash(*p, &out) && free_on_host(*p))
                    .ok_or_else(|| internal("no free host port"))?
            } else {
                let (lo, hi) = match host_port.split_once('-') {
                    Some((a, b)) => (parse_port(a)?, parse_port(b)?),
                    None => {
                        let p = parse_port(&host_port)?;
                        (p, p)
                    }
                };
                match (lo..=hi).find(|p| !clash(*p, &taken) && !clash(*p, &out) && free_on_host(*p))
                {
                    Some(p) => p,
                    None => {
                        return Err(Error::Internal(format!(
                            "driver failed programming external connectivity on endpoint {name} ({id}): Bind for {ip}:{host_port} failed: port is already allocated"
                        )));
                    }
                }
            };
            out.push(PortBinding {
                key,
                host_ip: ip,
                host_port: port,
            });
        }
        Ok(out)
    }

    /// Give back a container's addresses and namespace (idempotent).
    pub fn teardown(&self, id: &str) {
        let eps = self.endpoints_where("container", id).unwrap_or_default();
        let path = self.netns_path(id);
        if eps.is_empty() {
            if path.exists() {
                berth_net::netns::remove(&path);
            }
            return;
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        // The namespace goes with its mount (its processes are gone), and the kernel deletes
        // both ends of its veths with it, in the background: deleting a veth here would wait
        // ~20 ms for RCU on every stop. Host ends whose namespace is not ours (a failed setup)
        // are deleted explicitly.
        let mounted = berth_net::netns::is_mounted(&path);
        berth_net::netns::remove(&path);
        if !mounted {
            for e in &eps {
                let _ = berth_net::link::delete(&e.host_if);
            }
        }
        let _ = self
            .db()
            .execute("DELETE FROM endpoints WHERE container = ?1", params![id]);
        if eps.iter().any(|e| !e.ports.is_empty()) {
            let _ = self.apply_firewall();
        }
        for e in &eps {
            if let Ok(Some(net)) = self.find(&e.network) {
                self.emit(&net, "disconnect", &[("container", id.to_owned())]);
            }
        }
    }

    /// `NetworkSettings` of a container, as dockerd shapes it.
    pub fn settings(&self, id: &str, rec: &Value) -> Result<Value> {
        let eps = self.endpoints_where("container", id)?;
        let mut networks = serde_json::Map::new();
        let mode = rec["HostConfig"]["NetworkMode"]
            .as_str()
            .unwrap_or("bridge");
        let mut ports = serde_json::Map::new();
        for key in rec["Config"]["ExposedPorts"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            ports.insert(key.clone(), Value::Null);
        }
        for key in rec["HostConfig"]["PortBindings"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            ports.insert(key.clone(), Value::Null);
        }
        for (key, cfg) in nets_with_config(rec) {
            let Ok(net) = self.get(&key) else { continue };
            let net_id = net["Id"].as_str().unwrap_or_default();
            let ep = eps.iter().find(|e| e.network == net_id);
            let prefix = subnet_of(&net)?.map(|s| s.prefix).unwrap_or(0);
            let name = net["Name"].as_str().unwrap_or_default().to_owned();
            let user_aliases = crate::containers::strings_of(&cfg["Aliases"]);
            networks.insert(
                name.clone(),
                json!({
                    "IPAMConfig": if cfg["IPAMConfig"].is_object() { cfg["IPAMConfig"].clone() } else { Value::Null },
                    "Links": cfg["Links"].clone(),
                    "Aliases": if user_aliases.is_empty() { Value::Null } else { json!(user_aliases) },
                    "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                    "DriverOpts": null,
                    "NetworkID": net_id,
                    "EndpointID": ep.map(|e| e.endpoint.clone()).unwrap_or_default(),
                    "Gateway": ep.and(gateway_of(&net)).map(|g| g.to_string()).unwrap_or_default(),
                    "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                    "IPPrefixLen": if ep.is_some() { prefix } else { 0 },
                    "IPv6Gateway": ep.filter(|e| e.ip6.is_some()).and(gateway6_of(&net)).map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6Address": ep.and_then(|e| e.ip6).map(|a| a.to_string()).unwrap_or_default(),
                    "GlobalIPv6PrefixLen": if ep.and_then(|e| e.ip6).is_some() { subnet6_of(&net).map(|s| s.prefix).unwrap_or(0) } else { 0 },
                    "DNSNames": ep.filter(|_| name != "bridge").map(|e| {
                        let mut n = vec![rec["Name"].as_str().unwrap_or_default().trim_start_matches('/').to_owned()];
                        n.extend(e.aliases.iter().cloned());
                        json!(n)
                    }).unwrap_or(Value::Null),
                }),
            );
            if let Some(e) = ep {
                for p in &e.ports {
                    let list = ports.entry(p.key.clone()).or_insert(json!([]));
                    if !list.is_array() {
                        *list = json!([]);
                    }
                    if let Some(a) = list.as_array_mut() {
                        a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
                    }
                }
            }
        }
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            let name = if mode.starts_with("container:") {
                None
            } else {
                Some(mode)
            };
            if let Some(n) = name {
                let net = self.get(n).unwrap_or(Value::Null);
                networks.insert(
                    n.to_owned(),
                    json!({
                        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
                        "NetworkID": net["Id"], "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
                    }),
                );
            }
        }
        // The top-level fields describe the default bridge's endpoint (as dockerd's do).
        let primary = networks.get("bridge").cloned().unwrap_or(Value::Null);
        let running = !eps.is_empty();
        Ok(json!({
            "Bridge": "",
            // One id per run (clients only compare it): the first endpoint's.
            "SandboxID": eps.first().map(|e| e.endpoint.clone()).unwrap_or_default(),
            "SandboxKey": if running { json!(self.netns_path(id)) } else { json!("") },
            "Ports": if running || !ports.is_empty() { Value::Object(ports) } else { json!({}) },
            "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": primary["EndpointID"].as_str().unwrap_or_default(),
            "Gateway": primary["Gateway"].as_str().unwrap_or_default(),
            "GlobalIPv6Address": primary["GlobalIPv6Address"].as_str().unwrap_or_default(),
            "GlobalIPv6PrefixLen": primary["GlobalIPv6PrefixLen"].as_u64().unwrap_or(0),
            "IPAddress": primary["IPAddress"].as_str().unwrap_or_default(),
            "IPPrefixLen": primary["IPPrefixLen"].as_u64().unwrap_or(0),
            "IPv6Gateway": primary["IPv6Gateway"].as_str().unwrap_or_default(),
            "MacAddress": primary["MacAddress"].as_str().unwrap_or_default(),
            "Networks": Value::Object(networks),
        }))
    }

    /// The published ports of a running container (for `port` and `ps`).
    pub fn ports_of(&self, id: &str) -> Vec<PortBinding> {
        self.endpoints_where("container", id)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.ports)
            .collect()
    }

    /// A name as the container at `asker` (on the network whose gateway is `gateway`) sees
    /// it: names, aliases and short ids of the containers on any of its user networks, by
    /// address on the network they share (for the DNS server).
    pub fn lookup(
        &self,
        gateway: Ipv4Addr,
        asker: Ipv4Addr,
        name: &str,
        names: &dyn Fn(&str) -> String,
        links: &dyn Fn(&str) -> Links,
    ) -> Vec<std::net::IpAddr> {
        let name = name.trim_end_matches('.').to_lowercase();
        let Ok(nets) = self.all() else {
            return Vec::new();
        };
        let Some(net) = nets.iter().find(|n| gateway_of(n) == Some(gateway)) else {
            return Vec::new();
        };
        let net_id = net["Id"].as_str().unwrap_or_default();
        let here = self.endpoints_where("network", net_id).unwrap_or_default();
        // The asker's networks (user-defined ones: the default bridge has no names).
        let me = here
            .iter()
            .find(|e| e.ip == asker)
            .map(|e| e.container.clone());
        let mut searched: Vec<String> = match &me {
            Some(me) => self
                .endpoints_where("container", me)
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.network)
                .collect(),
            None => vec![net_id.to_owned()],
        };
        // --link aliases are the linking container's alone.
        if let Some(me) = &me {
            for (tid, alias, _) in links(me) {
                if alias.to_lowercase() == name {
                    let ips: Vec<std::net::IpAddr> = self
                        .endpoints_where("container", &tid)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|e| searched.contains(&e.network))
                        .flat_map(|e| addrs(&e))
                        .collect();
                    if !ips.is_empty() {
                        return ips;
                    }
                }
            }
        }
        searched.retain(|id| {
            nets.iter().any(|n| {
                n["Id"] == id.as_str()
                    && n["Options"]["com.docker.network.bridge.default_bridge"] != "true"
            })
        });
        let mut out = Vec::new();
        for id in searched {
            for e in self.endpoints_where("network", &id).unwrap_or_default() {
                let hit = names(&e.container).to_lowercase() == name
                    || e.aliases.iter().any(|a| a.to_lowercase() == name);
                if hit {
                    for a in addrs(&e) {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                }
            }
        }
        out
    }

    /// Gateways and subnets of user-defined bridge networks (where DNS servers listen).
    pub fn dns_servers(&self) -> Vec<(Ipv4Addr, Subnet)> {
        self.all()
            .unwrap_or_default()
            .iter()
            .filter(|n| {
                n["Driver"] == "bridge"
                    && n["Options"]["com.docker.network.bridge.default_bridge"] != "true"
            })
            .filter_map(|n| Some((gateway_of(n)?, subnet_of(n).ok()??)))
            .collect()
    }

    /// /etc/hosts for a container: localhost lines, its address(es) and name, `--add-host`.
    fn hosts_file(
        &self,
        hostname: &str,
        hc: &Value,
        ips: &[std::net::IpAddr],
        links: &[(String, String, String)],
    ) -> String {
        let mut s = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for h in crate::containers::strings_of(&hc["ExtraHosts"]) {
            if let Some((name, ip)) = h.split_once(':') {
                s.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        // --link: the target's address under the alias and its name (as dockerd writes them).
        for (tid, alias, tname) in links {
            if let Some(e) = self
                .endpoints_where("container", tid)
                .unwrap_or_default()
                .first()
            {
                if alias == tname {
                    s.push_str(&format!("{}\t{tname}\n", e.ip));
                } else {
                    s.push_str(&format!("{}\t{alias} {tname}\n", e.ip));
                }
            }
        }
        // The first network's addresses (IPv4, and IPv6 on a dual-stack network).
        if let Some(v4) = ips.iter().find(|i| i.is_ipv4()) {
            s.push_str(&format!("{v4}\t{hostname}\n"));
        }
        if let Some(v6) = ips.iter().take(2).find(|i| i.is_ipv6()) {
            s.push_str(&format!("{v6}\t{hostname}\n"));
        }
        s
    }

    /// Record a network joined by a stopped or running container (`network connect`).
    pub fn connect_running(&self, id: &str, rec: &Value, key: &str, cfg: &Value) -> Result<()> {
        let net = self.get(key)?;
        let path = self.netns_path(id);
        let existing = self.endpoints_where("container", id)?;
        let net_id = net["Id"].as_str().unwrap_or_default();
        if existing.iter().any(|e| e.network == net_id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec["Name"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/'),
                net["Name"].as_str().unwrap_or_default()
            )));
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let index = existing.len();
        let mut ep_cfg = cfg.clone();
        if !ep_cfg.is_object() {
            ep_cfg = json!({});
        }
        self.attach_one(id, rec, &path, &net, &ep_cfg, index, Vec::new())
            .map(|_| ())
    }

    /// Remove a running container's endpoint on one network (`network disconnect`).
    pub fn disconnect_running(&self, id: &str, key: &str) -> Result<()> {
        let net = self.get(key)?;
        let net_id = net["Id"].as_str().unwrap_or_default().to_owned();
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let eps = self.endpoints_where("container", id)?;
        let Some(ep) = eps.iter().find(|e| e.network == net_id) else {
            return Ok(());
        };
        let _ = berth_net::link::detach(&self.netns_path(id), &ep.if_name);
        let _ = berth_net::link::delete(&ep.host_if);
        self.db()
            .execute(
                "DELETE FROM endpoints WHERE container = ?1 AND network = ?2",
                params![id, net_id],
            )
            .map_err(internal)?;
        if !ep.ports.is_empty() {
            self.apply_firewall()?;
        }
        self.emit(&net, "disconnect", &[("container", id.to_owned())]);
        Ok(())
    }

    /// The canonical id of a network (for records).
    pub fn id_of(&self, key: &str) -> Result<String> {
        Ok(self.get(key)?["Id"].as_str().unwrap_or_default().to_owned())
    }
}

/// An endpoint's addresses (IPv4, and IPv6 on dual-stack networks).
fn addrs(e: &Endpoint) -> Vec<std::net::IpAddr> {
    let mut v = vec![std::net::IpAddr::V4(e.ip)];
    if let Some(a) = e.ip6 {
        v.push(std::net::IpAddr::V6(a));
    }
    v
}

fn warn(msg: &str) {
    eprintln!("berth: warning: {msg}");
}

fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

fn parse_port(s: &str) -> Result<u16> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::InvalidParameter(format!("invalid port specification: \"{s}\"")))
}

/// `80` → `80/tcp`; the protocol checked.
pub fn normalize_port_key(key: &str) -> Result<String> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    if !["tcp", "udp", "sctp"].contains(&proto) {
        return Err(Error::InvalidParameter(format!("invalid proto: {proto}")));
    }
    parse_port(port)?;
    Ok(format!("{port}/{proto}"))
}

fn filter_keys(filters: &[(String, String)]) -> Vec<&str> {
    let mut k: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    k.sort_unstable();
    k.dedup();
    k
}

fn ports_json(ports: &[PortBinding]) -> Value {
    json!(
        ports
            .iter()
            .map(|p| json!({"Key": p.key, "HostIp": p.host_ip, "HostPort": p.host_port}))
            .collect::<Vec<_>>()
    )
}

/// A running container's endpoint on one network.
#[derive(Debug, Clone)]
struct Endpoint {
    container: String,
    network: String,
    endpoint: String,
    ip: Ipv4Addr,
    mac: String,
    host_if: String,
    if_name: String,
    aliases: Vec<String>,
    ports: Vec<PortBinding>,
    ip6: Option<std::net::Ipv6Addr>,
}

impl Endpoint {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
        let ports: Value = serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or(Value::Null);
        Ok(Endpoint {
            container: r.get(0)?,
            network: r.get(1)?,
            endpoint: r.get(2)?,
            ip: r
                .get::<_, String>(3)?
                .parse()
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            mac: r.get(4)?,
            host_if: r.get(5)?,
            if_name: r.get(6)?,
            aliases: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
            ports: ports
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| PortBinding {
                    key: p["Key"].as_str().unwrap_or_default().to_owned(),
                    host_ip: p["HostIp"].as_str().unwrap_or_default().to_owned(),
                    host_port: p["HostPort"].as_u64().unwrap_or(0) as u16,
                })
                .collect(),
            ip6: r.get::<_, String>(9)?.parse().ok(),
        })
    }
}

fn base_record(name: &str, driver: &str) -> Value {
    json!({
        "Name": name,
        "Id": crate::containers::random_hex(32),
        "Created": now_rfc3339(),
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Options": {},
        "Labels": {},
    })
}

fn subnet_of(rec: &Value) -> Result<Option<Subnet>> {
    rec["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .map(|s| Subnet::parse(s).map_err(net_err))
        .transpose()
}

fn v6_config(rec: &Value) -> Option<&Value> {
    rec["IPAM"]["Config"]
        .as_array()?
        .iter()
        .find(|c| c["Subnet"].as_str().is_some_and(|s| s.contains(':')))
}

fn subnet6_of(rec: &Value) -> Option<ipam::Subnet6> {
    ipam::Subnet6::parse(v6_config(rec)?["Subnet"].as_str()?).ok()
}

fn gateway6_of(rec: &Value) -> Option<std::net::Ipv6Addr> {
    v6_config(rec)?["Gateway"].as_str()?.parse().ok()
}

fn gateway_of(rec: &Value) -> Option<Ipv4Addr> {
    rec["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .and_then(|g| g.parse().ok())
}

/// The bridge interface of a network: `berth0` for the default one, else `br-<id12>`
/// (or `com.docker.network.bridge.name`).
pub fn bridge_name(rec: &Value) -> String {
    if let Some(n) = rec["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .filter(|n| !n.is_empty())
    {
        return n.to_owned();
    }
    format!("br-{}", &rec["Id"].as_str().unwrap_or("000000000000")[..12])
}

/// Host ends of one network's veths share this prefix (the icc rule matches it).
fn port_prefix(net_id: &str) -> String {
    format!("vb{}", &net_id[..6.min(net_id.len())])
}

/// The networks a container joins, in order: its network mode first, then the others of
/// `NetworkingConfig.EndpointsConfig` by name.
pub fn networks_of(rec: &Value) -> Vec<String> {
    nets_with_config(rec).into_iter().map(|(k, _)| k).collect()
}

fn nets_with_config(rec: &Value) -> Vec<(String, Value)> {
    let mode = rec["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap_or("bridge");
    let mode = if mode.is_empty() || mode == "default" {
        "bridge"
    } else {
        mode
    };
    if mode == "host" || mode == "none" || mode.starts_with("container:") {
        return if mode == "none" {
            vec![("none".into(), json!({}))]
        } else {
            Vec::new()
        };
    }
    let eps = rec["NetworkingConfig"]["EndpointsConfig"].as_object();
    // The mode's network leads, unless it was disconnected (absent from a present map).
    let mut out = Vec::new();
    match eps {
        Some(e) if !e.contains_key(mode) => {}
        _ => out.push((
            mode.to_owned(),
            eps.and_then(|e| e.get(mode)).cloned().unwrap_or(json!({})),
        )),
    }
    let mut rest: Vec<(String, Value)> = eps
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != mode)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(rest);
    out
}

/// resolv.conf: the embedded DNS server (the network's gateway) on user networks, else the
/// host's servers minus loopback ones; `--dns`, `--dns-search`, `--dns-option` override.
fn host_resolv(hc: &Value, daemon_dns: &[Ipv4Addr], embedded: Option<Ipv4Addr>) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut servers: Vec<String> = host
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.starts_with("127.") && s != "::1")
        .collect();
    let mut search: Vec<String> = host
        .lines()
        .filter_map(|l| l.strip_prefix("search"))
        .flat_map(|s| s.split_whitespace().map(str::to_owned))
        .collect();
    let mut options: Vec<String> = host
        .lines()
        .filter_map(|l| l.strip_prefix("options"))
        .flat_map(|s| s.split_whitespace().map(str::to_owned))
        .collect();
    if !daemon_dns.is_empty() {
        servers = daemon_dns.iter().map(|d| d.to_string()).collect();
    }
    let dns = crate::containers::strings_of(&hc["Dns"]);
    if !dns.is_empty() {
        servers = dns;
    }
    let ds = crate::containers::strings_of(&hc["DnsSearch"]);
    if !ds.is_empty() {
        search = ds.into_iter().filter(|s| s != ".").collect();
    }
    let dopts = crate::containers::strings_of(&hc["DnsOptions"]);
    if !dopts.is_empty() {
        options = dopts;
    }
    if let Some(gw) = embedded {
        // The embedded server answers for the network and forwards the rest.
        servers = vec![gw.to_string()];
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    }
    let mut s = String::new();
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// The upstream servers for the embedded DNS server: the daemon's `--dns` servers if set,
/// else the host's, minus loopback ones (they would not be reachable from the containers' side
/// of the daemon's resolver, but a daemon-given one is taken as meant).
pub fn upstream_servers(daemon_dns: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    if !daemon_dns.is_empty() {
        return daemon_dns.to_vec();
    }
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_loopback())
        .collect()
}
