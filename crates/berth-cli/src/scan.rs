//! `berth scan IMAGE|--input ARCHIVE`: the image's packages (from the daemon's SBOM, or an
//! archive read here) matched against the local OSV database; `berth scan db import
//! FILE|DIR` and `berth scan db status`. The database is `--db`, else `$BERTH_SCAN_DB`, else
//! `~/.cache/berth/vuln.db`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use berth_client::{enc, query};
use berth_vuln::{Finding, severity_rank};

use crate::{Global, connect};

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(subcommand)]
    db: Option<ScanCmd>,
    /// The vulnerability database (default: $BERTH_SCAN_DB, else ~/.cache/berth/vuln.db)
    #[arg(long, global = true)]
    db_path: Option<PathBuf>,
    /// Output format: table, json or sarif
    #[arg(long, default_value = "table")]
    format: String,
    /// Report only vulnerabilities of this severity or above (LOW, MEDIUM, HIGH, CRITICAL)
    #[arg(long)]
    severity: Option<String>,
    /// Exit with this code when a vulnerability is reported
    #[arg(long, default_value_t = 0)]
    exit_code: i32,
    /// Leave out vulnerabilities that have no fix yet
    #[arg(long)]
    ignore_unfixed: bool,
    /// A file of vulnerability IDs to leave out (`ID [exp:YYYY-MM-DD] [# reason]` per line)
    #[arg(long)]
    ignore_file: Option<PathBuf>,
    /// An OpenVEX document: vulnerabilities it states `not_affected` or `fixed` are left out
    #[arg(long)]
    vex: Vec<PathBuf>,
    /// An image archive (`docker save`'s or an OCI layout tar) instead of an image of the daemon
    #[arg(long)]
    input: Option<PathBuf>,
    /// The image
    image: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum ScanCmd {
    /// Manage the vulnerability database
    #[command(subcommand)]
    Db(DbCmd),
}

#[derive(Debug, clap::Subcommand)]
enum DbCmd {
    /// Import OSV records: a JSON file (one record or a list) or a directory of them
    Import { source: PathBuf },
    /// Show what the database holds
    Status,
}

fn db_path(a: &ScanArgs) -> PathBuf {
    a.db_path
        .clone()
        .or_else(|| std::env::var_os("BERTH_SCAN_DB").map(PathBuf::from))
        .unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from("/var/cache"));
            base.join("berth/vuln.db")
        })
}

/// The IDs an ignore file names whose expiry (if any) has not passed.
fn ignored(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let today = berth_units::now_rfc3339();
    let today = &today[..10];
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut tokens = line.split_whitespace();
        let id = tokens.next().unwrap_or_default();
        let mut live = true;
        for t in tokens {
            match t.strip_prefix("exp:") {
                Some(d) if d.len() == 10 && d.as_bytes()[4] == b'-' => live = d >= today,
                _ => bail!(
                    "{}:{}: unknown field {t:?} (use `ID exp:YYYY-MM-DD # reason`)",
                    path.display(),
                    n + 1
                ),
            }
        }
        if live {
            out.push(id.to_owned());
        }
    }
    Ok(out)
}

pub fn scan(g: &Global, a: ScanArgs) -> Result<i32> {
    let path = db_path(&a);
    if let Some(ScanCmd::Db(cmd)) = &a.db {
        if a.image.is_some() || a.input.is_some() {
            bail!("\"berth scan db\" takes no image");
        }
        return match cmd {
            DbCmd::Import { source } => {
                let mut db = berth_vuln::db::Db::open(&path, true)?;
                let (n, warnings) = db.import(source)?;
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                println!("imported {n} records into {}", path.display());
                Ok(0)
            }
            DbCmd::Status => {
                let db = berth_vuln::db::Db::open(&path, false)?;
                let (records, affected, updated) = db.status()?;
                let when = updated
                    .parse::<i64>()
                    .map(berth_units::rfc3339)
                    .unwrap_or_default();
                println!(
                    "database:  {}\nrecords:   {records}\npackages:  {affected}\nupdated:   {when}",
                    path.display()
                );
                Ok(0)
            }
        };
    }
    if !matches!(
        a.format.as_str(),
        "table" | "json" | "sarif" | "cyclonedx-json"
    ) {
        bail!(
            "unknown format {:?}: use table, json, sarif or cyclonedx-json",
            a.format
        );
    }
    let min = match a.severity.as_deref().map(str::to_uppercase) {
        None => 0,
        Some(s) if severity_rank(&s) >= 2 => severity_rank(&s),
        Some(s) => bail!("unknown severity {s:?}: use LOW, MEDIUM, HIGH or CRITICAL"),
    };
    let db = berth_vuln::db::Db::open(&path, false)?;
    let sbom: berth_sbom::Sbom = match (&a.input, &a.image) {
        (Some(p), None) => {
            let (view, name) = berth_sbom::archive::view(p)?;
            berth_sbom::catalog(&view, &name)
        }
        (None, Some(image)) => {
            let (rt, c) = connect(g)?;
            let mut body = Vec::new();
            rt.block_on(c.download(
                &format!(
                    "/images/{}/sbom{}",
                    enc(image),
                    query(&[("format", "json")])
                ),
                &mut body,
            ))?;
            serde_json::from_slice(&body)?
        }
        (Some(_), Some(_)) => bail!("give an image or --input, not both"),
        (None, None) => bail!("\"berth scan\" requires an image or --input ARCHIVE"),
    };
    let skip = match &a.ignore_file {
        Some(p) => ignored(p)?,
        None => Vec::new(),
    };
    let mut findings = berth_vuln::scan(&db, &sbom)?;
    findings.retain(|f| severity_rank(&f.severity) >= min || min == 0);
    findings.retain(|f| !(a.ignore_unfixed && f.fixed_in.is_none()));
    findings.retain(|f| !skip.contains(&f.id));
    for v in &a.vex {
        let statements = vex(v)?;
        findings.retain(|f| {
            !statements.iter().any(|(id, products)| {
                id == &f.id
                    && (products.is_empty()
                        || products
                            .iter()
                            .any(|p| p == &f.purl || purl_base(p) == purl_base(&f.purl)))
            })
        });
    }
    let text = match a.format.as_str() {
        "json" => {
            serde_json::to_string_pretty(&serde_json::json!({
                "source": sbom.source,
                "distro": sbom.distro,
                "matches": findings,
            }))? + "\n"
        }
        "sarif" => sarif(&findings),
        "cyclonedx-json" => cyclonedx(&sbom, &findings)?,
        _ => berth_vuln::table(&findings, std::io::stdout().is_terminal()),
    };
    print!("{text}");
    Ok(if findings.is_empty() { 0 } else { a.exit_code })
}

