//! `POST /containers/create`: the request merged with its image's defaults as dockerd merges
//! them, every setting checked before anything is written, then the record and the directory
//! (or neither).

use std::collections::BTreeMap;

use berth_image::images::Images;
use berth_models::container::{
    Config, CreateRequest, CreateResponse, Empty, HostConfig, NetworkingConfig,
};
use berth_models::image::ConfigFile;
use berth_models::network::EndpointSettings;

use super::store::Claim;
use super::{Containers, Defaults, Record, ZERO_TIME};
use crate::error::IoContext;
use crate::time::now_rfc3339;
use crate::util::{parse_size, random_hex, random_name, valid_name};
use crate::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

/// Docker's message for an image that is not there, naming it as a normalised reference.
pub(crate) fn no_such_image(name: &str) -> Error {
    let shown = match berth_image::reference::Reference::parse(name) {
        Ok(r) if !name.contains('@') => r.to_string(),
        _ => name.to_owned(),
    };
    Error::NoSuchImage(shown)
}

/// The container's `Config`: the request's over the image's, as dockerd merges them
/// (a new entrypoint drops the image's command; Env by variable; Labels by key).
pub fn merge_config(
    req: &Config,
    image: &Config,
    id: &str,
) -> Result<(Config, String, Vec<String>)> {
    // As moby's merge: a given entrypoint replaces the image's and drops its command; an
    // empty one (`--entrypoint ""`) only clears the image's entrypoint.
    let user_ep: Option<Vec<String>> = req
        .entrypoint
        .as_ref()
        .map(|e| e.iter().filter(|a| !a.is_empty()).cloned().collect());
    let user_cmd = req.cmd.clone().filter(|c| !c.is_empty());
    let (entrypoint, cmd): (Vec<String>, Vec<String>) = match user_ep {
        Some(ep) if !ep.is_empty() => (ep, user_cmd.unwrap_or_default()),
        given => (
            match given {
                Some(_) => Vec::new(),
                None => image.entrypoint.clone().unwrap_or_default(),
            },
            user_cmd.unwrap_or_else(|| image.cmd.clone().unwrap_or_default()),
        ),
    };
    let mut argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
    if argv.is_empty() {
        return Err(bad("no command specified"));
    }
    let path = argv.remove(0);
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for e in req.env.iter().flatten() {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    let mut c = req.clone();
    c.env = Some(env);
    c.cmd = Some(cmd);
    c.entrypoint = (!entrypoint.is_empty()).then_some(entrypoint);
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    if c.hostname.is_empty() {
        c.hostname = id[..12].to_owned();
    }
    if c.healthcheck.is_none() {
        c.healthcheck = image.healthcheck.clone();
    }
    if c.stop_signal.is_empty() {
        c.stop_signal = image.stop_signal.clone();
    }
    if c.shell.as_ref().is_none_or(Vec::is_empty) {
        c.shell = image.shell.clone();
    }
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(req.labels.clone().unwrap_or_default());
    c.labels = Some(labels);
    if let Some(iv) = &image.volumes {
        let mut v = c.volumes.take().unwrap_or_default();
        v.extend(iv.iter().map(|(k, e)| (k.clone(), *e)));
        c.volumes = Some(v);
    }
    Ok((c, path, argv))
}

/// The daemon's defaults for what the request left unset, recorded so that `inspect` shows
/// what holds: the pids limit, the memory ceiling (without swap beyond it), the masked and
/// read-only paths (none with `systempaths=unconfined`).
pub fn apply_defaults(hc: &mut HostConfig, d: &Defaults) {
    let r = &mut hc.resources;
    if r.pids_limit.is_none_or(|p| p == 0) && d.pids_limit > 0 {
        r.pids_limit = Some(d.pids_limit);
    }
    if r.memory == 0 && d.memory > 0 {
        r.memory = d.memory;
        if r.memory_swap == 0 {
            r.memory_swap = d.memory;
        }
    }
    let unconfined = hc.security_opt.iter().flatten().any(|o| {
        matches!(
            o.as_str(),
            "systempaths=unconfined" | "systempaths:unconfined"
        )
    });
    if unconfined {
        hc.masked_paths.get_or_insert_with(Vec::new);
        hc.readonly_paths.get_or_insert_with(Vec::new);
    }
    if !hc.privileged {
        if hc.masked_paths.is_none() {
            hc.masked_paths = d.masked_paths.clone();
        }
        if hc.readonly_paths.is_none() {
            hc.readonly_paths = d.readonly_paths.clone();
        }
    }
}

/// dockerd's defaults for what the request left empty.
pub fn normalize_host_config(hc: &mut HostConfig) {
    if hc.log_config.r#type.is_empty() {
        hc.log_config.r#type = "json-file".into();
    }
    if hc.restart_policy.name.is_empty() {
        hc.restart_policy.name = "no".into();
    }
    if hc.shm_size == 0 {
        hc.shm_size = 64 << 20;
    }
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = "private".into();
    }
    if hc.cgroupns_mode.is_empty() {
        hc.cgroupns_mode = "private".into();
    }
    if hc.runtime.is_empty() {
        hc.runtime = "berth".into();
    }
    if hc.resources.oom_kill_disable.is_none() {
        hc.resources.oom_kill_disable = Some(false);
    }
    if hc.masked_paths.is_none() {
        hc.masked_paths = Some(if hc.privileged {
            Vec::new()
        } else {
            berth_runtime::spec::MASKED_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        });
    }
    if hc.readonly_paths.is_none() {
        hc.readonly_paths = Some(if hc.privileged {
            Vec::new()
        } else {
            berth_runtime::spec::READONLY_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        });
    }
    hc.network_mode = match hc.network_mode.as_str() {
        "" | "default" => "bridge".into(),
        m => m.to_owned(),
    };
}

