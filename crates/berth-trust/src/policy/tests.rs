use super::*;
use crate::keys::PrivateKey;
use crate::payload::SimpleSigning;

const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn name(s: &str) -> ImageName {
    ImageName::parse(s).unwrap()
}

#[test]
fn names_and_scopes() {
    let n = name("busybox");
    assert_eq!(n.repository, "docker.io/library/busybox");
    assert_eq!((n.tag.as_deref(), n.digest.as_deref()), (None, None));
    assert_eq!(
        name("index.docker.io/library/busybox").repository,
        "docker.io/library/busybox"
    );
    assert_eq!(name("busybox:1").full(), "docker.io/library/busybox:1");
    assert_eq!(
        name("reg.example.com/team/app:v1").scopes(),
        [
            "reg.example.com/team/app:v1",
            "reg.example.com/team/app",
            "reg.example.com/team",
            "reg.example.com",
            "*.example.com",
            "*.com"
        ]
    );
    assert_eq!(
        name("127.0.0.1:5000/app:v1").scopes(),
        [
            "127.0.0.1:5000/app:v1",
            "127.0.0.1:5000/app",
            "127.0.0.1:5000"
        ]
    );
}

#[test]
fn the_most_specific_scope_decides() {
    let p = Policy::parse(
        br#"{"default":[{"type":"reject"}],
             "transports":{"docker":{
               "":[{"type":"insecureAcceptAnything"}],
               "reg.example.com/team":[{"type":"reject"}],
               "reg.example.com/team/app":[{"type":"insecureAcceptAnything"}],
               "*.example.com":[{"type":"reject"}]}}}"#,
    )
    .unwrap();
    let dir = Path::new("/");
    assert!(
        p.evaluate(&name("reg.example.com/team/app:1"), &[], dir)
            .is_ok()
    );
    let r = p
        .evaluate(&name("reg.example.com/team/other:1"), &[], dir)
        .unwrap_err();
    assert_eq!(r.scope, "\"reg.example.com/team\"");
    assert_eq!(r.rule, "reject");
    assert!(p.evaluate(&name("x.example.com/a:1"), &[], dir).is_err());
    assert!(p.evaluate(&name("busybox"), &[], dir).is_ok());
    let none = Policy::parse(br#"{"default":[{"type":"reject"}]}"#).unwrap();
    assert_eq!(
        none.evaluate(&name("busybox"), &[], dir).unwrap_err().scope,
        "default"
    );
}

