//! Encoding: weights into block formats (plain round-to-nearest encoders for tests and tools,
//! not llama.cpp's error-minimising ones) and activations into the 8-bit blocks the fused
//! products read.
//!
//! Activations follow llama.cpp's CPU path, so the integer dot products see the same numbers:
//! blocks of 32 with `d = max|x| / 127`, `q = round_ties_even(x * 127 / max|x|)`, `d` and
//! `d * sum(q)` stored as halves (`Q8_0`/`Q8_1`); super-blocks of 256 with `d = max / -127` taken
//! from the signed value of largest magnitude, `q = min(127, round(x / d))` and sums of 16
//! (`Q8_K`).

use crate::dequant::q4k_scale_min;
use crate::format::Format;
use crate::half::{f32_to_bf16, f32_to_f16, round_to_f16};

/// `x` rounded to the nearest integer, ties to even, for `|x| < 2^22`: adding and removing
/// 1.5 x 2^23 leaves no fraction bits, and IEEE addition rounds ties to even. (What
/// `round_ties_even` computes, without the library call it becomes on baseline x86-64.)
#[inline]
fn round_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// 8-bit blocks of 32 (one input vector, or several back to back).
#[derive(Clone, Debug, Default)]
pub struct Q8Blocks {
    /// The quantized values.
    pub qs: Vec<i8>,
    /// Scale per block (rounded to a half, as llama.cpp stores it).
    pub d: Vec<f32>,
    /// `d * sum(q)` per block, rounded to a half (llama.cpp's `Q8_1`).
    pub s: Vec<f32>,
    /// `sum(q)` per block, exact.
    pub sum: Vec<i32>,
}

impl Q8Blocks {
    /// Quantizes `x` (a multiple of 32 long), reusing the buffers.
    pub fn quantize(&mut self, x: &[f32]) {
        let blocks = x.len() / 32;
        assert_eq!(
            blocks * 32,
            x.len(),
            "Q8 input is not a whole number of blocks"
        );
        self.qs.resize(x.len(), 0);
        self.d.resize(blocks, 0.0);
        self.s.resize(blocks, 0.0);
        self.sum.resize(blocks, 0);
        for (b, (x, qs)) in x
            .chunks_exact(32)
            .zip(self.qs.chunks_exact_mut(32))
            .enumerate()
        {
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let mut sum = 0;
            for (q, &v) in qs.iter_mut().zip(x) {
                *q = round_even(v * id) as i8;
                sum += i32::from(*q);
            }
            self.d[b] = round_to_f16(d);
            self.s[b] = round_to_f16(d * sum as f32);
            self.sum[b] = sum;
        }
    }
}

/// 8-bit super-blocks of 256 (llama.cpp's `Q8_K`), for the K formats.
#[derive(Clone, Debug, Default)]
pub struct Q8KBlocks {
    /// The quantized values.
    pub qs: Vec<i8>,
    /// Scale per super-block.
    pub d: Vec<f32>,
    /// Sums of each 16 values.
    pub bsums: Vec<i16>,
}

