//! `berth audit`: the CIS Docker Benchmark's checks that apply to Berth — host configuration
//! (1.x), daemon configuration (2.x), files of Berth's own (3.x), images (4.x), the runtime
//! settings of each running container (5.x), operations (6.x) — each with its CIS-style ID,
//! level, result, evidence and remediation; and the auditd rules for Berth's paths.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_models::audit::{Check, Report};
use berth_models::image::ConfigFile;

use crate::{Engine, Result};

/// What the daemon knows of itself that the engine's settings do not say.
#[derive(Debug, Clone, Default)]
pub struct DaemonFacts {
    pub binary: PathBuf,
    pub config_file: PathBuf,
    pub sockets: Vec<PathBuf>,
    pub log_level: String,
    /// Where auditd's rules are read (`/etc/audit/rules.d`).
    pub audit_rules_dir: PathBuf,
}

fn check(id: &str, level: u8, title: &str, result: &str, evidence: String, fix: &str) -> Check {
    Check {
        id: id.into(),
        level,
        title: title.into(),
        result: result.into(),
        evidence,
        remediation: fix.into(),
    }
}

fn pass_fail(ok: bool) -> &'static str {
    if ok { "pass" } else { "fail" }
}

impl Engine {
    /// The paths auditd should watch: the binary, the data and exec roots, the config and
    /// policy files, the sockets.
    pub fn audit_paths(&self) -> Vec<PathBuf> {
        let f = &self.config.facts;
        let mut v = vec![
            f.binary.clone(),
            self.config.data_root.clone(),
            self.config.exec_root.clone(),
            f.config_file.clone(),
            self.config.trust.policy.clone(),
        ];
        v.extend(f.sockets.iter().cloned());
        v.retain(|p| !p.as_os_str().is_empty());
        v
    }

    /// `berth audit rules`: auditd rules for Berth's paths.
    pub fn audit_rules(&self) -> String {
        let mut out = String::from("# Berth: watch its binary, state, configuration and sockets\n");
        for p in self.audit_paths() {
            out.push_str(&format!("-w {} -p wa -k berth\n", p.display()));
        }
        out
    }

    /// Run every check.
    pub fn audit(&self) -> Result<Report> {
        let mut checks = Vec::new();
        self.host_checks(&mut checks);
        self.daemon_checks(&mut checks);
        self.file_checks(&mut checks);
        self.image_checks(&mut checks)?;
        self.container_checks(&mut checks)?;
        self.operation_checks(&mut checks)?;
        // In the benchmark's order: 1.1.3 < 1.1.10, 3.5 < 3.15.
        let key =
            |c: &Check| -> Vec<u32> { c.id.split('.').map(|n| n.parse().unwrap_or(0)).collect() };
        checks.sort_by_key(key);
        Ok(Report { checks })
    }

