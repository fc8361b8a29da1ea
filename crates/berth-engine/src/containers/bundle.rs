//! The OCI bundle of a start: Berth's default runtime spec (from `berth-runtime`), changed by
//! the container's record. The spec is the runtime's own document (runtime-spec JSON, with
//! fields only Berth's runtime reads), so it is edited as JSON — through [`Spec`]'s methods
//! only, one per thing the engine sets.

use std::path::Path;

use serde_json::{Value, json};

use super::{Containers, Record};
use crate::error::IoContext;
use crate::{Error, Result};

/// `berth-init` (init/berth-init.c, built statically by build.rs): process 1 for `--init`.
const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// A runtime spec being made.
#[derive(Debug, Clone)]
pub struct Spec(pub Value);

/// One entry of the spec's `mounts`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    pub destination: String,
    pub r#type: String,
    pub source: String,
    pub options: Vec<String>,
}

impl Mount {
    pub fn bind(src: impl Into<String>, dst: impl Into<String>, options: Vec<String>) -> Mount {
        Mount {
            destination: dst.into(),
            r#type: "bind".into(),
            source: src.into(),
            options,
        }
    }

    pub fn tmpfs(dst: impl Into<String>, options: Vec<String>) -> Mount {
        Mount {
            destination: dst.into(),
            r#type: "tmpfs".into(),
            source: "tmpfs".into(),
            options,
        }
    }
}

/// An rlimit of the spec.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rlimit {
    pub r#type: String,
    pub soft: u64,
    pub hard: u64,
}

