//! `load`: images from a `docker save` archive (manifest.json) or an OCI image layout archive
//! (index.json), compressed or not. Every file of the archive goes through the content store
//! (digest-verified for OCI blobs); each layer's uncompressed digest must match the image
//! config's `rootfs.diff_ids` before anything is recorded; layers are unpacked once, by chain id.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result, io};
use crate::images::{Image, Images};
use crate::reference::Reference;
use crate::snapshot::chain_ids;
use crate::unpack::decompressed;

/// Small metadata files of the archive kept in memory (manifest.json, index.json, …).
const MAX_META: u64 = 16 << 20;

fn fmt_err(msg: impl Into<String>) -> Error {
    Error::Format(msg.into())
}

/// Load every image of the archive `r`; returns the loaded images.
pub fn load(images: &Images, r: impl Read) -> Result<Vec<Image>> {
    let reader = decompressed(r)?;
    let mut files: HashMap<String, Digest> = HashMap::new();
    let mut meta: HashMap<String, Vec<u8>> = HashMap::new();
    let mut ar = tar::Archive::new(reader);
    for e in io(ar.entries(), || "read archive".into())? {
        let mut e = io(e, || "read archive entry".into())?;
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = io(e.path(), || "archive entry path".into())?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if name.ends_with(".json") || name == "oci-layout" || name == "repositories" {
            if e.header().size().unwrap_or(u64::MAX) > MAX_META {
                return Err(fmt_err(format!("{name}: metadata file too large")));
            }
            let mut v = Vec::new();
            io(e.read_to_end(&mut v), || format!("read {name}"))?;
            let d = images.store().ingest_bytes(&v, None)?;
            files.insert(name.clone(), d);
            meta.insert(name, v);
        } else {
            // OCI layout blobs are named by their digest: verify it.
            let expected = name
                .strip_prefix("blobs/sha256/")
                .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok());
            let d = images.store().ingest_from(&mut e, expected.as_ref())?;
            files.insert(name, d);
        }
    }
    let lookup = |name: &str| -> Result<Digest> {
        files
            .get(name.trim_start_matches("./"))
            .cloned()
            .ok_or_else(|| fmt_err(format!("archive lacks {name}")))
    };
    let mut found: Vec<(Digest, Vec<Digest>, Vec<String>)> = Vec::new();
    if let Some(m) = meta.get("manifest.json") {
        let list: Vec<Value> =
            serde_json::from_slice(m).map_err(|e| fmt_err(format!("manifest.json: {e}")))?;
        for item in list {
            let config = lookup(
                item["Config"]
                    .as_str()
                    .ok_or_else(|| fmt_err("manifest.json: Config missing"))?,
            )?;
            let layers = item["Layers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| lookup(l.as_str().unwrap_or_default()))
                .collect::<Result<Vec<_>>>()?;
            let tags = item["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            found.push((config, layers, tags));
        }
    } else if let Some(ix) = meta.get("index.json") {
        let index: Value =
            serde_json::from_slice(ix).map_err(|e| fmt_err(format!("index.json: {e}")))?;
        oci_manifests(images, &index, &mut found)?;
    } else {
        return Err(fmt_err(
            "not an image archive: no manifest.json or index.json",
        ));
    }
    let mut out = Vec::new();
    for (config, layers, tags) in found {
        out.push(commit(images, &config, &layers, &tags)?);
    }
    Ok(out)
}

fn oci_manifests(
    images: &Images,
    index: &Value,
    found: &mut Vec<(Digest, Vec<Digest>, Vec<String>)>,
) -> Result<()> {
    for m in index["manifests"].as_array().into_iter().flatten() {
        let d = Digest::parse(m["digest"].as_str().unwrap_or_default())?;
        let body: Value = serde_json::from_slice(&images.store().read(&d)?)
            .map_err(|e| fmt_err(format!("manifest {d}: {e}")))?;
        let media = m["mediaType"]
            .as_str()
            .or(body["mediaType"].as_str())
            .unwrap_or_default();
        if media.contains("index") || media.contains("manifest.list") {
            oci_manifests(images, &body, found)?;
            continue;
        }
        let config = Digest::parse(body["config"]["digest"].as_str().unwrap_or_default())?;
        let layers = body["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| Digest::parse(l["digest"].as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>>>()?;
        let ann = &m["annotations"];
        let tags = [
            "io.containerd.image.name",
            "org.opencontainers.image.ref.name",
        ]
        .iter()
        .filter_map(|k| ann[*k].as_str())
        .filter(|t| Reference::parse(t).is_ok())
        .take(1)
        .map(str::to_owned)
        .collect();
        found.push((config, layers, tags));
    }
    Ok(())
}

/// Unpack (verified against their diff ids) the layers of one image that are not unpacked yet,
/// in parallel.
pub(crate) fn unpack_layers(
    images: &Images,
    blobs: &[Digest],
    diff_ids: &[Digest],
    chains: &[Digest],
) -> Result<()> {
    let jobs: Vec<(&Digest, &Digest, &Digest)> = blobs
        .iter()
        .zip(diff_ids)
        .zip(chains)
        .map(|((b, w), c)| (b, w, c))
        .filter(|(_, _, c)| !images.layers().has(c))
        .collect();
    let width = std::thread::available_parallelism().map_or(2, |n| n.get());
    for batch in jobs.chunks(width) {
        let results: Vec<Result<PathBuf>> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|(blob, diff, chain)| {
                    s.spawn(move || {
                        images
                            .layers()
                            .ensure(chain, &images.store().path(blob), Some(diff))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(fmt_err("layer unpack panicked")))
                })
                .collect()
        });
        results.into_iter().collect::<Result<Vec<_>>>()?;
    }
    Ok(())
}

