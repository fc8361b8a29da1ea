//! Packages recorded inside executables: Go's build info (the `.go.buildinfo` section of Go
//! 1.18+ binaries: the toolchain, the main module and every dependency, replacements applied)
//! and cargo-auditable's `.dep-v0` section (zlib-compressed JSON of the crates a Rust binary
//! was built from).

use std::io::Read;

use object::{Object, ObjectSection};

use crate::view::View;
use crate::{Kind, Package, purl};

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

/// Go's build info: (toolchain version, modinfo text), from the `.go.buildinfo` section (Go
/// binaries keep it even when stripped).
pub fn go_buildinfo(elf: &[u8]) -> Option<(String, String)> {
    let f = object::File::parse(elf).ok()?;
    let d = f.section_by_name(".go.buildinfo")?.data().ok()?;
    parse_buildinfo(d)
}

fn parse_buildinfo(d: &[u8]) -> Option<(String, String)> {
    if !d.starts_with(GO_MAGIC) || d.len() < 32 {
        return None;
    }
    let flags = d[15];
    // Only the inline form (Go 1.18 and later) is read.
    if flags & 2 == 0 {
        return None;
    }
    let mut rest = &d[32..];
    let mut strings = Vec::new();
    for _ in 0..2 {
        let (n, used) = uvarint(rest)?;
        let n = usize::try_from(n).ok()?;
        let s = rest.get(used..used + n)?;
        strings.push(s.to_vec());
        rest = &rest[used + n..];
    }
    let version = String::from_utf8_lossy(&strings[0]).into_owned();
    let mut modinfo = strings[1].clone();
    // Sentinels of 16 bytes around the text.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = modinfo[16..modinfo.len() - 16].to_vec();
    }
    Some((version, String::from_utf8_lossy(&modinfo).into_owned()))
}

fn golang_purl(path: &str, version: &str) -> String {
    let (ns, name) = path.rsplit_once('/').unwrap_or(("", path));
    let mut s = String::from("pkg:golang/");
    if !ns.is_empty() {
        s.push_str(ns);
        s.push('/');
    }
    s.push_str(name);
    if !version.is_empty() {
        s.push('@');
        s.push_str(&crate::purl_enc(version));
    }
    s
}

fn go_packages(v: &View, path: &str, toolchain: &str, modinfo: &str) -> Vec<Package> {
    let mut mods: Vec<(String, String)> = Vec::new();
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod", p, ver, ..] | ["dep", p, ver, ..] => {
                mods.push(((*p).to_owned(), (*ver).to_owned()))
            }
            ["=>", p, ver, ..] => {
                if let Some(last) = mods.last_mut() {
                    *last = ((*p).to_owned(), (*ver).to_owned());
                }
            }
            _ => {}
        }
    }
    if !toolchain.is_empty() {
        mods.push(("stdlib".into(), toolchain.to_owned()));
    }
    let layer = v.layer_of(path).unwrap_or_default().to_owned();
    mods.into_iter()
        .map(|(name, version)| Package {
            purl: if name == "stdlib" {
                format!(
                    "pkg:golang/stdlib@{}",
                    crate::purl_enc(version.trim_start_matches("go"))
                )
            } else {
                golang_purl(&name, &version)
            },
            name,
            version,
            kind: Kind::GoModule,
            locations: vec![format!("/{path}")],
            layer: layer.clone(),
            licenses: Vec::new(),
            source: String::new(),
            source_version: String::new(),
            arch: String::new(),
        })
        .collect()
}

fn auditable(v: &View, path: &str, elf: &[u8]) -> Vec<Package> {
    let Some(section) = object::File::parse(elf).ok().and_then(|f| {
        f.section_by_name(".dep-v0")
            .and_then(|s| s.data().ok().map(<[u8]>::to_vec))
    }) else {
        return Vec::new();
    };
    let mut json = Vec::new();
    // At most 8 MiB of JSON: the section is small; a bomb is refused.
    if flate2::read::ZlibDecoder::new(section.as_slice())
        .take(8 << 20)
        .read_to_end(&mut json)
        .is_err()
    {
        return Vec::new();
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    let layer = v.layer_of(path).unwrap_or_default().to_owned();
    doc.get("packages")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_owned();
            let version = p.get("version")?.as_str()?.to_owned();
            Some(Package {
                purl: purl("cargo", "", &name, &version, &[]),
                name,
                version,
                kind: Kind::RustCrate,
                locations: vec![format!("/{path}")],
                layer: layer.clone(),
                licenses: Vec::new(),
                source: String::new(),
                source_version: String::new(),
                arch: String::new(),
            })
        })
        .collect()
}

pub fn packages(v: &View) -> Vec<Package> {
    let mut out = Vec::new();
    let execs: Vec<String> = v
        .files()
        .filter(|f| f.exec)
        .map(|f| f.path.to_owned())
        .collect();
    for path in execs {
        let Some(bytes) = v.read(&path) else { continue };
        if !bytes.starts_with(b"\x7fELF") {
            continue;
        }
        if let Some((tc, modinfo)) = go_buildinfo(&bytes) {
            out.extend(go_packages(v, &path, &tc, &modinfo));
        }
        out.extend(auditable(v, &path, &bytes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_build_info() {
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.7\th1:x\n=>\tgolang.org/x/text\tv0.3.8\th1:y\n";
        let mut sentinel = vec![b'0'; 16];
        sentinel.extend(modinfo.as_bytes());
        sentinel.extend([b'9'; 16]);
        let mut d = GO_MAGIC.to_vec();
        d.extend([8u8, 2u8]);
        d.resize(32, 0);
        d.push(8);
        d.extend(b"go1.21.5");
        // The length as a varint.
        let mut n = sentinel.len();
        while n >= 0x80 {
            d.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        d.push(n as u8);
        d.extend(&sentinel);
        let (tc, m) = parse_buildinfo(&d).expect("buildinfo");
        assert_eq!(tc, "go1.21.5");
        assert_eq!(m, modinfo);
        let p = go_packages(&View::default(), "app", &tc, &m);
        let got: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("example.com/app", "(devel)"),
                ("golang.org/x/text", "v0.3.8"),
                ("stdlib", "go1.21.5")
            ]
        );
        assert_eq!(p[1].purl, "pkg:golang/golang.org/x/text@v0.3.8");
    }
}
