//! Loading a project: `.env`, the files (merged in order; a later file's keys win), variables
//! interpolated, `x-` extensions dropped, keys checked, every field normalised as Compose v2
//! prints it with `config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::interpolate::{self, Interpolator};
use crate::model::{FileObject, Network, Project, SERVICE_KEYS, Service, Volume, scalar};
use crate::service::service;
pub use crate::service::{bytes, go_duration};
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
    /// Services named on the command line: enabled whatever their profiles, as Compose does.
    pub enable: Vec<String>,
}

const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

pub(crate) fn invalid(file: &str, message: String) -> Error {
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
    let mut p = normalise(&doc, &name, &dir, &first, &lookup, &profiles, &o.enable)?;
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
            enable: o.enable.clone(),
        };
        let inc = load_part(&sub, Some(&name), depth + 1)?;
        import(&mut p.services, inc.services, "services")?;
        import(&mut p.networks, inc.networks, "networks")?;
        import(&mut p.volumes, inc.volumes, "volumes")?;
        import(&mut p.secrets, inc.secrets, "secrets")?;
        import(&mut p.configs, inc.configs, "configs")?;
        p.all_profiles.extend(inc.all_profiles);
        p.disabled.extend(inc.disabled);
        p.all_profiles.sort();
        p.all_profiles.dedup();
    }
    Ok(p)
}

/// A `depends_on` cycle, reported as compose-go reports it (names in order, the path shown).
fn check_cycle(p: &Project) -> Result<(), Error> {
    fn search(p: &Project, path: &mut Vec<String>) -> Result<(), Error> {
        let last = path.last().cloned().unwrap_or_default();
        let Some(s) = p.services.get(&last) else {
            return Ok(());
        };
        for d in s.depends_on.keys() {
            if let Some(i) = path.iter().position(|x| x == d) {
                return Err(Error::Invalid(format!(
                    "dependency cycle detected: {} -> {d}",
                    path[i..].join(" -> ")
                )));
            }
            path.push(d.clone());
            search(p, path)?;
            path.pop();
        }
        Ok(())
    }
    for name in p.services.keys() {
        search(p, &mut vec![name.clone()])?;
    }
    Ok(())
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
    let names: Vec<String> = p.services.keys().cloned().collect();
    for k in &names {
        let deps: Vec<(String, bool)> = p.services[k]
            .depends_on
            .iter()
            .map(|(d, c)| (d.clone(), c.required))
            .collect();
        for (d, required) in deps {
            if p.services.contains_key(&d) {
                continue;
            }
            if !required {
                // An optional dependency that is not part of the project is dropped.
                if let Some(s) = p.services.get_mut(k) {
                    s.depends_on.remove(&d);
                }
                continue;
            }
            return Err(Error::Invalid(match p.disabled.get(&d) {
                Some(profiles) => format!(
                    "service {k:?} depends on undefined service {d:?}: invalid compose project: service {d:?} is required by {k:?} but is disabled. Can be enabled by profiles [{}]",
                    profiles.join(" ")
                ),
                None => format!(
                    "service {k:?} depends on undefined service {d:?}: invalid compose project"
                ),
            }));
        }
    }
    check_cycle(p)?;
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
            for (k, v) in svc.iter().filter_map(|(k, v)| Some((k.as_str()?, v))) {
                if !SERVICE_KEYS.contains(&k) && !k.starts_with("x-") {
                    return Err(invalid(
                        file,
                        format!("services.{name} additional properties '{k}' not allowed"),
                    ));
                }
                if let Some(want) = crate::schema::wrong_type(k, v) {
                    return Err(invalid(
                        file,
                        format!("services.{name}.{k} must be a {want}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    v: &Value,
    at: &str,
    file: &str,
) -> Result<T, Error> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(file, format!("{at}: {e}")))
}

pub(crate) fn abs(dir: &Path, p: &str) -> String {
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
    enable: &[String],
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
        let active = s.profiles.is_empty()
            || enable.contains(&k)
            || profiles.iter().any(|e| e == "*" || s.profiles.contains(e));
        if active {
            p.services.insert(k, s);
        } else {
            p.disabled.insert(k, s.profiles.clone());
        }
    }
    p.all_profiles = all_profiles.into_iter().collect();
    Ok(p)
}

pub(crate) fn nulls_empty(v: Value) -> Value {
    if v.is_null() { json!({}) } else { v }
}

pub(crate) fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}
