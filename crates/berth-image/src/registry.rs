//! Registries: `pull` and `push` over the OCI distribution API (through the `oci-client` crate),
//! credentials from Docker's `config.json` and credential helpers, and `login`/`logout`.
//!
//! Pull: the manifest (or index, resolved to one platform) is fetched and verified against the
//! digest asked for; config and layers stream into the content store (digest-verified before
//! they become visible, several layers at once, each retried on transient errors, blobs already
//! in the store skipped); layers are then unpacked in parallel, each verified against its diff
//! id; the image is recorded last. A crash at any point leaves only unreferenced blobs and
//! temporary files behind, which the next pull reuses or garbage collection removes.
//!
//! Push: layers the registry has are skipped, blobs it has under another repository are
//! mounted, the rest are uploaded (uncompressed layers are gzip-compressed once and remembered);
//! the manifest goes last.

use std::io::Read;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use serde_json::{Value, json};

use crate::digest::Digest;
use crate::error::{Error, Result, io};
use crate::images::{Image, Images};
use crate::reference::{DEFAULT_REGISTRY, Reference};
use crate::snapshot::chain_ids;
use crate::unpack::{Compression, detect};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

const ACCEPT: &[&str] = &[DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];
/// Docker's default `max-concurrent-downloads` / `-uploads`.
const CONCURRENT: usize = 3;
const ATTEMPTS: u32 = 3;
/// The registry Docker Hub references are pulled from, and the key of its credentials.
const HUB_HOST: &str = "registry-1.docker.io";
const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Registry settings (the daemon config's `insecure-registries` and `registry-mirrors`).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Registries (host[:port], or CIDR of IP addresses) reached over plain HTTP. Loopback
    /// registries always are, as in Docker.
    pub insecure: Vec<String>,
    /// Mirrors for Docker Hub, as URLs (`http://10.0.0.1:5000`) or host[:port].
    pub mirrors: Vec<String>,
}

/// Credentials for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic(String, String),
    /// An identity/refresh token, as `docker login` may store.
    Token(String),
}

/// Progress of a pull or push, reported per blob (`id` = 12 hex digits) and as whole lines.
pub trait Progress: Send + Sync {
    /// A blob's status changed (`Pulling fs layer`, `Downloading`, `Pull complete`, …);
    /// `bytes` is (done, total) while data moves.
    fn update(&self, id: &str, status: &str, bytes: Option<(u64, u64)>);
    /// A line for the user (`latest: Pulling from library/busybox`).
    fn line(&self, text: &str);
}

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn update(&self, _: &str, _: &str, _: Option<(u64, u64)>) {}
    fn line(&self, _: &str) {}
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image: Image,
    /// The digest of the manifest (or index) the reference resolved to.
    pub digest: Digest,
    /// False when the image was already there under that reference.
    pub new: bool,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: usize,
}

fn short(d: &str) -> String {
    let hex = d.trim_start_matches("sha256:");
    hex[..hex.len().min(12)].to_owned()
}

fn reg_err(msg: impl Into<String>) -> Error {
    Error::Registry(msg.into())
}

/// The registry host a reference's registry is reached at (Docker Hub's API host for docker.io).
pub fn api_host(registry: &str) -> &str {
    if registry == DEFAULT_REGISTRY || registry == "index.docker.io" {
        HUB_HOST
    } else {
        registry
    }
}