/// Settings dockerd refuses at create: restart policy, log driver and options, storage
/// options (the quota's size), ports.
fn check_host_config(hc: &HostConfig) -> Result<Option<u64>> {
    match hc.restart_policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => return Err(bad(format!("invalid restart policy '{other}'"))),
    }
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
        return Err(bad(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    super::runtime_of(&hc.runtime)?;
    match hc.log_config.r#type.as_str() {
        "" | "json-file" | "none" => {}
        other @ ("local" | "syslog" | "journald" | "gelf" | "fluentd" | "awslogs" | "splunk"
        | "etwlogs" | "gcplogs" | "logentries") => {
            return Err(bad(format!(
                "logging driver {other:?} is not supported by Berth (json-file or none)"
            )));
        }
        other => {
            return Err(bad(format!(
                "logger: no log driver named '{other}' is registered"
            )));
        }
    }
    // dockerd checks no options of `none`.
    let opts = (hc.log_config.r#type != "none").then_some(&hc.log_config.config);
    for (k, v) in opts.into_iter().flatten() {
        let ok = match k.as_str() {
            "max-size" => parse_size(v).is_some_and(|n| n > 0),
            "max-file" => v.parse::<u32>().is_ok_and(|n| n > 0),
            "compress" | "labels" | "env" | "tag" => true,
            _ => false,
        };
        if !ok {
            return Err(bad(format!("invalid log opt {k}={v}")));
        }
    }
    for (key, list) in &hc.port_bindings {
        crate::networks::normalize_port_key(key)?;
        for b in list.iter().flatten() {
            for part in b.host_port.split('-').filter(|p| !p.is_empty()) {
                if part.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
                    return Err(bad(format!(
                        "invalid port specification: \"{}\"",
                        b.host_port
                    )));
                }
            }
        }
    }
    // Storage options are checked before anything is written, like the host settings.
    let mut quota = None;
    for (k, v) in hc.storage_opt.iter().flatten() {
        if k != "size" {
            return Err(bad(format!("Unknown option {k}")));
        }
        let q = parse_size(v).ok_or_else(|| bad(format!("invalid storage-opt size {v:?}")))?;
        if q < 16 << 20 {
            return Err(bad("--storage-opt size= must be at least 16MB"));
        }
        quota = Some(q);
    }
    Ok(quota)
}

