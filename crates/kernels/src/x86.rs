//! AVX2 + FMA kernels (x86-64-v3) through `pulp`'s safe intrinsics. Everything runs inside
//! `V3::vectorize`, so the `#[inline(always)]` helpers are compiled with the features on.
//!
//! Integer products use `maddubs` (unsigned 8-bit weights x signed 8-bit activations, pairs
//! summed to 16 bits: at most 2 x 63 x 127, no saturation) and `madd` (to 32 bits), then one
//! float multiply-add per block with the product of the two scales.

use core::arch::x86_64::{__m128i, __m256, __m256i};

use pulp::x86::V3;
use pulp::{NullaryFnOnce, cast};

use crate::dequant::q4k_scale_min;
use crate::format::{Format, MatrixRef};
use crate::matmul::{ActRef, Activations};

/// Rows decoded together: their bytes stay in the L1 cache while every input vector passes.
const ROW_TILE: usize = 16;
/// Input vectors sharing one decoding of each weight block in a prompt.
const TOKEN_TILE: usize = 4;

pub(crate) fn matmul(simd: V3, w: &MatrixRef<'_>, x: &Activations, out: &mut [f32]) {
    struct Run<'a, 'b> {
        simd: V3,
        w: &'a MatrixRef<'b>,
        x: &'a Activations,
        out: &'a mut [f32],
    }
    impl NullaryFnOnce for Run<'_, '_> {
        type Output = ();
        #[inline(always)]
        fn call(self) {
            let Self { simd, w, x, out } = self;
            let halves = crate::half::f16_table();
            macro_rules! run {
                ($kernel:ident) => {{
                    let rows = w.rows();
                    for r0 in (0..rows).step_by(ROW_TILE) {
                        let r1 = (r0 + ROW_TILE).min(rows);
                        for t in 0..x.count() {
                            let a = x.vector(t);
                            let out = &mut out[t * rows..(t + 1) * rows];
                            for r in r0..r1 {
                                out[r] = $kernel(simd, halves, w.row(r), &a);
                            }
                        }
                    }
                }};
                // Several vectors: each block is decoded once for a tile of TOKEN_TILE vectors.
                ($kernel:ident, $tiled:ident) => {{
                    let rows = w.rows();
                    let tiles = x.count() / TOKEN_TILE;
                    for r0 in (0..rows).step_by(ROW_TILE) {
                        let r1 = (r0 + ROW_TILE).min(rows);
                        for tile in 0..tiles {
                            let t0 = tile * TOKEN_TILE;
                            let a: [ActRef<'_>; TOKEN_TILE] =
                                core::array::from_fn(|i| x.vector(t0 + i));
                            for r in r0..r1 {
                                let dots = $tiled(simd, halves, w.row(r), &a);
                                for (i, d) in dots.into_iter().enumerate() {
                                    out[(t0 + i) * rows + r] = d;
                                }
                            }
                        }
                        for t in tiles * TOKEN_TILE..x.count() {
                            let a = x.vector(t);
                            for r in r0..r1 {
                                out[t * rows + r] = $kernel(simd, halves, w.row(r), &a);
                            }
                        }
                    }
                }};
            }
            match w.format() {
                Format::F32 => run!(dot_f32),
                Format::F16 => run!(dot_f16_row),
                Format::BF16 => run!(dot_bf16),
                Format::Q4_0 => run!(dot_q4_0, dot_q4_0_tile),
                Format::Q4_1 => run!(dot_q4_1, dot_q4_1_tile),
                Format::Q8_0 => run!(dot_q8_0, dot_q8_0_tile),
                Format::Q4K => run!(dot_q4_k),
                Format::Q6K => run!(dot_q6_k),
            }
        }
    }
    simd.vectorize(Run { simd, w, x, out });
}

/// The table of every half's value ([`crate::half::f16_table`]).
type Halves = [f32; 65536];

/// The half stored little-endian at byte `at`, widened by table lookup.
#[inline(always)]
fn le_f16(halves: &Halves, bytes: &[u8], at: usize) -> f32 {
    halves[usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))]
}

