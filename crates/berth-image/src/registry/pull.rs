//! Pull: manifests, platform selection, blobs into the content store, unpack.

use std::time::Duration;

use futures_util::StreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use serde_json::Value;

use super::*;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images::Images;
use crate::reference::{DEFAULT_REGISTRY, Reference};
use crate::snapshot::chain_ids;

/// Options of a pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub platform: Option<Platform>,
    pub credentials: Credentials,
    pub settings: Settings,
    /// Decides on the manifest's signatures before anything is stored (the signature policy).
    pub check: Option<SignatureCheck>,
}

/// Pull `r` into `images`.
pub async fn pull(
    images: &Images,
    r: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled> {
    // Docker Hub goes through the mirrors first, then to the Hub itself.
    let mut hosts: Vec<(String, bool)> = Vec::new();
    if r.registry == DEFAULT_REGISTRY {
        for m in &opts.settings.mirrors {
            let h = m
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            hosts.push((h.to_owned(), true));
        }
    }
    hosts.push((api_host(&r.registry).to_owned(), false));
    let mut last = None;
    for (host, mirror) in &hosts {
        match pull_from(images, r, host, opts, progress).await {
            Ok(p) => return Ok(p),
            // A mirror that fails is skipped, as Docker does.
            Err(e) if *mirror => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| reg_err("no registry to pull from")))
}

async fn pull_from(
    images: &Images,
    r: &Reference,
    host: &str,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let client = client_for(&opts.settings, host);
    let auth = registry_auth(&opts.credentials);
    let oref = oci_ref(host, r, None);
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    let (body, _) = with_retry(|| client.pull_manifest_raw(&oref, &auth, ACCEPT))
        .await
        .map_err(|e| {
            if not_found(&e) {
                Error::ManifestUnknown(format!("manifest for {r} not found: manifest unknown"))
            } else {
                describe(&e, &format!("pull {r}"))
            }
        })?;
    let top = Digest::of(&body);
    if let Some(d) = &r.digest {
        if *d != top {
            return Err(Error::DigestMismatch {
                expected: format!("manifest {d}"),
                actual: top.to_string(),
            });
        }
    }
    // cosign's signatures of this manifest travel with it; the policy sees them first.
    let (signatures, unread) = match super::sigstore::fetch(&client, &auth, host, r, &top).await {
        Ok(s) => (s, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    if let Some(check) = &opts.check {
        if let Err(e) = (check.0)(r, &top, &signatures) {
            return Err(match unread {
                Some(u) => Error::Refused(format!("{e} (reading its signatures failed: {u})")),
                None => e,
            });
        }
    }
    if let Some(t) = &r.tag {
        progress.line(&format!("{t}: Pulling from {}", r.repository));
    } else {
        progress.line(&format!("{}: Pulling from {}", top, r.repository));
    }
    images.store().ingest_bytes(&body, Some(&top))?;
    let mut manifest: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Format(format!("manifest of {r}: {e}")))?;
    let media = manifest["mediaType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let is_index = media == DOCKER_LIST || media == OCI_INDEX || manifest["manifests"].is_array();
    if is_index {
        let pick = select_platform(&manifest, &want).ok_or_else(|| {
            reg_err(format!(
                "no matching manifest for {want} in the manifest list entries"
            ))
        })?;
        let mref = oci_ref(host, r, Some(&pick));
        let (b, _) = with_retry(|| client.pull_manifest_raw(&mref, &auth, ACCEPT))
            .await
            .map_err(|e| describe(&e, &format!("pull {r}")))?;
        images.store().ingest_bytes(&b, Some(&pick))?;
        manifest = serde_json::from_slice(&b)
            .map_err(|e| Error::Format(format!("manifest {pick}: {e}")))?;
    } else if manifest["schemaVersion"].as_u64() == Some(1) {
        return Err(reg_err(format!(
            "{r}: image manifest schema 1 is not supported (Docker dropped it too)"
        )));
    }
    let config_desc = descriptor(&manifest["config"])?;
    let layer_descs = manifest["layers"]
        .as_array()
        .ok_or_else(|| Error::Format(format!("manifest of {r} lists no layers")))?
        .iter()
        .map(descriptor)
        .collect::<Result<Vec<_>>>()?;
    for d in &layer_descs {
        let mt = d.media_type.as_str();
        let known = mt.is_empty()
            || [DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER].contains(&mt)
            || mt == "application/vnd.docker.image.rootfs.diff.tar"
            || mt.ends_with(".nondistributable.v1.tar+gzip")
            || mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
        if !known {
            return Err(reg_err(format!(
                "{r}: unsupported layer media type {mt:?} (not a container image?)"
            )));
        }
    }
    let config_digest = Digest::parse(&config_desc.digest)?;
    let up_to_date = r.tag.is_some()
        && images
            .resolve(&r.to_string())
            .is_ok_and(|i| i.id == config_digest.to_string());

    fetch(images, &client, &oref, &config_desc, None).await?;
    let cfg: Value = serde_json::from_slice(&images.store().read(&config_digest)?)
        .map_err(|e| Error::Format(format!("image config {config_digest}: {e}")))?;
    if let (Some(os), Some(arch)) = (cfg["os"].as_str(), cfg["architecture"].as_str()) {
        if opts.platform.is_some() && (os != want.os || arch != want.arch) {
            return Err(reg_err(format!(
                "image with reference {r} was found but its platform ({os}/{arch}) does not match the specified platform ({want})"
            )));
        }
    }
    let diff_ids = cfg["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| {
            Error::Format(format!(
                "image config {config_digest}: rootfs.diff_ids missing"
            ))
        })?
        .iter()
        .map(|d| Digest::parse(d.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    if diff_ids.len() != layer_descs.len() {
        return Err(Error::Format(format!(
            "image {config_digest}: {} layers but {} diff_ids",
            layer_descs.len(),
            diff_ids.len()
        )));
    }
    let chains = chain_ids(&diff_ids);

    // Download what is missing, a few layers at a time.
    for d in &layer_descs {
        progress.update(&short(&d.digest), "Pulling fs layer", None);
    }
    // Boxed as `dyn Future + Send`: lets callers spawn a pull (the compiler cannot otherwise
    // prove these closures' futures Send for every lifetime).
    let jobs = layer_descs.iter().map(|d| -> BoxFut<'_, Result<Digest>> {
        let client = &client;
        let oref = &oref;
        Box::pin(async move {
            let id = short(&d.digest);
            let blob = Digest::parse(&d.digest)?;
            if images.store().has(&blob) {
                progress.update(&id, "Already exists", None);
                return Ok(blob);
            }
            fetch(images, client, oref, d, Some(progress)).await?;
            progress.update(&id, "Download complete", None);
            Ok::<Digest, Error>(blob)
        })
    });
    let jobs: Vec<BoxFut<'_, Result<Digest>>> = jobs.collect();
    let blobs: Vec<Result<Digest>> = futures_util::stream::iter(jobs)
        .buffered(CONCURRENT)
        .collect()
        .await;
    let blobs = blobs.into_iter().collect::<Result<Vec<_>>>()?;

    for (d, c) in layer_descs.iter().zip(&chains) {
        if !images.layers().has(c) {
            progress.update(&short(&d.digest), "Extracting", None);
        }
    }
    tokio::task::block_in_place(|| {
        crate::archive::unpack_layers(images, &blobs, &diff_ids, &chains)
    })?;
    for d in &layer_descs {
        progress.update(&short(&d.digest), "Pull complete", None);
    }
    let repo_digest = Reference {
        tag: None,
        digest: Some(top.clone()),
        ..r.clone()
    };
    let tags: Vec<Reference> = if r.tag.is_some() {
        vec![r.clone()]
    } else {
        Vec::new()
    };
    let image = images.record(&config_digest, &blobs, &chains, &tags, Some(&repo_digest))?;
    images.add_signatures(&top, &image.id, &signatures)?;
    Ok(Pulled {
        image,
        digest: top,
        new: !up_to_date,
    })
}

fn descriptor(v: &Value) -> Result<OciDescriptor> {
    let digest = v["digest"]
        .as_str()
        .ok_or_else(|| Error::Format("manifest descriptor without digest".into()))?;
    Digest::parse(digest)?;
    Ok(OciDescriptor {
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
        digest: digest.to_owned(),
        size: v["size"].as_i64().unwrap_or(0),
        ..Default::default()
    })
}

/// Download one blob into the store (verified), retrying transient failures.
async fn fetch(
    images: &Images,
    client: &oci_client::Client,
    oref: &oci_client::Reference,
    d: &OciDescriptor,
    progress: Option<&dyn Progress>,
) -> Result<()> {
    let digest = Digest::parse(&d.digest)?;
    if images.store().has(&digest) {
        return Ok(());
    }
    let id = short(&d.digest);
    let total = u64::try_from(d.size).unwrap_or(0);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let res: std::result::Result<(), (OciDistributionError, bool)> = async {
            let mut stream = client
                .pull_blob_stream(oref, d)
                .await
                .map_err(|e| (e, false))?;
            let mut w = images.store().writer(Some(digest.clone())).map_err(|e| {
                (
                    OciDistributionError::GenericError(Some(e.to_string())),
                    true,
                )
            })?;
            let mut last_report = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| (OciDistributionError::IoError(e), false))?;
                w.write(&chunk).map_err(|e| {
                    (
                        OciDistributionError::GenericError(Some(e.to_string())),
                        true,
                    )
                })?;
                if let Some(p) = progress {
                    if w.written() - last_report >= 256 << 10 || w.written() == total {
                        last_report = w.written();
                        p.update(&id, "Downloading", Some((w.written(), total)));
                    }
                }
            }
            if let Some(p) = progress {
                p.update(&id, "Verifying Checksum", None);
            }
            w.commit().map_err(|e| {
                (
                    OciDistributionError::GenericError(Some(e.to_string())),
                    true,
                )
            })?;
            Ok(())
        }
        .await;
        match res {
            Ok(()) => return Ok(()),
            Err((e, fatal)) => {
                if !fatal && attempt < ATTEMPTS && transient(&e) {
                    if let Some(p) = progress {
                        p.update(&id, &format!("Retrying in {} seconds", attempt), None);
                    }
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    continue;
                }
                if let OciDistributionError::GenericError(Some(m)) = &e {
                    return Err(reg_err(m.clone()));
                }
                return Err(describe(&e, &format!("blob {}", d.digest)));
            }
        }
    }
}
