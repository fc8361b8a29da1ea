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

use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images::Image;
use crate::reference::{DEFAULT_REGISTRY, Reference};

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
    /// Blobs pulled and pushed at once (0: Docker's default, 3).
    pub max_concurrent_downloads: usize,
    pub max_concurrent_uploads: usize,
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
        max_concurrent_download: match settings.max_concurrent_downloads {
            0 => CONCURRENT,
            n => n,
        },
        max_concurrent_upload: match settings.max_concurrent_uploads {
            0 => CONCURRENT,
            n => n,
        },
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

/// Whether a registry answered that a manifest (or the repository) does not exist.
fn not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                oci_client::errors::OciErrorCode::ManifestUnknown
                    | oci_client::errors::OciErrorCode::NameUnknown
            )
        }),
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
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

/// Run a registry call, retried on transient errors.
pub(crate) async fn with_retry<T, F, Fut>(mut f: F) -> std::result::Result<T, OciDistributionError>
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

mod auth;
mod pull;
mod push;
mod sigstore;

pub use auth::*;
pub use pull::*;
pub use push::*;
pub use sigstore::SignatureCheck;
pub mod probe;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let s = Settings {
            insecure: vec!["reg.lan:5000".into(), "10.1.0.0/16".into()],
            mirrors: vec![],
            ..Default::default()
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
