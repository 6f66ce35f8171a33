//! Dilated 2-D convolutions without padding, for the learned erosion model.
//!
//! Each output cell starts from its bias and adds `weight * input` tap by tap in the order
//! (input channel, kernel row, kernel column), a separate multiply and add each, never a fused
//! multiply-add: IEEE 754 rounds every one the same way whatever the number of lanes, so the
//! AVX2 build (eight lanes) gives the bits of the portable one (four lanes of SSE2, or one), and
//! a cell's value depends only on the input around it, wherever it lies in the plane. The
//! erosion model needs that: two chunks compute their shared edge at different places in their
//! windows and must agree to the bit.

/// One convolution layer's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input planes.
    pub inputs: usize,
    /// Output planes.
    pub outputs: usize,
    /// Kernel side (square).
    pub kernel: usize,
    /// Distance between taps.
    pub dilation: usize,
}

impl ConvShape {
    /// Cells the output loses on each axis: `(kernel - 1) * dilation`.
    pub fn span(&self) -> usize {
        self.kernel.saturating_sub(1) * self.dilation
    }
}

/// The valid (unpadded) convolution of `input`, `shape.inputs` planes of `nx` x `nz` (rows of x
/// fastest), with `weight` laid out `[output][input][row][column]` and one `bias` per output; a
/// ReLU when `relu`. Returns the output planes and their size, `nx - span` x `nz - span`, or
/// nothing when the input is not larger than the span.
///
/// # Panics
/// If `weight`, `bias` or `input` is shorter than the shape needs.
pub fn conv2d_valid(
    shape: ConvShape,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    (nx, nz): (usize, usize),
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    let ConvShape {
        inputs,
        outputs,
        kernel,
        ..
    } = shape;
    assert!(weight.len() >= outputs * inputs * kernel * kernel && bias.len() >= outputs);
    assert!(input.len() >= inputs * nx * nz);
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        struct Run<'a> {
            simd: pulp::x86::V3,
            shape: ConvShape,
            weight: &'a [f32],
            bias: &'a [f32],
            input: &'a [f32],
            size: (usize, usize),
            relu: bool,
        }
        impl pulp::NullaryFnOnce for Run<'_> {
            type Output = (Vec<f32>, usize, usize);
            #[inline(always)]
            fn call(self) -> Self::Output {
                v3::conv(
                    self.simd,
                    self.shape,
                    self.weight,
                    self.bias,
                    self.input,
                    self.size,
                    self.relu,
                )
            }
        }
        return simd.vectorize(Run {
            simd,
            shape,
            weight,
            bias,
            input,
            size: (nx, nz),
            relu,
        });
    }
    conv_body(shape, weight, bias, input, (nx, nz), relu)
}

/// [`conv2d_valid`] without run-time dispatch: the build's baseline instructions.
pub fn conv2d_valid_portable(
    shape: ConvShape,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    size: (usize, usize),
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    conv_body(shape, weight, bias, input, size, relu)
}

/// Adds every tap of output `o` to the `len` cells of row `j` from column `i0`, in the
/// (input, kernel row, kernel column) order, one multiply and one add each.
#[inline(always)]
fn taps_scalar(
    shape: ConvShape,
    weight: &[f32],
    input: &[f32],
    (nx, nz): (usize, usize),
    (o, j, i0): (usize, usize, usize),
    cells: &mut [f32],
) {
    let (k, d, len) = (shape.kernel, shape.dilation, cells.len());
    for c in 0..shape.inputs {
        let src = &input[c * nx * nz..(c + 1) * nx * nz];
        for ky in 0..k {
            for kx in 0..k {
                let w = weight[((o * shape.inputs + c) * k + ky) * k + kx];
                let start = (j + ky * d) * nx + kx * d + i0;
                for (v, s) in cells.iter_mut().zip(&src[start..start + len]) {
                    *v += w * s;
                }
            }
        }
    }
}

/// The AVX2 convolution: registers hold the sums of four outputs at once over 16 (or 8) cells
/// of a row, so each input vector loaded serves four outputs and the sums stay out of memory
/// until every tap is in. Each lane still adds its taps one by one in the portable order, a
/// multiply then an add: the same bits.
#[cfg(target_arch = "x86_64")]
mod v3 {
    use core::arch::x86_64::__m256;

    use pulp::cast;
    use pulp::x86::V3;

    use super::{ConvShape, taps_scalar};

    /// Outputs summed together.
    const GROUP: usize = 4;

    /// Eight input cells from `row[at..]`.
    #[inline(always)]
    fn load(row: &[f32], at: usize) -> __m256 {
        let lanes: [f32; 8] = row[at..at + 8].try_into().unwrap_or([0.0; 8]);
        cast(lanes)
    }