    fn host_checks(&self, out: &mut Vec<Check>) {
        let root = &self.config.data_root;
        let separate = match (std::fs::metadata(root), std::fs::metadata("/")) {
            (Ok(a), Ok(b)) => a.dev() != b.dev(),
            _ => false,
        };
        out.push(check(
            "1.1.1",
            1,
            "Ensure a separate partition for containers has been created",
            pass_fail(separate),
            format!(
                "data root {} is {}on the root filesystem",
                root.display(),
                if separate { "not " } else { "" }
            ),
            "Put the data root (--data-root) on a filesystem of its own",
        ));
        let rules: String = std::fs::read_dir(&self.config.facts.audit_rules_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "rules"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect();
        let watched = |p: &Path| {
            rules.lines().any(|l| {
                l.trim_start().starts_with("-w")
                    && l.split_whitespace().nth(1) == Some(&*p.to_string_lossy())
            })
        };
        for (i, p) in self.audit_paths().iter().enumerate() {
            let ok = watched(p);
            out.push(check(
                &format!("1.1.{}", i + 3),
                2,
                &format!("Ensure auditing is configured for {}", p.display()),
                pass_fail(ok),
                format!(
                    "{} rule for {} in {}",
                    if ok { "a" } else { "no" },
                    p.display(),
                    self.config.facts.audit_rules_dir.display()
                ),
                "berth audit rules > /etc/audit/rules.d/berth.rules; augenrules --load",
            ));
        }
    }

    fn daemon_checks(&self, out: &mut Vec<Check>) {
        let c = &self.config;
        out.push(check(
            "2.2",
            1,
            "Ensure network traffic is restricted between containers on the default bridge",
            pass_fail(!c.icc),
            format!("icc is {}", c.icc),
            "Set \"icc\": false in daemon.json (or --icc=false) and use user networks",
        ));
        let level = c.facts.log_level.as_str();
        out.push(check(
            "2.3",
            1,
            "Ensure the logging level is set to 'info'",
            pass_fail(matches!(level, "info" | "")),
            format!("log-level is {level:?}"),
            "Set \"log-level\": \"info\"",
        ));
        let insecure: Vec<&String> = c
            .registry
            .insecure
            .iter()
            .filter(|r| !r.starts_with("127.") && !r.starts_with("localhost"))
            .collect();
        out.push(check(
            "2.5",
            1,
            "Ensure insecure registries are not used",
            pass_fail(insecure.is_empty()),
            format!("insecure-registries: {insecure:?}"),
            "Remove insecure-registries; serve registries over TLS",
        ));
        out.push(check(
            "2.7",
            1,
            "Ensure TLS authentication for the daemon is configured",
            "pass",
            "the API is served on unix sockets only".into(),
            "",
        ));
        let d = &*self.defaults();
        out.push(check(
            "2.9",
            2,
            "Enable user namespace support",
            pass_fail(d.userns_auto || d.userns_remap.is_some()),
            match (&d.userns_remap, d.userns_auto) {
                (_, true) => "default-userns is auto: each container has a range of its own".into(),
                (Some(m), _) => {
                    format!("userns-remap maps containers to host ids {}", m.describe())
                }
                (None, false) => {
                    "containers share the host's user namespace unless run with --userns auto"
                        .into()
                }
            },
            "Set \"default-userns\": \"auto\" (or \"userns-remap\") in daemon.json",
        ));
        out.push(check(
            "2.14",
            1,
            "Ensure containers are restricted from acquiring new privileges",
            pass_fail(d.no_new_privileges),
            format!("no-new-privileges is {}", d.no_new_privileges),
            "Leave \"no-new-privileges\" at its default (true)",
        ));
        out.push(check(
            "2.15",
            1,
            "Ensure live restore is enabled",
            "pass",
            "containers run under their own shims and outlive the daemon".into(),
            "",
        ));
        out.push(check(
            "2.17",
            1,
            "Ensure experimental features are not implemented in production",
            "pass",
            "no experimental features".into(),
            "",
        ));
        let seccomp = d.seccomp_profile.as_deref().unwrap_or("builtin");
        out.push(check(
            "2.18",
            2,
            "Ensure the default seccomp profile is not disabled",
            pass_fail(seccomp != "unconfined"),
            format!(
                "seccomp-profile is {}",
                if seccomp.starts_with('{') {
                    "custom"
                } else {
                    seccomp
                }
            ),
            "Remove \"seccomp-profile\": \"unconfined\"",
        ));
        out.push(check(
            "2.19",
            1,
            "Ensure a default pids limit and memory ceiling are set",
            pass_fail(d.pids_limit > 0 && d.memory > 0),
            format!(
                "default-pids-limit {}, default-memory {}",
                d.pids_limit, d.memory
            ),
            "Set \"default-pids-limit\" and \"default-memory\" above 0",
        ));
    }

    fn file_checks(&self, out: &mut Vec<Check>) {
        let f = &self.config.facts;
        let mut file = |id: &str, title: &str, p: &Path, max_mode: u32, group_ok: bool| {
            let (result, evidence) = match std::fs::metadata(p) {
                Err(_) => ("skip", format!("{} does not exist", p.display())),
                Ok(m) => {
                    let mode = m.mode() & 0o7777;
                    let owner_ok = m.uid() == 0 && (group_ok || m.gid() == 0);
                    let ok = owner_ok && mode & !max_mode == 0;
                    (
                        pass_fail(ok),
                        format!("{} is {}:{} mode {mode:o}", p.display(), m.uid(), m.gid()),
                    )
                }
            };
            out.push(check(
                id,
                1,
                title,
                result,
                evidence,
                &format!(
                    "chown root:root {} && chmod {max_mode:o} (or less) it",
                    p.display()
                ),
            ));
        };
        for s in &f.sockets {
            file(
                "3.15",
                "Ensure the API socket is owned by root and 660 or more restrictive",
                s,
                0o660,
                true,
            );
        }
        file(
            "3.17",
            "Ensure daemon.json is owned by root:root and 644 or more restrictive",
            &f.config_file,
            0o644,
            false,
        );
        if let Some(dir) = f.config_file.parent() {
            file(
                "3.5",
                "Ensure the configuration directory is owned by root:root and 755 or more restrictive",
                dir,
                0o755,
                false,
            );
        }
        file(
            "3.19",
            "Ensure the data root is owned by root and 711 or more restrictive",
            &self.config.data_root,
            0o711,
            false,
        );
        file(
            "3.20",
            "Ensure the signature policy is owned by root:root and 644 or more restrictive",
            &self.config.trust.policy,
            0o644,
            false,
        );
    }

    fn image_checks(&self, out: &mut Vec<Check>) -> Result<()> {
        let mut rootful = Vec::new();
        let mut unhealthy = Vec::new();
        let mut added = Vec::new();
        for img in self.images.list()? {
            let name = img
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| img.short_id().to_owned());
            let Ok(cfg) = self.images.config_as::<ConfigFile>(&img) else {
                continue;
            };
            let c = cfg.config.unwrap_or_default();
            if matches!(c.user.as_str(), "" | "root" | "0" | "0:0" | "root:root") {
                rootful.push(name.clone());
            }
            if c.healthcheck.is_none() {
                unhealthy.push(name.clone());
            }
            if cfg
                .history
                .iter()
                .any(|h| h.created_by.contains("ADD ") && !h.created_by.contains("file:"))
            {
                added.push(name);
            }
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        out.push(check(
            "4.1",
            1,
            "Ensure that a user for the container has been created",
            if rootful.is_empty() { "pass" } else { "warn" },
            format!("images running as root: {}", list(&rootful)),
            "Add a USER instruction (a non-root user) to the images' Dockerfiles",
        ));
        let policy = self.config.trust.load().ok().flatten();
        let signed = policy
            .as_ref()
            .is_some_and(|p| format!("{p:?}").contains("SigstoreSigned"));
        out.push(check(
            "4.5",
            2,
            "Ensure Content trust is enabled",
            pass_fail(signed),
            match &policy {
                None => "no signature policy".to_owned(),
                Some(_) if signed => {
                    format!("{} requires signatures", self.config.trust.policy.display())
                }
                Some(_) => format!(
                    "{} requires no signature",
                    self.config.trust.policy.display()
                ),
            },
            "Write a policy.json with sigstoreSigned requirements (docs/signing.md)",
        ));
        out.push(check(
            "4.6",
            1,
            "Ensure that HEALTHCHECK instructions have been added to container images",
            if unhealthy.is_empty() { "pass" } else { "warn" },
            format!("images without a health check: {}", list(&unhealthy)),
            "Add a HEALTHCHECK instruction",
        ));
        out.push(check(
            "4.9",
            1,
            "Ensure that COPY is used instead of ADD in Dockerfiles",
            if added.is_empty() { "pass" } else { "warn" },
            format!("images built with ADD: {}", list(&added)),
            "Use COPY (ADD fetches URLs and unpacks archives)",
        ));
        Ok(())
    }

    fn container_checks(&self, out: &mut Vec<Check>) -> Result<()> {
        const SENSITIVE: [&str; 9] = [
            "/",
            "/boot",
            "/dev",
            "/etc",
            "/lib",
            "/proc",
            "/sys",
            "/usr",
            "/var/run/docker.sock",
        ];
        let running: Vec<_> = self
            .containers
            .records()?
            .into_iter()
            .filter(|r| self.containers.state_of(r).running())
            .collect();
        type Test = fn(&berth_models::container::HostConfig) -> Option<String>;
        let rules: Vec<(&str, u8, &str, &str, Test)> = vec![
            (
                "5.3",
                1,
                "Ensure that Linux kernel capabilities are restricted within containers",
                "Drop what is not needed; add none (--cap-add)",
                |hc| {
                    hc.cap_add
                        .as_ref()
                        .filter(|c| !c.is_empty())
                        .map(|c| format!("adds {}", c.join(",")))
                },
            ),
            (
                "5.4",
                1,
                "Ensure that privileged containers are not used",
                "Do not run with --privileged",
                |hc| hc.privileged.then(|| "privileged".to_owned()),
            ),
            (
                "5.5",
                1,
                "Ensure sensitive host system directories are not mounted on containers",
                "Mount only what the workload needs",
                |hc| {
                    let srcs: Vec<String> = hc
                        .binds
                        .iter()
                        .flatten()
                        .filter_map(|b| b.split(':').next().map(str::to_owned))
                        .chain(
                            hc.mounts
                                .iter()
                                .flatten()
                                .filter(|m| m.r#type == "bind")
                                .map(|m| m.source.clone()),
                        )
                        .collect();
                    let bad: Vec<String> = srcs
                        .into_iter()
                        .filter(|s| {
                            let t = if s == "/" {
                                "/"
                            } else {
                                s.trim_end_matches('/')
                            };
                            SENSITIVE.contains(&t)
                        })
                        .collect();
                    (!bad.is_empty()).then(|| format!("mounts {}", bad.join(", ")))
                },
            ),
            (
                "5.9",
                1,
                "Ensure that the host's network namespace is not shared",
                "Do not use --network host",
                |hc| (hc.network_mode == "host").then(|| "network host".to_owned()),
            ),
            (
                "5.12",
                1,
                "Ensure that the container's root filesystem is mounted as read only",
                "Run with --read-only and volumes/tmpfs for writes",
                |hc| (!hc.readonly_rootfs).then(|| "read-write root filesystem".to_owned()),
            ),
            (
                "5.15",
                1,
                "Ensure that the host's process namespace is not shared",
                "Do not use --pid host",
                |hc| (hc.pid_mode == "host").then(|| "pid host".to_owned()),
            ),
            (
                "5.16",
                1,
                "Ensure that the host's IPC namespace is not shared",
                "Do not use --ipc host",
                |hc| (hc.ipc_mode == "host").then(|| "ipc host".to_owned()),
            ),
            (
                "5.20",
                1,
                "Ensure that the host's UTS namespace is not shared",
                "Do not use --uts host",
                |hc| (hc.uts_mode == "host").then(|| "uts host".to_owned()),
            ),
            (
                "5.21",
                1,
                "Ensure the default seccomp profile is not disabled",
                "Do not use --security-opt seccomp=unconfined",
                |hc| {
                    hc.security_opt
                        .iter()
                        .flatten()
                        .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined")
                        .then(|| "seccomp unconfined".to_owned())
                },
            ),
            (
                "5.25",
                1,
                "Ensure that the container is restricted from acquiring additional privileges",
                "Do not use no-new-privileges=false",
                |hc| {
                    hc.security_opt
                        .iter()
                        .flatten()
                        .any(|o| o == "no-new-privileges=false" || o == "no-new-privileges:false")
                        .then(|| "no-new-privileges=false".to_owned())
                },
            ),
            (
                "5.28",
                1,
                "Ensure that the PIDs cgroup limit is used",
                "Do not use --pids-limit -1",
                |hc| {
                    hc.resources
                        .pids_limit
                        .is_some_and(|p| p < 0)
                        .then(|| "no pids limit".to_owned())
                },
            ),
            (
                "5.31",
                1,
                "Ensure that the Docker socket is not mounted inside any containers",
                "Do not mount the engine's socket",
                |hc| {
                    hc.binds
                        .iter()
                        .flatten()
                        .chain(hc.mounts.iter().flatten().map(|m| &m.source))
                        .find(|b| b.contains("docker.sock") || b.contains("berth.sock"))
                        .map(|b| format!("mounts {b}"))
                },
            ),
            (
                "5.10",
                1,
                "Ensure that the memory usage for containers is limited",
                "Set -m (or a daemon default-memory)",
                |hc| (hc.resources.memory == 0).then(|| "no memory limit".to_owned()),
            ),
        ];
        for (id, level, title, fix, test) in rules {
            let bad: Vec<String> = running
                .iter()
                .filter_map(|r| {
                    test(&r.host_config).map(|why| format!("{} ({why})", r.short_name()))
                })
                .collect();
            let result = if running.is_empty() {
                "skip"
            } else if bad.is_empty() {
                "pass"
            } else if id == "5.12" {
                "warn"
            } else {
                "fail"
            };
            out.push(check(
                id,
                level,
                title,
                result,
                if running.is_empty() {
                    "no running containers".into()
                } else if bad.is_empty() {
                    format!("{} running containers checked", running.len())
                } else {
                    bad.join("; ")
                },
                fix,
            ));
        }
        Ok(())
    }

    fn operation_checks(&self, out: &mut Vec<Check>) -> Result<()> {
        let records = self.containers.records()?;
        let used: std::collections::HashSet<String> =
            records.iter().map(|r| r.image.clone()).collect();
        let images = self.images.list()?;
        let unused = images.iter().filter(|i| !used.contains(&i.id)).count();
        out.push(check(
            "6.1",
            1,
            "Ensure that image sprawl is avoided",
            "info",
            format!(
                "{} images, {unused} not used by any container",
                images.len()
            ),
            "berth image prune -a",
        ));
        let stopped = records
            .iter()
            .filter(|r| !self.containers.state_of(r).running())
            .count();
        out.push(check(
            "6.2",
            1,
            "Ensure that container sprawl is avoided",
            "info",
            format!("{} containers, {stopped} not running", records.len()),
            "berth container prune",
        ));
        Ok(())
    }
}
