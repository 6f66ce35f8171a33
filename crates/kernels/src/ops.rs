//! The rest of a Llama layer on plain slices: RMSNorm, rotary position encoding (both layouts),
//! SwiGLU, softmax, and grouped-query attention over a key/value cache stored as halves.
//! Numerics follow llama.cpp's CPU path where it matters for matching its output (RMSNorm sums
//! in `f64`; rotary angles by repeated multiplication).

use crate::half::{f16_to_f32, f32_to_f16};

/// `out = x / sqrt(mean(x^2) + eps) * weight`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| f64::from(v * v)).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// How a head's dimensions pair up for rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs `(2i, 2i + 1)`: GGUF files (llama.cpp's converter permutes Q and K to this).
    Interleaved,
    /// Pairs `(i, i + d/2)`: Hugging Face files ("rotate half").
    Halves,
}

/// Cosines and sines of position `pos` for the `cos.len()` rotation frequencies
/// `base^(-2i/head_dim)`, each divided by its factor in `factors` when given (Llama 3's
/// scaling), computed as llama.cpp does (the angle multiplied down step by step).
pub fn rope_angles(
    pos: usize,
    base: f32,
    head_dim: usize,
    factors: Option<&[f32]>,
    cos: &mut [f32],
    sin: &mut [f32],
) {
    let step = base.powf(-2.0 / head_dim as f32);
    let mut theta = pos as f32;
    for (i, (c, s)) in cos.iter_mut().zip(sin.iter_mut()).enumerate() {
        let angle = factors.map_or(theta, |f| theta / f[i]);
        (*s, *c) = angle.sin_cos();
        theta *= step;
    }
}

/// Rotates every head of `x` (heads of `2 * cos.len()` values, back to back) in place.
pub fn rope_rotate(x: &mut [f32], layout: RopeLayout, cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for head in x.chunks_exact_mut(2 * half) {
        for (i, (&c, &s)) in cos.iter().zip(sin).enumerate() {
            let (a, b) = match layout {
                RopeLayout::Interleaved => (2 * i, 2 * i + 1),
                RopeLayout::Halves => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

/// `gate = silu(gate) * up` (SwiGLU).
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// In-place softmax (max-subtracted, so large values do not overflow).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Writes `src` as halves into `dst`.
pub fn store_f16(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32_to_f16(s);
    }
}

/// Head counts and size for [`attention`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (`heads` is a multiple; each serves `heads / kv_heads` query heads).
    pub kv_heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// Grouped-query attention of one position: for each query head `h` (in `q`, heads back to
/// back), softmax of `q_h . k_p / sqrt(head_dim)` over the `len` cached positions `p`, then
/// the weighted sum of their values, into `out` (heads back to back). `keys` and `values` hold
/// `len` positions of `kv_heads * head_dim` halves. `scores` is scratch, at least `len` long.
///
/// # Panics
/// If a slice is shorter than the shape and `len` need.
pub fn attention(
    shape: AttentionShape,
    q: &[f32],
    keys: &[u16],
    values: &[u16],
    len: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let kv_dim = shape.kv_heads * shape.head_dim;
    assert!(q.len() >= shape.heads * shape.head_dim && out.len() >= q.len());
    assert!(keys.len() >= len * kv_dim && values.len() >= len * kv_dim && scores.len() >= len);
    assert!(shape.kv_heads > 0 && shape.heads.is_multiple_of(shape.kv_heads));
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        struct Run<'a> {
            simd: pulp::x86::V3,
            args: Args<'a>,
        }
        impl pulp::NullaryFnOnce for Run<'_> {
            type Output = ();
            #[inline(always)]
            fn call(self) {
                attend(self.simd, self.args);
            }
        }
        let args = Args {
            shape,
            q,
            keys,
            values,
            len,
            scores,
            out,
        };
        simd.vectorize(Run { simd, args });
        return;
    }
    attention_portable(shape, q, keys, values, len, scores, out);
}

