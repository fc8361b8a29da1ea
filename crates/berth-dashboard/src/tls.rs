//! The dashboard's certificate: PEM files the admin gives, or a self-signed one made once
//! (for localhost, 127.0.0.1 and the host's name) and kept in the data root (key mode 0600).

use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Tls;

fn bad(m: String) -> Error {
    Error::new(ErrorKind::InvalidInput, m)
}

/// Make the self-signed pair in `dir` unless it is there.
fn ensure_generated(dir: &Path) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !host.is_empty() {
        names.push(host);
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::other(format!("generate the dashboard's certificate: {e}")))?;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join("key.pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?
        .write_all(made.key_pair.serialize_pem().as_bytes())?;
    std::fs::rename(&tmp, &key)?;
    std::fs::write(&cert, made.cert.pem())?;
    tracing::info!(
        "dashboard: made a self-signed certificate in {}",
        dir.display()
    );
    Ok((cert, key))
}

/// rustls' server configuration for `tls`.
pub fn server_config(tls: &Tls) -> std::io::Result<rustls::ServerConfig> {
    let (cert, key) = match tls {
        Tls::Files { cert, key } => (cert.clone(), key.clone()),
        Tls::Generated { dir } => ensure_generated(dir)?,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| bad(format!("dashboard certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(bad(format!(
            "dashboard certificate {}: no certificate in it",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| bad(format!("dashboard key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("dashboard certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