    /// Sums of `GROUP` outputs over `STRIPS` x 8 cells of row `j` from column `i0`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn strips<const STRIPS: usize>(
        simd: V3,
        shape: ConvShape,
        taps: &[[f32; GROUP]],
        bias: &[f32],
        input: &[f32],
        (nx, nz): (usize, usize),
        (j, i0): (usize, usize),
    ) -> [[[f32; 8]; STRIPS]; GROUP] {
        let (k, d) = (shape.kernel, shape.dilation);
        let mut acc: [[__m256; STRIPS]; GROUP] =
            core::array::from_fn(|g| [simd.avx._mm256_set1_ps(bias[g]); STRIPS]);
        let mut t = 0;
        for c in 0..shape.inputs {
            let src = &input[c * nx * nz..(c + 1) * nx * nz];
            for ky in 0..k {
                let row = &src[(j + ky * d) * nx..];
                for kx in 0..k {
                    let at = kx * d + i0;
                    let cells: [__m256; STRIPS] = core::array::from_fn(|s| load(row, at + 8 * s));
                    let w = taps[t];
                    t += 1;
                    for g in 0..GROUP {
                        let wg = simd.avx._mm256_set1_ps(w[g]);
                        for s in 0..STRIPS {
                            acc[g][s] = simd
                                .avx
                                ._mm256_add_ps(acc[g][s], simd.avx._mm256_mul_ps(wg, cells[s]));
                        }
                    }
                }
            }
        }
        acc.map(|strips| strips.map(cast))
    }

    // Inlined into `V3::vectorize`, so the intrinsics are compiled with AVX2 on.
    #[inline(always)]
    pub(super) fn conv(
        simd: V3,
        shape: ConvShape,
        weight: &[f32],
        bias: &[f32],
        input: &[f32],
        (nx, nz): (usize, usize),
        relu: bool,
    ) -> (Vec<f32>, usize, usize) {
        if shape.outputs < GROUP {
            // Most lanes of a group would sum zero weights (a model's one-output head): the
            // row form, which the compiler vectorises with AVX2 here, is faster.
            return super::conv_body(shape, weight, bias, input, (nx, nz), relu);
        }
        let span = shape.span();
        if nx <= span || nz <= span {
            return (Vec::new(), 0, 0);
        }
        let (ox, oz) = (nx - span, nz - span);
        let plane = ox * oz;
        let per_output = shape.inputs * shape.kernel * shape.kernel;
        let mut out = vec![0.0f32; shape.outputs * plane];
        let mut o0 = 0;
        while o0 < shape.outputs {
            let group = GROUP.min(shape.outputs - o0);
            // The group's weights tap by tap, four outputs side by side (missing ones zero:
            // their sums are computed and never stored).
            let taps: Vec<[f32; GROUP]> = (0..per_output)
                .map(|t| {
                    core::array::from_fn(|g| {
                        if g < group {
                            weight[(o0 + g) * per_output + t]
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            let biases: [f32; GROUP] =
                core::array::from_fn(|g| if g < group { bias[o0 + g] } else { 0.0 });
            for j in 0..oz {
                let mut i = 0;
                let store = |sums: &[[f32; 8]], i: usize, g: usize, out: &mut [f32]| {
                    let at = (o0 + g) * plane + j * ox + i;
                    for (s, lanes) in sums.iter().enumerate() {
                        out[at + 8 * s..at + 8 * s + 8].copy_from_slice(lanes);
                    }
                };
                while i + 16 <= ox {
                    let sums = strips::<2>(simd, shape, &taps, &biases, input, (nx, nz), (j, i));
                    for (g, sums) in sums.iter().enumerate().take(group) {
                        store(sums, i, g, &mut out);
                    }
                    i += 16;
                }
                while i + 8 <= ox {
                    let sums = strips::<1>(simd, shape, &taps, &biases, input, (nx, nz), (j, i));
                    for (g, sums) in sums.iter().enumerate().take(group) {
                        store(sums, i, g, &mut out);
                    }
                    i += 8;
                }
                if i < ox && ox >= 8 {
                    // The last eight cells of the row again: the ones already made get the same
                    // bits a second time, and no cell is left to the scalar loop.
                    let last = ox - 8;
                    let sums = strips::<1>(simd, shape, &taps, &biases, input, (nx, nz), (j, last));
                    for (g, sums) in sums.iter().enumerate().take(group) {
                        store(sums, last, g, &mut out);
                    }
                    i = ox;
                }
                if i < ox {
                    for g in 0..group {
                        let o = o0 + g;
                        let cells = &mut out[o * plane + j * ox + i..o * plane + (j + 1) * ox];
                        cells.iter_mut().for_each(|v| *v = bias[o]);
                        taps_scalar(shape, weight, input, (nx, nz), (o, j, i), cells);
                    }
                }
            }
            o0 += group;
        }
        if relu {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        (out, ox, oz)
    }
}

#[inline(always)]
fn conv_body(
    shape: ConvShape,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    (nx, nz): (usize, usize),
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    let span = shape.span();
    if nx <= span || nz <= span {
        return (Vec::new(), 0, 0);
    }
    let (ox, oz) = (nx - span, nz - span);
    let (k, d) = (shape.kernel, shape.dilation);
    let mut out = vec![0.0f32; shape.outputs * ox * oz];
    for (o, plane) in out.chunks_exact_mut(ox * oz).enumerate() {
        plane.iter_mut().for_each(|v| *v = bias[o]);
        for c in 0..shape.inputs {
            let src = &input[c * nx * nz..(c + 1) * nx * nz];
            for ky in 0..k {
                for kx in 0..k {
                    let w = weight[((o * shape.inputs + c) * k + ky) * k + kx];
                    for (j, row) in plane.chunks_exact_mut(ox).enumerate() {
                        let start = (j + ky * d) * nx + kx * d;
                        for (v, s) in row.iter_mut().zip(&src[start..start + ox]) {
                            *v += w * s;
                        }
                    }
                }
            }
        }
        if relu {
            plane.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
    (out, ox, oz)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of every magnitude and sign, from a small generator.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let m = ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                m * [0.01f32, 1.0, 37.0, 1e4][(s >> 20) as usize % 4]
            })
            .collect()
    }

    #[test]
    fn the_dispatched_convolution_has_the_portable_bits() {
        for (shape, nx, nz, relu) in [
            (
                ConvShape {
                    inputs: 5,
                    outputs: 16,
                    kernel: 3,
                    dilation: 1,
                },
                41,
                37,
                true,
            ),
            (
                ConvShape {
                    inputs: 16,
                    outputs: 16,
                    kernel: 3,
                    dilation: 8,
                },
                50,
                29,
                true,
            ),
            (
                ConvShape {
                    inputs: 16,
                    outputs: 1,
                    kernel: 1,
                    dilation: 1,
                },
                19,
                23,
                false,
            ),
            // 25 cells a row (16, 8, then the last 8 again for the one left) and a group of
            // four outputs then one of two.
            (
                ConvShape {
                    inputs: 3,
                    outputs: 6,
                    kernel: 3,
                    dilation: 1,
                },
                27,
                9,
                true,
            ),
            // Rows of 5 cells: too short for a vector, the scalar loop.
            (
                ConvShape {
                    inputs: 2,
                    outputs: 4,
                    kernel: 3,
                    dilation: 1,
                },
                7,
                6,
                false,
            ),
        ] {
            let weight = values(
                shape.outputs * shape.inputs * shape.kernel * shape.kernel,
                1,
            );
            let bias = values(shape.outputs, 2);
            let input = values(shape.inputs * nx * nz, 3);
            let (a, ax, az) = conv2d_valid(shape, &weight, &bias, &input, (nx, nz), relu);
            let (b, bx, bz) = conv2d_valid_portable(shape, &weight, &bias, &input, (nx, nz), relu);
            assert_eq!((ax, az), (bx, bz));
            assert_eq!((ax, az), (nx - shape.span(), nz - shape.span()));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{shape:?}");
        }
    }

    #[test]
    fn a_cell_is_its_bias_plus_each_tap_in_order() {
        let shape = ConvShape {
            inputs: 2,
            outputs: 1,
            kernel: 2,
            dilation: 2,
        };
        let (nx, nz) = (4, 3);
        let input: Vec<f32> = (0..2 * nx * nz).map(|k| k as f32).collect();
        let weight = [1.0, 2.0, 3.0, 4.0, 0.5, 0.25, -1.0, 2.0];
        let (out, ox, oz) = conv2d_valid(shape, &weight, &[10.0], &input, (nx, nz), false);
        assert_eq!((ox, oz), (2, 1));
        // Cell (1, 0): taps at x 1 and 3, rows 0 and 2, of both planes.
        let at = |c: usize, x: usize, z: usize| input[c * nx * nz + z * nx + x];
        let mut expected = 10.0f32;
        for (c, taps) in [(0, [1.0, 2.0, 3.0, 4.0]), (1, [0.5, 0.25, -1.0, 2.0])] {
            expected += taps[0] * at(c, 1, 0);
            expected += taps[1] * at(c, 3, 0);
            expected += taps[2] * at(c, 1, 2);
            expected += taps[3] * at(c, 3, 2);
        }
        assert_eq!(out[1], expected);
        assert!(
            conv2d_valid(shape, &weight, &[0.0], &input[..8], (2, 2), false)
                .0
                .is_empty()
        );
    }
}
