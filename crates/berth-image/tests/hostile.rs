//! Hostile layer tarballs: each attack is unpacked into a fresh layer directory next to an
//! "outside" directory holding a secret, and afterwards the outside is exactly as it was —
//! whether the unpacker refused the archive or neutralised the entry. Where an entry is
//! neutralised, the test also checks where it landed (inside the layer).

use std::path::{Path, PathBuf};

use berth_image::unpack::unpack;
use tar::{EntryType, Header};

/// One raw tar entry; names and link names are written byte for byte (the tar crate's setters
/// refuse `..`, which is the point here).
struct E<'a> {
    kind: EntryType,
    name: &'a str,
    link: &'a str,
    data: &'a [u8],
    pax: Vec<(&'a str, Vec<u8>)>,
    dev: (u32, u32),
}

fn e<'a>(kind: EntryType, name: &'a str) -> E<'a> {
    E {
        kind,
        name,
        link: "",
        data: b"",
        pax: Vec::new(),
        dev: (0, 0),
    }
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> E<'a> {
    E {
        data,
        ..e(EntryType::Regular, name)
    }
}

fn link<'a>(kind: EntryType, name: &'a str, target: &'a str) -> E<'a> {
    E {
        link: target,
        ..e(kind, name)
    }
}

fn pax_records(recs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in recs {
        let body_len = 1 + k.len() + 1 + v.len() + 1;
        let mut len = body_len + 1;
        while len.to_string().len() + body_len != len {
            len = len.to_string().len() + body_len;
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn raw_header(kind: EntryType, name: &str, link: &str, size: u64, dev: (u32, u32)) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    let old = h.as_old_mut();
    let n = name.as_bytes();
    old.name[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
    let l = link.as_bytes();
    old.linkname[..l.len().min(100)].copy_from_slice(&l[..l.len().min(100)]);
    if matches!(kind, EntryType::Char | EntryType::Block) {
        h.set_device_major(dev.0).expect("major");
        h.set_device_minor(dev.1).expect("minor");
    }
    h.set_cksum();
    h
}

fn tarball(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for en in entries {
        if !en.pax.is_empty() {
            let data = pax_records(&en.pax);
            b.append(
                &raw_header(
                    EntryType::XHeader,
                    "PaxHeader",
                    "",
                    data.len() as u64,
                    (0, 0),
                ),
                &data[..],
            )
            .expect("pax");
        }
        b.append(
            &raw_header(en.kind, en.name, en.link, en.data.len() as u64, en.dev),
            en.data,
        )
        .expect("append");
    }
    b.into_inner().expect("tar")
}

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-hostile-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("outside")).expect("outside");
        std::fs::write(dir.path().join("outside/secret"), "secret").expect("secret");
        World { dir }
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    fn layer(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir(&p).expect("layer dir");
        p
    }
    /// The outside directory is exactly one untouched file.
    fn assert_outside_untouched(&self, attack: &str) {
        let names: Vec<_> = std::fs::read_dir(self.outside())
            .expect("outside")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "{attack}: outside changed"
        );
        let meta = std::fs::symlink_metadata(self.outside().join("secret")).expect("secret");
        assert!(meta.is_file(), "{attack}: secret replaced");
        assert_eq!(
            std::fs::read_to_string(self.outside().join("secret")).expect("secret"),
            "secret",
            "{attack}"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.nlink(), 1, "{attack}: secret gained a hard link");
    }
}

/// Run one attack; returns the layer dir and whether the unpack succeeded.
fn attack(w: &World, name: &str, entries: &[E]) -> (PathBuf, bool) {
    let layer = w.layer(name);
    let ok = unpack(&tarball(entries)[..], &layer).is_ok();
    w.assert_outside_untouched(name);
    (layer, ok)
}

