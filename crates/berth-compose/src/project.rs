//! Loading a project: `.env`, the files (merged in order; a later file's keys win), variables
//! interpolated, `x-` extensions dropped, keys checked, every field normalised as Compose v2
//! prints it with `config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::interpolate::{self, Interpolator};
use crate::model::{
    Build, Dependency, FileObject, FileRef, Mount, Network, Port, Project, SERVICE_KEYS, Service,
    Volume, scalar,
};
use crate::{Error, dotenv, yaml};

/// Where a project comes from.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Compose files (`-f`), in order; empty: `compose.yaml` (or its other names) in the
    /// project directory.
    pub files: Vec<PathBuf>,
    /// `--project-directory` (default: the first file's directory).
    pub project_dir: Option<PathBuf>,
    /// `-p` (else `COMPOSE_PROJECT_NAME`, the file's `name:`, the directory's name).
    pub name: Option<String>,
    /// The process's environment (it wins over `.env`).
    pub environment: BTreeMap<String, String>,
    /// `--env-file` (default: `.env` in the project directory, when it exists).
    pub env_files: Vec<PathBuf>,
    /// `--profile` (else `COMPOSE_PROFILES`, comma-separated); `*` enables every profile.
    pub profiles: Vec<String>,
}

const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

fn invalid(file: &str, message: String) -> Error {
    Error::Invalid(format!("validating {file}: {message}"))
}

/// Load and normalise a project.
pub fn load(o: &Options) -> Result<Project, Error> {
    let mut p = load_part(o, None, 0)?;
    finish(&mut p)?;
    Ok(p)
}