/// The key of a registry's credentials in Docker's config.json.
pub fn auth_key(registry: &str) -> String {
    if registry == DEFAULT_REGISTRY || registry == HUB_HOST || registry == "index.docker.io" {
        HUB_AUTH_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// Whether `host` (host[:port]) is reached over HTTP.
pub fn is_insecure(settings: &Settings, host: &str) -> bool {
    let bare = strip_port(host);
    if bare == "localhost" || bare.ends_with(".localhost") {
        return true;
    }
    let ip: Option<std::net::IpAddr> = bare.trim_matches(['[', ']']).parse().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    settings.insecure.iter().any(|entry| {
        if entry == host || entry == bare {
            return true;
        }
        match (entry.split_once('/'), ip) {
            (Some((net, bits)), Some(ip)) => in_cidr(ip, net, bits),
            _ => false,
        }
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn in_cidr(ip: std::net::IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<std::net::IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn install_crypto() {
    // rustls needs one process-wide crypto provider; ring builds with no C toolchain beyond cc.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client_for(settings: &Settings, host: &str) -> oci_client::Client {
    install_crypto();
    let protocol = if is_insecure(settings, host) {
        ClientProtocol::HttpsExcept(vec![host.to_owned()])
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        max_concurrent_download: CONCURRENT,
        max_concurrent_upload: CONCURRENT,
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
}

fn registry_auth(c: &Credentials) -> RegistryAuth {
    match c {
        Credentials::Anonymous => RegistryAuth::Anonymous,
        Credentials::Basic(u, p) => RegistryAuth::Basic(u.clone(), p.clone()),
        // Docker sends identity tokens as the password of the user `<token>`.
        Credentials::Token(t) => RegistryAuth::Basic("<token>".into(), t.clone()),
    }
}

fn oci_ref(host: &str, r: &Reference, digest: Option<&Digest>) -> oci_client::Reference {
    match (digest.or(r.digest.as_ref()), &r.tag) {
        (Some(d), _) => {
            oci_client::Reference::with_digest(host.into(), r.repository.clone(), d.to_string())
        }
        (None, t) => oci_client::Reference::with_tag(
            host.into(),
            r.repository.clone(),
            t.clone().unwrap_or_else(|| "latest".into()),
        ),
    }
}

/// A one-line, Docker-like description of a registry failure.
fn describe(e: &OciDistributionError, what: &str) -> Error {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Error::Unauthorized(format!(
            "{what}: unauthorized: authentication required (wrong or missing credentials? see 'berth login')"
        )),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope.errors.iter().map(|x| x.message.clone()).collect();
            let msg = format!("{what}: {}", codes.join("; "));
            let denied = envelope.errors.iter().any(|x| {
                matches!(
                    x.code,
                    oci_client::errors::OciErrorCode::Unauthorized
                        | oci_client::errors::OciErrorCode::Denied
                )
            });
            if denied {
                Error::Unauthorized(msg)
            } else {
                reg_err(msg)
            }
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let m = message.trim();
            reg_err(format!(
                "{what}: registry answered {code}{}",
                if m.is_empty() {
                    String::new()
                } else {
                    format!(": {}", m.lines().next().unwrap_or_default())
                }
            ))
        }
        OciDistributionError::RequestError(r)
            if r.status() == Some(reqwest::StatusCode::UNAUTHORIZED) =>
        {
            Error::Unauthorized(format!(
                "{what}: unauthorized: authentication required (wrong or missing credentials? see 'berth login')"
            ))
        }
        OciDistributionError::RequestError(r) => {
            let mut msg = r.to_string();
            let mut src = std::error::Error::source(r);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            reg_err(format!("{what}: {msg}"))
        }
        OciDistributionError::DigestError(d) => Error::DigestMismatch {
            expected: what.to_owned(),
            actual: d.to_string(),
        },
        other => reg_err(format!("{what}: {other}")),
    }
}

fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => {
            r.is_connect() || r.is_timeout() || r.is_body() || r.is_request()
        }
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

/// The platform to pull: `os/arch[/variant]`, by default this host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_lowercase(),
                arch: arch.to_lowercase(),
                variant: None,
            }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Platform {
                os: os.to_lowercase(),
                arch: arch.to_lowercase(),
                variant: Some(v.to_lowercase()),
            }),
            _ => Err(Error::Format(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ))),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Pick the manifest for `want` from an index / manifest list.
pub fn select_platform(index: &Value, want: &Platform) -> Option<Digest> {
    let entries = index["manifests"].as_array()?;
    let matches = |m: &&Value, strict_variant: bool| {
        let p = &m["platform"];
        p["os"].as_str() == Some(want.os.as_str())
            && p["architecture"].as_str() == Some(want.arch.as_str())
            && match (&want.variant, p["variant"].as_str()) {
                (Some(v), Some(pv)) => v == pv,
                (Some(_), None) => !strict_variant,
                (None, _) => true,
            }
    };
    entries
        .iter()
        .find(|m| matches(m, true))
        .or_else(|| entries.iter().find(|m| matches(m, false)))
        .and_then(|m| Digest::parse(m["digest"].as_str()?).ok())
}

/// Options of a pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub platform: Option<Platform>,
    pub credentials: Credentials,
    pub settings: Settings,
}

/// Pull `r` into `images`.
pub async fn pull(
    images: &Images,
    r: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled> {
    // Docker Hub goes through the mirrors first, then to the Hub itself.
    let mut hosts: Vec<(String, bool)> = Vec::new();
    if r.registry == DEFAULT_REGISTRY {
        for m in &opts.settings.mirrors {
            let h = m
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            hosts.push((h.to_owned(), true));
        }
    }
    hosts.push((api_host(&r.registry).to_owned(), false));
    let mut last = None;
    for (host, mirror) in &hosts {
        match pull_from(images, r, host, opts, progress).await {
            Ok(p) => return Ok(p),
            // A mirror that fails is skipped, as Docker does.
            Err(e) if *mirror => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| reg_err("no registry to pull from")))
}

async fn pull_from(
    images: &Images,
    r: &Reference,
    host: &str,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let client = client_for(&opts.settings, host);
    let auth = registry_auth(&opts.credentials);
    let oref = oci_ref(host, r, None);
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    let (body, _) = with_retry(|| client.pull_manifest_raw(&oref, &auth, ACCEPT))
        .await
        .map_err(|e| match e {
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|x| {
                    matches!(
                        x.code,
                        oci_client::errors::OciErrorCode::ManifestUnknown
                            | oci_client::errors::OciErrorCode::NameUnknown
                    )
                }) =>
            {
                Error::ManifestUnknown(format!("manifest for {r} not found: manifest unknown"))
            }
            OciDistributionError::ImageManifestNotFoundError(_) => {
                Error::ManifestUnknown(format!("manifest for {r} not found: manifest unknown"))
            }
            e => describe(&e, &format!("pull {r}")),
        })?;
    let top = Digest::of(&body);
    if let Some(d) = &r.digest {
        if *d != top {
            return Err(Error::DigestMismatch {
                expected: format!("manifest {d}"),
                actual: top.to_string(),
            });
        }
    }
    if let Some(t) = &r.tag {
        progress.line(&format!("{t}: Pulling from {}", r.repository));
    } else {
        progress.line(&format!("{}: Pulling from {}", top, r.repository));
    }
    images.store().ingest_bytes(&body, Some(&top))?;
    let mut manifest: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Format(format!("manifest of {r}: {e}")))?;
    let media = manifest["mediaType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let is_index = media == DOCKER_LIST || media == OCI_INDEX || manifest["manifests"].is_array();
    if is_index {
        let pick = select_platform(&manifest, &want).ok_or_else(|| {
            reg_err(format!(
                "no matching manifest for {want} in the manifest list entries"
            ))
        })?;
        let mref = oci_ref(host, r, Some(&pick));
        let (b, _) = with_retry(|| client.pull_manifest_raw(&mref, &auth, ACCEPT))
            .await
            .map_err(|e| describe(&e, &format!("pull {r}")))?;
        images.store().ingest_bytes(&b, Some(&pick))?;
        manifest = serde_json::from_slice(&b)
            .map_err(|e| Error::Format(format!("manifest {pick}: {e}")))?;
    } else if manifest["schemaVersion"].as_u64() == Some(1) {
        return Err(reg_err(format!(
            "{r}: image manifest schema 1 is not supported (Docker dropped it too)"
        )));
    }
    let config_desc = descriptor(&manifest["config"])?;
    let layer_descs = manifest["layers"]
        .as_array()
        .ok_or_else(|| Error::Format(format!("manifest of {r} lists no layers")))?
        .iter()
        .map(descriptor)
        .collect::<Result<Vec<_>>>()?;
    for d in &layer_descs {
        let mt = d.media_type.as_str();
        let known = mt.is_empty()
            || [DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER].contains(&mt)
            || mt == "application/vnd.docker.image.rootfs.diff.tar"
            || mt.ends_with(".nondistributable.v1.tar+gzip")
            || mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
        if !known {
            return Err(reg_err(format!(
                "{r}: unsupported layer media type {mt:?} (not a container image?)"
            )));
        }
    }
    let config_digest = Digest::parse(&config_desc.digest)?;
    let up_to_date = r.tag.is_some()
        && images
            .resolve(&r.to_string())
            .is_ok_and(|i| i.id == config_digest.to_string());

    fetch(images, &client, &oref, &config_desc, None).await?;
    let cfg: Value = serde_json::from_slice(&images.store().read(&config_digest)?)
        .map_err(|e| Error::Format(format!("image config {config_digest}: {e}")))?;
    if let (Some(os), Some(arch)) = (cfg["os"].as_str(), cfg["architecture"].as_str()) {
        if opts.platform.is_some() && (os != want.os || arch != want.arch) {
            return Err(reg_err(format!(
                "image with reference {r} was found but its platform ({os}/{arch}) does not match the specified platform ({want})"
            )));
        }
    }
    let diff_ids = cfg["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| {
            Error::Format(format!(
                "image config {config_digest}: rootfs.diff_ids missing"
            ))
        })?
        .iter()
        .map(|d| Digest::parse(d.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    if diff_ids.len() != layer_descs.len() {
        return Err(Error::Format(format!(
            "image {config_digest}: {} layers but {} diff_ids",
            layer_descs.len(),
            diff_ids.len()
        )));
    }
    let chains = chain_ids(&diff_ids);

    // Download what is missing, a few layers at a time.
    for d in &layer_descs {
        progress.update(&short(&d.digest), "Pulling fs layer", None);
    }
    // Boxed as `dyn Future + Send`: lets callers spawn a pull (the compiler cannot otherwise
    // prove these closures' futures Send for every lifetime).
    let jobs = layer_descs.iter().map(|d| -> BoxFut<'_, Result<Digest>> {
        let client = &client;
        let oref = &oref;
        Box::pin(async move {
            let id = short(&d.digest);
            let blob = Digest::parse(&d.digest)?;
            if images.store().has(&blob) {
                progress.update(&id, "Already exists", None);
                return Ok(blob);
            }
            fetch(images, client, oref, d, Some(progress)).await?;
            progress.update(&id, "Download complete", None);
            Ok::<Digest, Error>(blob)
        })
    });
    let jobs: Vec<BoxFut<'_, Result<Digest>>> = jobs.collect();
    let blobs: Vec<Result<Digest>> = futures_util::stream::iter(jobs)
        .buffered(CONCURRENT)
        .collect()
        .await;
    let blobs = blobs.into_iter().collect::<Result<Vec<_>>>()?;

    for (d, c) in layer_descs.iter().zip(&chains) {
        if !images.layers().has(c) {
            progress.update(&short(&d.digest), "Extracting", None);
        }
    }
    tokio::task::block_in_place(|| {
        crate::archive::unpack_layers(images, &blobs, &diff_ids, &chains)
    })?;
    for d in &layer_descs {
        progress.update(&short(&d.digest), "Pull complete", None);
    }
    let repo_digest = Reference {
        tag: None,
        digest: Some(top.clone()),
        ..r.clone()
    };
    let tags: Vec<Reference> = if r.tag.is_some() {
        vec![r.clone()]
    } else {
        Vec::new()
    };
    let image = images.record(&config_digest, &blobs, &chains, &tags, Some(&repo_digest))?;
    Ok(Pulled {
        image,
        digest: top,
        new: !up_to_date,
    })
}

fn descriptor(v: &Value) -> Result<OciDescriptor> {
    let digest = v["digest"]
        .as_str()
        .ok_or_else(|| Error::Format("manifest descriptor without digest".into()))?;
    Digest::parse(digest)?;
    Ok(OciDescriptor {
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
        digest: digest.to_owned(),
        size: v["size"].as_i64().unwrap_or(0),
        ..Default::default()
    })
}

async fn with_retry<T, F, Fut>(mut f: F) -> std::result::Result<T, OciDistributionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            other => return other,
        }
    }
}

