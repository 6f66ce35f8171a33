//! Why a tokenizer or a chat template could not be built or used.

use thiserror::Error;

use super::TokenId;

/// Why a tokenizer could not be read, or an id could not be decoded.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A required field is absent.
    #[error("tokenizer: missing {0}")]
    Missing(String),
    /// A field is there but holds the wrong kind of value or an impossible one.
    #[error("tokenizer: {field}: {message}")]
    Malformed {
        /// The field (GGUF key or JSON path).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The tokenizer algorithm is not one this crate implements.
    #[error(
        "tokenizer: model {0:?} is not supported (byte-level BPE \"gpt2\" and SentencePiece \"llama\" are)"
    )]
    UnsupportedModel(String),
    /// A merge rule names a token the vocabulary lacks.
    #[error("tokenizer: merge {index} ({rule:?}): {reason}")]
    Merge {
        /// Position of the rule in the merge list (its rank).
        index: usize,
        /// The rule as written.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `tokenizer.json` or `tokenizer_config.json` is not valid JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        /// Which file.
        file: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// An id past the end of the vocabulary was given to decode.
    #[error("token id {id} is outside the vocabulary ({size} tokens)")]
    UnknownId {
        /// The id.
        id: TokenId,
        /// Vocabulary size.
        size: usize,
    },
}

impl TokenizerError {
    pub(crate) fn malformed(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Malformed {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a chat template could not be compiled or rendered.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ChatTemplateError {
    /// The template does not parse, or rendering it failed (an undefined method, a
    /// `raise_exception` call, too much work).
    #[error("chat template: {0}")]
    Template(String),
    /// The template changed the text of a message in a way that could not be traced (it sliced
    /// or upper-cased it, or branched on it), so its output cannot be split into markup and
    /// message text safely.
    #[error("chat template: it changes message text beyond trimming, so it cannot be split safely")]
    ContentTransformed,
    /// The messages are too large to render.
    #[error("chat template: {0}")]
    TooLarge(String),
}

impl From<minijinja::Error> for ChatTemplateError {
    fn from(e: minijinja::Error) -> Self {
        // `{:#}` adds the template line the error points at.
        Self::Template(format!("{e:#}"))
    }
}
