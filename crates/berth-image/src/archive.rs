//! `load`: images from a `docker save` archive (manifest.json) or an OCI image layout archive
//! (index.json), compressed or not. Every file of the archive goes through the content store
//! (digest-verified for OCI blobs); each layer's uncompressed digest must match the image
//! config's `rootfs.diff_ids` before anything is recorded; layers are unpacked once, by chain id.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Digest as _;

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

/// Load every image of the archive `r`; returns the loaded images, each with the names the
/// archive gave it.
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
    if let Some(data) = meta.get(crate::signatures::ARCHIVE_FILE) {
        load_signatures(images, data, &out)?;
    }
    Ok(out)
}

/// Keep the signatures an archive carries for the images it loaded, each only when the
/// archive's manifests tie the signed manifest to that image.
fn load_signatures(images: &Images, data: &[u8], loaded: &[Image]) -> Result<()> {
    use crate::signatures::{ArchivedSignatures, describes};
    use base64::Engine as _;
    let list: Vec<ArchivedSignatures> = serde_json::from_slice(data)
        .map_err(|e| fmt_err(format!("{}: {e}", crate::signatures::ARCHIVE_FILE)))?;
    for a in list {
        if !loaded.iter().any(|i| i.id == a.image) {
            continue;
        }
        let mut blobs: HashMap<Digest, Vec<u8>> = HashMap::new();
        for (d, b64) in &a.manifests {
            if let (Ok(d), Ok(b)) = (
                Digest::parse(d),
                base64::engine::general_purpose::STANDARD.decode(b64),
            ) {
                blobs.insert(d, b);
            }
        }
        let Ok(top) = Digest::parse(&a.manifest) else {
            continue;
        };
        if !describes(&|d| blobs.get(d).cloned(), &top, &a.image) {
            continue;
        }
        for (d, b) in &blobs {
            if Digest::of(b) == *d {
                images.store().ingest_bytes(b, Some(d))?;
            }
        }
        images.add_signatures(&top, &a.image, &a.signatures)?;
    }
    Ok(())
}

