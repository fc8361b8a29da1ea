//! The daemon-wide answers: `info`, `version`, `system df`, and the volume and network
//! operations that need to know the containers (list with `dangling`, prune, in-use checks).

use berth_models::system::{
    Commit, ComponentVersion, DiskUsage, Info, Platform, Plugins, RegistryConfig, Runtime,
    SwarmInfo, Version,
};
use berth_models::volume::{ListResponse, PruneResponse as VolumePrune, UsageData, Volume};
use berth_models::{ApiVersion, Filters};

use crate::containers::Status;
use crate::{Engine, Result};

/// (kernel release, machine) from uname(2).
pub fn uname() -> (String, String) {
    // SAFETY: uname fills the zeroed struct; the fields are NUL-terminated C strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), std::env::consts::ARCH.to_owned());
    }
    let s = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    (s(&u.release), s(&u.machine))
}

/// Go's name for this machine's architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn os_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `GET /version`.
pub fn version() -> Version {
    let (kernel, _) = uname();
    let v = env!("CARGO_PKG_VERSION");
    let details: berth_models::Map = [
        ("ApiVersion", ApiVersion::CURRENT.to_string()),
        ("Arch", go_arch().to_owned()),
        ("BuildTime", String::new()),
        ("Experimental", "false".to_owned()),
        ("GitCommit", String::new()),
        ("GoVersion", String::new()),
        ("KernelVersion", kernel.clone()),
        ("MinAPIVersion", ApiVersion::MIN.to_string()),
        ("Os", "linux".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Version {
        platform: Platform {
            name: "Berth".into(),
        },
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: v.into(),
            details,
        }],
        version: v.into(),
        api_version: ApiVersion::CURRENT.to_string(),
        min_api_version: ApiVersion::MIN.to_string(),
        os: "linux".into(),
        arch: go_arch().into(),
        kernel_version: kernel,
        ..Default::default()
    }
}

impl Engine {
    /// `start`: a user's start also clears "stopped by a user" (false: it was running).
    pub fn start_container(&self, id: &str) -> Result<bool> {
        self.containers.set_manually_stopped(id, false)?;
        self.containers.start(&self.images, id)
    }

    /// `stop` (false: it was not running), or `restart`: stop, then start again.
    pub fn stop_container(&self, id: &str, timeout: Option<i64>, restart: bool) -> Result<bool> {
        let stopped = self.containers.stop(id, timeout, !restart)?;
        if restart {
            self.start_container(id)?;
            return Ok(true);
        }
        Ok(stopped)
    }

    /// Create a container as every caller must: the image judged by the signature policy
    /// (`require_signed`: content trust) and the vulnerability policy first.
    pub fn create_container(
        &self,
        req: berth_models::container::CreateRequest,
        name: Option<&str>,
        require_signed: bool,
    ) -> Result<berth_models::container::CreateResponse> {
        self.check_signature_policy(&req.config.image, require_signed)?;
        self.check_vulnerability_policy(&req.config.image)?;
        self.containers.create(&self.images, req, name)
    }

