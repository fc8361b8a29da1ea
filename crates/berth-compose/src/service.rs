//! One service's keys normalised as Compose v2 prints them: commands, environment and
//! `env_file`, ports, volumes, networks, `depends_on`, healthchecks, sizes and durations.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::interpolate;
use crate::model::{Build, Dependency, FileRef, Mount, Port, Service, scalar};
use crate::project::{abs, invalid, list, nulls_empty, typed};
use crate::{Error, dotenv};

pub(crate) fn service(
    name: &str,
    v: &Value,
    dir: &Path,
    file: &str,
    lookup: interpolate::Lookup<'_>,
) -> Result<Service, Error> {
    let at = |k: &str| format!("services.{name}.{k}");
    let m: Map<String, Value> = v.as_object().cloned().unwrap_or_default();
    let mut s = Service::default();
    for (k, v) in m {
        if k.starts_with("x-") {
            continue;
        }
        match k.as_str() {
            "build" => s.build = Some(build(&v, dir, &at(&k), file)?),
            "command" => s.command = command(&v, &at(&k), file)?,
            "entrypoint" => s.entrypoint = command(&v, &at(&k), file)?,
            "environment" => {
                for (ek, ev) in environment(&v) {
                    s.environment.insert(ek, ev);
                }
            }
            "env_file" => {
                // Files first: `environment` wins over them, whatever the key order.
                for (ek, ev) in env_files(&v, dir, lookup)? {
                    s.environment.entry(ek).or_insert(Some(ev));
                }
            }
            "expose" => s.expose = list(&v).iter().filter_map(scalar).collect(),
            "extra_hosts" => {
                s.extra_hosts = extra_hosts(&v);
                s.extra_hosts.sort();
            }
            "healthcheck" => s.healthcheck = Some(healthcheck(&v)),
            "image" => s.image = scalar(&v),
            "labels" => s.labels = typed(&v, &at(&k), file)?,
            "networks" => s.networks = networks(&v),
            "ports" => s.ports = ports(&v, &at(&k), file)?,
            "profiles" => s.profiles = list(&v).iter().filter_map(scalar).collect(),
            "secrets" => s.secrets = file_refs(&v, Some("/run/secrets/"), &at(&k), file)?,
            "configs" => s.configs = file_refs(&v, None, &at(&k), file)?,
            "tmpfs" => s.tmpfs = list(&v).iter().filter_map(scalar).collect(),
            "volumes" => s.volumes = mounts(&v, dir, &at(&k), file)?,
            "depends_on" => s.depends_on = depends_on(&v, &at(&k), file)?,
            // Sizes as compose-go keeps them (a count of bytes, written as a string), and
            // `cpus` as a number: the config hash depends on it.
            "mem_limit" | "mem_reservation" | "memswap_limit" | "shm_size" => {
                let b = scalar(&v)
                    .and_then(|x| bytes(&x))
                    .map(|n| Value::String(n.to_string()));
                s.other.insert(k, b.unwrap_or(v));
            }
            // A mapping of strings, whichever syntax (compose-go's `Mapping`).
            "sysctls" | "annotations" => {
                let m: serde_json::Map<String, Value> = environment(&v)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v.unwrap_or_default())))
                    .collect();
                s.other.insert(k, Value::Object(m));
            }
            "cpus" => {
                let n = scalar(&v)
                    .and_then(|x| x.parse::<f64>().ok())
                    .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number));
                s.other.insert(k, n.unwrap_or(v));
            }
            "develop" => {
                let d = develop(v, dir);
                s.other.insert(k, d);
            }
            "deploy" => {
                let d = deploy(v, &at(&k), file)?;
                s.other.insert(k, d);
            }
            "stop_grace_period" => {
                let d = scalar(&v).and_then(|s| go_duration(&s)).map(Value::String);
                s.other.insert(k, d.unwrap_or(v));
            }
            _ => {
                s.other.insert(k, v);
            }
        }
    }
    if s.networks.is_empty() && !s.other.contains_key("network_mode") {
        s.networks.insert("default".into(), None);
    }
    Ok(s)
}

