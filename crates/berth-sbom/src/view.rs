//! The merged view of an image's layers, kept to what the catalogers read: package databases,
//! manifests, copyright files and executables (by content or, for unpacked layers, by their
//! path on the host), plus every symlink. Layers apply bottom first; a whiteout removes a
//! path and what is under it, an opaque directory what lower layers had in it — OCI's
//! `.wh.` entries in layer tars, overlayfs' 0:0 character devices and `trusted.overlay.opaque`
//! in unpacked layers.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Where a kept file's bytes are.
#[derive(Debug, Clone)]
enum Data {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        layer: usize,
        data: Data,
        exec: bool,
    },
    Symlink(String),
}

/// The merged view.
#[derive(Debug, Default)]
pub struct View {
    entries: BTreeMap<String, Entry>,
    /// The layers' ids (diff ids), bottom first.
    pub layers: Vec<String>,
}

/// A kept file.
pub struct File<'a> {
    pub path: &'a str,
    pub layer: &'a str,
    pub exec: bool,
}

/// Whether a file at `path` (no leading `/`) is one a cataloger reads.
fn wanted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path == "var/lib/dpkg/status"
        || path.starts_with("var/lib/dpkg/status.d/")
        || (path.starts_with("usr/share/doc/") && name == "copyright")
        || path == "lib/apk/db/installed"
        || path.ends_with("rpm/rpmdb.sqlite")
        || path.ends_with("rpm/Packages.db")
        || path == "etc/os-release"
        || path == "usr/lib/os-release"
        || path == "etc/alpine-release"
        || (name == "METADATA" && parent_ends(path, ".dist-info"))
        || (name == "PKG-INFO" && parent_ends(path, ".egg-info"))
        || (name == "package.json" && path.contains("node_modules/"))
        || name == "Cargo.lock"
        || name.ends_with(".jar")
        || name.ends_with(".war")
        || name.ends_with(".ear")
}

fn parent_ends(path: &str, suffix: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, _)| dir.ends_with(suffix))
}

/// Executables bigger than this are not read from a layer tar (a catalog of a 2 GiB binary is
/// not worth holding it in memory).
const EXEC_MAX: u64 = 256 << 20;

