//! The image index: which images exist (by id = config digest), their layers, and which tags
//! point at them — one JSON file replaced atomically (the engine's SQLite state comes with the
//! daemon). Blobs live in the [`Store`], unpacked layers in [`Layers`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result, io};
use crate::reference::Reference;
use crate::snapshot::Layers;
use crate::store::Store;

/// One image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub layers: Vec<String>,
    pub chain_ids: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: BTreeMap<String, Image>,
    tags: BTreeMap<String, String>,
}

/// An image root: `blobs/`, `layers/`, `images.json`.
pub struct Images {
    root: PathBuf,
    store: Store,
    layers: Layers,
    lock: Mutex<()>,
}

impl Images {
    pub fn open(root: &Path) -> Result<Images> {
        Ok(Images {
            root: root.to_owned(),
            store: Store::open(root)?,
            layers: Layers::open(&root.join("layers"))?,
            lock: Mutex::new(()),
        })
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

    fn read_index(&self) -> Result<Index> {
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

    fn write_index(&self, ix: &Index) -> Result<()> {
        let tmp = self
            .root
            .join(format!(".images.json.{}", std::process::id()));
        let data = serde_json::to_vec_pretty(ix).map_err(|e| Error::Format(e.to_string()))?;
        io(std::fs::write(&tmp, data), || "write images.json".into())?;
        io(std::fs::rename(&tmp, self.index_path()), || {
            "commit images.json".into()
        })
    }

    /// Record an image and point `tags` at it (moving them from any other image).
    pub fn record(
        &self,
        config: &Digest,
        layers: &[Digest],
        chains: &[Digest],
        tags: &[Reference],
    ) -> Result<Image> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut ix = self.read_index()?;
        let id = config.to_string();
        for t in tags {
            let name = t.to_string();
            if let Some(old) = ix.tags.insert(name.clone(), id.clone()) {
                if let Some(img) = ix.images.get_mut(&old) {
                    img.tags.retain(|x| *x != name);
                }
            }
        }
        let img = ix.images.entry(id.clone()).or_insert_with(|| Image {
            id: id.clone(),
            layers: layers.iter().map(Digest::to_string).collect(),
            chain_ids: chains.iter().map(Digest::to_string).collect(),
            tags: Vec::new(),
        });
        for t in tags {
            let name = t.to_string();
            if !img.tags.contains(&name) {
                img.tags.push(name);
            }
        }
        let out = img.clone();
        self.write_index(&ix)?;
        Ok(out)
    }

    /// All images.
    pub fn list(&self) -> Result<Vec<Image>> {
        Ok(self.read_index()?.images.into_values().collect())
    }

    /// The image a reference or id points at.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let ix = self.read_index()?;
        let id = if let Ok(r) = Reference::parse(name) {
            ix.tags.get(&r.to_string()).cloned()
        } else {
            None
        };
        let id = id.or_else(|| {
            ix.images
                .keys()
                .find(|k| k.as_str() == name || k.trim_start_matches("sha256:").starts_with(name))
                .cloned()
        });
        id.and_then(|i| ix.images.get(&i).cloned())
            .ok_or_else(|| Error::NoSuchImage(name.to_owned()))
    }
}
