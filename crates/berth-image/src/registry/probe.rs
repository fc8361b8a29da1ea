//! Measure a registry mirror (`berth mirror test`): time to the first byte of `/v2/`, the
//! latency of the probe image's manifest, and the throughput of pulling its first layer, whose
//! digest is checked (a mirror that serves other bytes is "wrong content", never chosen).
//! Several rounds; medians. Written over reqwest rather than the pull path: the pull does not
//! expose its timings, and a probe must not store anything.

use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::{ACCEPT, DOCKER_LIST, OCI_INDEX, Platform, install_crypto};

/// One mirror's measurements (`status` is `ok` or why not).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeResult {
    pub mirror: String,
    pub status: String,
    pub ttfb_ms: Option<f64>,
    pub manifest_ms: Option<f64>,
    pub mbps: Option<f64>,
    /// Manifest and layer time of a round (the ranking's key), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
}

/// What a round found.
struct Round {
    ttfb: f64,
    manifest: f64,
    blob_secs: f64,
    bytes: u64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn is_html(r: &reqwest::Response) -> bool {
    r.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("text/html"))
}

/// A bearer token for `repo` when the registry asks for one (anonymous).
async fn token(http: &reqwest::Client, challenge: &str, repo: &str) -> Option<String> {
    let param = |k: &str| super::auth::challenge_param(challenge, k);
    let realm = param("realm")?;
    let mut q = vec![("scope", format!("repository:{repo}:pull"))];
    if let Some(s) = param("service") {
        q.push(("service", s));
    }
    let url = reqwest::Url::parse_with_params(&realm, &q).ok()?;
    let v: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
    v["token"]
        .as_str()
        .or(v["access_token"].as_str())
        .map(str::to_owned)
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
    bearer: &Option<String>,
) -> reqwest::Result<reqwest::Response> {
    let mut r = http.get(url).header(reqwest::header::ACCEPT, accept);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    r.send().await
}

fn why(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "slow: no answer in time".into()
    } else {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        format!("unreachable: {msg}")
    }
}

async fn round(http: &reqwest::Client, base: &str, repo: &str, tag: &str) -> Result<Round, String> {
    let t = Instant::now();
    let ping = http
        .get(format!("{base}/v2/"))
        .send()
        .await
        .map_err(|e| why(&e))?;
    let ttfb = ms(t.elapsed());
    if is_html(&ping) {
        return Err("not a registry: it answers HTML".into());
    }
    let challenge = ping
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bearer = if ping.status() == reqwest::StatusCode::UNAUTHORIZED
        && challenge.to_lowercase().starts_with("bearer")
    {
        token(http, &challenge, repo).await
    } else {
        None
    };
    if !ping.status().is_success() && ping.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Err(format!("not a registry: /v2/ answers {}", ping.status()));
    }
    let accept = ACCEPT.join(", ");
    let t = Instant::now();
    let res = get(
        http,
        &format!("{base}/v2/{repo}/manifests/{tag}"),
        &accept,
        &bearer,
    )
    .await
    .map_err(|e| why(&e))?;
    if is_html(&res) {
        return Err("not a registry: it answers HTML".into());
    }
    if !res.status().is_success() {
        return Err(format!("no {repo}:{tag} here: {}", res.status()));
    }
    let kind = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.bytes().await.map_err(|e| why(&e))?;
    let manifest = ms(t.elapsed());
    let mut doc: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| "wrong content: the manifest is not JSON".to_owned())?;
    // An index: the host platform's manifest.
    if kind.contains(DOCKER_LIST) || kind.contains(OCI_INDEX) || doc["manifests"].is_array() {
        let p = Platform::host();
        let digest = doc["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                m["platform"]["os"] == p.os.as_str()
                    && m["platform"]["architecture"] == p.arch.as_str()
            })
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| format!("no {}/{} manifest in the index", p.os, p.arch))?
            .to_owned();
        let res = get(
            http,
            &format!("{base}/v2/{repo}/manifests/{digest}"),
            &accept,
            &bearer,
        )
        .await
        .map_err(|e| why(&e))?;
        let b = res.bytes().await.map_err(|e| why(&e))?;
        if format!("sha256:{:x}", Sha256::digest(&b)) != digest {
            return Err("wrong content: digest mismatch of a manifest".into());
        }
        doc = serde_json::from_slice(&b)
            .map_err(|_| "wrong content: the manifest is not JSON".to_owned())?;
    }
    let layer = doc["layers"][0]["digest"]
        .as_str()
        .ok_or("wrong content: the manifest has no layer")?
        .to_owned();
    let t = Instant::now();
    let mut res = get(
        http,
        &format!("{base}/v2/{repo}/blobs/{layer}"),
        "*/*",
        &bearer,
    )
    .await
    .map_err(|e| why(&e))?;
    if !res.status().is_success() {
        return Err(format!("the layer {layer}: {}", res.status()));
    }
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    while let Some(chunk) = res.chunk().await.map_err(|e| why(&e))? {
        bytes += chunk.len() as u64;
        h.update(&chunk);
    }
    let blob_secs = t.elapsed().as_secs_f64();
    if format!("sha256:{:x}", h.finalize()) != layer {
        return Err("wrong content: digest mismatch of the layer".into());
    }
    Ok(Round {
        ttfb,
        manifest,
        blob_secs,
        bytes,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Measure `base` (a URL with its scheme) with `rounds` pulls of `repo:tag`'s first layer,
/// each request given `timeout`.
pub async fn probe(
    base: &str,
    repo: &str,
    tag: &str,
    rounds: u32,
    timeout: Duration,
) -> ProbeResult {
    install_crypto();
    let mut out = ProbeResult {
        mirror: base.to_owned(),
        status: "ok".into(),
        ttfb_ms: None,
        manifest_ms: None,
        mbps: None,
        total_ms: None,
    };
    let http = match reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            out.status = format!("error: {e}");
            return out;
        }
    };
    let mut found = Vec::new();
    for _ in 0..rounds.max(1) {
        match round(&http, base.trim_end_matches('/'), repo, tag).await {
            Ok(r) => found.push(r),
            Err(why) => {
                out.status = why;
                return out;
            }
        }
    }
    out.ttfb_ms = Some(median(found.iter().map(|r| r.ttfb).collect()));
    out.manifest_ms = Some(median(found.iter().map(|r| r.manifest).collect()));
    let secs = median(found.iter().map(|r| r.blob_secs).collect()).max(1e-6);
    let bytes = found.first().map_or(0, |r| r.bytes) as f64;
    out.mbps = Some((bytes * 8.0 / 1e6 / secs * 100.0).round() / 100.0);
    out.total_ms = Some(out.manifest_ms.unwrap_or(0.0) + (secs * 1e6).round() / 1e3);
    out
}

/// Fastest first: every `ok` mirror by its round time, then the others as given.
pub fn rank(results: &mut [ProbeResult]) {
    results.sort_by(|a, b| {
        let key = |r: &ProbeResult| (r.status != "ok", r.total_ms.unwrap_or(f64::MAX));
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
}
