//! Compose's variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}`, defaults and
//! replacements that hold further `${…}`, and `$$` for a literal `$` — as compose-go's
//! template package reads them, with its error texts.

use crate::Error;

/// Looks a variable up: its value, or `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Interpolation of one project: the variables found unset (Compose warns about each once).
#[derive(Default)]
pub struct Interpolator {
    pub unset: Vec<String>,
}

impl Interpolator {
    /// `text` with its variables substituted. `at` names where the text is (for errors:
    /// `services.web.image`).
    pub fn string(&mut self, text: &str, at: &str, lookup: Lookup<'_>) -> Result<String, Error> {
        let invalid = || Error::Interpolation {
            at: at.to_owned(),
            text: text.to_owned(),
        };
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                // Copy up to the next `$` (keeps multi-byte characters whole).
                let next = text[i..].find('$').map_or(b.len(), |n| i + n);
                out.push_str(&text[i..next]);
                i = next;
                continue;
            }
            match b.get(i + 1) {
                Some(b'$') => {
                    out.push('$');
                    i += 2;
                }
                Some(b'{') => {
                    let end = matching_brace(b, i + 2).ok_or_else(invalid)?;
                    let inner = &text[i + 2..end];
                    out.push_str(&self.braced(inner, at, text, lookup)?);
                    i = end + 1;
                }
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    out.push_str(&self.value(&text[start..j], lookup));
                    i = j;
                }
                // A lone `$` (at the end, or before anything else) is an error, as compose-go's.
                _ => return Err(invalid()),
            }
        }
        Ok(out)
    }

    fn value(&mut self, name: &str, lookup: Lookup<'_>) -> String {
        match lookup(name) {
            Some(v) => v,
            None => {
                if !self.unset.iter().any(|u| u == name) {
                    self.unset.push(name.to_owned());
                }
                String::new()
            }
        }
    }

    /// The inside of `${…}`.
    fn braced(
        &mut self,
        inner: &str,
        at: &str,
        text: &str,
        lookup: Lookup<'_>,
    ) -> Result<String, Error> {
        let invalid = || Error::Interpolation {
            at: at.to_owned(),
            text: text.to_owned(),
        };
        let name_len = inner
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let name = &inner[..name_len];
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            return Err(invalid());
        }
        let rest = &inner[name_len..];
        if rest.is_empty() {
            return Ok(self.value(name, lookup));
        }
        let (colon, op, arg) = match rest.as_bytes() {
            [b':', op @ (b'-' | b'?' | b'+'), ..] => (true, *op, &rest[2..]),
            [op @ (b'-' | b'?' | b'+'), ..] => (false, *op, &rest[1..]),
            _ => return Err(invalid()),
        };
        let v = lookup(name);
        // With `:`, empty counts as unset.
        let set = match &v {
            Some(s) => !(colon && s.is_empty()),
            None => false,
        };
        match op {
            b'-' => {
                if set {
                    Ok(v.unwrap_or_default())
                } else {
                    self.string(arg, at, lookup)
                }
            }
            b'+' => {
                if set {
                    self.string(arg, at, lookup)
                } else {
                    Ok(String::new())
                }
            }
            _ => {
                if set {
                    Ok(v.unwrap_or_default())
                } else {
                    Err(Error::Required {
                        name: name.to_owned(),
                        message: self.string(arg, at, lookup)?,
                    })
                }
            }
        }
    }
}

/// The index of the `}` closing a `${` whose inside starts at `from` (nested `${…}` counted).
fn matching_brace(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Every string value of a YAML document interpolated in place (keys are not, as in
/// Compose). `at` is the path of `v` (`services.web`).
pub fn document(
    v: &mut serde_yaml_ng::Value,
    at: &str,
    lookup: Lookup<'_>,
    i: &mut Interpolator,
) -> Result<(), Error> {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) if s.contains('$') => *s = i.string(s, at, lookup)?,
        Value::Sequence(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                document(item, &format!("{at}[{n}]"), lookup, i)?;
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                let p = if at.is_empty() {
                    key
                } else {
                    format!("{at}.{key}")
                };
                document(item, &p, lookup, i)?;
            }
        }
        Value::Tagged(t) => document(&mut t.value, at, lookup, i)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, Error> {
        let env = |k: &str| match k {
            "SET" => Some("value".to_owned()),
            "EMPTY" => Some(String::new()),
            "OTHER" => Some("other".to_owned()),
            _ => None,
        };
        Interpolator::default().string(text, "services.x.image", &env)
    }

    #[test]
    fn every_form_as_compose() {
        let cases = [
            ("plain", "plain"),
            ("$SET", "value"),
            ("${SET}", "value"),
            ("a${SET}b$SET.c", "avaluebvalue.c"),
            ("$UNSET", ""),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${UNSET-d}", "d"),
            ("${SET:-d}", "value"),
            ("${SET:+r}", "r"),
            ("${EMPTY:+r}", ""),
            ("${EMPTY+r}", "r"),
            ("${UNSET+r}", ""),
            ("${UNSET:-${OTHER}}", "other"),
            ("${UNSET:-${ALSO:-deep}}", "deep"),
            ("${UNSET:-a}b}", "ab}"),
            ("$$SET", "$SET"),
            ("$${SET}", "${SET}"),
            ("€$SET€", "€value€"),
            ("${UNSET:-$$}", "$"),
        ];
        for (text, want) in cases {
            assert_eq!(run(text).expect(text), want, "{text}");
        }
    }

    #[test]
    fn required_and_invalid() {
        assert_eq!(
            run("${UNSET:?set it}").expect_err("required").to_string(),
            "required variable UNSET is missing a value: set it"
        );
        assert_eq!(
            run("${EMPTY:?}").expect_err("required").to_string(),
            "required variable EMPTY is missing a value"
        );
        assert_eq!(run("${EMPTY?e}").expect("set but empty"), "");
        assert_eq!(run("${SET:?e}").expect("set"), "value");
        for bad in ["${", "${}", "${SET", "a $", "${1A}", "${SET!}", "$-"] {
            assert_eq!(
                run(bad).expect_err(bad).to_string(),
                format!(
                    "invalid interpolation format for services.x.image.\nYou may need to escape any $ with another $.\n{bad}"
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn unset_variables_are_noted_once() {
        let mut i = Interpolator::default();
        let none = |_: &str| None;
        i.string("$A ${A} ${B:-x} $C", "x", &none).expect("ok");
        assert_eq!(i.unset, ["A", "C"]);
    }
}
