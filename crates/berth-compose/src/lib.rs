//! Compose files without a daemon: YAML with anchors, aliases and `<<` merge keys
//! ([`yaml`]), Compose's variable interpolation ([`interpolate`]), `.env` files ([`dotenv`]) and
//! project names ([`project_name`], [`normalize_project_name`]), and a project loaded and
//! normalised as Compose v2's `config` prints it ([`project`], [`model`]). The compose-spec's
//! per-field merge rules, `extends`, `include` and profiles come on top (issue 15).

pub mod check;
pub mod dotenv;
pub mod hash;
pub mod interpolate;
pub mod merge;
pub mod model;
pub mod project;
mod schema;
mod service;
pub mod yaml;

/// What loading a project can fail with; the texts are Compose v2's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid interpolation format for {at}.\nYou may need to escape any $ with another $.\n{text}"
    )]
    Interpolation { at: String, text: String },
    #[error("required variable {name} is missing a value{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Required { name: String, message: String },
    #[error("{file}:{line}: {message}")]
    EnvFile {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{0}")]
    ProjectName(String),
    /// A project Compose would refuse (unknown keys, wrong types, missing files, …).
    #[error("{0}")]
    Invalid(String),
}

/// A project name as given (`-p`, `name:`, `COMPOSE_PROJECT_NAME`): Compose's rule, lowercase
/// letters, digits, `-` and `_`, starting with a letter or digit.
pub fn project_name(name: &str) -> Result<&str, Error> {
    if name.is_empty() {
        return Err(Error::ProjectName("project name must not be empty".into()));
    }
    let b = name.as_bytes();
    let ok = (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_'));
    if ok {
        Ok(name)
    } else {
        Err(Error::ProjectName(format!(
            "{name:?} is not a valid project name: it must contain only characters from [a-z0-9_-] and start with [a-z0-9]"
        )))
    }
}

/// A project name made from a directory's name, as Compose makes it: lowercased, characters
/// outside `[a-z0-9_-]` dropped, leading `-` and `_` dropped.
pub fn normalize_project_name(dir_name: &str) -> String {
    let lower = dir_name.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
        .collect();
    kept.trim_start_matches(['-', '_']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_as_compose() {
        assert_eq!(project_name("my-app_1").expect("valid"), "my-app_1");
        assert_eq!(
            project_name("My App").expect_err("invalid").to_string(),
            "\"My App\" is not a valid project name: it must contain only characters from [a-z0-9_-] and start with [a-z0-9]"
        );
        assert!(project_name("-x").is_err());
        assert!(project_name("").is_err());
        assert_eq!(normalize_project_name("My.Cool App"), "mycoolapp");
        assert_eq!(normalize_project_name("__Hello-World"), "hello-world");
        assert_eq!(normalize_project_name("Ünïcode"), "ncode");
    }
}
