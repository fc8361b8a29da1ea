//! `berth compose config`: the project as Compose normalises it (YAML or JSON, `$` escaped
//! as Compose escapes it), its services, volumes, profiles, images or config hashes, and
//! `--check`, the security view ([`berth_compose::check`]) as text, JSON or SARIF.

use std::path::PathBuf;

use anyhow::{Result, bail};
use berth_compose::project::{Options, load};

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long, default_value = "yaml")]
    format: String,
    /// Print the service names, one per line.
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    volumes: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    profiles: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    images: bool,
    /// Print the service config hash, one per line (`*` for every service)
    #[arg(long)]
    hash: Option<String>,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    quiet: bool,
    /// Check the project for what the security guide warns about (with --format text, json
    /// or sarif); exit status 1 when there is a warning or an error
    #[arg(long)]
    check: bool,
    /// Save to file (default to stdout)
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn config(o: &Options, c: ConfigArgs) -> Result<i32> {
    let p = load(o)?;
    if c.check {
        use berth_compose::check;
        let findings = check::check(&p);
        let file = p.config_files.first().cloned().unwrap_or_default();
        let text = match c.format.as_str() {
            "sarif" => {
                let source = std::fs::read_to_string(&file).unwrap_or_default();
                let rel = std::path::Path::new(&file)
                    .strip_prefix(&p.working_dir)
                    .map(|r| r.display().to_string())
                    .unwrap_or(file.clone());
                check::sarif(&findings, &rel, &source)
            }
            "json" => {
                let rows: Vec<serde_json::Value> = findings
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "rule": f.rule,
                            "level": f.level,
                            "service": f.service,
                            "path": f.path,
                            "message": f.message,
                        })
                    })
                    .collect();
                serde_json::to_string_pretty(&rows)? + "\n"
            }
            "yaml" | "text" => check::text(&findings),
            other => bail!("unsupported format {other:?} for --check (text, json or sarif)"),
        };
        match &c.output {
            Some(path) => std::fs::write(path, text)?,
            None => print!("{text}"),
        }
        let failing = findings.iter().any(|f| f.level >= check::Level::Warning);
        return Ok(i32::from(failing));
    }
    if c.quiet {
        return Ok(0);
    }
    let lines = |v: Vec<String>| v.into_iter().map(|s| s + "\n").collect::<String>();
    let text = if let Some(which) = &c.hash {
        let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
        let mut out = String::new();
        for (name, s) in &p.services {
            if wanted.contains(&"*") || wanted.contains(&name.as_str()) {
                out.push_str(&format!(
                    "{name} {}\n",
                    berth_compose::hash::service_hash(s)
                ));
            }
        }
        out
    } else if c.services {
        lines(p.services.keys().cloned().collect())
    } else if c.volumes {
        lines(p.volumes.keys().cloned().collect())
    } else if c.profiles {
        lines(p.all_profiles.clone())
    } else if c.images {
        // The image a service runs: its `image`, or the one its build makes.
        lines(
            p.services
                .iter()
                .map(|(k, s)| s.image.clone().unwrap_or_else(|| format!("{}-{k}", p.name)))
                .collect(),
        )
    } else {
        // A literal `$` is written `$$`, so the output loads again unchanged.
        let mut doc = escape_dollars(serde_json::to_value(&p)?);
        match c.format.as_str() {
            "json" => serde_json::to_string_pretty(&doc)? + "\n",
            "yaml" => {
                // Compose's YAML leaves out what is not set (its JSON prints `command: null`
                // and `ipam: {}`).
                if let Some(services) = doc.get_mut("services").and_then(|s| s.as_object_mut()) {
                    for s in services.values_mut().filter_map(|s| s.as_object_mut()) {
                        s.retain(|_, v| !v.is_null());
                    }
                }
                if let Some(nets) = doc.get_mut("networks").and_then(|s| s.as_object_mut()) {
                    for n in nets.values_mut().filter_map(|n| n.as_object_mut()) {
                        n.retain(|k, v| {
                            !(k == "ipam" && v.as_object().is_some_and(|m| m.is_empty()))
                        });
                    }
                }
                serde_yaml_ng::to_string(&doc)?
            }
            other => bail!("unsupported format {other:?}"),
        }
    };
    match c.output {
        Some(path) => std::fs::write(&path, text)?,
        None => print!("{text}"),
    }
    Ok(0)
}

fn escape_dollars(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.into_iter().map(escape_dollars).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, escape_dollars(v))).collect())
        }
        other => other,
    }
}
