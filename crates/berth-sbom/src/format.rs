//! An [`Sbom`] written out: CycloneDX 1.5 JSON, SPDX 2.3 JSON, or a table (syft's columns:
//! NAME, VERSION, TYPE).

use serde::Serialize;

use crate::{Package, Sbom};

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// SPDX identifiers for the licence names Debian's copyright files use most; other names
/// become `LicenseRef-` identifiers.
fn spdx_id(name: &str) -> String {
    let known = match name {
        "GPL-1" => "GPL-1.0-only",
        "GPL-1+" => "GPL-1.0-or-later",
        "GPL-2" => "GPL-2.0-only",
        "GPL-2+" => "GPL-2.0-or-later",
        "GPL-3" => "GPL-3.0-only",
        "GPL-3+" => "GPL-3.0-or-later",
        "LGPL-2" => "LGPL-2.0-only",
        "LGPL-2+" => "LGPL-2.0-or-later",
        "LGPL-2.1" => "LGPL-2.1-only",
        "LGPL-2.1+" => "LGPL-2.1-or-later",
        "LGPL-3" => "LGPL-3.0-only",
        "LGPL-3+" => "LGPL-3.0-or-later",
        "Apache-2.0" | "Apache-2" => "Apache-2.0",
        "MIT" | "Expat" => "MIT",
        "BSD-2-clause" | "BSD-2-Clause" => "BSD-2-Clause",
        "BSD-3-clause" | "BSD-3-Clause" => "BSD-3-Clause",
        "ISC" => "ISC",
        "Zlib" | "zlib" => "Zlib",
        "MPL-2.0" => "MPL-2.0",
        "Artistic" | "Artistic-1.0" => "Artistic-1.0",
        "GFDL-1.2" => "GFDL-1.2-only",
        "GFDL-1.3" => "GFDL-1.3-only",
        "curl" => "curl",
        "0BSD" => "0BSD",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{clean}")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CycloneDx {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: CdxMetadata,
    components: Vec<CdxComponent>,
}

#[derive(Serialize)]
struct CdxMetadata {
    timestamp: String,
    tools: CdxTools,
    component: CdxComponent,
}

#[derive(Serialize)]
struct CdxTools {
    components: Vec<CdxComponent>,
}

#[derive(Serialize, Default)]
struct CdxComponent {
    #[serde(rename = "bom-ref", skip_serializing_if = "String::is_empty")]
    bom_ref: String,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    purl: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<CdxLicenseChoice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<CdxProperty>,
}

#[derive(Serialize)]
struct CdxLicenseChoice {
    license: CdxLicense,
}

#[derive(Serialize)]
struct CdxLicense {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Serialize)]
struct CdxProperty {
    name: String,
    value: String,
}

fn props(p: &Package) -> Vec<CdxProperty> {
    let mut out = vec![
        CdxProperty {
            name: "berth:package:type".into(),
            value: p.kind.as_str().into(),
        },
        CdxProperty {
            name: "berth:layer".into(),
            value: p.layer.clone(),
        },
    ];
    for (i, l) in p.locations.iter().enumerate() {
        out.push(CdxProperty {
            name: format!("berth:location:{i}:path"),
            value: l.clone(),
        });
    }
    if !p.source.is_empty() {
        out.push(CdxProperty {
            name: "berth:package:source".into(),
            value: p.source.clone(),
        });
    }
    out
}

