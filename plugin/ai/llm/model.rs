//! [`LanguageModel`]: a loaded model on one of two engines behind one non-generic API that the
//! model worker owns (it is `Send`; one thread runs it), and [`Session`]: one conversation's
//! tokens and key/value cache.
//!
//! Sessions are plain values: clone one after prefilling a fixed prompt prefix and every clone
//! continues from there without recomputing it; [`Session::truncate`] rolls one back.

use std::sync::Arc;

use super::LlmError;
use super::config::LlamaConfig;
use super::cpu::{CHUNK, CpuCache, CpuEngine};
use super::gguf::GgufFile;
use super::safetensors::SafetensorsFile;
use super::sample::{LogitMask, Sampler};
use super::weights::LlamaWeights;
use crate::ai::backend::ComputeDevice;
use crate::ai::backend::llm::{BurnEngine, BurnSessionCache};

/// Where a model runs.
#[derive(Clone, Debug)]
pub enum Engine {
    /// The quantized CPU engine: weights stay in their file format, one thread, SIMD kernels.
    /// The fast choice on a CPU.
    Quantized,
    /// burn, with weights decoded to `f32`: on a GPU (wgpu) or burn's CPU backend.
    Burn(ComputeDevice),
}

/// A model's files, already read into memory (by Bevy's asset system or a tool).
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// A GGUF file (weights, config and tokenizer in one).
    Gguf(Arc<[u8]>),
    /// A Hugging Face model: `config.json` and its safetensors files (one or several shards).
    Safetensors {
        /// Contents of `config.json`.
        config_json: String,
        /// Bytes of each `*.safetensors` file.
        shards: Vec<Arc<[u8]>>,
    },
}

impl ModelSource {
    /// Parses the files into weights (no weight is copied or decoded yet).
    pub fn weights(&self) -> Result<LlamaWeights, LlmError> {
        match self {
            ModelSource::Gguf(bytes) => LlamaWeights::from_gguf(&GgufFile::parse(bytes.clone())?),
            ModelSource::Safetensors {
                config_json,
                shards,
            } => {
                let files = shards
                    .iter()
                    .map(|b| SafetensorsFile::parse(b.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                LlamaWeights::from_safetensors(config_json, &files)
            }
        }
    }
}

/// A loaded model on its engine.
pub struct LanguageModel {
    weights: Arc<LlamaWeights>,
    inner: Inner,
    /// The latest logits (the burn engine reads them back here).
    logits: Vec<f32>,
}

enum Inner {
    Quantized(Box<CpuEngine>),
    Burn(BurnEngine),
}

/// One conversation: its tokens and their keys and values.
#[derive(Clone, Debug)]
pub struct Session {
    tokens: Vec<u32>,
    cache: SessionCache,
}

#[derive(Clone, Debug)]
pub(crate) enum SessionCache {
    Quantized(CpuCache),
    Burn(BurnSessionCache),
}

impl Session {
    /// Tokens processed so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether nothing has been processed.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Most positions it can hold.
    pub fn capacity(&self) -> usize {
        match &self.cache {
            SessionCache::Quantized(c) => c.capacity(),
            SessionCache::Burn(c) => c.capacity(),
        }
    }

    /// Bytes of its key/value cache (halves on the quantized engine, `f32` on burn).
    pub fn kv_bytes(&self) -> usize {
        match &self.cache {
            SessionCache::Quantized(c) => c.bytes(),
            SessionCache::Burn(c) => c.bytes(),
        }
    }

    /// How many leading tokens of `prompt` this session already holds: truncate to that and
    /// prefill the rest to reuse the cache for a prompt that shares a prefix with it.
    pub fn shared_prefix(&self, prompt: &[u32]) -> usize {
        self.tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
    }

    /// Keeps only the first `len` positions (a shorter session continues from there).
    pub fn truncate(&mut self, len: usize) {
        self.tokens.truncate(len);
        match &mut self.cache {
            SessionCache::Quantized(c) => c.truncate(len),
            SessionCache::Burn(c) => c.truncate(len),
        }
    }
}

/// Bounds of one [`LanguageModel::generate`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateLimits {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Tokens that end the reply (end of turn, end of text); they are not part of it.
    pub stop: Vec<u32>,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model chose this stop token.
    Stop(u32),
    /// `max_tokens` were generated.
    MaxTokens,
    /// The token callback asked to stop.
    Callback,
    /// The session's context filled up.
    ContextFull,
    /// The mask left no token to choose.
    NoToken,
}

/// A finished reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// The generated tokens (without the stop token).
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub stop: StopReason,
}

impl LanguageModel {
    /// Parses `source` and prepares `engine` (the burn engine decodes the weights to tensors).
    pub fn load(source: ModelSource, engine: Engine) -> Result<Self, LlmError> {
        Ok(Self::from_weights(Arc::new(source.weights()?), &engine))
    }