/// Download one blob into the store (verified), retrying transient failures.
async fn fetch(
    images: &Images,
    client: &oci_client::Client,
    oref: &oci_client::Reference,
    d: &OciDescriptor,
    progress: Option<&dyn Progress>,
) -> Result<()> {
    let digest = Digest::parse(&d.digest)?;
    if images.store().has(&digest) {
        return Ok(());
    }
    let id = short(&d.digest);
    let total = u64::try_from(d.size).unwrap_or(0);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let res: std::result::Result<(), (OciDistributionError, bool)> = async {
            let mut stream = client
                .pull_blob_stream(oref, d)
                .await
                .map_err(|e| (e, false))?;
            let mut w = images.store().writer(Some(digest.clone())).map_err(|e| {
                (
                    OciDistributionError::GenericError(Some(e.to_string())),
                    true,
                )
            })?;
            let mut last_report = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| (OciDistributionError::IoError(e), false))?;
                w.write(&chunk).map_err(|e| {
                    (
                        OciDistributionError::GenericError(Some(e.to_string())),
                        true,
                    )
                })?;
                if let Some(p) = progress {
                    if w.written() - last_report >= 256 << 10 || w.written() == total {
                        last_report = w.written();
                        p.update(&id, "Downloading", Some((w.written(), total)));
                    }
                }
            }
            if let Some(p) = progress {
                p.update(&id, "Verifying Checksum", None);
            }
            w.commit().map_err(|e| {
                (
                    OciDistributionError::GenericError(Some(e.to_string())),
                    true,
                )
            })?;
            Ok(())
        }
        .await;
        match res {
            Ok(()) => return Ok(()),
            Err((e, fatal)) => {
                if !fatal && attempt < ATTEMPTS && transient(&e) {
                    if let Some(p) = progress {
                        p.update(&id, &format!("Retrying in {} seconds", attempt), None);
                    }
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    continue;
                }
                if let OciDistributionError::GenericError(Some(m)) = &e {
                    return Err(reg_err(m.clone()));
                }
                return Err(describe(&e, &format!("blob {}", d.digest)));
            }
        }
    }
}