impl Q8KBlocks {
    /// Quantizes `x` (a multiple of 256 long), reusing the buffers.
    pub fn quantize(&mut self, x: &[f32]) {
        let blocks = x.len() / 256;
        assert_eq!(
            blocks * 256,
            x.len(),
            "Q8_K input is not a whole number of blocks"
        );
        self.qs.resize(x.len(), 0);
        self.d.resize(blocks, 0.0);
        self.bsums.resize(x.len() / 16, 0);
        for (b, (x, qs)) in x
            .chunks_exact(256)
            .zip(self.qs.chunks_exact_mut(256))
            .enumerate()
        {
            let (mut amax, mut max) = (0.0f32, 0.0f32);
            for &v in x {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            if amax == 0.0 {
                qs.fill(0);
                self.d[b] = 0.0;
                self.bsums[b * 16..b * 16 + 16].fill(0);
                continue;
            }
            let iscale = -127.0 / max;
            for (q, &v) in qs.iter_mut().zip(x) {
                *q = (round_even(iscale * v) as i32).min(127) as i8;
            }
            for (g, sum) in self.bsums[b * 16..b * 16 + 16].iter_mut().enumerate() {
                *sum = qs[g * 16..g * 16 + 16].iter().map(|&q| i16::from(q)).sum();
            }
            self.d[b] = 1.0 / iscale;
        }
    }
}

/// Encodes one row of weights (`x.len()` a whole number of blocks) in `format`.
///
/// # Panics
/// If `x` is not a whole number of blocks.
pub fn quantize_row(format: Format, x: &[f32]) -> Vec<u8> {
    let n = format.block_len();
    assert_eq!(
        x.len() % n,
        0,
        "{} weights are not whole {} blocks",
        x.len(),
        format.name()
    );
    let mut out = Vec::with_capacity(x.len() / n * format.block_bytes());
    for block in x.chunks_exact(n) {
        match format {
            Format::F32 => out.extend(block[0].to_le_bytes()),
            Format::F16 => out.extend(f32_to_f16(block[0]).to_le_bytes()),
            Format::BF16 => out.extend(f32_to_bf16(block[0]).to_le_bytes()),
            Format::Q4_0 => q4_0(block, &mut out),
            Format::Q4_1 => q4_1(block, &mut out),
            Format::Q8_0 => q8_0(block, &mut out),
            Format::Q4K => q4_k(block, &mut out),
            Format::Q6K => q6_k(block, &mut out),
        }
    }
    out
}

fn half_bytes(x: f32) -> [u8; 2] {
    f32_to_f16(x).to_le_bytes()
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

fn q4_0(x: &[f32], out: &mut Vec<u8>) {
    // The value of largest magnitude maps to -8, so the full range -8..=7 is used.
    let max = x
        .iter()
        .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    let d = max / -8.0;
    let id = inverse(d);
    out.extend(half_bytes(d));
    let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | q(x[j + 16]) << 4));
}

fn q4_1(x: &[f32], out: &mut Vec<u8>) {
    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    out.extend(half_bytes(d));
    out.extend(half_bytes(min));
    let q = |v: f32| (((v - min) * id + 0.5) as i32).clamp(0, 15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | q(x[j + 16]) << 4));
}

fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    out.extend(half_bytes(d));
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

fn q4_k(x: &[f32], out: &mut Vec<u8>) {
    // Per sub-block: an offset (the minimum, if negative) and a step, then both quantized to
    // 6 bits against the super-block's largest.
    let mut steps = [0.0f32; 8];
    let mut offsets = [0.0f32; 8];
    for (j, sub) in x.chunks_exact(32).enumerate() {
        let min = sub.iter().copied().fold(0.0f32, f32::min);
        let max = sub.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        steps[j] = (max - min) / 15.0;
        offsets[j] = -min;
    }
    let d = round_to_f16(steps.iter().copied().fold(0.0, f32::max) / 63.0);
    let dmin = round_to_f16(offsets.iter().copied().fold(0.0, f32::max) / 63.0);
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..8 {
        sc[j] = ((steps[j] * inverse(d)).round() as i32).clamp(0, 63) as u8;
        m[j] = ((offsets[j] * inverse(dmin)).round() as i32).clamp(0, 63) as u8;
    }
    let mut scales = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            scales[j] |= sc[j];
            scales[j + 4] |= m[j];
        } else {
            scales[j + 4] = (sc[j] & 15) | (m[j] & 15) << 4;
            scales[j - 4] |= (sc[j] >> 4) << 6;
            scales[j] |= (m[j] >> 4) << 6;
        }
    }
    debug_assert!((0..8).all(|j| q4k_scale_min(&scales, j) == (sc[j], m[j])));
    out.extend(half_bytes(d));
    out.extend(half_bytes(dmin));
    out.extend(scales);
    let q = |v: f32, j: usize| {
        let step = d * f32::from(sc[j]);
        ((v + dmin * f32::from(m[j])) * inverse(step))
            .round()
            .clamp(0.0, 15.0) as u8
    };
    for i in 0..4 {
        out.extend(
            (0..32).map(|l| q(x[64 * i + l], 2 * i) | q(x[64 * i + 32 + l], 2 * i + 1) << 4),
        );
    }
}

