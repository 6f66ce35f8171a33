//! A language model as the model worker holds it: the parsed file (a [`FileKind`], so it loads,
//! hot-reloads and validates like every file a modder edits), the model on its engine, the chat
//! template, and the sessions of recent conversations kept for their prompt prefixes. Tasks
//! from outside the AI module (dialogue) run against it as [`LanguageTask`]s.

use std::fmt;
use std::sync::Arc;

use super::LlmError;
use super::gguf::GgufFile;
use super::model::{Engine, LanguageModel, Session};
use super::tokenizer::{ChatTemplate, Tokenizer};
use super::weights::LlamaWeights;
use crate::ai::backend::ComputeDevice;
use crate::ai::worker::{AiError, AiOutput};
use crate::config::{ConfigError, ConfigErrorKind};
use crate::kinds::{FileKind, at_byte};

/// A language model file, parsed: weights (pointing into its bytes), tokenizer and name.
#[derive(Clone)]
pub struct LanguageModelFile {
    /// The model's own name (`general.name`), or the file's.
    pub name: String,
    /// Weights over the file's bytes (nothing decoded yet).
    pub weights: Arc<LlamaWeights>,
    /// The model's tokenizer.
    pub tokenizer: Arc<Tokenizer>,
    /// Bytes of the file.
    pub len: usize,
    /// A fingerprint of the bytes: equal files are the same model.
    fingerprint: u64,
}

impl fmt::Debug for LanguageModelFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LanguageModelFile")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("layers", &self.weights.config.layers)
            .finish()
    }
}

impl PartialEq for LanguageModelFile {
    fn eq(&self, other: &Self) -> bool {
        (self.len, self.fingerprint) == (other.len, other.fingerprint)
    }
}

impl LanguageModelFile {
    /// Parses a GGUF file: its weights, config and tokenizer must all be usable.
    pub fn from_gguf(bytes: Arc<[u8]>, file: &str) -> Result<Self, LlmError> {
        let fingerprint = fingerprint(&bytes);
        let len = bytes.len();
        let gguf = GgufFile::parse(bytes)?;
        let weights = LlamaWeights::from_gguf(&gguf)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)
            .map_err(|e| LlmError::Unsupported(format!("tokenizer: {e}")))?;
        if tokenizer.vocab_size() > weights.config.vocab_size {
            return Err(LlmError::Config(format!(
                "the tokenizer has {} tokens but the model only {}",
                tokenizer.vocab_size(),
                weights.config.vocab_size
            )));
        }
        let name = gguf
            .get_str("general.name")
            .map(str::to_owned)
            .unwrap_or_else(|| file.rsplit('/').next().unwrap_or(file).to_owned());
        Ok(Self {
            name,
            weights: Arc::new(weights),
            tokenizer: Arc::new(tokenizer),
            len,
            fingerprint,
        })
    }
}

