//! The compose-spec's types of a service's keys, checked before anything else reads them,
//! with the words Compose v2 uses when one is wrong (`services.web.ports must be a array`):
//! the type list of a `type: [a, b]` key (`boolean or string`), the first alternative of a
//! `oneOf` (`mapping` for a list-or-mapping). Written from the spec's definitions.

use serde_yaml_ng::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum K {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Seq,
    Map,
}

use K::*;

const BOOL_OR_STR: (&[K], &str) = (&[Bool, Str], "boolean or string");
const NUM_OR_STR: (&[K], &str) = (&[Int, Float, Str], "number or string");
const INT_OR_STR: (&[K], &str) = (&[Int, Str], "integer or string");
const STR: (&[K], &str) = (&[Str], "string");
const ARRAY: (&[K], &str) = (&[Seq], "array");
const MAP: (&[K], &str) = (&[Map], "mapping");
const LIST_OR_DICT: (&[K], &str) = (&[Map, Seq], "mapping");
const STR_OR_LIST: (&[K], &str) = (&[Str, Seq], "string");
const COMMAND: (&[K], &str) = (&[Null, Str, Seq], "null");

/// What a key's value may be, and how Compose names it when it is something else.
fn spec(key: &str) -> Option<(&'static [K], &'static str)> {
    Some(match key {
        "attach" | "init" | "oom_kill_disable" | "privileged" | "read_only" | "stdin_open"
        | "tty" => BOOL_OR_STR,
        "cpu_shares" | "cpu_quota" | "cpu_period" | "cpu_rt_period" | "cpu_rt_runtime" | "cpus"
        | "mem_limit" | "memswap_limit" | "pids_limit" | "shm_size" => NUM_OR_STR,
        "cpu_count" | "cpu_percent" | "mem_reservation" | "mem_swappiness" | "oom_score_adj"
        | "scale" => INT_OR_STR,
        "cgroup" | "cgroup_parent" | "container_name" | "cpuset" | "domainname" | "hostname"
        | "image" | "ipc" | "isolation" | "mac_address" | "network_mode" | "platform"
        | "pull_policy" | "restart" | "runtime" | "stop_grace_period" | "stop_signal" | "user"
        | "userns_mode" | "uts" | "working_dir" => STR,
        "pid" => (&[Null, Str], "null or string"),
        "build" => (&[Str, Map], "string"),
        "cap_add"
        | "cap_drop"
        | "configs"
        | "depends_on"
        | "device_cgroup_rules"
        | "devices"
        | "dns_opt"
        | "expose"
        | "external_links"
        | "group_add"
        | "links"
        | "networks"
        | "ports"
        | "post_start"
        | "pre_stop"
        | "profiles"
        | "secrets"
        | "security_opt"
        | "volumes"
        | "volumes_from" => match key {
            // A list, or the long form's mapping.
            "depends_on" | "networks" => (&[Seq, Map], "array"),
            _ => ARRAY,
        },
        "annotations" | "environment" | "extra_hosts" | "labels" | "sysctls" => LIST_OR_DICT,
        "blkio_config" | "credential_spec" | "develop" | "healthcheck" | "logging"
        | "storage_opt" | "ulimits" => MAP,
        "deploy" => (&[Map, Null], "mapping or null"),
        "command" | "entrypoint" => COMMAND,
        "dns" | "dns_search" | "env_file" | "label_file" | "tmpfs" => STR_OR_LIST,
        _ => return None,
    })
}

fn kind(v: &Value) -> K {
    match v {
        Value::Null => Null,
        Value::Bool(_) => Bool,
        Value::Number(n) if n.is_i64() || n.is_u64() => Int,
        Value::Number(_) => Float,
        Value::String(_) => Str,
        Value::Sequence(_) => Seq,
        Value::Mapping(_) => Map,
        Value::Tagged(t) => kind(&t.value),
    }
}

/// `Some(the expected type's words)` when a service key's value has a type the spec refuses.
pub(crate) fn wrong_type(key: &str, v: &Value) -> Option<&'static str> {
    let (allowed, words) = spec(key)?;
    (!allowed.contains(&kind(v))).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_as_the_spec_says() {
        let y = |s: &str| serde_yaml_ng::from_str::<Value>(s).expect("yaml");
        assert_eq!(wrong_type("ports", &y("80")), Some("array"));
        assert_eq!(wrong_type("ports", &y("[80]")), None);
        assert_eq!(wrong_type("tty", &y("1")), Some("boolean or string"));
        assert_eq!(wrong_type("tty", &y("'${TTY}'")), None);
        assert_eq!(wrong_type("environment", &y("[A=1]")), None);
        assert_eq!(wrong_type("environment", &y("5")), Some("mapping"));
        assert_eq!(wrong_type("command", &y("{a: 1}")), Some("null"));
        assert_eq!(wrong_type("scale", &y("1.5")), Some("integer or string"));
        assert_eq!(wrong_type("cpus", &y("1.5")), None);
        assert_eq!(wrong_type("working_dir", &y("5")), Some("string"));
        assert_eq!(wrong_type("x-anything", &y("5")), None);
    }
}
