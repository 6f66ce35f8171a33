//! Building a [`Tokenizer`] from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`),
//! with the defaults llama.cpp uses where a key is absent.

use rustc_hash::FxHashMap;

use super::bpe::Merges;
use super::vocab::{SpecialTokens, TokenType, Vocab};
use super::{Engine, PreTokenizer, TokenId, Tokenizer, TokenizerError, byte_level, spm};
use crate::ai::llm::gguf::{GgufFile, MetaValue};

impl Tokenizer {
    /// Reads the tokenizer a GGUF file carries. Models `"gpt2"` (byte-level BPE) and
    /// `"llama"` (SentencePiece) are supported; a missing or unknown `tokenizer.ggml.pre`
    /// falls back to GPT-2's pre-tokenizer and says so in [`notes`](Self::notes).
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let model = file
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| TokenizerError::Missing("tokenizer.ggml.model".into()))?;
        let texts: Vec<Box<str>> = strings(file, "tokenizer.ggml.tokens")?
            .ok_or_else(|| TokenizerError::Missing("tokenizer.ggml.tokens".into()))?
            .into_iter()
            .map(Into::into)
            .collect();
        let types = match array(file, "tokenizer.ggml.token_type")? {
            None => Vec::new(),
            Some(values) => values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_u64().and_then(TokenType::from_gguf).ok_or_else(|| {
                        TokenizerError::malformed(
                            "tokenizer.ggml.token_type",
                            format!("entry {i} is {v:?}, not a token type 0-6"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let scores = match array(file, "tokenizer.ggml.scores")? {
            None => Vec::new(),
            Some(values) => values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_f64().map(|s| s as f32).ok_or_else(|| {
                        TokenizerError::malformed(
                            "tokenizer.ggml.scores",
                            format!("entry {i} is not a number"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut vocab = Vocab::new(texts, types, scores)?;
        let id = |key: &str| -> Result<Option<TokenId>, TokenizerError> {
            let value =
                match file.get(key) {
                    None => None,
                    Some(v) => Some(v.as_u64().ok_or_else(|| {
                        TokenizerError::malformed(key, "not a non-negative integer")
                    })?),
                };
            vocab.check_id(key, value)
        };
        let mut special = SpecialTokens {
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            eot: id("tokenizer.ggml.eot_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
        };
        let flag = |key: &str, default: bool| -> Result<bool, TokenizerError> {
            match file.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| TokenizerError::malformed(key, "not a boolean")),
            }
        };
        let mut notes = Vec::new();
        let (engine, add_bos) = match model {
            "gpt2" => {
                let pre_name = file.get_str("tokenizer.ggml.pre");
                let pre = match pre_name.and_then(PreTokenizer::from_gguf_name) {
                    Some(pre) => pre,
                    None => {
                        notes.push(format!(
                            "pre-tokenizer {pre_name:?} is not known here: using GPT-2's; \
                             token ids may differ from the model's own tokenizer"
                        ));
                        PreTokenizer::Gpt2
                    }
                };
                let rules = strings(file, "tokenizer.ggml.merges")?
                    .ok_or_else(|| TokenizerError::Missing("tokenizer.ggml.merges".into()))?;
                let merges = byte_level_merges(&vocab, rules.iter().map(|r| split_rule(r)))?;
                (
                    byte_level_engine(&vocab, pre, merges),
                    flag("tokenizer.ggml.add_bos_token", pre == PreTokenizer::Llama3)?,
                )
            }
            "llama" => {
                // SentencePiece files name these three by convention when the keys are absent.
                let fallback = |id: TokenId| ((id as usize) < vocab.len()).then_some(id);
                special.bos = special.bos.or(fallback(1));
                special.eos = special.eos.or(fallback(2));
                special.unk = special.unk.or(fallback(0));
                (
                    Engine::SentencePiece {
                        byte_ids: spm::byte_tokens(&vocab),
                        add_space_prefix: flag("tokenizer.ggml.add_space_prefix", true)?,
                    },
                    flag("tokenizer.ggml.add_bos_token", true)?,
                )
            }
            other => return Err(TokenizerError::UnsupportedModel(other.into())),
        };
        vocab.set_special(special);
        let template = file.get_str("tokenizer.chat_template").map(str::to_owned);
        Ok(Self::build(vocab, engine, add_bos, template, notes))
    }
}

/// A string-array value, checked.
fn strings<'f>(file: &'f GgufFile, key: &str) -> Result<Option<Vec<&'f str>>, TokenizerError> {
    let Some(values) = array(file, key)? else {
        return Ok(None);
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .ok_or_else(|| TokenizerError::malformed(key, format!("entry {i} is not a string")))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn array<'f>(file: &'f GgufFile, key: &str) -> Result<Option<&'f [MetaValue]>, TokenizerError> {
    match file.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_array()
            .map(Some)
            .ok_or_else(|| TokenizerError::malformed(key, "not an array")),
    }
}

/// `"left right"` split at the first space after the first character (llama.cpp's reading,
/// which lets a rule's left side start with a space).
pub(crate) fn split_rule(rule: &str) -> Option<(&str, &str)> {
    let first = rule.chars().next()?.len_utf8();
    let at = first + rule[first..].find(' ')?;
    Some((&rule[..at], &rule[at + 1..]))
}

/// Ranks the merge rules by position. Every rule must join two tokens into a third; rules
/// whose result is markup are refused, so plain text can never merge into a control token.
pub(crate) fn byte_level_merges<'r>(
    vocab: &Vocab,
    rules: impl ExactSizeIterator<Item = Option<(&'r str, &'r str)>>,
) -> Result<Merges, TokenizerError> {
    let mut merges = Merges::with_capacity(rules.len());
    let mut joined = String::new();
    for (index, rule) in rules.enumerate() {
        let fail = |reason: &str, rule: String| TokenizerError::Merge {
            index,
            rule,
            reason: reason.into(),
        };
        let Some((left, right)) = rule else {
            return Err(fail("not two tokens separated by a space", String::new()));
        };
        let rule_text = || format!("{left} {right}");
        let (Some(l), Some(r)) = (vocab.id(left), vocab.id(right)) else {
            return Err(fail("names a token the vocabulary lacks", rule_text()));
        };
        joined.clear();
        joined.push_str(left);
        joined.push_str(right);
        let Some(m) = vocab.id(&joined) else {
            return Err(fail("joins into a token the vocabulary lacks", rule_text()));
        };
        if vocab.kind(m).is_markup() {
            return Err(fail("joins into a control token", rule_text()));
        }
        let rank = u32::try_from(index).map_err(|_| fail("too many rules", rule_text()))?;
        merges.insert(l, r, rank, m);
    }
    Ok(merges)
}

/// The byte-level engine: byte tokens from GPT-2's alphabet, and whole-word lookups for
/// pre-tokenizers that skip merging known words.
pub(crate) fn byte_level_engine(vocab: &Vocab, pre: PreTokenizer, merges: Merges) -> Engine {
    let table = byte_level::byte_to_char_table();
    let mut buf = [0u8; 4];
    let byte_ids = std::array::from_fn(|b| vocab.id(table[b].encode_utf8(&mut buf)));
    let whole_words = pre.ignores_merges().then(|| {
        let mut words = FxHashMap::default();
        let mut bytes = Vec::new();
        for (id, text) in vocab.texts.iter().enumerate() {
            if vocab.types[id] == TokenType::Normal {
                bytes.clear();
                byte_level::decode_piece(text, &mut bytes);
                words.insert(bytes.as_slice().into(), id as TokenId);
            }
        }
        words
    });
    Engine::ByteLevel {
        pre,
        merges,
        byte_ids,
        whole_words,
    }
}