/// The signatures of the saved images, with the manifests that tie them to the images.
fn saved_signatures(
    images: &Images,
    items: &[(Image, Vec<Reference>)],
) -> Result<Vec<crate::signatures::ArchivedSignatures>> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (img, _) in items {
        if !seen.insert(img.id.clone()) {
            continue;
        }
        for (d, sigs) in images.signatures_of(&img.id)? {
            let Ok(body) = images.store().read(&d) else {
                continue;
            };
            let mut manifests = std::collections::BTreeMap::new();
            if let Ok(ix) = serde_json::from_slice::<Value>(&body) {
                for m in ix["manifests"].as_array().into_iter().flatten() {
                    if let Some(c) = m["digest"].as_str().and_then(|x| Digest::parse(x).ok()) {
                        if let Ok(b) = images.store().read(&c) {
                            manifests.insert(c.to_string(), b64(&b));
                        }
                    }
                }
            }
            manifests.insert(d.to_string(), b64(&body));
            out.push(crate::signatures::ArchivedSignatures {
                image: img.id.clone(),
                manifest: d.to_string(),
                manifests,
                signatures: sigs,
            });
        }
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
    let mut img = images.record(config, layers, &chains, &refs, None)?;
    // What the archive named (the store may hold more names for the same image).
    img.tags = refs.iter().map(Reference::to_string).collect();
    Ok(img)
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
        let refs = img
            .tags
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>>>()?;
        add_repositories(&mut repositories, &refs, layer_names.last());
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

/// The legacy `repositories` file of a docker archive: repository → tag → top layer's dir.
fn add_repositories(
    repositories: &mut serde_json::Map<String, Value>,
    tags: &[Reference],
    top_layer: Option<&String>,
) {
    for t in tags {
        if let Some(tag) = &t.tag {
            let repo = repositories
                .entry(t.familiar_name())
                .or_insert_with(|| Value::Object(Default::default()));
            repo[tag.as_str()] = Value::from(
                top_layer
                    .map(|n| n.trim_end_matches("/layer.tar"))
                    .unwrap_or_default(),
            );
        }
    }
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

/// Formats `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// `docker save`'s: `manifest.json`, `<config>.json`, `<diff id>/layer.tar` (uncompressed).
    Docker,
    /// An OCI image layout in a tar: `oci-layout`, `index.json`, `blobs/sha256/…`.
    Oci,
}

/// Write `items` (images with the names to record for them) from the store to `out`, streaming
/// blobs from disk (compressed layers of a Docker archive are decompressed through a temporary
/// file, since a tar header needs the size first).
pub fn save(
    images: &Images,
    items: &[(Image, Vec<Reference>)],
    format: SaveFormat,
    out: impl std::io::Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut written = std::collections::HashSet::new();
    let add_file = |b: &mut tar::Builder<_>, name: &str, path: &Path| -> Result<()> {
        let f = io(std::fs::File::open(path), || {
            format!("open {}", path.display())
        })?;
        let len = io(f.metadata(), || format!("stat {}", path.display()))?.len();
        let mut h = tar::Header::new_gnu();
        h.set_path(name)
            .map_err(|e| fmt_err(format!("{name}: {e}")))?;
        h.set_size(len);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        io(b.append(&h, f), || format!("write {name}"))
    };
    let add_bytes = |b: &mut tar::Builder<_>, name: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_path(name)
            .map_err(|e| fmt_err(format!("{name}: {e}")))?;
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        io(b.append(&h, data), || format!("write {name}"))
    };
    match format {
        SaveFormat::Docker => {
            let mut manifest = Vec::new();
            let mut repositories = serde_json::Map::new();
            for (img, tags) in items {
                let config = img.digest()?;
                let cfg = images.config(img)?;
                let config_name = format!("{}.json", config.hex());
                if written.insert(config_name.clone()) {
                    add_file(&mut b, &config_name, &images.store().path(&config))?;
                }
                let diff_ids: Vec<Digest> = cfg["rootfs"]["diff_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| Digest::parse(d.as_str().unwrap_or_default()))
                    .collect::<Result<_>>()?;
                let mut names = Vec::new();
                for (blob, diff) in img.layers.iter().zip(&diff_ids) {
                    let name = format!("{}/layer.tar", diff.hex());
                    if written.insert(name.clone()) {
                        let blob = Digest::parse(blob)?;
                        let path = images.store().path(&blob);
                        if is_compressed(&path)? {
                            let tmp = images.root().join("ingest").join(format!(
                                "{}-save-{}",
                                std::process::id(),
                                diff.hex()
                            ));
                            let res = (|| {
                                let f = io(std::fs::File::open(&path), || format!("open {blob}"))?;
                                let mut r = decompressed(f)?;
                                let mut t = io(std::fs::File::create(&tmp), || {
                                    format!("create {}", tmp.display())
                                })?;
                                io(std::io::copy(&mut r, &mut t), || {
                                    format!("decompress {blob}")
                                })?;
                                add_file(&mut b, &name, &tmp)
                            })();
                            let _ = std::fs::remove_file(&tmp);
                            res?;
                        } else {
                            add_file(&mut b, &name, &path)?;
                        }
                    }
                    names.push(name);
                }
                let tag_names: Vec<String> = tags.iter().map(Reference::to_string).collect();
                add_repositories(&mut repositories, tags, names.last());
                manifest.push(serde_json::json!({
                    "Config": config_name,
                    "RepoTags": tag_names,
                    "Layers": names,
                }));
            }
            let m = serde_json::to_vec(&manifest).map_err(|e| fmt_err(e.to_string()))?;
            add_bytes(&mut b, "manifest.json", &m)?;
            let r = serde_json::to_vec(&repositories).map_err(|e| fmt_err(e.to_string()))?;
            add_bytes(&mut b, "repositories", &r)?;
        }
        SaveFormat::Oci => {
            add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
            let mut entries = Vec::new();
            for (img, tags) in items {
                let config = img.digest()?;
                let mut layers = Vec::new();
                let mut blobs = vec![config.clone()];
                for l in &img.layers {
                    let d = Digest::parse(l)?;
                    let path = images.store().path(&d);
                    let mut head = [0u8; 8];
                    let n = io(
                        std::fs::File::open(&path).and_then(|mut f| f.read(&mut head)),
                        || format!("read {d}"),
                    )?;
                    let size = io(std::fs::metadata(&path), || format!("stat {d}"))?.len();
                    layers.push((
                        d.clone(),
                        size,
                        crate::registry::layer_media_type(&head[..n], true),
                    ));
                    blobs.push(d);
                }
                let config_size = io(std::fs::metadata(images.store().path(&config)), || {
                    format!("stat {config}")
                })?
                .len();
                let body = crate::registry::manifest(&config, config_size, &layers, true)?;
                let md = Digest::of(&body);
                for d in blobs {
                    let name = format!("blobs/sha256/{}", d.hex());
                    if written.insert(name.clone()) {
                        add_file(&mut b, &name, &images.store().path(&d))?;
                    }
                }
                let name = format!("blobs/sha256/{}", md.hex());
                if written.insert(name.clone()) {
                    add_bytes(&mut b, &name, &body)?;
                }
                let entry = |ann: Value| {
                    serde_json::json!({
                        "mediaType": crate::registry::OCI_MANIFEST,
                        "digest": md.to_string(),
                        "size": body.len(),
                        "annotations": ann,
                    })
                };
                if tags.is_empty() {
                    entries.push(entry(Value::Object(Default::default())));
                }
                for t in tags {
                    let full = format!(
                        "{}/{}:{}",
                        t.registry,
                        t.repository,
                        t.tag.as_deref().unwrap_or("latest")
                    );
                    entries.push(entry(serde_json::json!({
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": t.tag.as_deref().unwrap_or("latest"),
                    })));
                }
            }
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": crate::registry::OCI_INDEX,
                "manifests": entries,
            });
            let ix = serde_json::to_vec(&index).map_err(|e| fmt_err(e.to_string()))?;
            add_bytes(&mut b, "index.json", &ix)?;
        }
    }
    let sigs = saved_signatures(images, items)?;
    if !sigs.is_empty() {
        let data = serde_json::to_vec(&sigs).map_err(|e| fmt_err(e.to_string()))?;
        add_bytes(&mut b, crate::signatures::ARCHIVE_FILE, &data)?;
    }
    io(b.into_inner(), || "finish archive".into()).map(|_| ())
}

