//! The image index: which images exist (by id = config digest), their layers, which tags and
//! registry digests point at them — one JSON file, changed under an exclusive file lock and
//! replaced atomically, so concurrent `berth` processes never lose each other's updates (the
//! engine's SQLite state comes with the daemon). Blobs live in the [`Store`], unpacked layers in
//! [`Layers`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result, io};
use crate::reference::Reference;
use crate::snapshot::Layers;
use crate::store::Store;

/// One image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The config blob's digest.
    pub id: String,
    /// Layer blobs as stored (compressed or not), bottom first.
    pub layers: Vec<String>,
    pub chain_ids: Vec<String>,
    /// Familiar references (`busybox:latest`, `127.0.0.1:5000/app:v1`).
    pub tags: Vec<String>,
    /// `name@sha256:…` of the manifests this image was pulled by or pushed as.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Unpacked size of all layers, in bytes.
    #[serde(default)]
    pub size: u64,
    /// The image this one was built on by a build step (`Parent` in inspect); an untagged
    /// image that is some image's parent is an intermediate one, not dangling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Made by `commit` (its parent is the container's image): untagged, it is dangling,
    /// not a build's intermediate image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub committed: bool,
}

impl Image {
    pub fn digest(&self) -> Result<Digest> {
        Digest::parse(&self.id)
    }

