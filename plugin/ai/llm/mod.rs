//! Language models for NPC dialogue: Llama-architecture inference written here, on a quantized
//! CPU engine or on burn (GPU or CPU), with the files such models ship in.
//!
//! | piece | what it is |
//! |---|---|
//! | [`gguf`] | GGUF files: metadata and tensor descriptors over the file's bytes, no copies |
//! | [`tokenizer`] | text to token ids and back as llama.cpp does it, chat templates, untrusted text kept plain |
//! | [`safetensors`] | Hugging Face safetensors files, likewise |
//! | [`config`] | [`LlamaConfig`] from GGUF metadata or `config.json` |
//! | [`weights`] | [`LlamaWeights`]: every matrix in its stored format, pointing into the file |
//! | [`cpu`] | the fast engine: one thread, fused quantized kernels, `f16` key/value cache |
//! | [`burn_engine`] | the reference engine in burn, generic over the backend (wgpu or CPU) |
//! | [`model`] | [`LanguageModel`] and [`Session`]: the non-generic API the model worker owns |
//! | [`sample`] | seeded sampling with temperature, top-k, top-p, repetition penalty, masks |
//! | [`loaded`] | the model as the worker holds it: the `*.gguf` file kind, chat template, cached sessions, [`LanguageTask`](loaded::LanguageTask) |
//! | [`tiny_chat`] | tiny models with a tokenizer, so they chat through every real code path (tests) |
//! | [`tiny`] | small random models written to GGUF and safetensors, for tests and tools |
//!
//! Usage: load once ([`LanguageModel::load`]), keep a [`Session`] per conversation, prefill
//! the fixed part of a prompt (system text, persona, world facts) once and clone that session
//! for each player line, so a reply pays only for its own tokens:
//!
//! ```no_run
//! # use aigc_world::ai::llm::*;
//! # fn run(bytes: std::sync::Arc<[u8]>, persona: &[u32], line: &[u32]) -> Result<(), LlmError> {
//! let mut model = LanguageModel::load(ModelSource::Gguf(bytes), Engine::Quantized)?;
//! let mut prefix = model.new_session(1024);
//! model.prefill(&mut prefix, persona, &|| false)?;
//! let mut turn = prefix.clone();
//! let mut sampler = Sampler::new(SamplingParams::default());
//! let limits = GenerateLimits { max_tokens: 60, stop: vec![2] };
//! let reply = model.generate(&mut turn, line, &mut sampler, &mut NoMask, &limits, &|| false, &mut |_| true)?;
//! # Ok(()) }
//! ```

pub mod burn_engine;
pub mod config;
pub mod cpu;
pub mod gguf;
pub mod loaded;
pub mod model;
pub mod safetensors;
pub mod sample;
#[cfg(test)]
mod tests;
pub mod tiny;
pub mod tiny_chat;
pub mod tokenizer;
pub mod weights;

use thiserror::Error;

pub use aigc_world_kernels::Format;
pub use config::{LlamaConfig, RopeLayout};
pub use model::{
    Engine, GenerateLimits, Generation, LanguageModel, ModelSource, Session, StopReason,
};
pub use sample::{BannedTokens, LogitMask, NoMask, Sampler, SamplingParams};
pub use weights::{LlamaWeights, WeightMatrix};

/// Why a model could not be loaded or run.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The GGUF file is damaged.
    #[error("GGUF: {0}")]
    Gguf(#[from] gguf::GgufError),
    /// A safetensors file is damaged.
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// The model's configuration is missing or inconsistent.
    #[error("model config: {0}")]
    Config(String),
    /// The file is valid but describes something this build does not run.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A tensor the architecture needs is not in the file.
    #[error("tensor `{0}` is missing")]
    MissingTensor(String),
    /// A tensor has the wrong shape or its bytes are out of range.
    #[error("tensor {0}")]
    Tensor(String),
    /// A token id outside the vocabulary.
    #[error("token {token} is outside the vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The id.
        token: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// The session has no room for more positions.
    #[error("the session's context is full ({capacity} positions)")]
    ContextFull {
        /// Positions it holds.
        capacity: usize,
    },
    /// A session made by a different model or engine.
    #[error("the session belongs to another model or engine")]
    SessionMismatch,
    /// Nothing to process.
    #[error("no tokens to process")]
    EmptyInput,
    /// Stopped because the caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The burn backend failed.
    #[error("backend error: {0}")]
    Backend(String),
}
