//! Tokenizers for the language models: text to token ids and back, exactly as llama.cpp does it
//! for the same model file, plus the model's chat template.
//!
//! | piece | what it is |
//! |---|---|
//! | [`Tokenizer`] | byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen 2) and SentencePiece BPE (Llama 2, TinyLlama), from GGUF metadata or a `tokenizer.json` |
//! | [`Segment`] | text to encode, marked as untrusted text or as trusted markup |
//! | [`StreamDecoder`] | ids to text as they are generated, holding back split UTF-8 |
//! | [`ChatTemplate`] | the model's Jinja chat template (ChatML when it has none), rendered so message text stays untrusted |
//!
//! # Trust
//! Control tokens (`<|im_start|>`, `<|im_end|>`, `<s>`) end turns and switch speakers, so a
//! player who could type them could speak for the NPC or for the system. [`Tokenizer::encode`]
//! therefore always encodes its input as plain text: `<|im_end|>` typed by a player becomes the
//! ordinary tokens `<`, `|`, `im`, `_`, `end`... Control tokens come only from
//! [`Segment::Markup`], which the chat template produces for its own markup and nothing else;
//! message contents, names and facts always travel as [`Segment::Text`].
//!
//! ```no_run
//! use aigc_world::ai::llm::gguf::GgufFile;
//! use aigc_world::ai::llm::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = GgufFile::parse(std::fs::read("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf")?)?;
//! let tokenizer = Tokenizer::from_gguf(&file)?;
//! let template = ChatTemplate::for_tokenizer(&tokenizer)?;
//! let prompt = tokenizer.encode_chat(
//!     &template,
//!     &[ChatMessage::system("You are Mira, the innkeeper."), ChatMessage::user("Any rooms?")],
//!     true,
//! )?;
//! // ... generate, feeding each new id to a stream decoder, until a stop token:
//! let mut reply = tokenizer.stream_decoder();
//! for id in [19556u32, 17] {
//!     if tokenizer.is_stop(id) {
//!         break;
//!     }
//!     print!("{}", reply.push(id)?);
//! }
//! # let _ = prompt;
//! # Ok(())
//! # }
//! ```

mod bpe;
mod byte_level;
mod chat;
mod decode;
mod error;
mod gguf_source;
mod hf_json;
mod pretokenize;
mod spm;
mod vocab;

use rustc_hash::FxHashMap;

pub(crate) use byte_level::byte_to_char_table;
pub use chat::{ChatMessage, ChatTemplate, RenderedChat, Role};
pub use decode::StreamDecoder;
pub use error::{ChatTemplateError, TokenizerError};
pub use pretokenize::PreTokenizer;
pub use vocab::{SpecialTokens, TokenType};

use bpe::{Merges, Scratch};
use vocab::Vocab;

/// A token id: an index into the vocabulary.
pub type TokenId = u32;

/// A piece of text to encode, and whether its special-token strings count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Untrusted text (a player's line, an NPC's name, a fact): always encoded as plain text,
    /// so special-token strings in it are just characters.
    Text(&'a str),
    /// Trusted markup written by the program or the chat template: special-token strings in it
    /// become their control tokens. Never put text from outside the program here.
    Markup(&'a str),
}

/// The tokenizer algorithm of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerModel {
    /// GPT-2-style byte-level BPE with ranked merges, after the given pre-tokenizer.
    ByteLevelBpe(PreTokenizer),
    /// SentencePiece-style BPE over characters by token score, with byte fallback.
    SentencePiece,
    /// BPE with ranked merges over characters (`▁` for spaces) and byte fallback: Llama-family
    /// `tokenizer.json` files.
    CharBpe,
}

/// How text becomes symbols before merging.
#[derive(Clone, Debug)]
enum Engine {
    ByteLevel {
        pre: PreTokenizer,
        merges: Merges,
        /// The token of each byte's GPT-2 character.
        byte_ids: [Option<TokenId>; 256],
        /// Words that are already tokens skip merging (Llama 3), by their bytes.
        whole_words: Option<FxHashMap<Box<[u8]>, TokenId>>,
    },
    SentencePiece {
        byte_ids: [Option<TokenId>; 256],
        add_space_prefix: bool,
    },
    CharBpe {
        merges: Merges,
        byte_ids: [Option<TokenId>; 256],
        add_space_prefix: bool,
    },
}

/// A model's tokenizer: vocabulary, merge rules, special tokens and chat template.
/// Plain data, `Send + Sync`; build it once per model and share it.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    engine: Engine,
    /// The bytes each token decodes to, back to back; token `i` is
    /// `pieces[piece_ends[i - 1]..piece_ends[i]]`.
    pieces: Vec<u8>,
    piece_ends: Vec<u32>,
    /// Markup tokens, longest text first: the order trusted markup is searched in.
    markup: Vec<TokenId>,
    add_bos: bool,
    chat_template: Option<String>,
    notes: Vec<String>,
}

/// Part of markup after its special tokens are found.
enum Fragment<'a> {
    Text(&'a str),
    Token(TokenId),
}