#[inline(always)]
fn hsum(simd: V3, v: __m256) -> f32 {
    let lo = simd.avx._mm256_castps256_ps128(v);
    let hi = simd.avx._mm256_extractf128_ps::<1>(v);
    let s = simd.sse._mm_add_ps(lo, hi);
    let s = simd.sse._mm_add_ps(s, simd.sse._mm_movehl_ps(s, s));
    let s = simd.sse._mm_add_ss(s, simd.sse3._mm_movehdup_ps(s));
    simd.sse._mm_cvtss_f32(s)
}

/// The 32 nibbles of 16 bytes as bytes: low nibbles first, then high nibbles.
#[inline(always)]
fn nibbles(simd: V3, bytes: [u8; 16]) -> __m256i {
    let v: __m128i = cast(bytes);
    let hi = simd.sse2._mm_srli_epi16::<4>(v);
    let both = simd.avx._mm256_set_m128i(hi, v);
    simd.avx2
        ._mm256_and_si256(both, simd.avx._mm256_set1_epi8(0x0f))
}

/// Eight 32-bit sums of `u8 x i8` products.
#[inline(always)]
fn dot_u8_i8(simd: V3, unsigned: __m256i, signed: __m256i) -> __m256i {
    let pairs = simd.avx2._mm256_maddubs_epi16(unsigned, signed);
    simd.avx2
        ._mm256_madd_epi16(pairs, simd.avx._mm256_set1_epi16(1))
}

#[inline(always)]
fn dot_q4_0(simd: V3, halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (blocks, _) = row.as_chunks::<18>();
    let (qs, _) = a.q8.as_chunks::<32>();
    let mut acc = simd.avx._mm256_setzero_ps();
    let mut offset = 0.0f32;
    for (((w, q), &d), &sum) in blocks.iter().zip(qs).zip(a.q8_d).zip(a.q8_sum) {
        let scale = le_f16(halves, w, 0) * d;
        let ints = dot_u8_i8(simd, nibbles(simd, w[2..18].try_into().unwrap()), cast(*q));
        let ints = simd.avx._mm256_cvtepi32_ps(ints);
        acc = simd
            .fma
            ._mm256_fmadd_ps(simd.avx._mm256_set1_ps(scale), ints, acc);
        // Nibbles carry an offset of 8: subtract 8 x the activations' sum.
        offset += scale * sum as f32;
    }
    hsum(simd, acc) - 8.0 * offset
}

#[inline(always)]
fn dot_q4_1(simd: V3, halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (blocks, _) = row.as_chunks::<20>();
    let (qs, _) = a.q8.as_chunks::<32>();
    let mut acc = simd.avx._mm256_setzero_ps();
    let mut mins = 0.0f32;
    for (((w, q), &d), &s) in blocks.iter().zip(qs).zip(a.q8_d).zip(a.q8_s) {
        let ints = dot_u8_i8(simd, nibbles(simd, w[4..20].try_into().unwrap()), cast(*q));
        let ints = simd.avx._mm256_cvtepi32_ps(ints);
        let scale = simd.avx._mm256_set1_ps(le_f16(halves, w, 0) * d);
        acc = simd.fma._mm256_fmadd_ps(scale, ints, acc);
        mins += le_f16(halves, w, 2) * s;
    }
    hsum(simd, acc) + mins
}

#[inline(always)]
fn dot_q8_0(simd: V3, halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (blocks, _) = row.as_chunks::<34>();
    let (qs, _) = a.q8.as_chunks::<32>();
    let mut acc = simd.avx._mm256_setzero_ps();
    for ((w, q), &d) in blocks.iter().zip(qs).zip(a.q8_d) {
        let weights: __m256i = cast(<[u8; 32]>::try_from(&w[2..34]).unwrap());
        let acts: __m256i = cast(*q);
        // |w| x (a with w's sign): unsigned x signed, as maddubs wants.
        let magnitude = simd.avx2._mm256_sign_epi8(weights, weights);
        let signed = simd.avx2._mm256_sign_epi8(acts, weights);
        let ints = simd
            .avx
            ._mm256_cvtepi32_ps(dot_u8_i8(simd, magnitude, signed));
        let scale = simd.avx._mm256_set1_ps(le_f16(halves, w, 0) * d);
        acc = simd.fma._mm256_fmadd_ps(scale, ints, acc);
    }
    hsum(simd, acc)
}

