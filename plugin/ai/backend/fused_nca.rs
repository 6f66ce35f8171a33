//! The NCA's growth on burn's wgpu backend as one fused compute kernel per step (cubecl),
//! instead of the dozens of small burn ops of [`grow`](crate::ai::nca::grow), whose launch
//! overhead bounds a real GPU.
//!
//! One invocation per cell reads its 3x3 neighbourhood with wrap-around, computes the four
//! perception filters, the learned update (two 1x1 layers, the ReLU between) and the stochastic
//! mask, and writes the cell's new state. The weights are uploaded once per grow (the first
//! layer with the filters' constants folded in, as the op-by-op path folds them), the state
//! ping-pongs between two buffers, and every step is queued without a read-back in between.
//!
//! The mask is the same random numbers as [`update_mask`](crate::ai::nca::model::update_mask):
//! the kernel recomputes SplitMix64's mix on pairs of 32-bit words (WGSL has no 64-bit
//! integers); the tests run the same arithmetic on the host against
//! [`mix64`](crate::ai::nca::rng::mix64). The texture model has no alive mask, so there is none
//! here.

use burn::backend::wgpu::{CubeTensor, WgpuDevice, WgpuRuntime};
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use cubecl::prelude::*;

use super::Gpu;
use crate::ai::nca::GrowPlan;
use crate::ai::nca::model::{Cancelled, fire_threshold, initial_state, mask_key};
use crate::ai::nca::weights::{FILTERS, NcaWeights};

/// Cells along a side of a workgroup (16 x 16 invocations).
const TILE: u32 = 16;

/// A model's weights in GPU memory, ready for [`FusedNca::grow`].
pub(super) struct FusedNca {
    w1: CubeTensor<WgpuRuntime>,
    b1: CubeTensor<WgpuRuntime>,
    w2: CubeTensor<WgpuRuntime>,
    channels: usize,
    hidden: usize,
}

impl FusedNca {
    /// Uploads `weights` to `device`, the first layer folded ([`fold_first_layer`]).
    pub(super) fn new(weights: &NcaWeights, device: &WgpuDevice) -> Self {
        let upload = |values: Vec<f32>| {
            let len = values.len();
            Tensor::<Gpu, 1>::from_data(TensorData::new(values, [len]), device)
                .into_primitive()
                .tensor()
        };
        Self {
            w1: upload(fold_first_layer(weights)),
            b1: upload(weights.b1.clone()),
            w2: upload(weights.w2.clone()),
            channels: weights.channels,
            hidden: weights.hidden,
        }
    }

    /// Grows a texture as `plan` says (its band size is ignored), asking `cancelled` between
    /// steps. Queues the steps and returns without waiting for the GPU.
    ///
    /// # Shapes
    /// - output: `[1, size, size, channels]`
    pub(super) fn grow(
        &self,
        plan: GrowPlan,
        cancelled: &dyn Fn() -> bool,
        device: &WgpuDevice,
    ) -> Result<Tensor<Gpu, 4>, Cancelled> {
        let (n, c) = (plan.size, self.channels);
        let start = initial_state(1, (n, n), c, plan.seed);
        let mut current = Tensor::<Gpu, 1>::from_data(TensorData::new(start, [n * n * c]), device)
            .into_primitive()
            .tensor();
        let mut next = Tensor::<Gpu, 1>::empty([n * n * c], device)
            .into_primitive()
            .tensor();
        let threshold = fire_threshold(plan.fire_rate);
        let groups = (n as u32).div_ceil(TILE);
        for step in 0..plan.steps {
            if cancelled() {
                return Err(Cancelled);
            }
            let key = mask_key(plan.seed, step);
            nca_step::launch::<WgpuRuntime>(
                &current.client,
                CubeCount::Static(groups, groups, 1),
                CubeDim::new_2d(TILE, TILE),
                current.clone().into_array_arg(),
                next.clone().into_array_arg(),
                self.w1.clone().into_array_arg(),
                self.b1.clone().into_array_arg(),
                self.w2.clone().into_array_arg(),
                n as u32,
                key as u32,
                (key >> 32) as u32,
                threshold,
                c,
                self.hidden,
            );
            std::mem::swap(&mut current, &mut next);
        }
        let state = Tensor::<Gpu, 1>::from_primitive(TensorPrimitive::Float(current));
        Ok(state.reshape([1, n, n, c]))
    }
}

