//! Dockerfile text → instruction nodes, split as BuildKit's parser splits them: parser
//! directives at the top, comments, line continuations with the escape token, per-instruction
//! argument forms (JSON arrays, name=value lists, plain strings), `--flags`, heredocs.

use crate::shell::{Lex, NoEnv};
use crate::{Error, Result};

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<-"EOT" /path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The descriptor it feeds (`3<<EOF`); 0 when not given.
    pub fd: u32,
    /// Variables are expanded in the content (the name was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are removed.
    pub chomp: bool,
    pub content: String,
}

impl Heredoc {
    /// The content as the instruction uses it: with `<<-`, leading tabs removed.
    pub fn text(&self) -> String {
        if self.chomp {
            self.content
                .lines()
                .map(|l| format!("{}\n", l.trim_start_matches('\t')))
                .collect()
        } else {
            self.content.clone()
        }
    }
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction's name as written (`FROM`, `run`).
    pub cmd: String,
    /// `--name=value` flags before the arguments.
    pub flags: Vec<String>,
    /// The arguments as the instruction's form splits them (JSON array elements, words,
    /// `name value sep` triples for `ENV`/`LABEL`, the rest of the line for strings).
    pub args: Vec<String>,
    /// The instruction `ONBUILD` wraps.
    pub sub: Option<Box<Node>>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    pub heredocs: Vec<Heredoc>,
    /// The logical line (continuations joined), as the instruction's text.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
}

/// A parser directive (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub nodes: Vec<Node>,
    pub escape: char,
    pub directives: Vec<Directive>,
    pub warnings: Vec<Warning>,
}

impl Node {
    /// BuildKit's `Node.Dump` form, for comparison with its parser's test files.
    pub fn dump(&self) -> String {
        let mut s = self.cmd.to_lowercase();
        if !self.flags.is_empty() {
            let f: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", f.join(" ")));
        }
        if let Some(sub) = &self.sub {
            s.push_str(&format!(" ({})", sub.dump()));
        }
        for a in &self.args {
            s.push(' ');
            s.push_str(&go_quote(a));
        }
        s.trim().to_owned()
    }
}

impl Parsed {
    pub fn dump(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("({})\n", n.dump()))
            .collect()
    }
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{7}' => o.push_str("\\a"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            '\u{b}' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\x{:02x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

struct Directives {
    escape: char,
    done: bool,
    seen: Vec<Directive>,
}

