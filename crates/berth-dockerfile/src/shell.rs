//! Word expansion as the Dockerfile does it (a subset of POSIX sh: quotes, escapes, `$VAR`,
//! `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`, `${VAR:?m}`, `${VAR?m}`,
//! `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`), no command substitution.

use std::collections::BTreeSet;

/// Where expansion looks names up.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// No variables at all.
pub struct NoEnv;
impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// The lexer's options (BuildKit's `Lex` fields).
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset names as written.
    pub skip_unset: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// One word: quotes removed, variables expanded, no splitting.
    pub fn word(&self, s: &str, env: &dyn Env) -> Result<String, String> {
        Ok(self.run(s, env)?.0)
    }

    /// One word and the names it looked up.
    pub fn word_used(&self, s: &str, env: &dyn Env) -> Result<(String, BTreeSet<String>), String> {
        let (w, _, used) = self.run(s, env)?;
        Ok((w, used))
    }

    /// Words split on unquoted white space (also white space a variable expands to).
    pub fn words(&self, s: &str, env: &dyn Env) -> Result<Vec<String>, String> {
        Ok(self.run(s, env)?.1)
    }

    fn run(
        &self,
        s: &str,
        env: &dyn Env,
    ) -> Result<(String, Vec<String>, BTreeSet<String>), String> {
        let mut w = Walker {
            lex: *self,
            chars: s.chars().collect(),
            pos: 0,
            env,
            used: BTreeSet::new(),
        };
        let (word, words) = w
            .until(None, self.raw_escapes)
            .map_err(|e| format!("failed to process {s:?}: {e}"))?;
        Ok((word, words, w.used))
    }
}

struct Walker<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    used: BTreeSet<String>,
}

#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.raw(c);
        }
    }
    fn raw(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add(c));
    }
    fn raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

impl Walker<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut out = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((out, words.finish()));
            }
            match c {
                '$' => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                    words.add_str(&v);
                }
                '<' => {
                    let v = self.heredoc_marker();
                    out.push_str(&v);
                    words.raw_str(&v);
                }
                '\'' => {
                    let v = self.single()?;
                    out.push_str(&v);
                    words.raw_str(&v);
                }
                '"' => {
                    let v = self.double(raw_escapes)?;
                    out.push_str(&v);
                    words.raw_str(&v);
                }
                _ => {
                    self.next();
                    if c == self.lex.escape {
                        if raw_escapes {
                            words.raw(c);
                            out.push(c);
                        }
                        let Some(e) = self.next() else { break };
                        words.raw(e);
                        out.push(e);
                    } else {
                        words.add(c);
                        out.push(c);
                    }
                }
            }
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok((out, words.finish()))
    }

    fn single(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let q = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            out.push(q);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double(&mut self, raw_escapes: bool) -> Result<String, String> {
        let mut out = String::new();
        let q = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            out.push(q);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.lex.escape {
                        if raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                c = self.next().unwrap_or_default();
                            }
                            _ => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn heredoc_marker(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut s = String::from("<<");
        while let Some(c) = self.peek().filter(|c| *c == ' ' || *c == '\t') {
            s.push(c);
            self.next();
        }
        s
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        self.used.insert(name.to_owned());
        self.env.get(name)
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(|d| d.is_ascii_digit()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let Some(op) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut ops = op.to_string();
        let (op, null_unset) = if op == ':' {
            let o = self.next().unwrap_or('}');
            ops.push(o);
            (o, true)
        } else {
            (op, false)
        };
        match (op, null_unset) {
            ('}', false) => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ('+' | '-' | '?', _) | ('#' | '%', false) => {
                let pattern = op == '#' || op == '%';
                let word = match self.until(Some('}'), pattern) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(e) => return Err(e),
                };
                let value = self.lookup(&name);
                if self.lex.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{ops}{word}}}"));
                }
                let empty = value.as_deref().is_none_or(|v| null_unset && v.is_empty());
                match op {
                    '-' => Ok(if empty {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if empty { String::new() } else { word }),
                    '?' => match value {
                        None => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        )),
                        Some(v) if null_unset && v.is_empty() => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        )),
                        Some(v) => Ok(v),
                    },
                    _ => {
                        let v = value.unwrap_or_default();
                        let (greedy, pat) = match word.strip_prefix(op) {
                            Some(p) => (true, p.to_owned()),
                            None => (false, word),
                        };
                        Ok(trim(&v, &pat, op == '#', greedy))
                    }
                }
            }
            _ => Err(format!("unsupported modifier ({ops}) in substitution")),
        }
    }
}

