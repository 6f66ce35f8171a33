//! burn's backends for the language model's reference engine ([`BurnLlama`]), behind
//! non-generic types so that only this module names them.

use super::ComputeDevice;
use crate::ai::llm::LlmError;
use crate::ai::llm::burn_engine::{BurnCache, BurnLlama};
use crate::ai::llm::weights::LlamaWeights;

/// The burn engine on the CPU (Flex) or a GPU (wgpu).
pub enum BurnEngine {
    /// burn's CPU backend.
    Cpu(Box<BurnLlama<super::Cpu>>),
    /// burn's wgpu backend.
    #[cfg(feature = "wgpu")]
    Gpu(Box<BurnLlama<super::Gpu>>),
}

/// A session's cache on the matching backend.
#[derive(Clone, Debug)]
pub enum BurnSessionCache {
    /// On the CPU.
    Cpu(BurnCache<super::Cpu>),
    /// On a GPU.
    #[cfg(feature = "wgpu")]
    Gpu(BurnCache<super::Gpu>),
}

impl BurnEngine {
    /// Decodes `weights` into tensors on `device`.
    pub fn new(weights: &LlamaWeights, device: &ComputeDevice) -> Self {
        match device {
            ComputeDevice::Cpu => Self::Cpu(Box::new(BurnLlama::new(weights, &Default::default()))),
            #[cfg(feature = "wgpu")]
            ComputeDevice::Gpu(d) => Self::Gpu(Box::new(BurnLlama::new(weights, d))),
        }
    }

    /// `"burn-cpu"` or `"burn-gpu"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cpu(_) => "burn-cpu",
            #[cfg(feature = "wgpu")]
            Self::Gpu(_) => "burn-gpu",
        }
    }

    /// Bytes of the weight tensors.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Self::Cpu(m) => m.weight_bytes(),
            #[cfg(feature = "wgpu")]
            Self::Gpu(m) => m.weight_bytes(),
        }
    }

    /// An empty cache with room for `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> BurnSessionCache {
        match self {
            Self::Cpu(m) => BurnSessionCache::Cpu(m.new_cache(capacity)),
            #[cfg(feature = "wgpu")]
            Self::Gpu(m) => BurnSessionCache::Gpu(m.new_cache(capacity)),
        }
    }

    /// Runs `tokens` (see [`BurnLlama::forward`]).
    pub fn forward(
        &self,
        cache: &mut BurnSessionCache,
        tokens: &[u32],
        logits: bool,
    ) -> Result<Option<Vec<f32>>, LlmError> {
        match (self, cache) {
            (Self::Cpu(m), BurnSessionCache::Cpu(c)) if m.fits(c) => m.forward(c, tokens, logits),
            #[cfg(feature = "wgpu")]
            (Self::Gpu(m), BurnSessionCache::Gpu(c)) if m.fits(c) => m.forward(c, tokens, logits),
            _ => Err(LlmError::SessionMismatch),
        }
    }
}

impl BurnSessionCache {
    /// Positions it has room for.
    pub fn capacity(&self) -> usize {
        match self {
            Self::Cpu(c) => c.capacity(),
            #[cfg(feature = "wgpu")]
            Self::Gpu(c) => c.capacity(),
        }
    }

    /// Bytes of keys and values.
    pub fn bytes(&self) -> usize {
        match self {
            Self::Cpu(c) => c.bytes(),
            #[cfg(feature = "wgpu")]
            Self::Gpu(c) => c.bytes(),
        }
    }

    /// Forgets everything after the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        match self {
            Self::Cpu(c) => c.truncate(len),
            #[cfg(feature = "wgpu")]
            Self::Gpu(c) => c.truncate(len),
        }
    }
}