/// Verify one image's layers against its config, unpack them, record it and its tags.
fn commit(images: &Images, config: &Digest, layers: &[Digest], tags: &[String]) -> Result<Image> {
    let cfg: Value = serde_json::from_slice(&images.store().read(config)?)
        .map_err(|e| fmt_err(format!("image config {config}: {e}")))?;
    let diff_ids = cfg["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| fmt_err(format!("image config {config}: rootfs.diff_ids missing")))?
        .iter()
        .map(|d| Digest::parse(d.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    if diff_ids.len() != layers.len() {
        return Err(fmt_err(format!(
            "image {config}: {} layers but {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    // Layers are independent: verify and unpack each in one pass, in parallel (one thread per
    // layer, as many at a time as there are CPUs). A layer whose content does not match its
    // diff_id is never committed, and the image is recorded only when all of them are there.
    let chains = chain_ids(&diff_ids);
    unpack_layers(images, layers, &diff_ids, &chains)?;
    let refs = tags
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<Vec<_>>>()?;
    images.record(config, layers, &chains, &refs, None)
}

/// One image to write with [`write_docker_archive`]: its config JSON, its layers as
/// uncompressed tars (bottom first), and its tags.
pub struct ArchiveImage<'a> {
    pub config: &'a [u8],
    pub layers: Vec<&'a [u8]>,
    pub tags: Vec<String>,
}

/// Write images in `docker save`'s format (loadable by `docker load`, `podman load` and
/// [`load`]): `<config hex>.json`, `<diff id hex>/layer.tar`, `manifest.json`, `repositories`.
pub fn write_docker_archive(out: impl std::io::Write, images: &[ArchiveImage]) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut add = |name: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_path(name)
            .map_err(|e| fmt_err(format!("{name}: {e}")))?;
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        io(b.append(&h, data), || format!("write {name}"))
    };
    let mut manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for img in images {
        let config = Digest::of(img.config);
        add(&format!("{}.json", config.hex()), img.config)?;
        let mut layer_names = Vec::new();
        for l in &img.layers {
            let name = format!("{}/layer.tar", Digest::of(l).hex());
            add(&name, l)?;
            layer_names.push(name);
        }
        for t in &img.tags {
            let r = Reference::parse(t)?;
            if let Some(tag) = &r.tag {
                let repo = repositories
                    .entry(r.familiar_name())
                    .or_insert_with(|| Value::Object(Default::default()));
                repo[tag.as_str()] = Value::from(
                    layer_names
                        .last()
                        .map(|n| n.trim_end_matches("/layer.tar"))
                        .unwrap_or_default(),
                );
            }
        }
        manifest.push(serde_json::json!({
            "Config": format!("{}.json", config.hex()),
            "RepoTags": img.tags,
            "Layers": layer_names,
        }));
    }
    add(
        "manifest.json",
        &serde_json::to_vec(&manifest).map_err(|e| fmt_err(e.to_string()))?,
    )?;
    add(
        "repositories",
        &serde_json::to_vec(&repositories).map_err(|e| fmt_err(e.to_string()))?,
    )?;
    io(b.into_inner(), || "finish archive".into()).map(|_| ())
}

/// A layer tar of the directory `dir` (symlinks kept as links, owners as on disk).
pub fn tar_dir(dir: &Path) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    io(b.append_dir_all(".", dir), || {
        format!("archive {}", dir.display())
    })?;
    io(b.into_inner(), || "finish layer".into())
}
