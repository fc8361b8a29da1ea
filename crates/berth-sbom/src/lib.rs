//! Software bills of materials of container images. A [`view::View`] merges an image's layers
//! (whiteouts respected) down to the files the catalogers read; the catalogers find the
//! packages — dpkg (`status` and `status.d`, source packages, licences from the copyright
//! files), apk, rpm (the SQLite rpmdb), Python (`.dist-info`, `.egg-info`), npm
//! (`node_modules/*/package.json`), Cargo (`Cargo.lock`, cargo-auditable sections in
//! binaries), Go (binaries' build info) — each with name, version, type, location, licences
//! and purl; [`format`] writes them as CycloneDX, SPDX or a table.

pub mod archive;
pub mod binaries;
pub mod format;
pub mod java;
pub mod os;
pub mod rpm;
pub mod view;

mod dpkg;
mod langs;

pub use langs::pep503;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("layer {0}: {1}")]
    Layer(String, String),
    #[error("{0}")]
    Other(String),
}

/// What kind of package (syft's type names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Deb,
    Apk,
    Rpm,
    Python,
    Npm,
    RustCrate,
    GoModule,
    JavaArchive,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deb => "deb",
            Kind::Apk => "apk",
            Kind::Rpm => "rpm",
            Kind::Python => "python",
            Kind::Npm => "npm",
            Kind::RustCrate => "rust-crate",
            Kind::GoModule => "go-module",
            Kind::JavaArchive => "java-archive",
        }
    }
}

/// One package found in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Where it was found (absolute paths in the image): the database or manifest first.
    pub locations: Vec<String>,
    /// The layer (diff id) of the first location.
    pub layer: String,
    pub licenses: Vec<String>,
    pub purl: String,
    /// The source package (dpkg's `Source:`, apk's origin, rpm's source rpm), when it differs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
}

/// An image's bill of materials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sbom {
    /// What was catalogued (an image name or an archive path).
    pub source: String,
    pub distro: Option<os::Distro>,
    pub packages: Vec<Package>,
}

/// Every package in the view, sorted by type, name and version.
pub fn catalog(v: &view::View, source: &str) -> Sbom {
    let distro = os::distro(v);
    let mut packages = Vec::new();
    packages.extend(dpkg::packages(v, distro.as_ref()));
    packages.extend(langs::apk(v, distro.as_ref()));
    packages.extend(rpm::packages(v, distro.as_ref()));
    packages.extend(langs::python(v));
    packages.extend(langs::npm(v));
    packages.extend(langs::cargo_lock(v));
    packages.extend(binaries::packages(v));
    packages.extend(java::packages(v));
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.version, &a.locations).cmp(&(
            b.kind,
            &b.name,
            &b.version,
            &b.locations,
        ))
    });
    packages.dedup_by(|a, b| {
        a.kind == b.kind && a.name == b.name && a.version == b.version && a.locations == b.locations
    });
    Sbom {
        source: source.to_owned(),
        distro,
        packages,
    }
}

/// A purl's path segment or version, percent-encoded as the purl spec asks (`:` kept, as in
/// Debian's epochs).
pub(crate) fn purl_enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS` (qualifiers sorted by key, empty ones left out).
pub(crate) fn purl(
    kind: &str,
    namespace: &str,
    name: &str,
    version: &str,
    qualifiers: &[(&str, String)],
) -> String {
    let mut s = format!("pkg:{kind}/");
    if !namespace.is_empty() {
        s.push_str(&purl_enc(namespace));
        s.push('/');
    }
    s.push_str(&purl_enc(name));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&purl_enc(version));
    }
    let mut q: Vec<&(&str, String)> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    q.sort_by_key(|(k, _)| *k);
    for (i, (k, v)) in q.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(&purl_enc(v));
    }
    s
}