/// `develop` as compose-go keeps it: each watch rule's path absolute, `exec` always present.
fn develop(mut v: Value, dir: &Path) -> Value {
    let rules = v
        .get_mut("watch")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for r in rules {
        let Some(m) = r.as_object_mut() else { continue };
        if let Some(p) = m.get("path").and_then(scalar) {
            m.insert("path".into(), Value::String(abs(dir, &p)));
        }
        m.entry("exec").or_insert_with(|| json!({"command": null}));
    }
    v
}

/// `deploy` as compose-go keeps it: labels a mapping, sizes a count of bytes (a string),
/// `cpus` a number, durations in Go's form.
fn deploy(mut v: Value, at: &str, file: &str) -> Result<Value, Error> {
    let Some(m) = v.as_object_mut() else {
        return Ok(v);
    };
    // Go writes these two struct-valued fields even when empty.
    for k in ["resources", "placement"] {
        m.entry(k).or_insert_with(|| json!({}));
    }
    if let Some(l) = m.get("labels") {
        let labels: crate::model::Labels = typed(l, &format!("{at}.labels"), file)?;
        m.insert("labels".into(), json!(labels.0));
    }
    if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
        for side in ["limits", "reservations"] {
            let Some(x) = r.get_mut(side).and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(b) = x.get("memory").and_then(scalar).and_then(|s| bytes(&s)) {
                x.insert("memory".into(), Value::String(b.to_string()));
            }
            let cpus = x
                .get("cpus")
                .and_then(scalar)
                .and_then(|c| c.parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64);
            if let Some(n) = cpus {
                x.insert("cpus".into(), Value::Number(n));
            }
        }
    }
    for (section, keys) in [
        ("restart_policy", &["delay", "window"][..]),
        ("update_config", &["delay", "monitor"][..]),
        ("rollback_config", &["delay", "monitor"][..]),
    ] {
        let Some(x) = m.get_mut(section).and_then(Value::as_object_mut) else {
            continue;
        };
        for k in keys {
            if let Some(d) = x.get(*k).and_then(scalar).and_then(|s| go_duration(&s)) {
                x.insert((*k).into(), Value::String(d));
            }
        }
    }
    Ok(v)
}

fn build(v: &Value, dir: &Path, at: &str, file: &str) -> Result<Build, Error> {
    let mut b = Build::default();
    match v {
        Value::String(ctx) => b.context = abs(dir, ctx),
        Value::Object(m) => {
            b.context = abs(dir, m.get("context").and_then(Value::as_str).unwrap_or("."));
            for (k, v) in m {
                match k.as_str() {
                    "context" => {}
                    "dockerfile" => b.dockerfile = scalar(v).unwrap_or_default(),
                    "args" => b.args = typed(v, &format!("{at}.args"), file)?,
                    _ => {
                        b.other.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => return Err(invalid(file, format!("{at} must be a string or a mapping"))),
    }
    if b.dockerfile.is_empty() {
        b.dockerfile = "Dockerfile".into();
    }
    Ok(b)
}

fn command(v: &Value, at: &str, file: &str) -> Result<Option<Vec<String>>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => shlex::split(s)
            .map(Some)
            .ok_or_else(|| invalid(file, format!("{at}: unbalanced quotes in {s:?}"))),
        Value::Array(a) => Ok(Some(a.iter().filter_map(scalar).collect())),
        _ => Err(invalid(file, format!("{at} must be a string or a list"))),
    }
}

fn environment(v: &Value) -> Vec<(String, Option<String>)> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(scalar)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (s, None),
            })
            .collect(),
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        _ => Vec::new(),
    }
}