fn q6_k(x: &[f32], out: &mut Vec<u8>) {
    let mut group_scale = [0.0f32; 16];
    for (g, group) in x.chunks_exact(16).enumerate() {
        group_scale[g] = group.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 31.0;
    }
    let d = round_to_f16(group_scale.iter().copied().fold(0.0, f32::max) / 127.0);
    let sc: Vec<i8> = group_scale
        .iter()
        .map(|s| ((s * inverse(d)).round() as i32).clamp(-128, 127) as i8)
        .collect();
    let q: Vec<u8> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let step = d * f32::from(sc[i / 16]);
            (((v * inverse(step)).round() as i32).clamp(-32, 31) + 32) as u8
        })
        .collect();
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for half in 0..2 {
        let q = &q[128 * half..];
        for l in 0..32 {
            ql[64 * half + l] = (q[l] & 15) | (q[l + 64] & 15) << 4;
            ql[64 * half + l + 32] = (q[l + 32] & 15) | (q[l + 96] & 15) << 4;
            qh[32 * half + l] =
                (q[l] >> 4) | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6;
        }
    }
    out.extend(ql);
    out.extend(qh);
    out.extend(sc.iter().map(|&s| s as u8));
    out.extend(half_bytes(d));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dequant::dequantize_to_vec;

    /// A deterministic spread of values with a few outliers, like real weights.
    pub(crate) fn wavy(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = (i as f32 + seed as f32 * 7.3) * 0.61;
                t.sin() * 0.8 + (t * 2.7).cos() * 0.3 + if i % 37 == 5 { 2.0 } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn weights_survive_a_round_trip_within_the_format_step() {
        let x = wavy(512, 1);
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // Worst error as a fraction of the largest weight, per format.
        for (format, bound) in [
            (Format::F32, 0.0),
            (Format::F16, 1e-3),
            (Format::BF16, 4e-3),
            (Format::Q8_0, 0.01),
            (Format::Q4_0, 0.13),
            (Format::Q4_1, 0.13),
            (Format::Q4K, 0.13),
            (Format::Q6K, 0.04),
        ] {
            let bytes = quantize_row(format, &x);
            assert_eq!(
                Some(bytes.len()),
                format.row_bytes(x.len()),
                "{}",
                format.name()
            );
            let y = dequantize_to_vec(format, &bytes, x.len());
            let worst = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= bound * amax, "{}: error {worst}", format.name());
            if format != Format::F32 {
                assert!(worst > 0.0, "{}: suspiciously exact", format.name());
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        for (x, want) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (126.49, 126.0),
            (-126.51, -127.0),
        ] {
            assert_eq!(round_even(x), want, "{x}");
            assert_eq!(round_even(x), x.round_ties_even(), "{x}");
        }
    }

    #[test]
    fn activations_match_llama_cpp_rules() {
        let mut x = wavy(256, 3);
        x[10] = -4.0;
        let mut q8 = Q8Blocks::default();
        q8.quantize(&x);
        // Block 0 has the -4.0: d = 4/127, and -4.0 maps to -127.
        assert_eq!(q8.d[0], round_to_f16(4.0 / 127.0));
        assert_eq!(q8.qs[10], -127);
        assert_eq!(
            q8.sum[0],
            q8.qs[..32].iter().map(|&q| i32::from(q)).sum::<i32>()
        );
        for (b, block) in x.chunks_exact(32).enumerate() {
            for (j, &v) in block.iter().enumerate() {
                let back = f32::from(q8.qs[b * 32 + j]) * q8.d[b];
                assert!((back - v).abs() <= q8.d[b] * 0.51 + 1e-3, "{b} {j}");
            }
        }
        let mut qk = Q8KBlocks::default();
        qk.quantize(&x);
        // The largest magnitude is -4.0: d = -4/-127 > 0 and it maps to -127.
        assert_eq!(qk.d[0], 4.0 / 127.0);
        assert_eq!(qk.qs[10], -127);
        assert_eq!(
            qk.bsums[0],
            qk.qs[..16].iter().map(|&q| i16::from(q)).sum::<i16>()
        );
        // A positive maximum maps to -127 * -1 = 127 with a negative d.
        let mut y = vec![0.5f32; 256];
        y[0] = 2.0;
        qk.quantize(&y);
        assert_eq!((qk.qs[0], qk.d[0]), (-127, -2.0 / 127.0));
        // All zeros: zero scale, zero sums.
        qk.quantize(&[0.0; 256]);
        assert_eq!((qk.d[0], qk.bsums[3]), (0.0, 0));
    }
}
