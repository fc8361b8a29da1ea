//! Signatures in registries as cosign stores them: the signatures of manifest `D` are an OCI
//! image manifest tagged `sha256-<hex of D>.sig` in the image's repository, one layer per
//! signature — the simple-signing payload as the blob, the base64 signature in the layer's
//! `dev.cosignproject.cosign/signature` annotation.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use serde::{Deserialize, Serialize};

use super::*;
use crate::signatures::{
    SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE, StoredSignature, signature_tag,
};

/// A payload larger than this is not a simple-signing payload.
const MAX_PAYLOAD: u64 = 1 << 20;

/// A check of a pulled manifest's signatures, made before anything of the image is stored;
/// an error refuses the pull.
#[derive(Clone)]
pub struct SignatureCheck(pub std::sync::Arc<CheckFn>);

/// The decision: the reference pulled, its manifest's digest, the signatures found.
pub type CheckFn = dyn Fn(&Reference, &Digest, &[StoredSignature]) -> Result<()> + Send + Sync;

impl std::fmt::Debug for SignatureCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureCheck")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigManifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    size: u64,
    digest: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The config blob of a signature manifest, as cosign writes it: the payloads as diff ids.
#[derive(Serialize)]
struct SigConfig<'a> {
    architecture: &'a str,
    config: BTreeMap<String, String>,
    created: &'a str,
    history: Vec<BTreeMap<&'a str, &'a str>>,
    os: &'a str,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

fn sig_ref(host: &str, r: &Reference, manifest: &Digest) -> oci_client::Reference {
    oci_client::Reference::with_tag(host.into(), r.repository.clone(), signature_tag(manifest))
}

/// The signatures the registry holds for `manifest` of `r`'s repository (none when the
/// signature tag does not exist).
pub(crate) async fn fetch(
    client: &oci_client::Client,
    auth: &oci_client::secrets::RegistryAuth,
    host: &str,
    r: &Reference,
    manifest: &Digest,
) -> Result<Vec<StoredSignature>> {
    let oref = sig_ref(host, r, manifest);
    let body = match client
        .pull_manifest_raw(&oref, auth, &[OCI_MANIFEST, DOCKER_MANIFEST])
        .await
    {
        Ok((b, _)) => b,
        Err(e) if not_found(&e) => return Ok(vec![]),
        Err(e) => return Err(describe(&e, &format!("signatures of {r}"))),
    };
    let m: SigManifest = serde_json::from_slice(&body).map_err(|e| {
        Error::Format(format!(
            "signature manifest {}: {e}",
            signature_tag(manifest)
        ))
    })?;
    let mut out = Vec::new();
    for l in m.layers {
        let Some(sig) = l.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        if l.media_type != SIMPLESIGNING_MEDIA_TYPE || l.size > MAX_PAYLOAD {
            continue;
        }
        let want = Digest::parse(&l.digest)?;
        let desc = OciDescriptor {
            media_type: l.media_type.clone(),
            digest: l.digest.clone(),
            size: i64::try_from(l.size).unwrap_or(0),
            ..Default::default()
        };
        let mut stream = client
            .pull_blob_stream(&oref, &desc)
            .await
            .map_err(|e| describe(&e, &format!("signature payload {}", l.digest)))?;
        let mut payload = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| reg_err(format!("signature payload {}: {e}", l.digest)))?;
            payload.extend_from_slice(&chunk);
            if payload.len() as u64 > MAX_PAYLOAD {
                return Err(reg_err(format!(
                    "signature payload {} is too large",
                    l.digest
                )));
            }
        }
        if Digest::of(&payload) != want {
            return Err(Error::DigestMismatch {
                expected: want.to_string(),
                actual: Digest::of(&payload).to_string(),
            });
        }
        out.push(StoredSignature {
            payload: B64.encode(&payload),
            signature: sig.clone(),
        });
    }
    Ok(out)
}

/// Add `sigs` to the registry's signatures of `manifest` (cosign appends to what is there);
/// returns how many were new.
pub(crate) async fn push(
    client: &oci_client::Client,
    auth: &oci_client::secrets::RegistryAuth,
    host: &str,
    r: &Reference,
    manifest: &Digest,
    sigs: &[StoredSignature],
) -> Result<usize> {
    let oref = sig_ref(host, r, manifest);
    let existing = fetch(client, auth, host, r, manifest).await?;
    let mut all = existing.clone();
    for s in sigs {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    let new = all.len() - existing.len();
    if new == 0 {
        return Ok(0);
    }
    let mut layers = Vec::new();
    for s in &all {
        let payload = B64
            .decode(&s.payload)
            .map_err(|e| Error::Format(format!("stored signature payload: {e}")))?;
        let d = Digest::of(&payload);
        let ds = d.to_string();
        if !with_retry(|| client.blob_exists(&oref, &ds))
            .await
            .map_err(|e| describe(&e, &format!("push signatures of {r}")))?
        {
            with_retry(|| client.push_blob(&oref, payload.clone(), &ds))
                .await
                .map_err(|e| describe(&e, &format!("push signatures of {r}")))?;
        }
        layers.push(Descriptor {
            media_type: SIMPLESIGNING_MEDIA_TYPE.into(),
            size: payload.len() as u64,
            digest: d.to_string(),
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), s.signature.clone())]),
        });
    }
    let config = serde_json::to_vec(&SigConfig {
        architecture: "",
        config: BTreeMap::new(),
        created: "0001-01-01T00:00:00Z",
        history: vec![BTreeMap::from([("created", "0001-01-01T00:00:00Z")])],
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.digest.clone()).collect(),
        },
    })
    .map_err(|e| Error::Format(e.to_string()))?;
    let cd = Digest::of(&config);
    let cds = cd.to_string();
    with_retry(|| client.push_blob(&oref, config.clone(), &cds))
        .await
        .map_err(|e| describe(&e, &format!("push signatures of {r}")))?;
    let m = SigManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        config: Descriptor {
            media_type: OCI_CONFIG.into(),
            size: config.len() as u64,
            digest: cd.to_string(),
            annotations: BTreeMap::new(),
        },
        layers,
    };
    let body = serde_json::to_vec(&m).map_err(|e| Error::Format(e.to_string()))?;
    let ct = reqwest::header::HeaderValue::from_static(OCI_MANIFEST);
    with_retry(|| client.push_manifest_raw(&oref, body.clone(), ct.clone()))
        .await
        .map_err(|e| describe(&e, &format!("push signatures of {r}")))?;
    Ok(new)
}
