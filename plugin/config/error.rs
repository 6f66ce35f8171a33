//! Config errors that name the file, line and column, and say what was expected.

use thiserror::Error;

/// A world file that could not be used. Displays as `file:line:column: what is wrong`.
#[derive(Clone, Debug, PartialEq, Error)]
#[error("{file}:{line}:{column}: {kind}")]
pub struct ConfigError {
    /// The file, as the asset path or file system path it was read from.
    pub file: String,
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column of the offending text.
    pub column: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a world file.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The text is not valid RON for the schema: bad syntax, an unknown or missing field, a wrong
    /// type. The message is RON's, which names what it expected.
    #[error("{0}")]
    Syntax(String),
    /// The file could not be read or is not UTF-8.
    #[error("could not read the file: {0}")]
    Io(String),
    /// A node names another node that does not exist.
    #[error(
        "node \"{node}\" refers to \"{reference}\", which is not defined; defined nodes: {known}"
    )]
    UnknownNode {
        /// The node holding the reference (or the field, for `terrain.height` and the biome fields).
        node: String,
        /// The missing name.
        reference: String,
        /// Comma-separated names that do exist.
        known: String,
    },
    /// Nodes refer to each other in a loop.
    #[error("noise nodes form a cycle: {0}")]
    Cycle(String),
    /// Something else the file's own rules forbid, explained in words.
    #[error("{0}")]
    Invalid(String),
    /// A value is outside what the field accepts.
    #[error("`{field}` is {value}, expected {expected}")]
    OutOfRange {
        /// Dotted path of the field, such as `chunk.vertices`.
        field: String,
        /// The value found.
        value: String,
        /// What would be accepted.
        expected: String,
    },
}

impl ConfigError {
    /// An error at a known position.
    pub fn at(file: &str, (line, column): (usize, usize), kind: ConfigErrorKind) -> Self {
        Self {
            file: file.to_owned(),
            line,
            column,
            kind,
        }
    }
}
