//! `.dockerignore` patterns with Docker's semantics: one pattern a line, `#` comments, paths
//! cleaned and relative to the context root, `*`/`?`/`[…]` within a path segment, `**` across
//! segments, `!` exceptions, the last matching pattern decides, and a pattern that matches a
//! directory matches everything below it.

use crate::shell::glob;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<String>,
    exception: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns {
    list: Vec<Pattern>,
}

/// `filepath.Clean` for slash paths, without the leading `/`.
fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_owned()),
        }
    }
    out
}

impl Patterns {
    /// The patterns of a `.dockerignore` file's text.
    pub fn parse(text: &str) -> Patterns {
        let mut list = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, p) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let segments = clean(p);
            if segments.is_empty() {
                continue;
            }
            list.push(Pattern {
                segments,
                exception,
            });
        }
        Patterns { list }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn has_exceptions(&self) -> bool {
        self.list.iter().any(|p| p.exception)
    }

    /// Whether a context path (slash separated, relative) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let segs = clean(path);
        let mut excluded = false;
        for p in &self.list {
            if p.exception != excluded {
                continue;
            }
            let hit = (1..=segs.len()).any(|n| matches(&p.segments, &segs[..n]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether a directory that is excluded may still hold a file an exception brings back
    /// (then the walk must go into it).
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let segs = clean(dir);
        self.list.iter().filter(|p| p.exception).any(|p| {
            // the exception's fixed prefix is compatible with the directory
            p.segments
                .iter()
                .zip(&segs)
                .all(|(ps, ds)| ps == "**" || ps.contains(['*', '?', '[']) || glob(ps, ds))
                || p.segments.first().is_some_and(|s| s == "**")
        })
    }
}

fn matches(pat: &[String], path: &[String]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(s) if s == "**" => (0..=path.len()).any(|i| matches(&pat[1..], &path[i..])),
        Some(s) => !path.is_empty() && glob(s, &path[0]) && matches(&pat[1..], &path[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_semantics() {
        let p = Patterns::parse(
            "# c\n*.md\n!README.md\ntarget\n**/*.o\n/tmp/*\n!tmp/keep\n./dist/../build\n",
        );
        assert!(p.excludes("a.md"));
        assert!(!p.excludes("README.md"));
        assert!(!p.excludes("docs/a.md"), "* does not cross /");
        assert!(p.excludes("target"));
        assert!(
            p.excludes("target/debug/x"),
            "a directory's match covers what is below"
        );
        assert!(p.excludes("x/y/z.o"));
        assert!(p.excludes("z.o"));
        assert!(p.excludes("tmp/a"));
        assert!(!p.excludes("tmp/keep"));
        assert!(p.excludes("build/out"));
        assert!(!p.excludes("src/main.rs"));
        assert!(p.may_reinclude_below("tmp"));
        assert!(!p.may_reinclude_below("target"));
        let last_wins = Patterns::parse("!a\na\n");
        assert!(last_wins.excludes("a"));
    }
}