impl Tokenizer {
    fn build(
        vocab: Vocab,
        engine: Engine,
        add_bos: bool,
        chat_template: Option<String>,
        notes: Vec<String>,
    ) -> Self {
        let mut pieces = Vec::new();
        let mut piece_ends = Vec::with_capacity(vocab.len());
        for (text, kind) in vocab.texts.iter().zip(&vocab.types) {
            let byte = (*kind == TokenType::Byte)
                .then(|| parse_byte_token(text))
                .flatten();
            match (kind, byte, &engine) {
                (_, Some(b), _) => pieces.push(b),
                (TokenType::Normal, _, Engine::ByteLevel { .. }) => {
                    byte_level::decode_piece(text, &mut pieces)
                }
                (TokenType::Normal, _, _) => {
                    pieces.extend_from_slice(text.replace(spm::SPACE, " ").as_bytes())
                }
                _ => pieces.extend_from_slice(text.as_bytes()),
            }
            // Vocabularies are bounded (MAX_VOCAB x MAX_TOKEN_BYTES < 2^37), so in practice
            // far below u32; saturate rather than wrap if a file is built to overflow it.
            piece_ends.push(u32::try_from(pieces.len()).unwrap_or(u32::MAX));
        }
        let mut markup: Vec<TokenId> = (0..vocab.len() as TokenId)
            .filter(|&id| vocab.kind(id).is_markup() && !vocab.texts[id as usize].is_empty())
            .collect();
        markup.sort_by_key(|&id| (std::cmp::Reverse(vocab.texts[id as usize].len()), id));
        Self {
            vocab,
            engine,
            pieces,
            piece_ends,
            markup,
            add_bos,
            chat_template,
            notes,
        }
    }

