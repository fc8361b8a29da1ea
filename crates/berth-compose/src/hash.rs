//! `com.docker.compose.config-hash`: the SHA-256 of a service's configuration as Compose v2
//! writes it (compose-go's `ServiceConfig` through Go's `encoding/json`: fields in the Go
//! struct's order, maps by sorted key, `<`, `>`, `&` escaped; without `build`, `pull_policy`,
//! `scale`, `depends_on`, `profiles` and `deploy.replicas`; `develop` is part of it). The same hash on both sides is
//! what lets `docker compose up` and `berth compose up` take over each other's containers
//! without recreating them.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::Service;

/// The fields of compose-go's `ServiceConfig`, in its order (its JSON names).
const SERVICE: &[&str] = &[
    "profiles",
    "annotations",
    "attach",
    "build",
    "develop",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider",
    "environment",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus",
    "hostname",
    "healthcheck",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "log_driver",
    "log_opt",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "mac_address",
    "models",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
    "pre_start",
    "post_start",
    "pre_stop",
];
const PORT: &[&str] = &[
    "name",
    "mode",
    "host_ip",
    "target",
    "published",
    "protocol",
    "app_protocol",
];
const MOUNT: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];
const BIND: &[&str] = &["selinux", "propagation", "create_host_path", "recursive"];
const VOLUME: &[&str] = &["labels", "nocopy", "subpath"];
const TMPFS: &[&str] = &["size", "mode"];
const HEALTH: &[&str] = &[
    "test",
    "timeout",
    "interval",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const NETWORK: &[&str] = &[
    "aliases",
    "driver_opts",
    "gw_priority",
    "interface_name",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "priority",
];
const DEPLOY: &[&str] = &[
    "mode",
    "replicas",
    "labels",
    "update_config",
    "rollback_config",
    "resources",
    "restart_policy",
    "placement",
    "endpoint_mode",
];
const RESOURCES: &[&str] = &["limits", "reservations"];
const RESOURCE: &[&str] = &["cpus", "memory", "pids", "devices", "generic_resources"];
const UPDATE: &[&str] = &[
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
];
const RESTART_POLICY: &[&str] = &["condition", "delay", "max_attempts", "window"];
const PLACEMENT: &[&str] = &["constraints", "preferences", "max_replicas_per_node"];
const DEVELOP: &[&str] = &["watch"];
const TRIGGER: &[&str] = &[
    "path",
    "action",
    "target",
    "exec",
    "include",
    "ignore",
    "initial_sync",
];
const HOOK: &[&str] = &[
    "command",
    "user",
    "privileged",
    "working_dir",
    "environment",
];
const FILE_REF: &[&str] = &["source", "target", "uid", "gid", "mode"];
const LOGGING: &[&str] = &["driver", "options"];
const ULIMIT: &[&str] = &["single", "soft", "hard"];

/// How an object is written: a Go struct (its fields' order) or a map (sorted keys), and
/// what its members are.
#[derive(Clone, Copy)]
enum Kind {
    Struct(&'static [&'static str], Child),
    Map(Child),
}

/// The kind of an object's members.
#[derive(Clone, Copy)]
enum Child {
    Service,
    Any,
    Mount,
    Networks,
    Ulimits,
    Deploy,
    Resources,
    Develop,
    Trigger,
}

