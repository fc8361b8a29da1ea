//! apk's database and the language ecosystems' manifests: Python (`*.dist-info/METADATA`,
//! `*.egg-info/PKG-INFO`), npm (`node_modules/**/package.json`), Cargo (`Cargo.lock`).

use crate::os::Distro;
use crate::view::View;
use crate::{Kind, Package, purl};

fn package(
    kind: Kind,
    v: &View,
    path: &str,
    name: &str,
    version: &str,
    licenses: Vec<String>,
    purl: String,
) -> Package {
    Package {
        name: name.to_owned(),
        version: version.to_owned(),
        kind,
        locations: vec![format!("/{path}")],
        layer: v.layer_of(path).unwrap_or_default().to_owned(),
        licenses,
        purl,
        source: String::new(),
        source_version: String::new(),
        arch: String::new(),
    }
}

/// `/lib/apk/db/installed`: records of `K:value` lines separated by blank lines.
pub fn apk(v: &View, distro: Option<&Distro>) -> Vec<Package> {
    let path = "lib/apk/db/installed";
    let Some(text) = v.read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&text);
    let mut out = Vec::new();
    for rec in text.split("\n\n") {
        let get = |k: &str| {
            rec.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}:")))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let (name, version) = (get("P"), get("V"));
        if name.is_empty() || version.is_empty() {
            continue;
        }
        let (arch, origin, license) = (get("A"), get("o"), get("L"));
        let mut p = package(
            Kind::Apk,
            v,
            path,
            &name,
            &version,
            license
                .split_whitespace()
                .filter(|l| *l != "AND" && *l != "OR")
                .map(str::to_owned)
                .collect(),
            purl(
                "apk",
                distro.map(|d| d.id.as_str()).unwrap_or("alpine"),
                &name,
                &version,
                &[
                    ("arch", arch.clone()),
                    ("distro", distro.map(Distro::qualifier).unwrap_or_default()),
                    (
                        "upstream",
                        if origin != name {
                            origin.clone()
                        } else {
                            String::new()
                        },
                    ),
                ],
            ),
        );
        p.source = if origin != name {
            origin
        } else {
            String::new()
        };
        p.arch = arch;
        out.push(p);
    }
    out
}

/// Email-style headers (`Name: x`) up to the first blank line.
fn headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue;
        }
        if let Some((k, val)) = line.split_once(':') {
            out.push((k.trim().to_owned(), val.trim().to_owned()));
        }
    }
    out
}

/// PEP 503's normalised name, as purls carry Python names.
pub fn pep503(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

pub fn python(v: &View) -> Vec<Package> {
    let mut out = Vec::new();
    let paths: Vec<String> = v
        .files()
        .filter(|f| {
            f.path.ends_with(".dist-info/METADATA") || f.path.ends_with(".egg-info/PKG-INFO")
        })
        .map(|f| f.path.to_owned())
        .collect();
    for path in paths {
        let Some(text) = v.read(&path) else { continue };
        let h = headers(&String::from_utf8_lossy(&text));
        let get = |k: &str| {
            h.iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (name, version) = (get("Name"), get("Version"));
        if name.is_empty() || version.is_empty() {
            continue;
        }
        let mut licenses = Vec::new();
        let expr = get("License-Expression");
        let lic = get("License");
        if !expr.is_empty() {
            licenses.push(expr);
        } else if !lic.is_empty() && lic != "UNKNOWN" && !lic.contains('\n') && lic.len() < 80 {
            licenses.push(lic);
        } else {
            for (k, val) in &h {
                if k == "Classifier" {
                    if let Some(l) = val.strip_prefix("License :: OSI Approved :: ") {
                        licenses.push(l.to_owned());
                    }
                }
            }
        }
        let purl = purl("pypi", "", &pep503(&name), &version, &[]);
        out.push(package(
            Kind::Python,
            v,
            &path,
            &name,
            &version,
            licenses,
            purl,
        ));
    }
    out
}

pub fn npm(v: &View) -> Vec<Package> {
    let mut out = Vec::new();
    let paths: Vec<String> = v
        .files()
        .filter(|f| f.path.ends_with("/package.json"))
        .filter(|f| {
            // node_modules/NAME/package.json or node_modules/@SCOPE/NAME/package.json.
            let Some((dir, _)) = f.path.rsplit_once('/') else {
                return false;
            };
            let parts: Vec<&str> = dir.rsplit('/').take(3).collect();
            match parts.as_slice() {
                [_, "node_modules", ..] => true,
                [_, scope, "node_modules"] => scope.starts_with('@'),
                _ => false,
            }
        })
        .map(|f| f.path.to_owned())
        .collect();
    for path in paths {
        let Some(text) = v.read(&path) else { continue };
        let Ok(j) = serde_json::from_slice::<serde_json::Value>(&text) else {
            continue;
        };
        let s = |k: &str| {
            j.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (name, version) = (s("name"), s("version"));
        if name.is_empty() || version.is_empty() {
            continue;
        }
        let licenses = match j.get("license") {
            Some(serde_json::Value::String(l)) => vec![l.clone()],
            Some(serde_json::Value::Object(m)) => m
                .get("type")
                .and_then(|t| t.as_str())
                .map(|t| vec![t.to_owned()])
                .unwrap_or_default(),
            _ => j
                .get("licenses")
                .and_then(|l| l.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let (ns, bare) = match name.split_once('/') {
            Some((scope, n)) if scope.starts_with('@') => (scope, n),
            _ => ("", name.as_str()),
        };
        let purl = purl("npm", ns, bare, &version, &[]);
        out.push(package(
            Kind::Npm,
            v,
            &path,
            &name,
            &version,
            licenses,
            purl,
        ));
    }
    out
}

/// `Cargo.lock`: its `[[package]]` tables' `name` and `version` (read by line: the file is
/// flat TOML that Cargo writes one way).
pub fn cargo_lock(v: &View) -> Vec<Package> {
    let mut out = Vec::new();
    let paths: Vec<String> = v
        .files()
        .filter(|f| f.path == "Cargo.lock" || f.path.ends_with("/Cargo.lock"))
        .map(|f| f.path.to_owned())
        .collect();
    for path in paths {
        let Some(text) = v.read(&path) else { continue };
        let text = String::from_utf8_lossy(&text);
        let mut cur: Option<(String, String)> = None;
        let flush = |c: &mut Option<(String, String)>, out: &mut Vec<Package>| {
            if let Some((n, ver)) = c.take().filter(|(n, ver)| !n.is_empty() && !ver.is_empty()) {
                let purl = purl("cargo", "", &n, &ver, &[]);
                out.push(package(
                    Kind::RustCrate,
                    v,
                    &path,
                    &n,
                    &ver,
                    Vec::new(),
                    purl,
                ));
            }
        };
        for line in text.lines() {
            let line = line.trim();
            if line == "[[package]]" {
                flush(&mut cur, &mut out);
                cur = Some((String::new(), String::new()));
                continue;
            }
            if line.starts_with('[') {
                flush(&mut cur, &mut out);
                continue;
            }
            let Some(c) = cur.as_mut() else { continue };
            if let Some((k, val)) = line.split_once('=') {
                let val = val.trim().trim_matches('"').to_owned();
                match k.trim() {
                    "name" => c.0 = val,
                    "version" => c.1 = val,
                    _ => {}
                }
            }
        }
        flush(&mut cur, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names_as_pep_503() {
        assert_eq!(pep503("Django_REST.framework"), "django-rest-framework");
        assert_eq!(pep503("requests"), "requests");
    }
}
