//! Vulnerabilities of the daemon's images: an image's SBOM matched against the OSV database
//! the daemon is configured with (`scan-db`), and the policy that refuses containers of images
//! with a fixable vulnerability at or above a severity (`deny-vulnerable`). Results are kept
//! per image id while the database file is unchanged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::{Engine, Error, Result};

pub use berth_vuln::severity_rank;

/// The documents `GET /images/{name}/sbom` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    CycloneDx,
    Spdx,
    Json,
    Table,
}

impl SbomFormat {
    pub fn parse(s: &str) -> Option<SbomFormat> {
        Some(match s {
            "cyclonedx-json" => SbomFormat::CycloneDx,
            "spdx-json" => SbomFormat::Spdx,
            "json" => SbomFormat::Json,
            "table" => SbomFormat::Table,
            _ => return None,
        })
    }
}

/// The daemon's scanning settings.
#[derive(Debug, Clone, Default)]
pub struct ScanPolicy {
    /// The OSV database (`scan-db`; default `<data-root>/vuln.db`).
    pub db: PathBuf,
    /// Refuse containers of images with a fixable vulnerability at or above this severity.
    pub deny: Option<String>,
    /// Scan each pulled image and say what was found (`scan-on-pull`).
    pub on_pull: bool,
}

/// Findings by image id, with the database's modification time they were made against.
type Cache = HashMap<String, (std::time::SystemTime, Vec<berth_vuln::Finding>)>;

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

impl Engine {
    /// The image's SBOM written as `format`.
    pub fn image_sbom_document(&self, name: &str, format: SbomFormat) -> Result<String> {
        let s = self.image_sbom(name)?;
        Ok(match format {
            SbomFormat::CycloneDx => berth_sbom::format::cyclonedx(&s),
            SbomFormat::Spdx => berth_sbom::format::spdx(&s),
            SbomFormat::Table => berth_sbom::format::table(&s),
            SbomFormat::Json => serde_json::to_string_pretty(&s).unwrap_or_default() + "\n",
        })
    }

    /// `GET /images/{name}/vulnerabilities`: the image's findings, most severe first.
    pub fn image_vulnerabilities(&self, name: &str) -> Result<Vec<berth_vuln::Finding>> {
        let db_path = &self.config.scan.db;
        let stamp = std::fs::metadata(db_path)
            .and_then(|m| m.modified())
            .map_err(|_| {
                Error::NotFound(format!(
                    "no vulnerability database at {} (import one with `berth scan --db-path {} db import DIR`)",
                    db_path.display(),
                    db_path.display()
                ))
            })?;
        let id = self
            .images
            .resolve(name)
            .map_err(|_| Error::NoSuchImage(name.to_owned()))?
            .id;
        if let Some((t, f)) = CACHE
            .lock()
            .ok()
            .and_then(|c| c.as_ref().and_then(|c| c.get(&id).cloned()))
        {
            if t == stamp {
                return Ok(f);
            }
        }
        let db =
            berth_vuln::db::Db::open(db_path, false).map_err(|e| Error::Internal(e.to_string()))?;
        let sbom = self.image_sbom(name)?;
        let findings = berth_vuln::scan(&db, &sbom).map_err(|e| Error::Internal(e.to_string()))?;
        if let Ok(mut c) = CACHE.lock() {
            c.get_or_insert_with(HashMap::new)
                .insert(id, (stamp, findings.clone()));
        }
        Ok(findings)
    }

    /// `scan-on-pull`: the pull's last status line, counting the image's vulnerabilities by
    /// severity (nothing when the option is off or there is no database).
    pub fn scan_on_pull(&self, image: &str) -> Option<String> {
        if !self.config.scan.on_pull || !self.config.scan.db.exists() {
            return None;
        }
        let findings = match self.image_vulnerabilities(image) {
            Ok(f) => f,
            Err(e) => return Some(format!("Vulnerabilities: not scanned: {e}")),
        };
        let count = |s: &str| findings.iter().filter(|f| f.severity == s).count();
        let parts: Vec<String> = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
            .iter()
            .map(|s| (count(s), s.to_lowercase()))
            .filter(|(n, _)| *n > 0)
            .map(|(n, s)| format!("{n} {s}"))
            .collect();
        Some(if findings.is_empty() {
            "Vulnerabilities: none known".to_owned()
        } else {
            format!(
                "Vulnerabilities: {} ({}); `berth scan {image}` lists them",
                findings.len(),
                parts.join(", ")
            )
        })
    }

    /// The vulnerability policy for a container of `image`: refused (with the findings named)
    /// when the image has a fixable vulnerability at or above the configured severity.
    pub fn check_vulnerability_policy(&self, image: &str) -> Result<()> {
        let Some(deny) = &self.config.scan.deny else {
            return Ok(());
        };
        let min = berth_vuln::severity_rank(deny);
        let findings = self.image_vulnerabilities(image)?;
        let bad: Vec<&berth_vuln::Finding> = findings
            .iter()
            .filter(|f| f.fixed_in.is_some() && berth_vuln::severity_rank(&f.severity) >= min)
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        let named: Vec<String> = bad
            .iter()
            .take(5)
            .map(|f| {
                format!(
                    "{} {} in {} {} (fixed in {})",
                    f.severity,
                    f.id,
                    f.package,
                    f.installed,
                    f.fixed_in.as_deref().unwrap_or_default()
                )
            })
            .collect();
        Err(Error::Forbidden(format!(
            "image {image} has {} fixable vulnerabilit{} at or above {deny}: {}{}; refused by the daemon's vulnerability policy (deny-vulnerable)",
            bad.len(),
            if bad.len() == 1 { "y" } else { "ies" },
            named.join(", "),
            if bad.len() > 5 { ", …" } else { "" }
        )))
    }
}
