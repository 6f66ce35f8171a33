//! The fast CPU engine: one thread, weights in their quantized formats read by the fused
//! kernels of `aigc_world_kernels`, `f32` activations, and a key/value cache of halves in plain
//! vectors. All scratch space lives in the engine and is reused, so generating a token allocates
//! nothing.
//!
//! A prompt is processed in chunks of up to [`CHUNK`] tokens: each weight row is decoded once
//! per chunk and dotted with every token's vector while it is in the cache, which is what makes
//! a prompt faster per token than generation.

use std::sync::Arc;

use aigc_world_kernels::ops::{self, AttentionShape};
use aigc_world_kernels::{Activations, matmul};

use super::LlmError;
use super::weights::{LlamaWeights, WeightMatrix};

/// Most tokens of a prompt processed together.
pub const CHUNK: usize = 32;

/// Keys and values of every position so far, per layer, as IEEE halves.
#[derive(Debug)]
pub struct CpuCache {
    len: usize,
    capacity: usize,
    kv_dim: usize,
    keys: Vec<Vec<u16>>,
    values: Vec<Vec<u16>>,
}

impl CpuCache {
    /// An empty cache with room for `capacity` positions (reserved, filled as used).
    pub fn new(layers: usize, kv_dim: usize, capacity: usize) -> Self {
        let layer = || {
            (0..layers)
                .map(|_| Vec::with_capacity(capacity * kv_dim))
                .collect()
        };
        Self {
            len: 0,
            capacity,
            kv_dim,
            keys: layer(),
            values: layer(),
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions it has room for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of keys and values held for the cached positions.
    pub fn bytes(&self) -> usize {
        2 * self.keys.len() * self.len * self.kv_dim * 2
    }

    /// Forgets everything after the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        for layer in self.keys.iter_mut().chain(&mut self.values) {
            layer.truncate(self.len * self.kv_dim);
        }
    }
}

impl Clone for CpuCache {
    /// A copy with the same reserved room, so it too grows without reallocating.
    fn clone(&self) -> Self {
        let copy = |layers: &Vec<Vec<u16>>| {
            layers
                .iter()
                .map(|l| {
                    let mut v = Vec::with_capacity(self.capacity * self.kv_dim);
                    v.extend_from_slice(l);
                    v
                })
                .collect()
        };
        Self {
            len: self.len,
            capacity: self.capacity,
            kv_dim: self.kv_dim,
            keys: copy(&self.keys),
            values: copy(&self.values),
        }
    }
}

/// The engine: weights plus reusable scratch space.
#[derive(Debug)]
pub struct CpuEngine {
    weights: Arc<LlamaWeights>,
    s: Scratch,
}

#[derive(Debug)]
struct Scratch {
    /// The residual stream, `CHUNK x hidden`.
    x: Vec<f32>,
    /// Normed input of the projections.
    normed: Activations,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Attention output, input of the output projection.
    attended: Activations,
    /// Output of a projection back to the residual width.
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    /// SwiGLU output, input of the down projection.
    hidden: Activations,
    cos: Vec<f32>,
    sin: Vec<f32>,
    scores: Vec<f32>,
    last: Activations,
    logits: Vec<f32>,
}

impl CpuEngine {
    /// An engine over `weights`.
    pub fn new(weights: Arc<LlamaWeights>) -> Self {
        let c = &weights.config;
        let s = Scratch {
            x: vec![0.0; CHUNK * c.hidden_size],
            normed: Activations::new(c.hidden_size),
            q: vec![0.0; CHUNK * c.q_dim()],
            k: vec![0.0; CHUNK * c.kv_dim()],
            v: vec![0.0; CHUNK * c.kv_dim()],
            attended: Activations::new(c.q_dim()),
            proj: vec![0.0; CHUNK * c.hidden_size],
            gate: vec![0.0; CHUNK * c.intermediate_size],
            up: vec![0.0; CHUNK * c.intermediate_size],
            hidden: Activations::new(c.intermediate_size),
            cos: vec![0.0; CHUNK * c.head_dim / 2],
            sin: vec![0.0; CHUNK * c.head_dim / 2],
            scores: Vec::new(),
            last: Activations::new(c.hidden_size),
            logits: vec![0.0; c.vocab_size],
        };
        Self { weights, s }
    }

    /// The weights.
    pub fn weights(&self) -> &Arc<LlamaWeights> {
        &self.weights
    }

    /// The logits of the latest [`forward`](Self::forward) that asked for them.
    pub fn logits(&self) -> &[f32] {
        &self.s.logits
    }

    /// Whether `cache` was made for a model of this shape.
    pub fn fits(&self, cache: &CpuCache) -> bool {
        let c = &self.weights.config;
        cache.keys.len() == c.layers && cache.kv_dim == c.kv_dim()
    }

