//! Portable dot products, one block at a time: the twins of the SIMD kernels (same integer
//! arithmetic, so only the order of float additions differs).

use crate::dequant::{q4k_scale_min, q6k_quads};
use crate::format::{Format, MatrixRef};
use crate::half::{bf16_to_f32, f16_to_f32, le_f16, le_u16};
use crate::matmul::{ActRef, Activations};

pub(crate) fn matmul(w: &MatrixRef<'_>, x: &Activations, out: &mut [f32]) {
    let rows = w.rows();
    for t in 0..x.count() {
        let a = x.vector(t);
        for (r, o) in out[t * rows..(t + 1) * rows].iter_mut().enumerate() {
            *o = dot(w.format(), w.row(r), &a);
        }
    }
}

/// Dot product of one row (in `format`) with one input vector.
pub(crate) fn dot(format: Format, row: &[u8], a: &ActRef<'_>) -> f32 {
    match format {
        Format::F32 => row
            .chunks_exact(4)
            .zip(a.values)
            .map(|(w, x)| f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * x)
            .sum(),
        Format::F16 => row
            .chunks_exact(2)
            .zip(a.values)
            .map(|(w, x)| f16_to_f32(le_u16(w, 0)) * x)
            .sum(),
        Format::BF16 => row
            .chunks_exact(2)
            .zip(a.values)
            .map(|(w, x)| bf16_to_f32(le_u16(w, 0)) * x)
            .sum(),
        Format::Q4_0 => row
            .chunks_exact(18)
            .enumerate()
            .map(|(b, w)| {
                let q = &a.q8[32 * b..32 * b + 32];
                let int = nibble_dot(&w[2..18], q) - 8 * a.q8_sum[b];
                le_f16(w, 0) * a.q8_d[b] * int as f32
            })
            .sum(),
        Format::Q4_1 => row
            .chunks_exact(20)
            .enumerate()
            .map(|(b, w)| {
                let q = &a.q8[32 * b..32 * b + 32];
                let int = nibble_dot(&w[4..20], q);
                le_f16(w, 0) * a.q8_d[b] * int as f32 + le_f16(w, 2) * a.q8_s[b]
            })
            .sum(),
        Format::Q8_0 => row
            .chunks_exact(34)
            .enumerate()
            .map(|(b, w)| {
                let q = &a.q8[32 * b..32 * b + 32];
                let int: i32 = w[2..34]
                    .iter()
                    .zip(q)
                    .map(|(&w, &q)| i32::from(w as i8) * i32::from(q))
                    .sum();
                le_f16(w, 0) * a.q8_d[b] * int as f32
            })
            .sum(),
        Format::Q4K => row
            .chunks_exact(144)
            .enumerate()
            .map(|(b, w)| {
                let q = &a.qk[256 * b..256 * b + 256];
                let bsums = &a.qk_bsums[16 * b..16 * b + 16];
                let scales: &[u8; 12] = w[4..16].try_into().expect("12 bytes");
                let (mut int, mut mins) = (0i32, 0i32);
                for j in 0..8 {
                    let (sc, m) = q4k_scale_min(scales, j);
                    let (chunk, high) = (j / 2, j % 2 == 1);
                    let qs = &w[16 + 32 * chunk..16 + 32 * chunk + 32];
                    let sub: i32 = qs
                        .iter()
                        .zip(&q[32 * j..32 * j + 32])
                        .map(|(&byte, &q)| {
                            let nib = if high { byte >> 4 } else { byte & 15 };
                            i32::from(nib) * i32::from(q)
                        })
                        .sum();
                    int += i32::from(sc) * sub;
                    mins += i32::from(m) * (i32::from(bsums[2 * j]) + i32::from(bsums[2 * j + 1]));
                }
                let d = a.qk_d[b];
                le_f16(w, 0) * d * int as f32 - le_f16(w, 2) * d * mins as f32
            })
            .sum(),
        Format::Q6K => row
            .chunks_exact(210)
            .enumerate()
            .map(|(b, w)| {
                let q = &a.qk[256 * b..256 * b + 256];
                let mut int = 0i32;
                for half in 0..2 {
                    let ql = &w[64 * half..64 * half + 64];
                    let qh = &w[128 + 32 * half..128 + 32 * half + 32];
                    let sc = &w[192 + 8 * half..192 + 8 * half + 8];
                    let q = &q[128 * half..128 * half + 128];
                    for l in 0..32 {
                        for (k, v) in q6k_quads(ql, qh, l).into_iter().enumerate() {
                            let scale = i32::from(sc[l / 16 + 2 * k] as i8);
                            int += scale * i32::from(v) * i32::from(q[l + 32 * k]);
                        }
                    }
                }
                le_f16(w, 208) * a.qk_d[b] * int as f32
            })
            .sum(),
    }
}

/// Sum of nibble x 8-bit products over a 32-weight block: low nibbles are weights 0..16, high
/// nibbles 16..32.
fn nibble_dot(qs: &[u8], q: &[i8]) -> i32 {
    qs.iter()
        .enumerate()
        .map(|(j, &byte)| {
            i32::from(byte & 15) * i32::from(q[j]) + i32::from(byte >> 4) * i32::from(q[j + 16])
        })
        .sum()
}