impl Directives {
    /// Looks at a line for a parser directive; true when it was one.
    fn look(&mut self, line: &str, n: usize) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        let Some((k, v)) = rest.split_once('=') else {
            self.done = true;
            return Ok(false);
        };
        let k = k.trim_end();
        let v = v.trim();
        let valid_name = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric());
        let k = k.to_ascii_lowercase();
        if !valid_name || v.is_empty() || !matches!(k.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.iter().any(|d| d.name == k) {
            return Err(Error::new(
                n,
                format!("only one {k} parser directive can be used"),
            ));
        }
        if k == "escape" {
            self.escape = match v {
                "`" => '`',
                "\\" => '\\',
                _ => {
                    return Err(Error::new(
                        n,
                        format!("invalid escape token '{v}' does not match ` or \\"),
                    ));
                }
            };
        }
        self.seen.push(Directive {
            name: k,
            value: v.to_owned(),
            line: n,
        });
        Ok(true)
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing continuation (the escape token, then only blanks, not itself escaped);
/// true when the logical line ends here.
fn trim_continuation(line: &str, esc: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(esc) {
        if before.is_empty() || !before.ends_with(esc) {
            return (before.to_owned(), false);
        }
    }
    (line.to_owned(), true)
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Parsed> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut d = Directives {
        escape: '\\',
        done: false,
        seen: Vec::new(),
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    let strip_nl = |s: &str| s.trim_end_matches(['\r', '\n']).to_owned();
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let start = i;
        let first = strip_nl(raw).trim_start().to_owned();
        d.look(&first, i)?;
        let first = if is_comment(&first) {
            String::new()
        } else {
            first
        };
        let (mut buf, mut eol) = trim_continuation(&first, d.escape);
        if eol && buf.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !eol && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let l = strip_nl(raw);
            d.look(&l, i)?;
            if is_comment(raw) {
                continue;
            }
            if l.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(&l, d.escape);
            buf.push_str(&part);
            eol = end;
        }
        if empty_continuation {
            warnings.push(Warning {
                line: i,
                message: format!("Empty continuation line found in: {buf}"),
            });
        }
        let mut node = node_from_line(&buf, d.escape).map_err(|e| Error::new(start, e))?;
        if can_have_heredoc(&node) && buf.contains("<<") {
            let docs = heredocs_in(&buf).map_err(|e| Error::new(start, e))?;
            let target = match node.sub.as_deref_mut() {
                Some(sub) => sub,
                None => &mut node,
            };
            for mut doc in docs {
                let mut content = String::new();
                let mut done = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let mut candidate = raw.trim_end_matches(['\r', '\n']);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        done = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !done {
                    return Err(Error::new(start, "unterminated heredoc"));
                }
                doc.content = content;
                target.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = i;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(Error::new(i, "file with no instructions"));
    }
    Ok(Parsed {
        nodes,
        escape: d.escape,
        directives: d.seen,
        warnings,
    })
}

fn can_have_heredoc(n: &Node) -> bool {
    let n = match &n.sub {
        Some(s) if n.cmd.eq_ignore_ascii_case("onbuild") => s,
        _ => n,
    };
    matches!(n.cmd.to_ascii_lowercase().as_str(), "add" | "copy" | "run") && !n.json
}

fn heredocs_in(line: &str) -> std::result::Result<Vec<Heredoc>, String> {
    let lex = Lex {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
    };
    let words = lex.words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(h) = heredoc_word(&w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// `[fd]<<[-]WORD` → the heredoc it opens (content still empty).
pub fn heredoc_word(w: &str) -> std::result::Result<Option<Heredoc>, String> {
    let digits = w.chars().take_while(|c| c.is_ascii_digit()).count();
    let Some(rest) = w[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let mut lex = Lex {
        escape: '\\',
        raw_quotes: false,
        raw_escapes: false,
        skip_unset: true,
    };
    let words = lex.words(rest, &NoEnv)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.words(rest, &NoEnv)?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        fd: w[..digits].parse().unwrap_or(0),
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    }))
}

fn split_ws(s: &str, n: usize) -> Vec<&str> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r');
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if out.len() + 1 == n {
            out.push(rest);
            break;
        }
        match rest.find(is_ws) {
            Some(p) => {
                out.push(&rest[..p]);
                rest = rest[p..].trim_start_matches(is_ws);
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

fn node_from_line(line: &str, esc: char) -> std::result::Result<Node, String> {
    let parts = split_ws(line.trim(), 2);
    let cmd = parts[0].to_owned();
    let (args, flags) = match parts.get(1) {
        Some(rest) => extract_flags(rest, esc),
        None => (String::new(), Vec::new()),
    };
    let rest = args.trim();
    let mut node = Node {
        cmd: cmd.clone(),
        flags,
        original: line.to_owned(),
        ..Default::default()
    };
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => match parse_json(rest)? {
            Some(a) => (node.args, node.json) = (a, true),
            None => node.args = whitespace_list(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => {
            if !rest.is_empty() {
                match parse_json(rest)? {
                    Some(a) => (node.args, node.json) = (a, true),
                    None => node.args = vec![rest.to_owned()],
                }
            }
        }
        "arg" => node.args = parse_words(rest, esc),
        "env" => node.args = name_values(rest, "ENV", esc)?,
        "label" => node.args = name_values(rest, "LABEL", esc)?,
        "expose" | "from" => node.args = whitespace_list(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !rest.is_empty() {
                node.args = vec![rest.to_owned()];
            }
        }
        "onbuild" => {
            if !rest.is_empty() {
                node.sub = Some(Box::new(node_from_line(rest, esc)?));
            }
        }
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                node.args.push(rest[..sep].to_owned());
                let cmd = rest[sep..].trim_start();
                if !cmd.is_empty() {
                    match parse_json(cmd)? {
                        Some(a) => {
                            node.args.extend(a);
                            node.json = true;
                        }
                        None => node.args.push(cmd.to_owned()),
                    }
                }
            }
        }
        _ => node.args = vec![String::new()],
    }
    Ok(node)
}

fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_ws(rest, usize::MAX)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// A JSON array of strings; `None` when the text is not a JSON array at all.
fn parse_json(rest: &str) -> std::result::Result<Option<Vec<String>>, String> {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Ok(None);
    }
    let Ok(v) = serde_json::from_str::<Vec<serde_json::Value>>(t) else {
        return Ok(None);
    };
    v.into_iter()
        .map(|e| match e {
            serde_json::Value::String(s) => Ok(s),
            _ => {
                Err("when using JSON array syntax, arrays must be comprised of strings only".into())
            }
        })
        .collect::<std::result::Result<Vec<_>, String>>()
        .map(Some)
}

/// `--flag` words before the arguments; the rest of the line.
fn extract_flags(line: &str, esc: char) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return (String::new(), words);
        }
        let starts_flag = chars[i].1 == '-' && chars.get(i + 1).is_some_and(|c| c.1 == '-');
        if !starts_flag {
            return (line[chars[i].0..].to_owned(), words);
        }
        let mut w = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while i < chars.len() {
            let c = chars[i].1;
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                    i += 1;
                    continue;
                }
            } else if c == '\'' || c == '"' {
                quote = Some(c);
                blank_ok = true;
                i += 1;
                continue;
            }
            if c == esc {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                i += 1;
            }
            w.push(chars[i].1);
            i += 1;
        }
        if w == "--" {
            let rest = if i < chars.len() {
                &line[chars[i].0..]
            } else {
                ""
            };
            return (rest.to_owned(), words);
        }
        if blank_ok || !w.is_empty() {
            words.push(w);
        }
    }
}