/// A device node of the spec (`linux.devices`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub path: String,
    pub r#type: String,
    pub major: u64,
    pub minor: u64,
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A device cgroup rule (`linux.resources.devices`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<u64>,
    pub access: String,
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Spec {
    pub fn default_spec() -> Spec {
        Spec(berth_runtime::spec::default_spec())
    }

    /// The value at a `/`-separated path, made as objects on the way if missing.
    fn at(&mut self, path: &str) -> &mut Value {
        let mut v = &mut self.0;
        for k in path.split('/').filter(|k| !k.is_empty()) {
            if !v.is_object() {
                *v = json!({});
            }
            v = v
                .as_object_mut()
                .map(|o| o.entry(k.to_owned()).or_insert(Value::Null))
                .expect("made an object just above");
        }
        v
    }

    fn get(&self, path: &str) -> Option<&Value> {
        self.0.pointer(path)
    }

    pub fn set<T: serde::Serialize>(&mut self, path: &str, v: T) {
        *self.at(path) = to_value(&v);
    }

    pub fn remove(&mut self, path: &str) {
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        if let Some(o) = self.at(parent).as_object_mut() {
            o.remove(key);
        }
    }

    pub fn args(&self) -> Vec<String> {
        self.strings("/process/args")
    }

    pub fn strings(&self, path: &str) -> Vec<String> {
        self.get(path)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    pub fn mounts(&self) -> Vec<Mount> {
        self.get("/mounts")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    pub fn set_mounts(&mut self, m: &[Mount]) {
        self.set("/mounts", m);
    }

    pub fn add_mounts(&mut self, extra: impl IntoIterator<Item = Mount>) {
        let mut m = self.mounts();
        m.extend(extra);
        self.set_mounts(&m);
    }

    /// Change the options of the mount at `dst`.
    pub fn set_mount_options(&mut self, dst: &str, options: Vec<String>) {
        let mut m = self.mounts();
        for x in m.iter_mut().filter(|x| x.destination == dst) {
            x.options = options.clone();
        }
        self.set_mounts(&m);
    }

    pub fn rlimits(&self) -> Vec<Rlimit> {
        self.get("/process/rlimits")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    pub fn add_device(&mut self, d: Device, rule: DeviceRule) {
        let mut devices: Vec<Device> = self
            .get("/linux/devices")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        devices.push(d);
        self.set("/linux/devices", &devices);
        self.add_device_rule(rule);
    }

    pub fn add_device_rule(&mut self, rule: DeviceRule) {
        let mut rules: Vec<DeviceRule> = self
            .get("/linux/resources/devices")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        rules.push(rule);
        self.set("/linux/resources/devices", &rules);
    }

    /// A namespace of its own for `typ` (when the spec has none).
    pub fn add_namespace(&mut self, typ: &str) {
        let mut ns: Vec<serde_json::Value> = self
            .get("/linux/namespaces")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        if !ns.iter().any(|n| n["type"] == typ) {
            ns.push(serde_json::json!({"type": typ}));
        }
        self.set("/linux/namespaces", &ns);
    }

    /// Namespaces: join `path` for `typ`, or leave `typ` out (None: the host's).
    pub fn set_namespace(&mut self, typ: &str, path: Option<&Path>) {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Ns {
            r#type: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            path: Option<String>,
        }
        let mut ns: Vec<Ns> = self
            .get("/linux/namespaces")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        match path {
            Some(p) => {
                for n in ns.iter_mut().filter(|n| n.r#type == typ) {
                    n.path = Some(p.display().to_string());
                }
            }
            None => ns.retain(|n| n.r#type != typ),
        }
        self.set("/linux/namespaces", &ns);
    }

    /// Drop sysctls whose name starts with `prefix`.
    pub fn drop_sysctls(&mut self, prefix: &str) {
        if let Some(o) = self.at("/linux/sysctl").as_object_mut() {
            o.retain(|k, _| !k.starts_with(prefix));
        }
    }

    pub fn set_sysctl(&mut self, k: &str, v: &str) {
        if let Some(o) = self.at("/linux/sysctl").as_object_mut() {
            o.insert(k.to_owned(), Value::from(v));
        }
    }

    pub fn resources(&self) -> Value {
        self.get("/linux/resources").cloned().unwrap_or(Value::Null)
    }
}

impl Containers {
    /// The OCI bundle for a start: Berth's default spec with the container's process, mounts
    /// and host settings.
    pub(crate) fn write_bundle(
        &self,
        rec: &Record,
        rootfs: &Path,
        netns: Option<&Path>,
        volume_mounts: Vec<Mount>,
    ) -> Result<()> {
        let dir = self.dir_of(&rec.id);
        let c = &rec.config;
        let mut spec = Spec::default_spec();
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        spec.set("/process/args", &args);
        spec.set("/process/terminal", c.tty);
        let mut env: Vec<String> = c.env.clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        env.push(format!("HOSTNAME={}", c.hostname));
        if c.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        // Legacy links' variables, unless the container sets the same names itself.
        let own: Vec<&str> = env.iter().filter_map(|e| e.split('=').next()).collect();
        let linked: Vec<String> = self
            .link_env(rec)
            .into_iter()
            .filter(|e| !own.contains(&e.split('=').next().unwrap_or_default()))
            .collect();
        env.extend(linked);
        spec.set("/process/env", &env);
        spec.set(
            "/process/cwd",
            if c.working_dir.is_empty() {
                "/"
            } else {
                &c.working_dir
            },
        );
        let (uid, gid, groups) = super::user::resolve_with_groups(
            rootfs,
            &c.user,
            rec.host_config.group_add.as_deref().unwrap_or_default(),
        )?;
        spec.set("/process/user/uid", uid);
        spec.set("/process/user/gid", gid);
        if !groups.is_empty() {
            spec.set("/process/user/additionalGids", &groups);
        }
        spec.set("/root/path", rootfs);
        spec.set("/root/readonly", rec.host_config.readonly_rootfs);
        spec.set("/hostname", &c.hostname);
        let files = ["hostname", "hosts", "resolv.conf"].map(|f| {
            Mount::bind(
                dir.join(f).display().to_string(),
                format!("/etc/{f}"),
                vec!["rbind".into(), "rprivate".into()],
            )
        });
        spec.add_mounts(files);
        spec.set("/linux/cgroupsPath", self.cgroup_of(&rec.id));
        // The network namespace: the one made for the container (by path), or none of its
        // own (`host`), whose settings are not the container's to change.
        spec.set_namespace("network", netns);
        if netns.is_none() {
            spec.drop_sysctls("net.");
        }
        super::host_config::apply(&mut spec, &rec.host_config, &self.defaults())?;
        self.apply_namespace_modes(&mut spec, rec)?;
        let mut mounts = spec.mounts();
        mounts.extend(volume_mounts);
        // Parents before children, as dockerd orders them: a volume on /etc goes under the
        // /etc/hosts, /etc/hostname and /etc/resolv.conf binds, not over them.
        mounts.sort_by_key(|m| m.destination.split('/').filter(|c| !c.is_empty()).count());
        spec.set_mounts(&mounts);
        if rec.host_config.init == Some(true) {
            // --init: Berth's static init as process 1, mounted where Docker mounts its own.
            let init = self.install_init()?;
            spec.add_mounts([Mount::bind(
                init.display().to_string(),
                "/sbin/docker-init",
                ["bind", "ro", "nosuid", "nodev"].map(String::from).to_vec(),
            )]);
            let mut args = vec!["/sbin/docker-init".to_owned(), "--".into()];
            args.extend(spec.args());
            spec.set("/process/args", &args);
        }
        super::landlock::annotate(&mut spec, &rec.host_config, rootfs)?;
        if super::host_config::seccomp_record(&rec.host_config).is_some() {
            spec.set(
                "/linux/seccomp/listenerPath",
                dir.join("seccomp.sock").display().to_string(),
            );
        }
        let path = dir.join("bundle/config.json");
        std::fs::write(&path, serde_json::to_vec(&spec.0).map_err(Error::internal)?)
            .ctx(|| format!("write {}", path.display()))
    }

    /// `berth-init` in the runtime root (written once).
    fn install_init(&self) -> Result<std::path::PathBuf> {
        let init = self.runtime_root.join("berth-init");
        if !init.exists() {
            std::fs::create_dir_all(&self.runtime_root)
                .ctx(|| format!("create {}", self.runtime_root.display()))?;
            let tmp = self
                .runtime_root
                .join(format!(".berth-init.{}", std::process::id()));
            std::fs::write(&tmp, INIT_BINARY).ctx(|| format!("write {}", tmp.display()))?;
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .ctx(|| format!("chmod {}", tmp.display()))?;
            std::fs::rename(&tmp, &init).ctx(|| format!("install {}", init.display()))?;
        }
        Ok(init)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_edited_by_path() {
        let mut s = Spec::default_spec();
        s.set("/process/args", ["a", "b"]);
        assert_eq!(s.args(), ["a", "b"]);
        s.set("/linux/resources/pids/limit", -1);
        assert_eq!(s.0.pointer("/linux/resources/pids/limit"), Some(&json!(-1)));
        s.set("/new/deep/key", true);
        assert_eq!(s.0.pointer("/new/deep/key"), Some(&json!(true)));
        s.remove("/new/deep");
        assert!(s.0.pointer("/new/deep").is_none());
        let n = s.mounts().len();
        s.add_mounts([Mount::tmpfs("/x", vec![])]);
        assert_eq!(s.mounts().len(), n + 1);
        s.set_namespace("network", Some(Path::new("/run/ns")));
        assert!(s.0.to_string().contains("/run/ns"));
        s.set_namespace("network", None);
        assert!(!s.0.to_string().contains("\"network\""));
    }
}
