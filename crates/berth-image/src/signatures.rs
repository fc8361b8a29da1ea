//! Signatures kept beside local images: per manifest digest, the image it is a manifest of
//! and cosign-format signatures (payload and base64 signature), in the image index so they
//! change under its lock and go with the image. Checking them is `berth-trust`'s business.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images::Images;

/// cosign's payload media type and the annotation that carries the signature.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// One signature: the signed payload (base64 of its bytes) and the signature (base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSignature {
    pub payload: String,
    pub signature: String,
}

#[derive(Deserialize)]
struct Claims {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

impl StoredSignature {
    /// The repository the payload says it signs for (`host/path`, Docker Hub as `docker.io`),
    /// unverified: where to store it, not whether to trust it.
    pub fn identity(&self) -> Option<String> {
        use base64::Engine as _;
        let p = base64::engine::general_purpose::STANDARD
            .decode(&self.payload)
            .ok()?;
        let c: Claims = serde_json::from_slice(&p).ok()?;
        let r = c.critical.identity.docker_reference;
        let r = r
            .strip_prefix("index.docker.io/")
            .map_or(r.clone(), |x| format!("docker.io/{x}"));
        let r = crate::reference::Reference::parse(&r).ok()?;
        Some(format!("{}/{}", r.registry, r.repository))
    }
}

/// The signatures of one manifest, and the image (config digest) the manifest is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    pub image: String,
    pub signatures: Vec<StoredSignature>,
}

/// cosign's tag for the signatures of a manifest: `sha256-<hex>.sig`.
pub fn signature_tag(manifest: &Digest) -> String {
    format!("sha256-{}.sig", manifest.hex())
}

impl Images {
    /// Keep `sigs` for the manifest `manifest` of image `image` (duplicates dropped).
    pub fn add_signatures(
        &self,
        manifest: &Digest,
        image: &str,
        sigs: &[StoredSignature],
    ) -> Result<()> {
        if sigs.is_empty() {
            return Ok(());
        }
        self.change(|ix| {
            if !ix.images.contains_key(image) {
                return Err(Error::NoSuchImage(image.to_owned()));
            }
            let e = ix
                .signatures
                .entry(manifest.to_string())
                .or_insert_with(|| SignedManifest {
                    image: image.to_owned(),
                    signatures: vec![],
                });
            e.image = image.to_owned();
            for s in sigs {
                if !e.signatures.contains(s) {
                    e.signatures.push(s.clone());
                }
            }
            Ok(())
        })
    }

    /// The signatures kept for image `image`, by manifest digest.
    pub fn signatures_of(&self, image: &str) -> Result<Vec<(Digest, Vec<StoredSignature>)>> {
        let ix = self.read_index()?;
        ix.signatures
            .iter()
            .filter(|(_, s)| s.image == image)
            .map(|(d, s)| Ok((Digest::parse(d)?, s.signatures.clone())))
            .collect()
    }

    /// The signatures kept for one manifest.
    pub fn signatures_for(&self, manifest: &Digest) -> Result<Vec<StoredSignature>> {
        Ok(self
            .read_index()?
            .signatures
            .get(&manifest.to_string())
            .map(|s| s.signatures.clone())
            .unwrap_or_default())
    }
}

/// The fields of a manifest or index that tie it to an image.
#[derive(Deserialize)]
struct ManifestLinks {
    #[serde(default)]
    config: Option<Link>,
    #[serde(default)]
    manifests: Vec<Link>,
}

#[derive(Deserialize)]
struct Link {
    digest: String,
}

/// Whether the manifest `manifest` (or an index listing it) is a manifest of image `image`,
/// reading manifests through `get` (each checked against its digest). A signature of a
/// manifest counts for an image only when this holds.
pub fn describes(get: &dyn Fn(&Digest) -> Option<Vec<u8>>, manifest: &Digest, image: &str) -> bool {
    fn walk(get: &dyn Fn(&Digest) -> Option<Vec<u8>>, d: &Digest, image: &str, depth: u8) -> bool {
        let Some(body) = get(d).filter(|b| Digest::of(b) == *d) else {
            return false;
        };
        let Ok(m) = serde_json::from_slice::<ManifestLinks>(&body) else {
            return false;
        };
        if m.config.is_some_and(|c| c.digest == image) {
            return true;
        }
        depth < 2
            && m.manifests
                .iter()
                .any(|l| Digest::parse(&l.digest).is_ok_and(|x| walk(get, &x, image, depth + 1)))
    }
    walk(get, manifest, image, 0)
}

impl Images {
    /// [`describes`] with the manifests of the content store.
    pub fn manifest_describes(&self, manifest: &Digest, image: &str) -> bool {
        describes(&|d| self.store().read(d).ok(), manifest, image)
    }
}

/// The signatures of images as a `save` archive carries them (`berth-signatures.json`): per
/// signed manifest, the manifests that tie it to its image and the signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedSignatures {
    pub image: String,
    pub manifest: String,
    /// Digest → base64 of the manifest (and, for an index, the image's manifest in it).
    pub manifests: std::collections::BTreeMap<String, String>,
    pub signatures: Vec<StoredSignature>,
}

/// The archive file that carries signatures (ignored by Docker's `load`).
pub const ARCHIVE_FILE: &str = "berth-signatures.json";