/// `${v#p}` / `${v%p}`: the shortest (or with `greedy` longest) prefix or suffix matching the
/// glob `p` removed.
fn trim(v: &str, pat: &str, prefix: bool, greedy: bool) -> String {
    let idx: Vec<usize> = v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
    let mut cands: Vec<usize> = idx.clone();
    if prefix == greedy {
        cands.reverse();
    }
    for i in cands {
        let (part, rest) = if prefix {
            (&v[..i], &v[i..])
        } else {
            (&v[i..], &v[..i])
        };
        if glob(pat, part) {
            return rest.to_owned();
        }
    }
    v.to_owned()
}

/// Shell glob: `*`, `?`, `\x`; `[...]` classes (`*` and `?` match `/` too).
pub fn glob(pat: &str, s: &str) -> bool {
    glob_with(pat, s, true)
}

/// Go's `path.Match` (Docker's reference filters): `*` and `?` never match `/`.
pub fn path_match(pat: &str, s: &str) -> bool {
    glob_with(pat, s, false)
}

fn glob_with(pat: &str, s: &str, slash: bool) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn m(p: &[char], t: &[char], slash: bool) -> bool {
        let any = |c: &char| slash || *c != '/';
        match p.first() {
            None => t.is_empty(),
            Some('*') => {
                m(&p[1..], t, slash) || (t.first().is_some_and(any) && m(p, &t[1..], slash))
            }
            Some('?') => t.first().is_some_and(any) && m(&p[1..], &t[1..], slash),
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && m(&p[2..], &t[1..], slash),
            Some('[') => {
                let Some(end) = p.iter().skip(2).position(|c| *c == ']').map(|e| e + 2) else {
                    return t.first() == Some(&'[') && m(&p[1..], &t[1..], slash);
                };
                let Some(c) = t.first() else { return false };
                let (neg, class) = match p[1] {
                    '!' | '^' => (true, &p[2..end]),
                    _ => (false, &p[1..end]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &t[1..], slash)
            }
            Some(c) => t.first() == Some(c) && m(&p[1..], &t[1..], slash),
        }
    }
    m(&p, &t, slash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("NULL", ""),
            ("V", "a.tar.gz"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn expansions() {
        let l = Lex::new('\\');
        let e = env();
        let w = |s: &str| l.word(s, &e);
        assert_eq!(w("he${XXX:-$PWD}xx").unwrap(), "he/homexx");
        assert_eq!(w("he${NULL:+x}").unwrap(), "he");
        assert_eq!(w("he${NULL+x}").unwrap(), "hex");
        assert!(w("he${NULL:?}").is_err());
        assert_eq!(w("${V%.*}").unwrap(), "a.tar");
        assert_eq!(w("${V%%.*}").unwrap(), "a");
        assert_eq!(w("${V#*.}").unwrap(), "tar.gz");
        assert_eq!(w("${V##*.}").unwrap(), "gz");
        assert_eq!(w(r"'\$PWD'").unwrap(), r"\$PWD");
        assert_eq!(
            l.words("a\\ b \"c d\" $SHELL", &e).unwrap(),
            ["a b", "c d", "bash"]
        );
        let (_, used) = l.word_used("$PWD ${X:-y}", &e).unwrap();
        assert_eq!(used.into_iter().collect::<Vec<_>>(), ["PWD", "X"]);
    }

    #[test]
    fn globs() {
        assert!(glob("*.rs", "a.rs"));
        assert!(!glob("*.rs", "a.r"));
        assert!(glob("a?[0-9]", "ab7"));
        assert!(glob("[!a]x", "bx"));
        assert!(glob("a*", "a/b") && !path_match("a*", "a/b") && path_match("a*", "ab"));
    }
}