/// CycloneDX 1.5 JSON.
pub fn cyclonedx(s: &Sbom) -> String {
    let mut components: Vec<CdxComponent> = s
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| CdxComponent {
            bom_ref: format!("{}#{i}", p.purl),
            kind: "library",
            name: p.name.clone(),
            version: p.version.clone(),
            purl: p.purl.clone(),
            licenses: p
                .licenses
                .iter()
                .map(|l| {
                    let id = spdx_id(l);
                    CdxLicenseChoice {
                        license: if id.starts_with("LicenseRef-") {
                            CdxLicense {
                                id: None,
                                name: Some(l.clone()),
                            }
                        } else {
                            CdxLicense {
                                id: Some(id),
                                name: None,
                            }
                        },
                    }
                })
                .collect(),
            properties: props(p),
        })
        .collect();
    if let Some(d) = &s.distro {
        components.push(CdxComponent {
            bom_ref: format!("os:{}", d.qualifier()),
            kind: "operating-system",
            name: d.id.clone(),
            version: d.version_id.clone(),
            ..Default::default()
        });
    }
    let doc = CycloneDx {
        bom_format: "CycloneDX",
        spec_version: "1.5",
        serial_number: format!("urn:uuid:{}", uuid_v4()),
        version: 1,
        metadata: CdxMetadata {
            timestamp: berth_units::now_rfc3339(),
            tools: CdxTools {
                components: vec![CdxComponent {
                    kind: "application",
                    name: "berth".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }],
            },
            component: CdxComponent {
                kind: "container",
                name: s.source.clone(),
                ..Default::default()
            },
        },
        components,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spdx {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: SpdxCreation,
    packages: Vec<SpdxPackage>,
    relationships: Vec<SpdxRelationship>,
}

#[derive(Serialize)]
struct SpdxCreation {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    version_info: String,
    download_location: &'static str,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    files_analyzed: bool,
    source_info: String,
    external_refs: Vec<SpdxRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRelationship {
    spdx_element_id: &'static str,
    relationship_type: &'static str,
    related_spdx_element: String,
}

/// SPDX 2.3 JSON.
pub fn spdx(s: &Sbom) -> String {
    let id = |i: usize, p: &Package| {
        let clean: String = format!("{}-{}", p.kind.as_str(), p.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("SPDXRef-Package-{clean}-{i}")
    };
    let packages: Vec<SpdxPackage> = s
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| SpdxPackage {
            name: p.name.clone(),
            spdx_id: id(i, p),
            version_info: p.version.clone(),
            download_location: "NOASSERTION",
            license_concluded: "NOASSERTION",
            license_declared: if p.licenses.is_empty() {
                "NOASSERTION".into()
            } else {
                p.licenses
                    .iter()
                    .map(|l| spdx_id(l))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            },
            copyright_text: "NOASSERTION",
            files_analyzed: false,
            source_info: format!("acquired package info from {}", p.locations.join(", ")),
            external_refs: vec![SpdxRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: p.purl.clone(),
            }],
        })
        .collect();
    let relationships = packages
        .iter()
        .map(|p| SpdxRelationship {
            spdx_element_id: "SPDXRef-DOCUMENT",
            relationship_type: "DESCRIBES",
            related_spdx_element: p.spdx_id.clone(),
        })
        .collect();
    let clean: String = s
        .source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let doc = Spdx {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: s.source.clone(),
        document_namespace: format!("https://berth.invalid/spdxdocs/{clean}-{}", uuid_v4()),
        creation_info: SpdxCreation {
            created: berth_units::now_rfc3339(),
            creators: vec![format!("Tool: berth-{}", env!("CARGO_PKG_VERSION"))],
        },
        packages,
        relationships,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// NAME, VERSION, TYPE columns, as syft's table.
pub fn table(s: &Sbom) -> String {
    let rows: Vec<[&str; 3]> = s
        .packages
        .iter()
        .map(|p| [p.name.as_str(), p.version.as_str(), p.kind.as_str()])
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(7);
    let mut out = format!("{:<w0$}  {:<w1$}  TYPE\n", "NAME", "VERSION");
    for r in rows {
        out.push_str(&format!("{:<w0$}  {:<w1$}  {}\n", r[0], r[1], r[2]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_map_to_spdx() {
        assert_eq!(spdx_id("GPL-2+"), "GPL-2.0-or-later");
        assert_eq!(spdx_id("public domain"), "LicenseRef-public-domain");
    }
}