/// Options of a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub credentials: Credentials,
    pub settings: Settings,
}

/// Push the image `r` names (a tag) to its registry.
pub async fn push(
    images: &Images,
    r: &Reference,
    opts: &PushOptions,
    progress: &dyn Progress,
) -> Result<Pushed> {
    let tag = r
        .tag
        .clone()
        .ok_or_else(|| Error::Reference(format!("push {r}: a tag is needed, not a digest")))?;
    let img = images.resolve(&r.to_string())?;
    let host = api_host(&r.registry).to_owned();
    progress.line(&format!(
        "The push refers to repository [{}]",
        Reference {
            tag: None,
            digest: None,
            ..r.clone()
        }
    ));
    let client = client_for(&opts.settings, &host);
    let auth = registry_auth(&opts.credentials);
    let oref = oci_ref(&host, r, None);
    // Checks for existing blobs are reads, uploads writes: authorize both.
    for op in [
        oci_client::RegistryOperation::Pull,
        oci_client::RegistryOperation::Push,
    ] {
        client
            .auth(&oref, &auth, op)
            .await
            .map_err(|e| describe(&e, &format!("push {r}")))?;
    }

    // Layers as the registry should get them: compressed.
    let mut layers: Vec<(Digest, u64, &'static str)> = Vec::new();
    let mut oci = false;
    for l in &img.layers {
        let plain = Digest::parse(l)?;
        let path = images.store().path(&plain);
        let mut head = [0u8; 8];
        let n = io(
            std::fs::File::open(&path).and_then(|mut f| f.read(&mut head)),
            || format!("read layer {plain}"),
        )?;
        let (blob, media) = match detect(&head[..n]) {
            Compression::Gzip => (plain, DOCKER_LAYER_GZIP),
            Compression::Zstd => {
                oci = true;
                (plain, OCI_LAYER_ZSTD)
            }
            Compression::None => {
                let gz = match images.compressed(&plain)? {
                    Some(gz) => gz,
                    None => {
                        progress.update(&short(l), "Preparing", None);
                        let gz = tokio::task::block_in_place(|| gzip_blob(images, &plain))?;
                        images.set_compressed(&plain, &gz)?;
                        gz
                    }
                };
                (gz, DOCKER_LAYER_GZIP)
            }
        };
        let size = io(std::fs::metadata(images.store().path(&blob)), || {
            format!("stat {blob}")
        })?
        .len();
        layers.push((blob, size, media));
    }
    let config = img.digest()?;
    let config_size = io(std::fs::metadata(images.store().path(&config)), || {
        format!("stat {config}")
    })?
    .len();
    // Sources for cross-repository mounts: other repositories of the same registry this image
    // was pulled from or pushed to.
    let sources: Vec<oci_client::Reference> = img
        .repo_digests
        .iter()
        .filter_map(|rd| Reference::parse(rd).ok())
        .filter(|x| x.registry == r.registry && x.repository != r.repository)
        .map(|x| oci_ref(&host, &x, None))
        .collect();

    let mut all: Vec<(Digest, u64)> = layers.iter().map(|(d, s, _)| (d.clone(), *s)).collect();
    all.push((config.clone(), config_size));
    let jobs = all.iter().map(|(d, size)| -> BoxFut<'_, Result<()>> {
        let client = &client;
        let oref = &oref;
        let sources = &sources;
        Box::pin(async move {
            let id = short(&d.to_string());
            let ds = d.to_string();
            if with_retry(|| client.blob_exists(oref, &ds))
                .await
                .map_err(|e| describe(&e, &format!("push {r}")))?
            {
                progress.update(&id, "Layer already exists", None);
                return Ok::<(), Error>(());
            }
            for src in sources {
                if client.mount_blob(oref, src, &ds).await.is_ok() {
                    progress.update(&id, &format!("Mounted from {}", src.repository()), None);
                    return Ok(());
                }
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                progress.update(&id, "Pushing", Some((0, *size)));
                let stream = file_stream(images.store().path(d))?;
                match client
                    .push_blob_stream(oref, stream, &ds, Some(*size))
                    .await
                {
                    Ok(_) => break,
                    Err(e) if attempt < ATTEMPTS && transient(&e) => {
                        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    }
                    Err(e) => return Err(describe(&e, &format!("push {r}"))),
                }
            }
            progress.update(&id, "Pushed", None);
            Ok(())
        })
    });
    let jobs: Vec<BoxFut<'_, Result<()>>> = jobs.collect();
    let results: Vec<Result<()>> = futures_util::stream::iter(jobs)
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;

    let body = manifest(&config, config_size, &layers, oci)?;
    let mt = if oci { OCI_MANIFEST } else { DOCKER_MANIFEST };
    let digest = Digest::of(&body);
    images.store().ingest_bytes(&body, Some(&digest))?;
    let content_type = reqwest::header::HeaderValue::from_static(mt);
    with_retry(|| client.push_manifest_raw(&oref, body.clone(), content_type.clone()))
        .await
        .map_err(|e| describe(&e, &format!("push {r}")))?;
    images.add_repo_digest(
        &img.id,
        &Reference {
            tag: None,
            digest: Some(digest.clone()),
            ..r.clone()
        },
    )?;
    progress.line(&format!("{tag}: digest: {digest} size: {}", body.len()));
    Ok(Pushed {
        digest,
        size: body.len(),
    })
}