/// Words split on white space with quotes and escapes kept (they are removed at expansion).
pub fn parse_words(rest: &str, esc: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut w = String::new();
    let mut blank_ok = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !in_word {
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            in_word = true;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            if c == esc && q != '\'' {
                if i + 1 == chars.len() {
                    quote = None;
                    i += 1;
                    continue;
                }
                w.push(c);
                i += 1;
            }
            w.push(chars[i]);
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            if blank_ok || !w.is_empty() {
                words.push(std::mem::take(&mut w));
            }
            blank_ok = false;
            in_word = false;
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            blank_ok = true;
        }
        if c == esc {
            if i + 1 == chars.len() {
                i += 1;
                continue;
            }
            w.push(c);
            i += 1;
        }
        w.push(chars[i]);
        i += 1;
    }
    if in_word && (blank_ok || !w.is_empty()) {
        words.push(w);
    }
    words
}

/// `ENV`/`LABEL` arguments: `name value` (old form) or `name=value …`, as triples
/// `name, value, separator`.
fn name_values(rest: &str, key: &str, esc: char) -> std::result::Result<Vec<String>, String> {
    let words = parse_words(rest, esc);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![
            parts[0].to_owned(),
            parts[1].to_owned(),
            String::new(),
        ]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        out.extend([k.to_owned(), v.to_owned(), "=".to_owned()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_comment_and_heredoc() {
        let p = parse("# syntax=docker/dockerfile:1\nFROM a AS b\nRUN echo 1 \\\n  # c\n  && echo 2\nRUN <<EOF bash\necho hi\nEOF\nCOPY <<-\"X\" /f\n\thello $Y\n\tX\n")
            .unwrap();
        assert_eq!(p.directive("syntax"), Some("docker/dockerfile:1"));
        assert_eq!(p.nodes[1].args, ["echo 1   && echo 2"]);
        assert_eq!((p.nodes[1].start_line, p.nodes[1].end_line), (3, 5));
        assert_eq!(p.nodes[2].heredocs[0].content, "echo hi\n");
        let h = &p.nodes[3].heredocs[0];
        assert!(h.chomp && !h.expand);
        assert_eq!(h.content, "\thello $Y\n");
    }

    #[test]
    fn errors_have_lines() {
        let e = parse("FROM a\nENV X\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "ENV must have two arguments")
        );
        let e = parse("FROM a\nRUN <<EOF\nx\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "unterminated heredoc"));
        assert_eq!(
            parse("# only\n\n").unwrap_err().message,
            "file with no instructions"
        );
        let e = parse("# escape=x\nFROM a").unwrap_err();
        assert!(e.message.contains("invalid escape token"), "{e}");
    }

    #[test]
    fn escape_directive_backtick() {
        let p = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  x\n").unwrap();
        assert_eq!(p.escape, '`');
        assert_eq!(p.nodes[1].args, ["dir c:\\   x"]);
    }
}
