//! The signature policy in containers/image's `policy.json` format (as Podman, Buildah and
//! Skopeo read it): a default list of requirements and, per transport, lists by scope; the most
//! specific scope that names an image decides, and every requirement of its list must hold.
//! Berth checks images under the `docker` transport's scopes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::payload::{Rejection, SignedPayload, verify};
use crate::{Error, Result};

/// The transport whose scopes apply to registry references.
pub const DOCKER_TRANSPORT: &str = "docker";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub default: Vec<Requirement>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Requirement {
    #[serde(rename = "insecureAcceptAnything")]
    InsecureAcceptAnything,
    #[serde(rename = "reject")]
    Reject,
    /// GPG signatures: read so that a Podman policy loads, refused when it applies.
    #[serde(rename = "signedBy")]
    SignedBy {
        #[serde(flatten)]
        fields: BTreeMap<String, serde_json::Value>,
    },
    #[serde(rename = "sigstoreSigned")]
    SigstoreSigned(Box<SigstoreSigned>),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigstoreSigned {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_paths: Option<Vec<String>>,
    /// Base64 of a public key's PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_datas: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulcio: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_public_key_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_public_key_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_public_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_public_key_datas: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_identity: Option<SignedIdentity>,
}

/// Which signed identities are accepted for an image reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SignedIdentity {
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    #[serde(rename_all = "camelCase")]
    ExactReference {
        docker_reference: String,
    },
    #[serde(rename_all = "camelCase")]
    ExactRepository {
        docker_repository: String,
    },
    #[serde(rename_all = "camelCase")]
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

/// A fully qualified image name: `host/path` with a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageName {
    /// Parse a reference as Docker normalises it (`busybox` is `docker.io/library/busybox`;
    /// cosign's `index.docker.io` is Docker Hub too). A name with neither tag nor digest has
    /// neither (a signature's identity is a bare repository).
    pub fn parse(s: &str) -> Result<ImageName> {
        let s = s
            .strip_prefix("index.docker.io/")
            .map_or_else(|| s.to_owned(), |rest| format!("docker.io/{rest}"));
        let r = berth_image::reference::Reference::parse(&s)
            .map_err(|e| Error::Policy(format!("image name {s:?}: {e}")))?;
        let path_end = s.rfind('/').map_or(0, |i| i + 1);
        let has_tag = s
            .split('@')
            .next()
            .is_some_and(|n| n[path_end.min(n.len())..].contains(':'));
        Ok(ImageName {
            repository: format!("{}/{}", r.registry, r.repository),
            tag: if has_tag { r.tag } else { None },
            digest: r.digest.map(|d| d.to_string()),
        })
    }

    /// `host/path:tag` or `host/path@digest` (the digest wins).
    pub fn full(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.repository),
            (None, Some(t)) => format!("{}:{t}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }

    /// The scopes that may name this image in the `docker` transport, most specific first.
    pub fn scopes(&self) -> Vec<String> {
        let mut out = vec![];
        if self.tag.is_some() || self.digest.is_some() {
            out.push(self.full());
        }
        let mut repo = self.repository.as_str();
        out.push(repo.to_owned());
        while let Some(i) = repo.rfind('/') {
            repo = &repo[..i];
            out.push(repo.to_owned());
        }
        // Wildcards name hosts (`*.example.com`), not addresses or ports.
        let host = repo;
        if !host.contains(':') && host.parse::<std::net::IpAddr>().is_err() {
            let labels: Vec<&str> = host.split('.').collect();
            for i in 1..labels.len() {
                out.push(format!("*.{}", labels[i..].join(".")));
            }
        }
        out
    }
}

/// A signature found for one of the image's manifests.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The manifest digest it was stored under.
    pub digest: String,
    pub payload: Vec<u8>,
    pub signature_b64: String,
}

/// What the policy said yes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The scope whose requirements applied (`""` for the transport's default, `default` for
    /// the policy's).
    pub scope: String,
    /// At least one signature was verified (not only accepted without a check).
    pub verified: bool,
    /// The keys that verified, as `keyPath` or `keyData #N` with the key's id.
    pub signers: Vec<String>,
}

/// Why an image was refused: the image, the scope, the rule and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub image: String,
    pub scope: String,
    pub rule: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image {} refused by the signature policy (scope {}, {}): {}",
            self.image, self.scope, self.rule, self.reason
        )
    }
}

