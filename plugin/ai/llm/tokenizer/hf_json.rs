//! Building a [`Tokenizer`] from a Hugging Face `tokenizer.json` (BPE models: byte-level ones
//! such as GPT-2, SmolLM2, Llama 3 and Qwen 2, and Llama-style ones with `▁` and byte
//! fallback), with `tokenizer_config.json` for the chat template and the special tokens.

use serde_json::Value;

use super::gguf_source::{byte_level_engine, byte_level_merges, split_rule};
use super::vocab::{SpecialTokens, TokenType, Vocab};
use super::{Engine, PreTokenizer, TokenId, Tokenizer, TokenizerError, spm};

/// Larger JSON files are refused (a 256k-token `tokenizer.json` is about 20 MB).
const MAX_JSON_BYTES: usize = 64 << 20;

impl Tokenizer {
    /// Reads a `tokenizer.json`, and `tokenizer_config.json` when given (chat template,
    /// `bos_token`, `eos_token`, `add_bos_token`).
    pub fn from_hf_json(tokenizer: &[u8], config: Option<&[u8]>) -> Result<Self, TokenizerError> {
        let json = parse("tokenizer.json", tokenizer)?;
        let config = config
            .map(|c| parse("tokenizer_config.json", c))
            .transpose()?
            .unwrap_or(Value::Null);
        let model = &json["model"];
        match model["type"].as_str() {
            Some("BPE") => {}
            Some(other) => return Err(TokenizerError::UnsupportedModel(other.into())),
            None => return Err(TokenizerError::Missing("model.type".into())),
        }
        let byte_level = mentions_type(&json["pre_tokenizer"], "ByteLevel")
            || mentions_type(&json["decoder"], "ByteLevel");
        let vocab_map = model["vocab"]
            .as_object()
            .ok_or_else(|| TokenizerError::Missing("model.vocab".into()))?;
        let added = json["added_tokens"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // Ids from the vocabulary and the added tokens; they must cover 0..n with no gaps.
        let mut entries: Vec<(u64, &str, TokenType)> = Vec::new();
        for (text, id) in vocab_map {
            let id = id.as_u64().ok_or_else(|| {
                TokenizerError::malformed(format!("model.vocab.{text}"), "not a token id")
            })?;
            entries.push((id, text, TokenType::Normal));
        }
        for (i, token) in added.iter().enumerate() {
            let field = || format!("added_tokens[{i}]");
            let id = token["id"]
                .as_u64()
                .ok_or_else(|| TokenizerError::malformed(field(), "no id"))?;
            let text = token["content"]
                .as_str()
                .ok_or_else(|| TokenizerError::malformed(field(), "no content"))?;
            let kind = if token["special"].as_bool().unwrap_or(false) {
                TokenType::Control
            } else {
                TokenType::UserDefined
            };
            entries.push((id, text, kind));
        }
        let n = entries.iter().map(|e| e.0).max().map_or(0, |m| m + 1);
        if n > super::vocab::MAX_VOCAB as u64 {
            return Err(TokenizerError::malformed(
                "model.vocab",
                format!("token id {} is too large", n - 1),
            ));
        }
        let mut texts: Vec<Option<Box<str>>> = vec![None; n as usize];
        let mut types = vec![TokenType::Normal; n as usize];
        for (id, text, kind) in entries {
            // An added token repeating a vocabulary entry keeps the id and takes the kind.
            texts[id as usize] = Some(text.into());
            if kind != TokenType::Normal {
                types[id as usize] = kind;
            }
        }
        let texts: Vec<Box<str>> = texts
            .into_iter()
            .enumerate()
            .map(|(id, t)| {
                t.ok_or_else(|| {
                    TokenizerError::malformed("model.vocab", format!("no token has id {id}"))
                })
            })
            .collect::<Result<_, _>>()?;
        if !byte_level {
            for (text, kind) in texts.iter().zip(types.iter_mut()) {
                if super::parse_byte_token(text).is_some() && *kind == TokenType::Normal {
                    *kind = TokenType::Byte;
                }
            }
        }
        let unk_text = model["unk_token"].as_str();
        if let Some(unk) = unk_text.and_then(|u| texts.iter().position(|t| &**t == u)) {
            types[unk] = TokenType::Unknown;
        }
        let mut vocab = Vocab::new(texts, types, Vec::new())?;

        let rules = model["merges"]
            .as_array()
            .ok_or_else(|| TokenizerError::Missing("model.merges".into()))?;
        let rules = rules.iter().map(|r| match r {
            Value::String(s) => split_rule(s),
            Value::Array(pair) => match pair.as_slice() {
                [Value::String(a), Value::String(b)] => Some((a.as_str(), b.as_str())),
                _ => None,
            },
            _ => None,
        });
        let merges = byte_level_merges(&vocab, rules)?;

        let mut notes = Vec::new();
        let engine = if byte_level {
            let pre = byte_level_pre(&json["pre_tokenizer"]).unwrap_or_else(|| {
                notes.push(
                    "pre-tokenizer not recognised: using GPT-2's; token ids may differ from the \
                     model's own tokenizer"
                        .to_owned(),
                );
                PreTokenizer::Gpt2
            });
            byte_level_engine(&vocab, pre, merges)
        } else {
            let add_space_prefix = json["normalizer"].to_string().contains("Prepend")
                || json["pre_tokenizer"]["prepend_scheme"]
                    .as_str()
                    .is_some_and(|s| s != "never");
            Engine::CharBpe {
                merges,
                byte_ids: spm::byte_tokens(&vocab),
                add_space_prefix,
            }
        };

        let token = |key: &str| -> Option<TokenId> {
            let v = &config[key];
            let text = v.as_str().or_else(|| v["content"].as_str())?;
            vocab.id(text)
        };
        // A post-processor that puts a special token first is how tokenizer.json asks for BOS.
        let template_bos = json["post_processor"]["single"][0]["SpecialToken"]["id"]
            .as_str()
            .and_then(|t| vocab.id(t));
        let special = SpecialTokens {
            bos: token("bos_token").or(template_bos),
            eos: token("eos_token"),
            eot: None,
            unk: unk_text.and_then(|u| vocab.id(u)).or(token("unk_token")),
            pad: token("pad_token"),
        };
        let add_bos = config["add_bos_token"]
            .as_bool()
            .unwrap_or(template_bos.is_some() || !byte_level);
        vocab.set_special(special);
        let template = config["chat_template"].as_str().map(str::to_owned);
        Ok(Self::build(vocab, engine, add_bos, template, notes))
    }
}

fn parse(file: &'static str, bytes: &[u8]) -> Result<Value, TokenizerError> {
    if bytes.len() > MAX_JSON_BYTES {
        return Err(TokenizerError::malformed(
            file,
            format!("{} bytes, more than {MAX_JSON_BYTES}", bytes.len()),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| TokenizerError::Json {
        file,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Whether `value` or one of its nested parts has `"type": kind`.
fn mentions_type(value: &Value, kind: &str) -> bool {
    match value {
        Value::Object(map) => {
            map.get("type").and_then(Value::as_str) == Some(kind)
                || map.values().any(|v| mentions_type(v, kind))
        }
        Value::Array(items) => items.iter().any(|v| mentions_type(v, kind)),
        _ => false,
    }
}

/// The pre-tokenizer a byte-level `tokenizer.json` describes, when it is one of the known ones.
fn byte_level_pre(pre: &Value) -> Option<PreTokenizer> {
    let steps: Vec<&Value> = match pre["type"].as_str()? {
        "Sequence" => pre["pretokenizers"].as_array()?.iter().collect(),
        _ => vec![pre],
    };
    let kinds: Vec<&str> = steps.iter().filter_map(|s| s["type"].as_str()).collect();
    let regex = |s: &Value| {
        s["pattern"]["Regex"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    match kinds.as_slice() {
        ["ByteLevel"] if steps[0]["use_regex"].as_bool() != Some(false) => Some(PreTokenizer::Gpt2),
        ["Digits", "ByteLevel"] if steps[0]["individual_digits"].as_bool() == Some(true) => {
            Some(PreTokenizer::DigitsThenGpt2)
        }
        ["Split", "ByteLevel"] => {
            let r = regex(steps[0]);
            if r.contains(r"\p{N}{1,3}") && r.contains(r"[^\r\n\p{L}\p{N}]?\p{L}+") {
                Some(PreTokenizer::Llama3)
            } else if r.contains(r"\p{N}|") && r.contains(r"[^\r\n\p{L}\p{N}]?\p{L}+") {
                Some(PreTokenizer::Qwen2)
            } else {
                None
            }
        }
        _ => None,
    }
}
