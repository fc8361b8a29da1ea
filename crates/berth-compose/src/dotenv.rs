//! `.env` files (the project's, `--env-file`, a service's `env_file:`) with Compose's rules:
//! `KEY=VALUE` and `export KEY=VALUE`; `#` comments, and ` #` comments after unquoted values;
//! single quotes taken literally, double quotes with `\n`, `\t`, `\r`, `\\`, `\"`, `\$` escapes,
//! both spanning lines; unquoted values trimmed; variables (`$VAR`, `${VAR:-d}`, …) in
//! unquoted and double-quoted values expanded from the file's earlier keys, then `lookup`; a
//! bare `KEY` takes its value from `lookup` (and is left out when that has none).

use crate::Error;
use crate::interpolate::{Interpolator, Lookup};

/// The variables of a file's text, in order (a later key replaces an earlier one in place).
pub fn parse(text: &str, file: &str, lookup: Lookup<'_>) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    let mut line_no = 0usize;
    while !rest.is_empty() {
        line_no += 1;
        let (line, after) = split_line(rest);
        rest = after;
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("export ").map_or(t, str::trim_start);
        let key_len = t
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
            .count();
        let key = &t[..key_len];
        let after_key = t[key_len..].trim_start();
        let at = line_no;
        let bad = |what: &str| Error::EnvFile {
            file: file.to_owned(),
            line: at,
            message: what.to_owned(),
        };
        if key.is_empty() {
            return Err(bad(&format!(
                "unexpected character {:?} in variable name",
                first(t)
            )));
        }
        let Some(value_part) = after_key.strip_prefix('=') else {
            if after_key.is_empty() || after_key.starts_with('#') {
                // `KEY` alone: from the environment, when it has it.
                if let Some(v) = lookup(key) {
                    set(&mut out, key, v);
                }
                continue;
            }
            return Err(bad(&format!(
                "unexpected character {:?} in variable name {key:?}",
                first(after_key)
            )));
        };
        let value_part = value_part.trim_start_matches([' ', '\t']);
        let value = match value_part.as_bytes().first() {
            Some(q @ (b'\'' | b'"')) => {
                // The quoted value may go on over the following lines.
                let quote = *q as char;
                let mut body = String::new();
                let mut src = value_part[1..].to_owned();
                let mut more = rest;
                let closed = loop {
                    if let Some(end) = closing_quote(&src, quote) {
                        body.push_str(&src[..end]);
                        break true;
                    }
                    if more.is_empty() {
                        break false;
                    }
                    body.push_str(&src);
                    body.push('\n');
                    let (l, a) = split_line(more);
                    line_no += 1;
                    src = l.to_owned();
                    more = a;
                };
                rest = more;
                if !closed {
                    return Err(bad(&format!("unterminated quoted value of {key}")));
                }
                if quote == '\'' {
                    body
                } else {
                    let unescaped = unescape(&body);
                    expand(&unescaped, key, &out, lookup)?
                }
            }
            _ => {
                let v = match value_part.find(" #").or_else(|| value_part.find("\t#")) {
                    Some(n) => &value_part[..n],
                    None => value_part,
                };
                expand(v.trim(), key, &out, lookup)?
            }
        };
        set(&mut out, key, value);
    }
    Ok(out)
}

fn first(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

/// One line (without its `\n` or `\r\n`) and what follows.
fn split_line(s: &str) -> (&str, &str) {
    match s.find('\n') {
        Some(n) => (s[..n].strip_suffix('\r').unwrap_or(&s[..n]), &s[n + 1..]),
        None => (s, ""),
    }
}

/// Where the closing quote is (a double quote preceded by a backslash is not one).
fn closing_quote(s: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if q == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == q && !escaped {
            return Some(i);
        }
        escaped = false;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            // `\$` stays an escaped dollar for the expansion that follows.
            Some('$') => out.push_str("$$"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn expand(
    v: &str,
    key: &str,
    so_far: &[(String, String)],
    lookup: Lookup<'_>,
) -> Result<String, Error> {
    if !v.contains('$') {
        return Ok(v.to_owned());
    }
    let find = |k: &str| {
        so_far
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| lookup(k))
    };
    Interpolator::default().string(v, key, &find)
}

fn set(out: &mut Vec<(String, String)>, key: &str, value: String) {
    match out.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value,
        None => out.push((key.to_owned(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Vec<(String, String)> {
        let lookup = |k: &str| (k == "HOME_DIR").then(|| "/home/u".to_owned());
        parse(text, ".env", &lookup).expect("parse")
    }

    fn get(v: &[(String, String)], k: &str) -> String {
        v.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} missing in {v:?}"))
    }

    #[test]
    fn compose_quoting_rules() {
        let v = env(concat!(
            "# a comment\n",
            "\n",
            "PLAIN=value\n",
            "SPACED =  padded value  \n",
            "export EXPORTED=yes\n",
            "COMMENTED=abc # a comment\n",
            "HASH=abc#def\n",
            "SINGLE='literal $PLAIN \\n'\n",
            "DOUBLE=\"line1\\nline2 \\\"q\\\" $PLAIN\"\n",
            "MULTI=\"first\n",
            "second\"\n",
            "EXPANDED=${PLAIN}-${HOME_DIR}-${NOPE:-dflt}\n",
            "ESCAPED=\"\\$PLAIN\"\n",
            "HOME_DIR\n",
            "ABSENT\n",
            "EMPTY=\n",
            "CRLF=x\r\n",
            "PLAIN=again\n",
        ));
        assert_eq!(get(&v, "PLAIN"), "again");
        assert_eq!(get(&v, "SPACED"), "padded value");
        assert_eq!(get(&v, "EXPORTED"), "yes");
        assert_eq!(get(&v, "COMMENTED"), "abc");
        assert_eq!(get(&v, "HASH"), "abc#def");
        assert_eq!(get(&v, "SINGLE"), "literal $PLAIN \\n");
        assert_eq!(get(&v, "DOUBLE"), "line1\nline2 \"q\" value");
        assert_eq!(get(&v, "MULTI"), "first\nsecond");
        assert_eq!(get(&v, "EXPANDED"), "value-/home/u-dflt");
        assert_eq!(get(&v, "ESCAPED"), "$PLAIN");
        assert_eq!(get(&v, "HOME_DIR"), "/home/u");
        assert!(!v.iter().any(|(k, _)| k == "ABSENT"));
        assert_eq!(get(&v, "EMPTY"), "");
        assert_eq!(get(&v, "CRLF"), "x");
        // The first PLAIN's place is kept.
        assert_eq!(v[0].0, "PLAIN");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let none = |_: &str| None;
        let e = parse("A=1\nB C=2\n", "app.env", &none).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "app.env:2: unexpected character 'C' in variable name \"B\""
        );
        let e = parse("A=\"open\n", "app.env", &none).expect_err("unterminated");
        assert_eq!(e.to_string(), "app.env:1: unterminated quoted value of A");
    }
}
