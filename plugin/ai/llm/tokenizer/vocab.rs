//! The vocabulary: token strings, their kinds, scores and the special ids, with the checks
//! every source (GGUF, `tokenizer.json`) goes through.

use rustc_hash::FxHashMap;

use super::{TokenId, TokenizerError};

/// Vocabularies larger than this are rejected (the largest real ones have about 260,000).
pub(crate) const MAX_VOCAB: usize = 1 << 21;
/// Tokens longer than this many bytes are rejected (real ones are under 1 KiB).
pub(crate) const MAX_TOKEN_BYTES: usize = 1 << 16;

/// What kind of token an id is (GGUF's `tokenizer.ggml.token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// Ordinary text.
    Normal,
    /// The unknown-token placeholder (`<unk>`).
    Unknown,
    /// Chat-template and sequence markup (`<|im_start|>`, `<s>`): only ever produced from
    /// trusted markup, never from text, and left out when decoding.
    Control,
    /// A token added to the vocabulary as a whole string; treated like markup here.
    UserDefined,
    /// Reserved and never used.
    Unused,
    /// One raw byte, `<0xXX>` (SentencePiece byte fallback).
    Byte,
}

impl TokenType {
    /// GGUF's numbering: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    /// (0, "undefined", reads as normal).
    pub fn from_gguf(value: u64) -> Option<Self> {
        Some(match value {
            0 | 1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }

    /// Whether the token is markup, recognised only in trusted text.
    pub fn is_markup(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }
}

/// The ids a model gives special meaning to; `None` where the model has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<TokenId>,
    /// End of sequence.
    pub eos: Option<TokenId>,
    /// End of turn (`<|im_end|>`, `<|eot_id|>`), found by its text when the file does not say.
    pub eot: Option<TokenId>,
    /// Unknown token.
    pub unk: Option<TokenId>,
    /// Padding.
    pub pad: Option<TokenId>,
}

/// Texts that end generation, as llama.cpp recognises them (`llama-vocab.cpp`).
const END_OF_GENERATION: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// Texts that mark the end of a turn, in the order llama.cpp looks for them.
const END_OF_TURN: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<end_of_utterance>",
];

/// Token strings and what they are.
#[derive(Clone, Debug)]
pub(crate) struct Vocab {
    /// Each token's string as the vocabulary writes it.
    pub texts: Vec<Box<str>>,
    pub types: Vec<TokenType>,
    /// SentencePiece scores (empty for byte-level BPE).
    pub scores: Vec<f32>,
    /// String to id; where two ids share a string the later wins, as in llama.cpp.
    pub by_text: FxHashMap<Box<str>, TokenId>,
    pub special: SpecialTokens,
    /// Ids that end generation.
    pub stop: Vec<TokenId>,
}

impl Vocab {
    /// Checks sizes and builds the lookups. `types` and `scores` may be empty (all normal,
    /// all zero); otherwise they must match `texts` in length.
    pub fn new(
        texts: Vec<Box<str>>,
        mut types: Vec<TokenType>,
        scores: Vec<f32>,
    ) -> Result<Self, TokenizerError> {
        if texts.is_empty() {
            return Err(TokenizerError::malformed(
                "tokens",
                "the vocabulary is empty",
            ));
        }
        if texts.len() > MAX_VOCAB {
            return Err(TokenizerError::malformed(
                "tokens",
                format!("{} tokens, more than {MAX_VOCAB}", texts.len()),
            ));
        }
        if let Some(i) = texts.iter().position(|t| t.len() > MAX_TOKEN_BYTES) {
            return Err(TokenizerError::malformed(
                "tokens",
                format!("token {i} is longer than {MAX_TOKEN_BYTES} bytes"),
            ));
        }
        if types.is_empty() {
            types = vec![TokenType::Normal; texts.len()];
        } else if types.len() != texts.len() {
            return Err(TokenizerError::malformed(
                "token_type",
                format!("{} types for {} tokens", types.len(), texts.len()),
            ));
        }
        if !scores.is_empty() && scores.len() != texts.len() {
            return Err(TokenizerError::malformed(
                "scores",
                format!("{} scores for {} tokens", scores.len(), texts.len()),
            ));
        }
        let mut by_text = FxHashMap::default();
        by_text.reserve(texts.len());
        for (id, text) in texts.iter().enumerate() {
            by_text.insert(text.clone(), id as TokenId);
        }
        let mut vocab = Self {
            texts,
            types,
            scores,
            by_text,
            special: SpecialTokens::default(),
            stop: Vec::new(),
        };
        // A token whose text ends a turn is markup whatever its file says (llama.cpp does the
        // same): it must never come out of a player's text.
        for &text in END_OF_GENERATION {
            if let Some(&id) = vocab.by_text.get(text)
                && !vocab.types[id as usize].is_markup()
            {
                vocab.types[id as usize] = TokenType::Control;
            }
        }
        Ok(vocab)
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Checks a special id from the file (`None` stays `None`).
    pub fn check_id(
        &self,
        field: &str,
        id: Option<u64>,
    ) -> Result<Option<TokenId>, TokenizerError> {
        match id {
            None => Ok(None),
            Some(id) if id < self.len() as u64 => Ok(Some(id as TokenId)),
            Some(id) => Err(TokenizerError::malformed(
                field,
                format!(
                    "token id {id} is outside the vocabulary ({} tokens)",
                    self.len()
                ),
            )),
        }
    }

    /// Sets the special ids, finds the end-of-turn token by its text when it is not given,
    /// and collects the ids that end generation.
    pub fn set_special(&mut self, mut special: SpecialTokens) {
        if special.eot.is_none() {
            special.eot = END_OF_TURN
                .iter()
                .find_map(|text| self.by_text.get(*text).copied());
        }
        let mut stop: Vec<TokenId> = END_OF_GENERATION
            .iter()
            .filter_map(|text| self.by_text.get(*text).copied())
            .chain(special.eos)
            .chain(special.eot)
            .collect();
        stop.sort_unstable();
        stop.dedup();
        self.special = special;
        self.stop = stop;
    }

    /// The id of a vocabulary string.
    pub fn id(&self, text: &str) -> Option<TokenId> {
        self.by_text.get(text).copied()
    }

    pub fn kind(&self, id: TokenId) -> TokenType {
        self.types[id as usize]
    }
}
