//! The subset of Go's text/template that Docker's `--format` flags use, over JSON values:
//! `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, `{{index .X 0}}`, `{{index .X "key"}}`,
//! `{{join .X ", "}}`, `{{lower|upper|title|println|len|truncate …}}`, pipes (`{{.X | json}}`),
//! `{{if …}}…{{else}}…{{end}}`, `{{range .X}}…{{end}}`, `{{range $k, $v := .X}}`, variables
//! (`$`, `$v.Field`), parenthesized pipelines (`{{(index .X 0).Field}}`), `{{- … -}}`
//! trimming, and the `table` prefix. Values print as Go prints them (`[a b]`, `map[k:v]`, `<no value>`).
//!
//! Hand-written because the one Rust Go-template crate (gtmpl, unmaintained since 2021) prints
//! lists and maps in Rust's debug form, which scripts written for Docker would not parse.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Vec<Vec<Arg>>),
    If(Vec<Vec<Arg>>, Vec<Node>, Vec<Node>),
    /// The pipeline, the body, and the declared variables (key, value).
    Range(Vec<Vec<Arg>>, Vec<Node>, Option<(Option<String>, String)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Path(Vec<String>),
    Str(String),
    Num(i64),
    Ident(String),
    /// `$name.Field.Path` (`$` alone: the root).
    Var(String, Vec<String>),
    /// `(pipeline).Field.Path`
    Sub(Vec<Vec<Arg>>, Vec<String>),
}

type Vars = Vec<(String, Value)>;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

/// A template that does not parse, or a value it cannot render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

impl From<String> for TemplateError {
    fn from(s: String) -> Self {
        TemplateError(s)
    }
}

impl From<&str> for TemplateError {
    fn from(s: &str) -> Self {
        TemplateError(s.to_owned())
    }
}

type Result<T, E = TemplateError> = std::result::Result<T, E>;

fn err(msg: impl std::fmt::Display) -> TemplateError {
    TemplateError(format!("template parsing error: {msg}"))
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let toks = lex(src)?;
        let mut pos = 0;
        let (nodes, stop) = parse_nodes(&toks, &mut pos)?;
        if let Some(s) = stop {
            return Err(err(format!("unexpected {{{{{s}}}}}")));
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, v: &Value) -> Result<String> {
        let mut out = String::new();
        render(&self.nodes, v, &vec![(String::new(), v.clone())], &mut out)?;
        Ok(out)
    }
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_owned();
        if trim_next {
            text = text.trim_start().to_owned();
        }
        let after = &rest[i + 2..];
        let (after, trim_prev) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_prev {
            text = text.trim_end().to_owned();
        }
        if !text.is_empty() {
            toks.push(Tok::Text(text));
        }
        let end = after.find("}}").ok_or_else(|| err("unclosed action"))?;
        let mut body = &after[..end];
        trim_next = false;
        if let Some(b) = body.strip_suffix(" -") {
            body = b;
            trim_next = true;
        }
        toks.push(Tok::Action(body.trim().to_owned()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        toks.push(Tok::Text(text.to_owned()));
    }
    Ok(toks)
}

fn words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut lit = String::from("\"");
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => lit.push('\n'),
                            Some('t') => lit.push('\t'),
                            Some(o) => lit.push(o),
                            None => return Err(err("unterminated string")),
                        },
                        Some('"') => break,
                        Some(o) => lit.push(o),
                        None => return Err(err("unterminated string")),
                    }
                }
                out.push(lit);
            }
            '(' if cur.is_empty() => {
                // A parenthesized pipeline, kept whole (with a field path after it).
                let mut depth = 1;
                cur.push('(');
                for c in chars.by_ref() {
                    cur.push(c);
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    return Err(err("unclosed left paren"));
                }
            }
            '|' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push("|".into());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn pipeline(s: &str) -> Result<Vec<Vec<Arg>>> {
    let mut cmds = vec![Vec::new()];
    for w in words(s)? {
        if w == "|" {
            cmds.push(Vec::new());
            continue;
        }
        let arg = if let Some(lit) = w.strip_prefix('"') {
            Arg::Str(lit.to_owned())
        } else if w.starts_with('(') {
            let close = w.rfind(')').ok_or_else(|| err("unclosed left paren"))?;
            let inner = pipeline(&w[1..close])?;
            let rest = &w[close + 1..];
            let path = match rest.strip_prefix('.') {
                Some(p) => p.split('.').map(str::to_owned).collect(),
                None if rest.is_empty() => Vec::new(),
                None => return Err(err(format!("unexpected {rest:?}"))),
            };
            Arg::Sub(inner, path)
        } else if let Some(v) = w.strip_prefix('$') {
            let mut parts = v.split('.');
            let name = parts.next().unwrap_or_default().to_owned();
            Arg::Var(name, parts.map(str::to_owned).collect())
        } else if w == "." {
            Arg::Path(Vec::new())
        } else if let Some(p) = w.strip_prefix('.') {
            Arg::Path(p.split('.').map(str::to_owned).collect())
        } else if let Ok(n) = w.parse::<i64>() {
            Arg::Num(n)
        } else if w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            Arg::Ident(w)
        } else {
            return Err(err(format!("unexpected {w:?}")));
        };
        if let Some(last) = cmds.last_mut() {
            last.push(arg);
        }
    }
    if cmds.iter().any(Vec::is_empty) {
        return Err(err(format!("missing value in {{{{{s}}}}}")));
    }
    Ok(cmds)
}