impl Containers {
    /// Create: the record and the directory, or neither.
    pub fn create(
        &self,
        images: &Images,
        req: CreateRequest,
        name: Option<&str>,
    ) -> Result<CreateResponse> {
        let image_name = req.config.image.clone();
        if image_name.is_empty() {
            return Err(bad("config cannot be empty in order to create a container"));
        }
        let img = images
            .resolve(&image_name)
            .map_err(|_| no_such_image(&image_name))?;
        let icfg: ConfigFile = images.config_as(&img)?;
        let image_config = icfg.config.unwrap_or_default();
        let generated = name.is_none_or(str::is_empty);
        let mut name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(bad(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.trim_start_matches('/').to_owned()
            }
            None => random_name(),
        };
        let id = random_hex(32);
        let asked_hostname = !req.config.hostname.is_empty();
        let (mut config, path, args) = merge_config(&req.config, &image_config, &id)?;
        config.image = image_name.clone();
        let mut hc = req.host_config.unwrap_or_default();
        apply_defaults(&mut hc, &self.defaults());
        normalize_host_config(&mut hc);
        self.check_namespace_modes(&mut hc, asked_hostname)?;
        let warnings = super::landlock::check(&mut hc)?;
        if super::host_config::seccomp_record(&hc).is_some()
            && !super::is_berth_runtime(&hc.runtime)
        {
            return Err(bad(format!(
                "seccomp=record: is Berth's runtime's (its shim is the recording agent), not {:?}'s",
                hc.runtime
            )));
        }
        let mut endpoints =
            self.network_settings_of(&mut hc, req.networking_config.unwrap_or_default(), &name)?;
        // The deprecated container-wide `MacAddress` is the network mode's endpoint's, unless
        // that endpoint names one (dockerd's migration of it).
        if !config.mac_address.is_empty() {
            berth_net::ipam::parse_mac(&config.mac_address)?;
            if let Some(ep) = endpoints.get_mut(&hc.network_mode) {
                if ep.mac_address.is_empty() {
                    ep.mac_address = config.mac_address.clone();
                }
            }
        }
        if (hc.network_mode == "host" || hc.uts_mode == "host") && !asked_hostname {
            config.hostname = nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        // Exposed ports: the image's, the request's and every published one.
        let mut exposed = image_config.exposed_ports.clone().unwrap_or_default();
        for k in config
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .chain(hc.port_bindings.keys())
        {
            exposed.insert(crate::networks::normalize_port_key(k)?, Empty);
        }
        config.exposed_ports = (!exposed.is_empty()).then_some(exposed);
        let quota = check_host_config(&hc)?;
        // Bad host settings fail the create, as with dockerd (nothing is written yet).
        super::host_config::apply(
            &mut super::bundle::Spec::default_spec(),
            &hc,
            &self.defaults(),
        )?;
        // Volumes: `-v name:/dst`, `-v /dst`, `--mount type=volume`, the image's VOLUMEs,
        // `--volumes-from`; made now (as dockerd does), recorded as the container's mount points.
        // (`config.volumes` holds the image's and the request's: `docker run -v /dst` sends
        // its anonymous volume there.)
        let mount_points = self.mount_points(&hc, config.volumes.as_ref())?;
        let mut rec = Record {
            id: id.clone(),
            name: format!("/{name}"),
            created: now_rfc3339(),
            image: img.id.clone(),
            chain_ids: img.chain_ids.clone(),
            path,
            args,
            config,
            host_config: hc,
            networking_config: NetworkingConfig {
                endpoints_config: endpoints,
            },
            mount_points,
            started_at: ZERO_TIME.into(),
            restart_count: 0,
            manually_stopped: false,
            restarting: false,
            userns_base: None,
            userns: None,
        };
        // A user namespace range of its own, chosen and recorded under one lock.
        let _allocating = self.choose_id_maps(&mut rec)?;
        let mut inserted = self.insert(&rec);
        // A generated name that is taken: another one (Docker adds a number as well).
        let mut tries = 0;
        while generated && tries < 20 && matches!(inserted, Ok(Claim::TakenBy(_))) {
            tries += 1;
            name = if tries < 10 {
                random_name()
            } else {
                format!("{}{}", random_name(), tries)
            };
            rec.name = format!("/{name}");
            inserted = self.insert(&rec);
        }
        match inserted {
            Ok(Claim::Claimed) => {}
            Ok(Claim::TakenBy(other)) => {
                self.forget_new_volumes(&rec);
                return Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            Err(e) => {
                self.forget_new_volumes(&rec);
                return Err(e);
            }
        }
        if let Err(e) = self.make_dir(&rec, quota) {
            let dir = self.dir_of(&id);
            self.forget_new_volumes(&rec);
            let _ = nix::mount::umount2(&dir.join("quota"), nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.delete_record(&id);
            return Err(e);
        }
        self.emit_for(&rec, "create", &[]);
        Ok(CreateResponse { id, warnings })
    }

    /// The container's directory: rootfs mount point, bundle, writable layer (in a quota
    /// filesystem of its own with `size`), hostname, hosts, resolv.conf and the (empty) log,
    /// so clients attached before `start` can open it.
    fn make_dir(&self, rec: &Record, quota: Option<u64>) -> Result<()> {
        let dir = self.dir_of(&rec.id);
        let at = |p: &str| {
            let d = dir.join(p);
            move || format!("create {}", d.display())
        };
        for d in ["rootfs", "bundle"] {
            std::fs::create_dir_all(dir.join(d)).ctx(at(d))?;
        }
        match quota {
            // The writable layer lives in a filesystem of its own, of exactly that size
            // (works on any host filesystem; the host's space is never at stake).
            Some(bytes) => super::quota::make_quota_fs(&dir, bytes)?,
            None => {
                std::fs::create_dir_all(dir.join("upper")).ctx(at("upper"))?;
                std::fs::create_dir_all(dir.join("work")).ctx(at("work"))?;
            }
        }
        let host = &rec.config.hostname;
        std::fs::write(dir.join("hostname"), format!("{host}\n")).ctx(at("hostname"))?;
        std::fs::write(
            dir.join("hosts"),
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{host}\n"
            ),
        )
        .ctx(at("hosts"))?;
        std::fs::write(self.log_path(&rec.id), b"").ctx(at("log"))?;
        std::fs::write(
            dir.join("resolv.conf"),
            std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        )
        .ctx(at("resolv.conf"))
    }

    /// The network side of a create: the mode (a network by name or id, kept as given, as
    /// dockerd keeps it; `host`, `none` or `container:<name|id>`), the endpoints (the others
    /// of `NetworkingConfig` must exist), links (recorded as `/target:/me/alias`), bandwidth
    /// limits. Returns the endpoints to record.
    fn network_settings_of(
        &self,
        hc: &mut HostConfig,
        nc: NetworkingConfig,
        name: &str,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        let mode = hc.network_mode.clone();
        let mut endpoints = nc.endpoints_config;
        if let Some(v) = endpoints.remove("default") {
            let key = if mode.starts_with("container:") {
                "bridge".to_owned()
            } else {
                mode.clone()
            };
            endpoints.insert(key, v);
        }
        for (k, v) in &endpoints {
            let default_bridge = k == "bridge"
                || self
                    .networks
                    .get(k)
                    .is_ok_and(|n| crate::networks::is_default_bridge(&n));
            if default_bridge && v.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(bad(
                    "network-scoped alias is supported only for containers in user defined networks",
                ));
            }
            if default_bridge
                && v.ipam_config
                    .as_ref()
                    .is_some_and(|c| !c.ipv4_address.is_empty())
            {
                return Err(bad(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
        }
        if let Some(target) = mode.strip_prefix("container:") {
            self.resolve(target)?;
            if !endpoints.is_empty() {
                return Err(bad(
                    "conflicting options: container type network can't be used with other networks",
                ));
            }
            if !hc.port_bindings.is_empty() {
                return Err(bad(
                    "conflicting options: port publishing and the container type network mode",
                ));
            }
            if hc.dns.as_ref().is_some_and(|d| !d.is_empty()) {
                return Err(bad(
                    "conflicting options: dns and the container type network mode",
                ));
            }
        } else {
            self.networks.get(&mode)?;
            for k in endpoints.keys() {
                self.networks.get(k)?;
            }
            if (mode == "host" || mode == "none") && endpoints.keys().any(|k| *k != mode) {
                return Err(bad(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode",
                ));
            }
        }
        // Links as dockerd records them: `/target:/me/alias`; the target must exist.
        let mut links = Vec::new();
        for l in hc.links.iter().flatten() {
            let (target, alias) = match l.split_once(':') {
                Some((t, a)) => (t.trim_start_matches('/'), a.rsplit('/').next().unwrap_or(a)),
                None => (l.trim_start_matches('/'), l.trim_start_matches('/')),
            };
            let tid = self
                .resolve(target)
                .map_err(|_| bad(format!("Could not get container for {target}")))?;
            links.push(format!("/{}:/{name}/{alias}", self.name_of(&tid)));
        }
        hc.links = (!links.is_empty()).then_some(links);
        for r in [&hc.net_rate_ingress, &hc.net_rate_egress] {
            if !r.is_empty() {
                berth_net::tc::parse_rate(r)?;
                if mode == "host" || mode == "none" || mode.starts_with("container:") {
                    return Err(bad(format!(
                        "bandwidth limits need a network of the container's own (not {mode})"
                    )));
                }
            }
        }
        if !endpoints.contains_key(&mode) && !mode.starts_with("container:") {
            endpoints.insert(mode, EndpointSettings::default());
        }
        Ok(endpoints)
    }

    /// A create that failed after its volumes were made: the anonymous ones go again.
    pub(crate) fn forget_new_volumes(&self, rec: &Record) {
        for m in rec.mount_points.iter().filter(|m| m.anonymous) {
            let _ = self.volumes.remove(&m.name, &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        serde_json::from_str(json).expect("config")
    }

    #[test]
    fn configs_merge_as_dockerd_merges_them() {
        let image = cfg(
            r#"{"Entrypoint":["/ep"],"Cmd":["serve"],"Env":["PATH=/bin","A=1"],"WorkingDir":"/app",
                "User":"app","Labels":{"l":"image","m":"x"},"Volumes":{"/data":{}},"StopSignal":"SIGQUIT"}"#,
        );
        let id = "0123456789abcdef0123";
        // Nothing asked: the image's.
        let (c, path, args) = merge_config(&Config::default(), &image, id).expect("merge");
        assert_eq!(
            (path.as_str(), args.as_slice()),
            ("/ep", ["serve".to_owned()].as_slice())
        );
        assert_eq!(c.working_dir, "/app");
        assert_eq!(c.user, "app");
        assert_eq!(c.hostname, "0123456789ab");
        assert_eq!(c.stop_signal, "SIGQUIT");
        assert!(c.volumes.expect("volumes").contains_key("/data"));
        // A command replaces the image's; env and labels merge by key.
        let (c, path, args) = merge_config(
            &cfg(r#"{"Cmd":["sh"],"Env":["A=2","B=3"],"Labels":{"l":"mine"}}"#),
            &image,
            id,
        )
        .expect("merge");
        assert_eq!(
            (path.as_str(), args.as_slice()),
            ("/ep", ["sh".to_owned()].as_slice())
        );
        assert_eq!(
            c.env.expect("env"),
            vec!["PATH=/bin".to_owned(), "A=2".into(), "B=3".into()]
        );
        let labels = c.labels.expect("labels");
        assert_eq!((labels["l"].as_str(), labels["m"].as_str()), ("mine", "x"));
        // A new entrypoint drops the image's command.
        let (c, path, args) =
            merge_config(&cfg(r#"{"Entrypoint":["/bin/echo"]}"#), &image, id).expect("merge");
        assert_eq!(path, "/bin/echo");
        assert!(args.is_empty());
        assert_eq!(c.cmd, Some(Vec::new()));
        // An empty entrypoint clears the image's and keeps its command.
        let (c, path, args) =
            merge_config(&cfg(r#"{"Entrypoint":[""]}"#), &image, id).expect("merge");
        assert_eq!((path.as_str(), args.len()), ("serve", 0));
        assert_eq!(c.entrypoint, None);
        // Nothing at all to run.
        let e =
            merge_config(&cfg(r#"{"Entrypoint":[]}"#), &Config::default(), id).expect_err("empty");
        assert_eq!(e.to_string(), "no command specified");
    }

    #[test]
    fn host_configs_get_dockerds_defaults_and_checks() {
        let mut hc = HostConfig::default();
        normalize_host_config(&mut hc);
        assert_eq!(hc.log_config.r#type, "json-file");
        assert_eq!(hc.restart_policy.name, "no");
        assert_eq!(hc.shm_size, 64 << 20);
        assert_eq!(hc.network_mode, "bridge");
        assert!(hc.masked_paths.as_ref().is_some_and(|m| !m.is_empty()));
        assert_eq!(check_host_config(&hc).expect("fine"), None);
        let with = |f: &dyn Fn(&mut HostConfig)| {
            let mut h = hc.clone();
            f(&mut h);
            check_host_config(&h).map_err(|e| e.to_string())
        };
        assert_eq!(
            with(&|h| h.restart_policy.name = "sometimes".into()).expect_err("bad"),
            "invalid restart policy 'sometimes'"
        );
        assert!(
            with(&|h| {
                h.auto_remove = true;
                h.restart_policy.name = "always".into();
            })
            .is_err()
        );
        assert_eq!(
            with(&|h| h
                .log_config
                .config
                .insert("max-size".into(), "lots".into())
                .map(drop)
                .unwrap_or(()))
            .expect_err("bad"),
            "invalid log opt max-size=lots"
        );
        let quota = with(&|h| {
            h.storage_opt = Some([("size".to_owned(), "64m".to_owned())].into());
        });
        assert_eq!(quota, Ok(Some(64 << 20)));
        assert!(
            with(&|h| h.storage_opt = Some([("size".to_owned(), "1m".to_owned())].into())).is_err()
        );
        assert!(
            with(&|h| h.storage_opt = Some([("inodes".to_owned(), "1".to_owned())].into()))
                .is_err()
        );
    }
}
