//! The texture NCA in burn, generic over the backend (Mordvintsev et al., "Self-Organising
//! Textures", Distill 2021).
//!
//! Every cell holds `channels` numbers; the first three, plus 0.5, are its colour. A step lets
//! each cell perceive its 3x3 neighbourhood through four fixed filters per channel (identity,
//! Sobel x, Sobel y, Laplacian), passes that through a tiny learned update (two 1x1 layers, a
//! ReLU between), and adds the result to a random half of the cells. Neighbours are read with
//! wrap-around (the grid is a torus), so a texture of any size tiles.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::rng::SplitMix;
use super::weights::{FILTERS, NcaWeights};

/// The learned update rule. Parameters only; the perception is fixed.
#[derive(Module, Debug)]
pub struct Nca<B: Backend> {
    /// First layer, `[4 * channels, hidden]`.
    pub w1: Param<Tensor<B, 2>>,
    /// First layer bias, `[hidden]`.
    pub b1: Param<Tensor<B, 1>>,
    /// Second layer, `[hidden, channels]`; starts at zero so the untrained rule does nothing.
    pub w2: Param<Tensor<B, 2>>,
}

impl<B: Backend> Nca<B> {
    /// A fresh, untrained rule with `channels` state channels and `hidden` units, initialised
    /// from `seed` (host-side random numbers, so every backend starts from the same values).
    pub fn new(channels: usize, hidden: usize, seed: u64, device: &B::Device) -> Self {
        let mut rng = SplitMix::new(seed);
        let fan_in = (FILTERS * channels) as f32;
        let bound = (1.0 / fan_in).sqrt();
        let w1: Vec<f32> = (0..FILTERS * channels * hidden)
            .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
            .collect();
        // A random bias (as PyTorch initialises it) matters: with zero bias the empty state is a
        // fixed point with zero gradients and nothing would ever learn.
        let b1: Vec<f32> = (0..hidden)
            .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
            .collect();
        let weights = NcaWeights {
            channels,
            hidden,
            steps: 1,
            fire_rate: 0.5,
            w1,
            b1,
            w2: vec![0.0; hidden * channels],
        };
        Self::from_weights(&weights, device)
    }

    /// The rule stored in `weights`.
    pub fn from_weights(weights: &NcaWeights, device: &B::Device) -> Self {
        let (c, h) = (weights.channels, weights.hidden);
        let t2 = |v: &[f32], shape: [usize; 2]| {
            Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), shape), device)
        };
        Self {
            w1: Param::from_tensor(t2(&weights.w1, [FILTERS * c, h])),
            b1: Param::from_tensor(Tensor::from_data(
                TensorData::new(weights.b1.clone(), [h]),
                device,
            )),
            w2: Param::from_tensor(t2(&weights.w2, [h, c])),
        }
    }

    /// Reads the parameters back into plain vectors (a synchronous read: training and tools
    /// only, never on a frame thread).
    pub fn to_weights(&self, steps: u32, fire_rate: f32) -> NcaWeights {
        let read = |t: Tensor<B, 2>| t.into_data().into_vec::<f32>().unwrap_or_default();
        NcaWeights {
            channels: self.channels(),
            hidden: self.w1.dims()[1],
            steps,
            fire_rate,
            w1: read(self.w1.val()),
            b1: self
                .b1
                .val()
                .into_data()
                .into_vec::<f32>()
                .unwrap_or_default(),
            w2: read(self.w2.val()),
        }
    }

    /// State channels per cell.
    pub fn channels(&self) -> usize {
        self.w2.dims()[1]
    }

    /// The fixed perception: identity, Sobel x, Sobel y and Laplacian of every channel, with
    /// wrap-around at the edges.
    ///
    /// # Shapes
    /// - `state`: `[batch, height, width, channels]`
    /// - output: `[batch, height, width, 4 * channels]`
    pub fn perceive(state: Tensor<B, 4>) -> Tensor<B, 4> {
        // Separable 3x3 filters: horizontal pass, then vertical, all by rolling the torus.
        // `roll_dim(1, d)[i]` is element `i + 1`, `roll_dim(-1, d)[i]` element `i - 1`.
        // (This measured faster on burn's CPU backends than one folded 3x3 convolution, which
        // does 2.25x the arithmetic; see notes/textures.md.)
        let next = state.clone().roll_dim(1, 2);
        let prev = state.clone().roll_dim(-1, 2);
        let dx = prev.clone() - next.clone();
        let sx = next + prev + state.clone() * 2.0;
        let sobel_x = (dx.clone().roll_dim(1, 1) + dx.clone().roll_dim(-1, 1) + dx * 2.0) / 8.0;
        let sx_below = sx.clone().roll_dim(1, 1);
        let sx_above = sx.clone().roll_dim(-1, 1);
        let sobel_y = (sx_above.clone() - sx_below.clone()) / 8.0;
        let laplacian = (sx_below + sx_above + sx * 2.0 - state.clone() * 16.0) / 16.0;
        Tensor::cat(vec![state, sobel_x, sobel_y, laplacian], 3)
    }

    /// The learned update for every cell.
    ///
    /// # Shapes
    /// - `state`: `[batch, height, width, channels]`
    /// - output: same
    pub fn update(&self, state: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, w, c] = state.dims();
        let p = Self::perceive(state).reshape([b * h * w, FILTERS * c]);
        let hidden = relu(p.matmul(self.w1.val()) + self.b1.val().unsqueeze::<2>());
        hidden.matmul(self.w2.val()).reshape([b, h, w, c])
    }

    /// One stochastic step: cells where `mask` is 1 apply their update.
    ///
    /// # Shapes
    /// - `state`: `[batch, height, width, channels]`
    /// - `mask`: `[batch, height, width, 1]`, zeros and ones
    /// - output: same as `state`
    pub fn step(&self, state: Tensor<B, 4>, mask: Tensor<B, 4>) -> Tensor<B, 4> {
        state.clone() + self.update(state) * mask
    }
}