#[test]
fn bad_policies_are_named() {
    for (text, want) in [
        (&br#"{"default":[]}"#[..], "at least one requirement"),
        (
            br#"{"default":[{"type":"acceptEverything"}]}"#,
            "acceptEverything",
        ),
        (br#"{"default":[{"type":"reject"}],"other":1}"#, "other"),
        (
            br#"{"default":[{"type":"sigstoreSigned","keyPth":"/k"}]}"#,
            "keyPth",
        ),
        (
            br#"{"default":[{"type":"reject"}],"transports":{"docker":{"a":[]}}}"#,
            "scope \"a\"",
        ),
    ] {
        let e = Policy::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}

fn signed(key: &PrivateKey, identity: &str, digest: &str, stored_under: &str) -> Candidate {
    use base64::Engine as _;
    let payload = SimpleSigning::new(identity, digest, Default::default()).to_bytes();
    let signature_b64 = B64.encode(key.sign(&payload));
    Candidate {
        digest: stored_under.into(),
        payload,
        signature_b64,
    }
}

#[test]
fn sigstore_signed_checks_key_digest_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate();
    std::fs::write(dir.path().join("k.pub"), key.public_key().to_pem().unwrap()).unwrap();
    let policy = |identity: &str| {
        Policy::parse(
            format!(r#"{{"default":[{{"type":"sigstoreSigned","keyPath":"k.pub"{identity}}}]}}"#)
                .as_bytes(),
        )
        .unwrap()
    };
    let repo_only = policy(r#","signedIdentity":{"type":"matchRepository"}"#);
    let img = name("127.0.0.1:5000/app:v1");
    let good = signed(&key, "127.0.0.1:5000/app", A, A);
    let d = repo_only
        .evaluate(&img, std::slice::from_ref(&good), dir.path())
        .unwrap();
    assert!(d.verified);
    assert!(d.signers[0].contains("k.pub"), "{:?}", d.signers);

    // cosign's identity has no tag: the default (matchRepoDigestOrExact) wants one for a tag.
    let strict = policy("");
    let r = strict
        .evaluate(&img, std::slice::from_ref(&good), dir.path())
        .unwrap_err();
    assert!(r.reason.contains("not accepted"), "{r}");
    assert!(
        strict
            .evaluate(
                &name(&format!("127.0.0.1:5000/app@{A}")),
                std::slice::from_ref(&good),
                dir.path()
            )
            .is_ok()
    );

    let r = repo_only.evaluate(&img, &[], dir.path()).unwrap_err();
    assert_eq!(
        r.reason,
        "a signature was required, but no signature exists"
    );
    assert!(r.to_string().contains("image 127.0.0.1:5000/app:v1"), "{r}");

    let other = signed(&PrivateKey::generate(), "127.0.0.1:5000/app", A, A);
    let r = repo_only.evaluate(&img, &[other], dir.path()).unwrap_err();
    assert!(r.reason.contains("no trusted key"), "{r}");

    let moved = signed(&key, "127.0.0.1:5000/app", A, B);
    let r = repo_only.evaluate(&img, &[moved], dir.path()).unwrap_err();
    assert!(
        r.reason
            .contains(&format!("stored for manifest {B} signs manifest {A}")),
        "{r}"
    );

    let elsewhere = signed(&key, "127.0.0.1:5000/other", A, A);
    assert!(repo_only.evaluate(&img, &[elsewhere], dir.path()).is_err());

    let missing =
        Policy::parse(br#"{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent/k.pub"}]}"#)
            .unwrap();
    let r = missing.evaluate(&img, &[good], dir.path()).unwrap_err();
    assert!(r.reason.contains("/nonexistent/k.pub"), "{r}");
}

#[test]
fn key_data_and_identities() {
    use base64::Engine as _;
    let key = PrivateKey::generate();
    let data = B64.encode(key.public_key().to_pem().unwrap());
    let p = Policy::parse(
        format!(
            r#"{{"default":[{{"type":"sigstoreSigned","keyData":"{data}","signedIdentity":{{"type":"remapIdentity","prefix":"mirror.local/hub","signedPrefix":"docker.io/library"}}}}]}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    let c = signed(&key, "docker.io/library/busybox:1", A, A);
    assert!(
        p.evaluate(
            &name("mirror.local/hub/busybox:1"),
            std::slice::from_ref(&c),
            Path::new("/")
        )
        .is_ok()
    );
    assert!(
        p.evaluate(&name("mirror.local/hub/busybox:2"), &[c], Path::new("/"))
            .is_err()
    );
    let exact = SignedIdentity::ExactRepository {
        docker_repository: "reg.io/a".into(),
    };
    assert!(exact.accepts(&name("anything:1"), "reg.io/a").is_ok());
    assert!(exact.accepts(&name("anything:1"), "reg.io/b").is_err());
    assert!(
        SignedIdentity::MatchExact
            .accepts(&name("reg.io/a:1"), "reg.io/a:1")
            .is_ok()
    );
    assert!(
        SignedIdentity::MatchExact
            .accepts(&name("reg.io/a:1"), "reg.io/a")
            .is_err()
    );
    let two = Policy::parse(
        br#"{"default":[{"type":"sigstoreSigned","keyPath":"/a","keyData":"eA=="}]}"#,
    )
    .unwrap();
    let r = two.evaluate(&name("a:1"), &[], Path::new("/")).unwrap_err();
    assert!(r.reason.contains("exactly one"), "{r}");
    let gpg = Policy::parse(
        br#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}"#,
    )
    .unwrap();
    assert!(
        gpg.evaluate(&name("a:1"), &[], Path::new("/"))
            .unwrap_err()
            .reason
            .contains("GPG")
    );
}