fn is_compressed(path: &Path) -> Result<bool> {
    let mut head = [0u8; 8];
    let n = io(
        std::fs::File::open(path).and_then(|mut f| f.read(&mut head)),
        || format!("read {}", path.display()),
    )?;
    Ok(crate::unpack::detect(&head[..n]) != crate::unpack::Compression::None)
}

/// Apply Dockerfile-style `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER,
/// VOLUME, WORKDIR, STOPSIGNAL, ONBUILD) to an image's `config` object, as `docker import` and
/// `docker commit` do.
pub fn apply_changes(config: &mut Value, changes: &[String]) -> Result<()> {
    if !config.is_object() {
        *config = Value::Object(Default::default());
    }
    for c in changes {
        let c = c.trim();
        let (instr, rest) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
        let rest = rest.trim();
        let bad = || fmt_err(format!("dockerfile parse error: {c:?}: invalid change"));
        // JSON form, else the shell form (`/bin/sh -c …`).
        let exec_form = |s: &str| -> Value {
            match serde_json::from_str::<Vec<String>>(s) {
                Ok(v) => Value::from(v),
                Err(_) => Value::from(vec!["/bin/sh".to_owned(), "-c".to_owned(), s.to_owned()]),
            }
        };
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => config["Cmd"] = exec_form(rest),
            "ENTRYPOINT" => config["Entrypoint"] = exec_form(rest),
            "USER" if !rest.is_empty() => config["User"] = Value::from(rest),
            "WORKDIR" if !rest.is_empty() => config["WorkingDir"] = Value::from(rest),
            "STOPSIGNAL" if !rest.is_empty() => config["StopSignal"] = Value::from(rest),
            "ONBUILD" if !rest.is_empty() => {
                push_to(config, "OnBuild", Value::from(rest));
            }
            "ENV" | "LABEL" => {
                let pairs = key_values(rest).ok_or_else(bad)?;
                for (k, v) in pairs {
                    if instr.eq_ignore_ascii_case("ENV") {
                        let env = config["Env"].as_array().cloned().unwrap_or_default();
                        let mut env: Vec<Value> = env
                            .into_iter()
                            .filter(|e| {
                                e.as_str().and_then(|s| s.split_once('=')).map(|x| x.0)
                                    != Some(k.as_str())
                            })
                            .collect();
                        env.push(Value::from(format!("{k}={v}")));
                        config["Env"] = Value::from(env);
                    } else {
                        if !config["Labels"].is_object() {
                            config["Labels"] = Value::Object(Default::default());
                        }
                        config["Labels"][k.as_str()] = Value::from(v);
                    }
                }
            }
            "EXPOSE" if !rest.is_empty() => {
                if !config["ExposedPorts"].is_object() {
                    config["ExposedPorts"] = Value::Object(Default::default());
                }
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_owned()
                    } else {
                        format!("{p}/tcp")
                    };
                    config["ExposedPorts"][p.as_str()] = Value::Object(Default::default());
                }
            }
            "VOLUME" if !rest.is_empty() => {
                if !config["Volumes"].is_object() {
                    config["Volumes"] = Value::Object(Default::default());
                }
                let vols = match serde_json::from_str::<Vec<String>>(rest) {
                    Ok(v) => v,
                    Err(_) => rest.split_whitespace().map(str::to_owned).collect(),
                };
                for v in vols {
                    config["Volumes"][v.as_str()] = Value::Object(Default::default());
                }
            }
            other => {
                return Err(fmt_err(format!("{other} is not a valid change command")));
            }
        }
    }
    Ok(())
}