    /// An empty cache for this model with room for `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> CpuCache {
        let c = &self.weights.config;
        CpuCache::new(c.layers, c.kv_dim(), capacity)
    }

    /// Runs `tokens` at the cache's next positions (in chunks of up to [`CHUNK`]), appending
    /// their keys and values; returns the logits after the last token when `logits` is set.
    /// Bad input (a token outside the vocabulary, no room left) is refused before anything
    /// changes.
    pub fn forward(
        &mut self,
        cache: &mut CpuCache,
        tokens: &[u32],
        logits: bool,
    ) -> Result<Option<&[f32]>, LlmError> {
        let c = &self.weights.config;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(LlmError::TokenOutOfRange {
                token: bad,
                vocab: c.vocab_size,
            });
        }
        if cache.len + tokens.len() > cache.capacity {
            return Err(LlmError::ContextFull {
                capacity: cache.capacity,
            });
        }
        if !self.fits(cache) {
            return Err(LlmError::SessionMismatch);
        }
        let chunks = tokens.chunks(CHUNK);
        let count = chunks.len();
        for (i, chunk) in chunks.enumerate() {
            self.forward_chunk(cache, chunk, logits && i + 1 == count);
        }
        Ok((logits && count > 0).then_some(&self.s.logits[..]))
    }

    /// One chunk of checked tokens.
    fn forward_chunk(&mut self, cache: &mut CpuCache, tokens: &[u32], logits: bool) {
        let w = &*self.weights;
        let c = &w.config;
        let n = tokens.len();
        let s = &mut self.s;
        let (h, qd, kvd, f, half) = (
            c.hidden_size,
            c.q_dim(),
            c.kv_dim(),
            c.intermediate_size,
            c.head_dim / 2,
        );
        let start = cache.len;
        if s.scores.len() < start + n {
            s.scores.resize(cache.capacity.max(start + n), 0.0);
        }
        let embed = w.embed.view();
        for (i, &t) in tokens.iter().enumerate() {
            embed.dequantize_row(t as usize, &mut s.x[i * h..(i + 1) * h]);
            ops::rope_angles(
                start + i,
                c.rope_base,
                c.head_dim,
                c.rope_freq_factors.as_deref(),
                &mut s.cos[i * half..(i + 1) * half],
                &mut s.sin[i * half..(i + 1) * half],
            );
        }
        let shape = AttentionShape {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
        };
        for (l, layer) in w.layers.iter().enumerate() {
            // A layer is about a millisecond: between layers the worker takes turns with chunk
            // generation for the cores the frame leaves (`background::cores`).
            crate::background::cores::checkpoint();
            norm_rows(&s.x[..n * h], &layer.attn_norm, c.rms_eps, &mut s.normed, n);
            project(&layer.q, &mut s.normed, &mut s.q[..n * qd]);
            project(&layer.k, &mut s.normed, &mut s.k[..n * kvd]);
            project(&layer.v, &mut s.normed, &mut s.v[..n * kvd]);
            let (keys, values) = (&mut cache.keys[l], &mut cache.values[l]);
            for i in 0..n {
                let (cos, sin) = (
                    &s.cos[i * half..(i + 1) * half],
                    &s.sin[i * half..(i + 1) * half],
                );
                ops::rope_rotate(&mut s.q[i * qd..(i + 1) * qd], c.rope_layout, cos, sin);
                ops::rope_rotate(&mut s.k[i * kvd..(i + 1) * kvd], c.rope_layout, cos, sin);
                append_f16(keys, &s.k[i * kvd..(i + 1) * kvd]);
                append_f16(values, &s.v[i * kvd..(i + 1) * kvd]);
            }
            let attended = s.attended.values_mut(n);
            for i in 0..n {
                ops::attention(
                    shape,
                    &s.q[i * qd..(i + 1) * qd],
                    keys,
                    values,
                    start + i + 1,
                    &mut s.scores,
                    &mut attended[i * qd..(i + 1) * qd],
                );
            }
            project(&layer.o, &mut s.attended, &mut s.proj[..n * h]);
            add(&mut s.x[..n * h], &s.proj[..n * h]);
            norm_rows(&s.x[..n * h], &layer.ffn_norm, c.rms_eps, &mut s.normed, n);
            project(&layer.gate, &mut s.normed, &mut s.gate[..n * f]);
            project(&layer.up, &mut s.normed, &mut s.up[..n * f]);
            ops::silu_mul(&mut s.gate[..n * f], &s.up[..n * f]);
            s.hidden.load(&s.gate[..n * f]);
            project(&layer.down, &mut s.hidden, &mut s.proj[..n * h]);
            add(&mut s.x[..n * h], &s.proj[..n * h]);
        }
        cache.len += n;
        if logits {
            let last = &s.x[(n - 1) * h..n * h];
            ops::rms_norm(last, &w.norm, c.rms_eps, s.last.values_mut(1));
            matmul(&w.output.view(), &mut s.last, &mut s.logits);
        }
    }
}

/// RMSNorm of each of the first `n` rows of `x` into `out`.
fn norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut Activations, n: usize) {
    let h = weight.len();
    let out = out.values_mut(n);
    for (row, o) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
        ops::rms_norm(row, weight, eps, o);
    }
}

fn project(w: &WeightMatrix, x: &mut Activations, out: &mut [f32]) {
    matmul(&w.view(), x, out);
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

fn append_f16(cache: &mut Vec<u16>, values: &[f32]) {
    let at = cache.len();
    cache.resize(at + values.len(), 0);
    ops::store_f16(values, &mut cache[at..]);
}
