//! Parsed nodes → typed instructions: flags checked against each instruction's set, argument
//! forms (shell or exec), `RUN --mount` specifications, `HEALTHCHECK` options. Words that
//! Docker expands (paths, `ENV` values, `--from`, …) are expanded by [`Instruction::expand`] at
//! the moment the builder reaches them, with the stage's variables of that moment.

use crate::parser::{Heredoc, Node};
use crate::shell::{Env, Lex};
use std::collections::BTreeSet;

/// A command's form: exec (`["a", "b"]`) or shell (`a b`, run through the stage's `SHELL`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    pub args: Vec<String>,
    pub shell: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// `RUN --mount=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    pub target: String,
    pub source: String,
    pub from: String,
    pub id: String,
    pub readonly: bool,
    /// Cache sharing: `shared` (default), `private`, `locked`.
    pub sharing: String,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub required: bool,
    pub size: Option<u64>,
    /// A secret given to the step as an environment variable (`env=NAME`).
    pub env: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Run {
    pub cmd: Command,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", "…"]`, as the image config keeps it.
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Maintainer(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Copy(Copy),
    Arg(Vec<ArgDef>),
    Onbuild(String),
    StopSignal(String),
    Healthcheck(Health),
    Shell(Vec<String>),
}

/// Flags of one instruction, `--name=value` or `--name` (a bool).
struct Flags {
    seen: Vec<(String, Option<String>)>,
}

impl Flags {
    fn parse(node: &Node, allowed: &[&str]) -> Result<Flags, String> {
        let mut seen = Vec::new();
        for f in &node.flags {
            let body = f.trim_start_matches('-');
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (body.to_owned(), None),
            };
            if !allowed.contains(&name.as_str()) {
                return Err(format!("unknown flag: {name}"));
            }
            seen.push((name, value));
        }
        Ok(Flags { seen })
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }
    fn one(&self, name: &str) -> Result<Option<String>, String> {
        let all: Vec<_> = self.seen.iter().filter(|(n, _)| n == name).collect();
        match all.as_slice() {
            [] => Ok(None),
            [(_, Some(v))] => Ok(Some(v.clone())),
            [(_, None)] => Err(format!("missing a value on flag: {name}")),
            _ => Err(format!("duplicate flag specified: {name}")),
        }
    }
    fn bool(&self, name: &str) -> Result<bool, String> {
        match self.seen.iter().rev().find(|(n, _)| n == name) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("expecting boolean value for flag {name}, not: {v}")),
            },
        }
    }
}

fn command(node: &Node) -> Command {
    Command {
        args: node.args.clone(),
        shell: !node.json,
    }
}

fn pairs(args: &[String]) -> Vec<(String, String)> {
    args.chunks(3)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect()
}

