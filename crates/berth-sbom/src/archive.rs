//! An image archive (`docker save`'s format, or an OCI layout in a tar) as a [`View`]: its
//! entries indexed once, then the layers read in the manifest's order straight from the
//! archive (no copy), each attributed to its diff id.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::Error;
use crate::view::View;

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{}: {e}", path.display()))
}

/// The view of the archive's (first) image, and its name (its first tag, else the file's name).
pub fn view(path: &Path) -> Result<(View, String), Error> {
    let mut f = std::fs::File::open(path).map_err(|e| err(path, e))?;
    // Entry name → (offset, size).
    let mut index: HashMap<String, (u64, u64)> = HashMap::new();
    {
        let mut ar = tar::Archive::new(&mut f);
        for e in ar.entries().map_err(|e| err(path, e))? {
            let e = e.map_err(|e| err(path, e))?;
            let name = e
                .path()
                .map_err(|e| err(path, e))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            index.insert(name, (e.raw_file_position(), e.size()));
        }
    }
    let mut read = |name: &str| -> Result<Vec<u8>, Error> {
        let (off, size) = *index
            .get(name)
            .ok_or_else(|| err(path, format!("no {name} in the archive")))?;
        f.seek(SeekFrom::Start(off)).map_err(|e| err(path, e))?;
        let mut b = vec![0u8; usize::try_from(size).map_err(|e| err(path, e))?];
        f.read_exact(&mut b).map_err(|e| err(path, e))?;
        Ok(b)
    };
    let json = |b: &[u8]| -> Result<serde_json::Value, Error> {
        serde_json::from_slice(b).map_err(|e| err(path, e))
    };
    let blob = |d: &str| format!("blobs/{}", d.replacen(':', "/", 1));
    let (config_name, layers, tag): (String, Vec<String>, String) =
        if index.contains_key("manifest.json") {
            let m = json(&read("manifest.json")?)?;
            let first = m
                .get(0)
                .ok_or_else(|| err(path, "manifest.json lists no image"))?;
            let s = |k: &str| {
                first
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let layers = first
                .get("Layers")
                .and_then(|l| l.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let tag = first
                .pointer("/RepoTags/0")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_owned();
            (s("Config"), layers, tag)
        } else if index.contains_key("index.json") {
            let ix = json(&read("index.json")?)?;
            let desc = ix
                .pointer("/manifests/0")
                .ok_or_else(|| err(path, "index.json lists no manifest"))?;
            let tag = desc
                .pointer("/annotations/org.opencontainers.image.ref.name")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_owned();
            let d = desc
                .get("digest")
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            let mut m = json(&read(&blob(d))?)?;
            // An index inside: its first manifest.
            if m.get("manifests").is_some() {
                let d = m
                    .pointer("/manifests/0/digest")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_owned();
                m = json(&read(&blob(&d))?)?;
            }
            let config = m
                .pointer("/config/digest")
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            let layers = m
                .get("layers")
                .and_then(|l| l.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("digest").and_then(|d| d.as_str()).map(&blob))
                        .collect()
                })
                .unwrap_or_default();
            (blob(config), layers, tag)
        } else {
            return Err(err(
                path,
                "neither manifest.json nor index.json: not an image archive",
            ));
        };
    let diff_ids: Vec<String> = read(&config_name)
        .ok()
        .and_then(|c| json(&c).ok())
        .and_then(|c| {
            c.pointer("/rootfs/diff_ids")
                .and_then(|d| d.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
        })
        .unwrap_or_default();
    let mut v = View::default();
    for (i, l) in layers.iter().enumerate() {
        let (off, size) = *index
            .get(l.as_str())
            .ok_or_else(|| err(path, format!("layer {l} is not in the archive")))?;
        f.seek(SeekFrom::Start(off)).map_err(|e| err(path, e))?;
        let id = diff_ids.get(i).cloned().unwrap_or_else(|| l.clone());
        v.add_tar_layer((&mut f).take(size), &id)?;
    }
    let name = if tag.is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        tag
    };
    Ok((v, name))
}