/// A project's files with what they include; `name` is the including project's (whose names
/// its resources take).
fn load_part(o: &Options, name: Option<&str>, depth: usize) -> Result<Project, Error> {
    if depth > 10 {
        return Err(Error::Invalid(
            "include: too deeply nested (a cycle?)".into(),
        ));
    }
    let cwd = std::env::current_dir().map_err(|e| Error::Invalid(e.to_string()))?;
    let files: Vec<PathBuf> = if o.files.is_empty() {
        let dir = o.project_dir.clone().unwrap_or(cwd.clone());
        let found = DEFAULT_FILES
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| Error::Invalid("no configuration file provided: not found".into()))?;
        vec![found]
    } else {
        o.files.iter().map(|f| cwd.join(f)).collect()
    };
    let dir = match &o.project_dir {
        Some(d) => cwd.join(d),
        None => files[0].parent().map(Path::to_path_buf).unwrap_or(cwd),
    };
    // The variables: the process's, over the env files'.
    let env_files = if o.env_files.is_empty() {
        vec![dir.join(".env")]
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    } else {
        o.env_files.iter().map(|f| dir.join(f)).collect::<Vec<_>>()
    };
    let shell = |k: &str| o.environment.get(k).cloned();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for f in &env_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::Invalid(format!("couldn't read env file {}: {e}", f.display())))?;
        let lookup = |k: &str| shell(k).or_else(|| vars.get(k).cloned());
        let parsed = dotenv::parse(&text, &f.display().to_string(), &lookup)?;
        vars.extend(parsed);
    }
    let lookup = |k: &str| shell(k).or_else(|| vars.get(k).cloned());
    let mut merged = serde_yaml_ng::Value::Mapping(Default::default());
    let mut interp = Interpolator::default();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::Invalid(format!("open {}: {e}", f.display())))?;
        let name = f.display().to_string();
        let mut doc = yaml::load(&text, &name)?;
        interpolate::document(&mut doc, "", &lookup, &mut interp)?;
        check_keys(&doc, &name)?;
        // Each file's `extends` first, within the file (as Compose does), then the merge.
        extends(&mut doc, &name, &dir, &lookup)?;
        crate::merge::documents(&mut merged, doc);
    }
    let doc: Value = serde_json::to_value(&merged).map_err(|e| Error::Invalid(e.to_string()))?;
    let first = files[0].display().to_string();
    let name = match (
        name.map(str::to_owned).or_else(|| o.name.clone()),
        o.environment.get("COMPOSE_PROJECT_NAME"),
        doc.get("name"),
    ) {
        (Some(n), _, _) => crate::project_name(&n)?.to_owned(),
        (None, Some(n), _) if !n.is_empty() => crate::project_name(n)?.to_owned(),
        // The file's `name:` is normalised (Compose's rule), the command line's refused.
        (None, _, Some(Value::String(n))) => crate::normalize_project_name(n),
        _ => crate::normalize_project_name(
            &dir.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
        ),
    };
    let mut profiles = o.profiles.clone();
    if profiles.is_empty() {
        let from_env = o
            .environment
            .get("COMPOSE_PROFILES")
            .cloned()
            .or_else(|| vars.get("COMPOSE_PROFILES").cloned())
            .unwrap_or_default();
        profiles = from_env
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let mut p = normalise(&doc, &name, &dir, &first, &lookup, &profiles)?;
    p.config_files = files.iter().map(|f| f.display().to_string()).collect();
    p.working_dir = dir.display().to_string();
    // `include`: each entry a project of its own (its directory, its .env), whose services
    // and resources join this one; a name defined on both sides is an error.
    for inc in doc.get("include").map(list).unwrap_or_default() {
        let (paths, project_dir, env_files) = match &inc {
            Value::String(s) => (vec![s.clone()], None, Vec::new()),
            Value::Object(m) => (
                m.get("path")
                    .map(list)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(scalar)
                    .collect(),
                m.get("project_directory").and_then(scalar),
                m.get("env_file")
                    .map(list)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(scalar)
                    .collect(),
            ),
            _ => continue,
        };
        let files: Vec<PathBuf> = paths.iter().map(|f| dir.join(f)).collect();
        let first_dir = files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or(dir.clone());
        let sub_dir = project_dir.map(|d| dir.join(d)).unwrap_or(first_dir);
        let sub = Options {
            files,
            project_dir: Some(sub_dir.clone()),
            name: None,
            environment: o.environment.clone(),
            env_files: env_files.iter().map(|f| dir.join(f)).collect(),
            profiles: profiles.clone(),
        };
        let inc = load_part(&sub, Some(&name), depth + 1)?;
        import(&mut p.services, inc.services, "services")?;
        import(&mut p.networks, inc.networks, "networks")?;
        import(&mut p.volumes, inc.volumes, "volumes")?;
        import(&mut p.secrets, inc.secrets, "secrets")?;
        import(&mut p.configs, inc.configs, "configs")?;
        p.all_profiles.extend(inc.all_profiles);
        p.all_profiles.sort();
        p.all_profiles.dedup();
    }
    Ok(p)
}

fn import<T>(
    into: &mut BTreeMap<String, T>,
    from: BTreeMap<String, T>,
    what: &str,
) -> Result<(), Error> {
    for (k, v) in from {
        if into.contains_key(&k) {
            return Err(Error::Invalid(format!(
                "{what}.{k} conflicts with imported resource"
            )));
        }
        into.insert(k, v);
    }
    Ok(())
}

