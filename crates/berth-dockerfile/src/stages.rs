//! Instructions grouped into stages: the `ARG`s before the first `FROM` (usable in `FROM`
//! lines), each stage's base, name and instructions, the stages another stage needs
//! (`FROM <stage>`, `COPY --from`, `RUN --mount=from=`), and the target.

use crate::instructions::{ArgDef, Instruction};
use crate::parser::{Node, Parsed};
use crate::shell::{Env, Lex};
use crate::{Error, Result};

/// One instruction with its place and text (the text is what `history` and progress show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instruction: Instruction,
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    /// The base as written (expanded with the meta args when the build starts).
    pub base: String,
    pub platform: Option<String>,
    pub line: usize,
    pub text: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// `ARG`s before the first `FROM`.
    pub meta_args: Vec<ArgDef>,
    pub stages: Vec<Stage>,
    pub escape: char,
}

fn text_of(n: &Node) -> String {
    n.original.trim().to_owned()
}

impl Dockerfile {
    pub fn from_parsed(p: &Parsed) -> Result<Dockerfile> {
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for n in &p.nodes {
            let ins = Instruction::from_node(n).map_err(|e| Error::new(n.start_line, e))?;
            match ins {
                Instruction::From {
                    image,
                    name,
                    platform,
                } => {
                    if let Some(nm) = &name {
                        if stages.iter().any(|s| s.name.as_deref() == Some(nm)) {
                            return Err(Error::new(
                                n.start_line,
                                format!("duplicate stage name {nm:?}"),
                            ));
                        }
                    }
                    stages.push(Stage {
                        index: stages.len(),
                        name,
                        base: image,
                        platform,
                        line: n.start_line,
                        text: text_of(n),
                        steps: Vec::new(),
                    });
                }
                Instruction::Arg(defs) if stages.is_empty() => meta_args.extend(defs),
                other => {
                    let Some(s) = stages.last_mut() else {
                        return Err(Error::new(
                            n.start_line,
                            format!(
                                "no build stage in current context ({} before FROM)",
                                n.cmd.to_uppercase()
                            ),
                        ));
                    };
                    s.steps.push(Step {
                        instruction: other,
                        line: n.start_line,
                        text: text_of(n),
                    });
                }
            }
        }
        if stages.is_empty() {
            return Err(Error::new(
                0,
                "no build stage in current context: the Dockerfile has no FROM",
            ));
        }
        Ok(Dockerfile {
            meta_args,
            stages,
            escape: p.escape,
        })
    }

    /// The stage a `--target` names (the last stage without one).
    pub fn target(&self, target: Option<&str>) -> std::result::Result<usize, String> {
        match target.filter(|t| !t.is_empty()) {
            None => Ok(self.stages.len() - 1),
            Some(t) => self
                .find(t)
                .ok_or_else(|| format!("failed to reach build target {t} in Dockerfile")),
        }
    }

    /// A stage by name (case-insensitive) or index.
    pub fn find(&self, name: &str) -> Option<usize> {
        let l = name.to_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(l.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    /// A stage's base, expanded with the meta args (build args override their defaults).
    pub fn base_of(&self, stage: usize, args: &dyn Env) -> std::result::Result<String, String> {
        let env = self.meta_env(args);
        let s = &self.stages[stage];
        let b = Lex::new(self.escape).word(&s.base, &env)?;
        if b.is_empty() {
            return Err(format!("base name ({}) should not be blank", s.base));
        }
        Ok(b)
    }

    /// The meta args' values: a build arg's value, else the default.
    pub fn meta_env(&self, args: &dyn Env) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for a in &self.meta_args {
            let v = args.get(&a.name).or_else(|| {
                a.default.as_ref().map(|d| {
                    Lex::new(self.escape)
                        .word(d, &env)
                        .unwrap_or_else(|_| d.clone())
                })
            });
            if let Some(v) = v {
                env.push((a.name.clone(), v));
            }
        }
        env
    }

    /// The stages a stage needs before it can build, by index (from `FROM`, `COPY --from`,
    /// `RUN --mount=from=`); names that are not stages are images.
    pub fn deps(&self, stage: usize, args: &dyn Env) -> Vec<usize> {
        let s = &self.stages[stage];
        let mut env = self.meta_env(args);
        let lex = Lex::new(self.escape);
        let mut out = Vec::new();
        let mut add = |name: &str, env: &Vec<(String, String)>| {
            let n = lex.word(name, env).unwrap_or_else(|_| name.to_owned());
            if let Some(i) = self.find(&n).filter(|i| *i < stage) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        };
        add(&s.base, &env);
        for st in &s.steps {
            match &st.instruction {
                Instruction::Arg(defs) => {
                    for d in defs {
                        if let Some(v) = args.get(&d.name).or_else(|| d.default.clone()) {
                            env.push((d.name.clone(), v));
                        }
                    }
                }
                Instruction::Copy(c) => {
                    if let Some(f) = &c.from {
                        add(f, &env);
                    }
                }
                Instruction::Run(r) => {
                    for m in &r.mounts {
                        if !m.from.is_empty() {
                            add(&m.from, &env);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The stages a target needs, itself included, in build order.
    pub fn needed(&self, target: usize, args: &dyn Env) -> Vec<usize> {
        let mut need = vec![false; self.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut need[i], true) {
                continue;
            }
            todo.extend(self.deps(i, args));
        }
        (0..self.stages.len()).filter(|i| need[*i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn df(t: &str) -> Dockerfile {
        Dockerfile::from_parsed(&parse(t).unwrap()).unwrap()
    }

    #[test]
    fn stages_and_deps() {
        let d = df(
            "ARG BASE=alpine\nFROM $BASE AS a\nRUN x\nFROM busybox AS unused\nFROM a AS b\nARG S=a\nCOPY --from=$S /x /y\nFROM scratch\nCOPY --from=b / /\n",
        );
        let none: Vec<(String, String)> = Vec::new();
        assert_eq!(d.stages.len(), 4);
        assert_eq!(d.base_of(0, &none).unwrap(), "alpine");
        let over = vec![("BASE".to_string(), "debian".to_string())];
        assert_eq!(d.base_of(0, &over).unwrap(), "debian");
        assert_eq!(d.deps(2, &none), [0]);
        assert_eq!(d.needed(3, &none), [0, 2, 3], "the unused stage is skipped");
        assert_eq!(d.target(Some("B")), Ok(2));
        assert!(
            d.target(Some("nope"))
                .unwrap_err()
                .contains("failed to reach build target nope")
        );
    }

    #[test]
    fn errors() {
        let e = Dockerfile::from_parsed(&parse("RUN x\n").unwrap()).unwrap_err();
        assert!(e.message.contains("no build stage"), "{e}");
        let e = Dockerfile::from_parsed(&parse("FROM a\n\nFOO x\n").unwrap()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown instruction: FOO"));
        let e = Dockerfile::from_parsed(&parse("FROM a AS x\nFROM b AS x\n").unwrap()).unwrap_err();
        assert!(e.message.contains("duplicate stage name"));
    }
}