impl Instruction {
    /// The instruction a node is; errors are the message only (the caller adds the place).
    pub fn from_node(node: &Node) -> Result<Instruction, String> {
        let cmd = node.cmd.to_ascii_lowercase();
        let none: &[&str] = &[];
        let allowed: &[&str] = match cmd.as_str() {
            "from" => &["platform"],
            "run" => &["mount", "network", "security", "device"],
            "copy" => &["from", "chown", "chmod", "link", "parents", "exclude"],
            "add" => &[
                "chown",
                "chmod",
                "link",
                "checksum",
                "keep-git-dir",
                "exclude",
                "unpack",
            ],
            "healthcheck" => &[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ],
            _ => none,
        };
        let flags = Flags::parse(node, allowed)?;
        let need = |n: usize, what: &str| -> Result<(), String> {
            if node.args.len() < n || node.args.iter().all(String::is_empty) && n > 0 {
                return Err(format!(
                    "{what} requires at least {n} argument{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            Ok(())
        };
        let up = cmd.to_uppercase();
        Ok(match cmd.as_str() {
            "from" => {
                let a = &node.args;
                let (image, name) = match a.as_slice() {
                    [i] => (i.clone(), None),
                    [i, as_, n] if as_.eq_ignore_ascii_case("as") => (i.clone(), Some(n.clone())),
                    [] => return Err("FROM requires either one or three arguments".into()),
                    _ => return Err("FROM requires either one or three arguments".into()),
                };
                if let Some(n) = &name {
                    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                    if !ok {
                        return Err(format!(
                            "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                        ));
                    }
                }
                Instruction::From {
                    image,
                    name: name.map(|n| n.to_lowercase()),
                    platform: flags.one("platform")?,
                }
            }
            "run" => {
                if node.args.is_empty() && node.heredocs.is_empty() {
                    need(1, &up)?;
                }
                let mut mounts = Vec::new();
                for m in flags.all("mount") {
                    mounts.push(parse_mount(&m)?);
                }
                let network = flags.one("network")?;
                if let Some(n) = &network {
                    if !matches!(n.as_str(), "default" | "none" | "host") {
                        return Err(format!("unsupported network mode: {n}"));
                    }
                }
                let security = flags.one("security")?;
                if let Some(s) = &security {
                    if !matches!(s.as_str(), "sandbox" | "insecure") {
                        return Err(format!("unsupported security mode: {s}"));
                    }
                }
                Instruction::Run(Run {
                    cmd: command(node),
                    heredocs: node.heredocs.clone(),
                    mounts,
                    network,
                    security,
                })
            }
            "cmd" => Instruction::Cmd(command(node)),
            "entrypoint" => Instruction::Entrypoint(command(node)),
            "shell" => {
                if !node.json {
                    return Err("SHELL requires the arguments to be in JSON form".into());
                }
                need(1, "SHELL")?;
                Instruction::Shell(node.args.clone())
            }
            "env" | "label" => {
                need(1, &up)?;
                let p = pairs(&node.args);
                if cmd == "env" {
                    Instruction::Env(p)
                } else {
                    Instruction::Label(p)
                }
            }
            "maintainer" => {
                need(1, "MAINTAINER")?;
                Instruction::Maintainer(node.args[0].clone())
            }
            "expose" => {
                need(1, "EXPOSE")?;
                Instruction::Expose(node.args.clone())
            }
            "volume" => {
                need(1, "VOLUME")?;
                Instruction::Volume(node.args.clone())
            }
            "user" => {
                need(1, "USER")?;
                Instruction::User(node.args[0].clone())
            }
            "workdir" => {
                need(1, "WORKDIR")?;
                Instruction::Workdir(node.args[0].clone())
            }
            "stopsignal" => {
                need(1, "STOPSIGNAL")?;
                Instruction::StopSignal(node.args[0].clone())
            }
            "onbuild" => {
                let Some(sub) = &node.sub else {
                    return Err("ONBUILD requires at least one argument".into());
                };
                match sub.cmd.to_ascii_lowercase().as_str() {
                    "onbuild" => {
                        return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into());
                    }
                    "from" | "maintainer" => {
                        return Err(format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            sub.cmd.to_uppercase()
                        ));
                    }
                    _ => {}
                }
                Instruction::from_node(sub)?;
                let text = node.original.trim();
                let rest = text[text.find(char::is_whitespace).unwrap_or(text.len())..].trim();
                Instruction::Onbuild(rest.to_owned())
            }
            "arg" => {
                need(1, "ARG")?;
                let defs = node
                    .args
                    .iter()
                    .map(|w| match w.split_once('=') {
                        Some((n, v)) => ArgDef {
                            name: n.into(),
                            default: Some(v.into()),
                        },
                        None => ArgDef {
                            name: w.clone(),
                            default: None,
                        },
                    })
                    .collect();
                Instruction::Arg(defs)
            }
            "healthcheck" => {
                let a = &node.args;
                let Some(kind) = a.first() else {
                    return Err("HEALTHCHECK requires an argument".into());
                };
                let test = match kind.to_uppercase().as_str() {
                    "NONE" => {
                        if a.len() > 1 {
                            return Err("HEALTHCHECK NONE takes no arguments".into());
                        }
                        vec!["NONE".to_owned()]
                    }
                    "CMD" => {
                        if a.len() < 2 {
                            return Err("Missing command after HEALTHCHECK CMD".into());
                        }
                        if node.json {
                            std::iter::once("CMD".to_owned())
                                .chain(a[1..].iter().cloned())
                                .collect()
                        } else {
                            vec!["CMD-SHELL".to_owned(), a[1].clone()]
                        }
                    }
                    other => {
                        return Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"));
                    }
                };
                Instruction::Healthcheck(Health {
                    test,
                    interval: flags.one("interval")?,
                    timeout: flags.one("timeout")?,
                    start_period: flags.one("start-period")?,
                    start_interval: flags.one("start-interval")?,
                    retries: flags.one("retries")?,
                })
            }
            "copy" | "add" => {
                let a = &node.args;
                let n = if node.heredocs.is_empty() { 2 } else { 1 };
                if a.len() < n {
                    return Err(format!(
                        "{up} requires at least two arguments, but only {} provided",
                        a.len()
                    ));
                }
                let (src, dest) = a.split_at(a.len() - 1);
                Instruction::Copy(Copy {
                    add: cmd == "add",
                    sources: src.to_vec(),
                    dest: dest[0].clone(),
                    heredocs: node.heredocs.clone(),
                    from: if cmd == "copy" {
                        flags.one("from")?
                    } else {
                        None
                    },
                    chown: flags.one("chown")?,
                    chmod: flags.one("chmod")?,
                    link: flags.bool("link")?,
                    parents: cmd == "copy" && flags.bool("parents")?,
                    exclude: flags.all("exclude"),
                    checksum: if cmd == "add" {
                        flags.one("checksum")?
                    } else {
                        None
                    },
                    keep_git_dir: cmd == "add" && flags.bool("keep-git-dir")?,
                })
            }
            _ => return Err(format!("unknown instruction: {}", node.cmd)),
        })
    }

    /// The instruction with Docker's expansions applied (the variables it used are returned
    /// too, so the builder can key its cache on them and warn of unused build args).
    pub fn expand(
        &self,
        lex: &Lex,
        env: &dyn Env,
    ) -> Result<(Instruction, BTreeSet<String>), String> {
        let mut used = BTreeSet::new();
        let mut w = |s: &str| -> Result<String, String> {
            let (v, u) = lex.word_used(s, env)?;
            used.extend(u);
            Ok(v)
        };
        let i = match self {
            Instruction::From {
                image,
                name,
                platform,
            } => Instruction::From {
                image: w(image)?,
                name: name.clone(),
                platform: platform.as_deref().map(&mut w).transpose()?,
            },
            Instruction::Env(p) | Instruction::Label(p) => {
                let mut out = Vec::new();
                for (k, v) in p {
                    out.push((w(k)?, w(v)?));
                }
                if matches!(self, Instruction::Env(_)) {
                    Instruction::Env(out)
                } else {
                    Instruction::Label(out)
                }
            }
            Instruction::Expose(p) => {
                let mut out = Vec::new();
                for x in p {
                    out.extend(lex.words(x, env)?);
                }
                Instruction::Expose(out)
            }
            Instruction::Volume(p) => {
                Instruction::Volume(p.iter().map(|x| w(x)).collect::<Result<_, _>>()?)
            }
            Instruction::User(u) => Instruction::User(w(u)?),
            Instruction::Workdir(d) => Instruction::Workdir(w(d)?),
            Instruction::StopSignal(s) => Instruction::StopSignal(w(s)?),
            Instruction::Copy(c) => {
                let mut c = c.clone();
                c.sources = c.sources.iter().map(|x| w(x)).collect::<Result<_, _>>()?;
                c.dest = w(&c.dest)?;
                c.from = c.from.as_deref().map(&mut w).transpose()?;
                c.chown = c.chown.as_deref().map(&mut w).transpose()?;
                c.chmod = c.chmod.as_deref().map(&mut w).transpose()?;
                c.checksum = c.checksum.as_deref().map(&mut w).transpose()?;
                c.exclude = c.exclude.iter().map(|x| w(x)).collect::<Result<_, _>>()?;
                for h in &mut c.heredocs {
                    if h.expand {
                        h.content = w(&h.content)?;
                    }
                }
                Instruction::Copy(c)
            }
            Instruction::Run(r) => {
                let mut r = r.clone();
                for m in &mut r.mounts {
                    m.target = w(&m.target)?;
                    m.source = w(&m.source)?;
                    m.from = w(&m.from)?;
                    m.id = w(&m.id)?;
                }
                Instruction::Run(r)
            }
            other => other.clone(),
        };
        Ok((i, used))
    }
}

/// One `--mount=` value (CSV of `key=value`, `readonly`/`ro`, `required`).
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    let mut m = Mount {
        kind: MountKind::Bind,
        target: String::new(),
        source: String::new(),
        from: String::new(),
        id: String::new(),
        readonly: false,
        sharing: "shared".into(),
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: String::new(),
    };
    let mut ro: Option<bool> = None;
    let fields: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    // type first: it decides the defaults.
    for f in &fields {
        if let Some(t) = f.strip_prefix("type=") {
            m.kind = match t {
                "bind" => MountKind::Bind,
                "cache" => MountKind::Cache,
                "tmpfs" => MountKind::Tmpfs,
                "secret" => MountKind::Secret,
                "ssh" => MountKind::Ssh,
                _ => return Err(format!("unsupported mount type {t:?}")),
            };
        }
    }
    let num = |k: &str, v: &str, radix: u32| {
        u32::from_str_radix(v, radix)
            .map_err(|_| format!("invalid value {v:?} for {k} in --mount={spec}"))
    };
    for f in fields {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        match k.to_ascii_lowercase().as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = v.into(),
            "source" | "src" => m.source = v.into(),
            "from" => m.from = v.into(),
            "id" => m.id = v.into(),
            "env" => m.env = v.into(),
            "readonly" | "ro" => ro = Some(v.is_empty() || v == "true"),
            "readwrite" | "rw" => ro = Some(!(v.is_empty() || v == "true")),
            "required" => m.required = v.is_empty() || v == "true",
            "sharing" => {
                if !matches!(v, "shared" | "private" | "locked") {
                    return Err(format!("unsupported sharing value {v:?}"));
                }
                m.sharing = v.into();
            }
            "mode" => m.mode = Some(num(k, v, 8)?),
            "uid" => m.uid = Some(num(k, v, 10)?),
            "gid" => m.gid = Some(num(k, v, 10)?),
            "size" => {
                m.size = Some(
                    v.parse()
                        .map_err(|_| format!("invalid size {v:?} in --mount={spec}"))?,
                )
            }
            _ => return Err(format!("unexpected key '{k}' in '{f}'")),
        }
    }
    match m.kind {
        MountKind::Secret => {
            if m.id.is_empty() {
                let base = m.target.rsplit('/').next().unwrap_or_default();
                if base.is_empty() && m.env.is_empty() {
                    return Err(format!(
                        "secret mount needs an id or a target: --mount={spec}"
                    ));
                }
                m.id = if base.is_empty() {
                    m.env.clone()
                } else {
                    base.into()
                };
            }
            if m.target.is_empty() && m.env.is_empty() {
                m.target = format!("/run/secrets/{}", m.id);
            }
            m.readonly = true;
        }
        MountKind::Ssh => {
            if m.id.is_empty() {
                m.id = "default".into();
            }
            if m.target.is_empty() {
                m.target = "/run/buildkit/ssh_agent.0".into();
            }
            m.readonly = true;
        }
        _ => {
            if m.target.is_empty() {
                return Err(format!("mount target is required: --mount={spec}"));
            }
            m.readonly = ro.unwrap_or(m.kind == MountKind::Bind);
            if m.kind == MountKind::Cache && m.id.is_empty() {
                m.id = m.target.clone();
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn one(text: &str) -> Result<Instruction, String> {
        let p = parse(text).map_err(|e| e.message)?;
        Instruction::from_node(&p.nodes[0])
    }

    #[test]
    fn instructions() {
        assert_eq!(
            one("FROM --platform=linux/amd64 alpine AS Build").unwrap(),
            Instruction::From {
                image: "alpine".into(),
                name: Some("build".into()),
                platform: Some("linux/amd64".into())
            }
        );
        let Instruction::Run(r) =
            one("RUN --mount=type=cache,target=/c,sharing=locked --network=none make").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.mounts[0].id, "/c");
        assert_eq!(r.network.as_deref(), Some("none"));
        assert!(r.cmd.shell);
        let Instruction::Run(r) =
            one("RUN --mount=type=secret,id=tok cat /run/secrets/tok").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.mounts[0].target, "/run/secrets/tok");
        let Instruction::Copy(c) = one("COPY --from=b --chmod=755 --link a b /d/").unwrap() else {
            panic!()
        };
        assert_eq!((c.sources.len(), c.dest.as_str(), c.link), (2, "/d/", true));
        let Instruction::Healthcheck(h) = one("HEALTHCHECK --interval=5s CMD curl -f x").unwrap()
        else {
            panic!()
        };
        assert_eq!(h.test, ["CMD-SHELL", "curl -f x"]);
        assert!(
            one("COPY --bogus a b")
                .unwrap_err()
                .contains("unknown flag: bogus")
        );
        assert!(
            one("FOO bar")
                .unwrap_err()
                .contains("unknown instruction: FOO")
        );
        assert!(
            one("COPY a")
                .unwrap_err()
                .contains("at least two arguments")
        );
        assert!(one("ONBUILD ONBUILD RUN x").is_err());
        assert!(one("RUN --mount=type=nope,target=/x y").is_err());
        assert!(one("SHELL /bin/sh -c").is_err());
    }

    #[test]
    fn expansion() {
        let env: Vec<(String, String)> =
            vec![("D".into(), "/app".into()), ("V".into(), "1 2".into())];
        let lex = Lex::new('\\');
        let i = one("COPY --chown=${U:-1000} src ${D}/").unwrap();
        let (Instruction::Copy(c), used) = i.expand(&lex, &env).unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.dest.as_str(), c.chown.as_deref()),
            ("/app/", Some("1000"))
        );
        assert!(used.contains("D") && used.contains("U"));
        let (i, _) = one("ENV A=$V B=\"x y\"")
            .unwrap()
            .expand(&lex, &env)
            .unwrap();
        assert_eq!(
            i,
            Instruction::Env(vec![("A".into(), "1 2".into()), ("B".into(), "x y".into())])
        );
        let (i, _) = one("RUN echo $D").unwrap().expand(&lex, &env).unwrap();
        let Instruction::Run(r) = i else { panic!() };
        assert_eq!(r.cmd.args, ["echo $D"], "RUN is the shell's to expand");
    }
}
