//! Fused quantized matrix products: `out[t][r] = dot(row r of W, x[t])` with the weights read in
//! their block format and decoded inside the dot product.
//!
//! [`Activations`] holds the input vectors and, made once per product on demand, their 8-bit
//! forms (blocks of 32 for `Q4_0`, `Q4_1` and `Q8_0` weights, of 256 for the K formats; float
//! weights use the floats). Several input vectors at once (a prompt) share one pass over the
//! weights: each row is decoded while it sits in the cache and dotted with every vector.

use crate::format::{Format, MatrixRef};
use crate::quantize::{Q8Blocks, Q8KBlocks};

/// Input vectors of one length for [`matmul`], with their quantized forms cached until the
/// values change. Buffers are kept between uses, so a generation loop allocates nothing.
#[derive(Clone, Debug)]
pub struct Activations {
    cols: usize,
    count: usize,
    values: Vec<f32>,
    q8: Q8Blocks,
    q8_ready: bool,
    qk: Q8KBlocks,
    qk_ready: bool,
}

impl Activations {
    /// Empty, for vectors of `cols` values.
    pub fn new(cols: usize) -> Self {
        Self {
            cols,
            count: 0,
            values: Vec::new(),
            q8: Q8Blocks::default(),
            q8_ready: false,
            qk: Q8KBlocks::default(),
            qk_ready: false,
        }
    }

    /// Length of each vector.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of vectors.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Copies `values` in: `values.len() / cols` vectors back to back.
    ///
    /// # Panics
    /// If `values` is not a whole number of vectors.
    pub fn load(&mut self, values: &[f32]) {
        self.values_mut(values.len() / self.cols)
            .copy_from_slice(values);
    }

    /// Room for `count` vectors, to be written in place (the contents are unspecified).
    pub fn values_mut(&mut self, count: usize) -> &mut [f32] {
        self.count = count;
        self.q8_ready = false;
        self.qk_ready = false;
        self.values.resize(count * self.cols, 0.0);
        &mut self.values
    }

    /// The vectors, back to back.
    pub fn values(&self) -> &[f32] {
        &self.values[..self.count * self.cols]
    }

    /// Makes the 8-bit form `format`'s product reads, unless it is there already.
    fn prepare(&mut self, format: Format) {
        let values = &self.values[..self.count * self.cols];
        match format {
            Format::Q4_0 | Format::Q4_1 | Format::Q8_0 if !self.q8_ready => {
                self.q8.quantize(values);
                self.q8_ready = true;
            }
            Format::Q4K | Format::Q6K if !self.qk_ready => {
                self.qk.quantize(values);
                self.qk_ready = true;
            }
            _ => {}
        }
    }

    pub(crate) fn vector(&self, t: usize) -> ActRef<'_> {
        let (c, q8, qk) = (self.cols, &self.q8, &self.qk);
        let part = |v: usize, per: usize| v * c / per..(v + 1) * c / per;
        ActRef {
            values: &self.values[part(t, 1)],
            q8: if self.q8_ready {
                &q8.qs[part(t, 1)]
            } else {
                &[]
            },
            q8_d: if self.q8_ready {
                &q8.d[part(t, 32)]
            } else {
                &[]
            },
            q8_s: if self.q8_ready {
                &q8.s[part(t, 32)]
            } else {
                &[]
            },
            q8_sum: if self.q8_ready {
                &q8.sum[part(t, 32)]
            } else {
                &[]
            },
            qk: if self.qk_ready {
                &qk.qs[part(t, 1)]
            } else {
                &[]
            },
            qk_d: if self.qk_ready {
                &qk.d[part(t, 256)]
            } else {
                &[]
            },
            qk_bsums: if self.qk_ready {
                &qk.bsums[part(t, 16)]
            } else {
                &[]
            },
        }
    }
}

/// One input vector in every form a product may read.
#[derive(Clone, Copy)]
pub(crate) struct ActRef<'a> {
    pub values: &'a [f32],
    pub q8: &'a [i8],
    pub q8_d: &'a [f32],
    pub q8_s: &'a [f32],
    pub q8_sum: &'a [i32],
    pub qk: &'a [i8],
    pub qk_d: &'a [f32],
    pub qk_bsums: &'a [i16],
}

/// `out[t * rows + r] = dot(row r of w, vector t of x)`, SIMD when the CPU has AVX2 and FMA.
///
/// # Panics
/// If `x`'s vectors are not `w.cols()` long or `out` is not `x.count() * w.rows()` long.
pub fn matmul(w: &MatrixRef<'_>, x: &mut Activations, out: &mut [f32]) {
    check(w, x, out);
    x.prepare(w.format());
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        crate::x86::matmul(simd, w, x, out);
        return;
    }
    crate::scalar::matmul(w, x, out);
}

/// [`matmul`] without SIMD: the portable twin the SIMD kernels are tested against.
pub fn matmul_portable(w: &MatrixRef<'_>, x: &mut Activations, out: &mut [f32]) {
    check(w, x, out);
    x.prepare(w.format());
    crate::scalar::matmul(w, x, out);
}

