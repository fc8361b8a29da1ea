//! The signature policy (containers/image's `policy.json`), enforced by the daemon on pulls,
//! container creation and build bases, and the signatures kept with local images for
//! `berth sign`, `berth verify` and `berth trust inspect`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use berth_image::Digest;
use berth_image::images::Image;
use berth_image::reference::Reference;
use berth_image::registry::SignatureCheck;
use berth_image::signatures::StoredSignature;
use berth_models::trust as m;
use berth_trust::{Candidate, Decision, ImageName, Policy, Refusal};

use crate::{Engine, Error, Result};

/// The default policy file.
pub const DEFAULT_POLICY: &str = "/etc/berth/policy.json";

/// Where the policy is read from.
#[derive(Debug, Clone, Default)]
pub struct TrustConfig {
    /// The policy file (`--signature-policy`, default /etc/berth/policy.json).
    pub policy: PathBuf,
    /// Given explicitly: the file must exist (the default one may be absent: no policy).
    pub explicit: bool,
}

impl TrustConfig {
    /// The policy in force, read at each use so that edits apply at once; `None` when there
    /// is no policy file (everything is accepted, as dockerd does).
    pub fn load(&self) -> Result<Option<Policy>> {
        if self.policy.as_os_str().is_empty() {
            return Ok(None);
        }
        if !self.explicit && !self.policy.exists() {
            return Ok(None);
        }
        Policy::load(&self.policy)
            .map(Some)
            .map_err(|e| Error::Forbidden(format!("signature policy: {e}")))
    }

    fn dir(&self) -> &Path {
        self.policy.parent().unwrap_or(Path::new("/"))
    }
}

fn candidates(digest: &Digest, sigs: &[StoredSignature]) -> Vec<Candidate> {
    sigs.iter()
        .filter_map(|s| {
            Some(Candidate {
                digest: digest.to_string(),
                payload: B64.decode(&s.payload).ok()?,
                signature_b64: s.signature.clone(),
            })
        })
        .collect()
}

fn trust_required(name: &str, d: &Decision) -> Error {
    Error::Forbidden(format!(
        "image {name} refused: content trust is on (DOCKER_CONTENT_TRUST / BERTH_CONTENT_TRUST) and the signature policy accepts it without a verified signature (scope {})",
        d.scope
    ))
}

/// Whether `name` named `img` by its id (or a prefix of it) rather than by a tag.
fn by_id(name: &str, img: &Image) -> bool {
    let hex = img.id.trim_start_matches("sha256:");
    name.starts_with("sha256:")
        || (hex.starts_with(name)
            && !Reference::parse(name).is_ok_and(|r| img.tags.contains(&r.to_string())))
}

fn refused(r: Refusal) -> Error {
    Error::Forbidden(r.to_string())
}

