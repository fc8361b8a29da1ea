//! Java archives (`.jar`, `.war`, `.ear`): each `META-INF/maven/<group>/<artifact>/pom.properties`
//! is a package (shaded jars carry several); without one, the manifest's
//! `Implementation-Title`/`Bundle-SymbolicName` and version, else the file's name
//! (`name-1.2.3.jar`). Jars inside a jar (Spring Boot's `BOOT-INF/lib/`, a war's
//! `WEB-INF/lib/`) are read too, one level down.

use std::io::Read;

use crate::view::View;
use crate::{Kind, Package, purl};

/// An archive's entries are read up to this size each (a `pom.properties` is tiny).
const ENTRY_MAX: u64 = 1 << 20;
/// A nested jar is read up to this size.
const NESTED_MAX: u64 = 256 << 20;

fn read_entry(
    z: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    max: u64,
) -> Option<Vec<u8>> {
    let f = z.by_name(name).ok()?;
    let mut out = Vec::new();
    f.take(max).read_to_end(&mut out).ok()?;
    Some(out)
}

fn properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn manifest(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn package(
    v: &View,
    host_path: &str,
    location: String,
    group: &str,
    artifact: &str,
    version: &str,
    license: Vec<String>,
) -> Package {
    Package {
        name: artifact.to_owned(),
        version: version.to_owned(),
        kind: Kind::JavaArchive,
        locations: vec![location],
        layer: v.layer_of(host_path).unwrap_or_default().to_owned(),
        licenses: license,
        purl: purl("maven", group, artifact, version, &[]),
        source: group.to_owned(),
        source_version: String::new(),
        arch: String::new(),
    }
}

/// The packages of one archive's bytes; `location` names it (`/app.jar`, `/app.jar:BOOT-INF/lib/x.jar`).
fn archive(v: &View, path: &str, location: &str, bytes: &[u8], depth: u8, out: &mut Vec<Package>) {
    let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return;
    };
    let names: Vec<String> = z
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .collect();
    let mut found = false;
    for n in names
        .iter()
        .filter(|n| n.starts_with("META-INF/maven/") && n.ends_with("/pom.properties"))
    {
        let Some(text) = read_entry(&mut z, n, ENTRY_MAX) else {
            continue;
        };
        let p = properties(&String::from_utf8_lossy(&text));
        let get = |k: &str| {
            p.iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (g, a, ver) = (get("groupId"), get("artifactId"), get("version"));
        if a.is_empty() || ver.is_empty() {
            continue;
        }
        found = true;
        out.push(package(
            v,
            path,
            format!("{location}:{n}"),
            &g,
            &a,
            &ver,
            Vec::new(),
        ));
    }
    if !found {
        let from_manifest = read_entry(&mut z, "META-INF/MANIFEST.MF", ENTRY_MAX).and_then(|m| {
            let m = manifest(&String::from_utf8_lossy(&m));
            let get = |k: &str| {
                m.iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
                    .filter(|v| !v.is_empty())
            };
            let name = get("Implementation-Title").or_else(|| {
                get("Bundle-SymbolicName")
                    .map(|b| b.split(';').next().unwrap_or_default().to_owned())
            })?;
            let version = get("Implementation-Version").or_else(|| get("Bundle-Version"))?;
            let license = get("Bundle-License").into_iter().collect();
            Some((
                get("Implementation-Vendor-Id").unwrap_or_default(),
                name,
                version,
                license,
            ))
        });
        let from_name = || {
            let file = location.rsplit(['/', ':']).next().unwrap_or_default();
            let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
            // `name-1.2.3`: the version starts at the first `-` followed by a digit.
            let i = stem
                .char_indices()
                .find(|(i, c)| {
                    *c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit())
                })?
                .0;
            Some((
                String::new(),
                stem[..i].to_owned(),
                stem[i + 1..].to_owned(),
                Vec::new(),
            ))
        };
        if let Some((g, a, ver, lic)) = from_manifest.or_else(from_name) {
            out.push(package(v, path, location.to_owned(), &g, &a, &ver, lic));
        }
    }
    if depth == 0 {
        for n in names.iter().filter(|n| n.ends_with(".jar")) {
            if let Some(inner) = read_entry(&mut z, n, NESTED_MAX) {
                archive(v, path, &format!("{location}:{n}"), &inner, depth + 1, out);
            }
        }
    }
}

pub fn packages(v: &View) -> Vec<Package> {
    let mut out = Vec::new();
    let jars: Vec<String> = v
        .files()
        .filter(|f| {
            f.path.ends_with(".jar") || f.path.ends_with(".war") || f.path.ends_with(".ear")
        })
        .map(|f| f.path.to_owned())
        .collect();
    for path in jars {
        if let Some(bytes) = v.read(&path) {
            archive(v, &path, &format!("/{path}"), &bytes, 0, &mut out);
        }
    }
    out
}