fn sarif(findings: &[Finding]) -> String {
    let level = |s: &str| match s {
        "CRITICAL" | "HIGH" => "error",
        "MEDIUM" => "warning",
        _ => "note",
    };
    let mut ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    let rules: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            let f = findings.iter().find(|f| f.id == *id);
            serde_json::json!({
                "id": id,
                "shortDescription": {"text": f.map(|f| f.summary.clone()).unwrap_or_default()},
                "properties": {"security-severity": f.and_then(|f| f.score).map(|s| format!("{s:.1}"))},
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "ruleId": f.id,
                "level": level(&f.severity),
                "message": {"text": format!("{} {} ({}) has {}: {} severity{}", f.package, f.installed, f.kind, f.id, f.severity, f.fixed_in.as_ref().map(|v| format!(", fixed in {v}")).unwrap_or_default())},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.location.trim_start_matches('/')}}}],
            })
        })
        .collect();
    let doc = serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "berth scan", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// A purl without its qualifiers (`?arch=…`) and subpath.
fn purl_base(p: &str) -> &str {
    p.split(['?', '#']).next().unwrap_or(p)
}

/// The (vulnerability, products) an OpenVEX document states `not_affected` or `fixed` (v0.2
/// objects and the older plain strings).
fn vex(path: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let text = std::fs::read(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| anyhow!("{}: not an OpenVEX document: {e}", path.display()))?;
    let statements = doc
        .get("statements")
        .and_then(|s| s.as_array())
        .ok_or_else(|| anyhow!("{}: not an OpenVEX document: no statements", path.display()))?;
    let mut out = Vec::new();
    for st in statements {
        let status = st
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        if status != "not_affected" && status != "fixed" {
            continue;
        }
        let v = st.get("vulnerability");
        let mut ids: Vec<String> = Vec::new();
        match v {
            Some(serde_json::Value::String(s)) => ids.push(s.clone()),
            Some(o) => {
                for k in ["name", "@id"] {
                    if let Some(s) = o.get(k).and_then(|x| x.as_str()) {
                        ids.push(s.to_owned());
                    }
                }
                for a in o
                    .get("aliases")
                    .and_then(|x| x.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = a.as_str() {
                        ids.push(s.to_owned());
                    }
                }
            }
            None => {}
        }
        let products: Vec<String> = st
            .get("products")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| {
                p.as_str()
                    .or_else(|| p.get("@id").and_then(|x| x.as_str()))
                    .map(str::to_owned)
            })
            .collect();
        for id in ids {
            out.push((id, products.clone()));
        }
    }
    Ok(out)
}

/// The SBOM as CycloneDX with the findings as its `vulnerabilities` (each affecting the
/// components of its package's purl).
fn cyclonedx(sbom: &berth_sbom::Sbom, findings: &[Finding]) -> Result<String> {
    let mut doc: serde_json::Value = serde_json::from_str(&berth_sbom::format::cyclonedx(sbom))?;
    let refs: Vec<(String, String)> = doc["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["purl"].as_str()?.to_owned(),
                c["bom-ref"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let vulns: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let affects: Vec<serde_json::Value> = refs
                .iter()
                .filter(|(p, _)| p == &f.purl)
                .map(|(_, r)| serde_json::json!({"ref": r}))
                .collect();
            let mut v = serde_json::json!({
                "id": f.id,
                "source": {"name": "OSV"},
                "ratings": [{"severity": f.severity.to_lowercase(), "method": if f.score.is_some() { "CVSSv31" } else { "other" }}],
                "description": f.summary,
                "affects": affects,
            });
            if let Some(score) = f.score {
                v["ratings"][0]["score"] = serde_json::json!(score);
            }
            if let Some(fix) = &f.fixed_in {
                v["recommendation"] = serde_json::json!(format!("upgrade {} to {fix}", f.package));
            }
            v
        })
        .collect();
    doc["vulnerabilities"] = serde_json::Value::Array(vulns);
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