    /// Encodes untrusted text: special-token strings in it are encoded as plain text. No BOS
    /// is added.
    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        self.encode_segments(&[Segment::Text(text)])
    }

    /// Encodes a sequence of segments as one text: special tokens are recognised only inside
    /// [`Segment::Markup`]; the text between special tokens is encoded as one run whichever
    /// segments it came from, so the ids equal llama.cpp's for the concatenated string when the
    /// untrusted parts hold no special-token strings. No BOS is added.
    pub fn encode_segments(&self, segments: &[Segment<'_>]) -> Vec<TokenId> {
        let mut out = Vec::new();
        let mut run = String::new();
        let mut scratch = Scratch::default();
        // SentencePiece prefixes a space to text at the start and after each special token.
        let mut after_special = true;
        let mut fragments = Vec::new();
        for segment in segments {
            match *segment {
                Segment::Text(text) => run.push_str(text),
                Segment::Markup(markup) => {
                    fragments.clear();
                    self.split_markup(markup, &mut fragments);
                    for fragment in &fragments {
                        match *fragment {
                            Fragment::Text(text) => run.push_str(text),
                            Fragment::Token(id) => {
                                if !run.is_empty() {
                                    self.encode_run(&run, after_special, &mut scratch, &mut out);
                                    run.clear();
                                }
                                out.push(id);
                                after_special = true;
                            }
                        }
                    }
                }
            }
        }
        if !run.is_empty() {
            self.encode_run(&run, after_special, &mut scratch, &mut out);
        }
        out
    }

    /// Splits trusted markup at special-token strings, longest tokens first (llama.cpp's
    /// `tokenizer_st_partition`).
    fn split_markup<'a>(&self, markup: &'a str, out: &mut Vec<Fragment<'a>>) {
        out.push(Fragment::Text(markup));
        let mut next = Vec::new();
        for &id in &self.markup {
            let token = &*self.vocab.texts[id as usize];
            if !markup.contains(token) {
                continue;
            }
            next.clear();
            for fragment in out.drain(..) {
                let Fragment::Text(mut rest) = fragment else {
                    next.push(fragment);
                    continue;
                };
                while let Some(at) = rest.find(token) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(id));
                    rest = &rest[at + token.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            std::mem::swap(out, &mut next);
        }
    }

    /// Encodes text with no special tokens in it.
    fn encode_run(
        &self,
        text: &str,
        after_special: bool,
        scratch: &mut Scratch,
        out: &mut Vec<TokenId>,
    ) {
        let unk = self.vocab.special.unk;
        match &self.engine {
            Engine::ByteLevel {
                pre,
                merges,
                byte_ids,
                whole_words,
            } => {
                let mut words = Vec::new();
                pre.split(text, &mut words);
                let mut ids = Vec::new();
                for word in words {
                    let bytes = &text.as_bytes()[word];
                    if let Some(&id) = whole_words.as_ref().and_then(|w| w.get(bytes)) {
                        out.push(id);
                        continue;
                    }
                    ids.clear();
                    ids.extend(bytes.iter().filter_map(|&b| byte_ids[b as usize].or(unk)));
                    merges.apply(&ids, scratch, out);
                }
            }
            Engine::SentencePiece {
                byte_ids,
                add_space_prefix,
            } => {
                let escaped = escape_spaces(text, *add_space_prefix && after_special);
                spm::encode(&self.vocab, byte_ids, &escaped, out);
            }
            Engine::CharBpe {
                merges,
                byte_ids,
                add_space_prefix,
            } => {
                let escaped = escape_spaces(text, *add_space_prefix && after_special);
                let mut ids = Vec::with_capacity(escaped.len());
                let mut buf = [0u8; 4];
                for c in escaped.chars() {
                    match self.vocab.id(c.encode_utf8(&mut buf)) {
                        Some(id) if !self.vocab.kind(id).is_markup() => ids.push(id),
                        _ => ids.extend(
                            c.encode_utf8(&mut buf)
                                .bytes()
                                .filter_map(|b| byte_ids[b as usize].or(unk)),
                        ),
                    }
                }
                merges.apply(&ids, scratch, out);
            }
        }
    }

    /// Decodes ids to text. Control, unknown and unused tokens are left out; bytes that do not
    /// form valid UTF-8 become U+FFFD. A SentencePiece model's leading space (the one it adds
    /// when encoding) is removed from the first token.
    pub fn decode(&self, ids: &[TokenId]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            bytes.extend_from_slice(self.visible_piece(id, i == 0)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A decoder that turns ids into text as they arrive.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder::new(self)
    }

    /// The bytes `id` adds to decoded text (empty for tokens decoding leaves out).
    fn visible_piece(&self, id: TokenId, first: bool) -> Result<&[u8], TokenizerError> {
        let kind = self.token_type(id).ok_or(TokenizerError::UnknownId {
            id,
            size: self.vocab.len(),
        })?;
        if matches!(
            kind,
            TokenType::Control | TokenType::Unknown | TokenType::Unused
        ) {
            return Ok(&[]);
        }
        let piece = self.token_bytes(id).unwrap_or_default();
        let strip = first
            && matches!(
                self.engine,
                Engine::SentencePiece {
                    add_space_prefix: true,
                    ..
                } | Engine::CharBpe {
                    add_space_prefix: true,
                    ..
                }
            );
        Ok(match piece {
            [b' ', rest @ ..] if strip => rest,
            _ => piece,
        })
    }

    /// The bytes a token stands for: its text for markup tokens, its raw bytes otherwise.
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let i = id as usize;
        let end = *self.piece_ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.piece_ends[i - 1] as usize,
        };
        self.pieces.get(start..end)
    }

    /// The token's string as the vocabulary writes it (`Ġhello`, `▁hello`, `<|im_end|>`).
    pub fn token_text(&self, id: TokenId) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(|t| &**t)
    }

    /// The id of a vocabulary string, written as the vocabulary writes it.
    pub fn token_id(&self, text: &str) -> Option<TokenId> {
        self.vocab.id(text)
    }

    /// What kind of token `id` is, or `None` past the vocabulary.
    pub fn token_type(&self, id: TokenId) -> Option<TokenType> {
        self.vocab.types.get(id as usize).copied()
    }

    /// Whether `id` is markup (control, user-defined, unknown) or unused: tokens a reply's
    /// text should never contain. Ids past the vocabulary count as markup.
    pub fn is_markup(&self, id: TokenId) -> bool {
        self.token_type(id)
            .is_none_or(|k| k.is_markup() || k == TokenType::Unused)
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The special ids.
    pub fn special(&self) -> SpecialTokens {
        self.vocab.special
    }

    /// Ids that end generation (end of sequence, end of turn, and the other end markers the
    /// vocabulary has), sorted.
    pub fn stop_tokens(&self) -> &[TokenId] {
        &self.vocab.stop
    }

    /// Whether generation should stop at `id`.
    pub fn is_stop(&self, id: TokenId) -> bool {
        self.vocab.stop.binary_search(&id).is_ok()
    }

    /// Whether the model expects a BOS token at the start of a prompt.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The chat template source the model ships, if any.
    pub fn chat_template_source(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// The tokenizer algorithm.
    pub fn model(&self) -> TokenizerModel {
        match &self.engine {
            Engine::ByteLevel { pre, .. } => TokenizerModel::ByteLevelBpe(*pre),
            Engine::SentencePiece { .. } => TokenizerModel::SentencePiece,
            Engine::CharBpe { .. } => TokenizerModel::CharBpe,
        }
    }

    /// Things worth a warning found while reading the tokenizer (an unknown pre-tokenizer and
    /// the fallback chosen for it, merge rules dropped).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// `text` with spaces written as `▁`, and one in front when `prefix`.
fn escape_spaces(text: &str, prefix: bool) -> String {
    let mut escaped = String::with_capacity(text.len() + 3);
    if prefix {
        escaped.push(spm::SPACE);
    }
    for c in text.chars() {
        escaped.push(if c == ' ' { spm::SPACE } else { c });
    }
    escaped
}

/// The byte of a `<0xXX>` token.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2).then(|| u8::from_str_radix(hex, 16).ok())?
}

#[cfg(test)]
mod tests;
