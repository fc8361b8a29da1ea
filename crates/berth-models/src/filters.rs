//! Docker's `filters` query parameter: `{"key": ["value", …]}`, or the older
//! `{"key": {"value": true}}` that the docker CLI still sends.

use std::collections::BTreeMap;

/// Filter values by key; values of one key are alternatives, keys must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

/// A `filters` value that is neither form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFilter(pub String);

impl std::fmt::Display for InvalidFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidFilter {}

impl Filters {
    /// Parse the query parameter (absent or empty: no filters).
    pub fn parse(raw: Option<&str>) -> Result<Filters, InvalidFilter> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Filters::default());
        };
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Values {
            List(Vec<String>),
            Set(BTreeMap<String, bool>),
        }
        let m: BTreeMap<String, Values> =
            serde_json::from_str(raw).map_err(|e| InvalidFilter(format!("invalid filter: {e}")))?;
        Ok(Filters(
            m.into_iter()
                .map(|(k, v)| {
                    let vals = match v {
                        Values::List(l) => l,
                        Values::Set(s) => s
                            .into_iter()
                            .filter(|(_, on)| *on)
                            .map(|(x, _)| x)
                            .collect(),
                    };
                    (k, vals)
                })
                .collect(),
        ))
    }

    /// `key=value` pairs as the CLI's `--filter` takes them.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            f.add(k, v);
        }
        f
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }

    /// The values given for `key` (empty if none).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Every key must be one of `allowed` (dockerd's `invalid filter 'k'`).
    pub fn check(&self, allowed: &[&str]) -> Result<(), InvalidFilter> {
        match self.keys().find(|k| !allowed.contains(k)) {
            Some(k) => Err(InvalidFilter(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// With no values for `key`, true; else whether one value passes `f`.
    pub fn any_or_none(&self, key: &str, f: impl Fn(&str) -> bool) -> bool {
        let v = self.get(key);
        v.is_empty() || v.iter().any(|x| f(x))
    }

    /// The query parameter's JSON (the set form, which every dockerd reads).
    pub fn to_json(&self) -> String {
        let m: BTreeMap<&String, BTreeMap<&String, bool>> = self
            .0
            .iter()
            .map(|(k, vs)| (k, vs.iter().map(|v| (v, true)).collect()))
            .collect();
        serde_json::to_string(&m).unwrap_or_default()
    }
}

/// `label=k` or `label=k=v` against a label map.
pub fn label_matches(labels: Option<&crate::Map>, want: &str) -> bool {
    let (k, v) = match want.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (want, None),
    };
    labels
        .and_then(|l| l.get(k))
        .is_some_and(|x| v.is_none_or(|v| v == x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let a = Filters::parse(Some(
            r#"{"name":["x","y"],"label":{"k=v":true,"no":false}}"#,
        ))
        .expect("parse");
        assert_eq!(a.get("name"), ["x", "y"]);
        assert_eq!(a.get("label"), ["k=v"]);
        assert!(a.get("none").is_empty());
        assert!(Filters::parse(Some("[1]")).is_err());
        assert!(Filters::parse(Some("")).expect("empty").is_empty());
        let back = Filters::parse(Some(&a.to_json())).expect("round trip");
        assert_eq!(back, a);
        assert_eq!(
            a.check(&["name"])
                .expect_err("label not allowed")
                .to_string(),
            "invalid filter 'label'"
        );
        let mut l = crate::Map::new();
        l.insert("k".into(), "v".into());
        assert!(label_matches(Some(&l), "k"));
        assert!(label_matches(Some(&l), "k=v"));
        assert!(!label_matches(Some(&l), "k=w"));
        assert!(!label_matches(None, "k"));
    }
}