/// An image manifest (Docker schema 2, or OCI with `oci`) for a config and its layer blobs
/// (`(digest, size, media type)`; Docker layer media types become OCI ones with `oci`).
pub fn manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, u64, &str)],
    oci: bool,
) -> Result<Vec<u8>> {
    let (mt, cmt) = if oci {
        (OCI_MANIFEST, OCI_CONFIG)
    } else {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let m = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "size": config_size, "digest": config.to_string()},
        "layers": layers.iter().map(|(d, s, m)| {
            let m = if oci && *m == DOCKER_LAYER_GZIP { OCI_LAYER_GZIP } else { m };
            json!({"mediaType": m, "size": s, "digest": d.to_string()})
        }).collect::<Vec<_>>(),
    });
    serde_json::to_vec_pretty(&m).map_err(|e| Error::Format(e.to_string()))
}

/// The media type of a layer blob, from its first bytes.
pub fn layer_media_type(head: &[u8], oci: bool) -> &'static str {
    match (detect(head), oci) {
        (Compression::Gzip, false) => DOCKER_LAYER_GZIP,
        (Compression::Gzip, true) => OCI_LAYER_GZIP,
        (Compression::Zstd, _) => OCI_LAYER_ZSTD,
        (Compression::None, false) => "application/vnd.docker.image.rootfs.diff.tar",
        (Compression::None, true) => OCI_LAYER,
    }
}

