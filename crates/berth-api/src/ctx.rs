//! What every handler gets: the engine, the request's API version and query, and helpers
//! to read Docker's query values and JSON bodies.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::Engine;
use berth_models::{ApiVersion, Filters};

use crate::respond::error;

pub struct Ctx {
    pub engine: Arc<Engine>,
    pub buildkit: Arc<berth_buildkit::Frontend>,
    pub version: ApiVersion,
    pub query: Vec<(String, String)>,
}

impl Ctx {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// A query value, or "".
    pub fn s(&self, k: &str) -> String {
        self.q(k).unwrap_or_default().to_owned()
    }

    /// Every value of a repeated parameter.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean query values: `1`, `true`, `True` (anything but 0/false/empty).
    pub fn flag(&self, k: &str) -> bool {
        self.q(k)
            .is_some_and(|v| !matches!(v, "" | "0" | "false" | "False" | "FALSE"))
    }

    /// A boolean that defaults to true when absent (`stream`).
    pub fn flag_or_true(&self, k: &str) -> bool {
        self.q(k)
            .is_none_or(|v| !matches!(v, "0" | "false" | "False" | "FALSE"))
    }

    /// A number; a bad one is a 400 naming it.
    pub fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, Response> {
        match self.q(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid value for {k}: {v:?}"),
                )
            }),
        }
    }

    /// `filters=` as Docker's filter map.
    pub fn filters(&self) -> Result<Filters, Response> {
        Filters::parse(self.q("filters")).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))
    }

    /// Unix seconds from a time parameter: seconds (fractions allowed) or RFC 3339.
    pub fn time(&self, k: &str) -> Option<i64> {
        self.q(k).and_then(api_time).filter(|t| *t > 0)
    }
}

/// Unix seconds from an API time value: seconds (fractions allowed) or RFC 3339.
pub fn api_time(v: &str) -> Option<i64> {
    v.split('.')
        .next()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| berth_engine::time::parse_rfc3339(v))
}

/// Unix nanoseconds from an API time value: `seconds.fraction` (what the docker CLI sends for
/// `--since`/`--until`, to the nanosecond) or RFC 3339 with its fraction.
pub fn api_time_nanos(v: &str) -> Option<i64> {
    let frac_nanos = |f: &str| -> Option<i64> {
        let digits: String = f.chars().take_while(char::is_ascii_digit).take(9).collect();
        if digits.is_empty() {
            return Some(0);
        }
        Some(digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32))
    };
    if let Some((secs, frac)) = v.split_once('.').filter(|(s, _)| !s.contains('-')) {
        if let Ok(s) = secs.parse::<i64>() {
            return Some(s * 1_000_000_000 + frac_nanos(frac)?);
        }
    }
    if let Ok(s) = v.parse::<i64>() {
        return Some(s * 1_000_000_000);
    }
    let secs = berth_engine::time::parse_rfc3339(v)?;
    let frac = v.get(19..).and_then(|r| r.strip_prefix('.')).unwrap_or("");
    Some(secs * 1_000_000_000 + frac_nanos(frac)?)
}

/// Read a whole (small) JSON request body as `T`; an empty body is `T::default()`.
pub async fn body_json<T: serde::de::DeserializeOwned + Default>(
    body: Body,
) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("read request body: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))
}

/// Whether the client asks for content trust (`X-Berth-Content-Trust: 1`, set by the CLI when
/// `DOCKER_CONTENT_TRUST` or `BERTH_CONTENT_TRUST` is on).
pub fn content_trust(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(berth_models::trust::CONTENT_TRUST_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !matches!(v, "" | "0" | "false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_times_keep_their_nanoseconds() {
        assert_eq!(api_time_nanos("12.5"), Some(12_500_000_000));
        assert_eq!(api_time_nanos("12.000000007"), Some(12_000_000_007));
        assert_eq!(api_time_nanos("12"), Some(12_000_000_000));
        assert_eq!(
            api_time_nanos("1970-01-01T00:00:12.25Z"),
            Some(12_250_000_000)
        );
        assert_eq!(api_time_nanos("1970-01-01T00:00:12Z"), Some(12_000_000_000));
        assert_eq!(api_time_nanos("soon"), None);
    }
}