#[test]
fn hostile_archives_never_write_outside_the_layer() {
    let w = World::new();
    let out = w.outside();
    let out_abs = out.to_str().expect("utf8");
    let out_rel = out_abs.trim_start_matches('/');
    let up = format!("{}{}", "../".repeat(12), out_rel);
    let in_layer = |layer: &Path, rel: &str| layer.join(out_rel).join(rel);

    // 1. `..` in the entry name.
    let (_, ok) = attack(&w, "dotdot", &[file("../outside/pwned", b"x")]);
    assert!(!ok, "a path with .. is refused");

    // 2. An absolute name is taken relative to the layer.
    let abs = format!("{out_abs}/pwned");
    let (l, ok) = attack(&w, "absolute", &[file(&abs, b"x")]);
    assert!(ok && in_layer(&l, "pwned").exists());

    // 3. An absolute symlink, then a file written through it.
    let (l, ok) = attack(
        &w,
        "symlink-abs",
        &[
            link(EntryType::Symlink, "evil", out_abs),
            file("evil/pwned", b"x"),
        ],
    );
    assert!(ok && in_layer(&l, "pwned").exists());

    // 4. A relative symlink climbing out, then a file through it.
    let (l, ok) = attack(
        &w,
        "symlink-rel",
        &[
            link(EntryType::Symlink, "evil", &up),
            file("evil/pwned", b"x"),
        ],
    );
    assert!(ok && in_layer(&l, "pwned").exists());

    // 5. A hard link to a host file by absolute path.
    let target = format!("{out_abs}/secret");
    let (_, ok) = attack(&w, "hardlink-abs", &[link(EntryType::Link, "hl", &target)]);
    assert!(!ok, "no such file inside the layer");

    // 6. A hard link with `..`.
    let (_, ok) = attack(
        &w,
        "hardlink-dotdot",
        &[link(EntryType::Link, "hl", "../outside/secret")],
    );
    assert!(!ok);

    // 7. A hard link through a symlink that points out.
    let (_, ok) = attack(
        &w,
        "hardlink-via-symlink",
        &[
            link(EntryType::Symlink, "evil", out_abs),
            link(EntryType::Link, "hl", "evil/secret"),
        ],
    );
    assert!(!ok);

    // 8. A symlink to a host file, then a regular file of the same name (must replace the link,
    //    not write through it).
    let (l, ok) = attack(
        &w,
        "overwrite-through-symlink",
        &[
            link(EntryType::Symlink, "victim", &target),
            file("victim", b"x"),
        ],
    );
    assert!(ok && std::fs::read(l.join("victim")).expect("victim") == b"x");

    // 9. A whiteout under a symlinked directory.
    let (l, ok) = attack(
        &w,
        "whiteout-via-symlink",
        &[
            link(EntryType::Symlink, "evil", out_abs),
            file("evil/.wh.secret", b""),
        ],
    );
    assert!(
        ok && in_layer(&l, "secret").exists(),
        "the whiteout landed inside the layer"
    );

    // 10. A whiteout with `..`.
    let (_, ok) = attack(&w, "whiteout-dotdot", &[file("../outside/.wh.secret", b"")]);
    assert!(!ok);

    // 11. Duplicate entries: a directory, then a file of the same name; a file, then a symlink.
    let (l, ok) = attack(
        &w,
        "duplicates",
        &[
            e(EntryType::Directory, "d"),
            file("d/inner", b"1"),
            file("d", b"2"),
            file("f", b"1"),
            link(EntryType::Symlink, "f", &target),
        ],
    );
    assert!(ok);
    assert_eq!(std::fs::read(l.join("d")).expect("d"), b"2");
    assert!(
        std::fs::symlink_metadata(l.join("f"))
            .expect("f")
            .file_type()
            .is_symlink()
    );

    // 12. A huge PAX path.
    let mut big = e(EntryType::Regular, "short");
    big.pax = vec![("path", "a/".repeat(5000).into_bytes())];
    let (_, ok) = attack(&w, "huge-path", &[big]);
    assert!(!ok, "a path longer than PATH_MAX is refused");

    // 13. A PAX path with `..` hidden in the extension rather than the header.
    let mut sneaky = e(EntryType::Regular, "innocent");
    sneaky.pax = vec![("path", b"../outside/pwned".to_vec())];
    let (_, ok) = attack(&w, "pax-dotdot", &[sneaky]);
    assert!(!ok);

    // 14. A directory created through a symlink chain (a -> b -> outside).
    let (l, ok) = attack(
        &w,
        "symlink-chain",
        &[
            link(EntryType::Symlink, "b", out_abs),
            link(EntryType::Symlink, "a", "b"),
            e(EntryType::Directory, "a/newdir"),
        ],
    );
    assert!(ok && in_layer(&l, "newdir").is_dir());

    // 15. overlayfs xattrs smuggled in the archive are dropped.
    let mut smuggle = file("x", b"x");
    smuggle.pax = vec![("SCHILY.xattr.trusted.overlay.redirect", b"/etc".to_vec())];
    let (l, ok) = attack(&w, "overlay-xattr", &[smuggle]);
    assert!(ok);
    let mut buf = [0u8; 64];
    let p = std::ffi::CString::new(l.join("x").to_str().expect("utf8")).expect("c");
    // SAFETY: lgetxattr with valid strings and buffer.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            c"trusted.overlay.redirect".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert!(
        n < 0,
        "trusted.overlay.* must not be applied from an archive"
    );

    // 16. A symlink loop used as a parent.
    let (_, ok) = attack(
        &w,
        "symlink-loop",
        &[
            link(EntryType::Symlink, "loop", "loop"),
            file("loop/x", b"x"),
        ],
    );
    assert!(!ok);
}

