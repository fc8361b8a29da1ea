//! cosign's "simple signing" payload: what a signature signs — a manifest digest and the
//! repository it was signed for — and the check of a signature against keys.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::{Error, Result};

/// The `critical.type` cosign writes and checks.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The payload, field for field as cosign marshals it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    /// cosign's `-a key=value` annotations (`null` without any).
    #[serde(default)]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: ImageClaim,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageClaim {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The claim that `digest` is the image of `repository` (cosign writes the repository
    /// without tag or digest).
    pub fn new(repository: &str, digest: &str, annotations: BTreeMap<String, String>) -> Self {
        SimpleSigning {
            critical: Critical {
                identity: Identity {
                    docker_reference: repository.to_owned(),
                },
                image: ImageClaim {
                    docker_manifest_digest: digest.to_owned(),
                },
                kind: SIGNATURE_TYPE.to_owned(),
            },
            optional: (!annotations.is_empty()).then(|| {
                annotations
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect()
            }),
        }
    }

    /// The bytes that get signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn parse(payload: &[u8]) -> Result<SimpleSigning> {
        let p: SimpleSigning = serde_json::from_slice(payload)
            .map_err(|e| Error::Payload(format!("not a simple-signing payload: {e}")))?;
        if p.critical.kind != SIGNATURE_TYPE {
            return Err(Error::Payload(format!(
                "signature type {:?}, not {SIGNATURE_TYPE:?}",
                p.critical.kind
            )));
        }
        Ok(p)
    }
}

/// A signature as stored beside an image: the payload and the base64 signature of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload<'a> {
    pub payload: &'a [u8],
    pub signature_b64: &'a str,
}

/// Why a signature did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No key of the list verifies it.
    NoKey,
    /// It verifies but claims another manifest.
    OtherDigest(String),
    /// Not decodable.
    Malformed(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::NoKey => write!(f, "no trusted key verifies the signature"),
            Rejection::OtherDigest(d) => write!(f, "the signature is for manifest {d}"),
            Rejection::Malformed(m) => write!(f, "malformed signature: {m}"),
        }
    }
}

/// Check one signature against `keys` for the manifest `digest`: the key that verifies it (its
/// index) and the payload's claims.
pub fn verify(
    keys: &[PublicKey],
    sig: &SignedPayload<'_>,
    digest: &str,
) -> std::result::Result<(usize, SimpleSigning), Rejection> {
    let raw = B64
        .decode(sig.signature_b64.trim())
        .map_err(|e| Rejection::Malformed(format!("signature is not base64: {e}")))?;
    let which = keys
        .iter()
        .position(|k| k.verify(sig.payload, &raw))
        .ok_or(Rejection::NoKey)?;
    // Claims are read only once a trusted key vouches for them.
    let claims =
        SimpleSigning::parse(sig.payload).map_err(|e| Rejection::Malformed(e.to_string()))?;
    if claims.critical.image.docker_manifest_digest != digest {
        return Err(Rejection::OtherDigest(
            claims.critical.image.docker_manifest_digest,
        ));
    }
    Ok((which, claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    #[test]
    fn payload_is_cosigns() {
        let p = SimpleSigning::new("127.0.0.1:5000/app", "sha256:ab", BTreeMap::new());
        assert_eq!(
            String::from_utf8(p.to_bytes()).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"cosign container image signature"},"optional":null}"#
        );
        assert_eq!(SimpleSigning::parse(&p.to_bytes()).unwrap(), p);
        assert!(SimpleSigning::parse(br#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"b"},"type":"atomic container signature"}}"#).is_err());
    }

    #[test]
    fn verify_names_why() {
        let k = PrivateKey::generate();
        let other = PrivateKey::generate().public_key();
        let payload = SimpleSigning::new("r/a", "sha256:1", BTreeMap::new()).to_bytes();
        let sig = B64.encode(k.sign(&payload));
        let s = SignedPayload {
            payload: &payload,
            signature_b64: &sig,
        };
        assert_eq!(
            verify(&[other.clone(), k.public_key()], &s, "sha256:1")
                .unwrap()
                .0,
            1
        );
        assert_eq!(verify(&[other], &s, "sha256:1"), Err(Rejection::NoKey));
        assert_eq!(
            verify(&[k.public_key()], &s, "sha256:2"),
            Err(Rejection::OtherDigest("sha256:1".into()))
        );
        let bad = SignedPayload {
            payload: &payload,
            signature_b64: "!!",
        };
        assert!(matches!(
            verify(&[k.public_key()], &bad, "sha256:1"),
            Err(Rejection::Malformed(_))
        ));
    }
}
