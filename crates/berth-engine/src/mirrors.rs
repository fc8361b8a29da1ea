//! Registry mirrors (docker_mirror's job): measure candidates (`berth mirror test`), and
//! switch the daemon to some (`berth mirror use`): `registry-mirrors` written to its config
//! file and applied by a reload, with no restart.

use std::time::Duration;

use berth_image::registry::probe::{self, ProbeResult};
use berth_models::system::{MirrorTestRequest, ReloadReport};

use crate::{Engine, Error, Result};

/// Candidates measured when none are given (public Docker Hub mirrors).
pub const BUILT_IN: [&str; 4] = [
    "https://mirror.gcr.io",
    "https://registry-1.docker.io",
    "https://dockerhub.timeweb.cloud",
    "https://docker.m.daocloud.io",
];

/// A mirror as a URL with its scheme (`host[:port]` alone: https, but http on loopback), or
/// what is wrong with it.
pub fn parse_url(m: &str) -> Result<String> {
    let bad = |why: &str| Error::InvalidParameter(format!("invalid mirror URL {m:?}: {why}"));
    let (scheme, rest) = match m.split_once("://") {
        Some(("http", r)) => ("http", r),
        Some(("https", r)) => ("https", r),
        Some((s, _)) => return Err(bad(&format!("the scheme {s:?} is neither http nor https"))),
        None => ("", m),
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Err(bad("a mirror is a host[:port], with no path"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if !host_ok {
        return Err(bad("no valid host name"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
            return Err(bad(&format!(
                "the port {p:?} is not a number from 1 to 65535"
            )));
        }
    }
    let scheme = match scheme {
        "" if host == "localhost" || host.starts_with("127.") || host == "[::1]" => "http",
        "" => "https",
        s => s,
    };
    Ok(format!("{scheme}://{rest}"))
}

impl Engine {
    /// Measure the candidates (fastest first).
    pub async fn mirror_test(&self, req: MirrorTestRequest) -> Result<Vec<ProbeResult>> {
        let mut candidates = req.candidates.clone();
        if candidates.is_empty() {
            candidates = self.live.registry().mirrors.clone();
            candidates.extend(BUILT_IN.iter().map(|s| (*s).to_owned()));
        }
        let mut urls = Vec::new();
        for c in &candidates {
            let u = parse_url(c)?;
            if !urls.contains(&u) {
                urls.push(u);
            }
        }
        let image = if req.image.is_empty() {
            "library/busybox:latest".to_owned()
        } else {
            req.image.clone()
        };
        let r = berth_image::reference::Reference::parse(&image)?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let rounds = req.rounds.clamp(1, 20);
        let timeout = Duration::from_secs(req.timeout.clamp(1, 600));
        let parallel = req.parallel.clamp(1, 32) as usize;
        use futures_util::StreamExt;
        let mut results: Vec<ProbeResult> = futures_util::stream::iter(urls)
            .map(|u| {
                let (repo, tag) = (r.repository.clone(), tag.clone());
                async move { probe::probe(&u, &repo, &tag, rounds, timeout).await }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        probe::rank(&mut results);
        Ok(results)
    }

    /// Make `mirrors` the daemon's `registry-mirrors`: written to its config file (whole or
    /// not at all), then a reload applies them; its report.
    pub async fn mirrors_use(&self, mirrors: &[String]) -> Result<ReloadReport> {
        let urls: Vec<String> = mirrors
            .iter()
            .map(|m| parse_url(m))
            .collect::<Result<_>>()?;
        let Some(tx) = self.live.reload.get() else {
            return Err(Error::Internal(
                "this daemon cannot reload its configuration".into(),
            ));
        };
        let path = self.config.facts.config_file.clone();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "{}".into(),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        let mut doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            Error::InvalidParameter(format!(
                "the config file {} does not parse: {e}",
                path.display()
            ))
        })?;
        let obj = doc.as_object_mut().ok_or_else(|| {
            Error::InvalidParameter(format!(
                "the config file {} is not an object",
                path.display()
            ))
        })?;
        obj.insert("registry-mirrors".into(), serde_json::json!(urls));
        let tmp = path.with_extension("berth-tmp");
        let data = serde_json::to_vec_pretty(&doc).map_err(Error::internal)?;
        std::fs::write(&tmp, data)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        tx.send(reply)
            .await
            .map_err(|_| Error::Internal("the daemon's reloader is gone".into()))?;
        tokio::time::timeout(Duration::from_secs(60), answer)
            .await
            .map_err(|_| Error::Internal("the reload did not answer within 60 s".into()))?
            .map_err(|_| Error::Internal("the reload ended without a report".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls_are_checked() {
        assert_eq!(
            parse_url("mirror.example").unwrap(),
            "https://mirror.example"
        );
        assert_eq!(
            parse_url("127.0.0.1:5000").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            parse_url("http://10.0.0.1:5000/").unwrap(),
            "http://10.0.0.1:5000"
        );
        for (bad, says) in [
            ("ftp://x", "neither http nor https"),
            ("https://x/path", "no path"),
            ("https://x:99999", "not a number"),
            ("https://", "no valid host"),
            ("https://a b", "no valid host"),
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
