//! dpkg's database: `/var/lib/dpkg/status` (installed paragraphs only) and the per-package
//! files of `/var/lib/dpkg/status.d/` (distroless images), with each package's source package
//! and the licences its `/usr/share/doc/<name>/copyright` names (DEP-5 `License:` fields and
//! `/usr/share/common-licenses/` references).

use crate::os::Distro;
use crate::view::View;
use crate::{Kind, Package, purl};

/// The paragraphs of a control file: (field, value) pairs, continuation lines joined.
pub(crate) fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = cur.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn field<'a>(p: &'a [(String, String)], k: &str) -> &'a str {
    p.iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(k))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The licences a copyright file names, sorted, each once.
pub(crate) fn copyright_licenses(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        // A compound field (`GPL-2+ with Texinfo exception`, `GPL or Artistic`) names its
        // first licence (as syft reads it).
        if let Some(v) = line.strip_prefix("License:") {
            // `none` says there is no licence to name.
            if let Some(first) = v.split_whitespace().next().filter(|f| *f != "none") {
                out.push(first.to_owned());
            }
        }
        let mut rest = line;
        while let Some(i) = rest.find("/usr/share/common-licenses/") {
            rest = &rest[i + "/usr/share/common-licenses/".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | '_'))
                .collect();
            let name = name.trim_end_matches('.').to_owned();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn packages(v: &View, distro: Option<&Distro>) -> Vec<Package> {
    let mut sources: Vec<String> = Vec::new();
    if v.read("var/lib/dpkg/status").is_some() {
        sources.push("var/lib/dpkg/status".into());
    }
    sources.extend(
        v.files()
            .filter(|f| {
                f.path.starts_with("var/lib/dpkg/status.d/") && !f.path.ends_with(".md5sums")
            })
            .map(|f| f.path.to_owned()),
    );
    let namespace = distro.map(|d| d.id.as_str()).unwrap_or("debian");
    let mut out = Vec::new();
    for src in sources {
        let Some(text) = v.read(&src) else { continue };
        let text = String::from_utf8_lossy(&text);
        for p in paragraphs(&text) {
            let name = field(&p, "Package");
            let version = field(&p, "Version");
            let status = field(&p, "Status");
            if name.is_empty() || version.is_empty() {
                continue;
            }
            // status.d files carry no Status field; in `status`, only what is installed.
            if !status.is_empty() && !status.ends_with(" installed") {
                continue;
            }
            let arch = field(&p, "Architecture");
            // `Source: name (version)` when the source's version differs.
            let (source, source_version) = match field(&p, "Source").split_once(' ') {
                Some((s, rest)) => (
                    s.to_owned(),
                    rest.trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .to_owned(),
                ),
                None => (field(&p, "Source").to_owned(), String::new()),
            };
            let copyright = format!("usr/share/doc/{name}/copyright");
            let licenses = v
                .read(&copyright)
                .map(|t| copyright_licenses(&String::from_utf8_lossy(&t)))
                .unwrap_or_default();
            let upstream = match (source.as_str(), source_version.as_str()) {
                ("", _) => String::new(),
                (s, "") => s.to_owned(),
                (s, sv) => format!("{s}@{sv}"),
            };
            let mut locations = vec![format!("/{src}")];
            if !licenses.is_empty() || v.read(&copyright).is_some() {
                locations.push(format!("/{}", v.resolve(&copyright)));
            }
            out.push(Package {
                name: name.to_owned(),
                version: version.to_owned(),
                kind: Kind::Deb,
                layer: v.layer_of(&src).unwrap_or_default().to_owned(),
                locations,
                licenses,
                purl: purl(
                    "deb",
                    namespace,
                    name,
                    version,
                    &[
                        ("arch", arch.to_owned()),
                        ("distro", distro.map(Distro::qualifier).unwrap_or_default()),
                        ("upstream", upstream),
                    ],
                ),
                source,
                source_version,
                arch: arch.to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_paragraphs_and_licences() {
        let p = paragraphs("Package: a\nDescription: x\n more\n\nPackage: b\n");
        assert_eq!(p.len(), 2);
        assert_eq!(field(&p[0], "description"), "x\nmore");
        let l = copyright_licenses(
            "License: GPL-2+ with Texinfo exception\n On Debian systems see /usr/share/common-licenses/GPL-2.\nLicense: MIT\nLicense: GPL-2+\n",
        );
        assert_eq!(l, ["GPL-2", "GPL-2+", "MIT"]);
    }
}