/// The whole project's checks and Compose's last steps: dependencies exist, the default
/// network when a service is on it, resources no service uses dropped.
fn finish(p: &mut Project) -> Result<(), Error> {
    for (k, s) in &p.services {
        for d in s.depends_on.keys() {
            if !p.services.contains_key(d) {
                return Err(Error::Invalid(format!(
                    "service {k:?} depends on undefined service {d:?}: invalid compose project"
                )));
            }
        }
    }
    let uses_default = p
        .services
        .values()
        .any(|s| s.networks.contains_key("default"));
    if uses_default && !p.networks.contains_key("default") {
        p.networks.insert(
            "default".into(),
            Network {
                name: format!("{}_default", p.name),
                ipam: json!({}),
                ..Default::default()
            },
        );
    }
    let services: Vec<&Service> = p.services.values().collect();
    p.networks
        .retain(|k, _| services.iter().any(|s| s.networks.contains_key(k)));
    p.volumes.retain(|k, _| {
        services.iter().any(|s| {
            s.volumes
                .iter()
                .any(|m| m.r#type == "volume" && m.source.as_deref() == Some(k.as_str()))
        })
    });
    p.secrets.retain(|k, _| {
        services
            .iter()
            .any(|s| s.secrets.iter().any(|r| r.source == *k))
    });
    p.configs.retain(|k, _| {
        services
            .iter()
            .any(|s| s.configs.iter().any(|r| r.source == *k))
    });
    Ok(())
}

/// `extends` resolved in every service of one file (`file`): the base service (of this file,
/// or of `extends.file` relative to the project directory) under the service's own keys,
/// recursively.
fn extends(
    doc: &mut serde_yaml_ng::Value,
    file: &str,
    dir: &Path,
    lookup: interpolate::Lookup<'_>,
) -> Result<(), Error> {
    let Some(services) = doc.get("services").and_then(|s| s.as_mapping()).cloned() else {
        return Ok(());
    };
    let mut resolved = serde_yaml_ng::Mapping::new();
    for (name, _) in services.iter() {
        let n = name.as_str().unwrap_or_default();
        let svc = resolve_extends(&services, n, file, dir, lookup, &mut Vec::new())?;
        resolved.insert(name.clone(), svc);
    }
    if let Some(m) = doc.as_mapping_mut() {
        m.insert("services".into(), serde_yaml_ng::Value::Mapping(resolved));
    }
    Ok(())
}

fn resolve_extends(
    services: &serde_yaml_ng::Mapping,
    name: &str,
    file: &str,
    dir: &Path,
    lookup: interpolate::Lookup<'_>,
    stack: &mut Vec<(String, String)>,
) -> Result<serde_yaml_ng::Value, Error> {
    use serde_yaml_ng::Value as Y;
    let here = (name.to_owned(), file.to_owned());
    if stack.contains(&here) {
        let mut text = String::from("Circular reference:");
        for (i, (s, f)) in stack.iter().chain(std::iter::once(&here)).enumerate() {
            let verb = if i == 0 { "" } else { "extends " };
            text.push_str(&format!("\n  {verb}{s} in {f}"));
        }
        return Err(Error::Invalid(text));
    }
    let Some(mut svc) = services.get(name).cloned() else {
        let (from, from_file) = stack.last().cloned().unwrap_or_default();
        return Err(Error::Invalid(format!(
            "cannot extend service {from:?} in {from_file}: service {name:?} not found"
        )));
    };
    let Some(ext) = svc.as_mapping_mut().and_then(|m| m.remove("extends")) else {
        return Ok(svc);
    };
    let (base_name, other_file) = match &ext {
        Y::String(s) => (s.clone(), None),
        Y::Mapping(m) => (
            m.get("service")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_owned(),
            m.get("file").and_then(|f| f.as_str()).map(str::to_owned),
        ),
        _ => {
            return Err(Error::Invalid(format!(
                "services.{name}.extends must be a string or a mapping"
            )));
        }
    };
    stack.push(here);
    let mut base = match &other_file {
        None => resolve_extends(services, &base_name, file, dir, lookup, stack)?,
        Some(f) => {
            let path = dir.join(f);
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Invalid(format!("open {shown}: {e}")))?;
            let mut other = yaml::load(&text, &shown)?;
            interpolate::document(&mut other, "", lookup, &mut Interpolator::default())?;
            let theirs = other
                .get("services")
                .and_then(|s| s.as_mapping())
                .cloned()
                .unwrap_or_default();
            resolve_extends(&theirs, &base_name, &shown, dir, lookup, stack)?
        }
    };
    stack.pop();
    crate::merge::service(&mut base, svc);
    Ok(base)
}

