//! Signed images (issue 16): keys and signatures in cosign's formats, signatures kept with
//! local images and stored in a real registry as cosign stores them, and the daemon's
//! signature policy (`policy.json`) refusing unsigned, foreign-signed and moved-signature
//! images on pull, run (berth and the docker CLI) and build `FROM`, with nothing stored or
//! started. The interop checks use the `sigstore` crate, an independent implementation.
//!
//! The daemon runs in the host's network namespace (to reach the registry on loopback) and
//! its containers with `--network none`, so nothing touches the host's network.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use berth_testkit::{Daemon, Registry};

struct Env {
    daemon: Daemon,
    reg: Registry,
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Env {
    /// A registry and a daemon whose signature policy is `policy` (written to policy.json,
    /// `REG` replaced by the registry's address; key paths relative to the test dir).
    fn start(prefix: &str, policy: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        let reg = Registry::start(&dir.path().join("registry"), None);
        std::fs::write(
            dir.path().join("policy.json"),
            policy.replace("REG", &reg.host()),
        )
        .expect("policy");
        let config = serde_json::json!({
            "signature-policy": dir.path().join("policy.json"),
        });
        std::fs::write(dir.path().join("daemon.json"), config.to_string()).expect("config");
        let daemon = Daemon::start_host_network(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &dir.path().join("daemon"),
            &dir.path().join("daemon.json"),
        );
        let archive = xtask::busybox_image(dir.path()).expect("busybox image");
        std::fs::write(dir.path().join("busybox.tar"), archive).expect("archive");
        let env = Env { daemon, reg, dir };
        env.ok(&["load", "-q", "-i", "busybox.tar"]);
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn reg(&self, repo: &str) -> String {
        format!("{}/{repo}", self.reg.host())
    }

    fn cli(&self, bin: &str, var: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let o = Command::new(bin)
            .env(var, self.daemon.host())
            .env("BERTH_PASSWORD", "correct horse")
            .envs(env.iter().copied())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("client");
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn berth(&self, args: &[&str]) -> Run {
        self.cli(env!("CARGO_BIN_EXE_berth"), "BERTH_HOST", args, &[])
    }

    fn berth_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.cli(env!("CARGO_BIN_EXE_berth"), "BERTH_HOST", args, env)
    }

    fn docker(&self, args: &[&str]) -> Run {
        self.cli("/usr/local/bin/docker", "DOCKER_HOST", args, &[])
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.out, r.err);
        r.out + &r.err
    }

    /// `berth ARGS` must fail with a message containing each of `want`.
    fn refused(&self, args: &[&str], want: &[&str]) -> String {
        let r = self.berth(args);
        assert_ne!(r.code, 0, "berth {args:?} should fail: {}", r.out);
        for w in want {
            assert!(
                r.err.contains(w),
                "berth {args:?}: {:?} not in {}",
                w,
                r.err
            );
        }
        r.err
    }

    /// A pull the policy refuses stores nothing: no new blob, no new name.
    fn refused_pull(&self, name: &str, want: &[&str]) -> String {
        let (blobs, images) = (self.blobs(), self.images());
        let e = self.refused(&["pull", name], want);
        assert_eq!(self.blobs(), blobs, "a refused pull of {name} stored blobs");
        assert_eq!(
            self.images(),
            images,
            "a refused pull of {name} named an image"
        );
        e
    }

    /// A build from `base` is refused with `want`, and leaves no image.
    fn refused_build(&self, base: &str, want: &str) {
        let ctx = self.path("ctx-refused");
        std::fs::create_dir_all(&ctx).expect("ctx");
        std::fs::write(ctx.join("Dockerfile"), format!("FROM {base}\nRUN true\n")).expect("df");
        self.refused(
            &[
                "build",
                "--network",
                "none",
                "-t",
                "refused:1",
                "ctx-refused",
            ],
            &[want],
        );
        assert!(
            !self.images().contains("refused"),
            "a refused build made an image"
        );
    }

    fn images(&self) -> String {
        self.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
    }

    fn blobs(&self) -> usize {
        std::fs::read_dir(self.daemon.image_root().join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// A plain HTTP request to the registry: (status, headers, body).
    fn http(&self, method: &str, path: &str, body: &[u8], ctype: &str) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(self.reg.host()).expect("registry");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            self.reg.host(),
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("headers");
        let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = headers[9..12].parse().expect("status");
        let mut body = raw[split + 4..].to_vec();
        if headers
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, headers, body)
    }

    fn header(headers: &str, name: &str) -> String {
        headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    }

    /// Upload a blob as any registry client does (POST, then PUT with the digest).
    fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        use sha2::Digest as _;
        let digest = format!("sha256:{:x}", sha2::Sha256::digest(data));
        let (st, h, _) = self.http(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            b"",
            "application/octet-stream",
        );
        assert_eq!(st, 202, "start upload");
        let loc = Self::header(&h, "location");
        let loc = loc
            .split_once("://")
            .map_or(loc.as_str(), |(_, r)| {
                r.split_once('/').map_or("", |(_, p)| p)
            })
            .to_owned();
        let loc = if loc.starts_with('/') {
            loc
        } else {
            format!("/{loc}")
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let (st, _, b) = self.http(
            "PUT",
            &format!("{loc}{sep}digest={digest}"),
            data,
            "application/octet-stream",
        );
        assert_eq!(st, 201, "upload: {}", String::from_utf8_lossy(&b));
        digest
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
}

/// The registry's digest of `repo:tag`.
fn manifest_digest(env: &Env, repo: &str, tag: &str) -> String {
    let (st, h, _) = env.http("HEAD", &format!("/v2/{repo}/manifests/{tag}"), b"", "");
    assert_eq!(st, 200, "HEAD {repo}:{tag}");
    Env::header(&h, "docker-content-digest")
}

const POLICY: &str = r#"{
  "default": [{"type": "insecureAcceptAnything"}],
  "transports": {"docker": {
    "REG/signed": [{"type": "sigstoreSigned", "keyPath": "k.pub",
                    "signedIdentity": {"type": "matchRepository"}}],
    "REG/theirs": [{"type": "sigstoreSigned", "keyPath": "theirs.pub",
                    "signedIdentity": {"type": "matchRepository"}}],
    "REG/closed": [{"type": "reject"}]
  }}
}"#;

#[test]
fn signatures_travel_and_the_daemon_enforces_the_policy() {
    let env = Env::start("berth-trust-", POLICY);
    let app = env.reg("signed/app:v1");

    // Keys in cosign's format, the private one sealed with the passphrase.
    env.ok(&["trust", "key", "generate", "--prefix", "k"]);
    let key = std::fs::read_to_string(env.path("k.key")).expect("key");
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{key}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(env.path("k.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    env.refused(
        &["trust", "key", "generate", "--prefix", "k"],
        &["k.key already exists"],
    );
    env.ok(&["trust", "key", "generate", "--prefix", "other"]);

    // Sign locally, verify, push: the signature goes to cosign's tag.
    env.ok(&["tag", "busybox", &app]);
    let r = env.berth_env(
        &["sign", "--key", "k.key", &app],
        &[("BERTH_PASSWORD", "wrong")],
    );
    assert_ne!(r.code, 0);
    assert!(r.err.contains("wrong passphrase"), "{}", r.err);
    env.ok(&["sign", "--key", "k.key", "-a", "team=blue", &app]);
    let out = env.ok(&["verify", "--key", "k.pub", &app]);
    assert!(out.contains("\"team\":\"blue\""), "{out}");
    env.refused(
        &["verify", "--key", "other.pub", &app],
        &["no matching signatures"],
    );
    let out = env.ok(&["push", &app]);
    let digest = manifest_digest(&env, "signed/app", "v1");
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    assert!(
        out.contains(&format!("{sig_tag}: 1 signature pushed")),
        "{out}"
    );

    // What the registry holds is what cosign writes; an independent verifier accepts it.
    let (st, _, body) = env.http(
        "GET",
        &format!("/v2/signed/app/manifests/{sig_tag}"),
        b"",
        "",
    );
    assert_eq!(st, 200, "signature manifest");
    let m: serde_json::Value = serde_json::from_slice(&body).expect("manifest");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let layer = &m["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let sig = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .expect("signature annotation")
        .to_owned();
    let (st, _, payload) = env.http(
        "GET",
        &format!(
            "/v2/signed/app/blobs/{}",
            layer["digest"].as_str().unwrap_or_default()
        ),
        b"",
        "",
    );
    assert_eq!(st, 200);
    let vk = sigstore::crypto::CosignVerificationKey::from_pem(
        std::fs::read(env.path("k.pub")).expect("pub").as_slice(),
        &sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .expect("public key");
    vk.verify_signature(
        sigstore::crypto::Signature::Base64Encoded(sig.as_bytes()),
        &payload,
    )
    .expect("sigstore verifies Berth's signature");
    let claims: serde_json::Value = serde_json::from_slice(&payload).expect("payload");
    assert_eq!(
        claims["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        claims["critical"]["identity"]["docker-reference"],
        env.reg("signed/app")
    );
    assert_eq!(
        claims["critical"]["type"],
        "cosign container image signature"
    );

    // A signature made by the other implementation (cosign's layout, written by hand to the
    // registry) is accepted by Berth's policy and `berth verify`.
    let theirs = env.reg("theirs/app:v1");
    env.ok(&["tag", "busybox", &theirs]);
    env.ok(&["push", "-q", &theirs]);
    let their_digest = manifest_digest(&env, "theirs/app", "v1");
    let signer = sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .expect("signer");
    let pair = signer.to_sigstore_keypair().expect("pair");
    std::fs::write(
        env.path("theirs.pub"),
        pair.public_key_to_pem().expect("pem"),
    )
    .expect("pub");
    let their_payload = serde_json::to_vec(&serde_json::json!({
        "critical": {"identity": {"docker-reference": env.reg("theirs/app")},
                     "image": {"docker-manifest-digest": their_digest},
                     "type": "cosign container image signature"},
        "optional": null
    }))
    .expect("payload");
    let their_sig = B64.encode(signer.sign(&their_payload).expect("sign"));
    let pd = env.put_blob("theirs/app", &their_payload);
    let config = br#"{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = env.put_blob("theirs/app", config);
    let sig_manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": cd},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "size": their_payload.len(), "digest": pd,
                    "annotations": {"dev.cosignproject.cosign/signature": their_sig}}]
    });
    let their_tag = format!("sha256-{}.sig", their_digest.trim_start_matches("sha256:"));
    let (st, _, b) = env.http(
        "PUT",
        &format!("/v2/theirs/app/manifests/{their_tag}"),
        sig_manifest.to_string().as_bytes(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
    env.ok(&["rmi", &theirs]);
    env.ok(&["pull", &theirs]);
    env.ok(&["verify", "--key", "theirs.pub", &theirs]);

    // Pulled back, the signed image passes and runs; inspect names the signer.
    env.ok(&["rmi", &app]);
    env.ok(&["pull", &app]);
    let out = env.ok(&["trust", "inspect", "--pretty", &app]);
    assert!(
        out.contains("accepted, verified by") && out.contains("k.pub"),
        "{out}"
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &app,
        "echo",
        "signed ok",
    ]);
    assert!(out.contains("signed ok"), "{out}");
    let d = env.docker(&["run", "--rm", "--network", "none", &app, "true"]);
    assert_eq!(d.code, 0, "docker run of a signed image: {}", d.err);

    // Unsigned: refused on pull with nothing stored.
    let unsigned = env.reg("signed/unsigned:v1");
    env.ok(&["tag", "busybox", &unsigned]);
    // A different image (another config) so that no signature of busybox's manifest applies.
    env.ok(&[
        "run",
        "--name",
        "mk",
        "--network",
        "none",
        "busybox",
        "touch",
        "/new",
    ]);
    env.ok(&["commit", "mk", &unsigned]);
    env.ok(&["rm", "mk"]);
    env.ok(&["push", "-q", &unsigned]);
    env.ok(&["rmi", &unsigned]);
    let e = env.refused_pull(
        &unsigned,
        &[
            &format!("image {unsigned} refused by the signature policy"),
            &format!("scope \"{}\"", env.reg("signed")),
            "sigstoreSigned keyPath k.pub",
            "a signature was required, but no signature exists",
        ],
    );
    assert!(!env.images().contains("unsigned"), "{e}");
    let d = env.docker(&["pull", &unsigned]);
    assert_ne!(d.code, 0);
    assert!(
        d.err.contains("no signature exists"),
        "docker pull: {}",
        d.err
    );

    // Unsigned local image: refused on run (berth and docker) and as a build base.
    let local = env.reg("signed/local:v1");
    env.ok(&[
        "run",
        "--name",
        "mk2",
        "--network",
        "none",
        "busybox",
        "touch",
        "/other",
    ]);
    env.ok(&["commit", "mk2", &local]);
    env.ok(&["rm", "mk2"]);
    env.refused(
        &["run", "--network", "none", "--name", "nope", &local, "true"],
        &["no signature exists"],
    );
    let d = env.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "nope2",
        &local,
        "true",
    ]);
    assert_eq!(d.code, 125, "docker run: {}", d.err);
    assert!(
        d.err.contains("refused by the signature policy"),
        "{}",
        d.err
    );
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {local}\nRUN true\n")).expect("df");
    env.refused(
        &["build", "--network", "none", "-t", "from-unsigned", "ctx"],
        &["no signature exists"],
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox\nCOPY --from={local} /other /x\n"),
    )
    .expect("df");
    env.refused(
        &["build", "--network", "none", "-t", "copy-unsigned", "ctx"],
        &["no signature exists"],
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {app}\nRUN echo built\n"),
    )
    .expect("df");
    env.ok(&["build", "--network", "none", "-t", "from-signed", "ctx"]);
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(ps.trim().is_empty(), "refused runs start nothing: {ps}");
    assert!(!env.images().contains("from-unsigned") && !env.images().contains("copy-unsigned"));