/// [`dot_q4_0`] for [`TOKEN_TILE`] vectors at once.
#[inline(always)]
fn dot_q4_0_tile(
    simd: V3,
    halves: &Halves,
    row: &[u8],
    a: &[ActRef<'_>; TOKEN_TILE],
) -> [f32; TOKEN_TILE] {
    let (blocks, _) = row.as_chunks::<18>();
    let mut acc = [simd.avx._mm256_setzero_ps(); TOKEN_TILE];
    let mut offset = [0.0f32; TOKEN_TILE];
    for (b, w) in blocks.iter().enumerate() {
        let weights = nibbles(simd, w[2..18].try_into().unwrap());
        let d = le_f16(halves, w, 0);
        for t in 0..TOKEN_TILE {
            let q: &[i8; 32] = a[t].q8[32 * b..32 * b + 32].try_into().unwrap();
            let scale = d * a[t].q8_d[b];
            let ints = simd
                .avx
                ._mm256_cvtepi32_ps(dot_u8_i8(simd, weights, cast(*q)));
            acc[t] = simd
                .fma
                ._mm256_fmadd_ps(simd.avx._mm256_set1_ps(scale), ints, acc[t]);
            offset[t] += scale * a[t].q8_sum[b] as f32;
        }
    }
    core::array::from_fn(|t| hsum(simd, acc[t]) - 8.0 * offset[t])
}

/// [`dot_q4_1`] for [`TOKEN_TILE`] vectors at once.
#[inline(always)]
fn dot_q4_1_tile(
    simd: V3,
    halves: &Halves,
    row: &[u8],
    a: &[ActRef<'_>; TOKEN_TILE],
) -> [f32; TOKEN_TILE] {
    let (blocks, _) = row.as_chunks::<20>();
    let mut acc = [simd.avx._mm256_setzero_ps(); TOKEN_TILE];
    let mut mins = [0.0f32; TOKEN_TILE];
    for (b, w) in blocks.iter().enumerate() {
        let weights = nibbles(simd, w[4..20].try_into().unwrap());
        let (d, m) = (le_f16(halves, w, 0), le_f16(halves, w, 2));
        for t in 0..TOKEN_TILE {
            let q: &[i8; 32] = a[t].q8[32 * b..32 * b + 32].try_into().unwrap();
            let ints = simd
                .avx
                ._mm256_cvtepi32_ps(dot_u8_i8(simd, weights, cast(*q)));
            let scale = simd.avx._mm256_set1_ps(d * a[t].q8_d[b]);
            acc[t] = simd.fma._mm256_fmadd_ps(scale, ints, acc[t]);
            mins[t] += m * a[t].q8_s[b];
        }
    }
    core::array::from_fn(|t| hsum(simd, acc[t]) + mins[t])
}

/// [`dot_q8_0`] for [`TOKEN_TILE`] vectors at once.
#[inline(always)]
fn dot_q8_0_tile(
    simd: V3,
    halves: &Halves,
    row: &[u8],
    a: &[ActRef<'_>; TOKEN_TILE],
) -> [f32; TOKEN_TILE] {
    let (blocks, _) = row.as_chunks::<34>();
    let mut acc = [simd.avx._mm256_setzero_ps(); TOKEN_TILE];
    for (b, w) in blocks.iter().enumerate() {
        let weights: __m256i = cast(<[u8; 32]>::try_from(&w[2..34]).unwrap());
        let magnitude = simd.avx2._mm256_sign_epi8(weights, weights);
        let d = le_f16(halves, w, 0);
        for t in 0..TOKEN_TILE {
            let q: &[i8; 32] = a[t].q8[32 * b..32 * b + 32].try_into().unwrap();
            let signed = simd.avx2._mm256_sign_epi8(cast(*q), weights);
            let ints = simd
                .avx
                ._mm256_cvtepi32_ps(dot_u8_i8(simd, magnitude, signed));
            let scale = simd.avx._mm256_set1_ps(d * a[t].q8_d[b]);
            acc[t] = simd.fma._mm256_fmadd_ps(scale, ints, acc[t]);
        }
    }
    core::array::from_fn(|t| hsum(simd, acc[t]))
}

#[inline(always)]
fn dot_q4_k(simd: V3, halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (blocks, _) = row.as_chunks::<144>();
    let (qs, _) = a.qk.as_chunks::<256>();
    let (bsums, _) = a.qk_bsums.as_chunks::<16>();
    let low = simd.avx._mm256_set1_epi8(0x0f);
    let mut acc = simd.avx._mm256_setzero_ps();
    let mut mins_total = 0.0f32;
    for (((w, q), bsums), &d) in blocks.iter().zip(qs).zip(bsums).zip(a.qk_d) {
        let scales: &[u8; 12] = w[4..16].try_into().unwrap();
        let mut ints = simd.avx._mm256_setzero_si256();
        let mut mins = 0i32;
        for i in 0..4 {
            let (sc0, m0) = q4k_scale_min(scales, 2 * i);
            let (sc1, m1) = q4k_scale_min(scales, 2 * i + 1);
            let packed: __m256i = cast(<[u8; 32]>::try_from(&w[16 + 32 * i..48 + 32 * i]).unwrap());
            let lo = simd.avx2._mm256_and_si256(packed, low);
            let hi = simd
                .avx2
                ._mm256_and_si256(simd.avx2._mm256_srli_epi16::<4>(packed), low);
            let a0: __m256i = cast(<[i8; 32]>::try_from(&q[64 * i..64 * i + 32]).unwrap());
            let a1: __m256i = cast(<[i8; 32]>::try_from(&q[64 * i + 32..64 * i + 64]).unwrap());
            let p0 = simd.avx2._mm256_maddubs_epi16(lo, a0);
            let p1 = simd.avx2._mm256_maddubs_epi16(hi, a1);
            let p0 = simd
                .avx2
                ._mm256_madd_epi16(p0, simd.avx._mm256_set1_epi16(i16::from(sc0)));
            let p1 = simd
                .avx2
                ._mm256_madd_epi16(p1, simd.avx._mm256_set1_epi16(i16::from(sc1)));
            ints = simd
                .avx2
                ._mm256_add_epi32(ints, simd.avx2._mm256_add_epi32(p0, p1));
            let b = |g: usize| i32::from(bsums[g]);
            mins += i32::from(m0) * (b(4 * i) + b(4 * i + 1))
                + i32::from(m1) * (b(4 * i + 2) + b(4 * i + 3));
        }
        let scale = simd.avx._mm256_set1_ps(le_f16(halves, w, 0) * d);
        acc = simd
            .fma
            ._mm256_fmadd_ps(scale, simd.avx._mm256_cvtepi32_ps(ints), acc);
        mins_total += le_f16(halves, w, 2) * d * mins as f32;
    }
    hsum(simd, acc) - mins_total
}

#[inline(always)]
fn dot_q6_k(simd: V3, halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (blocks, _) = row.as_chunks::<210>();
    let (qs, _) = a.qk.as_chunks::<256>();
    let (bsums, _) = a.qk_bsums.as_chunks::<16>();
    let m4 = simd.avx._mm256_set1_epi8(0x0f);
    let m2 = simd.avx._mm256_set1_epi8(0x03);
    let mut acc = simd.avx._mm256_setzero_ps();
    let mut offset_total = 0.0f32;
    for (((w, q), bsums), &d) in blocks.iter().zip(qs).zip(bsums).zip(a.qk_d) {
        let sc = |g: usize| w[192 + g] as i8;
        let mut ints = simd.avx._mm256_setzero_si256();
        for half in 0..2 {
            let load =
                |at: usize| -> __m256i { cast(<[u8; 32]>::try_from(&w[at..at + 32]).unwrap()) };
            let (ql0, ql1, qh) = (load(64 * half), load(64 * half + 32), load(128 + 32 * half));
            let high = |shift: __m256i| {
                simd.avx2
                    ._mm256_slli_epi16::<4>(simd.avx2._mm256_and_si256(shift, m2))
            };
            let quads = [
                simd.avx2
                    ._mm256_or_si256(simd.avx2._mm256_and_si256(ql0, m4), high(qh)),
                simd.avx2._mm256_or_si256(
                    simd.avx2._mm256_and_si256(ql1, m4),
                    high(simd.avx2._mm256_srli_epi16::<2>(qh)),
                ),
                simd.avx2._mm256_or_si256(
                    simd.avx2
                        ._mm256_and_si256(simd.avx2._mm256_srli_epi16::<4>(ql0), m4),
                    high(simd.avx2._mm256_srli_epi16::<4>(qh)),
                ),
                simd.avx2._mm256_or_si256(
                    simd.avx2
                        ._mm256_and_si256(simd.avx2._mm256_srli_epi16::<4>(ql1), m4),
                    high(simd.avx2._mm256_srli_epi16::<6>(qh)),
                ),
            ];
            for (k, quad) in quads.into_iter().enumerate() {
                let at = 128 * half + 32 * k;
                let acts: __m256i = cast(<[i8; 32]>::try_from(&q[at..at + 32]).unwrap());
                let g = 8 * half + 2 * k;
                let scales = simd.avx._mm256_set_m128i(
                    simd.sse2._mm_set1_epi16(i16::from(sc(g + 1))),
                    simd.sse2._mm_set1_epi16(i16::from(sc(g))),
                );
                let pairs = simd.avx2._mm256_maddubs_epi16(quad, acts);
                ints = simd
                    .avx2
                    ._mm256_add_epi32(ints, simd.avx2._mm256_madd_epi16(pairs, scales));
            }
        }
        // The 6-bit values carry an offset of 32: subtract 32 x scale x sum per group of 16.
        let offset: i32 = (0..16)
            .map(|g| i32::from(sc(g)) * i32::from(bsums[g]))
            .sum();
        let scale = le_f16(halves, w, 208) * d;
        acc = simd.fma._mm256_fmadd_ps(
            simd.avx._mm256_set1_ps(scale),
            simd.avx._mm256_cvtepi32_ps(ints),
            acc,
        );
        offset_total += scale * (32 * offset) as f32;
    }
    hsum(simd, acc) - offset_total
}

#[inline(always)]
fn dot_f32(simd: V3, _halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (w8, w_rest) = row.as_chunks::<32>();
    let (x8, x_rest) = a.values.as_chunks::<8>();
    let mut acc = simd.avx._mm256_setzero_ps();
    for (w, x) in w8.iter().zip(x8) {
        acc = simd.fma._mm256_fmadd_ps(cast(*w), cast(*x), acc);
    }
    let tail: f32 = w_rest
        .chunks_exact(4)
        .zip(x_rest)
        .map(|(w, x)| f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * x)
        .sum();
    hsum(simd, acc) + tail
}

/// Eight halves (16 bytes) as floats, exactly (see [`crate::half::f16_to_f32`]).
#[inline(always)]
pub(crate) fn halves_to_f32(simd: V3, bytes: __m128i) -> __m256 {
    let wide = simd.avx2._mm256_cvtepu16_epi32(bytes);
    let magnitude = simd.avx2._mm256_slli_epi32::<13>(
        simd.avx2
            ._mm256_and_si256(wide, simd.avx._mm256_set1_epi32(0x7fff)),
    );
    let finite = simd.avx._mm256_mul_ps(
        simd.avx._mm256_castsi256_ps(magnitude),
        simd.avx._mm256_set1_ps(f32::from_bits(0x7780_0000)),
    );
    let special = simd
        .avx2
        ._mm256_cmpgt_epi32(magnitude, simd.avx._mm256_set1_epi32((0x7c00 << 13) - 1));
    let inf_nan = simd
        .avx2
        ._mm256_or_si256(magnitude, simd.avx._mm256_set1_epi32(0x7f80_0000));
    let value = simd.avx._mm256_blendv_ps(
        finite,
        simd.avx._mm256_castsi256_ps(inf_nan),
        simd.avx._mm256_castsi256_ps(special),
    );
    let sign = simd.avx2._mm256_slli_epi32::<16>(
        simd.avx2
            ._mm256_and_si256(wide, simd.avx._mm256_set1_epi32(0x8000)),
    );
    simd.avx
        ._mm256_or_ps(value, simd.avx._mm256_castsi256_ps(sign))
}

#[inline(always)]
fn dot_f16_row(simd: V3, _halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (w8, w_rest) = row.as_chunks::<16>();
    let (x8, x_rest) = a.values.as_chunks::<8>();
    let mut acc = simd.avx._mm256_setzero_ps();
    for (w, x) in w8.iter().zip(x8) {
        acc = simd
            .fma
            ._mm256_fmadd_ps(halves_to_f32(simd, cast(*w)), cast(*x), acc);
    }
    let tail: f32 = w_rest
        .chunks_exact(2)
        .zip(x_rest)
        .map(|(w, x)| crate::half::f16_to_f32(u16::from_le_bytes([w[0], w[1]])) * x)
        .sum();
    hsum(simd, acc) + tail
}

#[inline(always)]
fn dot_bf16(simd: V3, _halves: &Halves, row: &[u8], a: &ActRef<'_>) -> f32 {
    let (w8, w_rest) = row.as_chunks::<16>();
    let (x8, x_rest) = a.values.as_chunks::<8>();
    let mut acc = simd.avx._mm256_setzero_ps();
    for (w, x) in w8.iter().zip(x8) {
        let wide = simd.avx2._mm256_cvtepu16_epi32(cast(*w));
        let floats = simd
            .avx
            ._mm256_castsi256_ps(simd.avx2._mm256_slli_epi32::<16>(wide));
        acc = simd.fma._mm256_fmadd_ps(floats, cast(*x), acc);
    }
    let tail: f32 = w_rest
        .chunks_exact(2)
        .zip(x_rest)
        .map(|(w, x)| crate::half::bf16_to_f32(u16::from_le_bytes([w[0], w[1]])) * x)
        .sum();
    hsum(simd, acc) + tail
}

/// `dot(q, k)` with `k` in halves.
#[inline(always)]
pub(crate) fn dot_f32_f16(simd: V3, q: &[f32], k: &[u16]) -> f32 {
    let (q8, q_rest) = q.as_chunks::<8>();
    let (k8, k_rest) = k.as_chunks::<8>();
    let mut acc = simd.avx._mm256_setzero_ps();
    for (q, k) in q8.iter().zip(k8) {
        acc = simd
            .fma
            ._mm256_fmadd_ps(cast(*q), halves_to_f32(simd, cast(*k)), acc);
    }
    let tail: f32 = q_rest
        .iter()
        .zip(k_rest)
        .map(|(&q, &k)| q * crate::half::f16_to_f32(k))
        .sum();
    hsum(simd, acc) + tail
}

/// `out += weight * v` with `v` in halves.
#[inline(always)]
pub(crate) fn axpy_f16(simd: V3, out: &mut [f32], weight: f32, v: &[u16]) {
    let w = simd.avx._mm256_set1_ps(weight);
    let (o8, o_rest) = out.as_chunks_mut::<8>();
    let (v8, v_rest) = v.as_chunks::<8>();
    for (o, v) in o8.iter_mut().zip(v8) {
        let sum = simd
            .fma
            ._mm256_fmadd_ps(w, halves_to_f32(simd, cast(*v)), cast(*o));
        *o = cast(sum);
    }
    for (o, &v) in o_rest.iter_mut().zip(v_rest) {
        *o += weight * crate::half::f16_to_f32(v);
    }
}