    /// A model on `engine` over already parsed weights (several models may share them).
    pub fn from_weights(weights: Arc<LlamaWeights>, engine: &Engine) -> Self {
        let inner = match engine {
            Engine::Quantized => Inner::Quantized(Box::new(CpuEngine::new(weights.clone()))),
            Engine::Burn(device) => Inner::Burn(BurnEngine::new(&weights, device)),
        };
        Self {
            logits: Vec::new(),
            weights,
            inner,
        }
    }

    /// The model's shape.
    pub fn config(&self) -> &LlamaConfig {
        &self.weights.config
    }

    /// The weights.
    pub fn weights(&self) -> &Arc<LlamaWeights> {
        &self.weights
    }

    /// `"quantized-cpu"`, `"burn-cpu"` or `"burn-gpu"`.
    pub fn engine_name(&self) -> &'static str {
        match &self.inner {
            Inner::Quantized(_) => "quantized-cpu",
            Inner::Burn(b) => b.name(),
        }
    }

    /// Bytes the model keeps in memory: the file for the quantized engine, the decoded `f32`
    /// tensors for burn (in GPU memory on a GPU).
    pub fn resident_bytes(&self) -> usize {
        match &self.inner {
            Inner::Quantized(_) => self.weights.resident_bytes(),
            Inner::Burn(b) => b.weight_bytes(),
        }
    }

    /// An empty session with room for `capacity` positions (at most the model's context).
    pub fn new_session(&self, capacity: usize) -> Session {
        let capacity = capacity.min(self.config().context_length);
        let cache = match &self.inner {
            Inner::Quantized(e) => SessionCache::Quantized(e.new_cache(capacity)),
            Inner::Burn(b) => SessionCache::Burn(b.new_cache(capacity)),
        };
        Session {
            tokens: Vec::with_capacity(capacity),
            cache,
        }
    }

    /// Runs `tokens` after what `session` holds and returns the logits for the token that
    /// follows them. `cancelled` is asked between chunks of the prompt; when it says yes, or on
    /// any error, the session is left as it was.
    pub fn prefill(
        &mut self,
        session: &mut Session,
        tokens: &[u32],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<&[f32], LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::EmptyInput);
        }
        let before = session.len();
        let result = self.run_chunks(session, tokens, cancelled);
        if result.is_err() {
            session.truncate(before);
        }
        result?;
        Ok(self.latest_logits())
    }

    /// Runs one token after what `session` holds; returns the logits for the next.
    pub fn step(&mut self, session: &mut Session, token: u32) -> Result<&[f32], LlmError> {
        self.prefill(session, &[token], &|| false)
    }

    /// Generates a reply after `prompt`: samples a token, hands it to `on_token` (which may
    /// return `false` to stop), feeds it back, and repeats until a stop token, `max_tokens`,
    /// a full context or an empty mask. `cancelled` is asked before each token; cancelling is
    /// an error ([`LlmError::Cancelled`]) and leaves the session with what was fed so far. On
    /// success the session holds the prompt and every returned token.
    pub fn generate(
        &mut self,
        session: &mut Session,
        prompt: &[u32],
        sampler: &mut Sampler,
        mask: &mut dyn LogitMask,
        limits: &GenerateLimits,
        cancelled: &dyn Fn() -> bool,
        on_token: &mut dyn FnMut(u32) -> bool,
    ) -> Result<Generation, LlmError> {
        self.prefill(session, prompt, cancelled)?;
        let mut tokens = Vec::new();
        let stop = loop {
            if cancelled() {
                return Err(LlmError::Cancelled);
            }
            let logits = self.latest_logits();
            let Some(token) = sampler.sample(logits, session.tokens(), mask) else {
                break StopReason::NoToken;
            };
            if limits.stop.contains(&token) {
                break StopReason::Stop(token);
            }
            if session.len() >= session.capacity() {
                break StopReason::ContextFull;
            }
            self.step(session, token)?;
            tokens.push(token);
            if !on_token(token) {
                break StopReason::Callback;
            }
            if tokens.len() >= limits.max_tokens {
                break StopReason::MaxTokens;
            }
        };
        Ok(Generation { tokens, stop })
    }

    fn latest_logits(&self) -> &[f32] {
        match &self.inner {
            Inner::Quantized(e) => e.logits(),
            Inner::Burn(_) => &self.logits,
        }
    }

    fn run_chunks(
        &mut self,
        session: &mut Session,
        tokens: &[u32],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), LlmError> {
        let chunks = tokens.chunks(CHUNK);
        let count = chunks.len();
        for (i, chunk) in chunks.enumerate() {
            if i > 0 && cancelled() {
                return Err(LlmError::Cancelled);
            }
            let last = i + 1 == count;
            match (&mut self.inner, &mut session.cache) {
                (Inner::Quantized(e), SessionCache::Quantized(cache)) => {
                    e.forward(cache, chunk, last)?;
                }
                (Inner::Burn(b), SessionCache::Burn(cache)) => {
                    if let Some(logits) = b.forward(cache, chunk, last)? {
                        self.logits = logits;
                    }
                }
                _ => return Err(LlmError::SessionMismatch),
            }
            session.tokens.extend_from_slice(chunk);
        }
        Ok(())
    }
}