fn push_to(config: &mut Value, key: &str, v: Value) {
    let mut a = config[key].as_array().cloned().unwrap_or_default();
    a.push(v);
    config[key] = Value::from(a);
}

/// `k=v k2="v 2"` or the legacy `k v`.
fn key_values(s: &str) -> Option<Vec<(String, String)>> {
    if !s.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut k = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            k.push(c);
        }
        if k.is_empty() || k.contains(char::is_whitespace) {
            return None;
        }
        let mut v = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    chars.next();
                    if let Some(n) = chars.next() {
                        v.push(n);
                    }
                    continue;
                }
                (_, c) => v.push(c),
            }
            chars.next();
        }
        out.push((k, v));
    }
    Some(out)
}

/// `docker import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image
/// with `changes` applied; `comment` goes into its history (Docker: "Imported from -").
pub fn import(
    images: &Images,
    r: impl Read,
    tag: Option<&Reference>,
    changes: &[String],
    comment: &str,
    platform: (&str, &str),
    created: &str,
) -> Result<Image> {
    let blob = images.store().ingest_from(r, None)?;
    let diff_id = {
        let f = io(std::fs::File::open(images.store().path(&blob)), || {
            format!("open {blob}")
        })?;
        let mut rd = decompressed(f)?;
        let mut h = sha2::Sha256::new();
        io(std::io::copy(&mut rd, &mut h), || "read the tarball".into())?;
        Digest::from_hasher(h)
    };
    let mut config = Value::Object(Default::default());
    apply_changes(&mut config, changes)?;
    let mut cfg = serde_json::json!({
        "architecture": platform.1,
        "os": platform.0,
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": created, "created_by": "", "comment": comment}],
    });
    if config_is_empty(&cfg["config"]) {
        cfg["config"] = Value::Object(Default::default());
    }
    let data = serde_json::to_vec(&cfg).map_err(|e| fmt_err(e.to_string()))?;
    let config_digest = images.store().ingest_bytes(&data, None)?;
    let chains = chain_ids(std::slice::from_ref(&diff_id));
    unpack_layers(
        images,
        std::slice::from_ref(&blob),
        std::slice::from_ref(&diff_id),
        &chains,
    )?;
    let tags: Vec<Reference> = tag.cloned().into_iter().collect();
    images.record(&config_digest, &[blob], &chains, &tags, None)
}

fn config_is_empty(v: &Value) -> bool {
    v.as_object().is_none_or(|o| o.is_empty())
}