impl Policy {
    /// Read and check a policy file (unknown fields and requirement types are errors, as
    /// containers/image has them).
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read(path)
            .map_err(|e| Error::Policy(format!("read {}: {e}", path.display())))?;
        Policy::parse(&text).map_err(|e| Error::Policy(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &[u8]) -> Result<Policy> {
        let p: Policy = serde_json::from_slice(text)
            .map_err(|e| Error::Policy(format!("invalid policy: {e}")))?;
        if p.default.is_empty() {
            return Err(Error::Policy(
                "invalid policy: \"default\" must list at least one requirement".into(),
            ));
        }
        for (t, scopes) in &p.transports {
            for (scope, reqs) in scopes {
                if reqs.is_empty() {
                    return Err(Error::Policy(format!(
                        "invalid policy: transport {t:?} scope {scope:?} lists no requirement"
                    )));
                }
            }
        }
        Ok(p)
    }

    /// A policy that accepts everything (no policy file).
    pub fn accept_anything() -> Policy {
        Policy {
            default: vec![Requirement::InsecureAcceptAnything],
            transports: BTreeMap::new(),
        }
    }

    /// The scope and requirements for `image` under the `docker` transport.
    pub fn requirements_for(&self, image: &ImageName) -> (String, &[Requirement]) {
        if let Some(scopes) = self.transports.get(DOCKER_TRANSPORT) {
            for s in image.scopes() {
                if let Some(r) = scopes.get(&s) {
                    return (format!("{s:?}"), r);
                }
            }
            if let Some(r) = scopes.get("") {
                return ("\"\" (the docker transport's default)".into(), r);
            }
        }
        ("default".into(), &self.default)
    }

    /// Decide on `image` with the signatures found for its manifests; key paths that are
    /// relative are read from `dir` (the policy file's directory).
    pub fn evaluate(
        &self,
        image: &ImageName,
        candidates: &[Candidate],
        dir: &Path,
    ) -> std::result::Result<Decision, Refusal> {
        let (scope, reqs) = self.requirements_for(image);
        let mut decision = Decision {
            scope: scope.clone(),
            verified: false,
            signers: vec![],
        };
        for req in reqs {
            let refuse = |rule: &str, reason: String| Refusal {
                image: image.full(),
                scope: scope.clone(),
                rule: rule.to_owned(),
                reason,
            };
            match req {
                Requirement::InsecureAcceptAnything => {}
                Requirement::Reject => {
                    return Err(refuse("reject", "the policy rejects it".into()));
                }
                Requirement::SignedBy { .. } => {
                    return Err(refuse(
                        "signedBy",
                        "GPG signatures (signedBy) are not supported; use sigstoreSigned".into(),
                    ));
                }
                Requirement::SigstoreSigned(s) => {
                    let keys = s.keys(dir).map_err(|e| refuse("sigstoreSigned", e))?;
                    let signer = s
                        .check(image, candidates, &keys)
                        .map_err(|e| refuse(&s.describe(), e))?;
                    decision.verified = true;
                    decision.signers.push(signer);
                }
            }
        }
        Ok(decision)
    }
}

impl SigstoreSigned {
    /// The rule as a refusal names it.
    fn describe(&self) -> String {
        match (&self.key_path, &self.key_paths) {
            (Some(p), _) => format!("sigstoreSigned keyPath {p}"),
            (None, Some(ps)) => format!("sigstoreSigned keyPaths {}", ps.join(", ")),
            _ if self.key_data.is_some() || self.key_datas.is_some() => {
                "sigstoreSigned keyData".into()
            }
            _ => "sigstoreSigned".into(),
        }
    }

    /// The trusted keys with a name each; exactly one of the key fields must be given.
    fn keys(&self, dir: &Path) -> std::result::Result<Vec<(String, PublicKey)>, String> {
        if self.fulcio.is_some() || self.pki.is_some() {
            return Err(
                "keyless signatures (fulcio, pki) need Sigstore's online roots; not supported"
                    .into(),
            );
        }
        let given = [
            self.key_path.is_some(),
            self.key_paths.is_some(),
            self.key_data.is_some(),
            self.key_datas.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            return Err(
                "exactly one of keyPath, keyPaths, keyData and keyDatas must be given".into(),
            );
        }
        let mut out = Vec::new();
        let paths: Vec<&String> = self
            .key_path
            .iter()
            .chain(self.key_paths.iter().flatten())
            .collect();
        for p in paths {
            let full: PathBuf = if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                dir.join(p)
            };
            let text = std::fs::read_to_string(&full)
                .map_err(|e| format!("read key {}: {e}", full.display()))?;
            let k =
                PublicKey::from_pem(&text).map_err(|e| format!("key {}: {e}", full.display()))?;
            out.push((full.display().to_string(), k));
        }
        let datas: Vec<&String> = self
            .key_data
            .iter()
            .chain(self.key_datas.iter().flatten())
            .collect();
        for (i, d) in datas.into_iter().enumerate() {
            let pem = B64
                .decode(d.trim())
                .map_err(|e| format!("keyData #{}: not base64: {e}", i + 1))?;
            let k = PublicKey::from_pem(&String::from_utf8_lossy(&pem))
                .map_err(|e| format!("keyData #{}: {e}", i + 1))?;
            out.push((format!("keyData #{}", i + 1), k));
        }
        Ok(out)
    }