fn check(w: &MatrixRef<'_>, x: &Activations, out: &[f32]) {
    assert_eq!(
        x.cols,
        w.cols(),
        "input length differs from the matrix's columns"
    );
    assert_eq!(
        out.len(),
        x.count * w.rows(),
        "output length differs from vectors x rows"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dequant::dequantize_to_vec;
    use crate::quantize::quantize_row;

    fn wavy(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = (i as f32 * 1.37 + seed as f32 * 5.1) * 0.43;
                t.sin() + (t * 3.1).cos() * 0.4 + if i % 41 == 3 { -1.7 } else { 0.0 }
            })
            .collect()
    }

    /// Random-looking but valid blocks: the bytes of a quantized wavy matrix, with every
    /// quantized byte (not the scales) scrambled so all bit patterns occur.
    fn matrix(format: Format, rows: usize, cols: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for r in 0..rows {
            let mut row = quantize_row(format, &wavy(cols, r as u32 + 11));
            let scales = match format {
                Format::Q4_0 | Format::Q8_0 => 0..2,
                Format::Q4_1 => 0..4,
                Format::Q4K => 0..16,
                Format::Q6K => 192..210,
                _ => 0..usize::MAX,
            };
            let bb = format.block_bytes();
            for (i, b) in row.iter_mut().enumerate() {
                let at = i % bb;
                if !scales.contains(&at) {
                    *b = b.wrapping_mul(167).wrapping_add((i * 31 + r * 7) as u8);
                }
            }
            bytes.extend(row);
        }
        bytes
    }

    /// Every fused product equals the dot product of the decoded weights with the decoded
    /// 8-bit activations (computed in f64), and is close to the one with the float activations.
    #[test]
    fn fused_products_equal_dequantize_then_dot() {
        let (rows, cols, count) = (5, 512, 6);
        for format in Format::ALL {
            let bytes = matrix(format, rows, cols);
            let w = MatrixRef::new(format, rows, cols, &bytes).unwrap();
            let mut x = Activations::new(cols);
            let inputs: Vec<f32> = (0..count)
                .flat_map(|t| wavy(cols, 100 + t as u32))
                .collect();
            x.load(&inputs);
            let mut fast = vec![0.0; rows * count];
            let mut portable = vec![0.0; rows * count];
            matmul(&w, &mut x, &mut fast);
            matmul_portable(&w, &mut x, &mut portable);
            for t in 0..count {
                let a = x.vector(t);
                // The activations as the product sees them.
                let seen: Vec<f64> = match format {
                    Format::Q4_0 | Format::Q4_1 | Format::Q8_0 => (0..cols)
                        .map(|i| f64::from(a.q8[i]) * f64::from(a.q8_d[i / 32]))
                        .collect(),
                    Format::Q4K | Format::Q6K => (0..cols)
                        .map(|i| f64::from(a.qk[i]) * f64::from(a.qk_d[i / 256]))
                        .collect(),
                    _ => a.values.iter().map(|&v| f64::from(v)).collect(),
                };
                for r in 0..rows {
                    let wr = dequantize_to_vec(format, w.row(r), cols);
                    let mut exact: f64 =
                        wr.iter().zip(&seen).map(|(&w, &a)| f64::from(w) * a).sum();
                    if format == Format::Q4_1 {
                        // Q4_1 takes `d * sum(q)` from the half-rounded `s`, as llama.cpp does.
                        exact += (0..cols / 32)
                            .map(|b| {
                                let m = f64::from(crate::half::le_f16(w.row(r), b * 20 + 2));
                                m * (f64::from(a.q8_s[b])
                                    - f64::from(a.q8_d[b]) * f64::from(a.q8_sum[b]))
                            })
                            .sum::<f64>();
                    }
                    let float: f64 = wr
                        .iter()
                        .zip(a.values)
                        .map(|(&w, &a)| f64::from(w) * f64::from(a))
                        .sum();
                    let scale: f64 = wr
                        .iter()
                        .zip(a.values)
                        .map(|(&w, &a)| f64::from((w * a).abs()))
                        .sum();
                    let name = format.name();
                    for (how, got) in [
                        ("simd", fast[t * rows + r]),
                        ("portable", portable[t * rows + r]),
                    ] {
                        let got = f64::from(got);
                        assert!(
                            (got - exact).abs() <= 1e-5 * scale + 1e-6,
                            "{name} {how} row {r} vector {t}: {got} vs {exact}"
                        );
                        assert!(
                            (got - float).abs() <= 0.02 * scale,
                            "{name} {how}: {got} vs {float}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn float_products_handle_lengths_that_are_not_a_multiple_of_eight() {
        let (rows, cols) = (3, 13);
        for format in [Format::F32, Format::F16, Format::BF16] {
            let bytes = matrix(format, rows, cols);
            let w = MatrixRef::new(format, rows, cols, &bytes).unwrap();
            let mut x = Activations::new(cols);
            x.load(&wavy(cols, 5));
            let mut fast = vec![0.0; rows];
            let mut portable = vec![0.0; rows];
            matmul(&w, &mut x, &mut fast);
            matmul_portable(&w, &mut x, &mut portable);
            for (a, b) in fast.iter().zip(&portable) {
                assert!((a - b).abs() < 1e-5, "{}: {a} vs {b}", format.name());
            }
        }
    }

    #[test]
    fn reloading_values_requantizes() {
        let bytes = matrix(Format::Q8_0, 2, 64);
        let w = MatrixRef::new(Format::Q8_0, 2, 64, &bytes).unwrap();
        let mut x = Activations::new(64);
        let mut a = vec![0.0; 2];
        let mut b = vec![0.0; 2];
        x.load(&wavy(64, 1));
        matmul(&w, &mut x, &mut a);
        x.values_mut(1).iter_mut().for_each(|v| *v *= -2.0);
        matmul(&w, &mut x, &mut b);
        for (a, b) in a.iter().zip(&b) {
            assert!((b + 2.0 * a).abs() < 0.02 * a.abs().max(1.0), "{a} {b}");
        }
    }
}
