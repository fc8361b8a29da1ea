//! An offline vulnerability scanner: OSV records in a local SQLite database ([`db`]), matched
//! against an image's packages ([`berth_sbom`]) with each ecosystem's version ordering
//! ([`version`]) — Debian advisories by source package and release, Alpine's by origin and
//! branch, rpm distributions by release, PyPI, npm, crates.io and Go — severities from the
//! records' CVSS vectors ([`cvss`]) or their stated severity.

pub mod cvss;
pub mod db;
pub mod version;

use std::cmp::Ordering;

use berth_sbom::{Kind, Package, Sbom};
use serde::Serialize;

use crate::db::{Affected, Db, Osv};
use crate::version::{Scheme, compare};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Db(String),
}

/// A record's severity: its CVSS v3 vector's rating and score, else its stated severity,
/// else `UNKNOWN`.
pub fn severity_of(r: &Osv) -> (String, Option<f64>) {
    for s in &r.severity {
        if s.kind.starts_with("CVSS_V3") {
            if let Some(score) = cvss::base_score(&s.score) {
                return (cvss::rating(score).to_owned(), Some(score));
            }
        }
    }
    let stated = r
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str())
        .map(|s| s.to_uppercase());
    match stated.as_deref() {
        Some("MODERATE") => ("MEDIUM".into(), None),
        Some(s @ ("CRITICAL" | "HIGH" | "MEDIUM" | "LOW")) => (s.to_owned(), None),
        _ => ("UNKNOWN".into(), None),
    }
}

/// The rank of a severity (for `--severity` and sorting).
pub fn severity_rank(s: &str) -> u8 {
    match s {
        "CRITICAL" => 5,
        "HIGH" => 4,
        "MEDIUM" => 3,
        "LOW" => 2,
        "NONE" => 1,
        _ => 0,
    }
}

/// Where a package's advisories are: (OSV ecosystem, name, version, ordering).
pub fn coordinates(p: &Package, s: &Sbom) -> Option<(String, String, String, Scheme)> {
    let d = s.distro.as_ref();
    let major_minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_owned();
    Some(match p.kind {
        Kind::Deb => {
            let d = d?;
            let eco = if d.id == "ubuntu" {
                format!("Ubuntu:{}", d.version_id)
            } else {
                format!("Debian:{}", major(&d.version_id))
            };
            let name = if p.source.is_empty() {
                &p.name
            } else {
                &p.source
            };
            let version = if p.source_version.is_empty() {
                &p.version
            } else {
                &p.source_version
            };
            (eco, name.clone(), version.clone(), Scheme::Dpkg)
        }
        Kind::Apk => {
            let d = d?;
            let name = if p.source.is_empty() {
                &p.name
            } else {
                &p.source
            };
            (
                format!("Alpine:v{}", major_minor(&d.version_id)),
                name.clone(),
                p.version.clone(),
                Scheme::Apk,
            )
        }
        Kind::Rpm => {
            let d = d?;
            let eco = match d.id.as_str() {
                "almalinux" => format!("AlmaLinux:{}", major(&d.version_id)),
                "rocky" => format!("Rocky Linux:{}", major(&d.version_id)),
                "opensuse-leap" => format!("openSUSE:Leap {}", d.version_id),
                "rhel" => format!("Red Hat:enterprise_linux:{}", major(&d.version_id)),
                _ => return None,
            };
            (eco, p.name.clone(), p.version.clone(), Scheme::Rpm)
        }
        Kind::Python => (
            "PyPI".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Pep440,
        ),
        Kind::Npm => (
            "npm".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Semver,
        ),
        Kind::RustCrate => (
            "crates.io".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Semver,
        ),
        Kind::GoModule => (
            "Go".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Semver,
        ),
        // Maven's coordinates: `group:artifact` (the group is kept as the package's source).
        Kind::JavaArchive if !p.source.is_empty() => (
            "Maven".into(),
            format!("{}:{}", p.source, p.name),
            p.version.clone(),
            Scheme::Maven,
        ),
        Kind::JavaArchive => return None,
    })
}

/// Whether `version` is in an affected entry; the version that fixes it, if one does.
pub fn affects(a: &Affected, scheme: Scheme, version: &str) -> (bool, Option<String>) {
    if a.versions.iter().any(|v| v == version) {
        let fixed = a
            .ranges
            .iter()
            .flat_map(|r| r.events.iter())
            .find_map(|e| e.get("fixed").and_then(|f| f.as_str()).map(str::to_owned));
        return (true, fixed);
    }
    for r in &a.ranges {
        let s = match r.kind.as_str() {
            "SEMVER" => Scheme::Semver,
            "ECOSYSTEM" => scheme,
            _ => continue,
        };
        // Events in version order ("0": before everything).
        let mut events: Vec<(&str, &str)> = r
            .events
            .iter()
            .filter_map(|e| {
                e.iter()
                    .next()
                    .and_then(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
            })
            .collect();
        let cmp = |a: &str, b: &str| match (a, b) {
            ("0", "0") => Ordering::Equal,
            ("0", _) => Ordering::Less,
            (_, "0") => Ordering::Greater,
            _ => compare(s, a, b),
        };
        events.sort_by(|x, y| cmp(x.1, y.1));
        let mut affected = false;
        let mut fixed_after: Option<String> = None;
        for (kind, v) in &events {
            let c = cmp(version, v);
            match *kind {
                "introduced" if c != Ordering::Less => {
                    affected = true;
                    fixed_after = None;
                }
                "fixed" if c != Ordering::Less => affected = false,
                "fixed" if affected && fixed_after.is_none() => fixed_after = Some((*v).to_owned()),
                "last_affected" if c == Ordering::Greater => affected = false,
                "limit" if c != Ordering::Less => affected = false,
                _ => {}
            }
        }
        if affected {
            return (true, fixed_after);
        }
    }
    (false, None)
}

/// One vulnerability of one package.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub installed: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub fixed_in: Option<String>,
    pub severity: String,
    pub score: Option<f64>,
    pub summary: String,
    pub purl: String,
    pub location: String,
}

