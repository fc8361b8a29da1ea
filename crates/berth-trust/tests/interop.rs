//! Berth's keys and signatures against an independent implementation of cosign's formats (the
//! `sigstore` crate): each side opens the other's encrypted key files and verifies the other's
//! signatures of a simple-signing payload.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use berth_trust::payload::{SignedPayload, verify};
use berth_trust::{PrivateKey, PublicKey, SimpleSigning};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn sigstore_opens_berths_key_and_verifies_its_signature() {
    let key = PrivateKey::generate();
    let pem = key.to_encrypted_pem(b"pw").unwrap();
    let theirs = SigStoreKeyPair::from_encrypted_pem(pem.as_bytes(), b"pw")
        .expect("sigstore opens Berth's key");
    assert_eq!(
        PublicKey::from_pem(&theirs.public_key_to_pem().unwrap()).unwrap(),
        key.public_key()
    );
    assert!(SigStoreKeyPair::from_encrypted_pem(pem.as_bytes(), b"other").is_err());

    let payload = SimpleSigning::new("127.0.0.1:5000/app", DIGEST, Default::default()).to_bytes();
    let sig = B64.encode(key.sign(&payload));
    let vk = CosignVerificationKey::from_pem(
        key.public_key().to_pem().unwrap().as_bytes(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    vk.verify_signature(Signature::Base64Encoded(sig.as_bytes()), &payload)
        .expect("sigstore verifies Berth's signature");
    assert!(
        vk.verify_signature(Signature::Base64Encoded(sig.as_bytes()), b"{}")
            .is_err()
    );
}

#[test]
fn berth_opens_sigstores_key_and_verifies_its_signature() {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap();
    let pair = signer.to_sigstore_keypair().unwrap();
    let pem = pair.private_key_to_encrypted_pem(b"pw").unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let ours = PrivateKey::from_encrypted_pem(&pem, b"pw").expect("Berth opens sigstore's key");
    let public = PublicKey::from_pem(&pair.public_key_to_pem().unwrap()).unwrap();
    assert_eq!(ours.public_key(), public);

    let payload = SimpleSigning::new("127.0.0.1:5000/app", DIGEST, Default::default()).to_bytes();
    let sig = B64.encode(signer.sign(&payload).unwrap());
    let sp = SignedPayload {
        payload: &payload,
        signature_b64: &sig,
    };
    let (_, claims) = verify(&[public], &sp, DIGEST).expect("Berth verifies sigstore's signature");
    assert_eq!(
        claims.critical.identity.docker_reference,
        "127.0.0.1:5000/app"
    );
}