/// Parse until `{{end}}`/`{{else}}` (returned as the stop word) or the end.
fn parse_nodes(toks: &[Tok], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a.clone()))),
            Tok::Action(a) if a.starts_with("if ") => {
                let cond = pipeline(&a[3..])?;
                let (then, stop) = parse_nodes(toks, pos)?;
                let otherwise = match stop.as_deref() {
                    Some("else") => {
                        let (o, stop) = parse_nodes(toks, pos)?;
                        if stop.as_deref() != Some("end") {
                            return Err(err("missing {{end}}"));
                        }
                        o
                    }
                    Some("end") => Vec::new(),
                    _ => return Err(err("missing {{end}}")),
                };
                nodes.push(Node::If(cond, then, otherwise));
            }
            Tok::Action(a) if a.starts_with("range ") => {
                let spec = &a[6..];
                // `range $k, $v := X` / `range $v := X`
                let (decl, src) = match spec.split_once(":=") {
                    Some((d, src)) => {
                        let names: Vec<String> = d
                            .split(',')
                            .map(|n| n.trim().trim_start_matches('$').to_owned())
                            .collect();
                        let decl = match names.as_slice() {
                            [v] => (None, v.clone()),
                            [k, v] => (Some(k.clone()), v.clone()),
                            _ => return Err(err(format!("too many declarations in {a}"))),
                        };
                        (Some(decl), src)
                    }
                    None => (None, spec),
                };
                let over = pipeline(src)?;
                let (body, stop) = parse_nodes(toks, pos)?;
                if stop.as_deref() != Some("end") {
                    return Err(err("missing {{end}}"));
                }
                nodes.push(Node::Range(over, body, decl));
            }
            Tok::Action(a) if a.starts_with("/*") => {}
            Tok::Action(a) => nodes.push(Node::Action(pipeline(a)?)),
        }
    }
    Ok((nodes, None))
}

fn lookup(v: &Value, path: &[String]) -> Result<Value> {
    let mut cur = v.clone();
    for p in path {
        cur = match &cur {
            Value::Object(m) => match m.get(p) {
                Some(x) => x.clone(),
                None => return Err(format!("template: can't evaluate field {p}").into()),
            },
            Value::Null => Value::Null,
            _ => {
                return Err(format!("template: can't evaluate field {p} in a non-object").into());
            }
        };
    }
    Ok(cur)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A value as Go's fmt prints it with %v.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| match x {
                    Value::Null => "<nil>".to_owned(),
                    o => go_string(o),
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_string(&o[k.as_str()])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

fn eval_arg(a: &Arg, dot: &Value, vars: &Vars) -> Result<Value> {
    match a {
        Arg::Path(p) => lookup(dot, p),
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Num(n) => Ok(Value::from(*n)),
        Arg::Ident(f) => call(f, &[], dot),
        Arg::Var(name, path) => {
            let v = vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("template: undefined variable: ${name}"))?;
            lookup(v, path)
        }
        Arg::Sub(p, path) => lookup(&eval(p, dot, vars)?, path),
    }
}

fn call(f: &str, args: &[Value], _dot: &Value) -> Result<Value> {
    let s = |i: usize| args.get(i).map(go_string).unwrap_or_default();
    let need = |n: usize| {
        if args.len() < n {
            Err(format!(
                "template: wrong number of args for {f}: want {n} got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    Ok(match f {
        "json" => {
            need(1)?;
            Value::String(
                serde_json::to_string(&args[0]).map_err(|e| TemplateError(e.to_string()))?,
            )
        }
        "lower" => Value::String(s(0).to_lowercase()),
        "upper" => Value::String(s(0).to_uppercase()),
        "title" => Value::String(
            s(0).split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(go_string).collect::<Vec<_>>().join(" ")
        )),
        "print" => Value::String(args.iter().map(go_string).collect::<Vec<_>>().concat()),
        "len" => {
            need(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(x) => x.len(),
                _ => return Err("template: len of unsupported value".into()),
            })
        }
        "join" => {
            need(2)?;
            let items = args[0]
                .as_array()
                .map(|a| a.iter().map(go_string).collect::<Vec<_>>())
                .unwrap_or_default();
            Value::String(items.join(&s(1)))
        }
        "split" => {
            need(2)?;
            Value::Array(s(0).split(&s(1)).map(|x| Value::String(x.into())).collect())
        }
        "truncate" => {
            need(2)?;
            let n = args[1].as_u64().unwrap_or(0) as usize;
            Value::String(s(0).chars().take(n).collect())
        }
        "index" => {
            need(2)?;
            let mut cur = args[0].clone();
            for k in &args[1..] {
                cur = match (&cur, k) {
                    (Value::Array(a), Value::Number(n)) => a
                        .get(n.as_u64().unwrap_or(u64::MAX) as usize)
                        .cloned()
                        .ok_or_else(|| format!("template: index out of range: {n}"))?,
                    (Value::Object(o), Value::String(key)) => {
                        o.get(key).cloned().unwrap_or(Value::Null)
                    }
                    _ => return Err("template: can't index item".into()),
                };
            }
            cur
        }
        other => return Err(format!("template: function \"{other}\" not defined").into()),
    })
}