/// The first layer with the perception's constants folded in, `[4 * channels, hidden]`: the
/// kernel feeds the raw filter sums (Sobel without its 1/8, the Laplacian as the 3x3 sum
/// without its 1/16 and centre term), so the Sobel rows are scaled by 1/8, the Laplacian rows
/// by 1/16, and the Laplacian's `-s` moves into the identity rows (as in
/// [`grow`](crate::ai::nca::grow)).
fn fold_first_layer(weights: &NcaWeights) -> Vec<f32> {
    let (c, h) = (weights.channels, weights.hidden);
    let row = |r: usize| &weights.w1[r * h..(r + 1) * h];
    let mut out = Vec::with_capacity(FILTERS * c * h);
    for r in 0..c {
        out.extend(row(r).iter().zip(row(3 * c + r)).map(|(w, lap)| w - lap));
    }
    for r in c..3 * c {
        out.extend(row(r).iter().map(|w| w / 8.0));
    }
    for r in 3 * c..4 * c {
        out.extend(row(r).iter().map(|w| w / 16.0));
    }
    out
}

/// The high 32 bits of the 64-bit product of two 32-bit words, from 16-bit halves.
#[cube]
fn mul_high(a: u32, b: u32) -> u32 {
    let (a0, a1) = (a & 0xffffu32, a >> 16u32);
    let (b0, b1) = (b & 0xffffu32, b >> 16u32);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u32) + (p01 & 0xffffu32) + (p10 & 0xffffu32);
    p11 + (p01 >> 16u32) + (p10 >> 16u32) + (mid >> 16u32)
}

/// The low 32 bits of `mix64(z)`, `z` given as its low and high words.
#[cube]
fn mix64_low_words(lo: u32, hi: u32) -> u32 {
    // z += golden
    let lo0 = lo + 0x7f4a_7c15u32;
    let hi0 = hi + 0x9e37_79b9u32 + select(lo0 < lo, 1u32, 0u32);
    // z = (z ^ (z >> 30)) * m1
    let lo1 = lo0 ^ ((lo0 >> 30u32) | (hi0 << 2u32));
    let hi1 = hi0 ^ (hi0 >> 30u32);
    let lo2 = lo1 * 0x1ce4_e5b9u32;
    let hi2 = mul_high(lo1, 0x1ce4_e5b9u32) + lo1 * 0xbf58_476du32 + hi1 * 0x1ce4_e5b9u32;
    // z = (z ^ (z >> 27)) * m2
    let lo3 = lo2 ^ ((lo2 >> 27u32) | (hi2 << 5u32));
    let hi3 = hi2 ^ (hi2 >> 27u32);
    let lo4 = lo3 * 0x1331_11ebu32;
    let hi4 = mul_high(lo3, 0x1331_11ebu32) + lo3 * 0x94d0_49bbu32 + hi3 * 0x1331_11ebu32;
    // z ^ (z >> 31), low word
    lo4 ^ ((lo4 >> 31u32) | (hi4 << 1u32))
}