impl LanguageModelFile {
    /// A Hugging Face model: `config.json`, its safetensors shards, `tokenizer.json` and
    /// (optionally) `tokenizer_config.json`, which holds the chat template.
    pub fn from_safetensors(
        name: &str,
        config_json: &str,
        shards: &[Arc<[u8]>],
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&[u8]>,
    ) -> Result<Self, LlmError> {
        let files = shards
            .iter()
            .map(|b| super::safetensors::SafetensorsFile::parse(b.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let weights = LlamaWeights::from_safetensors(config_json, &files)?;
        let tokenizer = Tokenizer::from_hf_json(tokenizer_json, tokenizer_config_json)
            .map_err(|e| LlmError::Unsupported(format!("tokenizer: {e}")))?;
        let mut fingerprint = fingerprint(config_json.as_bytes()) ^ fingerprint(tokenizer_json);
        let mut len = 0;
        for shard in shards {
            fingerprint = fingerprint.rotate_left(7) ^ self::fingerprint(shard);
            len += shard.len();
        }
        Ok(Self {
            name: name.to_owned(),
            weights: Arc::new(weights),
            tokenizer: Arc::new(tokenizer),
            len,
            fingerprint,
        })
    }
}

/// FNV-1a over the length and 64 bytes of every 64 KiB: cheap for a 100 MB file, and any real
/// edit of a model changes it.
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ bytes.len() as u64;
    for block in bytes.chunks(64 << 10) {
        for &b in &block[..block.len().min(64)] {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    hash
}

/// `*.gguf`: a Llama-architecture language model.
#[derive(Clone, Copy, Debug, Default, bevy::reflect::TypePath)]
pub struct LanguageModelKind;

impl FileKind for LanguageModelKind {
    type Value = Option<LanguageModelFile>;
    const NAME: &'static str = "language model";
    const EXTENSIONS: &'static [&'static str] = &["gguf"];

    fn parse(bytes: &[u8], file: &str) -> Result<Self::Value, ConfigError> {
        LanguageModelFile::from_gguf(Arc::from(bytes), file)
            .map(Some)
            .map_err(|e| {
                let offset = match &e {
                    LlmError::Gguf(g) => g.offset().unwrap_or(0),
                    _ => 0,
                };
                at_byte(file, offset, ConfigErrorKind::Invalid(e.to_string()))
            })
    }
}

/// What a loaded language model is, for logs and UIs.
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageModelInfo {
    /// The model's name.
    pub name: String,
    /// The engine it runs on (`quantized-cpu`, `burn-gpu`, ...).
    pub engine: &'static str,
    /// Parameters.
    pub parameters: u64,
    /// Bytes it keeps in memory (in GPU memory on a GPU).
    pub resident_bytes: usize,
}

/// Work that runs on the model worker against its loaded language model.
pub trait LanguageTask: Send + Sync + fmt::Debug + 'static {
    /// Runs; `cancelled` says when to stop (check it between tokens).
    fn run(
        &self,
        model: &mut LoadedLanguageModel,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<AiOutput, AiError>;
}

/// The language model the worker holds.
pub struct LoadedLanguageModel {
    /// The file it came from.
    pub file: LanguageModelFile,
    /// The model on its engine.
    pub model: LanguageModel,
    /// Its chat template (ChatML when the file has none).
    pub template: ChatTemplate,
    /// Sessions of recent conversations.
    pub sessions: SessionCache,
}

impl LoadedLanguageModel {
    /// Prepares `file` on `device`: the quantized engine on a CPU, burn on a GPU.
    pub fn load(file: LanguageModelFile, device: &ComputeDevice) -> Result<Self, LlmError> {
        let engine = match device {
            ComputeDevice::Cpu => Engine::Quantized,
            #[cfg(feature = "wgpu")]
            gpu @ ComputeDevice::Gpu(_) => Engine::Burn(gpu.clone()),
        };
        let template = ChatTemplate::for_tokenizer(&file.tokenizer)
            .map_err(|e| LlmError::Unsupported(format!("chat template: {e}")))?;
        let model = LanguageModel::from_weights(file.weights.clone(), &engine);
        Ok(Self {
            file,
            model,
            template,
            sessions: SessionCache::default(),
        })
    }

    /// What it is.
    pub fn info(&self) -> LanguageModelInfo {
        LanguageModelInfo {
            name: self.file.name.clone(),
            engine: self.model.engine_name(),
            parameters: self.file.weights.parameter_count(),
            resident_bytes: self.model.resident_bytes(),
        }
    }
}

/// Sessions of recent conversations, by a key (the NPC), most recently used kept. A new prompt
/// starts from the stored session sharing the longest prefix with it, so a returning player's
/// line pays only for its own tokens.
#[derive(Debug, Default)]
pub struct SessionCache {
    entries: Vec<(u64, Session, u64)>,
    clock: u64,
    /// Most sessions kept.
    pub capacity: usize,
}

impl SessionCache {
    /// Takes the session stored for `key` or, failing that, the one sharing the most leading
    /// tokens with `prompt`; `None` if nothing shares any.
    pub fn take(&mut self, key: u64, prompt: &[u32]) -> Option<Session> {
        let best = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, s, _))| (i, *k == key, s.shared_prefix(prompt)))
            .filter(|(_, _, shared)| *shared > 0)
            .max_by_key(|(_, own, shared)| (*own, *shared))
            .map(|(i, ..)| i)?;
        Some(self.entries.swap_remove(best).1)
    }

    /// Keeps `session` for `key`, dropping the least recently used beyond the capacity.
    pub fn put(&mut self, key: u64, session: Session) {
        self.clock += 1;
        self.entries.retain(|(k, ..)| *k != key);
        self.entries.push((key, session, self.clock));
        while self.entries.len() > self.capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, (.., used))| *used)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.entries.swap_remove(oldest);
        }
    }

    /// Sessions kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of their key/value caches.
    pub fn kv_bytes(&self) -> usize {
        self.entries.iter().map(|(_, s, _)| s.kv_bytes()).sum()
    }
}

/// Reads a model for the worker, as a job: [`LoadedLanguageModel::load`] with the error as an
/// [`AiError`].
pub fn load_for_worker(
    file: &LanguageModelFile,
    device: &ComputeDevice,
) -> Result<LoadedLanguageModel, AiError> {
    LoadedLanguageModel::load(file.clone(), device).map_err(|e| AiError::Failed(e.to_string()))
}
