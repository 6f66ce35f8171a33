//! Decoding GGML blocks to `f32`, written from the block layouts (see [`crate::format`]); the
//! plain reference that the fused products are tested against, and the embedding lookup.
//!
//! `Q4_K`: a super-block of 256 weights has a scale `d` and a minimum scale `dmin` (halves) and
//! eight sub-blocks of 32 with a 6-bit scale `sc` and 6-bit minimum `m` each, packed in 12
//! bytes: for sub-block `j < 4`, `sc = scales[j] & 63` and `m = scales[j + 4] & 63`; for
//! `j >= 4`, the low 4 bits come from `scales[j + 4]` (low nibble for `sc`, high for `m`) and the
//! top 2 bits from the top bits of `scales[j - 4]` (for `sc`) and `scales[j]` (for `m`). A weight
//! is `d * sc * q - dmin * m`. The 128 bytes of `qs` hold 64 weights per 32 bytes: the low
//! nibbles are sub-block `2i`, the high nibbles sub-block `2i + 1`.
//!
//! `Q6_K`: 256 weights of 6 bits in two halves of 128. In a half, `ql` has 64 bytes and `qh` 32;
//! for `l < 32`, weight `l` is `ql[l] & 15 | (qh[l] & 3) << 4`, weight `l + 32` is
//! `ql[l + 32] & 15 | (qh[l] >> 2 & 3) << 4`, weight `l + 64` is `ql[l] >> 4 | (qh[l] >> 4 & 3) << 4`
//! and weight `l + 96` is `ql[l + 32] >> 4 | (qh[l] >> 6) << 4`, each minus 32, times `d` and the
//! signed 8-bit scale of its group of 16.

use crate::format::Format;
use crate::half::{bf16_to_f32, f16_to_f32, le_f16, le_u16};