fn kind_of_member(parent: Child, key: &str) -> Kind {
    match parent {
        Child::Service => match key {
            "ports" => Kind::Struct(PORT, Child::Any),
            "volumes" => Kind::Struct(MOUNT, Child::Mount),
            "healthcheck" => Kind::Struct(HEALTH, Child::Any),
            "networks" => Kind::Map(Child::Networks),
            "secrets" | "configs" => Kind::Struct(FILE_REF, Child::Any),
            "logging" => Kind::Struct(LOGGING, Child::Any),
            "ulimits" => Kind::Map(Child::Ulimits),
            "deploy" => Kind::Struct(DEPLOY, Child::Deploy),
            "develop" => Kind::Struct(DEVELOP, Child::Develop),
            _ => Kind::Map(Child::Any),
        },
        Child::Develop => Kind::Struct(TRIGGER, Child::Trigger),
        Child::Trigger => match key {
            "exec" => Kind::Struct(HOOK, Child::Any),
            _ => Kind::Map(Child::Any),
        },
        Child::Deploy => match key {
            "update_config" | "rollback_config" => Kind::Struct(UPDATE, Child::Any),
            "resources" => Kind::Struct(RESOURCES, Child::Resources),
            "restart_policy" => Kind::Struct(RESTART_POLICY, Child::Any),
            "placement" => Kind::Struct(PLACEMENT, Child::Any),
            _ => Kind::Map(Child::Any),
        },
        Child::Resources => Kind::Struct(RESOURCE, Child::Any),
        Child::Mount => match key {
            "bind" => Kind::Struct(BIND, Child::Any),
            "volume" => Kind::Struct(VOLUME, Child::Any),
            "tmpfs" => Kind::Struct(TMPFS, Child::Any),
            _ => Kind::Map(Child::Any),
        },
        Child::Networks => Kind::Struct(NETWORK, Child::Any),
        Child::Ulimits => Kind::Struct(ULIMIT, Child::Any),
        Child::Any => Kind::Map(Child::Any),
    }
}

/// The service's hash, as the `com.docker.compose.config-hash` label carries it.
pub fn service_hash(s: &Service) -> String {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
            m.remove(k);
        }
        if let Some(d) = m.get_mut("deploy").and_then(Value::as_object_mut) {
            d.remove("replicas");
            // Go writes these two struct-valued fields even when empty.
            for k in ["resources", "placement"] {
                d.entry(k)
                    .or_insert_with(|| Value::Object(Default::default()));
            }
        }
    }
    let mut out = String::new();
    write(&v, Kind::Struct(SERVICE, Child::Service), &mut out);
    hex(&Sha256::digest(out.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write(v: &Value, kind: Kind, out: &mut String) {
    match v {
        Value::Object(m) => {
            let (order, child): (Vec<&String>, Child) = match kind {
                Kind::Struct(fields, child) => {
                    let mut keys: Vec<&String> = fields
                        .iter()
                        .filter_map(|f| m.get_key_value(*f).map(|(k, _)| k))
                        .collect();
                    // Keys the table does not know go last, sorted.
                    let mut rest: Vec<&String> =
                        m.keys().filter(|k| !fields.contains(&k.as_str())).collect();
                    rest.sort();
                    keys.extend(rest);
                    (keys, child)
                }
                Kind::Map(child) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    (keys, child)
                }
            };
            out.push('{');
            for (i, k) in order.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                let member = match kind {
                    Kind::Struct(..) => kind_of_member(child, k),
                    // A map's values share one kind (a network's settings, a ulimit).
                    Kind::Map(Child::Networks) => Kind::Struct(NETWORK, Child::Any),
                    Kind::Map(Child::Ulimits) => Kind::Struct(ULIMIT, Child::Any),
                    Kind::Map(_) => Kind::Map(Child::Any),
                };
                write(&m[k.as_str()], member, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, kind, out);
            }
            out.push(']');
        }
        Value::String(s) => string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

/// A string as Go's encoder writes it (HTML characters escaped).
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_order_and_escaping() {
        let v: Value = serde_json::from_str(
            r#"{"volumes":[{"target":"/t","type":"bind","bind":{"recursive":"x","create_host_path":true}}],
                "image":"a<b>&","command":null,"environment":{"B":"2","A":null},
                "networks":{"z":null,"a":{"priority":1,"aliases":["x"]}}}"#,
        )
        .expect("json");
        let mut out = String::new();
        write(&v, Kind::Struct(SERVICE, Child::Service), &mut out);
        assert_eq!(
            out,
            r#"{"command":null,"environment":{"A":null,"B":"2"},"image":"a\u003cb\u003e\u0026","networks":{"a":{"aliases":["x"],"priority":1},"z":null},"volumes":[{"type":"bind","target":"/t","bind":{"create_host_path":true,"recursive":"x"}}]}"#
        );
    }
}