    /// The id without `sha256:`, cut to 12 characters as Docker shows it.
    pub fn short_id(&self) -> &str {
        let hex = self.id.trim_start_matches("sha256:");
        &hex[..hex.len().min(12)]
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Index {
    pub(crate) images: BTreeMap<String, Image>,
    tags: BTreeMap<String, String>,
    /// Uncompressed layer blob → its gzip-compressed blob (made once for `push`).
    #[serde(default)]
    compressed: BTreeMap<String, String>,
    /// Manifest digest → the image it is a manifest of and its signatures.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) signatures: BTreeMap<String, crate::signatures::SignedManifest>,
}

/// A file's identity: size, mtime (seconds, nanoseconds), inode.
type FileStamp = (u64, i64, i64, u64);

/// An image root: `blobs/`, `layers/`, `images.json`.
pub struct Images {
    root: PathBuf,
    store: Store,
    layers: Layers,
    /// The index as last read, with the file's identity then (size, mtime, inode): read again
    /// only when another writer (or process) replaced it.
    cached: std::sync::Mutex<Option<(FileStamp, Index)>>,
}

/// What [`Images::remove`] did, in Docker's terms.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
}

impl Images {
    pub fn open(root: &Path) -> Result<Images> {
        Ok(Images {
            root: root.to_owned(),
            store: Store::open(root)?,
            layers: Layers::open(&root.join("layers"))?,
            cached: std::sync::Mutex::new(None),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    pub(crate) fn read_index(&self) -> Result<Index> {
        use std::os::unix::fs::MetadataExt;
        let stamp = std::fs::metadata(self.index_path())
            .ok()
            .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
        if let (Some(st), Ok(g)) = (stamp, self.cached.lock()) {
            if let Some((s, ix)) = g.as_ref().filter(|(s, _)| *s == st) {
                let _ = s;
                return Ok(ix.clone());
            }
        }
        let ix = self.read_index_file()?;
        if let (Some(st), Ok(mut g)) = (stamp, self.cached.lock()) {
            *g = Some((st, ix.clone()));
        }
        Ok(ix)
    }

    fn read_index_file(&self) -> Result<Index> {
        match std::fs::read(self.index_path()) {
            Ok(d) => {
                serde_json::from_slice(&d).map_err(|e| Error::Format(format!("images.json: {e}")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(Error::Io {
                ctx: "read images.json".into(),
                source: e,
            }),
        }
    }

    /// Run `f` on the index under the exclusive lock; the index is written back (atomically)
    /// only if `f` succeeds.
    pub(crate) fn change<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let lockf = io(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(self.root.join("images.lock")),
            || "open images.lock".into(),
        )?;
        let _lock = nix::fcntl::Flock::lock(lockf, nix::fcntl::FlockArg::LockExclusive).map_err(
            |(_, e)| Error::Io {
                ctx: "lock images.lock".into(),
                source: e.into(),
            },
        )?;
        let mut ix = self.read_index()?;
        let out = f(&mut ix)?;
        let tmp = self
            .root
            .join(format!(".images.json.{}", std::process::id()));
        let data = serde_json::to_vec_pretty(&ix).map_err(|e| Error::Format(e.to_string()))?;
        io(std::fs::write(&tmp, data), || "write images.json".into())?;
        io(std::fs::rename(&tmp, self.index_path()), || {
            "commit images.json".into()
        })?;
        // Our own write: the cache holds what was written, under the new file's identity.
        if let (Ok(m), Ok(mut g)) = (std::fs::metadata(self.index_path()), self.cached.lock()) {
            use std::os::unix::fs::MetadataExt;
            *g = Some(((m.len(), m.mtime(), m.mtime_nsec(), m.ino()), ix.clone()));
        }
        Ok(out)
    }

    /// Record an image (its blobs and unpacked layers must be in place) and point `tags` at it,
    /// moving them from any other image; `repo_digest` is the `name@digest` it came by, if any.
    pub fn record(
        &self,
        config: &Digest,
        layers: &[Digest],
        chains: &[Digest],
        tags: &[Reference],
        repo_digest: Option<&Reference>,
    ) -> Result<Image> {
        self.record_with(config, layers, chains, tags, repo_digest, None)
    }

    /// [`Images::record`] of an untagged image a build step made on `parent`.
    pub fn record_child(
        &self,
        config: &Digest,
        layers: &[Digest],
        chains: &[Digest],
        parent: Option<&str>,
    ) -> Result<Image> {
        self.record_with(config, layers, chains, &[], None, parent)
    }

    /// A committed image: tags, and the image the container ran (its parent).
    pub fn record_commit(
        &self,
        config: &Digest,
        layers: &[Digest],
        chains: &[Digest],
        tags: &[Reference],
        parent: &str,
    ) -> Result<Image> {
        let img = self.record_with(config, layers, chains, tags, None, Some(parent))?;
        self.change(|ix| {
            let i = ix
                .images
                .get_mut(&img.id)
                .ok_or_else(|| Error::NoSuchImage(img.id.clone()))?;
            i.committed = true;
            Ok(i.clone())
        })
    }

    fn record_with(
        &self,
        config: &Digest,
        layers: &[Digest],
        chains: &[Digest],
        tags: &[Reference],
        repo_digest: Option<&Reference>,
        parent: Option<&str>,
    ) -> Result<Image> {
        let size = chains.iter().map(|c| self.layers.size(c)).sum();
        self.change(|ix| {
            let id = config.to_string();
            for t in tags {
                point_tag(ix, &t.to_string(), &id);
            }
            let img = ix.images.entry(id.clone()).or_insert_with(|| Image {
                id: id.clone(),
                layers: layers.iter().map(Digest::to_string).collect(),
                chain_ids: chains.iter().map(Digest::to_string).collect(),
                tags: Vec::new(),
                repo_digests: Vec::new(),
                size,
                parent: parent.filter(|p| *p != id).map(str::to_owned),
                committed: false,
            });
            for t in tags {
                let name = t.to_string();
                if !img.tags.contains(&name) {
                    img.tags.push(name);
                }
            }
            if let Some(rd) = repo_digest {
                add_repo_digest(img, rd);
            }
            Ok(img.clone())
        })
    }

    /// Note that image `id` is known to a registry as `rd` (`name@digest`).
    pub fn add_repo_digest(&self, id: &str, rd: &Reference) -> Result<()> {
        self.change(|ix| {
            let img = ix
                .images
                .get_mut(id)
                .ok_or_else(|| Error::NoSuchImage(id.to_owned()))?;
            add_repo_digest(img, rd);
            Ok(())
        })
    }

    /// Point the tag `target` at the image `source` names (`docker tag`).
    pub fn tag(&self, source: &str, target: &Reference) -> Result<Image> {
        if target.digest.is_some() {
            return Err(Error::Reference(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let img = self.resolve(source)?;
        self.change(|ix| {
            point_tag(ix, &target.to_string(), &img.id);
            let i = ix
                .images
                .get_mut(&img.id)
                .ok_or_else(|| Error::NoSuchImage(source.to_owned()))?;
            let name = target.to_string();
            if !i.tags.contains(&name) {
                i.tags.push(name);
            }
            Ok(i.clone())
        })
    }

    /// `docker rmi NAME`: a tag (or repo digest) is removed; the image itself is deleted when
    /// nothing names it any more, or when it is named by id (with `force` if several tags point
    /// at it). `in_use` names a container using an image id, if any (the image is then not
    /// deleted unless `force`).
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Removed> {
        let img = self.resolve(name)?;
        let by_ref = Reference::parse(name)
            .ok()
            .filter(|r| {
                let s = r.to_string();
                img.tags.contains(&s) || img.repo_digests.contains(&s)
            })
            .map(|r| r.to_string());
        self.change(|ix| {
            let mut out = Removed::default();
            let Some(cur) = ix.images.get(&img.id).cloned() else {
                return Err(Error::NoSuchImage(name.to_owned()));
            };
            let delete = match &by_ref {
                Some(r) => {
                    if cur.tags.iter().any(|t| t != r) {
                        // Only this name goes.
                        untag(ix, &img.id, r);
                        out.untagged.push(r.clone());
                        return Ok(out);
                    }
                    true
                }
                None => {
                    if cur.tags.len() > 1 && !force {
                        return Err(Error::Conflict(format!(
                            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            img.short_id()
                        )));
                    }
                    true
                }
            };
            if delete {
                if let Some(c) = in_use(&img.id).filter(|_| !force) {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {c} is using its referenced image {}",
                        img.short_id()
                    )));
                }
                for t in cur.tags.iter().chain(&cur.repo_digests) {
                    out.untagged.push(t.clone());
                    ix.tags.remove(t);
                }
                ix.images.remove(&img.id);
                ix.signatures.retain(|_, s| s.image != img.id);
                out.deleted.push(img.id.clone());
            }
            Ok(out)
        })
    }

    /// Remember that the uncompressed blob `plain` compresses (gzip) to `gz`.
    pub fn set_compressed(&self, plain: &Digest, gz: &Digest) -> Result<()> {
        self.change(|ix| {
            ix.compressed.insert(plain.to_string(), gz.to_string());
            Ok(())
        })
    }

    /// The gzip blob made earlier from `plain`, if it is still in the store.
    pub fn compressed(&self, plain: &Digest) -> Result<Option<Digest>> {
        let ix = self.read_index()?;
        Ok(ix
            .compressed
            .get(&plain.to_string())
            .and_then(|d| Digest::parse(d).ok())
            .filter(|d| self.store.has(d)))
    }

    /// All images.
    pub fn list(&self) -> Result<Vec<Image>> {
        Ok(self.read_index()?.images.into_values().collect())
    }

    /// An image's config, parsed.
    pub fn config(&self, img: &Image) -> Result<Value> {
        let d = img.digest()?;
        serde_json::from_slice(&self.store.read(&d)?)
            .map_err(|e| Error::Format(format!("image config {d}: {e}")))
    }

    /// An image's config as a typed document.
    pub fn config_as<T: serde::de::DeserializeOwned>(&self, img: &Image) -> Result<T> {
        let d = img.digest()?;
        serde_json::from_slice(&self.store.read(&d)?)
            .map_err(|e| Error::Format(format!("image config {d}: {e}")))
    }

    /// The image a reference, an id, an id prefix or a `name@digest` points at.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let ix = self.read_index()?;
        let by_ref = Reference::parse(name).ok().and_then(|r| {
            let s = r.to_string();
            ix.tags.get(&s).cloned().or_else(|| {
                ix.images
                    .values()
                    .find(|i| i.repo_digests.contains(&s))
                    .map(|i| i.id.clone())
            })
        });
        let id = by_ref.or_else(|| {
            let hex = name.strip_prefix("sha256:").unwrap_or(name);
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let mut m = ix
                .images
                .keys()
                .filter(|k| k.trim_start_matches("sha256:").starts_with(hex));
            match (m.next(), m.next()) {
                (Some(one), None) => Some(one.clone()),
                _ => None,
            }
        });
        id.and_then(|i| ix.images.get(&i).cloned())
            .ok_or_else(|| Error::NoSuchImage(name.to_owned()))
    }

    /// A consistency check: corrupt blobs, images whose config, layer blobs or unpacked layers
    /// are missing, tags that point at no image. Empty when all is well.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems: Vec<String> = self
            .store
            .verify()?
            .into_iter()
            .map(|d| format!("blob {d} does not match its digest"))
            .collect();
        let ix = self.read_index()?;
        for img in ix.images.values() {
            let mut need = vec![img.id.clone()];
            need.extend(img.layers.iter().cloned());
            for b in need {
                if !self.store.has(&Digest::parse(&b)?) {
                    problems.push(format!("image {}: blob {b} missing", img.id));
                }
            }
            for c in &img.chain_ids {
                if !self.layers.has(&Digest::parse(c)?) {
                    problems.push(format!("image {}: layer {c} not unpacked", img.id));
                }
            }
        }
        for (t, id) in &ix.tags {
            if !ix.images.contains_key(id) {
                problems.push(format!("tag {t} points at missing image {id}"));
            }
        }
        Ok(problems)
    }

    /// Remove blobs and unpacked layers no image refers to (and leftovers of interrupted
    /// writes). Returns how many bytes of blobs were freed.
    pub fn gc(&self) -> Result<u64> {
        self.change(|ix| {
            let mut keep: HashSet<Digest> = HashSet::new();
            let mut chains: HashSet<String> = HashSet::new();
            for img in ix.images.values() {
                keep.insert(img.digest()?);
                for l in &img.layers {
                    let d = Digest::parse(l)?;
                    if let Some(gz) = ix.compressed.get(l) {
                        keep.insert(Digest::parse(gz)?);
                    }
                    keep.insert(d);
                }
                for rd in &img.repo_digests {
                    if let Some(d) = Reference::parse(rd).ok().and_then(|r| r.digest) {
                        keep.insert(d);
                    }
                }
                chains.extend(img.chain_ids.iter().cloned());
            }
            // Manifests made for signing (what push will send) stay with their signatures.
            for d in ix.signatures.keys() {
                keep.insert(Digest::parse(d)?);
            }
            ix.compressed.retain(|plain, _| {
                keep.contains(&Digest::parse(plain).unwrap_or_else(|_| Digest::of(b"")))
            });
            let mut freed = 0;
            for d in self.store.list() {
                if !keep.contains(&d) {
                    freed += std::fs::metadata(self.store.path(&d)).map_or(0, |m| m.len());
                }
            }
            self.store.gc(&keep)?;
            self.layers.gc(&chains)?;
            Ok(freed)
        })
    }
}

fn point_tag(ix: &mut Index, name: &str, id: &str) {
    if let Some(old) = ix.tags.insert(name.to_owned(), id.to_owned()) {
        if old != id {
            if let Some(img) = ix.images.get_mut(&old) {
                img.tags.retain(|x| x != name);
            }
        }
    }
}

fn untag(ix: &mut Index, id: &str, name: &str) {
    ix.tags.remove(name);
    if let Some(img) = ix.images.get_mut(id) {
        img.tags.retain(|x| x != name);
        img.repo_digests.retain(|x| x != name);
    }
}

fn add_repo_digest(img: &mut Image, rd: &Reference) {
    let s = Reference {
        tag: None,
        ..rd.clone()
    }
    .to_string();
    // One digest per repository, as Docker keeps it.
    let repo = s.split('@').next().unwrap_or_default().to_owned();
    img.repo_digests
        .retain(|x| x.split('@').next().unwrap_or_default() != repo);
    img.repo_digests.push(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(images: &Images, tags: &[&str]) -> Image {
        let layer = b"not really a layer";
        let blob = images.store().ingest_bytes(layer, None).expect("blob");
        let config = images
            .store()
            .ingest_bytes(format!("{{\"n\":{}}}", tags.len()).as_bytes(), None)
            .expect("config");
        let refs: Vec<Reference> = tags
            .iter()
            .map(|t| Reference::parse(t).expect("ref"))
            .collect();
        images
            .record(
                &config,
                std::slice::from_ref(&blob),
                std::slice::from_ref(&blob),
                &refs,
                None,
            )
            .expect("record")
    }

    #[test]
    fn rmi_follows_dockers_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = Images::open(dir.path()).expect("open");
        let img = image(&images, &["a:1", "b:2"]);
        let none = |_: &str| None;
        // A tag of an image with other tags: only the tag goes.
        let r = images.remove("a:1", false, &none).expect("untag");
        assert_eq!((r.untagged, r.deleted), (vec!["a:1".to_owned()], vec![]));
        images
            .tag("b:2", &Reference::parse("c:3").expect("ref"))
            .expect("tag");
        // By id with several tags: refused without force.
        let e = images
            .remove(img.short_id(), false, &none)
            .expect_err("must force");
        assert!(e.to_string().contains("must be forced"), "{e}");
        // In use by a container: untagging one of two tags is fine; the last tag is refused
        // without force, naming the container.
        let used = |_: &str| Some("4f2a1b".to_owned());
        images
            .remove("b:2", false, &used)
            .expect("untag one of two");
        let e = images
            .remove("c:3", false, &used)
            .expect_err("last tag of a used image");
        assert!(
            e.to_string()
                .contains("container 4f2a1b is using its referenced image"),
            "{e}"
        );
        let r = images.remove("c:3", true, &used).expect("forced");
        assert_eq!(r.deleted, vec![img.id.clone()]);
        assert!(images.list().expect("list").is_empty());
        assert!(matches!(
            images.remove("c:3", true, &none),
            Err(Error::NoSuchImage(_))
        ));
    }
}