/// gzip an uncompressed layer blob into a new blob (deterministic: same input, same digest).
fn gzip_blob(images: &Images, plain: &Digest) -> Result<Digest> {
    let f = io(std::fs::File::open(images.store().path(plain)), || {
        format!("open {plain}")
    })?;
    let mut enc = flate2::read::GzEncoder::new(
        std::io::BufReader::with_capacity(1 << 20, f),
        flate2::Compression::fast(),
    );
    let mut w = images.store().writer(None)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = io(enc.read(&mut buf), || format!("compress {plain}"))?;
        if n == 0 {
            break;
        }
        w.write(&buf[..n])?;
    }
    w.commit()
}

type BlobStream =
    futures_util::stream::BoxStream<'static, oci_client::errors::Result<bytes::Bytes>>;

/// A blob file as a stream of 1 MiB chunks.
fn file_stream(path: std::path::PathBuf) -> Result<BlobStream> {
    let f = io(std::fs::File::open(&path), || {
        format!("open {}", path.display())
    })?;
    let stream = futures_util::stream::unfold(Some(f), |state| async move {
        let mut f = state?;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(OciDistributionError::IoError(e)), None)),
        }
    });
    Ok(Box::pin(stream))
}

/// Credentials for `registry` from Docker's config.json (`$DOCKER_CONFIG` or `~/.docker`),
/// including credential helpers; anonymous if there are none.
pub fn credentials_for(registry: &str) -> Credentials {
    match docker_credential::get_credential(&auth_key(registry)) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => Credentials::Basic(u, p),
        Ok(docker_credential::DockerCredential::IdentityToken(t)) => Credentials::Token(t),
        Err(_) => Credentials::Anonymous,
    }
}

