//! Keys in cosign's format: ECDSA P-256; the private key is PKCS#8 DER sealed with
//! NaCl secretbox under a key derived by scrypt from a passphrase, the sealed box and its
//! parameters written as JSON inside a PEM block labelled `ENCRYPTED SIGSTORE PRIVATE KEY`
//! (cosign's older `ENCRYPTED COSIGN PRIVATE KEY` is read too); the public key is a PKIX
//! `PUBLIC KEY` PEM.

use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::{self, LineEnding};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The PEM label cosign writes today.
pub const PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label of keys written by cosign before 2.0.
pub const OLD_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt's cost as cosign writes it (N = 2^15, r = 8, p = 1); cosign also reads N = 2^16.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

/// The JSON inside an encrypted private key's PEM block.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

mod b64 {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s).map_err(serde::de::Error::custom)
    }
}

/// A signing key (the private half of a key pair).
pub struct PrivateKey(SigningKey);

/// A key signatures are verified with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PrivateKey {
    /// A new random P-256 key.
    pub fn generate() -> PrivateKey {
        PrivateKey(SigningKey::random(&mut OsRng))
    }

    /// The key sealed with `passphrase`, as the PEM text of a cosign `.key` file.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String> {
        let der = self
            .0
            .to_pkcs8_der()
            .map_err(|e| Error::Key(format!("encode the private key: {e}")))?;
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let key = derive(passphrase, &salt, SCRYPT_LOG_N)?;
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.as_slice().into());
        let ciphertext = cipher
            .encrypt(&nonce.into(), der.as_bytes())
            .map_err(|e| Error::Key(format!("seal the private key: {e}")))?;
        let sealed = Sealed {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams {
                    n: 1 << SCRYPT_LOG_N,
                    r: SCRYPT_R,
                    p: SCRYPT_P,
                },
                salt: salt.to_vec(),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: nonce.to_vec(),
            },
            ciphertext,
        };
        let json = serde_json::to_vec(&sealed).map_err(|e| Error::Key(e.to_string()))?;
        pem::encode_string(PRIVATE_KEY_LABEL, LineEnding::LF, &json)
            .map_err(|e| Error::Key(format!("write PEM: {e}")))
    }

    /// Open a cosign `.key` file's text with `passphrase`.
    pub fn from_encrypted_pem(text: &str, passphrase: &[u8]) -> Result<PrivateKey> {
        let (label, body) = pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| Error::Key(format!("not a PEM private key: {e}")))?;
        if label != PRIVATE_KEY_LABEL && label != OLD_PRIVATE_KEY_LABEL {
            return Err(Error::Key(format!(
                "unsupported key type {label:?} (want {PRIVATE_KEY_LABEL:?})"
            )));
        }
        let sealed: Sealed = serde_json::from_slice(&body)
            .map_err(|e| Error::Key(format!("encrypted key's contents: {e}")))?;
        if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
            return Err(Error::Key(format!(
                "unsupported key encryption {} with {}",
                sealed.kdf.name, sealed.cipher.name
            )));
        }
        // Only cosign's two costs: a key file must not make us spend unbounded memory.
        let log_n = match sealed.kdf.params.n {
            32768 => 15,
            65536 => 16,
            n => return Err(Error::Key(format!("unsupported scrypt cost N={n}"))),
        };
        if (sealed.kdf.params.r, sealed.kdf.params.p) != (SCRYPT_R, SCRYPT_P) {
            return Err(Error::Key("unsupported scrypt parameters r, p".into()));
        }
        if sealed.cipher.nonce.len() != 24 {
            return Err(Error::Key("bad secretbox nonce".into()));
        }
        let key = derive(passphrase, &sealed.kdf.salt, log_n)?;
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.as_slice().into());
        let nonce = crypto_secretbox::Nonce::from_slice(&sealed.cipher.nonce);
        let der = Zeroizing::new(
            cipher
                .decrypt(nonce, sealed.ciphertext.as_slice())
                .map_err(|_| Error::Passphrase)?,
        );
        let sk = SigningKey::from_pkcs8_der(&der).map_err(|e| {
            Error::Key(format!(
                "the decrypted key is not an ECDSA P-256 PKCS#8 key: {e}"
            ))
        })?;
        Ok(PrivateKey(sk))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }

    /// An ECDSA-SHA256 signature of `message`, DER-encoded (what cosign stores, base64'd).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: Signature = self.0.sign(message);
        sig.to_der().as_bytes().to_vec()
    }
}

impl PublicKey {
    /// A PKIX `PUBLIC KEY` PEM (ECDSA P-256 only, as cosign's default keys).
    pub fn from_pem(text: &str) -> Result<PublicKey> {
        VerifyingKey::from_public_key_pem(text.trim())
            .map(PublicKey)
            .map_err(|e| Error::Key(format!("not an ECDSA P-256 public key PEM: {e}")))
    }

    pub fn to_pem(&self) -> Result<String> {
        self.0
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .map_err(|e| Error::Key(format!("write the public key: {e}")))
    }

    /// Whether `signature` (DER, or the raw 64-byte r‖s form) signs `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let sig = match Signature::from_der(signature) {
            Ok(s) => s,
            Err(_) => match Signature::from_slice(signature) {
                Ok(s) => s,
                Err(_) => return false,
            },
        };
        self.0.verify(message, &sig).is_ok()
    }

    /// A short identity for listings: the first 16 hex digits of the SHA-256 of the
    /// key's DER form.
    pub fn id(&self) -> String {
        use sha2::Digest as _;
        let der = self
            .0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let h = sha2::Sha256::digest(der);
        h.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

fn derive(passphrase: &[u8], salt: &[u8], log_n: u8) -> Result<Zeroizing<[u8; 32]>> {
    let params = scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P, 32)
        .map_err(|e| Error::Key(format!("scrypt parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, out.as_mut_slice())
        .map_err(|e| Error::Key(format!("scrypt: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_passphrase_only() {
        let k = PrivateKey::generate();
        let pem = k.to_encrypted_pem(b"s3cret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let back = PrivateKey::from_encrypted_pem(&pem, b"s3cret").unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert!(matches!(
            PrivateKey::from_encrypted_pem(&pem, b"wrong"),
            Err(Error::Passphrase)
        ));
        let sig = back.sign(b"payload");
        let public = PublicKey::from_pem(&k.public_key().to_pem().unwrap()).unwrap();
        assert!(public.verify(b"payload", &sig));
        assert!(!public.verify(b"payload!", &sig));
        assert!(
            !PublicKey::from_pem(&PrivateKey::generate().public_key().to_pem().unwrap())
                .unwrap()
                .verify(b"payload", &sig)
        );
    }

    #[test]
    fn bad_key_files_are_named() {
        assert!(PrivateKey::from_encrypted_pem("junk", b"x").is_err());
        let other = pem::encode_string("RSA PRIVATE KEY", LineEnding::LF, b"x").unwrap();
        let e = PrivateKey::from_encrypted_pem(&other, b"x").err().unwrap();
        assert!(e.to_string().contains("RSA PRIVATE KEY"), "{e}");
        let costly = pem::encode_string(
            PRIVATE_KEY_LABEL,
            LineEnding::LF,
            br#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":""},"cipher":{"name":"nacl/secretbox","nonce":""},"ciphertext":""}"#,
        )
        .unwrap();
        let e = PrivateKey::from_encrypted_pem(&costly, b"x").err().unwrap();
        assert!(e.to_string().contains("N=1073741824"), "{e}");
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}