/// Decodes the blocks in `bytes` (format `format`) into `out`.
///
/// # Panics
/// If `bytes` is not exactly the size of `out.len()` weights; [`crate::MatrixRef`] checks this
/// for whole matrices.
pub fn dequantize(format: Format, bytes: &[u8], out: &mut [f32]) {
    assert_eq!(
        format.row_bytes(out.len()),
        Some(bytes.len()),
        "{} bytes do not hold {} {} weights",
        bytes.len(),
        out.len(),
        format.name()
    );
    let n = format.block_len();
    let blocks = bytes
        .chunks_exact(format.block_bytes())
        .zip(out.chunks_exact_mut(n));
    match format {
        Format::F32 => {
            for (b, o) in blocks {
                o[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Format::F16 => {
            for (b, o) in blocks {
                o[0] = f16_to_f32(le_u16(b, 0));
            }
        }
        Format::BF16 => {
            for (b, o) in blocks {
                o[0] = bf16_to_f32(le_u16(b, 0));
            }
        }
        Format::Q4_0 => {
            for (b, o) in blocks {
                let d = le_f16(b, 0);
                for (j, &q) in b[2..18].iter().enumerate() {
                    o[j] = (i32::from(q & 15) - 8) as f32 * d;
                    o[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
                }
            }
        }
        Format::Q4_1 => {
            for (b, o) in blocks {
                let (d, m) = (le_f16(b, 0), le_f16(b, 2));
                for (j, &q) in b[4..20].iter().enumerate() {
                    o[j] = f32::from(q & 15) * d + m;
                    o[j + 16] = f32::from(q >> 4) * d + m;
                }
            }
        }
        Format::Q8_0 => {
            for (b, o) in blocks {
                let d = le_f16(b, 0);
                for (o, &q) in o.iter_mut().zip(&b[2..34]) {
                    *o = f32::from(q as i8) * d;
                }
            }
        }
        Format::Q4K => {
            for (b, o) in blocks {
                let (d, dmin) = (le_f16(b, 0), le_f16(b, 2));
                let scales: &[u8; 12] = b[4..16].try_into().expect("12 bytes");
                let qs = &b[16..144];
                for i in 0..4 {
                    let (sc0, m0) = q4k_scale_min(scales, 2 * i);
                    let (sc1, m1) = q4k_scale_min(scales, 2 * i + 1);
                    let (d0, d1) = (d * f32::from(sc0), d * f32::from(sc1));
                    let (m0, m1) = (dmin * f32::from(m0), dmin * f32::from(m1));
                    for (l, &q) in qs[32 * i..32 * i + 32].iter().enumerate() {
                        o[64 * i + l] = d0 * f32::from(q & 15) - m0;
                        o[64 * i + 32 + l] = d1 * f32::from(q >> 4) - m1;
                    }
                }
            }
        }
        Format::Q6K => {
            for (b, o) in blocks {
                let d = le_f16(b, 208);
                for half in 0..2 {
                    let ql = &b[64 * half..64 * half + 64];
                    let qh = &b[128 + 32 * half..128 + 32 * half + 32];
                    let sc = &b[192 + 8 * half..192 + 8 * half + 8];
                    let o = &mut o[128 * half..128 * half + 128];
                    for l in 0..32 {
                        let g = l / 16;
                        let q = q6k_quads(ql, qh, l);
                        for (k, q) in q.into_iter().enumerate() {
                            o[l + 32 * k] = d * f32::from(sc[g + 2 * k] as i8) * f32::from(q);
                        }
                    }
                }
            }
        }
    }
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) of a `Q4_K` super-block.
#[inline]
pub fn q4k_scale_min(scales: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

/// The four signed 6-bit weights `l`, `l + 32`, `l + 64`, `l + 96` of a `Q6_K` half.
#[inline]
pub(crate) fn q6k_quads(ql: &[u8], qh: &[u8], l: usize) -> [i8; 4] {
    let h = qh[l];
    [
        ((ql[l] & 15) | ((h & 3) << 4)) as i8 - 32,
        ((ql[l + 32] & 15) | (((h >> 2) & 3) << 4)) as i8 - 32,
        ((ql[l] >> 4) | (((h >> 4) & 3) << 4)) as i8 - 32,
        ((ql[l + 32] >> 4) | ((h >> 6) << 4)) as i8 - 32,
    ]
}

/// Decodes a whole row into a new vector (tools and loaders; the engines decode in place).
pub fn dequantize_to_vec(format: Format, bytes: &[u8], len: usize) -> Vec<f32> {
    let mut out = vec![0.0; len];
    dequantize(format, bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::half::f32_to_f16;

    fn half(x: f32) -> [u8; 2] {
        f32_to_f16(x).to_le_bytes()
    }

    #[test]
    fn floats() {
        let mut bytes = Vec::new();
        bytes.extend(1.5f32.to_le_bytes());
        bytes.extend((-2.25f32).to_le_bytes());
        assert_eq!(dequantize_to_vec(Format::F32, &bytes, 2), [1.5, -2.25]);
        // f16 0x3e00 = 1.5, 0xc080 = -2.25; bf16 0x3fc0 = 1.5, 0xc010 = -2.25.
        let f16 = [0x00, 0x3e, 0x80, 0xc0];
        assert_eq!(dequantize_to_vec(Format::F16, &f16, 2), [1.5, -2.25]);
        let bf16 = [0xc0, 0x3f, 0x10, 0xc0];
        assert_eq!(dequantize_to_vec(Format::BF16, &bf16, 2), [1.5, -2.25]);
    }

    #[test]
    fn q4_0_by_hand() {
        // d = 0.5; byte j holds low nibble j, high nibble 15 - j.
        let mut b = half(0.5).to_vec();
        b.extend((0..16u8).map(|j| j | (15 - j) << 4));
        let w = dequantize_to_vec(Format::Q4_0, &b, 32);
        // Weight 0: (0 - 8) * 0.5; weight 3: (3 - 8) * 0.5; weight 16: (15 - 8) * 0.5;
        // weight 31: (0 - 8) * 0.5.
        assert_eq!(
            (w[0], w[3], w[15], w[16], w[31]),
            (-4.0, -2.5, 3.5, 3.5, -4.0)
        );
    }

    #[test]
    fn q4_1_by_hand() {
        // d = 0.25, m = -1; nibbles as above.
        let mut b = half(0.25).to_vec();
        b.extend(half(-1.0));
        b.extend((0..16u8).map(|j| j | (15 - j) << 4));
        let w = dequantize_to_vec(Format::Q4_1, &b, 32);
        assert_eq!((w[0], w[5], w[16], w[20]), (-1.0, 0.25, 2.75, 1.75));
    }

    #[test]
    fn q8_0_by_hand() {
        let mut b = half(0.125).to_vec();
        b.extend((0..32).map(|j: i32| ((j - 16) * 8) as i8 as u8));
        let w = dequantize_to_vec(Format::Q8_0, &b, 32);
        assert_eq!((w[0], w[16], w[31]), (-16.0, 0.0, 15.0));
    }

    #[test]
    fn q4_k_by_hand() {
        // d = 0.5, dmin = 0.25. Sub-block scales/minimums: j < 4 in the low 6 bits of bytes
        // j and j + 4; j >= 4 split over the nibbles of byte j + 4 and the top bits of j - 4 / j.
        let mut scales = [0u8; 12];
        let want: [(u8, u8); 8] = [
            (1, 2),
            (3, 4),
            (63, 0),
            (10, 20),
            (17, 33),
            (5, 6),
            (48, 63),
            (2, 1),
        ];
        for (j, &(sc, m)) in want.iter().enumerate() {
            if j < 4 {
                scales[j] |= sc;
                scales[j + 4] |= m;
            } else {
                scales[j + 4] = (sc & 15) | (m & 15) << 4;
                scales[j - 4] |= (sc >> 4) << 6;
                scales[j] |= (m >> 4) << 6;
            }
        }
        for (j, &pair) in want.iter().enumerate() {
            assert_eq!(q4k_scale_min(&scales, j), pair, "sub-block {j}");
        }
        let mut b = half(0.5).to_vec();
        b.extend(half(0.25));
        b.extend(scales);
        // qs byte i of chunk c: low nibble = i % 16, high nibble = 15 - i % 16.
        b.extend((0..128u8).map(|i| (i % 16) | (15 - i % 16) << 4));
        let w = dequantize_to_vec(Format::Q4K, &b, 256);
        // Weight 0: sub-block 0, q 0: 0.5*1*0 - 0.25*2 = -0.5.
        assert_eq!(w[0], -0.5);
        // Weight 33: sub-block 1 (high nibbles of chunk 0), byte 1: q = 14: 0.5*3*14 - 0.25*4.
        assert_eq!(w[33], 20.0);
        // Weight 64 + 5: sub-block 2, q 5: 0.5*63*5 - 0 = 157.5.
        assert_eq!(w[69], 157.5);
        // Weight 128 + 32 + 7: sub-block 5, byte 128/2 + 7 = 71, high nibble 15 - 7 = 8:
        // 0.5*5*8 - 0.25*6 = 18.5.
        assert_eq!(w[167], 18.5);
        // Weight 255: sub-block 7, byte 127 high nibble 15 - 15 = 0: -0.25*1.
        assert_eq!(w[255], -0.25);
        assert_eq!(w[192 + 2], 0.5 * 48.0 * 2.0 - 0.25 * 63.0);
    }

    #[test]
    fn q6_k_by_hand() {
        let mut b = vec![0u8; 210];
        // Half 0: ql[3] = 0x5a (low 10, high 5), ql[35] = 0xc1, qh[3] = 0b11_10_01_00.
        b[3] = 0x5a;
        b[35] = 0xc1;
        b[128 + 3] = 0b1110_0100;
        // Half 1: ql[64 + 20] = 0x0f, qh[128 + 32 + 20] = 0b00_00_00_11.
        b[64 + 20] = 0x0f;
        b[128 + 32 + 20] = 0b11;
        for g in 0..16 {
            b[192 + g] = (g as i8 - 8) as u8;
        }
        b[208..210].copy_from_slice(&half(0.5));
        let w = dequantize_to_vec(Format::Q6K, &b, 256);
        // Weight 3: q = 10 | 0 << 4 = 10, -32 = -22; group 0 scale -8: 0.5 * -8 * -22 = 88.
        assert_eq!(w[3], 88.0);
        // Weight 35: q = 1 | 1 << 4 = 17 - 32 = -15; group 2 (l < 16, k = 1) scale -6: 45.
        assert_eq!(w[35], 45.0);
        // Weight 67: q = 5 | 2 << 4 = 37 - 32 = 5; group 4 scale -4: -10.
        assert_eq!(w[67], -10.0);
        // Weight 99: q = 12 | 3 << 4 = 60 - 32 = 28; group 6 scale -2: -28.
        assert_eq!(w[99], -28.0);
        // Weight 128 + 20: half 1, l = 20 (group 1 of the half, scale index 8 + 1 = 9 -> 1):
        // q = 15 | 3 << 4 = 63 - 32 = 31: 0.5 * 1 * 31.
        assert_eq!(w[148], 15.5);
        // Untouched weight: q = 0 - 32; weight 200 is half 1, l = 8, k = 2: group 8 + 4 -> 4.
        assert_eq!(w[200], 0.5 * 4.0 * -32.0);
    }

    #[test]
    #[should_panic(expected = "do not hold")]
    fn wrong_sizes_are_refused() {
        dequantize(Format::Q4_0, &[0; 17], &mut [0.0; 32]);
    }
}
