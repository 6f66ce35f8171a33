//! The reference engine in burn, generic over the backend: the same Llama forward pass written
//! with tensor operations (whole prompt at once with a causal mask, grouped-query attention
//! over a key/value cache of tensors), weights decoded to `f32` tensors at load.
//!
//! It is the path to a GPU (wgpu, sharing Bevy's device) and the independent check of the
//! quantized CPU engine. burn's backends are not named here: `ai::backend` picks them.

use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use aigc_world_kernels::ops::{RopeLayout, rope_angles};

use super::LlmError;
use super::config::LlamaConfig;
use super::weights::{LlamaWeights, WeightMatrix};

/// One transformer block; matrices are stored transposed (`[inputs, outputs]`) so a row of
/// activations multiplies them directly.
#[derive(Clone, Debug)]
struct Block<B: Backend> {
    attn_norm: Tensor<B, 1>,
    wq: Tensor<B, 2>,
    wk: Tensor<B, 2>,
    wv: Tensor<B, 2>,
    wo: Tensor<B, 2>,
    ffn_norm: Tensor<B, 1>,
    w_gate: Tensor<B, 2>,
    w_up: Tensor<B, 2>,
    w_down: Tensor<B, 2>,
}

/// A Llama model as burn tensors. Plain tensors rather than a `Module`: the weights are
/// constants decoded from a file, never trained or saved.
#[derive(Clone, Debug)]
pub struct BurnLlama<B: Backend> {
    config: LlamaConfig,
    embed: Tensor<B, 2>,
    blocks: Vec<Block<B>>,
    norm: Tensor<B, 1>,
    output: Tensor<B, 2>,
    tied: bool,
    device: B::Device,
}

/// Keys and values so far, per layer, `[kv_heads, positions, head_dim]`.
#[derive(Clone, Debug)]
pub struct BurnCache<B: Backend> {
    keys: Vec<Option<Tensor<B, 3>>>,
    values: Vec<Option<Tensor<B, 3>>>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
}

impl<B: Backend> BurnCache<B> {
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

    /// Bytes of keys and values (as `f32`) for the cached positions.
    pub fn bytes(&self) -> usize {
        2 * self.keys.len() * self.len * self.kv_dim * 4
    }

    /// Forgets everything after the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        for t in self.keys.iter_mut().chain(&mut self.values) {
            *t = match (t.take(), len) {
                (_, 0) | (None, _) => None,
                (Some(t), len) => Some(t.narrow(1, 0, len)),
            };
        }
    }
}