    /// `GET /info`.
    pub fn info(&self) -> Info {
        let (kernel, machine) = uname();
        let (mut running, mut paused, mut stopped) = (0, 0, 0);
        for rec in self.containers.records().unwrap_or_default() {
            match self.containers.state_of(&rec).status {
                Status::Running | Status::Restarting => running += 1,
                Status::Paused => paused += 1,
                _ => stopped += 1,
            }
        }
        let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "2"
        } else {
            "1"
        };
        let runtimes = [
            ("berth", "berth-runtime"),
            ("runc", "runc"),
            ("crun", "crun"),
        ]
        .into_iter()
        .map(|(k, p)| (k.to_owned(), Runtime { path: p.into() }))
        .collect();
        Info {
            containers: running + paused + stopped,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: stopped,
            images: self.images.list().map(|l| l.len() as i64).unwrap_or(0),
            driver: "overlay".into(),
            driver_status: vec![[
                "Backing Filesystem".into(),
                "overlayfs lower directories".into(),
            ]],
            plugins: Plugins {
                volume: vec!["local".into()],
                network: vec!["bridge".into(), "host".into(), "none".into()],
                authorization: None,
                log: vec!["json-file".into()],
            },
            memory_limit: true,
            swap_limit: true,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            ipv4_forwarding: true,
            system_time: crate::time::now_rfc3339(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version.into(),
            kernel_version: kernel,
            operating_system: os_release(),
            os_type: "linux".into(),
            architecture: machine,
            index_server_address: "https://index.docker.io/v1/".into(),
            registry_config: RegistryConfig {
                insecure_registry_cidrs: vec!["127.0.0.0/8".into(), "::1/128".into()],
                index_configs: Default::default(),
                mirrors: self.live.registry().mirrors.clone(),
                ..Default::default()
            },
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
            mem_total: mem_total(),
            docker_root_dir: self.config.data_root.display().to_string(),
            name: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            server_version: env!("CARGO_PKG_VERSION").into(),
            runtimes,
            default_runtime: "berth".into(),
            swarm: SwarmInfo {
                local_node_state: "inactive".into(),
                ..Default::default()
            },
            live_restore_enabled: true,
            containerd_commit: Commit::default(),
            runc_commit: Commit::default(),
            init_commit: Commit::default(),
            security_options: self.security_options(),
            warnings: None,
            container_defaults: self.container_defaults(),
            ..Default::default()
        }
    }