/// Every finding for the SBOM's packages, most severe first.
pub fn scan(db: &Db, s: &Sbom) -> Result<Vec<Finding>, Error> {
    let mut out = Vec::new();
    for p in &s.packages {
        let Some((eco, name, version, scheme)) = coordinates(p, s) else {
            continue;
        };
        for e in db.lookup(&eco, &name)? {
            let (id, summary, severity, score, a) =
                (e.id, e.summary, e.severity, e.score, e.affected);
            let (hit, fixed) = affects(&a, scheme, &version);
            if !hit {
                continue;
            }
            // A per-package severity (Debian's urgency is not one) overrides the record's.
            let severity = a
                .database_specific
                .as_ref()
                .and_then(|d| d.get("severity"))
                .and_then(|x| x.as_str())
                .map(str::to_uppercase)
                .filter(|x| severity_rank(x) > 0)
                .unwrap_or(severity);
            out.push(Finding {
                id,
                package: p.name.clone(),
                installed: p.version.clone(),
                kind: p.kind.as_str().to_owned(),
                fixed_in: fixed,
                severity,
                score,
                summary,
                purl: p.purl.clone(),
                location: p.locations.first().cloned().unwrap_or_default(),
            });
        }
    }
    out.sort_by(|a, b| {
        severity_rank(&b.severity)
            .cmp(&severity_rank(&a.severity))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.id.cmp(&b.id))
    });
    out.dedup_by(|a, b| a.id == b.id && a.package == b.package && a.installed == b.installed);
    Ok(out)
}

/// NAME, INSTALLED, FIXED-IN, TYPE, VULNERABILITY, SEVERITY (grype's columns); severities in
/// colour on a terminal.
pub fn table(findings: &[Finding], colour: bool) -> String {
    let rows: Vec<[String; 6]> = findings
        .iter()
        .map(|f| {
            [
                f.package.clone(),
                f.installed.clone(),
                f.fixed_in.clone().unwrap_or_default(),
                f.kind.clone(),
                f.id.clone(),
                f.severity.clone(),
            ]
        })
        .collect();
    let head = [
        "NAME",
        "INSTALLED",
        "FIXED-IN",
        "TYPE",
        "VULNERABILITY",
        "SEVERITY",
    ];
    let mut w = head.map(str::len);
    for r in &rows {
        for (k, c) in r.iter().enumerate() {
            w[k] = w[k].max(c.len());
        }
    }
    let mut out = String::new();
    let line = |cells: [&str; 6], sev_colour: Option<&str>| {
        let mut l = String::new();
        for (k, c) in cells.iter().enumerate() {
            if k == 5 {
                match sev_colour {
                    Some(code) => l.push_str(&format!("\x1b[{code}m{c}\x1b[0m")),
                    None => l.push_str(c),
                }
            } else {
                l.push_str(&format!("{c:<width$}  ", width = w[k]));
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(head, None));
    for r in &rows {
        let code = colour.then(|| match r[5].as_str() {
            "CRITICAL" => "1;31",
            "HIGH" => "31",
            "MEDIUM" => "33",
            "LOW" => "36",
            _ => "0",
        });
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]], code));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affected(ranges: serde_json::Value, versions: &[&str]) -> Affected {
        serde_json::from_value(serde_json::json!({
            "package": {"ecosystem": "Debian:12", "name": "x"},
            "ranges": ranges,
            "versions": versions,
        }))
        .expect("affected")
    }

    #[test]
    fn ranges_as_osv_defines_them() {
        let a = affected(
            serde_json::json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]}]),
            &[],
        );
        assert_eq!(
            affects(&a, Scheme::Dpkg, "2.36-9+deb12u3"),
            (true, Some("2.36-9+deb12u4".into()))
        );
        assert_eq!(affects(&a, Scheme::Dpkg, "2.36-9+deb12u4"), (false, None));
        assert_eq!(
            affects(&a, Scheme::Dpkg, "2.36-9+deb12u10"),
            (false, None),
            "u10 > u4"
        );
        assert_eq!(
            affects(&a, Scheme::Dpkg, "2.36-9~bpo1"),
            (true, Some("2.36-9+deb12u4".into()))
        );
        let b = affected(
            serde_json::json!([{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"last_affected": "2.1"}]}]),
            &["0.5"],
        );
        assert!(!affects(&b, Scheme::Semver, "0.9").0);
        assert!(affects(&b, Scheme::Semver, "0.5").0, "listed");
        assert!(affects(&b, Scheme::Semver, "1.1").0);
        assert!(!affects(&b, Scheme::Semver, "1.5").0);
        assert_eq!(affects(&b, Scheme::Semver, "2.1"), (true, None));
        assert!(!affects(&b, Scheme::Semver, "2.2").0);
        let g = affected(
            serde_json::json!([{"type": "GIT", "events": [{"introduced": "0"}]}]),
            &[],
        );
        assert!(
            !affects(&g, Scheme::Dpkg, "1.0").0,
            "git ranges are not versions"
        );
    }
}