/// [`attention`] without SIMD, for tests.
pub fn attention_portable(
    shape: AttentionShape,
    q: &[f32],
    keys: &[u16],
    values: &[u16],
    len: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let args = Args {
        shape,
        q,
        keys,
        values,
        len,
        scores,
        out,
    };
    attend(Portable, args);
}

struct Args<'a> {
    shape: AttentionShape,
    q: &'a [f32],
    keys: &'a [u16],
    values: &'a [u16],
    len: usize,
    scores: &'a mut [f32],
    out: &'a mut [f32],
}

/// The two half-precision loops attention needs.
trait HalfOps: Copy {
    fn dot(self, q: &[f32], k: &[u16]) -> f32;
    fn axpy(self, out: &mut [f32], weight: f32, v: &[u16]);
}

#[derive(Clone, Copy)]
struct Portable;

impl HalfOps for Portable {
    fn dot(self, q: &[f32], k: &[u16]) -> f32 {
        q.iter().zip(k).map(|(&q, &k)| q * f16_to_f32(k)).sum()
    }
    fn axpy(self, out: &mut [f32], weight: f32, v: &[u16]) {
        for (o, &v) in out.iter_mut().zip(v) {
            *o += weight * f16_to_f32(v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl HalfOps for pulp::x86::V3 {
    #[inline(always)]
    fn dot(self, q: &[f32], k: &[u16]) -> f32 {
        crate::x86::dot_f32_f16(self, q, k)
    }
    #[inline(always)]
    fn axpy(self, out: &mut [f32], weight: f32, v: &[u16]) {
        crate::x86::axpy_f16(self, out, weight, v);
    }
}

#[inline(always)]
fn attend(ops: impl HalfOps, args: Args<'_>) {
    let Args {
        shape,
        q,
        keys,
        values,
        len,
        scores,
        out,
    } = args;
    let d = shape.head_dim;
    let kv_dim = shape.kv_heads * d;
    let group = shape.heads / shape.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let scores = &mut scores[..len];
    for h in 0..shape.heads {
        let kv = (h / group) * d;
        let qh = &q[h * d..(h + 1) * d];
        for (p, s) in scores.iter_mut().enumerate() {
            *s = ops.dot(qh, &keys[p * kv_dim + kv..p * kv_dim + kv + d]) * scale;
        }
        softmax(scores);
        let oh = &mut out[h * d..(h + 1) * d];
        oh.fill(0.0);
        for (p, &s) in scores.iter().enumerate() {
            ops.axpy(oh, s, &values[p * kv_dim + kv..p * kv_dim + kv + d]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_scales_to_unit_root_mean_square() {
        let x = [3.0, -4.0, 0.0, 0.0];
        let mut out = [0.0; 4];
        rms_norm(&x, &[1.0, 2.0, 1.0, 1.0], 0.0, &mut out);
        // rms = sqrt(25 / 4) = 2.5.
        assert_eq!(out, [1.2, -3.2, 0.0, 0.0]);
    }

    #[test]
    fn rope_layouts_rotate_the_same_pairs_after_the_converters_permutation() {
        let head_dim = 8;
        let mut cos = [0.0; 4];
        let mut sin = [0.0; 4];
        rope_angles(5, 10_000.0, head_dim, None, &mut cos, &mut sin);
        // Frequency i is 10000^(-2i/8); angle = 5 * that.
        for i in 0..4 {
            let angle = 5.0 * 10_000f64.powf(-2.0 * i as f64 / 8.0);
            assert!((f64::from(cos[i]) - angle.cos()).abs() < 1e-5);
            assert!((f64::from(sin[i]) - angle.sin()).abs() < 1e-5);
        }
        let x: Vec<f32> = (0..8).map(|i| i as f32 + 1.0).collect();
        let mut halves = x.clone();
        rope_rotate(&mut halves, RopeLayout::Halves, &cos, &sin);
        // Permute as llama.cpp's converter does: row 2i <- i, row 2i + 1 <- i + d/2.
        let mut interleaved: Vec<f32> = (0..8).map(|j| x[j / 2 + (j % 2) * 4]).collect();
        rope_rotate(&mut interleaved, RopeLayout::Interleaved, &cos, &sin);
        for j in 0..8 {
            assert_eq!(interleaved[j], halves[j / 2 + (j % 2) * 4]);
        }
        // Position 0 is the identity; rotations keep the norm.
        let mut same = x.clone();
        rope_angles(0, 10_000.0, head_dim, None, &mut cos, &mut sin);
        rope_rotate(&mut same, RopeLayout::Interleaved, &cos, &sin);
        assert_eq!(same, x);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&halves) - norm(&x)).abs() < 1e-3);
        // A factor of 2 halves that frequency's angle.
        let mut scaled_cos = [0.0; 4];
        rope_angles(
            5,
            10_000.0,
            head_dim,
            Some(&[1.0, 1.0, 1.0, 2.0]),
            &mut scaled_cos,
            &mut sin,
        );
        let angle = 2.5 * 10_000f64.powf(-6.0 / 8.0);
        assert!((f64::from(scaled_cos[3]) - angle.cos()).abs() < 1e-5);
    }

    #[test]
    fn silu_and_softmax() {
        let mut g = [0.0, 1.0, -2.0];
        silu_mul(&mut g, &[1.0, 2.0, 1.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 2.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
        assert!((g[2] + 2.0 / (1.0 + 2f32.exp())).abs() < 1e-6);
        let mut s = [1000.0, 1000.0, f32::NEG_INFINITY];
        softmax(&mut s);
        assert_eq!(s, [0.5, 0.5, 0.0]);
    }

    /// Attention against a direct f64 computation, with two query heads per key/value head and
    /// head sizes that exercise both the SIMD body and its tail.
    #[test]
    fn grouped_query_attention_matches_a_direct_computation() {
        for head_dim in [16, 12] {
            let shape = AttentionShape {
                heads: 4,
                kv_heads: 2,
                head_dim,
            };
            let len = 7;
            let kv_dim = 2 * head_dim;
            let wave = |i: usize, k: f32| (i as f32 * k).sin() * 1.5;
            let q: Vec<f32> = (0..4 * head_dim).map(|i| wave(i, 0.37)).collect();
            let kf: Vec<f32> = (0..len * kv_dim).map(|i| wave(i, 0.91)).collect();
            let vf: Vec<f32> = (0..len * kv_dim).map(|i| wave(i, 1.73)).collect();
            let mut keys = vec![0; kf.len()];
            let mut values = vec![0; vf.len()];
            store_f16(&kf, &mut keys);
            store_f16(&vf, &mut values);
            let mut scores = vec![0.0; len];
            let mut fast = vec![0.0; q.len()];
            let mut portable = vec![0.0; q.len()];
            attention(shape, &q, &keys, &values, len, &mut scores, &mut fast);
            attention_portable(shape, &q, &keys, &values, len, &mut scores, &mut portable);
            for h in 0..4 {
                let g = h / 2;
                let k =
                    |p: usize, i: usize| f64::from(f16_to_f32(keys[p * kv_dim + g * head_dim + i]));
                let v = |p: usize, i: usize| {
                    f64::from(f16_to_f32(values[p * kv_dim + g * head_dim + i]))
                };
                let logits: Vec<f64> = (0..len)
                    .map(|p| {
                        (0..head_dim)
                            .map(|i| f64::from(q[h * head_dim + i]) * k(p, i))
                            .sum::<f64>()
                            / (head_dim as f64).sqrt()
                    })
                    .collect();
                let max = logits.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                let total: f64 = e.iter().sum();
                for i in 0..head_dim {
                    let want: f64 = (0..len).map(|p| e[p] / total * v(p, i)).sum();
                    for got in [fast[h * head_dim + i], portable[h * head_dim + i]] {
                        assert!(
                            (f64::from(got) - want).abs() < 1e-5,
                            "head {h} dim {i}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