    fn seccomp_default(&self) -> &'static str {
        match self.defaults().seccomp_profile.as_deref() {
            None | Some("builtin") => "builtin",
            Some("unconfined") => "unconfined",
            Some(_) => "custom",
        }
    }

    /// `SecurityOptions` as dockerd lists them (`name=…,key=value`).
    fn security_options(&self) -> Vec<String> {
        let d = self.defaults();
        let mut out = vec![format!("name=seccomp,profile={}", self.seccomp_default())];
        if d.no_new_privileges {
            out.push("name=no-new-privileges".into());
        }
        if d.userns_remap.is_some() || d.userns_auto {
            out.push("name=userns".into());
        }
        out.push("name=cgroupns".into());
        out
    }

    fn container_defaults(&self) -> berth_models::system::ContainerDefaults {
        let d = self.defaults();
        let or = |v: &Option<Vec<String>>, dflt: &[&str]| {
            v.clone()
                .unwrap_or_else(|| dflt.iter().map(|p| (*p).to_owned()).collect())
        };
        berth_models::system::ContainerDefaults {
            pids_limit: d.pids_limit.max(0),
            memory: d.memory,
            no_new_privileges: d.no_new_privileges,
            seccomp_profile: self.seccomp_default().into(),
            capabilities: d.capability_base(),
            masked_paths: or(&d.masked_paths, &berth_runtime::spec::MASKED_PATHS),
            readonly_paths: or(&d.readonly_paths, &berth_runtime::spec::READONLY_PATHS),
            userns: match (&d.userns_remap, d.userns_auto) {
                (_, true) => "auto".into(),
                (Some(m), false) => format!("remap:{}", m.describe()),
                (None, false) => "host".into(),
            },
        }
    }

    /// `GET /system/df`: images (with how many containers use them), containers (with the
    /// size of their writable layer), volumes (size and users), no build cache yet.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let mut containers = Vec::new();
        let mut users: std::collections::HashMap<String, i64> = Default::default();
        let records = self.containers.records()?;
        for rec in &records {
            let st = self.containers.state_of(rec);
            let Ok(mut s) = self.containers.summary(rec, &st) else {
                continue;
            };
            let upper = self.containers.dir_of(&rec.id).join("upper/");
            let rw = berth_image::snapshot::du(&upper);
            let image_size = self.images.resolve(&rec.image).map(|i| i.size).unwrap_or(0);
            s.size_rw = Some(rw as i64);
            s.size_root_fs = Some((rw + image_size) as i64);
            *users.entry(s.image_id.clone()).or_default() += 1;
            containers.push(s);
        }
        let mut images = Vec::new();
        let mut layers_size = 0;
        for img in self.images.list()? {
            let mut s = crate::images::summary(&self.images, &img);
            s.containers = users.get(&img.id).copied().unwrap_or(0);
            layers_size += img.size as i64;
            images.push(s);
        }
        let mut volumes = Vec::new();
        for mut v in self.volumes.list()? {
            let refs = records
                .iter()
                .filter(|r| r.mount_points.iter().any(|m| m.name == v.name))
                .count() as i64;
            v.usage_data = Some(UsageData {
                size: self.volumes.size(&v.name) as i64,
                ref_count: refs,
            });
            volumes.push(v);
        }
        Ok(DiskUsage {
            layers_size,
            images,
            containers,
            volumes,
            build_cache: Vec::new(),
            builder_size: 0,
        })
    }

    fn volume_matches(&self, v: &Volume, f: &Filters, dangling: &dyn Fn() -> bool) -> bool {
        f.any_or_none("name", |x| v.name.contains(x))
            && f.any_or_none("driver", |x| v.driver == x)
            && f.get("label")
                .iter()
                .all(|x| berth_models::filters::label_matches(Some(&v.labels), x))
            && f.any_or_none("dangling", |x| matches!(x, "true" | "1") == dangling())
    }

    /// `GET /volumes` with Docker's filters (`name`, `label`, `dangling`, `driver`).
    pub fn volume_list(&self, f: &Filters) -> Result<ListResponse> {
        f.check(&crate::volumes::FILTER_KEYS)?;
        let mut out = Vec::new();
        for v in self.volumes.list()? {
            let unused = || {
                self.containers
                    .volume_users(&v.name)
                    .map(|u| u.is_empty())
                    .unwrap_or(false)
            };
            if self.volume_matches(&v, f, &unused) {
                out.push(v);
            }
        }
        Ok(ListResponse {
            volumes: out,
            warnings: None,
        })
    }

    /// `POST /volumes/prune`: unused anonymous volumes (every unused one with `all=true`,
    /// API 1.42 and later, as dockerd).
    pub fn volume_prune(&self, f: &Filters) -> Result<VolumePrune> {
        let all = f.get("all").iter().any(|v| v == "true" || v == "1");
        let mut gone = Vec::new();
        let mut freed = 0;
        for v in self.volumes.list()? {
            let anonymous = v.labels.contains_key(crate::volumes::ANONYMOUS);
            if (!all && !anonymous) || !self.volume_matches(&v, f, &|| true) {
                continue;
            }
            if !self.containers.volume_users(&v.name)?.is_empty() {
                continue;
            }
            freed += self.volumes.size(&v.name);
            self.volumes.remove(&v.name, &[])?;
            gone.push(v.name);
        }
        Ok(VolumePrune {
            volumes_deleted: (!gone.is_empty()).then_some(gone),
            space_reclaimed: freed,
        })
    }

    /// `DELETE /volumes/{name}`: refused while a container uses it; `force` ignores a missing
    /// one.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if force && self.volumes.find(name)?.is_none() {
            return Ok(());
        }
        let users = self.containers.volume_users(name)?;
        self.volumes.remove(name, &users)
    }

    /// `POST /networks/prune`.
    pub fn network_prune(&self) -> Result<berth_models::network::PruneResponse> {
        let in_use = self.containers.networks_in_use()?;
        let gone = self.networks.prune(&in_use)?;
        Ok(berth_models::network::PruneResponse {
            networks_deleted: (!gone.is_empty()).then_some(gone),
        })
    }

    /// `GET /networks/{id}`, with its containers' names.
    pub fn network_inspect(&self, key: &str) -> Result<berth_models::network::Network> {
        self.networks
            .inspect(key, &|id| self.containers.name_of(id))
    }
}