impl View {
    fn remove_tree(&mut self, path: &str) {
        self.entries.remove(path);
        let prefix = format!("{path}/");
        let below: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.entries.remove(&k);
        }
    }

    /// What lower layers put under `dir` goes (an opaque directory).
    fn clear_below(&mut self, dir: &str, layer: usize) {
        let prefix = format!("{dir}/");
        let below: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, e)| !matches!(e, Entry::File { layer: l, .. } if *l == layer))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.entries.remove(&k);
        }
    }

    /// A layer tar (plain, gzip or zstd), OCI whiteouts.
    pub fn add_tar_layer(&mut self, r: impl Read, id: &str) -> Result<(), Error> {
        let layer = self.layers.len();
        self.layers.push(id.to_owned());
        let mut r = std::io::BufReader::with_capacity(1 << 20, r);
        let head = std::io::BufRead::fill_buf(&mut r)
            .map_err(|e| Error::Layer(id.to_owned(), e.to_string()))?
            .to_vec();
        let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(r))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(
                zstd::stream::read::Decoder::new(r)
                    .map_err(|e| Error::Layer(id.to_owned(), e.to_string()))?,
            )
        } else {
            Box::new(r)
        };
        let mut ar = tar::Archive::new(reader);
        let bad = |e: std::io::Error| Error::Layer(id.to_owned(), e.to_string());
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw = entry.path().map_err(bad)?.to_string_lossy().into_owned();
            let path = raw.trim_start_matches("./").trim_matches('/').to_owned();
            if path.is_empty() {
                continue;
            }
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                self.clear_below(dir, layer);
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                let target = if dir.is_empty() {
                    gone.to_owned()
                } else {
                    format!("{dir}/{gone}")
                };
                self.remove_tree(&target);
                continue;
            }
            let h = entry.header();
            let kind = h.entry_type();
            let mode = h.mode().unwrap_or(0);
            let size = h.size().unwrap_or(0);
            // A path replaced in this layer loses what lower layers had below it.
            if !kind.is_dir() {
                self.remove_tree(&path);
            }
            if kind.is_symlink() {
                if let Some(t) = entry.link_name().map_err(bad)? {
                    let t = t.to_string_lossy().into_owned();
                    self.entries.insert(path, Entry::Symlink(t));
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let exec = mode & 0o111 != 0;
            if wanted(&path) || (exec && (4..=EXEC_MAX).contains(&size)) {
                let mut data = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut data).map_err(bad)?;
                if !wanted(&path) && !data.starts_with(b"\x7fELF") {
                    continue;
                }
                self.entries.insert(
                    path,
                    Entry::File {
                        layer,
                        data: Data::Bytes(data),
                        exec,
                    },
                );
            }
        }
        Ok(())
    }

    /// An unpacked layer directory (overlayfs whiteouts).
    pub fn add_dir_layer(&mut self, root: &Path, id: &str) -> Result<(), Error> {
        let layer = self.layers.len();
        self.layers.push(id.to_owned());
        let mut todo = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = todo.pop() {
            if !rel.is_empty() && is_opaque(&dir) {
                self.clear_below(&rel, layer);
            }
            let rd = std::fs::read_dir(&dir)
                .map_err(|e| Error::Layer(id.to_owned(), format!("{}: {e}", dir.display())))?;
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_char_device() {
                    // An overlay whiteout (0:0).
                    self.remove_tree(&path);
                    continue;
                }
                if ft.is_dir() {
                    todo.push((e.path(), path));
                    continue;
                }
                self.remove_tree(&path);
                if ft.is_symlink() {
                    if let Ok(t) = std::fs::read_link(e.path()) {
                        self.entries
                            .insert(path, Entry::Symlink(t.to_string_lossy().into_owned()));
                    }
                    continue;
                }
                if !ft.is_file() {
                    continue;
                }
                let exec = e
                    .metadata()
                    .is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
                if wanted(&path) || (exec && is_elf(&e.path())) {
                    self.entries.insert(
                        path,
                        Entry::File {
                            layer,
                            data: Data::Host(e.path()),
                            exec,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// `path` with its symlinks resolved (within the view; absolute targets from the root).
    pub fn resolve(&self, path: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
        let mut hops = 0;
        while let Some(p) = todo.pop() {
            match p.as_str() {
                "" | "." => continue,
                ".." => {
                    parts.pop();
                    continue;
                }
                _ => {}
            }
            parts.push(p);
            let here = parts.join("/");
            if let Some(Entry::Symlink(t)) = self.entries.get(&here) {
                hops += 1;
                if hops > 40 {
                    break;
                }
                parts.pop();
                if t.starts_with('/') {
                    parts.clear();
                }
                for seg in t.split('/').rev() {
                    todo.push(seg.to_owned());
                }
            }
        }
        parts.join("/")
    }

    /// A kept file's bytes (symlinks followed).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        match self.entries.get(&self.resolve(path))? {
            Entry::File {
                data: Data::Bytes(b),
                ..
            } => Some(b.clone()),
            Entry::File {
                data: Data::Host(p),
                ..
            } => std::fs::read(p).ok(),
            Entry::Symlink(_) => None,
        }
    }

    /// The kept files, by path.
    pub fn files(&self) -> impl Iterator<Item = File<'_>> {
        self.entries.iter().filter_map(|(path, e)| match e {
            Entry::File { layer, exec, .. } => Some(File {
                path,
                layer: self
                    .layers
                    .get(*layer)
                    .map(String::as_str)
                    .unwrap_or_default(),
                exec: *exec,
            }),
            Entry::Symlink(_) => None,
        })
    }

    /// The layer id a kept file comes from.
    pub fn layer_of(&self, path: &str) -> Option<&str> {
        match self.entries.get(&self.resolve(path))? {
            Entry::File { layer, .. } => self.layers.get(*layer).map(String::as_str),
            Entry::Symlink(_) => None,
        }
    }
}

fn is_elf(p: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"\x7fELF"
}

fn is_opaque(dir: &Path) -> bool {
    xattr::get(dir, "trusted.overlay.opaque")
        .ok()
        .flatten()
        .is_some_and(|v| v == b"y")
}
