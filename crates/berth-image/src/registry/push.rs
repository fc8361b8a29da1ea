//! Push: blobs the registry lacks, then the manifest.

use std::io::Read;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::errors::OciDistributionError;
use serde_json::json;

use super::*;
use crate::digest::Digest;
use crate::error::{Error, Result, io};
use crate::images::{Image, Images};
use crate::reference::Reference;
use crate::unpack::{Compression, detect};

/// Options of a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub credentials: Credentials,
    pub settings: Settings,
}

/// Push the image `r` names (a tag) to its registry.
pub async fn push(
    images: &Images,
    r: &Reference,
    opts: &PushOptions,
    progress: &dyn Progress,
) -> Result<Pushed> {
    if r.tag.is_none() {
        return Err(Error::Reference(format!(
            "push {r}: a tag is needed, not a digest"
        )));
    }
    let img = images.resolve(&r.to_string())?;
    let host = api_host(&r.registry).to_owned();
    progress.line(&format!(
        "The push refers to repository [{}]",
        Reference {
            tag: None,
            digest: None,
            ..r.clone()
        }
    ));
    let client = client_for(&opts.settings, &host);
    let auth = registry_auth(&opts.credentials);
    let oref = oci_ref(&host, r, None);
    // Checks for existing blobs are reads, uploads writes: authorize both.
    for op in [
        oci_client::RegistryOperation::Pull,
        oci_client::RegistryOperation::Push,
    ] {
        client
            .auth(&oref, &auth, op)
            .await
            .map_err(|e| describe(&e, &format!("push {r}")))?;
    }

    let local = tokio::task::block_in_place(|| local_manifest(images, &img, progress))?;
    let (layers, config, config_size) = (&local.layers, &local.config, local.config_size);
    // Sources for cross-repository mounts: other repositories of the same registry this image
    // was pulled from or pushed to.
    let sources: Vec<oci_client::Reference> = img
        .repo_digests
        .iter()
        .filter_map(|rd| Reference::parse(rd).ok())
        .filter(|x| x.registry == r.registry && x.repository != r.repository)
        .map(|x| oci_ref(&host, &x, None))
        .collect();

    let mut all: Vec<(Digest, u64)> = layers.iter().map(|(d, s, _)| (d.clone(), *s)).collect();
    all.push((config.clone(), config_size));
    let jobs = all.iter().map(|(d, size)| -> BoxFut<'_, Result<()>> {
        let client = &client;
        let oref = &oref;
        let sources = &sources;
        Box::pin(async move {
            let id = short(&d.to_string());
            let ds = d.to_string();
            if with_retry(|| client.blob_exists(oref, &ds))
                .await
                .map_err(|e| describe(&e, &format!("push {r}")))?
            {
                progress.update(&id, "Layer already exists", None);
                return Ok::<(), Error>(());
            }
            for src in sources {
                if client.mount_blob(oref, src, &ds).await.is_ok() {
                    progress.update(&id, &format!("Mounted from {}", src.repository()), None);
                    return Ok(());
                }
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                progress.update(&id, "Pushing", Some((0, *size)));
                let stream = file_stream(images.store().path(d))?;
                match client
                    .push_blob_stream(oref, stream, &ds, Some(*size))
                    .await
                {
                    Ok(_) => break,
                    Err(e) if attempt < ATTEMPTS && transient(&e) => {
                        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    }
                    Err(e) => return Err(describe(&e, &format!("push {r}"))),
                }
            }
            progress.update(&id, "Pushed", None);
            Ok(())
        })
    });
    let jobs: Vec<BoxFut<'_, Result<()>>> = jobs.collect();
    let results: Vec<Result<()>> = futures_util::stream::iter(jobs)
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;

    let (body, digest) = (local.body.clone(), local.digest.clone());
    let content_type = reqwest::header::HeaderValue::from_static(local.media_type);
    with_retry(|| client.push_manifest_raw(&oref, body.clone(), content_type.clone()))
        .await
        .map_err(|e| describe(&e, &format!("push {r}")))?;
    images.add_repo_digest(
        &img.id,
        &Reference {
            tag: None,
            digest: Some(digest.clone()),
            ..r.clone()
        },
    )?;
    // Signatures kept with the image for this repository go where cosign puts them.
    let repo = format!("{}/{}", r.registry, r.repository);
    let sigs: Vec<_> = images
        .signatures_for(&digest)?
        .into_iter()
        .filter(|s| s.identity().as_deref() == Some(repo.as_str()))
        .collect();
    if !sigs.is_empty() {
        let n = super::sigstore::push(&client, &auth, &host, r, &digest, &sigs).await?;
        if n > 0 {
            progress.line(&format!(
                "{}: {n} signature{} pushed",
                crate::signatures::signature_tag(&digest),
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    progress.line(&format!(
        "{}: digest: {digest} size: {}",
        r.tag.as_deref().unwrap_or_default(),
        body.len()
    ));
    Ok(Pushed {
        digest,
        size: body.len(),
    })
}

/// The manifest `push` sends for an image, made from the store (uncompressed layers are
/// gzip-compressed once and remembered, so the same image always gets the same manifest).
pub struct LocalManifest {
    pub body: Vec<u8>,
    pub media_type: &'static str,
    pub digest: Digest,
    pub config: Digest,
    pub config_size: u64,
    pub layers: Vec<(Digest, u64, &'static str)>,
}

/// The manifest `push` would send for `img`; its bytes are kept in the store.
pub fn local_manifest(
    images: &Images,
    img: &Image,
    progress: &dyn Progress,
) -> Result<LocalManifest> {
    let mut layers: Vec<(Digest, u64, &'static str)> = Vec::new();
    let mut oci = false;
    for l in &img.layers {
        let plain = Digest::parse(l)?;
        let path = images.store().path(&plain);
        let mut head = [0u8; 8];
        let n = io(
            std::fs::File::open(&path).and_then(|mut f| f.read(&mut head)),
            || format!("read layer {plain}"),
        )?;
        let (blob, media) = match detect(&head[..n]) {
            Compression::Gzip => (plain, DOCKER_LAYER_GZIP),
            Compression::Zstd => {
                oci = true;
                (plain, OCI_LAYER_ZSTD)
            }
            Compression::None => {
                let gz = match images.compressed(&plain)? {
                    Some(gz) => gz,
                    None => {
                        progress.update(&short(l), "Preparing", None);
                        let gz = gzip_blob(images, &plain)?;
                        images.set_compressed(&plain, &gz)?;
                        gz
                    }
                };
                (gz, DOCKER_LAYER_GZIP)
            }
        };
        let size = io(std::fs::metadata(images.store().path(&blob)), || {
            format!("stat {blob}")
        })?
        .len();
        layers.push((blob, size, media));
    }
    let config = img.digest()?;
    let config_size = io(std::fs::metadata(images.store().path(&config)), || {
        format!("stat {config}")
    })?
    .len();
    let body = manifest(&config, config_size, &layers, oci)?;
    let digest = Digest::of(&body);
    images.store().ingest_bytes(&body, Some(&digest))?;
    Ok(LocalManifest {
        body,
        media_type: if oci { OCI_MANIFEST } else { DOCKER_MANIFEST },
        digest,
        config,
        config_size,
        layers,
    })
}

/// An image manifest (Docker schema 2, or OCI with `oci`) for a config and its layer blobs
/// (`(digest, size, media type)`; Docker layer media types become OCI ones with `oci`).
pub fn manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, u64, &str)],
    oci: bool,
) -> Result<Vec<u8>> {
    let (mt, cmt) = if oci {
        (OCI_MANIFEST, OCI_CONFIG)
    } else {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let m = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "size": config_size, "digest": config.to_string()},
        "layers": layers.iter().map(|(d, s, m)| {
            let m = if oci && *m == DOCKER_LAYER_GZIP { OCI_LAYER_GZIP } else { m };
            json!({"mediaType": m, "size": s, "digest": d.to_string()})
        }).collect::<Vec<_>>(),
    });
    serde_json::to_vec_pretty(&m).map_err(|e| Error::Format(e.to_string()))
}