fn eval(p: &[Vec<Arg>], dot: &Value, vars: &Vars) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        let mut args: Vec<Value> = Vec::new();
        let head = &cmd[0];
        let v = match head {
            Arg::Ident(f) => {
                for a in &cmd[1..] {
                    args.push(eval_arg(a, dot, vars)?);
                }
                if let Some(pv) = prev.take() {
                    args.push(pv);
                }
                call(f, &args, dot)?
            }
            a => {
                if cmd.len() > 1 {
                    return Err("template: can't give argument to non-function".into());
                }
                eval_arg(a, dot, vars)?
            }
        };
        prev = Some(v);
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn render(nodes: &[Node], dot: &Value, vars: &Vars, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&go_string(&eval(p, dot, vars)?)),
            Node::If(c, a, b) => {
                if truthy(&eval(c, dot, vars)?) {
                    render(a, dot, vars, out)?;
                } else {
                    render(b, dot, vars, out)?;
                }
            }
            Node::Range(over, body, decl) => {
                let items: Vec<(Value, Value)> = match eval(over, dot, vars)? {
                    Value::Array(items) => items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v))
                        .collect(),
                    Value::Object(m) => {
                        let mut keys: Vec<String> = m.keys().cloned().collect();
                        keys.sort();
                        keys.into_iter()
                            .map(|k| {
                                let v = m[&k].clone();
                                (Value::String(k), v)
                            })
                            .collect()
                    }
                    Value::Null => Vec::new(),
                    _ => return Err("template: range can't iterate over a scalar".into()),
                };
                for (k, v) in items {
                    let mut scope = vars.clone();
                    if let Some((kn, vn)) = decl {
                        if let Some(kn) = kn {
                            scope.push((kn.clone(), k));
                        }
                        scope.push((vn.clone(), v.clone()));
                    }
                    render(body, &v, &scope, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t)
            .expect("parse")
            .render(v)
            .expect("render")
    }

    #[test]
    fn go_like_output() {
        let v = json!({"Id": "sha256:ab", "Tags": ["a:1", "b:2"], "Cfg": {"Cmd": ["sh"], "Env": null, "L": {"z": "1", "a": "2"}}, "N": 42});
        assert_eq!(r("{{.Id}}", &v), "sha256:ab");
        assert_eq!(r("{{.Tags}}", &v), "[a:1 b:2]");
        assert_eq!(r("{{index .Tags 1}}", &v), "b:2");
        assert_eq!(r("{{json .Cfg.Cmd}}", &v), "[\"sh\"]");
        assert_eq!(r("{{.Cfg.Cmd | json}}", &v), "[\"sh\"]");
        assert_eq!(r("{{.Cfg.L}}", &v), "map[a:2 z:1]");
        assert_eq!(r("{{index .Cfg.L \"z\"}}", &v), "1");
        assert_eq!(r("{{.Cfg.Env}}", &v), "<no value>");
        assert_eq!(r("{{range .Tags}}[{{.}}]{{end}}", &v), "[a:1][b:2]");
        assert_eq!(r("{{if .Cfg.Env}}y{{else}}n{{end}}", &v), "n");
        assert_eq!(r("{{join .Tags \", \"}} {{.N}}", &v), "a:1, b:2 42");
        assert_eq!(r("x {{- .N -}} y", &v), "x42y");
        assert_eq!(r("{{upper .Id}}\\t{{len .Tags}}", &v), "SHA256:AB\\t2");
        assert_eq!(r("{{(index .Tags 0)}}", &v), "a:1");
        assert_eq!(r("{{(index .Cfg.L \"z\") | len}}", &v), "1");
        assert_eq!(
            r("{{range $k, $v := .Cfg.L}}{{$k}}={{$v}};{{end}}", &v),
            "a=2;z=1;"
        );
        assert_eq!(
            r("{{range $i, $t := .Tags}}{{$i}}{{$t}}{{$.N}} {{end}}", &v),
            "0a:142 1b:242 "
        );
        assert_eq!(
            r(
                "{{(index (split (index .Cfg.Cmd 0) \"x\") 1)}}",
                &json!({"Cfg": {"Cmd": ["axb"]}})
            ),
            "b"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(Template::parse("{{.Id").is_err());
        assert!(Template::parse("{{if .X}}").is_err());
        let e = Template::parse("{{.Nope}}")
            .expect("parse")
            .render(&json!({"Id": 1}))
            .expect_err("missing field");
        assert!(e.0.contains("Nope"), "{e}");
        let e = Template::parse("{{bogus .Id}}")
            .expect("parse")
            .render(&json!({"Id": 1}))
            .expect_err("unknown function");
        assert!(e.0.contains("bogus"), "{e}");
    }
}