/// Unknown keys at the top level and in services, with Compose's message.
fn check_keys(doc: &serde_yaml_ng::Value, file: &str) -> Result<(), Error> {
    const TOP: &[&str] = &[
        "version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
        "models",
    ];
    let Some(m) = doc.as_mapping() else {
        return Ok(());
    };
    for k in m.keys().filter_map(|k| k.as_str()) {
        if !TOP.contains(&k) && !k.starts_with("x-") {
            return Err(invalid(
                file,
                format!("additional properties '{k}' not allowed"),
            ));
        }
    }
    if let Some(services) = m.get("services").and_then(|s| s.as_mapping()) {
        for (name, svc) in services {
            let name = name.as_str().unwrap_or_default();
            let Some(svc) = svc.as_mapping() else {
                return Err(invalid(file, format!("services.{name} must be a mapping")));
            };
            for k in svc.keys().filter_map(|k| k.as_str()) {
                if !SERVICE_KEYS.contains(&k) && !k.starts_with("x-") {
                    return Err(invalid(
                        file,
                        format!("services.{name} additional properties '{k}' not allowed"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value, at: &str, file: &str) -> Result<T, Error> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(file, format!("{at}: {e}")))
}

fn abs(dir: &Path, p: &str) -> String {
    let p = Path::new(p);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    // Lexically clean (`./x`, `a/../b`), as Go's filepath.Abs does.
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.display().to_string()
}

fn normalise(
    doc: &Value,
    name: &str,
    dir: &Path,
    file: &str,
    lookup: interpolate::Lookup<'_>,
    profiles: &[String],
) -> Result<Project, Error> {
    let section = |k: &str| -> Vec<(String, Value)> {
        doc.get(k)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !k.starts_with("x-"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut p = Project {
        name: name.to_owned(),
        extensions: doc
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("x-"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    for (k, v) in section("networks") {
        let mut n: Network = typed(&nulls_empty(v), &format!("networks.{k}"), file)?;
        if n.name.is_empty() {
            n.name = if n.external == Some(true) {
                k.clone()
            } else {
                format!("{name}_{k}")
            };
        }
        if n.ipam.is_null() {
            n.ipam = json!({});
        }
        p.networks.insert(k, n);
    }
    for (k, v) in section("volumes") {
        let mut vol: Volume = typed(&nulls_empty(v), &format!("volumes.{k}"), file)?;
        if vol.name.is_empty() {
            vol.name = if vol.external == Some(true) {
                k.clone()
            } else {
                format!("{name}_{k}")
            };
        }
        p.volumes.insert(k, vol);
    }
    for (section_name, target) in [("secrets", &mut p.secrets), ("configs", &mut p.configs)] {
        for (k, v) in section(section_name) {
            let mut o: FileObject = typed(&nulls_empty(v), &format!("{section_name}.{k}"), file)?;
            if o.name.is_empty() {
                o.name = if o.external == Some(true) {
                    k.clone()
                } else {
                    format!("{name}_{k}")
                };
            }
            o.file = o.file.map(|f| abs(dir, &f));
            target.insert(k, o);
        }
    }
    let mut all_profiles = std::collections::BTreeSet::new();
    for (k, v) in section("services") {
        let s = service(&k, &v, dir, file, lookup)?;
        all_profiles.extend(s.profiles.iter().cloned());
        // A service with profiles runs only when one of them is enabled.
        let active =
            s.profiles.is_empty() || profiles.iter().any(|e| e == "*" || s.profiles.contains(e));
        if active {
            p.services.insert(k, s);
        }
    }
    p.all_profiles = all_profiles.into_iter().collect();
    Ok(p)
}

fn nulls_empty(v: Value) -> Value {
    if v.is_null() { json!({}) } else { v }
}

fn service(
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

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
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