/// The media type of a layer blob, from its first bytes.
pub fn layer_media_type(head: &[u8], oci: bool) -> &'static str {
    match (detect(head), oci) {
        (Compression::Gzip, false) => DOCKER_LAYER_GZIP,
        (Compression::Gzip, true) => OCI_LAYER_GZIP,
        (Compression::Zstd, _) => OCI_LAYER_ZSTD,
        (Compression::None, false) => "application/vnd.docker.image.rootfs.diff.tar",
        (Compression::None, true) => OCI_LAYER,
    }
}

/// gzip an uncompressed layer blob into a new blob (deterministic: same input, same digest).
fn gzip_blob(images: &Images, plain: &Digest) -> Result<Digest> {
    let f = io(std::fs::File::open(images.store().path(plain)), || {
        format!("open {plain}")
    })?;
    let mut enc = flate2::read::GzEncoder::new(
        std::io::BufReader::with_capacity(1 << 20, f),
        flate2::Compression::fast(),
    );
    let mut w = images.store().writer(None)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = io(enc.read(&mut buf), || format!("compress {plain}"))?;
        if n == 0 {
            break;
        }
        w.write(&buf[..n])?;
    }
    w.commit()
}

type BlobStream =
    futures_util::stream::BoxStream<'static, oci_client::errors::Result<bytes::Bytes>>;

/// A blob file as a stream of 1 MiB chunks.
fn file_stream(path: std::path::PathBuf) -> Result<BlobStream> {
    let f = io(std::fs::File::open(&path), || {
        format!("open {}", path.display())
    })?;
    let stream = futures_util::stream::unfold(Some(f), |state| async move {
        let mut f = state?;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(OciDistributionError::IoError(e)), None)),
        }
    });
    Ok(Box::pin(stream))
}
