//! Signing in cosign's formats: `berth trust key generate`, `berth sign`, `berth verify`,
//! `berth trust inspect`. Keys never leave the client: the daemon says what to sign (the
//! manifest digest a repository knows the image by) and keeps the signature with the image.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use berth_client::{Method, enc, query};
use berth_models::trust::{AddSignature, ImageSignatures};
use berth_trust::payload::{SignedPayload, verify as verify_one};
use berth_trust::{PrivateKey, PublicKey, SimpleSigning};

use crate::{Global, connect};

#[derive(Debug, clap::Subcommand)]
pub enum TrustCmd {
    /// Manage signing keys
    #[command(subcommand)]
    Key(KeyCmd),
    /// Show an image's signatures and what the daemon's signature policy says of it
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum KeyCmd {
    /// Write a key pair in cosign's format: PREFIX.key (encrypted) and PREFIX.pub
    Generate {
        /// Path prefix of the two files
        #[arg(long, default_value = "cosign")]
        prefix: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Print a table instead of JSON
    #[arg(long)]
    pretty: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The private key (cosign's encrypted format); its passphrase from $BERTH_PASSWORD (or
    /// $COSIGN_PASSWORD), else asked for
    #[arg(long)]
    key: PathBuf,
    /// An annotation to sign with the image (`key=value`)
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    image: String,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The public key (PEM)
    #[arg(long)]
    key: PathBuf,
    image: String,
}

/// The passphrase of a key: the environment, else the terminal (twice when `confirm`).
fn passphrase(confirm: bool) -> Result<String> {
    for k in ["BERTH_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(k) {
            return Ok(p);
        }
    }
    let first = prompt("Enter password for private key: ")?;
    if confirm {
        let again = prompt("Enter password for private key again: ")?;
        if again != first {
            bail!("passwords do not match");
        }
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<String> {
    crate::term::read_secret(
        text,
        "no passphrase: set BERTH_PASSWORD, or run on a terminal",
    )
}

pub fn trust(g: &Global, cmd: TrustCmd) -> Result<i32> {
    match cmd {
        TrustCmd::Key(KeyCmd::Generate { prefix }) => generate(&prefix),
        TrustCmd::Inspect(a) => inspect(g, a),
    }
}

fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(format!(".{ext}"));
    PathBuf::from(s)
}

fn generate(prefix: &Path) -> Result<i32> {
    let (kp, pp) = (with_ext(prefix, "key"), with_ext(prefix, "pub"));
    for p in [&kp, &pp] {
        if p.exists() {
            bail!(
                "{} already exists; remove it or choose another --prefix",
                p.display()
            );
        }
    }
    let pass = passphrase(true)?;
    let key = PrivateKey::generate();
    let pem = key.to_encrypted_pem(pass.as_bytes())?;
    let public = key.public_key().to_pem()?;
    let write = |path: &Path, data: &str, mode: u32| -> Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(data.as_bytes()))
            .map_err(|e| anyhow!("write {}: {e}", path.display()))
    };
    write(&kp, &pem, 0o600)?;
    if let Err(e) = write(&pp, &public, 0o644) {
        let _ = std::fs::remove_file(&kp);
        return Err(e);
    }
    eprintln!("Private key written to {}", kp.display());
    eprintln!("Public key written to {}", pp.display());
    Ok(0)
}

fn signatures(g: &Global, image: &str, target: bool) -> Result<ImageSignatures> {
    let (rt, c) = connect(g)?;
    let q = if target {
        query(&[("target", "1")])
    } else {
        String::new()
    };
    Ok(rt.block_on(c.get(&format!("/images/{}/signatures{q}", enc(image))))?)
}

pub fn sign(g: &Global, a: SignArgs) -> Result<i32> {
    let text = std::fs::read_to_string(&a.key)
        .map_err(|e| anyhow!("read key {}: {e}", a.key.display()))?;
    let mut annotations = BTreeMap::new();
    for kv in &a.annotations {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid annotation {kv:?}: use key=value"))?;
        annotations.insert(k.to_owned(), v.to_owned());
    }
    let pass = passphrase(false)?;
    let key = PrivateKey::from_encrypted_pem(&text, pass.as_bytes())
        .map_err(|e| anyhow!("key {}: {e}", a.key.display()))?;
    let s = signatures(g, &a.image, true)?;
    let target = s
        .target
        .ok_or_else(|| anyhow!("the daemon did not say what to sign for {}", a.image))?;
    let payload = SimpleSigning::new(&target.repository, &target.digest, annotations).to_bytes();
    let req = AddSignature {
        digest: target.digest.clone(),
        payload: B64.encode(&payload),
        signature: B64.encode(key.sign(&payload)),
    };
    let (rt, c) = connect(g)?;
    rt.block_on(c.json::<()>(
        Method::POST,
        &format!("/images/{}/signatures", enc(&a.image)),
        Some(&req),
    ))?;
    eprintln!(
        "Signed {}@{} (kept with the image; `berth push` sends it to the registry)",
        target.repository, target.digest
    );
    Ok(0)
}

pub fn verify(g: &Global, a: VerifyArgs) -> Result<i32> {
    let text = std::fs::read_to_string(&a.key)
        .map_err(|e| anyhow!("read key {}: {e}", a.key.display()))?;
    let key = PublicKey::from_pem(&text).map_err(|e| anyhow!("key {}: {e}", a.key.display()))?;
    let s = signatures(g, &a.image, false)?;
    let mut good = Vec::new();
    let mut why = Vec::new();
    for m in &s.manifests {
        for sig in &m.signatures {
            let Ok(payload) = B64.decode(&sig.payload) else {
                continue;
            };
            let sp = SignedPayload {
                payload: &payload,
                signature_b64: &sig.signature,
            };
            match verify_one(std::slice::from_ref(&key), &sp, &m.digest) {
                Ok((_, claims)) => good.push(claims),
                Err(r) => why.push(r.to_string()),
            }
        }
    }
    if good.is_empty() {
        if why.is_empty() {
            bail!("no signatures found for {}", a.image);
        }
        why.dedup();
        bail!("no matching signatures: {}", why.join("; "));
    }
    eprintln!("\nVerification for {} --", a.image);
    eprintln!("The following checks were performed on each of these signatures:");
    eprintln!("  - The cosign claims were validated");
    eprintln!("  - The signatures were verified against the specified public key\n");
    println!("{}", serde_json::to_string(&good)?);
    Ok(0)
}

fn inspect(g: &Global, a: InspectArgs) -> Result<i32> {
    let mut all = Vec::new();
    for image in &a.images {
        all.push(signatures(g, image, false)?);
    }
    if !a.pretty {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(0);
    }
    for s in &all {
        println!("\nSignatures for {}\n", s.name);
        let rows: Vec<(String, String)> = s
            .manifests
            .iter()
            .flat_map(|m| {
                m.signatures.iter().map(move |sig| {
                    let who = B64
                        .decode(&sig.payload)
                        .ok()
                        .and_then(|p| SimpleSigning::parse(&p).ok())
                        .map_or_else(
                            || "(unreadable payload)".to_owned(),
                            |c| c.critical.identity.docker_reference,
                        );
                    (m.digest.clone(), who)
                })
            })
            .collect();
        if rows.is_empty() {
            println!("No signatures.");
        } else {
            println!("{:<73}  SIGNED IDENTITY", "MANIFEST DIGEST");
            for (d, who) in rows {
                println!("{d:<73}  {who}");
            }
        }
        let p = &s.policy;
        let verdict = match (&p.reason, p.accepted, p.verified) {
            (Some(r), _, _) => format!("refused: {r}"),
            (None, true, true) => format!("accepted, verified by {}", p.signers.join(", ")),
            (None, true, false) => "accepted without a signature check".to_owned(),
            (None, false, _) => "refused".to_owned(),
        };
        let file = if p.file.is_empty() {
            "no policy file"
        } else {
            &p.file
        };
        println!("\nPolicy ({file}, scope {}): {verdict}", p.scope);
    }
    Ok(0)
}