fn env_files(
    v: &Value,
    dir: &Path,
    lookup: interpolate::Lookup<'_>,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for item in list(v) {
        let (path, required) = match &item {
            Value::String(p) => (p.clone(), true),
            Value::Object(m) => (
                m.get("path")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                m.get("required").and_then(Value::as_bool).unwrap_or(true),
            ),
            _ => continue,
        };
        let full = abs(dir, &path);
        match std::fs::read_to_string(&full) {
            Ok(text) => out.extend(dotenv::parse(&text, &full, lookup)?),
            Err(_) if !required => {}
            Err(e) => {
                return Err(Error::Invalid(format!(
                    "env file {full} not found: stat {full}: {}",
                    e.to_string()
                        .to_lowercase()
                        .split(" (os error")
                        .next()
                        .unwrap_or_default()
                )));
            }
        }
    }
    Ok(out)
}

fn extra_hosts(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v).unwrap_or_default()))
            .collect(),
        other => list(other)
            .iter()
            .filter_map(scalar)
            .map(|s| {
                if s.contains('=') {
                    s
                } else {
                    match s.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => s,
                    }
                }
            })
            .collect(),
    }
}

fn healthcheck(v: &Value) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = v
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if let Some(Value::String(t)) = out.get("test") {
        let t = json!(["CMD-SHELL", t]);
        out.insert("test".into(), t);
    }
    if out.get("disable") == Some(&Value::Bool(false)) {
        out.remove("disable");
    }
    for k in ["timeout", "interval", "start_period", "start_interval"] {
        if let Some(d) = out.get(k).and_then(scalar).and_then(|s| go_duration(&s)) {
            out.insert(k.into(), Value::String(d));
        }
    }
    out
}

/// A size (`512m`, `1g`, `1024`, `1.5gb`) in bytes, as compose-go's `UnitBytes` reads it
/// (binary multiples).
pub fn bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_lowercase();
    let n = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(n);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        _ => return None,
    };
    Some((num * mult) as i64)
}

/// A Compose duration (`1m30s`, `90s`, `500ms`, `1h`) as Go prints it (`1m30s`, `500ms`,
/// `1h0m0s`), which is how Compose writes it back.
pub fn go_duration(s: &str) -> Option<String> {
    let s = s.trim();
    if s == "0" {
        return Some("0s".into());
    }
    let nanos = berth_units::parse_go_duration(s)?;
    Some(format_go_duration(u128::try_from(nanos).ok()?))
}

fn format_go_duration(n: u128) -> String {
    let trim = |v: u128, scale: u128| -> String {
        let whole = v / scale;
        let frac = v % scale;
        if frac == 0 {
            return whole.to_string();
        }
        let width = scale.to_string().len() - 1;
        let f = format!("{frac:0width$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    };
    if n == 0 {
        return "0s".into();
    }
    if n < 1_000 {
        return format!("{n}ns");
    }
    if n < 1_000_000 {
        return format!("{}µs", trim(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{}ms", trim(n, 1_000_000));
    }
    let h = n / 3_600_000_000_000;
    let m = (n / 60_000_000_000) % 60;
    let s = n % 60_000_000_000;
    let secs = format!("{}s", trim(s, 1_000_000_000));
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn networks(v: &Value) -> BTreeMap<String, Option<Value>> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone()).filter(|v| !v.is_null())))
            .collect(),
        other => list(other)
            .iter()
            .filter_map(scalar)
            .map(|n| (n, None))
            .collect(),
    }
}

fn depends_on(v: &Value, at: &str, file: &str) -> Result<BTreeMap<String, Dependency>, Error> {
    let mut out = BTreeMap::new();
    match v {
        Value::Object(m) => {
            for (k, d) in m {
                out.insert(
                    k.clone(),
                    typed(&nulls_empty(d.clone()), &format!("{at}.{k}"), file)?,
                );
            }
        }
        other => {
            for n in list(other).iter().filter_map(scalar) {
                out.insert(n, typed(&json!({}), at, file)?);
            }
        }
    }
    Ok(out)
}

fn file_refs(
    v: &Value,
    default_dir: Option<&str>,
    at: &str,
    file: &str,
) -> Result<Vec<FileRef>, Error> {
    let mut out = Vec::new();
    for item in list(v) {
        let mut r: FileRef = match &item {
            Value::String(s) => FileRef {
                source: s.clone(),
                ..Default::default()
            },
            other => typed(other, at, file)?,
        };
        if r.target.is_none() {
            r.target = default_dir.map(|d| format!("{d}{}", r.source));
        }
        out.push(r);
    }
    Ok(out)
}