impl<B: Backend> BurnLlama<B> {
    /// Decodes `weights` into tensors on `device`.
    pub fn new(weights: &LlamaWeights, device: &B::Device) -> Self {
        let matrix = |m: &WeightMatrix| {
            Tensor::<B, 2>::from_data(TensorData::new(m.to_f32(), [m.rows(), m.cols()]), device)
        };
        let transposed = |m: &WeightMatrix| matrix(m).transpose();
        let vector =
            |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device);
        let embed = matrix(&weights.embed);
        let output = if weights.output_is_embedding() {
            embed.clone().transpose()
        } else {
            transposed(&weights.output)
        };
        Self {
            config: weights.config.clone(),
            blocks: weights
                .layers
                .iter()
                .map(|l| Block {
                    attn_norm: vector(&l.attn_norm),
                    wq: transposed(&l.q),
                    wk: transposed(&l.k),
                    wv: transposed(&l.v),
                    wo: transposed(&l.o),
                    ffn_norm: vector(&l.ffn_norm),
                    w_gate: transposed(&l.gate),
                    w_up: transposed(&l.up),
                    w_down: transposed(&l.down),
                })
                .collect(),
            norm: vector(&weights.norm),
            embed,
            output,
            tied: weights.output_is_embedding(),
            device: device.clone(),
        }
    }

    /// An empty cache with room for `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> BurnCache<B> {
        let layers = self.config.layers;
        BurnCache {
            keys: vec![None; layers],
            values: vec![None; layers],
            len: 0,
            capacity,
            kv_dim: self.config.kv_dim(),
        }
    }

    /// Runs `tokens` at the cache's next positions, appending their keys and values, and
    /// returns the logits after the last one when `logits` is set (read back on the calling
    /// thread).
    ///
    /// # Shapes
    /// tokens `[T]` -> logits `[vocab]`.
    pub fn forward(
        &self,
        cache: &mut BurnCache<B>,
        tokens: &[u32],
        logits: bool,
    ) -> Result<Option<Vec<f32>>, LlmError> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 {
            return Err(LlmError::Backend("no tokens to run".into()));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(LlmError::TokenOutOfRange {
                token: bad,
                vocab: c.vocab_size,
            });
        }
        if cache.len + n > cache.capacity {
            return Err(LlmError::ContextFull {
                capacity: cache.capacity,
            });
        }
        let start = cache.len;
        let total = start + n;
        let d = &self.device;
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), d);
        let mut x = self.embed.clone().select(0, ids);
        let (cos, sin) = self.rope_tables(start, n);
        // Position `start + i` may look at keys `0..=start + i`.
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| {
                (0..total).map(move |j| {
                    if j > start + i {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        let mask = Tensor::<B, 3>::from_data(TensorData::new(mask, [1, n, total]), d);
        let (hd, heads, kv_heads) = (c.head_dim, c.heads, c.kv_heads);
        let scale = 1.0 / (hd as f64).sqrt();
        for (l, b) in self.blocks.iter().enumerate() {
            let h = rms_norm(x.clone(), &b.attn_norm, c.rms_eps);
            let q = h.clone().matmul(b.wq.clone()).reshape([n, heads, hd]);
            let k = h.clone().matmul(b.wk.clone()).reshape([n, kv_heads, hd]);
            let v = h.matmul(b.wv.clone()).reshape([n, kv_heads, hd]);
            let q = rope(q, &cos, &sin, c.rope_layout).swap_dims(0, 1);
            let k = rope(k, &cos, &sin, c.rope_layout).swap_dims(0, 1);
            let v = v.swap_dims(0, 1);
            let append = |old: Option<Tensor<B, 3>>, new: Tensor<B, 3>| match old {
                Some(old) => Tensor::cat(vec![old, new], 1),
                None => new,
            };
            let keys = append(cache.keys[l].take(), k);
            let values = append(cache.values[l].take(), v);
            cache.keys[l] = Some(keys.clone());
            cache.values[l] = Some(values.clone());
            let group = heads / kv_heads;
            let widen = |t: Tensor<B, 3>| {
                t.reshape([kv_heads, 1, total, hd])
                    .repeat_dim(1, group)
                    .reshape([heads, total, hd])
            };
            let scores = q.matmul(widen(keys).swap_dims(1, 2)).mul_scalar(scale) + mask.clone();
            let attended = softmax(scores, 2)
                .matmul(widen(values))
                .swap_dims(0, 1)
                .reshape([n, heads * hd]);
            x = x + attended.matmul(b.wo.clone());
            let h = rms_norm(x.clone(), &b.ffn_norm, c.rms_eps);
            let gated = silu(h.clone().matmul(b.w_gate.clone())) * h.matmul(b.w_up.clone());
            x = x + gated.matmul(b.w_down.clone());
        }
        cache.len = total;
        if !logits {
            return Ok(None);
        }
        let last = x.narrow(0, n - 1, 1);
        let logits = rms_norm(last, &self.norm, c.rms_eps).matmul(self.output.clone());
        let data = bevy::tasks::block_on(logits.reshape([c.vocab_size]).into_data_async())
            .map_err(|e| LlmError::Backend(format!("{e:?}")))?;
        data.into_vec::<f32>()
            .map(Some)
            .map_err(|e| LlmError::Backend(format!("{e:?}")))
    }

    /// Bytes of the weight tensors (`f32`).
    pub fn weight_bytes(&self) -> usize {
        let count = |t: &Tensor<B, 2>| t.dims().iter().product::<usize>();
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| {
                [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down]
                    .into_iter()
                    .map(count)
                    .sum::<usize>()
                    + 2 * self.config.hidden_size
            })
            .sum();
        let output = if self.tied { 0 } else { count(&self.output) };
        4 * (blocks + count(&self.embed) + output + self.config.hidden_size)
    }

    /// Whether `cache` was made for a model of this shape.
    pub fn fits(&self, cache: &BurnCache<B>) -> bool {
        cache.keys.len() == self.config.layers && cache.kv_dim == self.config.kv_dim()
    }

    /// Cosines and sines for positions `start..start + n`, `[n, head_dim / 2]` each, from the
    /// same host code as the CPU engine.
    fn rope_tables(&self, start: usize, n: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let c = &self.config;
        let half = c.head_dim / 2;
        let mut cos = vec![0.0; n * half];
        let mut sin = vec![0.0; n * half];
        for i in 0..n {
            rope_angles(
                start + i,
                c.rope_base,
                c.head_dim,
                c.rope_freq_factors.as_deref(),
                &mut cos[i * half..(i + 1) * half],
                &mut sin[i * half..(i + 1) * half],
            );
        }
        let t = |v| Tensor::<B, 2>::from_data(TensorData::new(v, [n, half]), &self.device);
        (t(cos), t(sin))
    }
}

/// `x / sqrt(mean(x^2) + eps) * weight` over the last dimension.
///
/// # Shapes
/// x `[T, hidden]`, weight `[hidden]` -> `[T, hidden]`.
fn rms_norm<B: Backend>(x: Tensor<B, 2>, weight: &Tensor<B, 1>, eps: f32) -> Tensor<B, 2> {
    let mean_square = x.clone().powf_scalar(2.0).mean_dim(1);
    let scale = mean_square.add_scalar(eps).sqrt().recip();
    x * scale * weight.clone().unsqueeze_dim(0)
}

/// Rotates each head's pairs by the position's angles.
///
/// # Shapes
/// x `[T, heads, head_dim]`, cos and sin `[T, head_dim / 2]` -> `[T, heads, head_dim]`.
fn rope<B: Backend>(
    x: Tensor<B, 3>,
    cos: &Tensor<B, 2>,
    sin: &Tensor<B, 2>,
    layout: RopeLayout,
) -> Tensor<B, 3> {
    let [n, heads, hd] = x.dims();
    let half = hd / 2;
    let cos = cos.clone().reshape([n, 1, half]);
    let sin = sin.clone().reshape([n, 1, half]);
    match layout {
        RopeLayout::Halves => {
            let x1 = x.clone().narrow(2, 0, half);
            let x2 = x.narrow(2, half, half);
            let r1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
            let r2 = x1 * sin + x2 * cos;
            Tensor::cat(vec![r1, r2], 2)
        }
        RopeLayout::Interleaved => {
            let pairs = x.reshape([n, heads, half, 2]);
            let x1 = pairs.clone().narrow(3, 0, 1).reshape([n, heads, half]);
            let x2 = pairs.narrow(3, 1, 1).reshape([n, heads, half]);
            let r1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
            let r2 = x1 * sin + x2 * cos;
            Tensor::stack::<4>(vec![r1, r2], 3).reshape([n, heads, hd])
        }
    }
}
