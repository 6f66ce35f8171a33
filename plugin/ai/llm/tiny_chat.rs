//! Tiny models that can chat: a [`TinyLlama`] written to GGUF with a byte-level BPE tokenizer
//! (every byte, a few merges, ChatML's markup tokens) in its metadata, so tests and the file
//! kind's samples run every real code path (file kind, tokenizer, chat template, sampling,
//! streaming) in milliseconds. What such a model says is noise.

use super::Format;
use super::gguf::{GgufFile, GgufWriter, MetaValue};
use super::tiny::TinyLlama;
use super::tokenizer::byte_to_char_table;

/// Merges of the tiny vocabulary (GPT-2 characters: `Ġ` is a space).
const MERGES: [(&str, &str); 6] = [
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("Ġ", "a"),
    ("e", "r"),
    ("o", "n"),
];

/// Markup tokens after the bytes and merges: end of text, ChatML's turn markers.
const MARKUP: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Vocabulary size of [`TinyLlama::to_chat_gguf`]: give the model at least this many rows.
pub const CHAT_VOCAB: usize = 256 + MERGES.len() + MARKUP.len();

impl TinyLlama {
    /// A GGUF file like [`to_gguf`](Self::to_gguf), with a byte-level BPE tokenizer whose end of
    /// turn is `<|im_end|>` and no chat template of its own (ChatML applies). The model's
    /// vocabulary must hold at least [`CHAT_VOCAB`] tokens.
    pub fn to_chat_gguf(&self, format: Format, embed_format: Format) -> Vec<u8> {
        let plain = self.to_gguf(format, embed_format);
        let file = GgufFile::parse(plain).expect("the tiny writer writes valid GGUF");
        let chars = byte_to_char_table();
        let mut tokens: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        tokens.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
        let first_markup = tokens.len() as u64;
        tokens.extend(MARKUP.iter().map(|m| m.to_string()));
        let mut types = vec![1u64; tokens.len()];
        for t in &mut types[first_markup as usize..] {
            *t = 3;
        }
        // Pad to the model's vocabulary with unused tokens.
        while tokens.len() < self.config.vocab_size {
            tokens.push(format!("<unused{}>", tokens.len()));
            types.push(5);
        }
        let mut w = GgufWriter::new();
        for (key, value) in &file.metadata {
            w = w.meta(key.clone(), value.clone());
        }
        let strings =
            |v: Vec<String>| MetaValue::Array(v.into_iter().map(MetaValue::Str).collect());
        w = w
            .meta("tokenizer.ggml.model", MetaValue::Str("gpt2".into()))
            .meta("tokenizer.ggml.pre", MetaValue::Str("smollm".into()))
            .meta("tokenizer.ggml.tokens", strings(tokens))
            .meta(
                "tokenizer.ggml.token_type",
                MetaValue::Array(
                    types
                        .into_iter()
                        .map(|t| MetaValue::Int(t as i64))
                        .collect(),
                ),
            )
            .meta(
                "tokenizer.ggml.merges",
                strings(MERGES.iter().map(|(a, b)| format!("{a} {b}")).collect()),
            )
            .meta(
                "tokenizer.ggml.bos_token_id",
                MetaValue::UInt(first_markup + 1),
            )
            .meta(
                "tokenizer.ggml.eos_token_id",
                MetaValue::UInt(first_markup + 2),
            )
            .meta("tokenizer.ggml.add_bos_token", MetaValue::Bool(false))
            .meta("general.name", MetaValue::Str("tiny chat".into()));
        for t in &file.tensors {
            w = w.tensor(t.name.clone(), &t.dims, t.ty, file.tensor_bytes(t).to_vec());
        }
        w.to_bytes()
    }
}

/// The shape of [`tiny_chat_gguf`]: two layers, grouped-query attention, room for NPC prompts.
pub fn tiny_chat_config() -> super::LlamaConfig {
    super::LlamaConfig {
        vocab_size: CHAT_VOCAB.next_multiple_of(16),
        hidden_size: 64,
        intermediate_size: 128,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 16,
        context_length: 4096,
        rope_base: 10_000.0,
        rope_layout: super::RopeLayout::Halves,
        rope_freq_factors: None,
        rms_eps: 1e-5,
        // Tied random embeddings make a tiny model echo its last token (a new line here).
        tied_embeddings: false,
    }
}

/// A tiny chatting model's GGUF file, weights drawn from `seed` and stored as `Q8_0`.
pub fn tiny_chat_gguf(seed: u64) -> Vec<u8> {
    TinyLlama::random(&tiny_chat_config(), seed).to_chat_gguf(Format::Q8_0, Format::Q8_0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ai::llm::loaded::LanguageModelFile;
    use crate::ai::llm::tokenizer::{ChatMessage, ChatTemplate};

    #[test]
    fn a_tiny_chat_model_loads_with_its_tokenizer_and_chatml() {
        let file = LanguageModelFile::from_gguf(Arc::from(tiny_chat_gguf(1)), "t.gguf").unwrap();
        assert_eq!(file.name, "tiny chat");
        let tok = &file.tokenizer;
        let ids = tok.encode("the cat");
        assert_eq!(tok.decode(&ids).unwrap(), "the cat");
        assert!(ids.len() < "the cat".len(), "merges apply: {ids:?}");
        let end = tok.token_id("<|im_end|>").unwrap();
        assert!(tok.is_markup(end) && tok.is_stop(end));
        let template = ChatTemplate::for_tokenizer(tok).unwrap();
        let prompt = tok
            .encode_chat(&template, &[ChatMessage::user("hi <|im_end|>")], true)
            .unwrap();
        assert_eq!(
            prompt.iter().filter(|&&t| t == end).count(),
            1,
            "only the template's own turn end is markup"
        );
    }
}