    // Signed with another key: refused on pull, run and build.
    let foreign = env.reg("signed/foreign:v1");
    env.ok(&["tag", &local, &foreign]);
    env.ok(&["sign", "--key", "other.key", &foreign]);
    env.refused(
        &["run", "--rm", "--network", "none", &foreign, "true"],
        &["no trusted key verifies the signature"],
    );
    env.refused_build(&foreign, "no trusted key verifies the signature");
    env.ok(&["push", "-q", &foreign]);
    env.ok(&["rmi", &foreign]);
    env.refused_pull(&foreign, &["no trusted key verifies the signature"]);

    // The manifest changed after signing: the tag now names another manifest, and the old
    // signature is copied beside it — it still signs the old digest.
    let moved = env.reg("signed/app:v1");
    env.ok(&["tag", &local, &moved]);
    env.refused(
        &["run", "--rm", "--network", "none", &moved, "true"],
        &["refused by the signature policy"],
    );
    env.refused_build(&moved, "refused by the signature policy");
    env.ok(&["push", "-q", &moved]);
    let new_digest = manifest_digest(&env, "signed/app", "v1");
    assert_ne!(new_digest, digest);
    let (st, _, old_sig) = env.http(
        "GET",
        &format!("/v2/signed/app/manifests/{sig_tag}"),
        b"",
        "",
    );
    assert_eq!(st, 200);
    let new_tag = format!("sha256-{}.sig", new_digest.trim_start_matches("sha256:"));
    let (st, _, _) = env.http(
        "PUT",
        &format!("/v2/signed/app/manifests/{new_tag}"),
        &old_sig,
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(st, 201);
    env.ok(&["rmi", &moved]);
    env.refused_pull(&moved, &[&format!("signs manifest {digest}")]);

    // A scope that rejects everything, and content trust on the client.
    env.ok(&["tag", "busybox", &env.reg("closed/x:1")]);
    env.refused(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &env.reg("closed/x:1"),
            "true",
        ],
        &["(scope \"", "reject): the policy rejects it"],
    );
    let r = env.berth_env(
        &["run", "--rm", "--network", "none", "busybox", "true"],
        &[("DOCKER_CONTENT_TRUST", "1")],
    );
    assert_eq!(r.code, 125, "{}", r.err);
    assert!(r.err.contains("content trust is on"), "{}", r.err);
    let r = env.berth_env(
        &["run", "--rm", "--network", "none", &theirs, "true"],
        &[("BERTH_CONTENT_TRUST", "1")],
    );
    assert_eq!(r.code, 0, "a verified image under content trust: {}", r.err);
}

