//! The Dockerfile front end. Text in, typed stages out; no file system, no network.
//!
//! - [`parser`]: lines, continuations, parser directives, heredocs → [`parser::Node`]s, as
//!   BuildKit's parser splits them (its `Dump` form is reproduced for comparison with BuildKit's
//!   own test files).
//! - [`shell`]: word expansion with Docker's rules (`$VAR`, `${VAR:-x}`, quotes, escapes).
//! - [`instructions`]: nodes → typed instructions with their flags checked.
//! - [`stages`]: `ARG`s before the first `FROM`, stages by name and index, `--target`.
//! - [`ignore`]: `.dockerignore` patterns with Docker's semantics.

pub mod ignore;
pub mod instructions;
pub mod parser;
pub mod shell;
pub mod stages;

/// An error with its place in the Dockerfile, printed as BuildKit prints them:
/// `Dockerfile:3` then the message (`line 3: …` for parse errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct Error {
    pub file: String,
    /// 1-based; 0 when the error has no line.
    pub line: usize,
    /// 1-based column of the offending text, 0 when the whole line.
    pub column: usize,
    pub message: String,
}

impl Error {
    pub fn new(line: usize, message: impl Into<String>) -> Error {
        Error {
            file: "Dockerfile".into(),
            line,
            column: 0,
            message: message.into(),
        }
    }
    pub fn at(mut self, column: usize) -> Error {
        self.column = column;
        self
    }
    pub fn in_file(mut self, file: &str) -> Error {
        file.clone_into(&mut self.file);
        self
    }
}

pub type Result<T> = std::result::Result<T, Error>;