/// The colour of each cell, 0..1 (sRGB, as trained).
///
/// # Shapes
/// - `state`: `[batch, height, width, channels]`
/// - output: `[batch, height, width, 3]`
pub fn rgb<B: Backend>(state: Tensor<B, 4>) -> Tensor<B, 4> {
    state.narrow(3, 0, 3) + 0.5
}

/// The random update mask of step `step` for a grid grown from `seed`: 1 where a cell fires.
/// Made on the host from a counter-based hash, so every backend grows the same texture.
pub fn update_mask(
    batch: usize,
    size: (usize, usize),
    fire_rate: f32,
    seed: u64,
    step: u32,
) -> Vec<f32> {
    let (h, w) = size;
    let threshold = fire_threshold(fire_rate);
    let key = mask_key(seed, step);
    (0..batch * h * w)
        .map(|k| {
            let r = super::rng::mix64(key.wrapping_add(k as u64)) as u32;
            if r <= threshold { 1.0 } else { 0.0 }
        })
        .collect()
}

/// The key of step `step`'s update mask: cell `k` fires when the low 32 bits of
/// `mix64(key + k)` are at most [`fire_threshold`] (what [`update_mask`] computes, and what a
/// GPU kernel recomputes per cell).
pub fn mask_key(seed: u64, step: u32) -> u64 {
    super::rng::mix64(seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The largest hash value of a firing cell for `fire_rate` (see [`mask_key`]).
pub fn fire_threshold(fire_rate: f32) -> u32 {
    (fire_rate.clamp(0.0, 1.0) as f64 * u32::MAX as f64) as u32
}

/// Amplitude of the noise an empty grid starts from.
pub const START_NOISE: f32 = 0.1;

/// The state a texture grows from: small noise in every channel, hashed from `seed`, so the
/// rule has gradients to work on from the first step (from exact zeros only the random update
/// mask breaks the symmetry, and textures take far longer to appear). Channels last.
pub fn initial_state(batch: usize, size: (usize, usize), channels: usize, seed: u64) -> Vec<f32> {
    let key = super::rng::mix64(seed ^ 0x5745_4544);
    (0..batch * size.0 * size.1 * channels)
        .map(|k| {
            let r =
                (super::rng::mix64(key.wrapping_add(k as u64)) >> 40) as f32 / (1u64 << 24) as f32;
            (r * 2.0 - 1.0) * START_NOISE
        })
        .collect()
}

/// Error from [`grow`](super::grow::grow): the caller cancelled the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;
