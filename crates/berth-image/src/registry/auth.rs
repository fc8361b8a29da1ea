//! Credentials: Docker's config.json, credential helpers, and login checks.

use std::time::Duration;

use super::*;
use crate::error::Result;

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
        let param = |k: &str| challenge_param(&challenge, k);
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

/// A parameter of a `WWW-Authenticate: Bearer realm="…",service="…"` challenge.
pub(super) fn challenge_param(challenge: &str, key: &str) -> Option<String> {
    challenge
        .split([',', ' '])
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| n.trim() == key)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}