/// One NCA step for one cell (invocation `(x, y)` of a `size` x `size` torus, channels last).
#[cube(launch)]
fn nca_step(
    state: &Array<f32>,
    next: &mut Array<f32>,
    w1: &Array<f32>,
    b1: &Array<f32>,
    w2: &Array<f32>,
    size: u32,
    key_lo: u32,
    key_hi: u32,
    threshold: u32,
    #[comptime] channels: usize,
    #[comptime] hidden: usize,
) {
    let x = ABSOLUTE_POS_X;
    let y = ABSOLUTE_POS_Y;
    if x < size && y < size {
        let left = ((x + size - 1) % size) as usize;
        let right = ((x + 1) % size) as usize;
        let centre = x as usize;
        let up = (((y + size - 1) % size) * size) as usize;
        let mid = (y * size) as usize;
        let down = (((y + 1) % size) * size) as usize;

        // Perception: the raw filter sums (the constants are folded into `w1`).
        let mut p = Array::<f32>::new(comptime!(4 * channels));
        #[unroll]
        for c in 0..channels {
            let ul = state[(up + left) * channels + c];
            let uc = state[(up + centre) * channels + c];
            let ur = state[(up + right) * channels + c];
            let ml = state[(mid + left) * channels + c];
            let mc = state[(mid + centre) * channels + c];
            let mr = state[(mid + right) * channels + c];
            let dl = state[(down + left) * channels + c];
            let dc = state[(down + centre) * channels + c];
            let dr = state[(down + right) * channels + c];
            let dx_up = ul - ur;
            let dx_mid = ml - mr;
            let dx_down = dl - dr;
            let sx_up = ul + ur + uc + uc;
            let sx_mid = ml + mr + mc + mc;
            let sx_down = dl + dr + dc + dc;
            p[c] = mc;
            p[c + channels] = dx_up + dx_down + dx_mid + dx_mid;
            p[c + 2 * channels] = sx_up - sx_down;
            p[c + 3 * channels] = sx_up + sx_down + sx_mid + sx_mid;
        }

        // The update rule: `relu(p w1 + b1) w2`, one hidden unit at a time.
        let mut update = Array::<f32>::new(channels);
        #[unroll]
        for c in 0..channels {
            update[c] = 0.0;
        }
        for h in 0..hidden {
            let mut sum = 0.0f32;
            #[unroll]
            for k in 0..comptime!(4 * channels) {
                sum += p[k] * w1[k * hidden + h];
            }
            let act = sum + b1[h];
            let act = select(act > 0.0f32, act, 0.0f32);
            #[unroll]
            for c in 0..channels {
                update[c] += act * w2[h * channels + c];
            }
        }

        // The stochastic mask: cell `k` fires when mix64(key + k) is at most the threshold.
        let k = y * size + x;
        let lo = key_lo + k;
        let hi = key_hi + select(lo < k, 1u32, 0u32);
        let fires = mix64_low_words(lo, hi) <= threshold;
        let cell = (mid + centre) * channels;
        #[unroll]
        for c in 0..channels {
            let own = p[c];
            next[cell + c] = select(fires, own + update[c], own);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::nca::rng::{SplitMix, mix64};

    /// SplitMix64's constants as (low, high) 32-bit words.
    const GOLDEN: (u32, u32) = (0x7f4a_7c15, 0x9e37_79b9);
    const M1: (u32, u32) = (0x1ce4_e5b9, 0xbf58_476d);
    const M2: (u32, u32) = (0x1331_11eb, 0x94d0_49bb);

    /// The kernel's mask arithmetic on the host: the low 32 bits of `mix64(z)` from `z`'s 32-bit
    /// words, step for step as [`mix64_low_words`] computes it.
    fn mix64_low(z: u64) -> u32 {
        let (lo, hi) = (z as u32, (z >> 32) as u32);
        let mul_high = |a: u32, b: u32| {
            let (a0, a1, b0, b1) = (a & 0xffff, a >> 16, b & 0xffff, b >> 16);
            let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
            let mid = (p00 >> 16) + (p01 & 0xffff) + (p10 & 0xffff);
            p11.wrapping_add(p01 >> 16)
                .wrapping_add(p10 >> 16)
                .wrapping_add(mid >> 16)
        };
        let mul = |(lo, hi): (u32, u32), (m_lo, m_hi): (u32, u32)| {
            let high = mul_high(lo, m_lo)
                .wrapping_add(lo.wrapping_mul(m_hi))
                .wrapping_add(hi.wrapping_mul(m_lo));
            (lo.wrapping_mul(m_lo), high)
        };
        let lo0 = lo.wrapping_add(GOLDEN.0);
        let hi0 = hi.wrapping_add(GOLDEN.1).wrapping_add((lo0 < lo) as u32);
        let z1 = (lo0 ^ ((lo0 >> 30) | (hi0 << 2)), hi0 ^ (hi0 >> 30));
        let (lo2, hi2) = mul(z1, M1);
        let z3 = (lo2 ^ ((lo2 >> 27) | (hi2 << 5)), hi2 ^ (hi2 >> 27));
        let (lo4, hi4) = mul(z3, M2);
        lo4 ^ ((lo4 >> 31) | (hi4 << 1))
    }

    #[test]
    fn the_kernels_32_bit_mix_equals_mix64() {
        let mut rng = SplitMix::new(5);
        let edges = [
            0,
            1,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
            u64::MAX - 1,
        ];
        for z in edges.into_iter().chain((0..10_000).map(|_| rng.next_u64())) {
            assert_eq!(mix64_low(z), mix64(z) as u32, "z = {z:#x}");
        }
    }

    #[test]
    fn folding_moves_the_filter_constants_into_the_first_layer() {
        let (c, h) = (2, 3);
        let weights = NcaWeights {
            channels: c,
            hidden: h,
            steps: 1,
            fire_rate: 0.5,
            w1: (0..FILTERS * c * h).map(|i| i as f32).collect(),
            b1: vec![0.0; h],
            w2: vec![0.0; h * c],
        };
        let folded = fold_first_layer(&weights);
        // Identity row 0 minus Laplacian row 6; Sobel row 2 over 8; Laplacian row 7 over 16.
        assert_eq!(folded[0..3], [-18.0, -18.0, -18.0]);
        assert_eq!(folded[6..9], [0.75, 7.0 / 8.0, 1.0]);
        assert_eq!(folded[21..24], [21.0 / 16.0, 22.0 / 16.0, 23.0 / 16.0]);
    }
}