#[test]
fn layers_keep_metadata_whiteouts_and_sparse_files() {
    let w = World::new();
    let l = w.layer("meta");
    let mut dev = e(EntryType::Char, "dev/null2");
    dev.dev = (1, 3);
    let zeros = vec![0u8; 1 << 20];
    let mut sparse_data = zeros.clone();
    sparse_data.extend_from_slice(b"end");
    let entries = [
        e(EntryType::Directory, "etc"),
        file("etc/hostname", b"berth\n"),
        link(EntryType::Link, "etc/hostname2", "etc/hostname"),
        link(EntryType::Symlink, "etc/alias", "hostname"),
        dev,
        file("sparse", &sparse_data),
        file(".wh.gone", b""),
        file("opaque/.wh..wh..opq", b""),
    ];
    unpack(&tarball(&entries)[..], &l).expect("unpack");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert_eq!(
        std::fs::read(l.join("etc/hostname")).expect("file"),
        b"berth\n"
    );
    assert_eq!(
        std::fs::metadata(l.join("etc/hostname"))
            .expect("meta")
            .nlink(),
        2,
        "hard link kept"
    );
    assert_eq!(
        std::fs::read_link(l.join("etc/alias")).expect("link"),
        Path::new("hostname")
    );
    let m = std::fs::symlink_metadata(l.join("dev/null2")).expect("dev");
    assert!(m.file_type().is_char_device() && m.rdev() == nix::sys::stat::makedev(1, 3));
    let gone = std::fs::symlink_metadata(l.join("gone")).expect("whiteout");
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "whiteout is a 0:0 char device"
    );
    let mut buf = [0u8; 4];
    let p = std::ffi::CString::new(l.join("opaque").to_str().expect("utf8")).expect("c");
    // SAFETY: lgetxattr with valid strings and buffer.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(&buf[..n.max(0) as usize], b"y", "opaque dir marked");
    let s = std::fs::metadata(l.join("sparse")).expect("sparse");
    assert_eq!(s.len(), (1 << 20) + 3);
    assert!(
        s.blocks() * 512 < 1 << 20,
        "the zero run is a hole ({} blocks)",
        s.blocks()
    );
    assert_eq!(
        std::fs::metadata(l.join("etc/hostname"))
            .expect("meta")
            .mtime(),
        1_700_000_000
    );
}

#[test]
fn compressed_layers_unpack() {
    use std::io::Write;
    let w = World::new();
    let raw = tarball(&[file("hello", b"hi")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gz");
    let gz = gz.finish().expect("gz");
    let zst = zstd::encode_all(&raw[..], 3).expect("zstd");
    for (name, data) in [("plain", raw.clone()), ("gzip", gz), ("zstd", zst)] {
        let l = w.layer(name);
        unpack(&data[..], &l).expect(name);
        assert_eq!(std::fs::read(l.join("hello")).expect(name), b"hi");
    }
}