/// The path of Docker's client config.
pub fn config_path() -> Option<std::path::PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))
        .map(|d| d.join("config.json"))
}

/// Check `user`/`password` against `registry` the way `docker login` does (GET /v2/, then the
/// token service if the registry names one).
pub async fn check_login(
    settings: &Settings,
    registry: &str,
    user: &str,
    password: &str,
) -> Result<()> {
    install_crypto();
    let host = api_host(registry);
    let scheme = if is_insecure(settings, host) {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{host}/v2/");
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| reg_err(format!("login: {e}")))?;
    let fail = |e: reqwest::Error| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        reg_err(format!("Get \"{url}\": {msg}"))
    };
    let res = http.get(&url).send().await.map_err(fail)?;
    if res.status().is_success() {
        // No authentication at all.
        return Ok(());
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let denied = |url: &str, status: reqwest::StatusCode| {
        reg_err(format!(
            "login attempt to {url} failed with status: {status}"
        ))
    };
    if challenge.to_lowercase().starts_with("bearer") {
        let param = |k: &str| {
            challenge
                .split([',', ' '])
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| n.trim() == k)
                .map(|(_, v)| v.trim_matches('"').to_owned())
        };
        let realm = param("realm").ok_or_else(|| reg_err("login: registry sent no token realm"))?;
        let mut q = vec![
            ("account", user.to_owned()),
            ("client_id", "berth".to_owned()),
        ];
        if let Some(s) = param("service") {
            q.push(("service", s));
        }
        let url = reqwest::Url::parse_with_params(&realm, &q)
            .map_err(|e| reg_err(format!("login: token realm {realm:?}: {e}")))?;
        let res = http
            .get(url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(fail)?;
        return if res.status().is_success() {
            Ok(())
        } else {
            Err(denied(&realm, res.status()))
        };
    }
    let res = http
        .get(&url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_err(fail)?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(denied(&url, res.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let s = Settings {
            insecure: vec!["reg.lan:5000".into(), "10.1.0.0/16".into()],
            mirrors: vec![],
        };
        for h in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "reg.lan:5000",
            "10.1.2.3:443",
        ] {
            assert!(is_insecure(&s, h), "{h}");
        }
        for h in [
            "registry-1.docker.io",
            "reg.lan:5001",
            "10.2.0.1",
            "ghcr.io",
        ] {
            assert!(!is_insecure(&s, h), "{h}");
        }
    }

    #[test]
    fn platform_selection() {
        let ix = json!({"manifests": [
            {"digest": format!("{}", Digest::of(b"arm")), "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": format!("{}", Digest::of(b"arm64")), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": format!("{}", Digest::of(b"amd64")), "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": format!("{}", Digest::of(b"att")), "platform": {"os": "unknown", "architecture": "unknown"}},
        ]});
        let p = |s: &str| Platform::parse(s).expect("platform");
        assert_eq!(
            select_platform(&ix, &p("linux/amd64")),
            Some(Digest::of(b"amd64"))
        );
        assert_eq!(
            select_platform(&ix, &p("linux/arm64")),
            Some(Digest::of(b"arm64"))
        );
        assert_eq!(
            select_platform(&ix, &p("linux/arm/v7")),
            Some(Digest::of(b"arm"))
        );
        assert_eq!(select_platform(&ix, &p("linux/s390x")), None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64/v2/x").is_err());
    }

    #[test]
    fn hub_names() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(auth_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