    /// The first signature that a trusted key verifies, for its manifest and an accepted
    /// identity; otherwise why none did.
    fn check(
        &self,
        image: &ImageName,
        candidates: &[Candidate],
        keys: &[(String, PublicKey)],
    ) -> std::result::Result<String, String> {
        if candidates.is_empty() {
            return Err("a signature was required, but no signature exists".into());
        }
        let public: Vec<PublicKey> = keys.iter().map(|(_, k)| k.clone()).collect();
        let identity = self
            .signed_identity
            .clone()
            .unwrap_or(SignedIdentity::MatchRepoDigestOrExact);
        let mut why: Vec<String> = Vec::new();
        for c in candidates {
            let sp = SignedPayload {
                payload: &c.payload,
                signature_b64: &c.signature_b64,
            };
            let reason = match verify(&public, &sp, &c.digest) {
                Ok((which, claims)) => {
                    let signed = &claims.critical.identity.docker_reference;
                    match identity.accepts(image, signed) {
                        Ok(()) => {
                            let (name, key) = &keys[which];
                            return Ok(format!("{name} ({})", key.id()));
                        }
                        Err(e) => e,
                    }
                }
                Err(Rejection::OtherDigest(d)) => format!(
                    "a signature stored for manifest {} signs manifest {d}",
                    c.digest
                ),
                Err(r) => r.to_string(),
            };
            if !why.contains(&reason) {
                why.push(reason);
            }
        }
        let n = candidates.len();
        Err(format!(
            "{n} signature{} found, none accepted: {}",
            if n == 1 { "" } else { "s" },
            why.join("; ")
        ))
    }
}

impl SignedIdentity {
    /// Whether a signature for `signed` (its `docker-reference`) is good for `image`.
    pub fn accepts(&self, image: &ImageName, signed: &str) -> std::result::Result<(), String> {
        let sig = ImageName::parse(signed)
            .map_err(|_| format!("the signature's identity {signed:?} is not an image name"))?;
        let refused = || {
            format!(
                "the signature's identity {} is not accepted for {} ({})",
                sig.full(),
                image.full(),
                self.name()
            )
        };
        let exact = |a: &ImageName, b: &ImageName| {
            a.full() == b.full() && (a.tag.is_some() || a.digest.is_some())
        };
        let ok = match self {
            SignedIdentity::MatchExact => exact(image, &sig),
            SignedIdentity::MatchRepoDigestOrExact => {
                if image.digest.is_some() {
                    image.repository == sig.repository
                } else {
                    exact(image, &sig)
                }
            }
            SignedIdentity::MatchRepository => image.repository == sig.repository,
            SignedIdentity::ExactReference { docker_reference } => {
                ImageName::parse(docker_reference).is_ok_and(|r| r.full() == sig.full())
            }
            SignedIdentity::ExactRepository { docker_repository } => {
                ImageName::parse(docker_repository).is_ok_and(|r| r.repository == sig.repository)
            }
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                let full = image.full();
                let remapped = match full.strip_prefix(prefix.as_str()) {
                    Some(rest)
                        if rest.is_empty()
                            || prefix.ends_with('/')
                            || rest.starts_with(['/', ':', '@']) =>
                    {
                        ImageName::parse(&format!("{signed_prefix}{rest}")).ok()
                    }
                    _ => Some(image.clone()),
                };
                remapped.is_some_and(|r| {
                    if r.digest.is_some() {
                        r.repository == sig.repository
                    } else {
                        exact(&r, &sig)
                    }
                })
            }
        };
        if ok { Ok(()) } else { Err(refused()) }
    }

    fn name(&self) -> &'static str {
        match self {
            SignedIdentity::MatchExact => "matchExact",
            SignedIdentity::MatchRepoDigestOrExact => "matchRepoDigestOrExact",
            SignedIdentity::MatchRepository => "matchRepository",
            SignedIdentity::ExactReference { .. } => "exactReference",
            SignedIdentity::ExactRepository { .. } => "exactRepository",
            SignedIdentity::RemapIdentity { .. } => "remapIdentity",
        }
    }
}

#[cfg(test)]
mod tests;