impl Engine {
    /// The signatures of `img` that belong to it (each manifest shown to be the image's).
    fn image_candidates(&self, img: &Image) -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for (d, sigs) in self.images.signatures_of(&img.id)? {
            if self.images.manifest_describes(&d, &img.id) {
                out.extend(candidates(&d, &sigs));
            }
        }
        Ok(out)
    }

    /// The names the policy judges `name` by: the name itself, or — for an image named by
    /// id — every name the image has (none: the policy's default).
    fn policy_names(name: &str, img: &Image) -> Vec<ImageName> {
        if !by_id(name, img) {
            if let Some(n) = Reference::parse(name)
                .ok()
                .and_then(|r| ImageName::parse(&r.to_string()).ok())
            {
                return vec![n];
            }
        }
        let names: Vec<ImageName> = img
            .tags
            .iter()
            .chain(&img.repo_digests)
            .filter_map(|n| ImageName::parse(n).ok())
            .collect();
        if names.is_empty() {
            // Nameless: judged under the policy's default, as no scope can name it.
            ImageName::parse("sha256-unnamed/image")
                .into_iter()
                .collect()
        } else {
            names
        }
    }

    /// Whether the policy lets a container (or a build step) use the image `name`; with
    /// `require_signed` (content trust on the client), a verified signature is needed too.
    pub fn check_signature_policy(&self, name: &str, require_signed: bool) -> Result<()> {
        let policy = self.config.trust.load()?;
        if policy.is_none() && !require_signed {
            return Ok(());
        }
        let img = self.images.resolve(name)?;
        let policy = policy.unwrap_or_else(Policy::accept_anything);
        let cands = self.image_candidates(&img)?;
        for n in Self::policy_names(name, &img) {
            let d = policy
                .evaluate(&n, &cands, self.config.trust.dir())
                .map_err(refused)?;
            if require_signed && !d.verified {
                return Err(trust_required(&n.full(), &d));
            }
        }
        Ok(())
    }

    /// The check a pull makes of the manifest's signatures before storing anything.
    pub fn pull_signature_check(&self, require_signed: bool) -> Result<Option<SignatureCheck>> {
        let policy = self.config.trust.load()?;
        if policy.is_none() && !require_signed {
            return Ok(None);
        }
        let policy = policy.unwrap_or_else(Policy::accept_anything);
        let dir = self.config.trust.dir().to_owned();
        Ok(Some(SignatureCheck(Arc::new(
            move |r: &Reference, digest: &Digest, sigs: &[StoredSignature]| {
                let refuse = |m: String| berth_image::Error::Refused(m);
                let n = ImageName::parse(&r.to_string()).map_err(|e| refuse(e.to_string()))?;
                let d = policy
                    .evaluate(&n, &candidates(digest, sigs), &dir)
                    .map_err(|x| refuse(x.to_string()))?;
                if require_signed && !d.verified {
                    return Err(refuse(trust_required(&n.full(), &d).to_string()));
                }
                Ok(())
            },
        ))))
    }

    /// `GET /images/{name}/signatures`; with `target`, also what a new signature signs.
    pub fn image_signatures(&self, name: &str, target: bool) -> Result<m::ImageSignatures> {
        let img = self.images.resolve(name)?;
        let mut manifests = Vec::new();
        for (d, sigs) in self.images.signatures_of(&img.id)? {
            if !self.images.manifest_describes(&d, &img.id) {
                continue;
            }
            manifests.push(m::ManifestSignatures {
                digest: d.to_string(),
                signatures: sigs
                    .into_iter()
                    .map(|s| m::Signature {
                        payload: s.payload,
                        signature: s.signature,
                    })
                    .collect(),
            });
        }
        let target = if target {
            Some(self.signing_target(name, &img)?)
        } else {
            None
        };
        Ok(m::ImageSignatures {
            name: name.to_owned(),
            id: img.id.clone(),
            target,
            manifests,
            policy: self.policy_result(name, &img),
        })
    }

    fn policy_result(&self, name: &str, img: &Image) -> m::PolicyResult {
        let file = self.config.trust.policy.display().to_string();
        let policy = match self.config.trust.load() {
            Ok(Some(p)) => p,
            Ok(None) => {
                return m::PolicyResult {
                    file: String::new(),
                    scope: "(no policy file)".into(),
                    accepted: true,
                    ..Default::default()
                };
            }
            Err(e) => {
                return m::PolicyResult {
                    file,
                    reason: Some(e.to_string()),
                    ..Default::default()
                };
            }
        };
        let cands = match self.image_candidates(img) {
            Ok(c) => c,
            Err(e) => {
                return m::PolicyResult {
                    file,
                    reason: Some(e.to_string()),
                    ..Default::default()
                };
            }
        };
        let mut out = m::PolicyResult {
            file,
            accepted: true,
            verified: true,
            ..Default::default()
        };
        for n in Self::policy_names(name, img) {
            match policy.evaluate(&n, &cands, self.config.trust.dir()) {
                Ok(d) => {
                    out.scope = d.scope;
                    out.verified &= d.verified;
                    out.signers.extend(d.signers);
                }
                Err(r) => {
                    out.scope = r.scope.clone();
                    out.accepted = false;
                    out.verified = false;
                    out.reason = Some(r.to_string());
                    break;
                }
            }
        }
        out
    }

    /// The repository and manifest digest a signature of `name` is for: the registry's
    /// digest if the image came from (or went to) that repository, else the manifest `push`
    /// will send.
    fn signing_target(&self, name: &str, img: &Image) -> Result<m::SigningTarget> {
        let r = Reference::parse(name)
            .ok()
            .filter(|_| !by_id(name, img))
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "sign {name}: name the image by its repository (the signature is for a repository), not by id"
                ))
            })?;
        let repository = format!("{}/{}", r.registry, r.repository);
        let known = img.repo_digests.iter().find_map(|rd| {
            let x = Reference::parse(rd).ok()?;
            (x.registry == r.registry && x.repository == r.repository)
                .then_some(x.digest)
                .flatten()
        });
        let digest = match known {
            Some(d) => d,
            None => {
                berth_image::registry::local_manifest(
                    &self.images,
                    img,
                    &berth_image::registry::Quiet,
                )?
                .digest
            }
        };
        Ok(m::SigningTarget {
            repository,
            digest: digest.to_string(),
        })
    }

    /// `POST /images/{name}/signatures`: keep a signature of one of the image's manifests.
    pub fn add_image_signature(&self, name: &str, req: &m::AddSignature) -> Result<()> {
        let img = self.images.resolve(name)?;
        let digest = Digest::parse(&req.digest)?;
        if !self.images.manifest_describes(&digest, &img.id) {
            return Err(Error::InvalidParameter(format!(
                "manifest {digest} is not a manifest of image {name}"
            )));
        }
        let payload = B64
            .decode(&req.payload)
            .map_err(|e| Error::InvalidParameter(format!("Payload is not base64: {e}")))?;
        let claims = berth_trust::SimpleSigning::parse(&payload)
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        if claims.critical.image.docker_manifest_digest != req.digest {
            return Err(Error::InvalidParameter(format!(
                "the payload signs manifest {}, not {}",
                claims.critical.image.docker_manifest_digest, req.digest
            )));
        }
        B64.decode(req.signature.trim())
            .map_err(|e| Error::InvalidParameter(format!("Signature is not base64: {e}")))?;
        self.images.add_signatures(
            &digest,
            &img.id,
            &[StoredSignature {
                payload: req.payload.clone(),
                signature: req.signature.trim().to_owned(),
            }],
        )?;
        self.events.emit(
            "image",
            "sign",
            &img.id,
            crate::images::name_attr(name.to_owned()),
        );
        Ok(())
    }
}