/// `[host_ip:][published[-end]:]target[-end][/protocol]`, or a number.
fn ports(v: &Value, at: &str, file: &str) -> Result<Vec<Port>, Error> {
    let mut out = Vec::new();
    for item in list(v) {
        let spec = match &item {
            Value::Object(_) => {
                out.push(typed(&item, at, file)?);
                continue;
            }
            other => scalar(other).unwrap_or_default(),
        };
        let bad = || invalid(file, format!("{at}: invalid port {spec:?}"));
        let (rest, protocol) = spec.rsplit_once('/').unwrap_or((spec.as_str(), "tcp"));
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let (target, published, host_ip) = match parts.as_slice() {
            [t] => (*t, None, None),
            [t, p] => (*t, Some(*p), None),
            [t, p, h] => (*t, Some(*p), Some(h.trim_matches(['[', ']']))),
            _ => return Err(bad()),
        };
        let range = |s: &str| -> Result<(u16, u16), Error> {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
        };
        let (t0, t1) = range(target)?;
        let published = published.filter(|p| !p.is_empty());
        let pub_range = published.map(range).transpose()?;
        for (i, t) in (t0..=t1).enumerate() {
            let published = match pub_range {
                // A single published port for a range of targets keeps the range as written.
                Some((p0, p1)) if p1 > p0 || t0 == t1 => Some((p0 + i as u16).to_string()),
                Some(_) => published.map(str::to_owned),
                None => None,
            };
            out.push(Port {
                mode: "ingress".into(),
                host_ip: host_ip.filter(|h| !h.is_empty()).map(str::to_owned),
                target: t,
                published,
                protocol: protocol.to_owned(),
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// `SOURCE:TARGET[:MODE]`, `TARGET`, or the long syntax; bind sources made absolute.
fn mounts(v: &Value, dir: &Path, at: &str, file: &str) -> Result<Vec<Mount>, Error> {
    let mut out = Vec::new();
    for item in list(v) {
        if item.is_object() {
            let mut m: Mount = typed(&item, at, file)?;
            if m.r#type == "bind" {
                m.source = m.source.map(|s| abs(dir, &expand_home(&s)));
            }
            out.push(m);
            continue;
        }
        let spec = scalar(&item).unwrap_or_default();
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [d] => (None, *d, ""),
            [s, d] => (Some(*s), *d, ""),
            [s, d, m] => (Some(*s), *d, *m),
            _ => return Err(invalid(file, format!("{at}: invalid volume {spec:?}"))),
        };
        let read_only = mode.split(',').any(|o| o == "ro");
        let m = match src {
            Some(s) if s.starts_with(['.', '/', '~']) => Mount {
                r#type: "bind".into(),
                source: Some(abs(dir, &expand_home(s))),
                target: dst.to_owned(),
                read_only,
                bind: Some(json!({"create_host_path": true})),
                ..Default::default()
            },
            _ => Mount {
                r#type: "volume".into(),
                source: src.map(str::to_owned),
                target: dst.to_owned(),
                read_only,
                volume: Some(json!({})),
                ..Default::default()
            },
        };
        out.push(m);
    }
    Ok(out)
}

fn expand_home(s: &str) -> String {
    match s.strip_prefix('~') {
        Some(rest) => format!("{}{rest}", std::env::var("HOME").unwrap_or_default()),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    #[test]
    fn durations_as_go_prints_them() {
        for (given, want) in [
            ("30s", "30s"),
            ("90s", "1m30s"),
            ("1m", "1m0s"),
            ("1h", "1h0m0s"),
            ("1m30.5s", "1m30.5s"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("2h45m", "2h45m0s"),
            ("0", "0s"),
            ("10us", "10µs"),
        ] {
            assert_eq!(go_duration(given).as_deref(), Some(want), "{given}");
        }
        assert_eq!(go_duration("5 parsecs"), None);
    }
}