#[test]
fn signatures_survive_save_and_load_and_bad_input_is_named() {
    let env = Env::start("berth-trust-io-", POLICY);
    let app = env.reg("signed/app:v2");
    env.ok(&["trust", "key", "generate", "--prefix", "k"]);
    env.ok(&["tag", "busybox", &app]);
    env.ok(&["sign", "--key", "k.key", &app]);
    let id = env
        .ok(&["inspect", "--format", "{{.Id}}", "busybox"])
        .trim()
        .to_owned();
    for format in ["docker-archive", "oci-archive"] {
        let file = format!("app-{format}.tar");
        env.ok(&["save", "--format", format, "-o", &file, &app]);
        // The image goes entirely (every name), and its signatures with it.
        env.ok(&["rmi", "-f", &id]);
        env.refused(&["verify", "--key", "k.pub", &app], &["No such image"]);
        let out = env.ok(&["load", "-i", &file]);
        assert!(out.contains(&app), "{out}");
        env.ok(&["verify", "--key", "k.pub", &app]);
        env.ok(&["run", "--rm", "--network", "none", &app, "true"]);
        env.ok(&["load", "-q", "-i", "busybox.tar"]);
    }

    // A forged archive entry that ties the signature to another image is not kept.
    let tar = std::fs::read(env.path("app-docker-archive.tar")).expect("tar");
    let mut ar = tar::Archive::new(tar.as_slice());
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        entries.push((name, data));
    }
    env.ok(&[
        "run",
        "--name",
        "mk",
        "--network",
        "none",
        "busybox",
        "touch",
        "/evil",
    ]);
    env.ok(&["commit", "mk", "evil:1"]);
    env.ok(&["rm", "mk"]);
    let evil = env
        .ok(&["inspect", "--format", "{{.Id}}", "evil:1"])
        .trim()
        .to_owned();
    env.ok(&["save", "-o", "evil.tar", "evil:1"]);
    let mut b = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(std::fs::File::open(env.path("evil.tar")).expect("evil"));
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        if name == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(&data).expect("m");
            m[0]["RepoTags"] = serde_json::json!([app]);
            data = serde_json::to_vec(&m).expect("m");
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, &name, data.as_slice())
            .expect("append");
    }
    let (_, sigs) = entries
        .iter()
        .find(|(n, _)| n == "berth-signatures.json")
        .expect("signatures in the archive");
    let mut forged: serde_json::Value = serde_json::from_slice(sigs).expect("sigs");
    forged[0]["image"] = serde_json::json!(evil);
    let data = serde_json::to_vec(&forged).expect("json");
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "berth-signatures.json", data.as_slice())
        .expect("append");
    std::fs::write(env.path("forged.tar"), b.into_inner().expect("tar")).expect("write");
    env.ok(&["rmi", "-f", &app, "evil:1"]);
    env.ok(&["load", "-i", "forged.tar"]);
    env.refused(
        &["run", "--rm", "--network", "none", &app, "true"],
        &["no signature exists"],
    );
    env.refused(
        &["verify", "--key", "k.pub", &app],
        &["no signatures found"],
    );
    // …and the real image keeps its signature.
    env.ok(&["verify", "--key", "k.pub", "busybox"]);

    // Bad input: a malformed policy refuses (named), a missing key file in it too; a damaged
    // key file, a public key that is not one.
    std::fs::write(
        env.path("policy.json"),
        r#"{"default":[{"type":"acceptAll"}]}"#,
    )
    .expect("policy");
    env.refused(
        &["run", "--rm", "--network", "none", "busybox", "true"],
        &["policy.json", "acceptAll"],
    );
    std::fs::write(
        env.path("policy.json"),
        r#"{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent/key.pub"}]}"#,
    )
    .expect("policy");
    env.refused(
        &["run", "--rm", "--network", "none", "busybox", "true"],
        &["/nonexistent/key.pub"],
    );
    std::fs::write(
        env.path("policy.json"),
        POLICY.replace("REG", &env.reg.host()),
    )
    .expect("policy");
    std::fs::write(env.path("bad.key"), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJ9\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n").expect("key");
    env.refused(&["sign", "--key", "bad.key", &app], &["bad.key"]);
    std::fs::write(env.path("bad.pub"), "not a key").expect("key");
    env.refused(&["verify", "--key", "bad.pub", &app], &["bad.pub"]);
    env.refused(&["sign", "--key", "k.key", "sha256:0000"], &[]);

    // A daemon given a policy file that does not exist, or a broken one, does not start.
    for (policy, want) in [
        ("missing.json", "missing.json"),
        ("broken.json", "broken.json"),
    ] {
        if policy == "broken.json" {
            std::fs::write(env.path(policy), "{").expect("broken");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["daemon", "-H"])
            .arg(format!("unix://{}", env.path("d2.sock").display()))
            .arg("--data-root")
            .arg(env.path("d2"))
            .arg("--exec-root")
            .arg(env.path("d2x"))
            .arg("--signature-policy")
            .arg(env.path(policy))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("daemon");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("a daemon with policy {policy} started");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let o = child.wait_with_output().expect("output");
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{err}");
    }
}
